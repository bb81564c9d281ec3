
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


/* ngx_oc_handler.c */
ngx_oc_instance_t *ngx_oc_request_instance(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
uintptr_t ngx_oc_sent(ngx_http_request_t *r);

/* ngx_oc_refuse.c */
ngx_int_t ngx_oc_refuse(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout) ngx_oc_cold;

/* ngx_oc_retry.c */
ngx_int_t ngx_oc_retry_enter(ngx_http_request_t *r) ngx_oc_cold;
void ngx_oc_retry_init(void);


#endif /* _NGX_OC_HANDLER_H_INCLUDED_ */
