
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_CONF_H_INCLUDED_
#define _NGX_OC_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"


/* the oc_pass directives of one configuration, for ngx_oc_conf_pass.c */

typedef struct {
    ngx_array_t                 passes;
    ngx_int_t                   proxy_index;
} ngx_oc_pass_checks_t;


/* ngx_oc_conf.c */
char *ngx_oc_instance(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_oc_instance_t *ngx_oc_instance_add(ngx_conf_t *cf,
    ngx_oc_main_conf_t *omcf, ngx_str_t *block);
ngx_int_t ngx_oc_conf_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf);
ngx_str_t *ngx_oc_config_value(ngx_oc_instance_t *oi, ngx_str_t *key);
ngx_int_t ngx_oc_conf_config_value(ngx_conf_t *cf, ngx_str_t *key,
    ngx_str_t *value);
ngx_str_t *ngx_oc_auth_name(ngx_uint_t auth);
ngx_str_t *ngx_oc_conf_required_keys(ngx_oc_instance_t *oi);

/* ngx_oc_secret.c */
ngx_int_t ngx_oc_conf_secret(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value);
ngx_int_t ngx_oc_conf_platform_secret(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value);

/* ngx_oc_conf_value.c */
void ngx_oc_conf_check_key(ngx_conf_t *cf, ngx_str_t *key);
ngx_int_t ngx_oc_conf_api_url(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *url);
ngx_int_t ngx_oc_conf_zone(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    ssize_t *size);
ngx_int_t ngx_oc_conf_check_quotes(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value, ngx_str_t *source);
ngx_uint_t ngx_oc_conf_is_http_url(ngx_str_t *url);

/* ngx_oc_conf_pass.c */
ngx_int_t ngx_oc_pass_checks_init(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc);
ngx_int_t ngx_oc_pass_record(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *olcf);
ngx_int_t ngx_oc_pass_check(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *conf, ngx_oc_loc_conf_t *prev, ngx_uint_t written);
ngx_uint_t ngx_oc_loopback_host(u_char *host, u_char *last);

/* ngx_oc_oauth.c */
const char *ngx_oc_oauth_directive(ngx_http_core_loc_conf_t *clcf);


#endif /* _NGX_OC_CONF_H_INCLUDED_ */
