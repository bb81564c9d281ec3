
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_events.h"
#include "ngx_oc_tenant.h"
#include <ngx_sha1.h>


#define NGX_OC_BACKOFF_MIN      1000
#define NGX_OC_BACKOFF_MAX      60000
#define NGX_OC_CHECK_PAUSE      10000

/* how long a create in doubt may take, in oc_api_timeout */
#define NGX_OC_VERIFY_FACTOR    5

/* unauthorized until a person consents again: no automatic retry */
#define NGX_OC_NEVER            ((uint64_t) 365 * 86400 * 1000)

/* how long after a configuration load older workers leave the record */
#define NGX_OC_RELOAD_GRACE     10000


/*
 * a worker's Authorization value, made when the token changes: it stays
 * until the worker exits, behind any newer one, since requests point at it
 */

typedef struct ngx_oc_header_buf_s  ngx_oc_header_buf_t;

struct ngx_oc_header_buf_s {
    ngx_oc_header_buf_t        *prev;
    size_t                      len;
    /* the value follows */
};


/* the slow path stays out of the function every request calls */

#if (__GNUC__)
#define ngx_oc_shm_cold  __attribute__((noinline, cold))
#else
#define ngx_oc_shm_cold
#endif


/* what a worker copies out of its record, under the lock */

typedef struct {
    ngx_atomic_uint_t           gen;
    ngx_uint_t                  state;
    int64_t                     id;
    uint64_t                    retry;
    size_t                      token_len;  /* 0: no token of ours */
    u_char                      token[NGX_OC_TOKEN_MAX];
} ngx_oc_shm_snap_t;


static ngx_oc_shrec_t *ngx_oc_shm_record(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi);
static void ngx_oc_shm_reclaim(ngx_shm_zone_t *shm_zone,
    ngx_oc_main_conf_t *omcf);
static ngx_uint_t ngx_oc_shm_attached_pids(ngx_oc_main_conf_t *omcf,
    ngx_pid_t *pids);
static ngx_uint_t ngx_oc_shm_gone(ngx_pid_t *pids, ngx_uint_t n);
static ngx_uint_t ngx_oc_shm_detach_gone(ngx_oc_shrec_t *rec,
    ngx_pid_t *gone, ngx_uint_t n);
static void ngx_oc_shm_ident(ngx_oc_instance_t *oi);
static ngx_uint_t ngx_oc_shm_due(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec,
    uint64_t now);
static ngx_uint_t ngx_oc_shm_moved(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi) ngx_oc_shm_cold;
static ngx_int_t ngx_oc_shm_copy(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_oc_shm_snap_t *snap);
static void ngx_oc_shm_publish(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec,
    ngx_oc_answer_t *a, uint64_t now);
static void ngx_oc_shm_failed(ngx_oc_shrec_t *rec, ngx_uint_t state,
    uint64_t delay, ngx_oc_answer_t *a, uint64_t now);
static ngx_uint_t ngx_oc_shm_upstream(ngx_oc_shrec_t *rec, ngx_uint_t to,
    ngx_atomic_uint_t gen, uint64_t now);
static ngx_uint_t ngx_oc_pid_alive(ngx_pid_t pid);


uint64_t
ngx_oc_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


size_t
ngx_oc_shm_size_needed(ngx_oc_main_conf_t *omcf)
{
    size_t  rec;

    /*
     * slab pool header and pages, the context, one page-sized slot each,
     * the event replay store
     */

    rec = ngx_align(sizeof(ngx_oc_shrec_t), ngx_pagesize);

    return 8 * ngx_pagesize + ngx_align(sizeof(ngx_oc_shctx_t), ngx_pagesize)
           + omcf->instances.nelts * rec + ngx_oc_events_size_needed(omcf);
}


