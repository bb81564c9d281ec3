
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_EVENTS_H_INCLUDED_
#define _NGX_OC_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"


/* ngx_oc_events.c */
ngx_int_t ngx_oc_events_init_conf(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf);
ngx_int_t ngx_oc_events_init(ngx_conf_t *cf);


#endif /* _NGX_OC_EVENTS_H_INCLUDED_ */
