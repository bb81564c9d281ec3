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


static ngx_inline ngx_oc_tenant_t *ngx_oc_tenant_check(
    ngx_oc_main_conf_t *omcf, ngx_oc_family_t *fam, ngx_oc_tenant_t *t,
    ngx_int_t *status);
static void ngx_oc_tenant_touch(ngx_oc_family_t *fam, ngx_oc_tenant_t *t);
static ngx_oc_tenant_t *ngx_oc_tenant_miss(ngx_log_t *log,
    ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *family, ngx_str_t *value,
    uint32_t hash, ngx_int_t *status) ngx_oc_tenant_cold;
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

    return ngx_oc_tenant_check(omcf, fam, t, status);
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

    return ngx_oc_tenant_check(omcf, family->family, t, status);
}


/* a copy found: the most recently used, checked against its record */

static ngx_inline ngx_oc_tenant_t *
ngx_oc_tenant_check(ngx_oc_main_conf_t *omcf, ngx_oc_family_t *fam,
    ngx_oc_tenant_t *t, ngx_int_t *status)
{
    if (t->used != ngx_time()) {
        ngx_oc_tenant_touch(fam, t);
    }

    /* ngx_oc_tenant_recheck()'s common case: the record has not moved */

    if (t->tnode != NULL && t->oi.rec->generation == t->oi.gen) {
        return t;
    }

    if (ngx_oc_tenant_recheck(omcf, &t->oi) != NGX_OK) {
        *status = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NULL;
    }

    return t;
}


/*
 * A copy's order of use in the worker, and its record's time of use,
 * are written once a second at most: a tenant that many requests use
 * does not move in the list on each, and other workers read the record's
 * line too.  The eviction of copies and of records needs no finer order.
 */

static void
ngx_oc_tenant_touch(ngx_oc_family_t *fam, ngx_oc_tenant_t *t)
{
    t->used = ngx_time();

    if (ngx_queue_head(&fam->lru) != &t->lru) {
        ngx_queue_remove(&t->lru);
        ngx_queue_insert_head(&fam->lru, &t->lru);
    }

    /* a record that moved may be another tenant's now: not written */

    if (t->tnode != NULL
        && t->oi.rec->generation == t->oi.gen
        && t->tnode->used != t->used)
    {
        t->tnode->used = t->used;
    }
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
