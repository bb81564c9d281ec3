/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_tenant.h"


/*
 * A request's tenant, in the worker: found by the value of the family's
 * variable in the worker's tree on every request of a family's location,
 * without an allocation when the worker has a copy; and found again by
 * the value later in the request, which holds no count on the copy
 * unless it has a ctx (see ngx_oc_tenant_pass() in ngx_oc_handler.c).
 */


/* the miss path stays out of the function every tenant request calls */

#if (__GNUC__)
#define ngx_oc_tenant_cold  __attribute__((noinline, cold))
#else
#define ngx_oc_tenant_cold
#endif


static ngx_inline ngx_oc_tenant_t *ngx_oc_tenant_touch(
    ngx_oc_main_conf_t *omcf, ngx_oc_family_t *fam, ngx_oc_tenant_t *t,
    ngx_int_t *status);
static ngx_oc_tenant_t *ngx_oc_tenant_miss(ngx_log_t *log,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *family, ngx_str_t *value,
    uint32_t hash, ngx_int_t *status) ngx_oc_tenant_cold;
static ngx_inline uint32_t ngx_oc_tenant_hash(u_char *p, size_t len);
static ngx_inline ngx_oc_tenant_t *ngx_oc_tenant_walk(ngx_oc_family_t *fam,
    ngx_str_t *value, uint32_t hash);
static ngx_inline ngx_uint_t ngx_oc_tenant_same(u_char *a, u_char *b,
    size_t len);
static ngx_oc_tenant_t *ngx_oc_tenant_lookup(ngx_oc_family_t *fam,
    ngx_str_t *value);
static ngx_int_t ngx_oc_tenant_valid(ngx_str_t *value);


ngx_oc_tenant_chosen_t  ngx_oc_tenant_chosen;


/*
 * The request's tenant: NULL with *status set when the value is invalid
 * (400) or no room is left (503).  Every request looks its tenant up in
 * the worker's tree, keyed by a cheap hash of the value; only values
 * that are valid get into the tree, so a value found there needs no
 * check.  The shared tree is visited only when the worker has no copy
 * yet or the tenant's record has moved.  Nothing is allocated for a
 * tenant the worker has a copy of.
 */

ngx_oc_tenant_t *
ngx_oc_tenant_get(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *family, ngx_int_t *status)
{
    uint32_t                    hash;
    ngx_str_t                   value;
    ngx_oc_family_t            *fam;
    ngx_oc_tenant_t            *t;
    ngx_http_variable_value_t  *vv;

    fam = family->family;

    vv = ngx_http_get_indexed_variable(r, fam->index);

    if (vv == NULL || vv->not_found) {
        value.len = 0;
        value.data = (u_char *) "";

    } else {
        value.len = vv->len;
        value.data = vv->data;
    }

    hash = ngx_oc_tenant_hash(value.data, value.len);

    t = ngx_oc_tenant_walk(fam, &value, hash);

    if (t == NULL) {
        return ngx_oc_tenant_miss(r->connection->log, omcf, family, &value,
                                  hash, status);
    }

    return ngx_oc_tenant_touch(omcf, fam, t, status);
}


/*
 * The tenant of a value the module itself vouches for, not a variable:
 * that of an OAuth2 state (ngx_oc_oauth_tenant.c)
 */

ngx_oc_tenant_t *
ngx_oc_tenant_get_value(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *family,
    ngx_str_t *value, ngx_int_t *status)
{
    uint32_t          hash;
    ngx_oc_tenant_t  *t;

    hash = ngx_oc_tenant_hash(value->data, value->len);

    t = ngx_oc_tenant_walk(family->family, value, hash);

    if (t == NULL) {
        return ngx_oc_tenant_miss(ngx_cycle->log, omcf, family, value, hash,
                                  status);
    }

    return ngx_oc_tenant_touch(omcf, family->family, t, status);
}


/* a copy found: the most recently used, checked against its record */

static ngx_inline ngx_oc_tenant_t *
ngx_oc_tenant_touch(ngx_oc_main_conf_t *omcf, ngx_oc_family_t *fam,
    ngx_oc_tenant_t *t, ngx_int_t *status)
{
    if (ngx_queue_head(&fam->lru) != &t->lru) {
        ngx_queue_remove(&t->lru);
        ngx_queue_insert_head(&fam->lru, &t->lru);
    }

    /* ngx_oc_tenant_recheck()'s common case: the record has not moved */

    if (t->tnode != NULL && t->oi.rec->generation == t->oi.gen) {
        if (t->tnode->used != ngx_time()) {
            t->tnode->used = ngx_time();
        }

        return t;
    }

    if (ngx_oc_tenant_recheck(omcf, &t->oi) != NGX_OK) {
        *status = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NULL;
    }

    return t;
}


/* a value the worker has no copy of: checked, then a new copy */

static ngx_oc_tenant_t *
ngx_oc_tenant_miss(ngx_log_t *log, ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *family, ngx_str_t *value, uint32_t hash,
    ngx_int_t *status)
{
    ngx_oc_family_t  *fam;
    ngx_oc_tenant_t  *t;

    fam = family->family;

    if (ngx_oc_tenant_valid(value) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "oc_pass: invalid tenant value of %V for \"%V\", "
                      "%uz bytes", &fam->var, &family->block, value->len);
        *status = NGX_HTTP_BAD_REQUEST;
        return NULL;
    }

    t = ngx_oc_tenant_new(omcf, fam, value, hash);
    if (t == NULL) {
        *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    if (ngx_oc_tenant_recheck(omcf, &t->oi) != NGX_OK) {
        *status = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NULL;
    }

    return t;
}


