
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_tenant.h"


/*
 * Families: an oc_instance with "tenant $var;" has one instance per value
 * of the variable.  Each tenant has the record a declared block has, in
 * the zone, in a tree with least-recently-used eviction; each worker has
 * its own copy of the block per tenant, in a tree bounded alike, so that
 * the resolver, the state table and the credential boundary work on a
 * tenant exactly as on a block.
 */


static ngx_int_t ngx_oc_tenant_expand(ngx_pool_t *pool, ngx_str_t *tpl,
    ngx_str_t *tenant, ngx_str_t *out);
static void ngx_oc_tenant_shrink(ngx_oc_family_t *fam);
static ngx_int_t ngx_oc_tenant_attach(ngx_oc_main_conf_t *omcf,
    ngx_oc_tenant_t *t);
static ngx_oc_tnode_t *ngx_oc_tenant_alloc_locked(ngx_oc_main_conf_t *omcf,
    ngx_oc_tshared_t *tsh, size_t len);
static ngx_uint_t ngx_oc_tenant_evict_locked(ngx_oc_main_conf_t *omcf,
    ngx_oc_tshared_t *tsh);


static ngx_uint_t  ngx_oc_tenant_zone_warned;


/* the zone's init: the family's tree lives off the block's record */

ngx_int_t
ngx_oc_tenant_init_zone(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_oc_tshared_t  *tsh;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    tsh = oi->rec->tenants;

    if (tsh == NULL) {
        tsh = ngx_slab_calloc_locked(omcf->shpool, sizeof(ngx_oc_tshared_t));

        if (tsh != NULL) {
            ngx_rbtree_init(&tsh->tree, &tsh->sentinel,
                            ngx_str_rbtree_insert_value);
            ngx_queue_init(&tsh->lru);
            oi->rec->tenants = tsh;
        }
    }

    if (tsh != NULL) {
        tsh->max = oi->family->max;
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    oi->family->sh = tsh;

    return tsh ? NGX_OK : NGX_ERROR;
}


/*
 * The record moved: it may have been evicted, and its memory be another
 * tenant's now; then the tenant takes a record again.  A record this
 * worker resolves is leased, and never evicted.  Only a record known to
 * be the tenant's has its time of use written.
 */

ngx_int_t
ngx_oc_tenant_recheck(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_oc_tenant_t  *t;

    t = (ngx_oc_tenant_t *) ((u_char *) oi - offsetof(ngx_oc_tenant_t, oi));

    if ((t->tnode == NULL || oi->rec->generation != oi->gen)
        && oi->resolver == NULL
        && ngx_oc_tenant_attach(omcf, t) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* written once a second at most: other workers read the line too */

    if (t->tnode->used != ngx_time()) {
        t->tnode->used = ngx_time();
    }

    return NGX_OK;
}


/* a new copy of the family's block for a tenant, in the worker's tree */

ngx_oc_tenant_t *
ngx_oc_tenant_new(ngx_oc_main_conf_t *omcf, ngx_oc_family_t *fam,
    ngx_str_t *value, uint32_t key)
{
    u_char              *p;
    ngx_str_t           *tag, *src;
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_oc_tenant_t     *t;
    ngx_oc_instance_t   *oi, *fi;

    ngx_oc_tenant_shrink(fam);

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    t = ngx_pcalloc(pool, sizeof(ngx_oc_tenant_t));
    if (t == NULL) {
        goto failed;
    }

    t->pool = pool;
    oi = &t->oi;
    fi = fam->oi;

    oi->tenant.data = ngx_pstrdup(pool, value);
    if (oi->tenant.data == NULL) {
        goto failed;
    }

    oi->tenant.len = value->len;

    /* log lines and status name the tenant as "block/tenant" */

    oi->block.len = fi->block.len + 1 + value->len;
    oi->block.data = ngx_pnalloc(pool, oi->block.len);
    if (oi->block.data == NULL) {
        goto failed;
    }

    p = ngx_cpymem(oi->block.data, fi->block.data, fi->block.len);
    *p++ = '/';
    ngx_memcpy(p, value->data, value->len);

    oi->element = fi->element;
    oi->auth = fi->auth;
    oi->config = fi->config;            /* read only at run time */
    oi->create = fi->create;
    oi->file = fi->file;
    oi->line = fi->line;
    oi->referrer = fi->referrer;
    oi->oauth_start = fi->oauth_start;
    oi->family = fam;

    if (ngx_oc_tenant_expand(pool, &fi->name, value, &oi->name) != NGX_OK
        || ngx_array_init(&oi->tags, pool, fi->tags.nelts, sizeof(ngx_str_t))
           != NGX_OK)
    {
        goto failed;
    }

    src = fi->tags.elts;

    for (i = 0; i < fi->tags.nelts; i++) {
        tag = ngx_array_push(&oi->tags);
        if (tag == NULL
            || ngx_oc_tenant_expand(pool, &src[i], value, tag) != NGX_OK)
        {
            goto failed;
        }
    }

    ngx_oc_shm_ident(oi);

    if (ngx_oc_instance_digest(omcf, oi, oi->digest) != NGX_OK) {
        goto failed;
    }

    ngx_queue_init(&oi->waiters);

    t->sn.str = oi->tenant;
    t->sn.node.key = key;

    ngx_rbtree_insert(&fam->tree, &t->sn.node);
    ngx_queue_insert_head(&fam->lru, &t->lru);
    fam->count++;

    return t;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


static ngx_int_t
ngx_oc_tenant_expand(ngx_pool_t *pool, ngx_str_t *tpl, ngx_str_t *tenant,
    ngx_str_t *out)
{
    u_char  *p, *q, *last;
    size_t   n, len;

    n = sizeof(NGX_OC_TENANT_VAR) - 1;
    last = tpl->data + tpl->len;
    len = 0;

    for (p = tpl->data; p < last; p++) {
        if (*p == '$' && (size_t) (last - p) >= n
            && ngx_strncmp(p, NGX_OC_TENANT_VAR, n) == 0)
        {
            len += tenant->len;
            p += n - 1;

        } else {
            len++;
        }
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    q = out->data;

    for (p = tpl->data; p < last; p++) {
        if (*p == '$' && (size_t) (last - p) >= n
            && ngx_strncmp(p, NGX_OC_TENANT_VAR, n) == 0)
        {
            q = ngx_cpymem(q, tenant->data, tenant->len);
            p += n - 1;

        } else {
            *q++ = *p;
        }
    }

    out->len = q - out->data;

    return NGX_OK;
}


/*
 * the worker keeps as many tenants as the zone: the least recently used
 * copy that nothing points at goes first
 */

static void
ngx_oc_tenant_shrink(ngx_oc_family_t *fam)
{
    ngx_uint_t        n;
    ngx_queue_t      *q, *prev;
    ngx_oc_tenant_t  *t;

    n = 0;

    for (q = ngx_queue_last(&fam->lru);
         fam->count >= fam->max && q != ngx_queue_sentinel(&fam->lru)
         && n++ < 16;
         q = prev)
    {
        prev = ngx_queue_prev(q);
        t = ngx_queue_data(q, ngx_oc_tenant_t, lru);

        if (t->refs || t->oi.resolver || !ngx_queue_empty(&t->oi.waiters)) {
            continue;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&fam->tree, &t->sn.node);
        fam->count--;

        if (ngx_oc_tenant_chosen.oi == &t->oi) {
            ngx_oc_tenant_chosen.request = NULL;
            ngx_oc_tenant_chosen.oi = NULL;
        }

        ngx_oc_shm_forget(&t->oi);
        ngx_destroy_pool(t->pool);
    }
}


/* finds or adds the tenant's record in the zone */

static ngx_int_t
ngx_oc_tenant_attach(ngx_oc_main_conf_t *omcf, ngx_oc_tenant_t *t)
{
    uint32_t           hash;
    ngx_str_t         *value;
    ngx_oc_tnode_t    *tn;
    ngx_oc_tshared_t  *tsh;

    tsh = t->oi.family->sh;
    tn = t->tnode;
    value = &t->oi.tenant;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    /* still ours: the record moved, as records do */

    if (tn != NULL && tn->epoch == t->epoch) {
        ngx_shmtx_unlock(&omcf->shpool->mutex);
        return NGX_OK;
    }

    hash = ngx_crc32_short(value->data, value->len);

    tn = (ngx_oc_tnode_t *) ngx_str_rbtree_lookup(&tsh->tree, value, hash);

    if (tn == NULL) {
        tn = ngx_oc_tenant_alloc_locked(omcf, tsh, value->len);

        if (tn == NULL) {
            ngx_shmtx_unlock(&omcf->shpool->mutex);
            (void) ngx_atomic_fetch_add(&tsh->full, 1);

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "oc_pass: no room in oc_zone for tenant of "
                          "\"%V\", every tenant is being resolved",
                          &t->oi.family->oi->block);
            return NGX_ERROR;
        }

        ngx_memcpy(tn->value, value->data, value->len);
        tn->sn.str.data = tn->value;
        tn->sn.str.len = value->len;
        tn->sn.node.key = hash;
        tn->epoch = ++tsh->epoch;

        /* generations of one node never meet those of another */
        tn->rec.generation = (ngx_atomic_uint_t) tn->epoch << 32;
        tn->rec.state = NGX_OC_ABSENT;
        tn->rec.block_len = 0;

        ngx_rbtree_insert(&tsh->tree, &tn->sn.node);
        tsh->count++;

    } else {
        ngx_queue_remove(&tn->lru);
    }

    ngx_queue_insert_head(&tsh->lru, &tn->lru);

    t->tnode = tn;
    t->epoch = tn->epoch;
    t->oi.rec = &tn->rec;
    t->oi.gen = 0;
    t->oi.state = NGX_OC_ABSENT;

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return NGX_OK;
}


static ngx_oc_tnode_t *
ngx_oc_tenant_alloc_locked(ngx_oc_main_conf_t *omcf, ngx_oc_tshared_t *tsh,
    size_t len)
{
    ngx_uint_t       i;
    ngx_oc_tnode_t  *tn;

    for (i = 0; i < 8; i++) {

        if (tsh->count < tsh->max) {

            /*
             * a zone too small for oc_tenants_max evicts as the bound
             * does: no "no memory" line per new tenant, one warning
             */

            omcf->shpool->log_nomem = 0;
            tn = ngx_slab_calloc_locked(omcf->shpool,
                                        offsetof(ngx_oc_tnode_t, value) + len);
            omcf->shpool->log_nomem = 1;

            if (tn != NULL) {
                return tn;
            }

            if (!ngx_oc_tenant_zone_warned) {
                ngx_oc_tenant_zone_warned = 1;
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "oc_zone is full at %ui tenants of %ui allowed "
                              "by oc_tenants_max: evicting; a tenant takes "
                              "one %uz-byte page of the zone",
                              tsh->count, tsh->max, ngx_pagesize);
            }
        }

        /* at oc_tenants_max, or the zone is full: make room */

        if (!ngx_oc_tenant_evict_locked(omcf, tsh)) {
            return NULL;
        }
    }

    return NULL;
}


/*
 * the least recently used of the oldest tenants that no worker is
 * resolving goes; it is looked up again when next seen
 */

static ngx_uint_t
ngx_oc_tenant_evict_locked(ngx_oc_main_conf_t *omcf, ngx_oc_tshared_t *tsh)
{
    uint64_t         now;
    ngx_uint_t       n;
    ngx_queue_t     *q;
    ngx_oc_tnode_t  *tn, *victim;

    now = ngx_oc_now_ms();
    victim = NULL;
    n = 0;

    for (q = ngx_queue_last(&tsh->lru);
         q != ngx_queue_sentinel(&tsh->lru) && n < 32;
         q = ngx_queue_prev(q))
    {
        tn = ngx_queue_data(q, ngx_oc_tnode_t, lru);

        if (tn->rec.lease_pid != 0 && now < tn->rec.lease_until) {
            continue;
        }

        n++;

        if (victim == NULL || tn->used < victim->used) {
            victim = tn;
        }
    }

    if (victim == NULL) {
        return 0;
    }

    ngx_rbtree_delete(&tsh->tree, &victim->sn.node);
    ngx_queue_remove(&victim->lru);
    tsh->count--;
    (void) ngx_atomic_fetch_add(&tsh->evicted, 1);

    /* a worker's copy sees the move, and that the node is no more */

    victim->rec.generation++;
    victim->epoch = 0;
    ngx_explicit_memzero(victim->rec.token, sizeof(victim->rec.token));
    victim->rec.token_len = 0;

    ngx_slab_free_locked(omcf->shpool, victim);

    return 1;
}


/* a request is done with its tenant's copy */

void
ngx_oc_tenant_unref(ngx_oc_instance_t *oi)
{
    ngx_oc_tenant_t  *t;

    t = (ngx_oc_tenant_t *) ((u_char *) oi - offsetof(ngx_oc_tenant_t, oi));

    if (t->refs) {
        t->refs--;
    }
}


/*
 * A tenant that is not connected: 409 Conflict, the state of the
 * customer's connection conflicts with the request, retrying does not
 * help until the customer connects (oc_connect); not 503.  An invalid
 * tenant value: 400.  No secret, no Retry-After.
 */

ngx_int_t
ngx_oc_tenant_refuse(ngx_http_request_t *r, ngx_oc_instance_t *oi,
    ngx_uint_t status)
{
    u_char           *p;
    size_t            len;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         block, error, reason, authorize, retry;
    ngx_table_elt_t  *h;

    ngx_str_null(&authorize);

    if (status == NGX_HTTP_BAD_REQUEST) {
        ngx_str_set(&error, "invalid tenant");
        ngx_str_set(&reason, "the tenant value must have 1 to 128 of "
                    "A-Z a-z 0-9 . _ : @ -");
        ngx_str_null(&block);

    } else if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {

        /* no room for the tenant now: others are being resolved */

        ngx_str_set(&error, "instance unavailable");
        ngx_str_set(&reason, "no room for the tenant now, retry later");
        ngx_str_null(&block);
        oi = NULL;

        ngx_str_set(&retry, "1");

        h = ngx_oc_push_header(&r->headers_out.headers, "Retry-After",
                               &retry);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_str_set(&error, "not connected");
        ngx_str_set(&reason, "this customer has not connected the "
                    "application yet");
        block = oi->family->oi->block;

        /* an oauth2 family's customer connects by consent: where */
        authorize = oi->oauth_start;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oc_pass: tenant \"%V\" of \"%V\" is not connected",
                      &oi->tenant, &block);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof("{\"error\":\"\",\"instance\":\"\",\"tenant\":\"\","
                 "\"element\":\"\",\"reason\":\"\"}\n") - 1
          + error.len + reason.len + block.len
          + ngx_escape_json(NULL, block.data, block.len);

    if (oi) {
        len += oi->tenant.len + oi->element.len
               + ngx_escape_json(NULL, oi->element.data, oi->element.len);
    }

    if (authorize.len) {
        len += sizeof(",\"authorize\":\"\"") - 1 + authorize.len
               + ngx_escape_json(NULL, authorize.data, authorize.len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"error\":\"%V\"", &error);

    if (oi) {
        p = ngx_cpymem(p, ",\"instance\":\"", sizeof(",\"instance\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, block.data, block.len);

        /* a valid tenant value needs no escaping */
        p = ngx_sprintf(p, "\",\"tenant\":\"%V\",\"element\":\"",
                        &oi->tenant);
        p = (u_char *) ngx_escape_json(p, oi->element.data, oi->element.len);
        *p++ = '"';
    }

    p = ngx_sprintf(p, ",\"reason\":\"%V\"", &reason);

    if (authorize.len) {
        p = ngx_cpymem(p, ",\"authorize\":\"",
                       sizeof(",\"authorize\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, authorize.data, authorize.len);
        *p++ = '"';
    }

    b->last = ngx_cpymem(p, "}\n", 2);
    return ngx_oc_send_json(r, status, b);
}


/*
 * the worker's tick: requests that wait on a tenant another worker
 * resolves are woken when its record moves
 */

void
ngx_oc_tenant_tick(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_uint_t *waiting)
{
    ngx_queue_t        *q;
    ngx_oc_tenant_t    *t;
    ngx_oc_instance_t  *ti;

    for (q = ngx_queue_head(&oi->family->lru);
         q != ngx_queue_sentinel(&oi->family->lru);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_oc_tenant_t, lru);
        ti = &t->oi;

        if (ngx_exiting && ti->resolver != NULL) {
            /* the old worker's lookup ends with it: another takes over */
            continue;
        }

        if (ngx_queue_empty(&ti->waiters)) {
            continue;
        }

        if (ti->rec->generation != ti->gen
            || (!ngx_exiting && !ngx_oc_shm_lease_held(omcf, ti)))
        {
            ngx_oc_wake_waiters(ti);
        }

        *waiting = 1;
    }
}


/* at worker exit: every header made holds a token */

void
ngx_oc_tenant_forget(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_queue_t      *q, *next;
    ngx_oc_tenant_t  *t;

    for (q = ngx_queue_head(&oi->family->lru);
         q != ngx_queue_sentinel(&oi->family->lru);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_oc_tenant_t, lru);
        ngx_oc_shm_forget(&t->oi);

        if (t->oi.resolver != NULL) {
            /* the workers that stay take the tenant over */
            (void) ngx_oc_resolve_abort(&t->oi);
            ngx_oc_shm_release(omcf, &t->oi);
        }

        /* the worker exits: its copy of the tenant goes with it */

        if (ngx_oc_tenant_chosen.oi == &t->oi) {
            ngx_oc_tenant_chosen.request = NULL;
            ngx_oc_tenant_chosen.oi = NULL;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&oi->family->tree, &t->sn.node);
        oi->family->count--;
        ngx_destroy_pool(t->pool);
    }
}


/* for oc_status, under the lock: the family's tenants by state, summed */

void
ngx_oc_tenant_count(ngx_oc_instance_t *oi, ngx_uint_t *states,
    ngx_oc_counters_t *sum, ngx_uint_t *count)
{
    ngx_uint_t         i, j;
    ngx_queue_t       *q;
    ngx_oc_tnode_t    *tn;
    ngx_oc_tshared_t  *tsh;

    tsh = oi->rec->tenants;

    if (tsh == NULL) {
        return;
    }

    *count = tsh->count;

    for (q = ngx_queue_head(&tsh->lru);
         q != ngx_queue_sentinel(&tsh->lru);
         q = ngx_queue_next(q))
    {
        tn = ngx_queue_data(q, ngx_oc_tnode_t, lru);

        states[tn->rec.state == NGX_OC_UNAUTHORIZED && tn->rec.none
               ? NGX_OC_DISABLED + 1 : tn->rec.state]++;

        sum->injected += tn->rec.counters.injected;
        sum->purges += tn->rec.counters.purges;

        for (i = 0; i < NGX_OC_REFUSED_N; i++) {
            sum->refused[i] += tn->rec.counters.refused[i];
        }

        for (i = 0; i < NGX_OC_RESOLVED_N; i++) {
            sum->resolutions[i] += tn->rec.counters.resolutions[i];
        }

        for (i = 0; i < NGX_OC_CALL_N; i++) {
            for (j = 0; j < NGX_OC_OUTCOME_N; j++) {
                sum->calls[i][j] += tn->rec.counters.calls[i][j];
            }
        }
    }
}


ngx_oc_shrec_t *
ngx_oc_tenant_find_locked(ngx_oc_instance_t *family, ngx_str_t *tenant)
{
    ngx_oc_tnode_t    *tn;
    ngx_oc_tshared_t  *tsh;

    tsh = family->rec->tenants;

    if (tsh == NULL) {
        return NULL;
    }

    tn = (ngx_oc_tnode_t *) ngx_str_rbtree_lookup(&tsh->tree, tenant,
                                 ngx_crc32_short(tenant->data, tenant->len));

    return tn ? &tn->rec : NULL;
}
