
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_version.h"


/*
 * a socket of curl's, watched by nginx: what curl_multi_assign() keeps,
 * so that a late CURL_POLL_REMOVE never names a connection that nginx
 * has handed out again; conn is NULL once the socket is closed
 */

typedef struct {
    ngx_connection_t    *conn;
    ngx_queue_t          queue;
    curl_socket_t        fd;
    dev_t                dev;
    ino_t                ino;
} ngx_oc_curl_sock_t;


static int ngx_oc_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_oc_curl_timer(CURLM *multi, long timeout_ms, void *userp);
static void ngx_oc_curl_event_handler(ngx_event_t *ev);
static void ngx_oc_curl_timer_handler(ngx_event_t *ev);
static int ngx_oc_curl_closesocket(void *clientp, curl_socket_t s);
static ngx_int_t ngx_oc_curl_sock_attach(ngx_oc_curl_sock_t *sock,
    curl_socket_t s);
static ngx_uint_t ngx_oc_curl_sock_same(ngx_oc_curl_sock_t *sock,
    curl_socket_t s);
static void ngx_oc_curl_sock_detach(ngx_oc_curl_sock_t *sock,
    ngx_uint_t flags);
static void ngx_oc_curl_sock_free(ngx_oc_curl_sock_t *sock);
static void ngx_oc_curl_finished(void);
static ngx_int_t ngx_oc_http_add(ngx_oc_http_t *h);
static CURLcode ngx_oc_http_setopts(ngx_oc_http_t *h, CURL *e);
static void ngx_oc_http_remove(ngx_oc_http_t *h);
static void ngx_oc_curl_next_handler(ngx_event_t *ev);
static void ngx_oc_http_cleanup(void *data);
static void ngx_oc_http_free_headers(ngx_oc_http_t *h);


/* one multi handle and one curl timer per worker */
static CURLM        *ngx_oc_multi;
static ngx_event_t   ngx_oc_curl_timer_event;
static ngx_log_t    *ngx_oc_curl_log;
static ngx_queue_t   ngx_oc_curl_socks;

/*
 * oc_api_connections: at most that many transfers in the multi handle;
 * the others wait in order, and a freed slot starts the next one from
 * a posted event, never from inside the caller that freed it
 */
static ngx_uint_t    ngx_oc_curl_max = 8;
static ngx_uint_t    ngx_oc_curl_running;
static ngx_queue_t   ngx_oc_curl_waiting;
static ngx_event_t   ngx_oc_curl_next_event;

/* oc_ssl_verify and oc_ssl_trusted_certificate */
static ngx_flag_t    ngx_oc_curl_verify = 1;
static char         *ngx_oc_curl_cainfo;


