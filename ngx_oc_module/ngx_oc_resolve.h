
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_RESOLVE_H_INCLUDED_
#define _NGX_OC_RESOLVE_H_INCLUDED_


#include "ngx_oc_module.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"


#define NGX_OC_MAX_PAGES        1000



typedef void (*ngx_oc_step_pt)(ngx_oc_resolver_t *res, ngx_oc_http_t *h);


struct ngx_oc_resolver_s {
    ngx_oc_main_conf_t         *omcf;
    ngx_oc_instance_t          *oi;
    ngx_pool_t                 *pool;
    ngx_oc_http_t              *http;
    ngx_oc_step_pt              step;
    ngx_oc_call_e               kind;       /* of the call under way */
    uint64_t                    delay;      /* ms, a failure's next try */
    ngx_uint_t                  attempt;
    ngx_event_t                 retry;

    ngx_array_t                 matches;    /* of ngx_oc_api_instance_t */
    ngx_uint_t                  pages;
    int64_t                     created;
    ngx_str_t                   stale;      /* token that got a 401 */
    ngx_oc_api_instance_t       winner;
    ngx_array_t                 surplus;    /* of int64_t, to delete */
    ngx_uint_t                  deleted;    /* of them */

    unsigned                    doubt:1;    /* a create may still land */
    unsigned                    listed:1;   /* a full lookup was made */

    /* an OAuth2 grant code from oc_oauth_callback, and its request */
    ngx_str_t                   code;
    ngx_http_request_t         *request;
};


ngx_int_t ngx_oc_call(ngx_oc_resolver_t *res, ngx_oc_call_e kind,
    const char *method, ngx_str_t *path, ngx_str_t *body,
    ngx_oc_step_pt step);
void ngx_oc_failed(ngx_oc_resolver_t *res, ngx_oc_answer_e answer,
    ngx_oc_http_t *h, const char *fmt, ...);
void ngx_oc_create_lost(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
ngx_http_request_t *ngx_oc_resolve_abort(ngx_oc_instance_t *oi);


#endif /* _NGX_OC_RESOLVE_H_INCLUDED_ */
