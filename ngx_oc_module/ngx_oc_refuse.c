
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_tenant.h"
#include "ngx_oc_handler.h"


static ngx_int_t ngx_oc_retry_after(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi, ngx_uint_t timedout);
static ngx_buf_t *ngx_oc_refuse_body(ngx_pool_t *pool, ngx_str_t *block,
    ngx_str_t *reason, ngx_str_t *authorize);
static ngx_uint_t ngx_oc_error_page(ngx_http_request_t *r, ngx_int_t status);


/* fail closed: 503, Retry-After, a short JSON body, one log line */

ngx_int_t
ngx_oc_refuse(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         reason, error, request_id, authorize;

    /* a tenant whose lookup found no instance: it is not connected */

    if (oi->tenant.len && !timedout && oi->state == NGX_OC_UNAUTHORIZED
        && oi->rec->none)
    {
        ngx_oc_status_refused(oi, 0);
        return ngx_oc_tenant_refuse(r, oi, NGX_HTTP_CONFLICT);
    }

    ngx_oc_shm_error(omcf, oi, r->pool, &error, &request_id);
    ngx_oc_status_refused(oi, timedout);

    if (timedout) {
        ngx_str_set(&reason, "timed out waiting for the instance token");

    } else if (oi->state == NGX_OC_DISABLED) {
        ngx_str_set(&reason, "instance disabled in Open Connectors");

    } else if (oi->state == NGX_OC_UNAUTHORIZED && error.len == 0) {
        ngx_str_set(&reason, "authorization required");

    } else if (error.len) {
        reason = error;

    } else {
        ngx_str_set(&reason, "instance token not available");
    }

    if (request_id.len) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_pass: instance \"%V\" unavailable: %V "
                      "(requestId: %V)", &oi->block, &reason, &request_id);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_pass: instance \"%V\" unavailable: %V",
                      &oi->block, &reason);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_oc_retry_after(r, omcf, oi, timedout) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nginx serves the operator's error_page, with the Retry-After above */

    if (ngx_oc_error_page(r, NGX_HTTP_SERVICE_UNAVAILABLE)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* for the operator: where to give consent */

    ngx_str_null(&authorize);

    if (oi->state == NGX_OC_UNAUTHORIZED && !timedout) {
        authorize = oi->oauth_start;
    }

    b = ngx_oc_refuse_body(r->pool, &oi->block, &reason, &authorize);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_oc_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE, b);
}


/* in seconds: until the next attempt, at least 1 */

static ngx_int_t
ngx_oc_retry_after(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t timedout)
{
    time_t            retry;
    uint64_t          now;
    ngx_table_elt_t  *h;

    now = ngx_oc_now_ms();
    retry = 1;

    if (oi->retry > now && !timedout) {
        retry = (time_t) ((oi->retry - now + 999) / 1000);
        retry = ngx_min(retry, (time_t) (omcf->recheck_interval / 1000 + 1));
    }

    h = ngx_oc_push_header(&r->headers_out.headers, "Retry-After", NULL);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%T", retry) - h->value.data;

    return NGX_OK;
}


/* the JSON body of a 503 */

static ngx_buf_t *
ngx_oc_refuse_body(ngx_pool_t *pool, ngx_str_t *block, ngx_str_t *reason,
    ngx_str_t *authorize)
{
    u_char     *p;
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("{\"error\":\"instance unavailable\",\"instance\":\"\","
                 "\"reason\":\"\",\"authorize\":\"\"}\n") - 1
          + block->len + ngx_escape_json(NULL, block->data, block->len)
          + reason->len + ngx_escape_json(NULL, reason->data, reason->len)
          + authorize->len + ngx_escape_json(NULL, authorize->data,
                                             authorize->len);

    b = ngx_create_temp_buf(pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, "{\"error\":\"instance unavailable\","
                   "\"instance\":\"",
                   sizeof("{\"error\":\"instance unavailable\","
                          "\"instance\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, block->data, block->len);
    p = ngx_cpymem(p, "\",\"reason\":\"", sizeof("\",\"reason\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, reason->data, reason->len);

    if (authorize->len) {
        p = ngx_cpymem(p, "\",\"authorize\":\"",
                       sizeof("\",\"authorize\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, authorize->data, authorize->len);
    }

    b->last = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    return b;
}


/* whether nginx's special response handler would use an error_page */

static ngx_uint_t
ngx_oc_error_page(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->error_page || clcf->error_pages == NULL || r->uri_changes == 0) {
        return 0;
    }

    err_page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err_page[i].status == status) {
            return 1;
        }
    }

    return 0;
}