ngx_int_t
ngx_oc_curl_init(ngx_cycle_t *cycle)
{
    CURLcode             rc;
    CURLMcode            mrc;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_oc_module);

    ngx_oc_curl_verify = omcf->ssl_verify;
    ngx_oc_curl_max = omcf->api_connections;
    ngx_oc_curl_running = 0;

    ngx_queue_init(&ngx_oc_curl_waiting);
    ngx_queue_init(&ngx_oc_curl_socks);

    ngx_oc_curl_next_event.handler = ngx_oc_curl_next_handler;
    ngx_oc_curl_next_event.log = cycle->log;
    ngx_oc_curl_next_event.cancelable = 1;
    ngx_oc_curl_cainfo = (char *) omcf->ssl_trusted_certificate.data;

    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "curl_global_init() failed: %s", curl_easy_strerror(rc));
        return NGX_ERROR;
    }

    ngx_oc_multi = curl_multi_init();
    if (ngx_oc_multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "curl_multi_init() failed");
        return NGX_ERROR;
    }

    ngx_oc_curl_log = cycle->log;

    ngx_oc_curl_timer_event.handler = ngx_oc_curl_timer_handler;
    ngx_oc_curl_timer_event.log = cycle->log;
    ngx_oc_curl_timer_event.data = ngx_oc_multi;
    ngx_oc_curl_timer_event.cancelable = 1;

    mrc = curl_multi_setopt(ngx_oc_multi, CURLMOPT_SOCKETFUNCTION,
                            ngx_oc_curl_socket);
    if (mrc == CURLM_OK) {
        mrc = curl_multi_setopt(ngx_oc_multi, CURLMOPT_TIMERFUNCTION,
                                ngx_oc_curl_timer);
    }

    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "curl_multi_setopt() failed: %s",
                      curl_multi_strerror(mrc));
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_oc_curl_done(ngx_cycle_t *cycle)
{
    ngx_queue_t         *q;
    ngx_oc_curl_sock_t  *sock;

    if (ngx_oc_multi == NULL) {
        return;
    }

    if (ngx_oc_curl_timer_event.timer_set) {
        ngx_del_timer(&ngx_oc_curl_timer_event);
    }

    if (ngx_oc_curl_next_event.posted) {
        ngx_delete_posted_event(&ngx_oc_curl_next_event);
    }

    /* the cached connections close here, through the close callback */

    curl_multi_cleanup(ngx_oc_multi);
    ngx_oc_multi = NULL;

    /* curl names no socket any more: what it did not remove goes */

    while (!ngx_queue_empty(&ngx_oc_curl_socks)) {
        q = ngx_queue_head(&ngx_oc_curl_socks);
        sock = ngx_queue_data(q, ngx_oc_curl_sock_t, queue);
        ngx_oc_curl_sock_free(sock);
    }

    curl_global_cleanup();
}


ngx_oc_http_t *
ngx_oc_http_create(ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_oc_http_t       *h;
    ngx_pool_cleanup_t  *cln;

    h = ngx_pcalloc(pool, sizeof(ngx_oc_http_t));
    if (h == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /*
     * the easy handle is made when the transfer starts and freed when it
     * ends: 1,000 resolutions waiting for a connection hold none
     */

    cln->handler = ngx_oc_http_cleanup;
    cln->data = h;

    h->pool = pool;
    h->log = log;
    h->method = "GET";

    return h;
}


ngx_int_t
ngx_oc_http_start(ngx_oc_http_t *h)
{
    u_char             *p;
    struct curl_slist  *list;

    if (ngx_oc_multi == NULL) {
        return NGX_ERROR;
    }

    /* a call started again before it ended: forget the first start */

    ngx_oc_http_abort(h);
    ngx_oc_http_free_headers(h);

    h->status = 0;
    h->result = CURLE_OK;
    h->error[0] = '\0';
    h->too_big = 0;

    /* the previous answer may carry an instance token */

    if (h->buf) {
        ngx_explicit_memzero(h->buf, h->size);
        ngx_free(h->buf);
        h->buf = NULL;
    }

    h->size = 0;
    ngx_str_null(&h->response);
    ngx_str_null(&h->content_type);
    ngx_str_null(&h->next_page);
    ngx_str_null(&h->retry_after);
    ngx_str_null(&h->location);

    p = ngx_pnalloc(h->pool, sizeof("Authorization: ") - 1
                             + h->authorization.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(ngx_cpymem(p, "Authorization: ",
                           sizeof("Authorization: ") - 1),
                h->authorization.data, h->authorization.len) = '\0';

    list = curl_slist_append(NULL, (char *) p);

    /* curl has its own copy: no second one of the secrets in the pool */

    ngx_explicit_memzero(p, ngx_strlen(p));

    if (list == NULL) {
        goto nomem;
    }

    h->headers = list;

    /* no "Expect: 100-continue" round trip for small bodies */

    if (curl_slist_append(list, "Accept: application/json") == NULL
        || curl_slist_append(list, "Expect:") == NULL
        || (h->body.len
            && curl_slist_append(list, "Content-Type: application/json")
               == NULL))
    {
        goto nomem;
    }

    if (ngx_oc_curl_running >= ngx_oc_curl_max
        || !ngx_queue_empty(&ngx_oc_curl_waiting))
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, h->log, 0,
                       "oc curl: %s queued, %ui running",
                       h->method, ngx_oc_curl_running);

        ngx_queue_insert_tail(&ngx_oc_curl_waiting, &h->queue);
        h->queued = 1;

        return NGX_OK;
    }

    return ngx_oc_http_add(h);

nomem:

    ngx_log_error(NGX_LOG_ALERT, h->log, 0, "curl_slist_append() failed");
    return NGX_ERROR;
}


