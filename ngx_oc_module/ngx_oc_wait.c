/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_tenant.h"
#include "ngx_oc_handler.h"


/*
 * A request that needs more than the hot path: its ctx (with a pool
 * cleanup that ends what it holds), and its wait for a token that a
 * resolution, in this worker or another, is about to publish.
 */


static void ngx_oc_wake_handler(ngx_event_t *ev);
static void ngx_oc_cleanup(void *data);


ngx_oc_ctx_t *
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
        ctx->sent_id = ngx_oc_untag(slot);
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


ngx_int_t
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
        return ngx_oc_arm_ctx(r, ctx, oi);
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

    if (ctx->held) {
        ngx_oc_shm_unhold(ctx->held);
        ctx->held = NULL;
    }

    if (ctx->tenant) {
        ngx_oc_tenant_unref(ctx->tenant);
        ctx->tenant = NULL;
    }
}
