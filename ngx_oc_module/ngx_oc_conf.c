
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_tenant.h"


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                  *values;     /* NULL: an http(s) URL */
} ngx_oc_property_t;


typedef struct {
    ngx_str_t                   element;
    ngx_uint_t                  auth;
    ngx_str_t                  *keys;
} ngx_oc_required_t;


static char *ngx_oc_instance_directive(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_oc_instance_tags(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_oc_instance_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_oc_instance_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_oc_instance_init(ngx_conf_t *cf, ngx_oc_instance_t *oi);
static ngx_int_t ngx_oc_instance_events(ngx_conf_t *cf,
    ngx_oc_instance_t *oi);
static ngx_int_t ngx_oc_check_property(ngx_conf_t *cf, ngx_str_t *key,
    ngx_str_t *value, ngx_str_t *source);
static u_char *ngx_oc_join(u_char *p, u_char *last, ngx_str_t *names,
    ngx_uint_t n, char *quote, char *sep, char *last_sep);
static ngx_int_t ngx_oc_str_cmp(ngx_str_t *a, ngx_str_t *b);


static ngx_command_t  ngx_oc_instance_commands[] = {

    { ngx_string("element"),
      NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_oc_instance_t, element),
      NULL },

    { ngx_string("name"),
      NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      0,
      offsetof(ngx_oc_instance_t, name),
      NULL },

    { ngx_string("tags"),
      NGX_CONF_1MORE,
      ngx_oc_instance_tags,
      0,
      0,
      NULL },

    { ngx_string("auth"),
      NGX_CONF_TAKE1,
      ngx_oc_instance_auth,
      0,
      0,
      NULL },

    { ngx_string("config"),
      NGX_CONF_TAKE2,
      ngx_oc_instance_config,
      0,
      0,
      NULL },

    { ngx_string("create"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_oc_instance_t, create),
      NULL },

    { ngx_string("tenant"),
      NGX_CONF_TAKE1,
      ngx_oc_tenant_directive,
      0,
      0,
      NULL },

    { ngx_string("oc_tenants_max"),
      NGX_CONF_TAKE1,
      ngx_oc_tenants_max,
      0,
      0,
      NULL },

    { ngx_string("oc_tenant_absent_ttl"),
      NGX_CONF_TAKE1,
      ngx_oc_tenant_absent_ttl,
      0,
      0,
      NULL },

      ngx_null_command
};


/* indexed by NGX_OC_AUTH_* */
static ngx_str_t  ngx_oc_auth_names[] = {
    ngx_string("emailPassword"),
    ngx_string("accessToken"),
    ngx_string("oauth2"),
    ngx_null_string
};


static ngx_str_t  ngx_oc_bool_values[] = {
    ngx_string("true"),
    ngx_string("false"),
    ngx_null_string
};

static ngx_str_t  ngx_oc_vendor_type_values[] = {
    ngx_string("webhook"),
    ngx_string("polling"),
    ngx_null_string
};

static ngx_str_t  ngx_oc_notification_type_values[] = {
    ngx_string("webhook"),
    ngx_null_string
};


/* common configuration properties with a type, any element */
static ngx_oc_property_t  ngx_oc_properties[] = {
    { ngx_string("event.notification.enabled"), ngx_oc_bool_values },
    { ngx_string("filter.response.nulls"), ngx_oc_bool_values },
    { ngx_string("event.vendor.type"), ngx_oc_vendor_type_values },
    { ngx_string("event.notification.type"),
      ngx_oc_notification_type_values },
    { ngx_string("event.notification.callback.url"), NULL },
    { ngx_string("oauth.callback.url"), NULL },
    { ngx_null_string, NULL }
};


/*
 * required configuration of known elements, per auth type; the keys are
 * the project's assumptions (reference sheet, section 8)
 */

static ngx_str_t  ngx_oc_pipedrive_email_password[] = {
    ngx_string("pipedrive.email"),
    ngx_string("pipedrive.password"),
    ngx_null_string
};

static ngx_str_t  ngx_oc_pipedrive_access_token[] = {
    ngx_string("pipedrive.api.token"),
    ngx_null_string
};

static ngx_str_t  ngx_oc_oauth2[] = {
    ngx_string("oauth.api.key"),
    ngx_string("oauth.api.secret"),
    ngx_string("oauth.callback.url"),
    ngx_null_string
};

static ngx_oc_required_t  ngx_oc_required[] = {
    { ngx_string("pipedrive"), NGX_OC_AUTH_EMAIL_PASSWORD,
      ngx_oc_pipedrive_email_password },
    { ngx_string("pipedrive"), NGX_OC_AUTH_ACCESS_TOKEN,
      ngx_oc_pipedrive_access_token },
    { ngx_string("pipedrive"), NGX_OC_AUTH_OAUTH2, ngx_oc_oauth2 },
    { ngx_null_string, 0, NULL }
};


static ngx_str_t  ngx_oc_auth_type_key = ngx_string("authentication.type");

static ngx_str_t  ngx_oc_events_enabled_key =
    ngx_string("event.notification.enabled");
static ngx_str_t  ngx_oc_events_callback_key =
    ngx_string("event.notification.callback.url");
static ngx_str_t  ngx_oc_events_signature_key =
    ngx_string("event.notification.signature.key");
static ngx_str_t  ngx_oc_true = ngx_string("true");


char *
ngx_oc_instance(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_main_conf_t *omcf = conf;

    char               *rv;
    ngx_str_t          *value;
    ngx_conf_t          save;
    ngx_oc_instance_t  *oi;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_OC_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid oc_instance name \"%V\", it must have "
                           "1 to %d characters", &value[1], NGX_OC_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oc_instance name \"off\" is reserved, "
                           "\"oc_pass off\" disables oc_pass");
        return NGX_CONF_ERROR;
    }

    if (ngx_oc_conf_check_quotes(cf, &cmd->name, &value[1], NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    oi = ngx_oc_instance_add(cf, omcf, &value[1]);
    if (oi == NULL) {
        return NGX_CONF_ERROR;
    }

    if (oi->element.data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate oc_instance \"%V\", the first is "
                           "at %s:%ui", &value[1], oi->file, oi->line);
        return NGX_CONF_ERROR;
    }

    /* an earlier oc_pass recorded its own line, the block is the place */

    oi->file = cf->conf_file->file.name.data;
    oi->line = cf->conf_file->line;

    save = *cf;
    cf->handler = ngx_oc_instance_directive;
    cf->handler_conf = (char *) oi;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_oc_instance_init(cf, oi) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * finds the instance of that block name or adds an undeclared one, which
 * an oc_instance block later in the file completes; until then its element
 * is unset and file:line is where it was first referenced
 */

ngx_oc_instance_t *
ngx_oc_instance_add(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf,
    ngx_str_t *block)
{
    ngx_uint_t          i;
    ngx_oc_instance_t  *oi, **oip;

    oip = omcf->instances.elts;

    for (i = 0; i < omcf->instances.nelts; i++) {
        if (ngx_oc_str_cmp(&oip[i]->block, block) == 0) {
            return oip[i];
        }
    }

    oi = ngx_pcalloc(cf->pool, sizeof(ngx_oc_instance_t));
    if (oi == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     oi->element = { 0, NULL };
     *     oi->name = { 0, NULL };
     *     oi->rec = NULL;
     */

    oi->block = *block;
    oi->auth = NGX_CONF_UNSET_UINT;
    oi->create = NGX_CONF_UNSET;
    oi->file = cf->conf_file->file.name.data;
    oi->line = cf->conf_file->line;
    oi->referrer = ((ngx_str_t *) cf->args->elts)[0];

    if (ngx_array_init(&oi->tags, cf->pool, 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&oi->config, cf->pool, 4, sizeof(ngx_oc_config_kv_t))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_queue_init(&oi->waiters);

    oip = ngx_array_push(&omcf->instances);
    if (oip == NULL) {
        return NULL;
    }

    *oip = oi;

    return oi;
}


static char *
ngx_oc_instance_directive(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    char           *rv;
    ngx_str_t      *value;
    ngx_uint_t      i, n, valid;
    ngx_command_t  *cmd;

    value = cf->args->elts;
    n = cf->args->nelts;

    for (cmd = ngx_oc_instance_commands; cmd->name.len; cmd++) {
        if (ngx_oc_str_cmp(&cmd->name, &value[0]) == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (cmd->type & NGX_CONF_1MORE) {
        valid = (n > 1);

    } else if (cmd->type & NGX_CONF_TAKE2) {
        valid = (n == 3);

    } else {
        /* NGX_CONF_TAKE1, NGX_CONF_FLAG */
        valid = (n == 2);
    }

    if (!valid) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" directive",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    /* a config value is checked once resolved, under its key's name */

    for (i = 1; i < n; i++) {

        if (cmd->set == ngx_oc_instance_config && i == 2) {
            break;
        }

        if (ngx_oc_conf_check_quotes(cf, &value[0], &value[i], NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    rv = cmd->set(cf, cmd, conf);

    if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
        return rv;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive %s", &value[0], rv);

    return NGX_CONF_ERROR;
}


static char *
ngx_oc_instance_tags(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_str_t   *value, *tag;
    ngx_uint_t   i, j;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            return "has an empty tag";
        }

        tag = oi->tags.elts;

        for (j = 0; j < oi->tags.nelts; j++) {
            if (ngx_oc_str_cmp(&tag[j], &value[i]) == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "tag \"%V\" is duplicate", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        tag = ngx_array_push(&oi->tags);
        if (tag == NULL) {
            return NGX_CONF_ERROR;
        }

        *tag = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_oc_instance_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (oi->auth != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; ngx_oc_auth_names[i].len; i++) {
        if (ngx_oc_str_cmp(&ngx_oc_auth_names[i], &value[1]) == 0) {
            oi->auth = i;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"auth\" directive, "
                       "it must be \"emailPassword\", \"accessToken\" "
                       "or \"oauth2\"", &value[1]);

    return NGX_CONF_ERROR;
}


static char *
ngx_oc_instance_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_str_t           *value;
    ngx_oc_config_kv_t  *kv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty key";
    }

    /* the runtime sends it from "auth" */

    if (ngx_oc_str_cmp(&value[1], &ngx_oc_auth_type_key) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "config \"authentication.type\" must not be set, "
                           "use the \"auth\" directive instead "
                           "(auth emailPassword|accessToken|oauth2)");
        return NGX_CONF_ERROR;
    }

    if (ngx_oc_config_value(oi, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "config \"%V\" is duplicate", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_oc_conf_check_key(cf, &value[1]);

    kv = ngx_array_push(&oi->config);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];

    if (ngx_oc_conf_config_value(cf, &kv->key, &kv->value) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* resolves and checks the value of "config KEY VALUE" in place */

ngx_int_t
ngx_oc_conf_config_value(ngx_conf_t *cf, ngx_str_t *key, ngx_str_t *value)
{
    u_char     *p;
    ngx_str_t   what, source;

    p = ngx_pnalloc(cf->pool, sizeof("config \"\"") - 1 + key->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    what.data = p;
    what.len = ngx_sprintf(p, "config \"%V\"", key) - p;

    source = *value;

    if (ngx_oc_conf_secret(cf, &what, value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_oc_check_property(cf, key, value, &source);
}


static ngx_int_t
ngx_oc_check_property(ngx_conf_t *cf, ngx_str_t *key, ngx_str_t *value,
    ngx_str_t *source)
{
    u_char             *p, buf[128];
    ngx_uint_t          i, n;
    ngx_oc_property_t  *prop;

    for (prop = ngx_oc_properties; prop->key.len; prop++) {
        if (ngx_oc_str_cmp(&prop->key, key) == 0) {
            break;
        }
    }

    if (prop->key.len == 0) {
        return NGX_OK;
    }

    if (prop->values == NULL) {
        if (ngx_oc_conf_is_http_url(value)) {
            return NGX_OK;
        }

        p = ngx_cpymem(buf, "an http:// or https:// URL",
                       sizeof("an http:// or https:// URL") - 1);

    } else {
        for (i = 0; prop->values[i].len; i++) {
            if (ngx_oc_str_cmp(&prop->values[i], value) == 0) {
                return NGX_OK;
            }
        }

        n = i;
        p = ngx_oc_join(buf, buf + sizeof(buf), prop->values, n, "\"",
                        ", ", " or ");
    }

    /* a value read from a file or the environment is not repeated */

    if (source->data == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "config \"%V\" must be %*s, not \"%V\"",
                           key, p - buf, buf, value);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "config \"%V\" must be %*s, check \"%V\"",
                           key, p - buf, buf, source);
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_oc_instance_init(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    u_char             *p, buf[256];
    ngx_str_t          *key, missing[8];
    ngx_uint_t          n;
    ngx_oc_required_t  *req;

    if (oi->element.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" has no \"element\", add one "
                      "such as \"element pipedrive;\" in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    if (oi->name.data == NULL) {
        oi->name = oi->block;

    } else if (oi->name.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" has an empty \"name\" in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    ngx_conf_init_uint_value(oi->auth, NGX_OC_AUTH_EMAIL_PASSWORD);

    if (ngx_oc_tenant_init_conf(cf, oi) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_conf_init_value(oi->create, 1);

    if (ngx_oc_instance_events(cf, oi) != NGX_OK) {
        return NGX_ERROR;
    }

    for (req = ngx_oc_required; req->element.len; req++) {
        if (req->auth == oi->auth
            && ngx_oc_str_cmp(&req->element, &oi->element) == 0)
        {
            break;
        }
    }

    /* a family's credentials come per tenant, through oc_connect */

    if (req->element.len == 0 || oi->family != NULL) {
        return NGX_OK;
    }

    n = 0;

    for (key = req->keys; key->len; key++) {
        if (ngx_oc_config_value(oi, key) == NULL
            && n < sizeof(missing) / sizeof(ngx_str_t))
        {
            missing[n++] = *key;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    p = ngx_oc_join(buf, buf + sizeof(buf), missing, n, "", ", ", ", ");

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oc_instance \"%V\" (auth %V) is missing config %*s, "
                  "add \"config KEY VALUE;\" for each in %s:%ui",
                  &oi->block, &ngx_oc_auth_names[oi->auth], p - buf, buf,
                  oi->file, oi->line);

    return NGX_ERROR;
}


/*
 * an instance that enables events needs the URL they go to; without a
 * signature key nobody can tell its events from forged ones
 */

static ngx_int_t
ngx_oc_instance_events(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    ngx_str_t  *enabled;

    enabled = ngx_oc_config_value(oi, &ngx_oc_events_enabled_key);

    if (enabled == NULL || ngx_oc_str_cmp(enabled, &ngx_oc_true) != 0) {
        return NGX_OK;
    }

    if (ngx_oc_config_value(oi, &ngx_oc_events_callback_key) == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" enables events but has no config "
                      "event.notification.callback.url, add the URL Open "
                      "Connectors is to send them to in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    if (ngx_oc_config_value(oi, &ngx_oc_events_signature_key) == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "oc_instance \"%V\" enables events without config "
                      "event.notification.signature.key, unsigned events "
                      "cannot be verified in %s:%ui",
                      &oi->block, oi->file, oi->line);
    }

    return NGX_OK;
}


ngx_int_t
ngx_oc_conf_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    u_char              *p, buf[128];
    ngx_str_t            missing[3];
    ngx_uint_t           i, n, declared;
    ngx_oc_instance_t  **oip;

    oip = omcf->instances.elts;

    if (omcf->instances.nelts == 0) {
        return NGX_OK;
    }

    declared = 0;

    for (i = 0; i < omcf->instances.nelts; i++) {
        if (oip[i]->element.data != NULL) {
            declared++;
        }
    }

    for (i = 0; i < omcf->instances.nelts; i++) {

        if (oip[i]->element.data != NULL) {
            continue;
        }

        if (declared == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%V: unknown oc_instance \"%V\", no "
                          "oc_instance block is declared, add "
                          "\"oc_instance %V { element ...; }\" to the http "
                          "block in %s:%ui", &oip[i]->referrer,
                          &oip[i]->block, &oip[i]->block,
                          oip[i]->file, oip[i]->line);

        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "%V: unknown oc_instance \"%V\" in %s:%ui",
                          &oip[i]->referrer, &oip[i]->block, oip[i]->file,
                          oip[i]->line);
        }

        return NGX_ERROR;
    }

    n = 0;

    if (omcf->api_url.data == NULL) {
        ngx_str_set(&missing[n], "oc_api_url");
        n++;
    }

    if (omcf->user_secret.data == NULL) {
        ngx_str_set(&missing[n], "oc_user_secret");
        n++;
    }

    if (omcf->org_secret.data == NULL) {
        ngx_str_set(&missing[n], "oc_organization_secret");
        n++;
    }

    if (n == 0) {
        return ngx_oc_tenant_validate(cf, omcf);
    }

    p = ngx_oc_join(buf, buf + sizeof(buf), missing, n, "\"", ", ", " and ");

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "%*s %s not set: add %s to the http block, "
                  "oc_instance \"%V\" needs %s in %s:%ui",
                  p - buf, buf, n == 1 ? "is" : "are",
                  n == 1 ? "it" : "them", &oip[0]->block,
                  n == 1 ? "it" : "them", oip[0]->file, oip[0]->line);

    return NGX_ERROR;
}


/* the configuration keys that auth type of that element needs */

ngx_str_t *
ngx_oc_conf_required_keys(ngx_oc_instance_t *oi)
{
    ngx_oc_required_t  *req;

    for (req = ngx_oc_required; req->element.len; req++) {
        if (req->auth == oi->auth
            && ngx_oc_str_cmp(&req->element, &oi->element) == 0)
        {
            return req->keys;
        }
    }

    return NULL;
}


ngx_str_t *
ngx_oc_auth_name(ngx_uint_t auth)
{
    if (auth > NGX_OC_AUTH_OAUTH2) {
        return NULL;
    }

    return &ngx_oc_auth_names[auth];
}


ngx_str_t *
ngx_oc_config_value(ngx_oc_instance_t *oi, ngx_str_t *key)
{
    ngx_uint_t           i;
    ngx_oc_config_kv_t  *kv;

    kv = oi->config.elts;

    for (i = 0; i < oi->config.nelts; i++) {
        if (ngx_oc_str_cmp(&kv[i].key, key) == 0) {
            return &kv[i].value;
        }
    }

    return NULL;
}


/* "a", "b" or "c"; the result is cut at "last" */

static u_char *
ngx_oc_join(u_char *p, u_char *last, ngx_str_t *names, ngx_uint_t n,
    char *quote, char *sep, char *last_sep)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {

        if (i > 0) {
            p = ngx_slprintf(p, last, "%s", i == n - 1 ? last_sep : sep);
        }

        p = ngx_slprintf(p, last, "%s%V%s", quote, &names[i], quote);
    }

    return p;
}


static ngx_int_t
ngx_oc_str_cmp(ngx_str_t *a, ngx_str_t *b)
{
    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