ngx_int_t
ngx_oc_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_oc_main_conf_t  *oomcf = data;

    size_t               len;
    ngx_uint_t           i;
    ngx_oc_shctx_t      *sh;
    ngx_slab_pool_t     *shpool;
    ngx_oc_instance_t  **oip;
    ngx_oc_main_conf_t  *omcf;

    omcf = shm_zone->data;

    if (oomcf) {
        omcf->sh = oomcf->sh;
        omcf->shpool = oomcf->shpool;

    } else {
        shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
        omcf->shpool = shpool;

        if (shm_zone->shm.exists) {
            omcf->sh = shpool->data;

        } else {
            sh = ngx_slab_alloc(shpool, sizeof(ngx_oc_shctx_t));
            if (sh == NULL) {
                return NGX_ERROR;
            }

            ngx_queue_init(&sh->records);
            sh->events = NULL;

            shpool->data = sh;
            omcf->sh = sh;

            len = sizeof(" in oc_zone \"\"") + shm_zone->shm.name.len;

            shpool->log_ctx = ngx_slab_alloc(shpool, len);
            if (shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(shpool->log_ctx, " in oc_zone \"%V\"%Z",
                        &shm_zone->shm.name);
        }
    }

    ngx_oc_shm_reclaim(shm_zone, omcf);

    oip = omcf->instances.elts;

    for (i = 0; i < omcf->instances.nelts; i++) {
        ngx_oc_shm_ident(oip[i]);

        oip[i]->rec = ngx_oc_shm_record(omcf, oip[i]);

        if (oip[i]->rec == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "oc_zone \"%V\" is too small for %ui instances, "
                          "it needs at least %uz bytes",
                          &shm_zone->shm.name, omcf->instances.nelts,
                          ngx_oc_shm_size_needed(omcf));
            return NGX_ERROR;
        }

        ngx_queue_init(&oip[i]->waiters);

        if (oip[i]->family
            && ngx_oc_tenant_init_zone(omcf, oip[i]) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "oc_zone \"%V\" is too small for the tenants of "
                          "\"%V\"", &shm_zone->shm.name, &oip[i]->block);
            return NGX_ERROR;
        }
    }

    return ngx_oc_events_init_zone(shm_zone, omcf);
}


static ngx_oc_shrec_t *
ngx_oc_shm_record(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    u_char           platform[20];
    ngx_sha1_t       sha1;
    ngx_queue_t     *q;
    ngx_oc_shrec_t  *rec;

    if (oi->block.len > NGX_OC_NAME_MAX) {
        return NULL;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, omcf->api_url.data, omcf->api_url.len);
    ngx_sha1_update(&sha1, "", 1);
    ngx_sha1_update(&sha1, omcf->platform_auth.data, omcf->platform_auth.len);
    ngx_sha1_final(platform, &sha1);

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (q = ngx_queue_head(&omcf->sh->records);
         q != ngx_queue_sentinel(&omcf->sh->records);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_oc_shrec_t, queue);

        if (rec->block_len == oi->block.len
            && ngx_memcmp(rec->block, oi->block.data, oi->block.len) == 0)
        {
            /*
             * a reload that changed the declaration, the secrets or the
             * URL may have fixed what failed: the first request tries
             * again; an unchanged one keeps the back-off
             */

            if (rec->state != NGX_OC_READY
                && (ngx_memcmp(rec->newest, oi->digest, NGX_OC_DIGEST_LEN)
                    != 0
                    || ngx_memcmp(rec->platform, platform, sizeof(platform))
                       != 0))
            {
                rec->next_retry = 0;
                rec->failures = 0;
            }

            goto found;
        }
    }

    rec = ngx_slab_calloc_locked(omcf->shpool, sizeof(ngx_oc_shrec_t));
    if (rec == NULL) {
        goto done;
    }

    ngx_memcpy(rec->block, oi->block.data, oi->block.len);
    rec->block_len = oi->block.len;
    rec->state = NGX_OC_ABSENT;
    rec->generation = 1;

    ngx_queue_insert_tail(&omcf->sh->records, &rec->queue);

found:

    /*
     * the master loads a configuration: its declaration is the newest,
     * the workers of the one before must not reconcile back to theirs
     */

    ngx_memcpy(rec->newest, oi->digest, NGX_OC_DIGEST_LEN);
    ngx_memcpy(rec->platform, platform, sizeof(platform));
    rec->newest_until = ngx_oc_now_ms() + NGX_OC_RELOAD_GRACE;

done:

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return rec;
}


/*
 * On a reload: the records of blocks that the new configuration no longer
 * has are freed once no worker process uses them (old workers still
 * serving keep theirs); those still used are named, since they take room
 * that the new records may need.  A worker killed or crashed never says
 * it stopped: the pids of workers that are gone are dropped first.
 */

