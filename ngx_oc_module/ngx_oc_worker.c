
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_tenant.h"


#define NGX_OC_TICK             1000
#define NGX_OC_POLL             5


static void ngx_oc_tick_handler(ngx_event_t *ev);
static void ngx_oc_hand_over(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);


static ngx_event_t  ngx_oc_tick;
static ngx_msec_t   ngx_oc_next_tick;
static ngx_uint_t   ngx_oc_attached;


ngx_int_t
ngx_oc_init_process(ngx_cycle_t *cycle)
{
    ngx_oc_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_oc_module);

    if (omcf == NULL || omcf->instances.nelts == 0 || omcf->sh == NULL) {
        return NGX_OK;
    }

    if (ngx_oc_curl_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_oc_shm_attach(omcf, 1);
    ngx_oc_attached = 1;

    ngx_oc_tick.handler = ngx_oc_tick_handler;
    ngx_oc_tick.data = omcf;
    ngx_oc_tick.log = cycle->log;
    ngx_oc_tick.cancelable = 1;

    /* warm-up: the first tick resolves what no other worker has taken */

    ngx_oc_next_tick = ngx_current_msec;
    ngx_add_timer(&ngx_oc_tick, 1);

    return NGX_OK;
}


void
ngx_oc_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_oc_instance_t  **oip;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_oc_module);

    if (omcf == NULL || omcf->sh == NULL) {
        return;
    }

    if (ngx_oc_attached) {
        ngx_oc_shm_attach(omcf, -1);
        ngx_oc_attached = 0;
    }

    oip = omcf->instances.elts;

    for (i = 0; i < omcf->instances.nelts; i++) {
        ngx_oc_shm_forget(oip[i]);

        if (oip[i]->family) {
            ngx_oc_tenant_forget(omcf, oip[i]);
        }

        if (oip[i]->resolver == NULL) {
            continue;
        }

        /* hand the resolution over to the workers that stay */

        (void) ngx_oc_resolve_abort(oip[i]);
        ngx_oc_shm_release(omcf, oip[i]);
    }

    ngx_oc_shm_forget_all();

    ngx_oc_curl_done(cycle);
}


static void
ngx_oc_tick_handler(ngx_event_t *ev)
{
    ngx_uint_t           i, waiting, full, exiting;
    ngx_oc_instance_t   *oi, **oip;
    ngx_oc_main_conf_t  *omcf;

    if (ngx_terminate) {
        return;
    }

    /*
     * the channel's QUIT sets ngx_quit in the same turn of the event loop
     * that runs this timer, before the worker sets ngx_exiting: already
     * a retired worker, whose waiters still need the tick
     */

    exiting = ngx_exiting || ngx_quit;

    omcf = ev->data;
    oip = omcf->instances.elts;
    waiting = 0;

    /* every NGX_OC_TICK: warm-up, reconcile, retries after back-off */

    full = (ngx_msec_int_t) (ngx_current_msec - ngx_oc_next_tick) >= 0;

    if (full) {
        ngx_oc_next_tick = ngx_current_msec + NGX_OC_TICK;
    }

    for (i = 0; i < omcf->instances.nelts; i++) {
        oi = oip[i];

        /* a family resolves its tenants on demand, never the block */

        if (oi->family) {
            ngx_oc_tenant_tick(omcf, oi, &waiting);
            continue;
        }

        if (exiting && oi->resolver != NULL) {
            ngx_oc_hand_over(omcf, oi);
        }

        if (!ngx_queue_empty(&oi->waiters)) {

            /*
             * requests wait on a resolution in another worker, also one
             * of the workers that a reload started
             */

            if (oi->rec->generation != oi->gen
                || (!exiting && !ngx_oc_shm_lease_held(omcf, oi)))
            {
                ngx_oc_wake_waiters(oi);
            }

            waiting = 1;
            continue;
        }

        if (full && oi->resolver == NULL && !exiting) {
            (void) ngx_oc_resolve(omcf, oi);
        }
    }

    /* an old worker after a reload polls only for its waiters */

    if (exiting && !waiting) {
        return;
    }

    ngx_add_timer(ev, waiting ? NGX_OC_POLL
                              : ngx_oc_next_tick - ngx_current_msec);
}


/*
 * a worker that a reload retired: the new workers own the declaration,
 * they resolve it at once; a create, an update or a code exchange under
 * way is finished, since repeating it could duplicate an instance
 */

static void
ngx_oc_hand_over(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_oc_resolver_t  *res;

    res = oi->resolver;

    if (res->request != NULL || res->code.len
        || (res->kind != NGX_OC_CALL_LIST && res->kind != NGX_OC_CALL_GET))
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "oc_instance \"%V\": handing the resolution over to "
                  "the new worker processes", &oi->block);

    (void) ngx_oc_resolve_abort(oi);
    ngx_oc_shm_release(omcf, oi);
}


/* requests started waiting in this worker: poll the record meanwhile */

void
ngx_oc_poll(void)
{
    if (ngx_oc_tick.log == NULL) {
        return;
    }

    if (!ngx_oc_tick.timer_set
        || ngx_oc_tick.timer.key > ngx_current_msec + NGX_OC_POLL)
    {
        ngx_add_timer(&ngx_oc_tick, NGX_OC_POLL);
    }
}
