
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_EVENTS_H_INCLUDED_
#define _NGX_OC_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"


#define NGX_OC_EVENTS_KEY_LEN       20      /* SHA-1 of the replay key */


/* ngx_oc_events.c */
ngx_int_t ngx_oc_events_init_conf(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf);
ngx_int_t ngx_oc_events_init(ngx_conf_t *cf);

/* ngx_oc_events_replay.c */
size_t ngx_oc_events_size_needed(ngx_oc_main_conf_t *omcf);
ngx_int_t ngx_oc_events_init_zone(ngx_shm_zone_t *shm_zone,
    ngx_oc_main_conf_t *omcf);
ngx_int_t ngx_oc_events_replay_add(ngx_oc_main_conf_t *omcf, u_char *key,
    uint32_t *serial, ngx_log_t *log);
void ngx_oc_events_replay_forget(ngx_oc_main_conf_t *omcf, u_char *key,
    uint32_t serial);


#endif /* _NGX_OC_EVENTS_H_INCLUDED_ */
