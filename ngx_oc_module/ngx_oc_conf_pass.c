
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"


/*
 * The oc_pass mistakes nginx -t can see once the locations are merged:
 * no proxy_pass, a plain http upstream off loopback, an OAuth location.
 */


/* where the oc_pass a location conf has, written or inherited, was */

typedef struct {
    ngx_oc_loc_conf_t          *olcf;
    u_char                     *file;
    ngx_uint_t                  line;
} ngx_oc_pass_ref_t;


static void ngx_oc_pass_check_proxy(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *conf, ngx_oc_pass_ref_t *ref);
static ngx_oc_pass_ref_t *ngx_oc_pass_ref(ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *olcf);
static ngx_uint_t ngx_oc_upstream_loopback(ngx_http_upstream_srv_conf_t *uscf);
static ngx_uint_t ngx_oc_loopback_addr(struct sockaddr *sa);


ngx_int_t
ngx_oc_pass_checks_init(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc)
{
    pc->proxy_index = NGX_CONF_UNSET;

    return ngx_array_init(&pc->passes, cf->pool, 4,
                          sizeof(ngx_oc_pass_ref_t));
}


/* an oc_pass NAME in the configuration, "olcf" its conf */

ngx_int_t
ngx_oc_pass_record(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *olcf)
{
    ngx_oc_pass_ref_t  *ref;

    ref = ngx_array_push(&pc->passes);
    if (ref == NULL) {
        return NGX_ERROR;
    }

    ref->olcf = olcf;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    return NGX_OK;
}


/*
 * mistakes nginx -t would otherwise let through: checked once a location
 * is merged, when its content handler and the proxy module's conf are
 * final; "written" is an oc_pass in the location itself
 */

ngx_int_t
ngx_oc_pass_check(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *conf, ngx_oc_loc_conf_t *prev, ngx_uint_t written)
{
    u_char                    *file;
    ngx_uint_t                 line;
    const char                *oauth;
    ngx_oc_pass_ref_t         *ref, *from;
    ngx_http_core_loc_conf_t  *clcf;

    ref = ngx_oc_pass_ref(pc, conf);

    if (ref == NULL) {
        from = written ? NULL : ngx_oc_pass_ref(pc, prev);

        if (from == NULL) {
            return NGX_OK;
        }

        /* inherited: nested locations find where it came from */

        file = from->file;
        line = from->line;

        /* may move the array "from" points into */

        ref = ngx_array_push(&pc->passes);
        if (ref == NULL) {
            return NGX_ERROR;
        }

        ref->olcf = conf;
        ref->file = file;
        ref->line = line;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the server's own conf, "if" and "limit_except" are not locations */

    if (clcf->name.len == 0 || clcf->noname) {
        return NGX_OK;
    }

    if (conf->oauth != NULL) {
        oauth = ngx_oc_oauth_directive(clcf);

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oc_pass \"%V\" applies to the %s location \"%V\" "
                      "and would refuse its requests until consent is "
                      "given, so consent is impossible, add \"oc_pass off;\" "
                      "to that location in %s:%ui", &conf->instance->block,
                      oauth, &clcf->name, ref->file, ref->line);
        return NGX_ERROR;
    }

    if (written && clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "oc_pass \"%V\" in location \"%V\" without "
                      "proxy_pass: the token is for a proxied request, "
                      "this location serves files or \"return\", add "
                      "\"proxy_pass URL;\" to that location in %s:%ui",
                      &conf->instance->block, &clcf->name,
                      ref->file, ref->line);
        return NGX_OK;
    }

    ngx_oc_pass_check_proxy(cf, pc, conf, ref);

    return NGX_OK;
}


/*
 * the Authorization header oc_pass sets holds both platform secrets: warn
 * when the location proxies it over plain http to a host not on loopback
 */