void
ngx_oc_http_abort(ngx_oc_http_t *h)
{
    if (h->queued) {
        ngx_queue_remove(&h->queue);
        h->queued = 0;
        return;
    }

    ngx_oc_http_remove(h);
}


static ngx_int_t
ngx_oc_http_add(ngx_oc_http_t *h)
{
    CURLcode   rc;
    CURLMcode  mrc;

    h->easy = curl_easy_init();
    if (h->easy == NULL) {
        ngx_log_error(NGX_LOG_ALERT, h->log, 0, "curl_easy_init() failed");
        return NGX_ERROR;
    }

    rc = ngx_oc_http_setopts(h, h->easy);

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, h->log, 0,
                      "curl_easy_setopt() failed: %s", curl_easy_strerror(rc));
        goto failed;
    }

    mrc = curl_multi_add_handle(ngx_oc_multi, h->easy);
    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, h->log, 0,
                      "curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(mrc));
        goto failed;
    }

    h->active = 1;
    ngx_oc_curl_running++;

    return NGX_OK;

failed:

    curl_easy_cleanup(h->easy);
    h->easy = NULL;

    return NGX_ERROR;
}


static CURLcode
ngx_oc_http_setopts(ngx_oc_http_t *h, CURL *e)
{
    CURLcode  rc;

    rc = CURLE_OK;

#define ngx_oc_setopt(opt, val)                                              \
    if (rc == CURLE_OK) {                                                    \
        rc = curl_easy_setopt(e, opt, val);                                  \
    }

    ngx_oc_setopt(CURLOPT_URL, (char *) h->url.data);
    ngx_oc_setopt(CURLOPT_HTTPHEADER, h->headers);
    ngx_oc_setopt(CURLOPT_PRIVATE, h);
    ngx_oc_setopt(CURLOPT_ERRORBUFFER, h->error);
    ngx_oc_setopt(CURLOPT_NOSIGNAL, 1L);
    ngx_oc_setopt(CURLOPT_FOLLOWLOCATION, 0L);
#if (NGX_OC_HAVE_CURLOPT_PROTOCOLS_STR)
    ngx_oc_setopt(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    /* libcurl before 7.85 has only the bit mask, deprecated since */
    ngx_oc_setopt(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP|CURLPROTO_HTTPS));
#endif
    ngx_oc_setopt(CURLOPT_TIMEOUT_MS, (long) h->timeout);
    ngx_oc_setopt(CURLOPT_CONNECTTIMEOUT_MS, (long) h->timeout);
    ngx_oc_setopt(CURLOPT_USERAGENT, NGX_OC_VER " libcurl/" LIBCURL_VERSION);
    ngx_oc_setopt(CURLOPT_WRITEFUNCTION, ngx_oc_http_write);
    ngx_oc_setopt(CURLOPT_WRITEDATA, h);
    ngx_oc_setopt(CURLOPT_HEADERFUNCTION, ngx_oc_http_header);
    ngx_oc_setopt(CURLOPT_HEADERDATA, h);

    /*
     * the module closes curl's sockets, out of the event loop first; the
     * connection may outlive this handle in curl's cache: no per-handle
     * data for the callback
     */

    ngx_oc_setopt(CURLOPT_CLOSESOCKETFUNCTION, ngx_oc_curl_closesocket);
    ngx_oc_setopt(CURLOPT_CLOSESOCKETDATA, (void *) NULL);

    if (ngx_oc_curl_verify) {
        ngx_oc_setopt(CURLOPT_SSL_VERIFYPEER, 1L);
        ngx_oc_setopt(CURLOPT_SSL_VERIFYHOST, 2L);

        if (ngx_oc_curl_cainfo) {
            /* that file alone, not the system's CA store besides */
            ngx_oc_setopt(CURLOPT_CAINFO, ngx_oc_curl_cainfo);
            ngx_oc_setopt(CURLOPT_CAPATH, (char *) NULL);
        }

    } else {
        ngx_oc_setopt(CURLOPT_SSL_VERIFYPEER, 0L);
        ngx_oc_setopt(CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (ngx_strcmp(h->method, "GET") != 0) {
        ngx_oc_setopt(CURLOPT_CUSTOMREQUEST, h->method);
    }

    if (h->body.len) {
        ngx_oc_setopt(CURLOPT_POSTFIELDSIZE, (long) h->body.len);
        ngx_oc_setopt(CURLOPT_POSTFIELDS, (char *) h->body.data);
    }

#undef ngx_oc_setopt

    return rc;
}


static void
ngx_oc_http_remove(ngx_oc_http_t *h)
{
    CURLMcode  mrc;

    if (!h->active) {
        return;
    }

    h->active = 0;
    ngx_oc_curl_running--;

    mrc = curl_multi_remove_handle(ngx_oc_multi, h->easy);
    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, h->log, 0,
                      "curl_multi_remove_handle() failed: %s",
                      curl_multi_strerror(mrc));
    }

    /* the connection stays in the multi handle's cache for the next call */

    curl_easy_cleanup(h->easy);
    h->easy = NULL;

    if (!ngx_queue_empty(&ngx_oc_curl_waiting)
        && !ngx_oc_curl_next_event.posted)
    {
        ngx_post_event(&ngx_oc_curl_next_event, &ngx_posted_events);
    }
}


