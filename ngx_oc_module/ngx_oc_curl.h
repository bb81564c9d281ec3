
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_CURL_H_INCLUDED_
#define _NGX_OC_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <curl/curl.h>


typedef struct ngx_oc_http_s  ngx_oc_http_t;

typedef void (*ngx_oc_http_handler_pt)(ngx_oc_http_t *h);


struct ngx_oc_http_s {
    /* the request, set by the caller */
    const char                 *method;
    ngx_str_t                   url;            /* null-terminated */
    ngx_str_t                   body;
    ngx_str_t                   authorization;
    ngx_msec_t                  timeout;
    size_t                      max_body;
    ngx_log_t                  *log;
    ngx_oc_http_handler_pt      handler;
    ngx_oc_http_handler_pt      started;    /* left the queue, or NULL */
    void                       *data;

    /* the answer */
    CURLcode                    result;
    long                        status;
    ngx_str_t                   response;
    ngx_str_t                   content_type;
    ngx_str_t                   next_page;      /* Elements-Next-Page-Token */
    ngx_str_t                   retry_after;
    ngx_str_t                   location;
    char                        error[CURL_ERROR_SIZE];

    /* private */
    CURL                       *easy;
    struct curl_slist          *headers;
    ngx_pool_t                 *pool;
    u_char                     *buf;
    size_t                      size;
    ngx_queue_t                 queue;      /* waiting for a connection */
    unsigned                    active:1;   /* in the multi handle */
    unsigned                    queued:1;
    unsigned                    too_big:1;
};


ngx_int_t ngx_oc_curl_init(ngx_cycle_t *cycle);
void ngx_oc_curl_done(ngx_cycle_t *cycle);
ngx_oc_http_t *ngx_oc_http_create(ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_oc_http_start(ngx_oc_http_t *h);
void ngx_oc_http_abort(ngx_oc_http_t *h);

/* not static for fuzz/fuzz_api_body.c and fuzz/fuzz_api_headers.c */
size_t ngx_oc_http_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
size_t ngx_oc_http_header(char *ptr, size_t size, size_t nmemb,
    void *userdata);


#endif /* _NGX_OC_CURL_H_INCLUDED_ */
