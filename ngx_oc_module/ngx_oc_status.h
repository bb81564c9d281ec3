
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_STATUS_H_INCLUDED_
#define _NGX_OC_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_curl.h"


/* room every ngx_oc_writer_printf() call may use: numbers and names */
#define NGX_OC_WRITER_LINE          256


/* an instance as the status outputs see it: there is no token in it */

typedef struct {
    ngx_oc_instance_t          *oi;

    ngx_uint_t                  state;
    ngx_uint_t                  resolving;
    int64_t                     id;
    ngx_atomic_uint_t           generation;
    time_t                      token_time;     /* 0: no token */
    ngx_uint_t                  failures;
    uint64_t                    next_retry;     /* ms, wall clock; 0: none */

    time_t                      error_time;
    size_t                      error_len;
    u_char                      error[NGX_OC_ERROR_MAX];
    size_t                      request_id_len;
    u_char                      request_id[NGX_OC_REQID_MAX];

    ngx_oc_counters_t           counters;

    /* a family: its tenants, and the one ?tenant= names */
    unsigned                    family:1;
    unsigned                    tenant_found:1;
    ngx_uint_t                  tenants;
    ngx_uint_t                  tenants_max;
    ngx_uint_t                  evicted;
    ngx_uint_t                  full;
    ngx_uint_t                  states[NGX_OC_DISABLED + 2];
    ngx_str_t                   tenant;
    ngx_uint_t                  tenant_state;
    int64_t                     tenant_id;
    ngx_uint_t                  tenant_failures;
    size_t                      tenant_error_len;
    u_char                      tenant_error[NGX_OC_ERROR_MAX];
} ngx_oc_status_instance_t;


typedef struct {
    uint64_t                    now;            /* ms, wall clock */

    ngx_shm_zone_t             *zone;           /* NULL: no instance */
    ngx_uint_t                  pages;
    ngx_uint_t                  free;

    ngx_uint_t                  ninstances;
    ngx_oc_status_instance_t   *instances;
} ngx_oc_status_t;


/* a response body built in a chain of buffers */

typedef struct {
    ngx_pool_t                 *pool;
    ngx_chain_t                *out;
    ngx_chain_t               **last;
    ngx_buf_t                  *buf;
    off_t                       size;
    ngx_uint_t                  failed;
} ngx_oc_writer_t;


extern ngx_str_t  ngx_oc_state_names[];
extern ngx_str_t  ngx_oc_refused_names[];
extern ngx_str_t  ngx_oc_call_names[];
extern ngx_str_t  ngx_oc_outcome_names[];
extern ngx_str_t  ngx_oc_resolved_names[];


void ngx_oc_status_call(ngx_oc_instance_t *oi, ngx_oc_http_t *h,
    ngx_uint_t kind);

u_char *ngx_oc_writer_reserve(ngx_oc_writer_t *w, size_t n);
void ngx_oc_writer_printf(ngx_oc_writer_t *w, const char *fmt, ...);

/* ngx_oc_status_prometheus.c */
void ngx_oc_status_prometheus(ngx_oc_writer_t *w, ngx_oc_status_t *st);


#endif /* _NGX_OC_STATUS_H_INCLUDED_ */