/* a connection is free: start the transfers that wait, in order */

static void
ngx_oc_curl_next_handler(ngx_event_t *ev)
{
    ngx_queue_t    *q;
    ngx_oc_http_t  *h;

    while (ngx_oc_curl_running < ngx_oc_curl_max
           && !ngx_queue_empty(&ngx_oc_curl_waiting))
    {
        q = ngx_queue_head(&ngx_oc_curl_waiting);
        ngx_queue_remove(q);

        h = ngx_queue_data(q, ngx_oc_http_t, queue);
        h->queued = 0;

        if (ngx_oc_http_add(h) == NGX_OK) {
            if (h->started) {
                h->started(h);
            }

            continue;
        }

        /* the caller hears of it as of any transfer that failed */

        h->result = CURLE_FAILED_INIT;
        ngx_cpystrn((u_char *) h->error,
                    (u_char *) "could not start the transfer",
                    CURL_ERROR_SIZE);

        h->handler(h);
    }
}


static void
ngx_oc_http_cleanup(void *data)
{
    ngx_oc_http_t  *h = data;

    if (ngx_oc_multi != NULL) {
        ngx_oc_http_abort(h);
    }

    if (h->easy) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }

    ngx_oc_http_free_headers(h);

    /* the answer may carry an instance token */

    if (h->buf) {
        ngx_explicit_memzero(h->buf, h->size);
        ngx_free(h->buf);
    }
}


/* the Authorization header holds the secrets: wiped before it is freed */

static void
ngx_oc_http_free_headers(ngx_oc_http_t *h)
{
    struct curl_slist  *l;

    for (l = h->headers; l; l = l->next) {
        ngx_explicit_memzero(l->data, ngx_strlen(l->data));
    }

    curl_slist_free_all(h->headers);
    h->headers = NULL;
}


