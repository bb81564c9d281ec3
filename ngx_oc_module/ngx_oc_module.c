
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_events.h"
#include "ngx_oc_tenant.h"


/*
 * the main conf as the other files know it, followed by what only the
 * configuration code needs
 */

typedef struct {
    ngx_oc_main_conf_t          conf;       /* must be first */

    u_char                     *zone_file;
    ngx_uint_t                  zone_line;

    ngx_oc_pass_checks_t        checks;

    /* an oc_pass location has oc_retry_on_401 on */
    ngx_flag_t                  retry_on_401;
} ngx_oc_main_conf_ext_t;


static ngx_int_t ngx_oc_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_oc_postconfiguration(ngx_conf_t *cf);
static void *ngx_oc_create_main_conf(ngx_conf_t *cf);
static char *ngx_oc_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_oc_create_loc_conf(ngx_conf_t *cf);
static char *ngx_oc_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_oc_api_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_oc_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_oc_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_oc_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_oc_instance_ref(ngx_conf_t *cf, ngx_oc_instance_t **slot);
static char *ngx_oc_ssl_verify(ngx_conf_t *cf, void *post, void *data);
static char *ngx_oc_ssl_trusted_certificate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_uint_t ngx_oc_loopback_url(ngx_str_t *url);
static char *ngx_oc_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_oc_zone_init(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf);
static char *ngx_oc_positive_msec(ngx_conf_t *cf, void *post, void *data);
static char *ngx_oc_positive_size(ngx_conf_t *cf, void *post, void *data);


static ngx_conf_post_handler_pt  ngx_oc_positive_msec_p =
    ngx_oc_positive_msec;
static ngx_conf_post_handler_pt  ngx_oc_positive_size_p =
    ngx_oc_positive_size;
static ngx_conf_post_handler_pt  ngx_oc_ssl_verify_p = ngx_oc_ssl_verify;


static ngx_conf_num_bounds_t  ngx_oc_events_replay_max_bounds = {
    ngx_conf_check_num_bounds, 1, 1048576
};

