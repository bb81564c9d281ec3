
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_SHM_H_INCLUDED_
#define _NGX_OC_SHM_H_INCLUDED_


#include "ngx_oc_module.h"


/*
 * The shared zone's layout, and a worker's values made from it: only the
 * files that read or write the zone include this header.
 */


/* worker processes of all loaded configurations that one record counts */
#define NGX_OC_ATTACH_MAX           128

#define NGX_OC_OAUTH_STATES         8


/* one answer for ngx_oc_shm_transition() and what it carries */

typedef struct {
    ngx_oc_call_e               call;
    ngx_oc_answer_e             answer;
    int64_t                     id;         /* the token's instance */
    ngx_str_t                  *token;
    u_char                     *digest;     /* declaration now applied */
    uint64_t                    delay;      /* ms, 0: the table's */
    ngx_str_t                  *error;
    ngx_str_t                  *request_id;
    ngx_atomic_uint_t           gen;        /* upstream: the token's */
    unsigned                    doubt:1;    /* a create may still land */
    unsigned                    listed:1;   /* after a full lookup */
} ngx_oc_answer_t;


typedef struct {
    u_char                      state[NGX_OC_OAUTH_STATE_LEN];
    uint64_t                    expires;        /* ms, wall clock */
} ngx_oc_oauth_state_t;


/* since the zone was created: shared by the workers, kept over reloads */

typedef struct {
    ngx_atomic_t                injected;
    ngx_atomic_t                refused[NGX_OC_REFUSED_N];
    ngx_atomic_t                calls[NGX_OC_CALL_N][NGX_OC_OUTCOME_N];
    ngx_atomic_t                resolutions[NGX_OC_RESOLVED_N];
    ngx_atomic_t                purges;         /* tokens dropped on a 401 */
} ngx_oc_counters_t;


/* one record per declared instance, in the shared zone */

struct ngx_oc_shrec_s {
    ngx_queue_t                 queue;

    u_char                      block[NGX_OC_NAME_MAX];
    size_t                      block_len;

    ngx_atomic_t                generation;
    ngx_uint_t                  state;

    /*
     * worker processes using the record, by pid (0: a free slot), and
     * how many did not fit: a removed block's record goes when none is
     * left; the pid of a killed worker is dropped once it is gone
     */
    ngx_pid_t                   attached[NGX_OC_ATTACH_MAX];
    ngx_uint_t                  attached_over;

    ngx_pid_t                   lease_pid;
    uint64_t                    lease_until;    /* ms, wall clock */
    uint64_t                    next_retry;     /* ms, wall clock */
    ngx_uint_t                  failures;

    /* an upstream 403: ask Open Connectors whether it is disabled */
    ngx_uint_t                  check;
    uint64_t                    check_after;    /* ms, wall clock */
    uint64_t                    stale_after;    /* ms, wall clock */

    /* a create timed out: look for a surplus instance after this */
    uint64_t                    verify_after;   /* ms, wall clock */

    int64_t                     id;
    time_t                      token_time;
    size_t                      token_len;
    u_char                      token[NGX_OC_TOKEN_MAX];

    /* element and name the token belongs to */
    u_char                      ident[NGX_OC_DIGEST_LEN];

    /* digest of the declaration last applied to the instance */
    u_char                      digest[NGX_OC_DIGEST_LEN];

    ngx_oc_counters_t           counters;

    /* the declaration of the newest configuration load, and until when */
    u_char                      newest[NGX_OC_DIGEST_LEN];
    u_char                      platform[20];   /* SHA-1: URL, secrets */
    uint64_t                    newest_until;   /* ms, wall clock */

    time_t                      error_time;
    size_t                      error_len;
    u_char                      error[NGX_OC_ERROR_MAX];
    size_t                      request_id_len;
    u_char                      request_id[NGX_OC_REQID_MAX];

    /* OAuth2 consent flows under way */
    ngx_oc_oauth_state_t        oauth[NGX_OC_OAUTH_STATES];

    /* a family's tenants (ngx_oc_tenant.c), in the family's record */
    void                       *tenants;

    /* a tenant's lookup found no instance: it is not connected */
    ngx_uint_t                  none;
};


struct ngx_oc_shctx_s {
    ngx_queue_t                 records;
    ngx_oc_events_shctx_t      *events;     /* replay store, or NULL */
};


/*
 * a worker's Authorization value for one token, made by ngx_oc_shm_copy();
 * a request that uses it across events holds it (see ngx_oc_shm.c)
 */

typedef struct ngx_oc_value_s  ngx_oc_value_t;


/* ngx_oc_zone.c */
void ngx_oc_shm_ident(ngx_oc_instance_t *oi);
ngx_int_t ngx_oc_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data);
size_t ngx_oc_shm_size_needed(ngx_oc_main_conf_t *omcf);
void ngx_oc_shm_attach(ngx_oc_main_conf_t *omcf, ngx_int_t n);

/* ngx_oc_transition.c */
ngx_uint_t ngx_oc_shm_transition(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_oc_answer_t *a);

/* ngx_oc_shm.c */
ngx_uint_t ngx_oc_shm_refresh(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);
ngx_int_t ngx_oc_shm_try_lease(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_uint_t force);
void ngx_oc_shm_renew_lease(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_msec_t extra);
ngx_uint_t ngx_oc_shm_lease_held(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi);
void ngx_oc_shm_release(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);
void ngx_oc_shm_forget(ngx_oc_instance_t *oi);
void ngx_oc_shm_forget_all(void);
void ngx_oc_shm_error(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_pool_t *pool, ngx_str_t *error, ngx_str_t *request_id);
void ngx_oc_shm_state_add(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    u_char *state);
void ngx_oc_shm_state_add_locked(ngx_oc_main_conf_t *omcf,
    ngx_oc_shrec_t *rec, u_char *state);
ngx_int_t ngx_oc_shm_state_take(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_str_t *state);
ngx_oc_value_t *ngx_oc_shm_hold(ngx_oc_instance_t *oi);
void ngx_oc_shm_unhold(ngx_oc_value_t *v);
ngx_uint_t ngx_oc_pid_alive(ngx_pid_t pid);


#endif /* _NGX_OC_SHM_H_INCLUDED_ */
