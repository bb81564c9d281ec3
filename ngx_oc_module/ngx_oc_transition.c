
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_shm.h"


#define NGX_OC_BACKOFF_MIN      1000
#define NGX_OC_BACKOFF_MAX      60000
#define NGX_OC_CHECK_PAUSE      10000

/* how long a create in doubt may take, in oc_api_timeout */
#define NGX_OC_VERIFY_FACTOR    5

/* unauthorized until a person consents again: no automatic retry */
#define NGX_OC_NEVER            ((uint64_t) 365 * 86400 * 1000)


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


static void ngx_oc_shm_publish(ngx_oc_instance_t *oi, ngx_oc_shrec_t *rec,
    ngx_oc_answer_t *a, uint64_t now);
static void ngx_oc_shm_failed(ngx_oc_shrec_t *rec, ngx_uint_t state,
    uint64_t delay, ngx_oc_answer_t *a, uint64_t now);
static ngx_uint_t ngx_oc_shm_upstream(ngx_oc_shrec_t *rec, ngx_uint_t to,
    ngx_atomic_uint_t gen, uint64_t now);


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