static ngx_conf_num_bounds_t  ngx_oc_api_connections_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_command_t  ngx_oc_commands[] = {

    { ngx_string("oc_api_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_oc_api_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_user_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_oc_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, user_secret),
      NULL },

    { ngx_string("oc_organization_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_oc_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, org_secret),
      NULL },

    { ngx_string("oc_instance"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_oc_instance,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_oc_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_api_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, api_timeout),
      &ngx_oc_positive_msec_p },

    { ngx_string("oc_wait_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, wait_timeout),
      &ngx_oc_positive_msec_p },

    { ngx_string("oc_api_connections"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, api_connections),
      &ngx_oc_api_connections_bounds },

    { ngx_string("oc_api_retries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, api_retries),
      NULL },

    { ngx_string("oc_recheck_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, recheck_interval),
      &ngx_oc_positive_msec_p },

    { ngx_string("oc_oauth_state_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, oauth_state_timeout),
      &ngx_oc_positive_msec_p },

    { ngx_string("oc_api_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, api_max_body),
      &ngx_oc_positive_size_p },

    { ngx_string("oc_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, ssl_verify),
      &ngx_oc_ssl_verify_p },

    { ngx_string("oc_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_oc_ssl_trusted_certificate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("oc_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_oc_status,
      0,
      0,
      NULL },

    { ngx_string("oc_pass"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_oc_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_retry_on_401"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_oc_loc_conf_t, retry_on_401),
      NULL },

    { ngx_string("oc_oauth_start"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_oc_oauth_start,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_oauth_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_oc_oauth_callback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_connect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_oc_connect,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_oc_events,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oc_events_replay_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, events_replay_window),
      NULL },

    { ngx_string("oc_events_replay_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_oc_main_conf_t, events_replay_max),
      &ngx_oc_events_replay_max_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_oc_module_ctx = {
    ngx_oc_preconfiguration,               /* preconfiguration */
    ngx_oc_postconfiguration,              /* postconfiguration */

    ngx_oc_create_main_conf,               /* create main configuration */
    ngx_oc_init_main_conf,                 /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_oc_create_loc_conf,                /* create location configuration */
    ngx_oc_merge_loc_conf                  /* merge location configuration */
};


ngx_module_t  ngx_oc_module = {
    NGX_MODULE_V1,
    &ngx_oc_module_ctx,                    /* module context */
    ngx_oc_commands,                       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_oc_init_process,                   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_oc_exit_process,                   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_oc_create_main_conf(ngx_conf_t *cf)
{
    ngx_oc_main_conf_t      *omcf;
    ngx_oc_main_conf_ext_t  *ext;

    ext = ngx_pcalloc(cf->pool, sizeof(ngx_oc_main_conf_ext_t));
    if (ext == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->api_url = { 0, NULL };
     *     omcf->user_secret = { 0, NULL };
     *     omcf->org_secret = { 0, NULL };
     *     omcf->shm_zone = NULL;
     *     omcf->platform_auth = { 0, NULL };
     *     omcf->ssl_trusted_certificate = { 0, NULL };
     *     ext->zone_file = NULL;
     */

    omcf = &ext->conf;

    if (ngx_oc_pass_checks_init(cf, &ext->checks) != NGX_OK) {
        return NULL;
    }

    if (ngx_array_init(&omcf->instances, cf->pool, 4,
                       sizeof(ngx_oc_instance_t *))
        != NGX_OK)
    {
        return NULL;
    }

    omcf->api_timeout = NGX_CONF_UNSET_MSEC;
    omcf->wait_timeout = NGX_CONF_UNSET_MSEC;
    omcf->api_max_body = NGX_CONF_UNSET_SIZE;
    omcf->api_retries = NGX_CONF_UNSET_UINT;
    omcf->api_connections = NGX_CONF_UNSET_UINT;
    omcf->recheck_interval = NGX_CONF_UNSET_MSEC;
    omcf->oauth_state_timeout = NGX_CONF_UNSET_MSEC;
    omcf->ssl_verify = NGX_CONF_UNSET;
    omcf->events_replay_window = NGX_CONF_UNSET_MSEC;
    omcf->events_replay_max = NGX_CONF_UNSET_UINT;

    return omcf;
}


static char *
ngx_oc_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_oc_main_conf_t *omcf = conf;

    u_char  *p;

    ngx_conf_init_msec_value(omcf->api_timeout, 10000);
    ngx_conf_init_msec_value(omcf->wait_timeout, 30000);
    ngx_conf_init_size_value(omcf->api_max_body, 1024 * 1024);
    ngx_conf_init_uint_value(omcf->api_retries, 3);
    ngx_conf_init_uint_value(omcf->api_connections, 8);
    ngx_conf_init_msec_value(omcf->recheck_interval, 60000);
    ngx_conf_init_msec_value(omcf->oauth_state_timeout, 600000);
    ngx_conf_init_value(omcf->ssl_verify, 1);
    ngx_conf_init_msec_value(omcf->events_replay_window, 600000);
    ngx_conf_init_uint_value(omcf->events_replay_max, 4096);

    if (omcf->user_secret.data == NULL || omcf->org_secret.data == NULL) {
        return NGX_CONF_OK;
    }

    omcf->platform_auth.len = sizeof("User , Organization ") - 1
                              + omcf->user_secret.len
                              + omcf->org_secret.len;

    p = ngx_pnalloc(cf->pool, omcf->platform_auth.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    omcf->platform_auth.data = p;

    ngx_sprintf(p, "User %V, Organization %V",
                &omcf->user_secret, &omcf->org_secret);

    /* only the header is used from now on: no second copy in memory */

    ngx_explicit_memzero(omcf->user_secret.data, omcf->user_secret.len);
    ngx_explicit_memzero(omcf->org_secret.data, omcf->org_secret.len);

    return NGX_CONF_OK;
}


static void *
ngx_oc_create_loc_conf(ngx_conf_t *cf)
{
    ngx_oc_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_oc_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    olcf->instance = NGX_CONF_UNSET_PTR;
    olcf->retry_on_401 = NGX_CONF_UNSET;
    olcf->events = NGX_CONF_UNSET_PTR;

    return olcf;
}


static char *
ngx_oc_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_oc_loc_conf_t *prev = parent;
    ngx_oc_loc_conf_t *conf = child;

    ngx_uint_t                 written;
    ngx_oc_main_conf_ext_t    *ext;
    ngx_http_core_loc_conf_t  *clcf;

    written = (conf->instance != NGX_CONF_UNSET_PTR);

    ngx_conf_merge_ptr_value(conf->instance, prev->instance, NULL);
    ngx_conf_merge_value(conf->retry_on_401, prev->retry_on_401, 0);

    if (conf->events == NGX_CONF_UNSET_PTR) {
        conf->events_file = prev->events_file;
        conf->events_line = prev->events_line;
    }

    ngx_conf_merge_ptr_value(conf->events, prev->events, NULL);

    /* an oc_events location relays to the application, never a token */

    if (conf->events != NULL && conf->instance != NULL) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_pass \"%V\" applies to the oc_events location "
                      "\"%V\" and would send the instance token to the "
                      "application, add \"oc_pass off;\" to that location "
                      "in %s:%ui", &conf->instance->block, &clcf->name,
                      conf->events_file, conf->events_line);
        return NGX_CONF_ERROR;
    }

    if (conf->instance == NULL) {
        return NGX_CONF_OK;
    }

    ext = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    if (conf->retry_on_401) {
        ext->retry_on_401 = 1;
    }

    if (ngx_oc_pass_check(cf, &ext->checks, conf, prev, written) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_api_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_main_conf_t *omcf = conf;

    ngx_str_t  *value, url;

    if (omcf->api_url.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    url = value[1];

    if (ngx_oc_conf_api_url(cf, &cmd->name, &url) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strncasecmp(url.data, (u_char *) "http://", sizeof("http://") - 1)
        == 0
        && !ngx_oc_loopback_url(&url))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"oc_api_url\" is plain http to a host that is "
                           "not loopback: the Open Connectors secrets and "
                           "instance tokens cross the network unencrypted, "
                           "use https://");
    }

    /* the module appends "/instances" and the like to it */

    if (url.len < sizeof("/elements/api-v2") - 1
        || ngx_strncmp(url.data + url.len - (sizeof("/elements/api-v2") - 1),
                       "/elements/api-v2", sizeof("/elements/api-v2") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"oc_api_url\" \"%V\" does not end in "
                           "\"/elements/api-v2\", Open Connectors answers "
                           "404 to every call under another path, write "
                           "it as \"https://HOST/elements/api-v2\"", &url);
    }

    omcf->api_url = url;

    return NGX_CONF_OK;
}


static char *
ngx_oc_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *value, *field;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *field = value[1];

    if (ngx_oc_conf_platform_secret(cf, &cmd->name, field) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_main_conf_ext_t *ext = conf;

    ssize_t          size;
    ngx_str_t       *value, name;
    ngx_shm_zone_t  *shm_zone;

    if (ext->conf.shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_oc_conf_zone(cf, &value[1], &name, &size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_oc_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_oc_shm_init_zone;
    shm_zone->data = &ext->conf;

    ext->conf.shm_zone = shm_zone;
    ext->zone_file = cf->conf_file->file.name.data;
    ext->zone_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_oc_ssl_verify(ngx_conf_t *cf, void *post, void *data)
{
    ngx_flag_t  *fp = data;

    if (!*fp) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"oc_ssl_verify off\": the certificate of Open "
                           "Connectors is not verified, anyone on the path "
                           "can read the secrets and instance tokens");
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_ssl_trusted_certificate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_oc_main_conf_t *omcf = conf;

    ngx_fd_t    fd;
    ngx_str_t  *value, name;

    if (omcf->ssl_trusted_certificate.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0) {
        return "needs a file name";
    }

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* libcurl reads it in the workers, a missing file is found now */

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name.data);
    }

    omcf->ssl_trusted_certificate = name;

    return NGX_CONF_OK;
}


static char *
ngx_oc_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_loc_conf_t *olcf = conf;

    char                    *rv;
    ngx_oc_main_conf_ext_t  *ext;

    rv = ngx_oc_instance_ref(cf, &olcf->instance);

    if (rv != NGX_CONF_OK || olcf->instance == NULL) {
        return rv;
    }

    /* the checks at merge time name this line */

    ext = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    if (ngx_oc_pass_record(cf, &ext->checks, olcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_loc_conf_t *olcf = conf;

    char                *rv;
    ngx_oc_instance_t   *oi;
    ngx_oc_main_conf_t  *omcf;

    olcf->events_file = cf->conf_file->file.name.data;
    olcf->events_line = cf->conf_file->line;

    rv = ngx_oc_instance_ref(cf, &olcf->events);

    oi = olcf->events;

    if (rv != NGX_CONF_OK || oi == NULL) {
        return rv;
    }

    /* postconfiguration checks the instance's signature key here */

    if (oi->events_file == NULL) {
        oi->events_file = cf->conf_file->file.name.data;
        oi->events_line = cf->conf_file->line;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);
    omcf->events = 1;

    return NGX_CONF_OK;
}


/* "NAME" of an oc_instance, declared before or after, or "off" */

static char *
ngx_oc_instance_ref(ngx_conf_t *cf, ngx_oc_instance_t **slot)
{
    ngx_str_t           *value;
    ngx_oc_instance_t   *oi;
    ngx_oc_main_conf_t  *omcf;

    if (*slot != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *slot = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "needs an oc_instance name or \"off\"";
    }

    /* the block may come later, postconfiguration checks it came */

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    oi = ngx_oc_instance_add(cf, omcf, &value[1]);
    if (oi == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = oi;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_oc_preconfiguration(ngx_conf_t *cf)
{
    return ngx_oc_add_variables(cf);
}


static ngx_int_t
ngx_oc_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t           i;
    ngx_oc_instance_t  **oip;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    if (omcf->instances.nelts) {

        if (ngx_oc_conf_validate(cf, omcf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_oc_events_init_conf(cf, omcf) != NGX_OK) {
            return NGX_ERROR;
        }

        oip = omcf->instances.elts;

        for (i = 0; i < omcf->instances.nelts; i++) {
            if (ngx_oc_instance_digest(omcf, oip[i], oip[i]->digest)
                != NGX_OK)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "oc_instance \"%V\": digest failed",
                              &oip[i]->block);
                return NGX_ERROR;
            }

            if (oip[i]->oauth_used && oip[i]->auth != NGX_OC_AUTH_OAUTH2) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "oc_oauth_start and oc_oauth_callback need "
                              "an oc_instance with \"auth oauth2\", "
                              "\"%V\" in %s:%ui is not one",
                              &oip[i]->block, oip[i]->file, oip[i]->line);
                return NGX_ERROR;
            }
        }

        if (ngx_oc_zone_init(cf, omcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_oc_handler_init(cf, ((ngx_oc_main_conf_ext_t *) omcf)->retry_on_401)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_oc_events_init(cf);
}


static ngx_int_t
ngx_oc_zone_init(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    size_t                   needed;
    ngx_str_t                name;
    ngx_uint_t               n;
    ngx_shm_zone_t          *shm_zone;
    ngx_oc_main_conf_ext_t  *ext;

    ext = (ngx_oc_main_conf_ext_t *) omcf;
    n = omcf->instances.nelts;
    needed = ngx_oc_shm_size_needed(omcf);

    if (omcf->shm_zone != NULL) {

        if (omcf->shm_zone->shm.size < needed
            && ngx_oc_events_size_needed(omcf))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_zone \"%V\" is too small for %ui "
                          "oc_instance blocks and %ui event ids "
                          "(oc_events_replay_max), it needs at least %uz "
                          "bytes in %s:%ui", &omcf->shm_zone->shm.name, n,
                          omcf->events_replay_max, needed,
                          ext->zone_file, ext->zone_line);
            return NGX_ERROR;
        }

        if (omcf->shm_zone->shm.size < needed) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_zone \"%V\" is too small for %ui "
                          "oc_instance blocks, it needs at least %uz bytes "
                          "in %s:%ui", &omcf->shm_zone->shm.name, n, needed,
                          ext->zone_file, ext->zone_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    ngx_str_set(&name, NGX_OC_DEFAULT_ZONE);

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     ngx_max(needed, NGX_OC_DEFAULT_ZONE_SIZE),
                                     &ngx_oc_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_oc_shm_init_zone;
    shm_zone->data = omcf;

    omcf->shm_zone = shm_zone;

    return NGX_OK;
}


static char *
ngx_oc_positive_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_positive_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


/* http://localhost, http://127.x.x.x or http://[::1], with any port */

static ngx_uint_t
ngx_oc_loopback_url(ngx_str_t *url)
{
    return ngx_oc_loopback_host(url->data + sizeof("http://") - 1,
                                url->data + url->len);
}


/* a header for a list of nginx's own: value NULL, the caller sets it */

ngx_table_elt_t *
ngx_oc_push_header(ngx_list_t *headers, char *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(key);
    h->key.data = (u_char *) key;
    h->lowcase_key = NULL;

    if (value) {
        h->value = *value;

    } else {
        ngx_str_null(&h->value);
    }

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


/* a JSON answer the module makes itself; the request is finalized */

ngx_int_t
ngx_oc_send_json(ngx_http_request_t *r, ngx_uint_t status, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}
