
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_TENANT_H_INCLUDED_
#define _NGX_OC_TENANT_H_INCLUDED_


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"


#define NGX_OC_TENANT_MAX           128
#define NGX_OC_TENANTS_MAX          10000
#define NGX_OC_TENANT_ABSENT_TTL    10000

/* the placeholder that "name" and "tags" of a family may use */
#define NGX_OC_TENANT_VAR           "$tenant"

#define NGX_OC_CONNECT_NONE         0
#define NGX_OC_CONNECT_PUT          1       /* create or update */
#define NGX_OC_CONNECT_DELETE       2


/* a tenant in the shared zone: the same record as a declared instance */

typedef struct {
    ngx_str_node_t              sn;         /* str points at "value" */
    ngx_queue_t                 lru;
    ngx_atomic_uint_t           epoch;      /* 0: freed */
    time_t                      used;       /* s, written without the lock */
    ngx_oc_shrec_t              rec;

    /* as long as the value: a short one keeps the node in a 2 KB slot */
    u_char                      value[1];
} ngx_oc_tnode_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    ngx_uint_t                  count;
    ngx_uint_t                  max;        /* the newest load's */
    ngx_atomic_uint_t           epoch;
    ngx_atomic_t                evicted;
    ngx_atomic_t                full;       /* refused: no room */
} ngx_oc_tshared_t;


/* a worker's copy of one tenant: its own instance, as a block has */

typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 lru;
    ngx_pool_t                 *pool;
    ngx_uint_t                  refs;       /* requests' ctx that hold it */
    ngx_oc_tnode_t             *tnode;
    ngx_atomic_uint_t           epoch;
    ngx_oc_instance_t           oi;
} ngx_oc_tenant_t;


struct ngx_oc_family_s {
    ngx_str_t                   var;        /* "$tenant" as configured */
    ngx_int_t                   index;
    ngx_uint_t                  max;        /* oc_tenants_max */
    ngx_msec_t                  absent_ttl; /* oc_tenant_absent_ttl */
    ngx_oc_instance_t          *oi;         /* the block */

    ngx_oc_tshared_t           *sh;

    /* per worker */
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    ngx_uint_t                  count;
};


/*
 * the tenant whose value the precontent handler gave a request that has
 * no ctx: its content handler, in the same run of the phases, reads it
 * from here (the copy is alive until then; a copy that goes clears it)
 */

typedef struct {
    ngx_http_request_t         *request;
    ngx_oc_instance_t          *oi;
} ngx_oc_tenant_chosen_t;


extern ngx_oc_tenant_chosen_t  ngx_oc_tenant_chosen;


/* ngx_oc_tenant.c */
char *ngx_oc_tenant_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_oc_tenants_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_oc_tenant_absent_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_oc_tenant_init_conf(ngx_conf_t *cf, ngx_oc_instance_t *oi);
ngx_int_t ngx_oc_tenant_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf);
ngx_int_t ngx_oc_tenant_init_zone(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi);
ngx_oc_tenant_t *ngx_oc_tenant_new(ngx_oc_main_conf_t *omcf,
    ngx_oc_family_t *fam, ngx_str_t *value, uint32_t key);
ngx_int_t ngx_oc_tenant_recheck(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi);
void ngx_oc_tenant_unref(ngx_oc_instance_t *oi);
ngx_int_t ngx_oc_tenant_refuse(ngx_http_request_t *r, ngx_oc_instance_t *oi,
    ngx_uint_t status);
void ngx_oc_tenant_tick(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_uint_t *waiting);
void ngx_oc_tenant_forget(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);
void ngx_oc_tenant_count(ngx_oc_instance_t *oi, ngx_uint_t *states,
    ngx_oc_counters_t *sum, ngx_uint_t *count);
ngx_oc_shrec_t *ngx_oc_tenant_find_locked(ngx_oc_instance_t *family,
    ngx_str_t *tenant);
ngx_oc_tenant_t *ngx_oc_tenant_get_value(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *family, ngx_str_t *value, ngx_int_t *status);

/* ngx_oc_tenant_pass.c */
ngx_oc_tenant_t *ngx_oc_tenant_get(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *family, ngx_int_t *status);
ngx_oc_instance_t *ngx_oc_tenant_find(ngx_http_request_t *r,
    ngx_oc_instance_t *family);
ngx_oc_instance_t *ngx_oc_tenant_hold(ngx_http_request_t *r,
    ngx_oc_instance_t *family);
ngx_str_t *ngx_oc_tenant_value(ngx_http_request_t *r,
    ngx_oc_instance_t *family);

/* ngx_oc_tenant_connect.c */
char *ngx_oc_connect(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_oc_connect_done(ngx_http_request_t *r, ngx_uint_t outcome);
void ngx_oc_connect_delete(ngx_oc_resolver_t *res);

/* ngx_oc_oauth_tenant.c */
ngx_int_t ngx_oc_oauth_tenant_state(ngx_http_request_t *r,
    ngx_oc_instance_t *family, ngx_str_t *state, ngx_int_t *answer);
ngx_int_t ngx_oc_oauth_tenant_take(ngx_http_request_t *r,
    ngx_oc_instance_t *family, ngx_str_t *arg, ngx_oc_instance_t **tenant);
ngx_int_t ngx_oc_oauth_tenant_connect(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);


#endif /* _NGX_OC_TENANT_H_INCLUDED_ */