/*
 * The worker tree's key: 8 bytes of the value at a time, multiplied and
 * folded.  The shared tree keeps ngx_crc32_short(), which its records are
 * keyed by across reloads; this one lives and dies with the worker.
 * Values that collide cost a string compare each, never a wrong tenant:
 * the tree compares the values themselves on equal keys.
 */

static ngx_inline uint32_t
ngx_oc_tenant_hash(u_char *p, size_t len)
{
    uint64_t  h, w;

    h = (uint64_t) len * 0x9e3779b97f4a7c15ULL;

    while (len >= 8) {
        ngx_memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }

    w = 0;

    while (len) {
        w = (w << 8) | p[--len];
    }

    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;

    return (uint32_t) (h ^ (h >> 32));
}


/* ngx_str_rbtree_lookup(), inline: the hot path's one search */

static ngx_inline ngx_oc_tenant_t *
ngx_oc_tenant_walk(ngx_oc_family_t *fam, ngx_str_t *value, uint32_t hash)
{
    ngx_int_t           rc;
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

        rc = ngx_memcmp(value->data, n->str.data, value->len);

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* equal or not, 8 bytes at a time, without a call */

static ngx_inline ngx_uint_t
ngx_oc_tenant_same(u_char *a, u_char *b, size_t len)
{
    uint64_t  x, y;

    while (len >= 8) {
        ngx_memcpy(&x, a, 8);
        ngx_memcpy(&y, b, 8);

        if (x != y) {
            return 0;
        }

        a += 8;
        b += 8;
        len -= 8;
    }

    while (len) {
        len--;

        if (a[len] != b[len]) {
            return 0;
        }
    }

    return 1;
}


/*
 * A request that made its upstream request with no ctx holds no count on
 * its tenant's copy, which may go (ngx_oc_tenant_shrink()) once the
 * content handler has returned.  What needs the tenant later (a 401 or a
 * 403 of the upstream, a body still to read, $oc_instance_id) finds it
 * again by the request's value: the same value gives the same tenant,
 * and, if its copy went since, a new copy whose header is a new buffer.
 * The address of the old header, which the request's ctx slot keeps, is
 * only compared, never read.
 */

ngx_oc_instance_t *
ngx_oc_tenant_find(ngx_http_request_t *r, ngx_oc_instance_t *family)
{
    ngx_str_t                   value;
    ngx_oc_tenant_t            *t;
    ngx_oc_main_conf_t         *omcf;
    ngx_http_variable_value_t  *vv;

    if (ngx_oc_tenant_chosen.request == r
        && ngx_oc_tenant_chosen.oi->family == family->family)
    {
        return ngx_oc_tenant_chosen.oi;
    }

    vv = ngx_http_get_indexed_variable(r, family->family->index);

    if (vv == NULL || vv->not_found) {
        return NULL;
    }

    value.len = vv->len;
    value.data = vv->data;

    t = ngx_oc_tenant_lookup(family->family, &value);

    if (t == NULL) {
        return NULL;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (ngx_oc_tenant_recheck(omcf, &t->oi) != NGX_OK) {
        return NULL;
    }

    return &t->oi;
}


/* a request's ctx takes a count on its tenant's copy, held until it ends */

ngx_oc_instance_t *
ngx_oc_tenant_hold(ngx_http_request_t *r, ngx_oc_instance_t *family)
{
    ngx_oc_tenant_t    *t;
    ngx_oc_instance_t  *oi;

    oi = ngx_oc_tenant_find(r, family);

    if (oi != NULL) {
        t = (ngx_oc_tenant_t *) ((u_char *) oi
                                 - offsetof(ngx_oc_tenant_t, oi));
        t->refs++;
    }

    return oi;
}


/* the value of a content handler that did not follow its precontent one */

ngx_str_t *
ngx_oc_tenant_value(ngx_http_request_t *r, ngx_oc_instance_t *family)
{
    ngx_oc_instance_t   *oi;
    ngx_oc_main_conf_t  *omcf;

    oi = ngx_oc_tenant_find(r, family);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (oi == NULL || ngx_oc_shm_refresh(omcf, oi) != NGX_OC_READY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_pass: the tenant of \"%V\" is no longer ready",
                      &family->block);
        return NULL;
    }

    return &oi->header;
}


static ngx_oc_tenant_t *
ngx_oc_tenant_lookup(ngx_oc_family_t *fam, ngx_str_t *value)
{
    return ngx_oc_tenant_walk(fam, value,
                              ngx_oc_tenant_hash(value->data, value->len));
}


/* 1 to 128 bytes of [A-Za-z0-9._:@-] */

static ngx_int_t
ngx_oc_tenant_valid(ngx_str_t *value)
{
    u_char  c, *p, *last;

    if (value->len == 0 || value->len > NGX_OC_TENANT_MAX) {
        return NGX_ERROR;
    }

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == ':' || c == '@' || c == '-')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}
