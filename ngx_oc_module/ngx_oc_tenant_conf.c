
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_tenant.h"


/* the configuration of families: tenant, its limits, and what they allow */


static ngx_oc_family_t *ngx_oc_tenant_family(ngx_conf_t *cf,
    ngx_oc_instance_t *oi);
static ngx_int_t ngx_oc_tenant_template(ngx_conf_t *cf,
    ngx_oc_instance_t *oi, ngx_str_t *what, ngx_str_t *value);
static ngx_int_t ngx_oc_tenant_oauth_keys(ngx_conf_t *cf,
    ngx_oc_instance_t *oi);


/* "tenant $var;" inside oc_instance */

char *
ngx_oc_tenant_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_str_t        *value, name;
    ngx_oc_family_t  *fam;

    value = cf->args->elts;

    fam = ngx_oc_tenant_family(cf, oi);
    if (fam == NULL) {
        return NGX_CONF_ERROR;
    }

    if (fam->var.len) {
        return "is duplicate";
    }

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tenant\" needs a variable, such as "
                           "\"tenant $tenant;\" set by auth_request_set, "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    fam->index = ngx_http_get_variable_index(cf, &name);
    if (fam->index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    fam->var = value[1];

    return NGX_CONF_OK;
}


char *
ngx_oc_tenants_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_int_t         n;
    ngx_str_t        *value;
    ngx_oc_family_t  *fam;

    value = cf->args->elts;

    fam = ngx_oc_tenant_family(cf, oi);
    if (fam == NULL) {
        return NGX_CONF_ERROR;
    }

    if (fam->max != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 10000000) {
        return "must be a number from 1 to 10000000";
    }

    fam->max = n;

    return NGX_CONF_OK;
}


char *
ngx_oc_tenant_absent_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_instance_t *oi = conf;

    ngx_str_t        *value;
    ngx_msec_t        ttl;
    ngx_oc_family_t  *fam;

    value = cf->args->elts;

    fam = ngx_oc_tenant_family(cf, oi);
    if (fam == NULL) {
        return NGX_CONF_ERROR;
    }

    if (fam->absent_ttl != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    ttl = ngx_parse_time(&value[1], 0);

    if (ttl == (ngx_msec_t) NGX_ERROR || ttl == 0) {
        return "must be a time greater than 0, such as 10s";
    }

    fam->absent_ttl = ttl;

    return NGX_CONF_OK;
}


static ngx_oc_family_t *
ngx_oc_tenant_family(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    ngx_oc_family_t  *fam;

    if (oi->family) {
        return oi->family;
    }

    fam = ngx_pcalloc(cf->pool, sizeof(ngx_oc_family_t));
    if (fam == NULL) {
        return NULL;
    }

    fam->max = NGX_CONF_UNSET_UINT;
    fam->absent_ttl = NGX_CONF_UNSET_MSEC;
    fam->oi = oi;

    ngx_rbtree_init(&fam->tree, &fam->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&fam->lru);

    oi->family = fam;

    return fam;
}


/* the end of an oc_instance block: what "tenant" changes */