static int
ngx_oc_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_oc_curl_sock_t  *sock = socketp;

    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_oc_curl_log, 0,
                   "oc curl: socket %d, poll %d", (int) s, what);

    /*
     * curl may close a socket without the close callback and say
     * CURL_POLL_REMOVE only after (libcurl 7.88 does for one that has not
     * finished connecting): the close took it out of epoll, and the number
     * may name another socket by now, so no epoll_ctl() for it
     */

    if (sock != NULL && sock->conn != NULL
        && !ngx_oc_curl_sock_same(sock, s))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_oc_curl_log, 0,
                       "oc curl: socket %d closed by curl", (int) s);

        ngx_oc_curl_sock_detach(sock, NGX_CLOSE_EVENT);
    }

    if (what == CURL_POLL_REMOVE) {
        if (sock != NULL) {
            ngx_oc_curl_sock_free(sock);
            (void) curl_multi_assign(ngx_oc_multi, s, NULL);
        }

        return 0;
    }

    if (sock == NULL) {
        sock = ngx_alloc(sizeof(ngx_oc_curl_sock_t), ngx_oc_curl_log);
        if (sock == NULL) {
            return -1;
        }

        sock->conn = NULL;
        sock->fd = CURL_SOCKET_BAD;
        ngx_queue_insert_tail(&ngx_oc_curl_socks, &sock->queue);

        if (curl_multi_assign(ngx_oc_multi, s, sock) != CURLM_OK) {
            ngx_oc_curl_sock_free(sock);
            return -1;
        }
    }

    if (sock->conn == NULL && ngx_oc_curl_sock_attach(sock, s) != NGX_OK) {
        return -1;
    }

    c = sock->conn;
    rev = c->read;
    wev = c->write;

    /* curl reads only what it needs: level-triggered events */

    if (what & CURL_POLL_IN) {
        if (!rev->active
            && ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
        {
            return -1;
        }

    } else if (rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if (what & CURL_POLL_OUT) {
        if (!wev->active
            && ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
        {
            return -1;
        }

    } else if (wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


/*
 * CURLOPT_CLOSESOCKETFUNCTION: the socket leaves epoll while its number is
 * still its own, then closes; curl may call it after CURL_POLL_REMOVE (it
 * finds nothing to do then) or before (CURL_POLL_REMOVE finds nothing)
 */

static int
ngx_oc_curl_closesocket(void *clientp, curl_socket_t s)
{
    int                  rc;
    CURLMcode            mrc;
    ngx_queue_t         *q, *next;
    ngx_oc_curl_sock_t  *sock;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_oc_curl_log, 0,
                   "oc curl: close socket %d", (int) s);

    rc = 0;

    /* as ngx_close_connection(): the close itself takes it out of epoll */

    for (q = ngx_queue_head(&ngx_oc_curl_socks);
         q != ngx_queue_sentinel(&ngx_oc_curl_socks);
         q = ngx_queue_next(q))
    {
        sock = ngx_queue_data(q, ngx_oc_curl_sock_t, queue);

        if (sock->fd == s && sock->conn != NULL) {
            ngx_oc_curl_sock_detach(sock, NGX_CLOSE_EVENT);
        }
    }

    if (ngx_close_socket(s) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_oc_curl_log, ngx_socket_errno,
                      ngx_close_socket_n " %d failed", (int) s);
        rc = 1;
    }

    /*
     * curl's hash may still hold the socket for a CURL_POLL_REMOVE to come:
     * it names nothing from now on; a libcurl that cannot be told while
     * curl_multi_cleanup() runs may still name the record: it stays, and
     * ngx_oc_curl_done() frees it
     */

    if (ngx_oc_multi != NULL) {
        mrc = curl_multi_assign(ngx_oc_multi, s, NULL);

        if (mrc != CURLM_OK && mrc != CURLM_BAD_SOCKET) {
            return rc;
        }
    }

    for (q = ngx_queue_head(&ngx_oc_curl_socks);
         q != ngx_queue_sentinel(&ngx_oc_curl_socks);
         q = next)
    {
        next = ngx_queue_next(q);
        sock = ngx_queue_data(q, ngx_oc_curl_sock_t, queue);

        if (sock->fd == s) {
            ngx_oc_curl_sock_free(sock);
        }
    }

    return rc;
}


static ngx_int_t
ngx_oc_curl_sock_attach(ngx_oc_curl_sock_t *sock, curl_socket_t s)
{
    struct stat        st;
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    /* what the socket is, to know it again: numbers are reused */

    if (fstat(s, &st) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_oc_curl_log, ngx_errno,
                      "fstat(%d) failed", (int) s);
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, ngx_oc_curl_log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = sock;

    rev = c->read;
    wev = c->write;

    rev->handler = ngx_oc_curl_event_handler;
    wev->handler = ngx_oc_curl_event_handler;
    rev->log = ngx_oc_curl_log;
    wev->log = ngx_oc_curl_log;

    sock->conn = c;
    sock->fd = s;
    sock->dev = st.st_dev;
    sock->ino = st.st_ino;

    return NGX_OK;
}


/* the descriptor is still the socket that was attached */

static ngx_uint_t
ngx_oc_curl_sock_same(ngx_oc_curl_sock_t *sock, curl_socket_t s)
{
    struct stat  st;

    if (sock->fd != s || fstat(s, &st) == -1) {
        return 0;
    }

    return st.st_dev == sock->dev && st.st_ino == sock->ino;
}


/*
 * nginx stops watching the socket and its connection goes back to the
 * free list; flags is NGX_CLOSE_EVENT when the socket is closed or about
 * to be, so that no epoll_ctl() names its number; curl owns the descriptor
 */

static void
ngx_oc_curl_sock_detach(ngx_oc_curl_sock_t *sock, ngx_uint_t flags)
{
    ngx_connection_t  *c;

    c = sock->conn;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    sock->conn = NULL;
}


static void
ngx_oc_curl_sock_free(ngx_oc_curl_sock_t *sock)
{
    if (sock->conn != NULL) {
        ngx_oc_curl_sock_detach(sock, ngx_oc_curl_sock_same(sock, sock->fd)
                                      ? 0 : NGX_CLOSE_EVENT);
    }

    ngx_queue_remove(&sock->queue);
    ngx_free(sock);
}


static int
ngx_oc_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_oc_curl_log, 0,
                   "oc curl: timer %l ms", timeout_ms);

    if (timeout_ms < 0) {
        if (ngx_oc_curl_timer_event.timer_set) {
            ngx_del_timer(&ngx_oc_curl_timer_event);
        }

        return 0;
    }

    ngx_add_timer(&ngx_oc_curl_timer_event, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_oc_curl_event_handler(ngx_event_t *ev)
{
    int                running;
    CURLMcode          mrc;
    ngx_connection_t  *c;

    c = ev->data;

    mrc = curl_multi_socket_action(ngx_oc_multi, c->fd,
                                   ev->write ? CURL_CSELECT_OUT
                                             : CURL_CSELECT_IN,
                                   &running);
    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(mrc));
    }

    ngx_oc_curl_finished();
}