static void
ngx_oc_shm_reclaim(ngx_shm_zone_t *shm_zone, ngx_oc_main_conf_t *omcf)
{
    ngx_uint_t           i, n, found, users;
    ngx_pid_t            gone[NGX_OC_ATTACH_MAX];
    ngx_queue_t         *q, *next;
    ngx_oc_shrec_t      *rec;
    ngx_oc_instance_t  **oip;

    /*
     * kill(2) stays out of the lock: copy the pids under it, check them
     * without it, then drop those gone under it again; only this process
     * (the master) starts workers, so none of them can attach meanwhile
     */

    n = ngx_oc_shm_attached_pids(omcf, gone);
    n = ngx_oc_shm_gone(gone, n);

    oip = omcf->instances.elts;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (q = ngx_queue_head(&omcf->sh->records);
         q != ngx_queue_sentinel(&omcf->sh->records);
         q = next)
    {
        next = ngx_queue_next(q);
        rec = ngx_queue_data(q, ngx_oc_shrec_t, queue);

        users = ngx_oc_shm_detach_gone(rec, gone, n);

        found = 0;

        for (i = 0; i < omcf->instances.nelts; i++) {
            if (rec->block_len == oip[i]->block.len
                && ngx_memcmp(rec->block, oip[i]->block.data,
                              rec->block_len)
                   == 0)
            {
                found = 1;
                break;
            }
        }

        if (found) {
            continue;
        }

        if (users) {
            ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                          "oc_zone \"%V\": the record of the removed "
                          "oc_instance \"%*s\" stays while %ui old worker "
                          "processes use it",
                          &shm_zone->shm.name, rec->block_len, rec->block,
                          users);
            continue;
        }

        ngx_queue_remove(q);

        /* it held a token */

        ngx_explicit_memzero(rec, sizeof(ngx_oc_shrec_t));
        ngx_slab_free_locked(omcf->shpool, rec);
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/*
 * the distinct pids attached to any record, at most NGX_OC_ATTACH_MAX:
 * more are checked on a later reload
 */

static ngx_uint_t
ngx_oc_shm_attached_pids(ngx_oc_main_conf_t *omcf, ngx_pid_t *pids)
{
    ngx_uint_t       i, k, n;
    ngx_queue_t     *q;
    ngx_oc_shrec_t  *rec;

    n = 0;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (q = ngx_queue_head(&omcf->sh->records);
         q != ngx_queue_sentinel(&omcf->sh->records) && n < NGX_OC_ATTACH_MAX;
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_oc_shrec_t, queue);

        for (i = 0; i < NGX_OC_ATTACH_MAX && n < NGX_OC_ATTACH_MAX; i++) {
            if (rec->attached[i] == 0) {
                continue;
            }

            for (k = 0; k < n; k++) {
                if (pids[k] == rec->attached[i]) {
                    break;
                }
            }

            if (k == n) {
                pids[n++] = rec->attached[i];
            }
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return n;
}


/* keeps the pids of processes that no longer exist, unlocked */

static ngx_uint_t
ngx_oc_shm_gone(ngx_pid_t *pids, ngx_uint_t n)
{
    ngx_uint_t  i, k;

    k = 0;

    for (i = 0; i < n; i++) {
        if (!ngx_oc_pid_alive(pids[i])) {
            pids[k++] = pids[i];
        }
    }

    return k;
}


/* drops the gone pids from a record, locked; returns its users left */

static ngx_uint_t
ngx_oc_shm_detach_gone(ngx_oc_shrec_t *rec, ngx_pid_t *gone, ngx_uint_t n)
{
    ngx_uint_t  i, k, users;

    users = rec->attached_over;

    for (i = 0; i < NGX_OC_ATTACH_MAX; i++) {
        if (rec->attached[i] == 0) {
            continue;
        }

        for (k = 0; k < n; k++) {
            if (rec->attached[i] == gone[k]) {
                rec->attached[i] = 0;
                break;
            }
        }

        if (k == n) {
            users++;
        }
    }

    return users;
}


/*
 * a worker process starts (1) or stops (-1) using its records; one that
 * does not fit in a record's table is only counted, and stays counted if
 * it is killed
 */

void
ngx_oc_shm_attach(ngx_oc_main_conf_t *omcf, ngx_int_t n)
{
    ngx_uint_t           i, k;
    ngx_pid_t            pid, *slot;
    ngx_oc_shrec_t      *rec;
    ngx_oc_instance_t  **oip;

    oip = omcf->instances.elts;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < omcf->instances.nelts; i++) {
        rec = oip[i]->rec;
        slot = NULL;

        /* attach: find a free slot; detach: find our own */

        pid = (n > 0) ? 0 : ngx_pid;

        for (k = 0; k < NGX_OC_ATTACH_MAX; k++) {
            if (rec->attached[k] == pid) {
                slot = &rec->attached[k];
                break;
            }
        }

        if (slot) {
            *slot = (n > 0) ? ngx_pid : 0;

        } else if (n > 0) {
            rec->attached_over++;

        } else if (rec->attached_over) {
            rec->attached_over--;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


static void
ngx_oc_shm_ident(ngx_oc_instance_t *oi)
{
    u_char      hash[20];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, oi->element.data, oi->element.len);
    ngx_sha1_update(&sha1, "", 1);
    ngx_sha1_update(&sha1, oi->name.data, oi->name.len);
    ngx_sha1_final(hash, &sha1);

    ngx_hex_dump(oi->ident, hash, sizeof(hash));
}


/* the hot path: one compare unless the record has moved */

ngx_uint_t
ngx_oc_shm_refresh(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    if (oi->rec->generation == oi->gen) {
        return oi->state;
    }

    return ngx_oc_shm_moved(omcf, oi);
}


/* copied out under the lock; the header is made after it */

static ngx_uint_t
ngx_oc_shm_moved(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_oc_shrec_t       *rec;
    ngx_oc_shm_snap_t     snap;

    rec = oi->rec;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    snap.gen = rec->generation;
    snap.state = rec->state;
    snap.id = rec->id;
    snap.retry = rec->next_retry;
    snap.token_len = 0;

    if (rec->state == NGX_OC_READY
        && ngx_memcmp(rec->ident, oi->ident, NGX_OC_DIGEST_LEN) == 0)
    {
        snap.token_len = rec->token_len;
        ngx_memcpy(snap.token, rec->token, rec->token_len);
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    if (ngx_oc_shm_copy(omcf, oi, &snap) != NGX_OK) {
        /* no header: the next request copies again, none waits on it */
        oi->gen = 0;
        oi->state = NGX_OC_ABSENT;

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "oc_instance \"%V\": no memory for the token copy",
                      &oi->block);
    }

    ngx_explicit_memzero(snap.token, snap.token_len);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc shm \"%V\": generation %uA, state %ui, instance %L",
                   &oi->block, oi->gen, oi->state, oi->id);

    return oi->state;
}


static ngx_int_t
ngx_oc_shm_copy(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_oc_shm_snap_t *snap)
{
    u_char               *p;
    size_t                len;
    ngx_oc_header_buf_t  *b;

    oi->gen = snap->gen;
    oi->state = snap->state;
    oi->id = snap->id;
    oi->retry = snap->retry;

    if (snap->state != NGX_OC_READY) {
        return NGX_OK;
    }

    if (snap->token_len == 0) {
        /* the token belongs to another element or name: not ours */
        oi->state = NGX_OC_ABSENT;
        return NGX_OK;
    }

    len = omcf->platform_auth.len + sizeof(", Element ") - 1
          + snap->token_len;

    if (oi->header.len != len
        || ngx_memcmp(oi->header.data + len - snap->token_len, snap->token,
                      snap->token_len)
           != 0)
    {
        /*
         * requests point at the value instead of copying it: a value once
         * used is never changed or freed, a new token gets a new buffer,
         * kept until the worker exits (the size of one header per token
         * change: a few hundred bytes).  A request reads the value long
         * after the precontent phase chose it (create_request runs once
         * the body is read, and again for each next upstream), and the
         * 401 handling compares its address with the current one, so a
         * freed address that a new token reused would make an old
         * request's value look current.  Freeing needs a count per
         * request, dropped in a pool cleanup: one more allocation on a
         * path that allocates nothing now and is 74 instructions under
         * its budget of +300 over proxy_pass (docs/performance.md); not
         * measured yet, so the buffers stay for now (issue 15, item 5).
         */

        b = ngx_alloc(sizeof(ngx_oc_header_buf_t) + len, ngx_cycle->log);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->prev = oi->header.data ? (ngx_oc_header_buf_t *) oi->header.data - 1
                                  : NULL;
        b->len = len;

        p = (u_char *) (b + 1);
        oi->header.data = p;

        p = ngx_cpymem(p, omcf->platform_auth.data, omcf->platform_auth.len);
        p = ngx_cpymem(p, ", Element ", sizeof(", Element ") - 1);
        p = ngx_cpymem(p, snap->token, snap->token_len);

        oi->header.len = p - oi->header.data;
    }

    if (oi->id_text.data == NULL) {
        oi->id_text.data = ngx_alloc(NGX_INT64_LEN, ngx_cycle->log);
        if (oi->id_text.data == NULL) {
            return NGX_ERROR;
        }
    }

    oi->id_text.len = ngx_sprintf(oi->id_text.data, "%L", oi->id)
                      - oi->id_text.data;

    return NGX_OK;
}


static ngx_uint_t
ngx_oc_shm_due(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec, uint64_t now)
{
    /*
     * on a reload, old workers run on for a moment next to the new ones:
     * the newest declaration owns the record then; the grace is bounded,
     * as a reload may still fail after the zone was initialized
     */

    if (ngx_memcmp(rec->newest, oi->digest, NGX_OC_DIGEST_LEN) != 0
        && now < rec->newest_until)
    {
        return 0;
    }

    switch (rec->state) {

    case NGX_OC_ABSENT:
    case NGX_OC_STALE:
        return 1;

    case NGX_OC_READY:
        if (rec->check) {
            return 1;
        }

        if (rec->verify_after && now >= rec->verify_after) {
            return 1;
        }

        if (ngx_memcmp(rec->ident, oi->ident, NGX_OC_DIGEST_LEN) == 0
            && ngx_memcmp(rec->digest, oi->digest, NGX_OC_DIGEST_LEN) == 0)
        {
            return 0;
        }

        return now >= rec->next_retry;

    default:
        return now >= rec->next_retry;
    }
}


/*
 * single flight: NGX_OK when this worker now holds the lease and must
 * resolve, NGX_BUSY when a live resolver holds it, NGX_DECLINED when
 * nothing is due
 */

ngx_int_t
ngx_oc_shm_try_lease(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_uint_t force)
{
    uint64_t         now;
    ngx_int_t        rc;
    ngx_pid_t        holder, dead;
    ngx_oc_shrec_t  *rec;

    rec = oi->rec;
    now = ngx_oc_now_ms();
    dead = 0;

    /* whether a holder lives is asked with kill(), never under the lock */

    for ( ;; ) {
        ngx_shmtx_lock(&omcf->shpool->mutex);

        holder = rec->lease_pid;

        if (holder == 0 || holder == dead
            || (holder == ngx_pid && oi->resolver == NULL)
            || now >= rec->lease_until)
        {
            break;
        }

        ngx_shmtx_unlock(&omcf->shpool->mutex);

        if (holder == ngx_pid || ngx_oc_pid_alive(holder)) {
            return NGX_BUSY;
        }

        dead = holder;
    }

    if (!force && !ngx_oc_shm_due(oi, rec, now)) {
        if (rec->lease_pid != 0) {
            /* a resolver died after publishing, or its lease ran out */
            rec->lease_pid = 0;
        }

        rc = NGX_DECLINED;
        holder = 0;
        goto done;
    }

    rec->lease_pid = ngx_pid;
    rec->lease_until = now + 2 * omcf->api_timeout + 1000;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    if (rc == NGX_OK && holder != 0 && holder != ngx_pid) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "oc_instance \"%V\": taking over the resolution "
                      "from process %P", &oi->block, holder);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc shm \"%V\": lease %s", &oi->block,
                   rc == NGX_OK ? "taken" : "not due");

    return rc;
}


