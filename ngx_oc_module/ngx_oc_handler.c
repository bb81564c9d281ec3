
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_tenant.h"


typedef ngx_int_t (*ngx_oc_create_request_pt)(ngx_http_request_t *r);


/*
 * The module's ctx slot of a request holds an ngx_oc_ctx_t (a request
 * that waited, is replayed, or has a body still to read), or, tagged with
 * the low bit, the data of the worker's Authorization value chosen for it:
 * the hot path allocates nothing.  Those values are never changed and a
 * new token gets a new buffer, so the same pointer means the same value.
 */

#define ngx_oc_tagged(p)     ((uintptr_t) (p) & 1)
#define ngx_oc_tag(p)        ((void *) ((uintptr_t) (p) | 1))
#define ngx_oc_untag(p)      ((u_char *) ((uintptr_t) (p) & ~(uintptr_t) 1))


typedef struct {
    ngx_http_request_t         *request;
    ngx_queue_t                 queue;
    ngx_event_t                 wake;
    ngx_event_t                 replay;
    ngx_msec_t                  deadline;

    /* the value for the upstream request, and the call that makes it */
    ngx_str_t                   sent;
    ngx_oc_create_request_pt    create_request;

    /* a family's location: the request's tenant, held until it ends */
    ngx_oc_instance_t          *tenant;

    unsigned                    cleanup:1;
    unsigned                    waiting:1;
    unsigned                    timedout:1;
    unsigned                    replayed:1;
    unsigned                    header_only:1;
} ngx_oc_ctx_t;


/* the slow paths stay out of the handler every location runs */

#if (__GNUC__)
#define ngx_oc_cold  __attribute__((noinline, cold))
#else
#define ngx_oc_cold
#endif


