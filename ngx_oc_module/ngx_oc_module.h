
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_MODULE_H_INCLUDED_
#define _NGX_OC_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_OC_AUTH_EMAIL_PASSWORD  0
#define NGX_OC_AUTH_ACCESS_TOKEN    1
#define NGX_OC_AUTH_OAUTH2          2

#define NGX_OC_NAME_MAX             128
#define NGX_OC_TOKEN_MAX            512
#define NGX_OC_ERROR_MAX            256
#define NGX_OC_REQID_MAX            64
#define NGX_OC_DIGEST_LEN           40      /* 160 bits, hex */

/* identity: "ngx-oc:<element>:<name>"; digest: keyed, of the declaration */
#define NGX_OC_IDENT_TAG            "ngx-oc:"
#define NGX_OC_DIGEST_TAG           "ngx-oc-digest-v2:"
/* written by versions before the keyed digest: recognised, replaced */
#define NGX_OC_LEGACY_DIGEST_TAG    "ngx-oc-digest:"

#define NGX_OC_OAUTH_STATE_LEN      32      /* 128 bits, hex */

#define NGX_OC_DEFAULT_ZONE         "oc"
#define NGX_OC_DEFAULT_ZONE_SIZE    (256 * 1024)


/* record states, see "Instance states" in docs/directives.md */
#define NGX_OC_ABSENT               0
#define NGX_OC_READY                1
#define NGX_OC_STALE                2
#define NGX_OC_FAILED               3
#define NGX_OC_UNAUTHORIZED         4
#define NGX_OC_DISABLED             5


/* counters, see ngx_oc_status.c for their names */
#define NGX_OC_REFUSED_FAILED            0
#define NGX_OC_REFUSED_DISABLED          1
#define NGX_OC_REFUSED_UNAUTHORIZED      2
#define NGX_OC_REFUSED_TIMEOUT           3
#define NGX_OC_REFUSED_UNAVAILABLE       4
#define NGX_OC_REFUSED_N                 5

/* what answered: an Open Connectors call (counted), or something else */
typedef enum {
    NGX_OC_CALL_LIST = 0,
    NGX_OC_CALL_GET,
    NGX_OC_CALL_CREATE,
    NGX_OC_CALL_UPDATE,             /* a reconcile PATCH */
    NGX_OC_CALL_DELETE,
    NGX_OC_CALL_OAUTH,
    NGX_OC_CALL_N,

    NGX_OC_CALL_REAUTHORIZE = NGX_OC_CALL_N,    /* a PATCH with a code */
    NGX_OC_CALL_VERDICT,            /* the resolution's own finding */
    NGX_OC_CALL_UPSTREAM,           /* the oc_pass upstream, with a token */
    NGX_OC_CALL_KINDS
} ngx_oc_call_e;

/* what the answer says */
typedef enum {
    NGX_OC_ANSWER_TOKEN = 0,        /* an instance and its usable token */
    NGX_OC_ANSWER_UNAUTHORIZED,     /* 401 */
    NGX_OC_ANSWER_FORBIDDEN,        /* 403 */
    NGX_OC_ANSWER_DISABLED,         /* the instance is marked disabled */
    NGX_OC_ANSWER_ERROR,            /* anything else that failed */
    NGX_OC_ANSWER_NONE,             /* no instance, none may be made yet */
    NGX_OC_ANSWER_REVOKED,          /* the token needs a person's consent */
    NGX_OC_ANSWER_N
} ngx_oc_answer_e;

#define NGX_OC_OUTCOME_OK                0
#define NGX_OC_OUTCOME_CLIENT_ERROR      1
#define NGX_OC_OUTCOME_SERVER_ERROR      2
#define NGX_OC_OUTCOME_TRANSPORT         3
#define NGX_OC_OUTCOME_N                 4

#define NGX_OC_RESOLVED_FOUND            0
#define NGX_OC_RESOLVED_CREATED          1
#define NGX_OC_RESOLVED_UPDATED          2
#define NGX_OC_RESOLVED_SETTLED          3
#define NGX_OC_RESOLVED_FAILED           4
#define NGX_OC_RESOLVED_REAUTHORIZED     5
#define NGX_OC_RESOLVED_N                6


typedef struct ngx_oc_instance_s  ngx_oc_instance_t;
typedef struct ngx_oc_shrec_s  ngx_oc_shrec_t;
typedef struct ngx_oc_shctx_s  ngx_oc_shctx_t;
typedef struct ngx_oc_resolver_s  ngx_oc_resolver_t;
typedef struct ngx_oc_events_shctx_s  ngx_oc_events_shctx_t;
typedef struct ngx_oc_family_s  ngx_oc_family_t;


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   value;      /* secret already resolved */
} ngx_oc_config_kv_t;


struct ngx_oc_instance_s {
    /* the declaration */
    ngx_str_t                   block;      /* oc_instance NAME */
    ngx_str_t                   element;
    ngx_str_t                   name;
    ngx_array_t                 tags;       /* of ngx_str_t */
    ngx_uint_t                  auth;
    ngx_array_t                 config;     /* of ngx_oc_config_kv_t */
    ngx_flag_t                  create;