static void
ngx_oc_curl_timer_handler(ngx_event_t *ev)
{
    int        running;
    CURLMcode  mrc;

    mrc = curl_multi_socket_action(ngx_oc_multi, CURL_SOCKET_TIMEOUT, 0,
                                   &running);
    if (mrc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(mrc));
    }

    ngx_oc_curl_finished();
}


static void
ngx_oc_curl_finished(void)
{
    int             left;
    char           *priv;
    CURLMsg        *msg;
    ngx_oc_http_t  *h;

    while ((msg = curl_multi_info_read(ngx_oc_multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        priv = NULL;
        (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);

        h = (ngx_oc_http_t *) priv;
        if (h == NULL) {
            continue;
        }

        h->result = msg->data.result;

        (void) curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &h->status);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, h->log, 0,
                       "oc curl: %s done, status %l, curl %d",
                       h->method, h->status, (int) h->result);

        ngx_oc_http_abort(h);

        if (h->result != CURLE_OK && h->error[0] == '\0') {
            ngx_cpystrn((u_char *) h->error,
                        (u_char *) curl_easy_strerror(h->result),
                        CURL_ERROR_SIZE);
        }

        if (h->too_big) {
            ngx_cpystrn((u_char *) h->error,
                        (u_char *) "response body too large",
                        CURL_ERROR_SIZE);
        }

        h->handler(h);
    }
}