void
ngx_oc_shm_renew_lease(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_msec_t extra)
{
    ngx_oc_shrec_t  *rec;

    rec = oi->rec;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    if (rec->lease_pid == ngx_pid) {
        rec->lease_until = ngx_oc_now_ms() + 2 * omcf->api_timeout + 1000
                           + extra;
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


ngx_uint_t
ngx_oc_shm_lease_held(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    uint64_t         until;
    ngx_pid_t        pid;
    ngx_oc_shrec_t  *rec;

    rec = oi->rec;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    pid = rec->lease_pid;
    until = rec->lease_until;

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return pid != 0 && ngx_oc_now_ms() < until && ngx_oc_pid_alive(pid);
}


/*
 * The one place where an instance's state changes: what each kind of
 * call may conclude from each kind of answer.  A 401 or 403 means
 * "unauthorized" or "disabled" only where the call proves it: the
 * platform secrets are rejected by a list, a get or a create; an
 * instance is disabled when Open Connectors says so in the instance.
 * A reconcile PATCH never takes a working token away.
 */

typedef enum {
    NGX_OC_TO_IGNORE = 0,
    NGX_OC_TO_READY,            /* publish the token */
    NGX_OC_TO_KEEP,             /* keep (or publish) the token, try later */
    NGX_OC_TO_FAILED,           /* back-off */
    NGX_OC_TO_UNAUTHORIZED,     /* the secrets: back-off */
    NGX_OC_TO_NO_CONSENT,       /* no oauth2 instance yet: look now and then */
    NGX_OC_TO_CONSENT,          /* until a person consents again */
    NGX_OC_TO_DISABLED,         /* look now and then */
    NGX_OC_TO_STALE,            /* the upstream refused the token */
    NGX_OC_TO_CHECK             /* the upstream forbade: ask */
} ngx_oc_to_e;


#define I  NGX_OC_TO_IGNORE
#define R  NGX_OC_TO_READY
#define K  NGX_OC_TO_KEEP
#define F  NGX_OC_TO_FAILED
#define U  NGX_OC_TO_UNAUTHORIZED
#define N  NGX_OC_TO_NO_CONSENT
#define C  NGX_OC_TO_CONSENT
#define D  NGX_OC_TO_DISABLED

static const u_char  ngx_oc_transitions[NGX_OC_CALL_KINDS][NGX_OC_ANSWER_N] = {

    /*                 token  401  403  disabled  error  none  revoked */

    /* list */        { R,    U,   F,   D,        F,     N,    F },
    /* get */         { R,    U,   F,   D,        F,     F,    C },
    /* create */      { R,    U,   F,   D,        F,     F,    F },
    /* update */      { R,    K,   K,   D,        K,     K,    K },
    /* delete */      { I,    I,   I,   I,        I,     I,    I },
    /* oauth */       { I,    I,   I,   I,        I,     I,    I },
    /* reauthorize */ { R,    C,   C,   C,        C,     C,    C },
    /* verdict */     { R,    U,   F,   D,        F,     N,    C },
    /* upstream */    { I,    NGX_OC_TO_STALE, NGX_OC_TO_CHECK,
                            I,        I,     I,    I }
};

#undef I
#undef R
#undef K
#undef F
#undef U
#undef N
#undef C
#undef D


/*
 * NGX_OC_CALL_UPSTREAM: 1 when this answer moved the record (the first
 * 401 or 403 with the current token); otherwise the record's new state
 */

ngx_uint_t
ngx_oc_shm_transition(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_oc_answer_t *a)
{
    uint64_t         now, delay;
    ngx_uint_t       to, state;
    ngx_oc_shrec_t  *rec;

    rec = oi->rec;
    to = ngx_oc_transitions[a->call][a->answer];
    now = ngx_oc_now_ms();
    delay = 0;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    switch (to) {

    case NGX_OC_TO_IGNORE:
        state = rec->state;
        goto done;

    case NGX_OC_TO_STALE:
    case NGX_OC_TO_CHECK:
        state = ngx_oc_shm_upstream(rec, to, a->gen, now);
        goto done;

    case NGX_OC_TO_READY:
        ngx_oc_shm_publish(oi, rec, a, now);
        goto moved;

    case NGX_OC_TO_KEEP:
        if (a->token != NULL) {
            ngx_oc_shm_publish(oi, rec, a, now);
        }

        state = (rec->state == NGX_OC_READY) ? NGX_OC_READY : NGX_OC_FAILED;
        break;

    case NGX_OC_TO_FAILED:
        state = NGX_OC_FAILED;
        break;

    case NGX_OC_TO_UNAUTHORIZED:
        state = NGX_OC_UNAUTHORIZED;
        break;

    case NGX_OC_TO_NO_CONSENT:
        state = NGX_OC_UNAUTHORIZED;
        delay = omcf->recheck_interval;
        break;

    case NGX_OC_TO_CONSENT:
        state = NGX_OC_UNAUTHORIZED;
        delay = NGX_OC_NEVER;
        break;

    default: /* NGX_OC_TO_DISABLED */
        state = NGX_OC_DISABLED;
        delay = omcf->recheck_interval;
        break;
    }

    if (a->delay) {
        delay = a->delay;
    }

    ngx_oc_shm_failed(rec, state, delay, a, now);

moved:

    /* a create in doubt: a later full lookup deletes what it made */

    if (a->doubt) {
        rec->verify_after = ngx_max(rec->verify_after,
                                    now + NGX_OC_VERIFY_FACTOR
                                          * omcf->api_timeout);

    } else if (a->listed && rec->state == NGX_OC_READY
               && now >= rec->verify_after)
    {
        rec->verify_after = 0;
    }

    if (rec->lease_pid == ngx_pid) {
        rec->lease_pid = 0;
    }

    rec->generation++;
    state = rec->state;

done:

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc shm \"%V\": call %d answer %d, state %ui",
                   &oi->block, (int) a->call, (int) a->answer, state);

    return state;
}


static void
ngx_oc_shm_publish(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec,
    ngx_oc_answer_t *a, uint64_t now)
{
    ngx_str_t  *token;

    token = a->token;

    if (rec->token_len != token->len
        || ngx_memcmp(rec->token, token->data, token->len) != 0)
    {
        rec->token_time = ngx_time();

    } else if (rec->state == NGX_OC_STALE) {
        /* Open Connectors still stands by the token: the 401s are not ours */
        rec->stale_after = now + NGX_OC_CHECK_PAUSE;
    }

    ngx_memcpy(rec->token, token->data, token->len);
    rec->token_len = token->len;
    rec->id = a->id;

    ngx_memcpy(rec->ident, oi->ident, NGX_OC_DIGEST_LEN);

    if (a->digest) {
        ngx_memcpy(rec->digest, a->digest, NGX_OC_DIGEST_LEN);
    }

    if (rec->check) {
        rec->check = 0;
        rec->check_after = now + NGX_OC_CHECK_PAUSE;
    }

    rec->state = NGX_OC_READY;
    rec->none = 0;
    rec->failures = 0;
    rec->next_retry = 0;
    rec->error_len = 0;
    rec->request_id_len = 0;
}


/*
 * a failed resolution: the next try after "delay" ms, or after an
 * exponential back-off with jitter when it is 0
 */

static void
ngx_oc_shm_failed(ngx_oc_shrec_t *rec, ngx_uint_t state, uint64_t delay,
    ngx_oc_answer_t *a, uint64_t now)
{
    ngx_str_t  *error, *request_id;

    rec->state = state;
    rec->check = 0;

    /* a tenant's lookup found none: not connected, not unauthorized */
    rec->none = (a->answer == NGX_OC_ANSWER_NONE);

    if (delay == 0) {
        delay = (uint64_t) NGX_OC_BACKOFF_MIN << ngx_min(rec->failures, 6);
        delay = ngx_min(delay, NGX_OC_BACKOFF_MAX);
        delay = delay * 3 / 4 + (uint64_t) ngx_random() % (delay / 2 + 1);
    }

    /*
     * a tenant found not connected is asked again after its ttl: that is
     * an answer, not a failure, and must not lengthen the back-off of a
     * failure that comes later
     */

    rec->failures = (rec->none && a->delay) ? 0 : rec->failures + 1;
    rec->next_retry = now + delay;

    error = a->error;
    request_id = a->request_id;

    rec->error_time = ngx_time();
    rec->error_len = error ? ngx_min(error->len, NGX_OC_ERROR_MAX) : 0;

    if (rec->error_len) {
        ngx_memcpy(rec->error, error->data, rec->error_len);
    }

    rec->request_id_len = 0;

    if (request_id && request_id->len) {
        rec->request_id_len = ngx_min(request_id->len, NGX_OC_REQID_MAX);
        ngx_memcpy(rec->request_id, request_id->data, rec->request_id_len);
    }
}


/*
 * an upstream 401 with the token of generation "gen": it is stale; a 403:
 * ask Open Connectors whether the instance is disabled
 */

static ngx_uint_t
ngx_oc_shm_upstream(ngx_oc_shrec_t *rec, ngx_uint_t to,
    ngx_atomic_uint_t gen, uint64_t now)
{
    if (rec->generation != gen || rec->state != NGX_OC_READY) {
        return 0;
    }

    if (to == NGX_OC_TO_STALE) {
        if (now < rec->stale_after) {
            return 0;
        }

        rec->state = NGX_OC_STALE;
        rec->generation++;
        (void) ngx_atomic_fetch_add(&rec->counters.purges, 1);

        return 1;
    }

    if (rec->check || now < rec->check_after) {
        return 0;
    }

    rec->check = 1;

    return 1;
}


void
ngx_oc_shm_release(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    ngx_oc_shrec_t  *rec;

    rec = oi->rec;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    if (rec->lease_pid == ngx_pid) {
        rec->lease_pid = 0;
        rec->generation++;
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/* at worker exit: every Authorization value made holds the secrets */

void
ngx_oc_shm_forget(ngx_oc_instance_t *oi)
{
    ngx_oc_header_buf_t  *b, *prev;

    b = oi->header.data ? (ngx_oc_header_buf_t *) oi->header.data - 1 : NULL;

    while (b) {
        prev = b->prev;
        ngx_explicit_memzero(b + 1, b->len);
        ngx_free(b);
        b = prev;
    }

    ngx_str_null(&oi->header);

    if (oi->id_text.data) {
        ngx_free(oi->id_text.data);
        ngx_str_null(&oi->id_text);
    }
}


/* the error text of the record, copied out for a log line or a response */

void
ngx_oc_shm_error(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_pool_t *pool, ngx_str_t *error, ngx_str_t *request_id)
{
    size_t           elen, rlen;
    ngx_oc_shrec_t  *rec;
    u_char           ebuf[NGX_OC_ERROR_MAX], rbuf[NGX_OC_REQID_MAX];

    rec = oi->rec;

    ngx_str_null(error);
    ngx_str_null(request_id);

    /* copied out under the lock, allocated after it */

    ngx_shmtx_lock(&omcf->shpool->mutex);

    elen = rec->error_len;
    rlen = rec->request_id_len;
    ngx_memcpy(ebuf, rec->error, elen);
    ngx_memcpy(rbuf, rec->request_id, rlen);

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    error->data = ngx_pnalloc(pool, elen + rlen);

    if (error->data != NULL) {
        error->len = elen;
        ngx_memcpy(error->data, ebuf, elen);

        request_id->len = rlen;
        request_id->data = error->data + elen;
        ngx_memcpy(request_id->data, rbuf, rlen);
    }
}


/* an OAuth2 state: kept a while, the oldest gives way when all are used */

void
ngx_oc_shm_state_add(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    u_char *state)
{
    uint64_t               now;
    ngx_uint_t             i;
    ngx_oc_oauth_state_t  *st, *slot;

    st = oi->rec->oauth;
    now = ngx_oc_now_ms();

    ngx_shmtx_lock(&omcf->shpool->mutex);

    slot = &st[0];

    for (i = 0; i < NGX_OC_OAUTH_STATES; i++) {
        if (st[i].expires <= now) {
            slot = &st[i];
            break;
        }

        if (st[i].expires < slot->expires) {
            slot = &st[i];
        }
    }

    ngx_memcpy(slot->state, state, NGX_OC_OAUTH_STATE_LEN);
    slot->expires = now + omcf->oauth_state_timeout;

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/* NGX_OK once for a state that was issued and has not expired */

ngx_int_t
ngx_oc_shm_state_take(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_str_t *state)
{
    u_char                 diff;
    uint64_t               now;
    ngx_int_t              rc;
    ngx_uint_t             i, j;
    ngx_oc_oauth_state_t  *st;

    if (state->len != NGX_OC_OAUTH_STATE_LEN) {
        return NGX_DECLINED;
    }

    st = oi->rec->oauth;
    now = ngx_oc_now_ms();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < NGX_OC_OAUTH_STATES; i++) {
        if (st[i].expires <= now) {
            continue;
        }

        /* in constant time: a state is a secret */

        diff = 0;

        for (j = 0; j < NGX_OC_OAUTH_STATE_LEN; j++) {
            diff |= st[i].state[j] ^ state->data[j];
        }

        if (diff == 0) {
            st[i].expires = 0;
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return rc;
}


static ngx_uint_t
ngx_oc_pid_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}