static ngx_int_t ngx_oc_handler(ngx_http_request_t *r);
static ngx_int_t ngx_oc_tenant_pass(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);
static ngx_oc_instance_t *ngx_oc_request_instance(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
static ngx_inline ngx_int_t ngx_oc_arm(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
static ngx_int_t ngx_oc_content(ngx_http_request_t *r);
static ngx_int_t ngx_oc_content_later(ngx_http_request_t *r,
    ngx_str_t *value, ngx_int_t rc) ngx_oc_cold;
static ngx_int_t ngx_oc_create_request(ngx_http_request_t *r);
static ngx_inline ngx_int_t ngx_oc_inject(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_inline void ngx_oc_restore(void);
static void ngx_oc_restore_pushed(ngx_http_request_t *r,
    ngx_table_elt_t *pushed) ngx_oc_cold;
static ngx_inline void ngx_oc_restore_last(ngx_http_request_t *r,
    ngx_table_elt_t *pushed);
static u_char *ngx_oc_sent(ngx_http_request_t *r);
static ngx_int_t ngx_oc_rewrite_handler(ngx_http_request_t *r);
static ngx_oc_ctx_t *ngx_oc_get_ctx(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf) ngx_oc_cold;
static ngx_int_t ngx_oc_wait(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi) ngx_oc_cold;
static void ngx_oc_wake_handler(ngx_event_t *ev);
static void ngx_oc_cleanup(void *data);
static ngx_int_t ngx_oc_refuse(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi, ngx_uint_t timedout)
    ngx_oc_cold;
static ngx_int_t ngx_oc_retry_after(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi, ngx_uint_t timedout);
static ngx_buf_t *ngx_oc_refuse_body(ngx_pool_t *pool, ngx_str_t *block,
    ngx_str_t *reason, ngx_str_t *authorize);
static ngx_uint_t ngx_oc_error_page(ngx_http_request_t *r, ngx_int_t status);
static ngx_int_t ngx_oc_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_oc_upstream_refused(ngx_http_request_t *r,
    ngx_uint_t status) ngx_oc_cold;
static ngx_int_t ngx_oc_replay(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi) ngx_oc_cold;
static void ngx_oc_replay_handler(ngx_event_t *ev) ngx_oc_cold;
static ngx_int_t ngx_oc_authorization_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_oc_instance_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_output_header_filter_pt  ngx_oc_next_header_filter;

static ngx_uint_t  ngx_oc_authorization_hash;

/*
 * the request whose headers hold the injected value, and what the value
 * replaces: only while its upstream request is made, a synchronous call
 * (see ngx_oc_content())
 */

static struct {
    ngx_http_request_t         *request;    /* NULL: none */
    ngx_table_elt_t            *header;     /* the client's, value changed */
    ngx_str_t                   client;     /* its own value */
    ngx_table_elt_t            *pushed;     /* ours, the client sent none */
} ngx_oc_window;


static ngx_http_variable_t  ngx_oc_vars[] = {

    { ngx_string("oc_authorization"), NULL, ngx_oc_authorization_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oc_instance_id"), NULL, ngx_oc_instance_id_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_oc_handler(ngx_http_request_t *r)
{
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    oi = olcf->instance;

    /*
     * a subrequest shares its parent's request headers: the header set
     * there would reach the parent's upstream too
     */

    if (oi == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    /* ngx_oc_shm_refresh()'s fast path: the record has not moved */

    if (oi->rec->generation == oi->gen && oi->state == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (oi->family) {
        return ngx_oc_tenant_pass(r, omcf, oi);
    }

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    return ngx_oc_wait(r, omcf, oi);
}


/*
 * A family: the tenant's own copy of the block, chosen once per request
 * (a wait or a replay comes here again with it, in its ctx), then as a
 * block.  A ready tenant takes no ctx, as a block's request does not: the
 * content handler finds the copy in ngx_oc_tenant_chosen, in this same
 * run of the phases, and what comes later finds it again by the value
 * (ngx_oc_tenant_find()).  A request that waits holds a count on it.
 */

static ngx_int_t
ngx_oc_tenant_pass(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi)
{
    void               *slot;
    ngx_int_t           status;
    ngx_oc_ctx_t       *ctx;
    ngx_oc_tenant_t    *t;
    ngx_oc_instance_t  *ti;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    ctx = (slot != NULL && !ngx_oc_tagged(slot)) ? slot : NULL;

    if (ctx == NULL || ctx->tenant == NULL) {
        t = ngx_oc_tenant_get(r, omcf, oi, &status);

        if (t == NULL) {
            return status == NGX_HTTP_BAD_REQUEST
                   ? ngx_oc_tenant_refuse(r, NULL, status) : status;
        }

        ti = &t->oi;

        /* ngx_oc_tenant_get() has seen the record unmoved, most often */

        if (ctx == NULL
            && (ti->rec->generation == ti->gen ? ti->state
                : ngx_oc_shm_refresh(omcf, ti)) == NGX_OC_READY)
        {
            ngx_oc_tenant_chosen.request = r;
            ngx_oc_tenant_chosen.oi = ti;
            return ngx_oc_arm(r, ti);
        }

        ctx = ngx_oc_get_ctx(r, omcf);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->tenant == NULL) {
            t->refs++;
            ctx->tenant = ti;
        }

    } else if (ngx_oc_tenant_recheck(omcf, ctx->tenant) != NGX_OK) {
        /* woken or replayed: the tenant may have left the zone since */
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    oi = ctx->tenant;

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    return ngx_oc_wait(r, omcf, oi);
}


/* the instance a request uses: a family's is its tenant's, or none */

static ngx_oc_instance_t *
ngx_oc_request_instance(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void          *slot;
    ngx_oc_ctx_t  *ctx;

    if (oi == NULL || oi->family == NULL) {
        return oi;
    }

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot == NULL) {
        return NULL;
    }

    if (ngx_oc_tagged(slot)) {
        return ngx_oc_tenant_find(r, oi);
    }

    ctx = slot;

    return ctx->tenant;
}


/*
 * The boundary (docs/security.md): the request's headers keep the
 * client's Authorization.  The value is chosen here, and the location's
 * content handler is wrapped: the value is put into the headers only
 * while the upstream request is made from them, and taken out again at
 * once.  Whatever else reads the headers (error_page, X-Accel-Redirect,
 * try_files, mirror and other subrequests, $http_authorization, the
 * access log) reads the client's own value.
 */

static ngx_inline ngx_int_t
ngx_oc_arm(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void          *slot;
    ngx_oc_ctx_t  *ctx;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot != NULL && !ngx_oc_tagged(slot)) {
        ctx = slot;
        ctx->sent = oi->header;

    } else {
        ngx_http_set_ctx(r, ngx_oc_tag(oi->header.data), ngx_oc_module);
    }

    /*
     * the location's own content handler is wrapped; without one (static
     * files, say) there is no upstream request; a replay comes here again
     * with the wrapper in place
     */

    if (r->content_handler != NULL) {
        r->content_handler = ngx_oc_content;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_oc_content(ngx_http_request_t *r)
{
    void                      *slot;
    ngx_int_t                  rc;
    ngx_str_t                 *value;
    ngx_oc_ctx_t              *ctx;
    ngx_oc_instance_t         *oi;
    ngx_oc_loc_conf_t         *olcf;
    ngx_http_upstream_t       *u;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    oi = olcf->instance;

    if (slot == NULL) {
        /*
         * a subrequest that clones its parent (a cache background
         * update) has a ctx of its own: the location's own handler,
         * without the value
         */

        return clcf->handler ? clcf->handler(r) : NGX_DECLINED;
    }

    /* chosen in the precontent phase, in this same run of the phases */

    if (ngx_oc_tagged(slot)) {
        value = (oi->family == NULL) ? &oi->header
                : (ngx_oc_tenant_chosen.request == r
                   && ngx_oc_tenant_chosen.oi->family == oi->family)
                  ? &ngx_oc_tenant_chosen.oi->header
                  : ngx_oc_tenant_value(r, oi);

        if (value == NULL) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

    } else {
        ctx = slot;
        value = &ctx->sent;
    }

    (void) ngx_atomic_fetch_add(&oi->rec->counters.injected, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oc pass \"%V\": token of generation %uA",
                   &oi->block, oi->gen);

    u = r->upstream;

    if (ngx_oc_inject(r, value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * without a body to read, the upstream request is made in this call;
     * an upstream that fails at once may also take the request into an
     * error_page here: ngx_oc_rewrite_handler() undoes the value then
     */

    rc = clcf->handler(r);

    if (ngx_oc_window.request != r) {
        return rc;
    }

    ngx_oc_restore();

    if (r->upstream != NULL && r->upstream != u
        && r->upstream->request_bufs == NULL)
    {
        return ngx_oc_content_later(r, value, rc);
    }

    return rc;
}


/* a body still to read: the upstream request is made later */

static ngx_int_t
ngx_oc_content_later(ngx_http_request_t *r, ngx_str_t *value, ngx_int_t rc)
{
    ngx_oc_ctx_t        *ctx;
    ngx_oc_main_conf_t  *omcf;

    if (r->upstream->create_request == NULL) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    ctx = ngx_oc_get_ctx(r, omcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->sent = *value;
    ctx->create_request = r->upstream->create_request;
    r->upstream->create_request = ngx_oc_create_request;

    return rc;
}


static ngx_int_t
ngx_oc_create_request(ngx_http_request_t *r)
{
    void          *slot;
    ngx_int_t      rc;
    ngx_oc_ctx_t  *ctx;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    ctx = slot;

    if (slot == NULL || ngx_oc_tagged(slot) || ctx->create_request == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oc_pass: upstream request without its state");
        return NGX_ERROR;
    }

    if (ngx_oc_window.request != NULL) {
        ngx_oc_restore();
    }

    if (ngx_oc_inject(r, &ctx->sent) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ctx->create_request(r);

    if (ngx_oc_window.request == r) {
        ngx_oc_restore();
    }

    return rc;
}


/* whatever the client sent as Authorization is replaced, for a moment */

static ngx_inline ngx_int_t
ngx_oc_inject(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_list_part_t  *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h != NULL) {
        ngx_oc_window.header = h;
        ngx_oc_window.client = h->value;
        h->value = *value;

    } else {
        /* ngx_list_push(), its common case inline */

        last = r->headers_in.headers.last;

        if (last->nelts < r->headers_in.headers.nalloc) {
            h = (ngx_table_elt_t *) last->elts + last->nelts++;

        } else {
            h = ngx_list_push(&r->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }
        }

        h->hash = ngx_oc_authorization_hash;
        ngx_str_set(&h->key, "Authorization");
        h->lowcase_key = (u_char *) "authorization";
        h->value = *value;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        ngx_oc_window.pushed = h;
    }

    ngx_oc_window.request = r;

    return NGX_OK;
}


static ngx_inline void
ngx_oc_restore(void)
{
    ngx_table_elt_t     *pushed;
    ngx_http_request_t  *r;

    r = ngx_oc_window.request;
    ngx_oc_window.request = NULL;

    if (ngx_oc_window.header != NULL) {
        ngx_oc_window.header->value = ngx_oc_window.client;
        ngx_oc_window.header = NULL;
    }

    pushed = ngx_oc_window.pushed;

    if (pushed != NULL) {
        ngx_oc_window.pushed = NULL;
        ngx_oc_restore_last(r, pushed);
    }
}


/* nothing is added after it in between: it is the last one */

static ngx_inline void
ngx_oc_restore_last(ngx_http_request_t *r, ngx_table_elt_t *pushed)
{
    ngx_list_part_t  *last;

    last = r->headers_in.headers.last;

    if (last->nelts
        && (ngx_table_elt_t *) last->elts + last->nelts - 1 == pushed)
    {
        last->nelts--;
        return;
    }

    ngx_oc_restore_pushed(r, pushed);
}


static void
ngx_oc_restore_pushed(ngx_http_request_t *r, ngx_table_elt_t *pushed)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "oc_pass: a request header was added after the "
                  "injected one");

    ngx_str_set(&pushed->value, "");
    pushed->hash = 0;
}


/*
 * an internal redirect or a named location inside the upstream call:
 * the request enters another location, with the client's value
 */

static ngx_int_t
ngx_oc_rewrite_handler(ngx_http_request_t *r)
{
    if (ngx_oc_window.request != NULL) {
        ngx_oc_restore();
    }

    return NGX_DECLINED;
}


/* the data of the value given to the request, or NULL */

static u_char *
ngx_oc_sent(ngx_http_request_t *r)
{
    void          *slot;
    ngx_oc_ctx_t  *ctx;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot == NULL) {
        return NULL;
    }

    if (ngx_oc_tagged(slot)) {
        return ngx_oc_untag(slot);
    }

    ctx = slot;

    return ctx->sent.data;
}


static ngx_oc_ctx_t *
ngx_oc_get_ctx(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf)
{
    void                *slot;
    ngx_oc_ctx_t        *ctx;
    ngx_oc_loc_conf_t   *olcf;
    ngx_pool_cleanup_t  *cln;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    ctx = slot;

    if (slot != NULL && !ngx_oc_tagged(slot) && ctx->cleanup) {
        return ctx;
    }

    /* the slot may hold the value chosen by ngx_oc_arm() (tagged) */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_oc_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->deadline = ngx_current_msec + omcf->wait_timeout;

    if (slot != NULL) {
        ctx->sent.data = ngx_oc_untag(slot);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_oc_cleanup;
    cln->data = ctx;

    ctx->cleanup = 1;

    /* a family's request that had no ctx: its tenant is held from now */

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    if (slot != NULL && olcf->instance && olcf->instance->family) {
        ctx->tenant = ngx_oc_tenant_hold(r, olcf->instance);
    }

    ctx->request = r;

    ctx->wake.handler = ngx_oc_wake_handler;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_oc_module);

    return ctx;
}


static ngx_int_t
ngx_oc_wait(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi)
{
    ngx_int_t        rc;
    ngx_msec_int_t   left;
    ngx_oc_ctx_t    *ctx;

    ctx = ngx_oc_get_ctx(r, omcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_oc_resolve(omcf, oi);

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    left = (ngx_msec_int_t) (ctx->deadline - ngx_current_msec);

    if (rc != NGX_OK || ctx->timedout || left <= 0) {
        return ngx_oc_refuse(r, omcf, oi, rc == NGX_OK);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oc pass \"%V\": waiting %M ms", &oi->block, left);

    ngx_queue_insert_tail(&oi->waiters, &ctx->queue);
    ctx->waiting = 1;

    ngx_add_timer(&ctx->wake, (ngx_msec_t) left);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_oc_poll();

    return NGX_AGAIN;
}


void
ngx_oc_wake_waiters(ngx_oc_instance_t *oi)
{
    ngx_queue_t   *q;
    ngx_oc_ctx_t  *ctx;

    while (!ngx_queue_empty(&oi->waiters)) {
        q = ngx_queue_head(&oi->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_oc_ctx_t, queue);
        ctx->waiting = 0;

        /* run later, not inside a curl callback */

        ngx_post_event(&ctx->wake, &ngx_posted_events);
    }
}


static void
ngx_oc_wake_handler(ngx_event_t *ev)
{
    ngx_oc_ctx_t        *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (ctx->waiting) {
        ngx_queue_remove(&ctx->queue);
        ctx->waiting = 0;
    }

    if (ev->timedout) {
        ev->timedout = 0;
        ctx->timedout = 1;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_oc_cleanup(void *data)
{
    ngx_oc_ctx_t  *ctx = data;

    if (ctx->waiting) {
        ngx_queue_remove(&ctx->queue);
        ctx->waiting = 0;
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }

    if (ctx->replay.posted) {
        ngx_delete_posted_event(&ctx->replay);
    }

    if (ctx->tenant) {
        ngx_oc_tenant_unref(ctx->tenant);
        ctx->tenant = NULL;
    }
}


/* fail closed: 503, Retry-After, a short JSON body, one log line */

static ngx_int_t
ngx_oc_refuse(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         reason, error, request_id, authorize;

    /* a tenant whose lookup found no instance: it is not connected */

    if (oi->tenant.len && !timedout && oi->state == NGX_OC_UNAUTHORIZED
        && oi->rec->none)
    {
        ngx_oc_status_refused(oi, 0);
        return ngx_oc_tenant_refuse(r, oi, NGX_HTTP_CONFLICT);
    }

    ngx_oc_shm_error(omcf, oi, r->pool, &error, &request_id);
    ngx_oc_status_refused(oi, timedout);

    if (timedout) {
        ngx_str_set(&reason, "timed out waiting for the instance token");

    } else if (oi->state == NGX_OC_DISABLED) {
        ngx_str_set(&reason, "instance disabled in Open Connectors");

    } else if (oi->state == NGX_OC_UNAUTHORIZED && error.len == 0) {
        ngx_str_set(&reason, "authorization required");

    } else if (error.len) {
        reason = error;

    } else {
        ngx_str_set(&reason, "instance token not available");
    }

    if (request_id.len) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_pass: instance \"%V\" unavailable: %V "
                      "(requestId: %V)", &oi->block, &reason, &request_id);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_pass: instance \"%V\" unavailable: %V",
                      &oi->block, &reason);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_oc_retry_after(r, omcf, oi, timedout) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nginx serves the operator's error_page, with the Retry-After above */

    if (ngx_oc_error_page(r, NGX_HTTP_SERVICE_UNAVAILABLE)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* for the operator: where to give consent */

    ngx_str_null(&authorize);

    if (oi->state == NGX_OC_UNAUTHORIZED && !timedout) {
        authorize = oi->oauth_start;
    }

    b = ngx_oc_refuse_body(r->pool, &oi->block, &reason, &authorize);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_oc_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, b);
}


/* in seconds: until the next attempt, at least 1 */

static ngx_int_t
ngx_oc_retry_after(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout)
{
    time_t            retry;
    uint64_t          now;
    ngx_table_elt_t  *h;

    now = ngx_oc_now_ms();
    retry = 1;

    if (oi->retry > now && !timedout) {
        retry = (time_t) ((oi->retry - now + 999) / 1000);
        retry = ngx_min(retry, (time_t) (omcf->recheck_interval / 1000 + 1));
    }

    h = ngx_oc_push_header(&r->headers_out.headers, "Retry-After", NULL);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%T", retry) - h->value.data;

    return NGX_OK;
}


/* the JSON body of a 503 */

static ngx_buf_t *
ngx_oc_refuse_body(ngx_pool_t *pool, ngx_str_t *block, ngx_str_t *reason,
    ngx_str_t *authorize)
{
    u_char     *p;
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("{\"error\":\"instance unavailable\",\"instance\":\"\","
                 "\"reason\":\"\",\"authorize\":\"\"}\n") - 1
          + block->len + ngx_escape_json(NULL, block->data, block->len)
          + reason->len + ngx_escape_json(NULL, reason->data, reason->len)
          + authorize->len + ngx_escape_json(NULL, authorize->data,
                                             authorize->len);

    b = ngx_create_temp_buf(pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, "{\"error\":\"instance unavailable\","
                   "\"instance\":\"",
                   sizeof("{\"error\":\"instance unavailable\","
                          "\"instance\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, block->data, block->len);
    p = ngx_cpymem(p, "\",\"reason\":\"", sizeof("\",\"reason\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, reason->data, reason->len);

    if (authorize->len) {
        p = ngx_cpymem(p, "\",\"authorize\":\"",
                       sizeof("\",\"authorize\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, authorize->data, authorize->len);
    }

    b->last = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    return b;
}


/* whether nginx's special response handler would use an error_page */

static ngx_uint_t
ngx_oc_error_page(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->error_page || clcf->error_pages == NULL || r->uri_changes == 0) {
        return 0;
    }

    err_page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err_page[i].status == status) {
            return 1;
        }
    }

    return 0;
}


/*
 * an upstream 401 with the current token: the token is stale (and with
 * oc_retry_on_401 the request may be sent again); an upstream 403: the
 * instance may have been disabled
 */

static ngx_int_t
ngx_oc_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t  status;

    status = r->headers_out.status;

    if ((status != NGX_HTTP_UNAUTHORIZED && status != NGX_HTTP_FORBIDDEN)
        || r->upstream == NULL || r != r->main)
    {
        return ngx_oc_next_header_filter(r);
    }

    return ngx_oc_upstream_refused(r, status);
}


static ngx_int_t
ngx_oc_upstream_refused(ngx_http_request_t *r, ngx_uint_t status)
{
    u_char              *sent;
    ngx_uint_t           replay;
    ngx_oc_answer_t      a;
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    oi = ngx_oc_request_instance(r, olcf->instance);

    if (oi == NULL) {
        return ngx_oc_next_header_filter(r);
    }

    /* the value this request's upstream request carried */

    sent = ngx_oc_sent(r);

    if (sent == NULL) {
        return ngx_oc_next_header_filter(r);
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    /* also with a token that another 401 has already marked stale */
    replay = (status == NGX_HTTP_UNAUTHORIZED && olcf->retry_on_401);

    if (ngx_oc_shm_refresh(omcf, oi) != NGX_OC_READY
        || sent != oi->header.data)
    {
        return replay ? ngx_oc_replay(r, omcf, oi)
                      : ngx_oc_next_header_filter(r);
    }

    ngx_memzero(&a, sizeof(ngx_oc_answer_t));
    a.call = NGX_OC_CALL_UPSTREAM;
    a.gen = oi->gen;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        a.answer = NGX_OC_ANSWER_UNAUTHORIZED;

        if (ngx_oc_shm_transition(omcf, oi, &a)) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "oc_pass: upstream answered 401 with the token of "
                          "instance %L, resolving \"%V\" again",
                          oi->id, &oi->block);

            (void) ngx_oc_resolve(omcf, oi);
        }

    } else {
        a.answer = NGX_OC_ANSWER_FORBIDDEN;

        if (ngx_oc_shm_transition(omcf, oi, &a)) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "oc_pass: upstream answered 403 for instance %L, "
                          "checking whether \"%V\" is disabled",
                          oi->id, &oi->block);

            (void) ngx_oc_resolve(omcf, oi);
        }
    }

    return replay ? ngx_oc_replay(r, omcf, oi) : ngx_oc_next_header_filter(r);
}


/*
 * oc_retry_on_401: a GET, HEAD or DELETE without a body is sent once more
 * instead of passing its upstream's 401 on.  The 401 goes no further:
 * with header_only set, ngx_http_upstream_send_response() finalizes the
 * upstream at once, as for a HEAD (its connection closed, or kept when
 * no body is left to read), and ngx_http_finalize_request() takes the
 * request as done, nothing sent, with only our extra count left on it.
 * The replay starts from a posted event, after all of that has returned.
 */

static ngx_int_t
ngx_oc_replay(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi)
{
    ngx_oc_ctx_t              *ctx;
    ngx_http_upstream_t       *u;
    ngx_http_core_loc_conf_t  *clcf;

    /* still the current token: sent again, it would meet the same 401 */

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY
        && ngx_oc_sent(r) == oi->header.data)
    {
        return ngx_oc_next_header_filter(r);
    }

    u = r->upstream;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /*
     * the upstream's own header only (once it is finalized u->cleanup is
     * unset: an intercepted error's page), and no cache, store or
     * post_action that would keep the first attempt running
     */

    if (r != r->main
        || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))
        || r->headers_in.content_length_n > 0
        || r->headers_in.chunked
        || r->header_sent
        || u->cleanup == NULL
        || u->header_sent
        || u->store
#if (NGX_HTTP_CACHE)
        || r->cache
#endif
        || clcf->post_action.data)
    {
        return ngx_oc_next_header_filter(r);
    }

    ctx = ngx_oc_get_ctx(r, omcf);

    if (ctx == NULL || ctx->replayed) {
        return ngx_oc_next_header_filter(r);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oc_pass: upstream answered 401, sending the request "
                  "again with a new token of \"%V\"", &oi->block);

    ctx->replayed = 1;
    ctx->header_only = r->header_only;

    ctx->replay.handler = ngx_oc_replay_handler;
    ctx->replay.data = r;
    ctx->replay.log = r->connection->log;

    ngx_post_event(&ctx->replay, &ngx_posted_events);

    r->main->count++;
    r->header_only = 1;

    return NGX_OK;
}


/*
 * The request starts again at this module's precontent handler: same
 * location, URI and arguments, no rewrite or access check run twice; it
 * waits for the new token like any request, and the content handler
 * makes a new upstream.  The rest is what an internal redirect resets.
 */

static void
ngx_oc_replay_handler(ngx_event_t *ev)
{
    ngx_uint_t                  i;
    ngx_oc_ctx_t               *ctx;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_oc_main_conf_t         *omcf;
    ngx_http_phase_handler_t   *ph;
    ngx_http_core_main_conf_t  *cmcf;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    ph = cmcf->phase_engine.handlers;

    for (i = 0; ph[i].checker; i++) {
        if (ph[i].handler == ngx_oc_handler) {
            break;
        }
    }

    if (!r->done || ph[i].checker == NULL) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "oc_retry_on_401: the first attempt was not "
                      "finalized as expected");
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "oc pass: replay");

    r->done = 0;
    r->request_complete = 0;
    r->header_only = ctx->header_only;

    ngx_http_clean_header(r);

    ngx_memzero(r->ctx, sizeof(void *) * ngx_http_max_module);
    ngx_http_set_ctx(r, ctx, ngx_oc_module);

#if (NGX_HTTP_GZIP)
    r->gzip_tested = 0;
    r->gzip_ok = 0;
    r->gzip_vary = 0;
#endif

    ctx->deadline = ngx_current_msec + omcf->wait_timeout;

    c->log->action = NULL;

    r->phase_handler = i;
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_oc_authorization_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    oi = olcf->instance;

    /* a family's tokens are never in a variable */

    if (oi == NULL || oi->family
        || ngx_oc_shm_refresh(omcf, oi) != NGX_OC_READY)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, oi->header.len);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, oi->header.data, oi->header.len);

    v->len = oi->header.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_oc_instance_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_oc_instance_t  *oi;
    ngx_oc_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    oi = ngx_oc_request_instance(r, olcf->instance);

    if (oi == NULL || oi->id_text.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, oi->id_text.len);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, oi->id_text.data, oi->id_text.len);

    v->len = oi->id_text.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_oc_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_oc_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * the handler runs in the precontent phase, after every access check:
 * a request that access rules refuse never starts a resolution, and
 * "satisfy any" cannot skip the injection
 */

ngx_int_t
ngx_oc_handler_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_handler;

    /* every entry into a location, also by a redirect, a named location */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_rewrite_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_rewrite_handler;

    ngx_oc_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_oc_header_filter;

    ngx_oc_authorization_hash = ngx_hash_key((u_char *) "authorization",
                                             sizeof("authorization") - 1);

    return NGX_OK;
}
