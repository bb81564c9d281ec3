
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_shm.h"


/*
 * A worker's Authorization value: made when the token changes, freed once
 * nothing uses it.  The instance holds its current value.  A request holds
 * the value it was given only on the paths that keep it across events (it
 * waited or is replayed, or its upstream request is made once the body is
 * read): those have a ctx and its pool cleanup anyway, which lets go of
 * it (ngx_oc_handler.c).  The fast path holds nothing and allocates
 * nothing: it reads the current value within one call, and keeps only
 * the value's id, a number this worker never gives again, to tell later
 * whether its upstream's 401 answered the current token (a freed value's
 * address may come back for a new one, an id never does).  So a worker
 * keeps one value per instance, and one per request still using an older
 * one, not one per token change until it exits.  A copy per request
 * instead would put a pool allocation and a copy of the value on the fast
 * path, within a few instructions of its budget over proxy_pass; the count
 * costs the fast path nothing (bench/run, docs/performance.md).
 */

struct ngx_oc_value_s {
    ngx_queue_t                 queue;      /* in ngx_oc_values */
    ngx_uint_t                  refs;       /* the instance, requests */
    size_t                      len;
    /* the value follows */
};


#define ngx_oc_value(data)  ((ngx_oc_value_t *) (data) - 1)


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


static ngx_uint_t ngx_oc_shm_due(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec,
    uint64_t now);
static ngx_uint_t ngx_oc_shm_moved(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi) ngx_oc_shm_cold;
static ngx_int_t ngx_oc_shm_copy(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_oc_shm_snap_t *snap);
static ngx_int_t ngx_oc_shm_value(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_oc_shm_snap_t *snap, size_t len);


/* this worker's values, how many, and the last id given */

static ngx_queue_t  ngx_oc_values;
static ngx_uint_t   ngx_oc_values_n;
static uintptr_t    ngx_oc_value_id;


uint64_t
ngx_oc_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
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
    size_t  len;

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
        if (ngx_oc_shm_value(omcf, oi, snap, len) != NGX_OK) {
            return NGX_ERROR;
        }
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


/* a new token's value replaces the instance's; the old one goes once unused */

static ngx_int_t
ngx_oc_shm_value(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_oc_shm_snap_t *snap, size_t len)
{
    u_char          *p;
    ngx_oc_value_t  *v, *old;

    v = ngx_alloc(sizeof(ngx_oc_value_t) + len, ngx_cycle->log);
    if (v == NULL) {
        return NGX_ERROR;
    }

    if (ngx_oc_values.next == NULL) {
        ngx_queue_init(&ngx_oc_values);
    }

    ngx_queue_insert_tail(&ngx_oc_values, &v->queue);
    ngx_oc_values_n++;

    v->refs = 1;
    v->len = len;

    p = (u_char *) (v + 1);
    p = ngx_cpymem(p, omcf->platform_auth.data, omcf->platform_auth.len);
    p = ngx_cpymem(p, ", Element ", sizeof(", Element ") - 1);
    (void) ngx_cpymem(p, snap->token, snap->token_len);

    old = oi->header.data ? ngx_oc_value(oi->header.data) : NULL;

    oi->header.data = (u_char *) (v + 1);
    oi->header.len = len;
    oi->header_id = ++ngx_oc_value_id;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc value \"%V\": new, %ui live in this worker",
                   &oi->block, ngx_oc_values_n);

    ngx_oc_shm_unhold(old);

    return NGX_OK;
}


/* a request keeps the instance's current value across events */

ngx_oc_value_t *
ngx_oc_shm_hold(ngx_oc_instance_t *oi)
{
    ngx_oc_value_t  *v;

    if (oi->header.data == NULL) {
        return NULL;
    }

    v = ngx_oc_value(oi->header.data);
    v->refs++;

    return v;
}


void
ngx_oc_shm_unhold(ngx_oc_value_t *v)
{
    if (v == NULL || --v->refs) {
        return;
    }

    ngx_queue_remove(&v->queue);
    ngx_oc_values_n--;

    /* it held the secrets */

    ngx_explicit_memzero(v + 1, v->len);
    ngx_free(v);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "oc value: freed, %ui live in this worker",
                   ngx_oc_values_n);
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


/*
 * the instance lets go of its value: at worker exit, or a tenant's copy
 * that no request uses; a value that a request still holds goes with it
 */

void
ngx_oc_shm_forget(ngx_oc_instance_t *oi)
{
    if (oi->header.data) {
        ngx_oc_shm_unhold(ngx_oc_value(oi->header.data));
        ngx_str_null(&oi->header);
        oi->header_id = 0;
    }

    if (oi->id_text.data) {
        ngx_free(oi->id_text.data);
        ngx_str_null(&oi->id_text);
    }
}


/*
 * at worker exit, after ngx_oc_shm_forget(): the values of requests that
 * will not end, since the worker exits before them; each holds the secrets
 */

void
ngx_oc_shm_forget_all(void)
{
    ngx_queue_t     *q;
    ngx_oc_value_t  *v;

    if (ngx_oc_values.next == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_oc_values)) {
        q = ngx_queue_head(&ngx_oc_values);
        v = ngx_queue_data(q, ngx_oc_value_t, queue);

        v->refs = 1;
        ngx_oc_shm_unhold(v);
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
    ngx_shmtx_lock(&omcf->shpool->mutex);
    ngx_oc_shm_state_add_locked(omcf, oi->rec, state);
    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/* the same, in any record (a tenant's too), the zone's mutex held */

void
ngx_oc_shm_state_add_locked(ngx_oc_main_conf_t *omcf, ngx_oc_shrec_t *rec,
    u_char *state)
{
    uint64_t               now;
    ngx_uint_t             i;
    ngx_oc_oauth_state_t  *st, *slot;

    st = rec->oauth;
    now = ngx_oc_now_ms();
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


ngx_uint_t
ngx_oc_pid_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}