static void
ngx_oc_pass_check_proxy(ngx_conf_t *cf, ngx_oc_pass_checks_t *pc,
    ngx_oc_loc_conf_t *conf, ngx_oc_pass_ref_t *ref)
{
    ngx_uint_t                     i;
    ngx_module_t                 **modules;
    ngx_http_upstream_conf_t      *ucf;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (pc->proxy_index == NGX_CONF_UNSET) {
        pc->proxy_index = -1;
        modules = cf->cycle->modules;

        for (i = 0; modules[i]; i++) {
            if (modules[i]->type == NGX_HTTP_MODULE
                && ngx_strcmp(modules[i]->name, "ngx_http_proxy_module") == 0)
            {
                pc->proxy_index = modules[i]->ctx_index;
                break;
            }
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (pc->proxy_index == -1 || clcf->handler == NULL) {
        return;
    }

    /*
     * the proxy module's loc conf is private, but it begins with its
     * ngx_http_upstream_conf_t in every nginx version; "ssl" is set once
     * merged for an https:// proxy_pass, "upstream" is NULL when the URL
     * has variables and cannot be judged now
     */

    ucf = clcf->loc_conf[pc->proxy_index];
    uscf = ucf->upstream;

#if (NGX_HTTP_SSL || NGX_COMPAT)
    if (ucf->ssl != NULL) {
        return;
    }
#endif

    if (uscf == NULL || ngx_oc_upstream_loopback(uscf)) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "oc_pass \"%V\" in location \"%V\" proxies over plain "
                  "http to \"%V\", which is not loopback: the Open "
                  "Connectors secrets and the instance token cross the "
                  "network unencrypted, use \"proxy_pass https://...\" in "
                  "%s:%ui", &conf->instance->block, &clcf->name, &uscf->host,
                  ref->file, ref->line);
}


static ngx_oc_pass_ref_t *
ngx_oc_pass_ref(ngx_oc_pass_checks_t *pc, ngx_oc_loc_conf_t *olcf)
{
    ngx_uint_t          i;
    ngx_oc_pass_ref_t  *ref;

    ref = pc->passes.elts;

    for (i = 0; i < pc->passes.nelts; i++) {
        if (ref[i].olcf == olcf) {
            return &ref[i];
        }
    }

    return NULL;
}



/* localhost, 127.x.x.x or [::1], then the end, a port or a path */

ngx_uint_t
ngx_oc_loopback_host(u_char *host, u_char *last)
{
    u_char  *p;
    size_t   len;

    if (last - host >= 5 && ngx_strncmp(host, "[::1]", 5) == 0) {
        p = host + 5;
        return p == last || *p == ':' || *p == '/';
    }

    for (p = host; p < last && *p != ':' && *p != '/'; p++) {
        /* void */
    }

    len = p - host;

    if (len == sizeof("localhost") - 1
        && ngx_strncasecmp(host, (u_char *) "localhost", len) == 0)
    {
        return 1;
    }

    return len > 4 && ngx_strncmp(host, "127.", 4) == 0
           && ngx_inet_addr(host, len) != INADDR_NONE;
}


/* every address of every server of the upstream is on this host */

static ngx_uint_t
ngx_oc_upstream_loopback(ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_uint_t                   i, j;
    ngx_http_upstream_server_t  *us;

    /* a host name with several addresses is resolved later */

    if (uscf->servers == NULL || uscf->servers->nelts == 0) {
        return ngx_oc_loopback_host(uscf->host.data,
                                    uscf->host.data + uscf->host.len);
    }

    us = uscf->servers->elts;

    for (i = 0; i < uscf->servers->nelts; i++) {

        if (us[i].naddrs == 0
            && !ngx_oc_loopback_host(us[i].name.data,
                                     us[i].name.data + us[i].name.len))
        {
            return 0;
        }

        for (j = 0; j < us[i].naddrs; j++) {
            if (!ngx_oc_loopback_addr(us[i].addrs[j].sockaddr)) {
                return 0;
            }
        }
    }

    return 1;
}


static ngx_uint_t
ngx_oc_loopback_addr(struct sockaddr *sa)
{
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (sa->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)
               || (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)
                   && sin6->sin6_addr.s6_addr[12] == 127);
#endif

#if (NGX_HAVE_UNIX_DOMAIN)
    case AF_UNIX:
        return 1;
#endif

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;

    default:
        return 0;
    }
}
