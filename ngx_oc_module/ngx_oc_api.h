
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_API_H_INCLUDED_
#define _NGX_OC_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    int64_t                     id;
    ngx_str_t                   name;
    ngx_str_t                   element;
    ngx_str_t                   token;
    ngx_str_t                   digest;     /* from the digest tag */
    ngx_str_t                   legacy;     /* from an old digest tag */
    ngx_str_t                   ident;      /* from the identity tag */
    unsigned                    disabled:1;
} ngx_oc_api_instance_t;


struct cJSON;


/* where a listed instance goes, or NULL: not kept */
typedef ngx_array_t *(*ngx_oc_api_match_pt)(void *data, ngx_str_t *element,
    ngx_str_t *name);


ngx_int_t ngx_oc_api_parse_instance(ngx_pool_t *pool, ngx_str_t *body,
    ngx_oc_api_instance_t *oci, ngx_str_t *err);
ngx_int_t ngx_oc_api_parse_list(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *element, ngx_str_t *name, ngx_array_t *list,
    ngx_uint_t *entries, ngx_str_t *err);
ngx_int_t ngx_oc_api_parse_matching(ngx_str_t *body,
    ngx_oc_api_match_pt match, void *data, ngx_uint_t *listed,
    ngx_str_t *err);
ngx_int_t ngx_oc_api_tags_body(ngx_pool_t *pool, ngx_array_t *tags,
    ngx_str_t *ident, u_char *digest, ngx_str_t *out);
ngx_int_t ngx_oc_api_ident_tag(ngx_pool_t *pool, ngx_str_t *element,
    ngx_str_t *name, ngx_str_t *tag);
void ngx_oc_api_wipe(struct cJSON *item);
void ngx_oc_api_parse_error(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *message, ngx_str_t *request_id);
ngx_int_t ngx_oc_api_instance_body(ngx_pool_t *pool, ngx_str_t *element,
    ngx_str_t *name, ngx_array_t *tags, ngx_str_t *ident, ngx_str_t *auth,
    ngx_array_t *config, u_char *digest, ngx_str_t *code, ngx_uint_t create,
    ngx_str_t *out);
ngx_int_t ngx_oc_api_parse_oauth_url(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *url, ngx_str_t *err);
ngx_int_t ngx_oc_api_valid_token(ngx_str_t *token);
ngx_int_t ngx_oc_api_list_path(ngx_pool_t *pool, ngx_str_t *page,
    ngx_str_t *path);
ngx_int_t ngx_oc_api_retry_after(ngx_str_t *value, ngx_int_t max);
ngx_uint_t ngx_oc_api_is_json(ngx_str_t *content_type);


#endif /* _NGX_OC_API_H_INCLUDED_ */
