
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_handler.h"


static ngx_int_t ngx_oc_authorization_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_oc_instance_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_oc_variable_copy(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_str_t *value);


static ngx_http_variable_t  ngx_oc_vars[] = {

    { ngx_string("oc_authorization"), NULL, ngx_oc_authorization_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oc_instance_id"), NULL, ngx_oc_instance_id_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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
        return ngx_oc_variable_copy(r, v, NULL);
    }

    return ngx_oc_variable_copy(r, v, &oi->header);
}


static ngx_int_t
ngx_oc_instance_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_oc_instance_t  *oi;
    ngx_oc_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    oi = ngx_oc_request_instance(r, olcf->instance);

    return ngx_oc_variable_copy(r, v, oi ? &oi->id_text : NULL);
}


/*
 * the request's own copy: a worker's header buffers change with the
 * token, the variable's value must not
 */

static ngx_int_t
ngx_oc_variable_copy(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_str_t *value)
{
    if (value == NULL || value->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, value->len);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, value->data, value->len);

    v->len = value->len;
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
