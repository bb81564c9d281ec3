
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_HANDLER_H_INCLUDED_
#define _NGX_OC_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"


/* the slow paths stay out of the handler every location runs */

#if (__GNUC__)
#define ngx_oc_cold  __attribute__((noinline, cold))
#else
#define ngx_oc_cold
#endif


typedef ngx_int_t (*ngx_oc_create_request_pt)(ngx_http_request_t *r);


/*
 * The module's ctx slot of a request holds an ngx_oc_ctx_t (a request
 * that waited, of a family, or with a body still to read), or, tagged with
 * the low bit, the id of the worker's Authorization value chosen for it:
 * the hot path allocates nothing.  A value is never changed and a new
 * token gets a new value with a new id, so the same id means the same
 * value; a ctx holds its value, the tagged slot only names it (see
 * ngx_oc_shm.c).
 */

#define ngx_oc_tagged(p)     ((uintptr_t) (p) & 1)
#define ngx_oc_tag(id)       ((void *) (((uintptr_t) (id) << 1) | 1))
#define ngx_oc_untag(p)      ((uintptr_t) (p) >> 1)


typedef struct {
    ngx_http_request_t         *request;
    ngx_queue_t                 queue;
    ngx_event_t                 wake;
    ngx_msec_t                  deadline;

    /* the value for the upstream request, and the call that makes it */
    ngx_str_t                   sent;
    uintptr_t                   sent_id;
    ngx_oc_value_t             *held;       /* sent's, until the request ends */
    ngx_oc_create_request_pt    create_request;

    /* a family's location: the request's tenant, held until it ends */
    ngx_oc_instance_t          *tenant;

    unsigned                    cleanup:1;
    unsigned                    waiting:1;
    unsigned                    timedout:1;
} ngx_oc_ctx_t;


/* ngx_oc_handler.c */
ngx_oc_instance_t *ngx_oc_request_instance(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
uintptr_t ngx_oc_sent(ngx_http_request_t *r);
ngx_int_t ngx_oc_arm_ctx(ngx_http_request_t *r, ngx_oc_ctx_t *ctx,
    ngx_oc_instance_t *oi) ngx_oc_cold;

/* ngx_oc_wait.c */
ngx_oc_ctx_t *ngx_oc_get_ctx(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf) ngx_oc_cold;
ngx_int_t ngx_oc_wait(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi) ngx_oc_cold;

/* ngx_oc_refuse.c */
ngx_int_t ngx_oc_refuse(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout) ngx_oc_cold;

/* ngx_oc_retry.c */
ngx_int_t ngx_oc_retry_enter(ngx_http_request_t *r) ngx_oc_cold;
void ngx_oc_retry_init(void);


#endif /* _NGX_OC_HANDLER_H_INCLUDED_ */
