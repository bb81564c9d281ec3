
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_status.h"


#define NGX_OC_RETRY_MIN        250
/* the longest Retry-After honoured, in seconds; longer ones are cut */
#define NGX_OC_RETRY_AFTER_MAX  600


static void ngx_oc_call_done(ngx_oc_http_t *h);
static void ngx_oc_call_started(ngx_oc_http_t *h);
static ngx_uint_t ngx_oc_call_retry(ngx_oc_resolver_t *res,
    ngx_oc_http_t *h);
static void ngx_oc_retry_handler(ngx_event_t *ev);


ngx_int_t
ngx_oc_call(ngx_oc_resolver_t *res, ngx_oc_call_e kind, const char *method,
    ngx_str_t *path, ngx_str_t *body, ngx_oc_step_pt step)
{
    u_char              *p;
    ngx_oc_http_t       *h;
    ngx_oc_main_conf_t  *omcf;

    omcf = res->omcf;
    h = res->http;

    h->url.len = omcf->api_url.len + path->len;
    h->url.data = ngx_pnalloc(res->pool, h->url.len + 1);
    if (h->url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(h->url.data, omcf->api_url.data, omcf->api_url.len);
    *ngx_cpymem(p, path->data, path->len) = '\0';

    h->method = method;
    h->authorization = omcf->platform_auth;
    h->timeout = omcf->api_timeout;
    h->max_body = omcf->api_max_body;
    h->handler = ngx_oc_call_done;
    h->started = ngx_oc_call_started;
    h->data = res;

    if (body) {
        h->body = *body;

    } else {
        ngx_str_null(&h->body);
    }

    res->step = step;
    res->kind = kind;
    res->attempt = 0;
    res->delay = 0;

    res->retry.handler = ngx_oc_retry_handler;
    res->retry.data = res;
    res->retry.log = ngx_cycle->log;
    res->retry.cancelable = 1;

    ngx_oc_shm_renew_lease(omcf, res->oi, 0);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc resolve \"%V\": %s %V",
                   &res->oi->block, method, path);

    return ngx_oc_http_start(h);
}


/* the call waited for a connection (oc_api_connections): hold on */

static void
ngx_oc_call_started(ngx_oc_http_t *h)
{
    ngx_oc_resolver_t  *res = h->data;

    ngx_oc_shm_renew_lease(res->omcf, res->oi, 0);
}


static void
ngx_oc_call_done(ngx_oc_http_t *h)
{
    ngx_oc_resolver_t  *res = h->data;

    u_char  *path, *end;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc resolve \"%V\": status %l, %uz bytes, curl %d",
                   &res->oi->block, h->status, h->response.len, h->result);

    ngx_oc_status_call(res->oi, h, res->kind);

    if (ngx_oc_call_retry(res, h)) {
        return;
    }

    /* what a failure means for the state, ngx_oc_transition.c's table says */

    if (h->result != CURLE_OK && res->kind == NGX_OC_CALL_CREATE) {
        ngx_oc_create_lost(res, h);
        return;
    }

    if (h->result != CURLE_OK) {
        /* the path without its query: no tag or page token in the log */

        path = h->url.data + res->omcf->api_url.len;
        end = (u_char *) ngx_strchr(path, '?');

        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "%s %*s failed: %s", h->method,
                      (size_t) (end ? end - path : (ssize_t) ngx_strlen(path)),
                      path, h->error);
        return;
    }

    if (h->status >= 200 && h->status < 300 && h->response.len
        && !ngx_oc_api_is_json(&h->content_type))
    {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "%s %s answered %l with Content-Type \"%V\", "
                      "not JSON",
                      h->method, h->url.data + res->omcf->api_url.len,
                      h->status, &h->content_type);
        return;
    }

    res->step(res, h);
}


/* transient failures are tried again after a jittered back-off */

static ngx_uint_t
ngx_oc_call_retry(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_int_t   n;
    ngx_msec_t  delay;

    n = ngx_oc_api_retry_after(&h->retry_after, NGX_OC_RETRY_AFTER_MAX);

    /*
     * longer than a request may wait for the token: the resolution fails
     * at once, tried again then, and the requests get 503 meanwhile
     */

    if (n != NGX_ERROR && h->result == CURLE_OK
        && (h->status >= 500 || h->status == 429)
        && (ngx_msec_t) n * 1000 > res->omcf->wait_timeout)
    {
        res->delay = (uint64_t) n * 1000;
        return 0;
    }

    if (res->attempt >= res->omcf->api_retries) {
        return 0;
    }

    if (h->result == CURLE_OK) {
        if (h->status < 500 && h->status != 429) {
            return 0;
        }

    } else if (h->too_big || h->result == CURLE_PEER_FAILED_VERIFICATION) {
        /* neither fixes itself in a second */
        return 0;

    } else if (res->kind == NGX_OC_CALL_CREATE) {
        /* it may have created the instance: look before another POST */
        return 0;
    }

    if (n != NGX_ERROR) {
        delay = (ngx_msec_t) n * 1000;

    } else {
        delay = NGX_OC_RETRY_MIN << ngx_min(res->attempt, 5);
        delay = delay * 3 / 4 + ngx_random() % (delay / 2 + 1);
    }

    res->attempt++;

    if (h->result == CURLE_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "oc_instance \"%V\": %s %s answered %l, "
                      "retrying in %M ms (%ui of %ui)",
                      &res->oi->block, h->method,
                      h->url.data + res->omcf->api_url.len, h->status,
                      delay, res->attempt, res->omcf->api_retries);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "oc_instance \"%V\": %s %s failed: %s, "
                      "retrying in %M ms (%ui of %ui)",
                      &res->oi->block, h->method,
                      h->url.data + res->omcf->api_url.len, h->error,
                      delay, res->attempt, res->omcf->api_retries);
    }

    ngx_oc_shm_renew_lease(res->omcf, res->oi, delay);
    ngx_add_timer(&res->retry, delay);

    return 1;
}


static void
ngx_oc_retry_handler(ngx_event_t *ev)
{
    ngx_oc_resolver_t  *res = ev->data;

    ngx_oc_shm_renew_lease(res->omcf, res->oi, 0);

    if (ngx_oc_http_start(res->http) != NGX_OK) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "%s %s could not start",
                      res->http->method,
                      res->http->url.data + res->omcf->api_url.len);
    }
}