ngx_int_t
ngx_oc_tenant_init_conf(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    ngx_str_t        *tag, what;
    ngx_uint_t        i;
    ngx_oc_family_t  *fam;

    fam = oi->family;

    if (fam != NULL && fam->var.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" sets oc_tenants_max or "
                      "oc_tenant_absent_ttl without \"tenant\", add "
                      "\"tenant $tenant;\" in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    ngx_str_set(&what, "name");

    if (ngx_oc_tenant_template(cf, oi, &what, &oi->name) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&what, "tags");
    tag = oi->tags.elts;

    for (i = 0; i < oi->tags.nelts; i++) {
        if (ngx_oc_tenant_template(cf, oi, &what, &tag[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (fam == NULL) {
        return NGX_OK;
    }

    ngx_conf_init_uint_value(fam->max, NGX_OC_TENANTS_MAX);
    ngx_conf_init_msec_value(fam->absent_ttl, NGX_OC_TENANT_ABSENT_TTL);

    if (oi->create == NGX_CONF_UNSET) {
        oi->create = 0;
    }

    if (oi->auth == NGX_OC_AUTH_OAUTH2
        && ngx_oc_tenant_oauth_keys(cf, oi) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_strlcasestrn(oi->name.data, oi->name.data + oi->name.len,
                         (u_char *) NGX_OC_TENANT_VAR,
                         sizeof(NGX_OC_TENANT_VAR) - 2)
        == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" has \"tenant\" but its \"name\" "
                      "does not use $tenant, each tenant needs its own "
                      "name, such as \"name crm-$tenant;\" in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    tag = oi->tags.elts;

    if (oi->tags.nelts == 0
        || ngx_strlcasestrn(tag[0].data, tag[0].data + tag[0].len,
                            (u_char *) NGX_OC_TENANT_VAR,
                            sizeof(NGX_OC_TENANT_VAR) - 2)
           == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_instance \"%V\" has \"tenant\" but its first tag "
                      "does not use $tenant, the first tag is the lookup "
                      "key, add \"tags customer:$tenant;\" in %s:%ui",
                      &oi->block, oi->file, oi->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * an oauth2 family: every tenant consents to the same Pipedrive app, so
 * the app's keys are the family's shared config, needed as for one block
 */

static ngx_int_t
ngx_oc_tenant_oauth_keys(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    u_char     *p, *last, buf[256];
    ngx_str_t  *key;
    ngx_uint_t  n;

    p = buf;
    last = buf + sizeof(buf);
    n = 0;

    for (key = ngx_oc_conf_required_keys(oi); key && key->len; key++) {
        if (ngx_oc_config_value(oi, key) == NULL) {
            p = ngx_slprintf(p, last, "%s%V", n++ ? ", " : "", key);
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oc_instance \"%V\" (auth oauth2, tenant) is missing "
                  "config %*s, an oauth2 family shares its Pipedrive app: "
                  "add \"config KEY VALUE;\" for each in %s:%ui",
                  &oi->block, p - buf, buf, oi->file, oi->line);

    return NGX_ERROR;
}


/* "$tenant" is the only variable, and only in a family */

static ngx_int_t
ngx_oc_tenant_template(ngx_conf_t *cf, ngx_oc_instance_t *oi,
    ngx_str_t *what, ngx_str_t *value)
{
    u_char  *p, *last;
    size_t   n;

    n = sizeof(NGX_OC_TENANT_VAR) - 1;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {

        if (*p != '$') {
            continue;
        }

        if ((size_t) (last - p) < n
            || ngx_strncmp(p, NGX_OC_TENANT_VAR, n) != 0
            || (p + n < last
                && (p[n] == '_' || isalnum(p[n]))))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_instance \"%V\": \"%V\" may use only the "
                          "variable $tenant, not \"%V\" in %s:%ui",
                          &oi->block, what, value, oi->file, oi->line);
            return NGX_ERROR;
        }

        if (oi->family == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_instance \"%V\" uses $tenant in \"%V\" but has "
                          "no \"tenant\", add \"tenant $tenant;\" or remove "
                          "$tenant in %s:%ui",
                          &oi->block, what, oi->file, oi->line);
            return NGX_ERROR;
        }

        p += n - 1;
    }

    return NGX_OK;
}


/* at postconfiguration: oc_connect and families go together */

ngx_int_t
ngx_oc_tenant_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    ngx_uint_t           i;
    ngx_oc_instance_t  **oip, *oi;

    oip = omcf->instances.elts;

    for (i = 0; i < omcf->instances.nelts; i++) {
        oi = oip[i];

        if (oi->connect_file && oi->family == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_connect \"%V\" names an oc_instance without "
                          "\"tenant\", oc_connect connects one tenant of a "
                          "family: add \"tenant $tenant;\" to the block in "
                          "%s:%ui", &oi->block, oi->connect_file,
                          oi->connect_line);
            return NGX_ERROR;
        }

        if (oi->family && oi->events_file) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_events \"%V\" names an oc_instance with "
                          "\"tenant\", events of a family are not supported "
                          "in %s:%ui", &oi->block, oi->events_file,
                          oi->events_line);
            return NGX_ERROR;
        }

        if (oi->family && oi->auth == NGX_OC_AUTH_OAUTH2) {
            if (oi->oauth_start.len == 0) {
                ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                              "oc_instance \"%V\" has \"tenant\" and \"auth "
                              "oauth2\" but no oc_oauth_start location names "
                              "it, its tenants cannot consent in %s:%ui",
                              &oi->block, oi->file, oi->line);
            }

            continue;
        }

        if (oi->family && oi->create && oi->connect_file == NULL) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "oc_instance \"%V\" has \"tenant\" and \"create "
                          "on\" but no oc_connect location names it, its "
                          "tenants get no credentials to create instances "
                          "with in %s:%ui", &oi->block, oi->file, oi->line);
        }
    }

    return NGX_OK;
}
