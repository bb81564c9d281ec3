
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_shm.h"
#include "ngx_oc_events.h"
#include "ngx_oc_tenant.h"
#include <ngx_sha1.h>


/*
 * The zone: its records made or found when a configuration is loaded,
 * those of removed blocks freed once no worker uses them, and the worker
 * processes that use each record.
 */


/* how long after a configuration load older workers leave the record */
#define NGX_OC_RELOAD_GRACE     10000


static ngx_oc_shrec_t *ngx_oc_shm_record(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi);
static void ngx_oc_shm_reclaim(ngx_shm_zone_t *shm_zone,
    ngx_oc_main_conf_t *omcf);
static ngx_uint_t ngx_oc_shm_attached_pids(ngx_oc_main_conf_t *omcf,
    ngx_pid_t *pids);
static ngx_uint_t ngx_oc_shm_gone(ngx_pid_t *pids, ngx_uint_t n);
static ngx_uint_t ngx_oc_shm_detach_gone(ngx_oc_shrec_t *rec,
    ngx_pid_t *gone, ngx_uint_t n);


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


void
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
