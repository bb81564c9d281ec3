
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


/* the hot path's lookup, inline wherever it is used */

#if (__GNUC__)
#define ngx_oc_tenant_inline  __attribute__((always_inline))
#else
#define ngx_oc_tenant_inline
#endif


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
    time_t                      used;       /* s, when last moved in lru */
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


static ngx_inline ngx_oc_tenant_t *ngx_oc_tenant_ready(ngx_oc_family_t *fam,
    ngx_http_variable_value_t *vv) ngx_oc_tenant_inline;
static ngx_inline uint32_t ngx_oc_tenant_hash(u_char *p, size_t len);
static ngx_inline ngx_oc_tenant_t *ngx_oc_tenant_walk(ngx_oc_family_t *fam,
    ngx_str_t *value, uint32_t hash);
static ngx_inline ngx_uint_t ngx_oc_tenant_same(u_char *a, u_char *b,
    size_t len);


/*
 * The hot path of a family's request, inline in the precontent handler:
 * the worker's copy of the tenant of a value evaluated (found or not)
 * when the copy is ready and its record has not moved, or NULL, and
 * ngx_oc_tenant_get() then does it all, checks and refusals included.
 * Only valid values get into the worker's tree, so a value found there
 * needs no check.  It calls no function: the handler saves no
 * registers for it.
 */

static ngx_inline ngx_oc_tenant_t *
ngx_oc_tenant_ready(ngx_oc_family_t *fam, ngx_http_variable_value_t *vv)
{
    ngx_str_t         value;
    ngx_oc_tenant_t  *t;

    if (vv->not_found) {
        return NULL;
    }

    value.len = vv->len;
    value.data = vv->data;

    t = ngx_oc_tenant_walk(fam, &value,
                           ngx_oc_tenant_hash(value.data, value.len));

    /* not used yet this second: ngx_oc_tenant_get() touches it */

    if (t == NULL
        || t->used != ngx_time()
        || t->tnode == NULL
        || t->oi.rec->generation != t->oi.gen
        || t->oi.state != NGX_OC_READY)
    {
        return NULL;
    }

    return t;
}


/*
 * The worker tree's key: 8 bytes of the value at a time, multiplied and
 * folded, the last 8 (or 4) read again where they overlap.  The shared
 * tree keeps ngx_crc32_short(), which its records are keyed by across
 * reloads; this one lives and dies with the worker.  Values that collide
 * cost a string compare each, never a wrong tenant: the tree compares
 * the values themselves on equal keys.
 */

static ngx_inline uint32_t
ngx_oc_tenant_hash(u_char *p, size_t len)
{
    size_t    i, end;
    uint32_t  a, b;
    uint64_t  h, w;

    h = (uint64_t) len * 0x9e3779b97f4a7c15ULL;

    if (len >= 8) {
        end = len - 8;

        for (i = 0; i < end; i += 8) {
            ngx_memcpy(&w, p + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        }

        ngx_memcpy(&w, p + end, 8);

    } else if (len >= 4) {
        ngx_memcpy(&a, p, 4);
        ngx_memcpy(&b, p + len - 4, 4);
        w = ((uint64_t) a << 32) | b;

    } else if (len) {
        w = ((uint64_t) p[0] << 16) | ((uint64_t) p[len >> 1] << 8)
            | p[len - 1];

    } else {
        w = 0;
    }

    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;

    return (uint32_t) (h ^ (h >> 32));
}


/* ngx_str_rbtree_lookup(), inline: the hot path's one search */

static ngx_inline ngx_oc_tenant_t *
ngx_oc_tenant_walk(ngx_oc_family_t *fam, ngx_str_t *value, uint32_t hash)
{
    size_t              i;
    ngx_str_node_t     *n;
    ngx_rbtree_node_t  *node, *sentinel;

    node = fam->tree.root;
    sentinel = fam->tree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_str_node_t *) node;

        if (value->len != n->str.len) {
            node = (value->len < n->str.len) ? node->left : node->right;
            continue;
        }

        /* with a key and a length alike, the value is all but certain */

        if (ngx_oc_tenant_same(value->data, n->str.data, value->len)) {
            return (ngx_oc_tenant_t *) n;
        }

        /* ngx_memcmp()'s order, without a call: a collision, rare */

        for (i = 0; value->data[i] == n->str.data[i]; i++) {
            /* void */
        }

        node = (value->data[i] < n->str.data[i]) ? node->left : node->right;
    }

    return NULL;
}


/* equal or not, 8 bytes at a time, the last ones read again, no call */

static ngx_inline ngx_uint_t
ngx_oc_tenant_same(u_char *a, u_char *b, size_t len)
{
    size_t    i, end;
    uint32_t  x4, y4;
    uint64_t  x, y;

    if (len >= 8) {
        end = len - 8;

        for (i = 0; i < end; i += 8) {
            ngx_memcpy(&x, a + i, 8);
            ngx_memcpy(&y, b + i, 8);

            if (x != y) {
                return 0;
            }
        }

        ngx_memcpy(&x, a + end, 8);
        ngx_memcpy(&y, b + end, 8);

        return x == y;
    }

    if (len >= 4) {
        ngx_memcpy(&x4, a, 4);
        ngx_memcpy(&y4, b, 4);

        if (x4 != y4) {
            return 0;
        }

        ngx_memcpy(&x4, a + len - 4, 4);
        ngx_memcpy(&y4, b + len - 4, 4);

        return x4 == y4;
    }

    while (len) {
        len--;

        if (a[len] != b[len]) {
            return 0;
        }
    }

    return 1;
}


#endif /* _NGX_OC_TENANT_H_INCLUDED_ */
