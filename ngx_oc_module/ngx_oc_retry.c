
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_handler.h"


/*
 * An upstream's 401 or 403 to a request of an oc_pass location: the
 * token may be stale, the instance disabled; with oc_retry_on_401 the
 * request is sent once more with the new token.
 *
 * The state of oc_retry_on_401 hangs on a pool cleanup of the request,
 * found by its handler (as oc_events finds its own): the replay is an
 * internal redirect, which clears every module's ctx.
 */

typedef struct {
    ngx_str_t                   uri;        /* the location was chosen for */
    ngx_str_t                   args;
    ngx_str_t                   named;      /* or its name, "@name" */
    ngx_flag_t                  replayed;
} ngx_oc_retry_t;


static ngx_int_t ngx_oc_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_oc_upstream_refused(ngx_http_request_t *r,
    ngx_uint_t status) ngx_oc_cold;
static ngx_int_t ngx_oc_replay(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi) ngx_oc_cold;
static ngx_oc_retry_t *ngx_oc_retry_get(ngx_http_request_t *r);
static void ngx_oc_retry_cleanup(void *data);


static ngx_http_output_header_filter_pt  ngx_oc_next_header_filter;


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
    uintptr_t            sent;
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

    if (sent == 0) {
        return ngx_oc_next_header_filter(r);
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    /* also with a token that another 401 has already marked stale */
    replay = (status == NGX_HTTP_UNAUTHORIZED && olcf->retry_on_401);

    if (ngx_oc_shm_refresh(omcf, oi) != NGX_OC_READY
        || sent != oi->header_id)
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
 * instead of passing its upstream's 401 on, the way nginx itself follows
 * an upstream's X-Accel-Redirect: the upstream is finalized (its
 * connection closed: the 401's body is never read, the connection never
 * reused), the 401's headers are dropped, and the request is redirected
 * internally to the URI its location was chosen for (or, to a named
 * location, by its name, with the URI it came with: an error_page is
 * followed once only).  There it waits for the new token like any
 * request, and its location makes a new upstream.
 *
 * The upstream is finalized through its own cleanup handler, as
 * ngx_http_upstream_create() drops one it replaces; the extra count
 * stands for the one the upstream held.  The filter then returns
 * NGX_ERROR: ngx_http_upstream_send_response() finds the upstream
 * already finalized and only finalizes the request with NGX_DONE, which
 * takes back the count ngx_http_internal_redirect() added.
 */

static ngx_int_t
ngx_oc_replay(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi)
{
    ngx_oc_retry_t            *rs;
    ngx_http_upstream_t       *u;
    ngx_http_core_loc_conf_t  *clcf;

    /* still the current token: sent again, it would meet the same 401 */

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY
        && ngx_oc_sent(r) == oi->header_id)
    {
        return ngx_oc_next_header_filter(r);
    }

    u = r->upstream;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /*
     * the upstream's own 401, from ngx_http_upstream_send_response() (once
     * the upstream is finalized u->cleanup is unset: an intercepted
     * error's page), and no cache, store or post_action that would keep
     * the first attempt running
     */

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))
        || r->headers_in.content_length_n > 0
        || r->headers_in.chunked
        || r->header_sent
        || u->cleanup == NULL
        || u->header_sent
        || u->headers_in.status_n != NGX_HTTP_UNAUTHORIZED
        || u->store
#if (NGX_HTTP_CACHE)
        || r->cache
#endif
        || clcf->post_action.data)
    {
        return ngx_oc_next_header_filter(r);
    }

    rs = ngx_oc_retry_get(r);

    if (rs == NULL || rs->replayed) {
        return ngx_oc_next_header_filter(r);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oc_pass: upstream answered 401, sending the request "
                  "again with a new token of \"%V\"", &oi->block);

    rs->replayed = 1;

    r->main->count++;
    (*u->cleanup)(r);

    ngx_http_clean_header(r);

    if (rs->named.len) {
        r->uri = rs->uri;
        r->args = rs->args;
        ngx_http_set_exten(r);

        (void) ngx_http_named_location(r, &rs->named);

    } else {
        (void) ngx_http_internal_redirect(r, &rs->uri, &rs->args);
    }

    return NGX_ERROR;
}


/*
 * a main request enters a location with oc_retry_on_401, before its
 * rewrite directives: the URI and arguments a replay is redirected to
 */

ngx_int_t
ngx_oc_retry_enter(ngx_http_request_t *r)
{
    ngx_oc_retry_t            *rs;
    ngx_pool_cleanup_t        *cln;
    ngx_http_core_loc_conf_t  *clcf;

    rs = ngx_oc_retry_get(r);

    if (rs == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_oc_retry_t));
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rs = cln->data;
        rs->replayed = 0;

        cln->handler = ngx_oc_retry_cleanup;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    rs->uri = r->uri;
    rs->args = r->args;

    if (clcf->named) {
        rs->named = clcf->name;

    } else {
        ngx_str_null(&rs->named);
    }

    return NGX_DECLINED;
}


/* only a main request has one, so the one in its pool is its own */

static ngx_oc_retry_t *
ngx_oc_retry_get(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_oc_retry_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/* the cleanup only marks the state as this module's: nothing to free */

static void
ngx_oc_retry_cleanup(void *data)
{
}


void
ngx_oc_retry_init(void)
{
    ngx_oc_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_oc_header_filter;
}
