
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_RESOLVE_H_INCLUDED_
#define _NGX_OC_RESOLVE_H_INCLUDED_


#include "ngx_oc_module.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"


/* the largest page Open Connectors gives (200 for GET /elements) */
#define NGX_OC_PAGE_SIZE        200

/* a scan longer than this many pages is logged as large */
#define NGX_OC_LARGE_SCAN       50

#define NGX_OC_SCAN_NONE        0
#define NGX_OC_SCAN_LEADER      1
#define NGX_OC_SCAN_FOLLOWER    2


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
    ngx_uint_t                  entries;    /* listed by a scan so far */
    ngx_str_t                   ident;      /* the identity tag */
    ngx_str_t                   page;       /* the last next page token */
    unsigned                    no_scan:1;
    unsigned                    scanned:1;
    unsigned                    searching:1;    /* a tag search */
    unsigned                    scan_pending:1; /* a leader, not started */
    int64_t                     created;
    ngx_str_t                   stale;      /* token that got a 401 */
    ngx_oc_api_instance_t       winner;
    ngx_array_t                 surplus;    /* of int64_t, to delete */
    ngx_uint_t                  deleted;    /* of them */

    unsigned                    doubt:1;    /* a create may still land */
    unsigned                    listed:1;   /* a full lookup was made */

    /* a scan shared by the blocks that need one at the same time */
    ngx_uint_t                  scan;       /* NGX_OC_SCAN_* */
    ngx_queue_t                 scan_link;  /* in the scans or a leader's */
    ngx_queue_t                 followers;
    ngx_oc_resolver_t          *leader;
    ngx_array_t                *members;    /* sorted by name */

    /* an OAuth2 grant code from oc_oauth_callback, and its request */
    ngx_str_t                   code;
    ngx_http_request_t         *request;

    /* oc_connect: NGX_OC_CONNECT_*, with the tenant's configuration */
    ngx_uint_t                  connect;
    ngx_array_t                *config;    /* of ngx_oc_config_kv_t */
    ngx_uint_t                  outcome;   /* NGX_OC_RESOLVED_* */
};


ngx_int_t ngx_oc_call(ngx_oc_resolver_t *res, ngx_oc_call_e kind,
    const char *method, ngx_str_t *path, ngx_str_t *body,
    ngx_oc_step_pt step);
void ngx_oc_create_lost(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
ngx_http_request_t *ngx_oc_resolve_abort(ngx_oc_instance_t *oi);
ngx_oc_api_instance_t *ngx_oc_lowest(ngx_array_t *matches);
void ngx_oc_lookup_done(ngx_oc_resolver_t *res);
ngx_oc_resolver_t *ngx_oc_resolve_connect(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t connect, ngx_http_request_t *r);
ngx_int_t ngx_oc_instance_path(ngx_oc_resolver_t *res, int64_t id,
    ngx_str_t *path);

/* ngx_oc_settle.c */
void ngx_oc_settle(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci);
void ngx_oc_retag_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
void ngx_oc_finish(ngx_oc_resolver_t *res);
void ngx_oc_failed(ngx_oc_resolver_t *res, ngx_oc_answer_e answer,
    ngx_oc_http_t *h, const char *fmt, ...);
ngx_int_t ngx_oc_body(ngx_oc_resolver_t *res, ngx_uint_t create,
    ngx_str_t *body);

/* ngx_oc_scan.c */
ngx_int_t ngx_oc_lookup(ngx_oc_resolver_t *res, ngx_uint_t no_scan);
ngx_int_t ngx_oc_ident(ngx_oc_resolver_t *res);
void ngx_oc_scan_fail(ngx_oc_resolver_t *res, ngx_oc_answer_e answer,
    ngx_str_t *error);
void ngx_oc_scan_leave(ngx_oc_resolver_t *res);


#endif /* _NGX_OC_RESOLVE_H_INCLUDED_ */