    u_char                     *file;
    ngx_uint_t                  line;
    ngx_str_t                   referrer;   /* the directive naming it */

    ngx_str_t                   oauth_start;    /* its location, for 503s */
    ngx_uint_t                  oauth_used;

    /* the first oc_events naming it, and its signature key */
    u_char                     *events_file;
    ngx_uint_t                  events_line;
    ngx_str_t                   events_key;

    u_char                      digest[NGX_OC_DIGEST_LEN];
    u_char                      ident[NGX_OC_DIGEST_LEN];

    /* shared record, set by the zone's init */
    ngx_oc_shrec_t             *rec;

    /* per worker: copy of the record at generation "gen" */
    ngx_atomic_uint_t           gen;
    ngx_uint_t                  state;
    int64_t                     id;
    ngx_str_t                   header;     /* Authorization value */
    uintptr_t                   header_id;  /* the value's, never reused */
    ngx_str_t                   id_text;
    uint64_t                    retry;      /* ms, when refused */

    ngx_queue_t                 waiters;
    ngx_oc_resolver_t          *resolver;

    /* "tenant $var;": a family; its tenants' own copies have "tenant" */
    ngx_oc_family_t            *family;
    ngx_str_t                   tenant;

    /* the first oc_connect naming it */
    u_char                     *connect_file;
    ngx_uint_t                  connect_line;
};


typedef struct {
    ngx_str_t                   api_url;
    ngx_str_t                   user_secret;
    ngx_str_t                   org_secret;

    ngx_array_t                 instances;  /* of ngx_oc_instance_t * */

    ngx_shm_zone_t             *shm_zone;
    ngx_slab_pool_t            *shpool;
    ngx_oc_shctx_t             *sh;

    ngx_msec_t                  api_timeout;
    ngx_msec_t                  wait_timeout;
    ngx_msec_t                  recheck_interval;
    ngx_msec_t                  oauth_state_timeout;
    ngx_uint_t                  api_retries;
    ngx_uint_t                  api_connections;    /* per worker */
    size_t                      api_max_body;

    ngx_flag_t                  ssl_verify;
    ngx_str_t                   ssl_trusted_certificate;

    ngx_uint_t                  events;     /* oc_events is used */
    ngx_msec_t                  events_replay_window;
    ngx_uint_t                  events_replay_max;

    /* "User <u>, Organization <o>" */
    ngx_str_t                   platform_auth;
} ngx_oc_main_conf_t;


typedef struct {
    ngx_oc_instance_t          *instance;
    ngx_oc_instance_t          *oauth;      /* oc_oauth_start/_callback */
    ngx_oc_instance_t          *connect;    /* oc_connect */
    ngx_flag_t                  retry_on_401;
    ngx_oc_instance_t          *events;
    u_char                     *events_file;
    ngx_uint_t                  events_line;
} ngx_oc_loc_conf_t;


extern ngx_module_t  ngx_oc_module;


/* ngx_oc_module.c */
ngx_table_elt_t *ngx_oc_push_header(ngx_list_t *headers, char *key,
    ngx_str_t *value);
ngx_int_t ngx_oc_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);

/* ngx_oc_handler.c */
ngx_int_t ngx_oc_handler_init(ngx_conf_t *cf, ngx_uint_t retry);
void ngx_oc_wake_waiters(ngx_oc_instance_t *oi);

/* ngx_oc_variables.c */
ngx_int_t ngx_oc_add_variables(ngx_conf_t *cf);

/* ngx_oc_shm.c */
uint64_t ngx_oc_now_ms(void);

/* ngx_oc_status.c */
char *ngx_oc_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_oc_status_refused(ngx_oc_instance_t *oi, ngx_uint_t timedout);
void ngx_oc_status_resolved(ngx_oc_instance_t *oi, ngx_uint_t outcome);

/* ngx_oc_worker.c */
ngx_int_t ngx_oc_init_process(ngx_cycle_t *cycle);
void ngx_oc_exit_process(ngx_cycle_t *cycle);
void ngx_oc_poll(void);

/* ngx_oc_resolve.c */
ngx_int_t ngx_oc_resolve(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi);
ngx_int_t ngx_oc_resolve_code(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_str_t *code, ngx_http_request_t *r, ngx_oc_resolver_t **resp);
void ngx_oc_resolve_detach(ngx_oc_resolver_t *res);

/* ngx_oc_oauth.c */
char *ngx_oc_oauth_start(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_oc_oauth_callback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_oc_oauth_done(ngx_http_request_t *r);

/* ngx_oc_digest.c */
ngx_int_t ngx_oc_instance_digest(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, u_char *digest);
void ngx_oc_instance_digest_legacy(ngx_oc_instance_t *oi, u_char *digest);


#endif /* _NGX_OC_MODULE_H_INCLUDED_ */
