
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_tenant.h"


static ngx_oc_resolver_t *ngx_oc_resolve_start(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_str_t *code, ngx_uint_t connect);
static ngx_int_t ngx_oc_resolve_first(ngx_oc_resolver_t *res);
static void ngx_oc_none_found(ngx_oc_resolver_t *res);
static void ngx_oc_get_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static void ngx_oc_create_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static void ngx_oc_look_again(ngx_event_t *ev);
static ngx_int_t ngx_oc_surplus(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *winner);
static ngx_int_t ngx_oc_delete_next(ngx_oc_resolver_t *res);
static void ngx_oc_delete_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);


/*
 * NGX_OK: a resolution of the instance is under way, in this worker or
 * another; NGX_DECLINED: none is, and none is due now
 */

ngx_int_t
ngx_oc_resolve(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi)
{
    if (oi->resolver) {
        return NGX_OK;
    }

    /*
     * a worker that a reload retired never starts one: its requests wait
     * for what the new workers find (ngx_oc_tick_handler() polls)
     */

    if (ngx_exiting) {
        return (oi->state == NGX_OC_ABSENT || oi->state == NGX_OC_STALE
                || ngx_oc_shm_lease_held(omcf, oi))
               ? NGX_OK : NGX_DECLINED;
    }

    switch (ngx_oc_shm_try_lease(omcf, oi, 0)) {

    case NGX_OK:
        return ngx_oc_resolve_start(omcf, oi, NULL, 0) ? NGX_OK
                                                       : NGX_DECLINED;

    case NGX_BUSY:
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


/*
 * an OAuth2 grant code to exchange: it takes over from any resolution of
 * the instance in this worker; NGX_BUSY while another worker resolves
 */

ngx_int_t
ngx_oc_resolve_code(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_str_t *code, ngx_http_request_t *r, ngx_oc_resolver_t **resp)
{
    ngx_oc_resolver_t   *res;
    ngx_http_request_t  *other;

    other = ngx_oc_resolve_abort(oi);

    if (other) {
        ngx_oc_oauth_done(other);
    }

    switch (ngx_oc_shm_try_lease(omcf, oi, 1)) {

    case NGX_OK:
        break;

    case NGX_BUSY:
        return NGX_BUSY;

    default:
        return NGX_ERROR;
    }

    res = ngx_oc_resolve_start(omcf, oi, code, 0);
    if (res == NULL) {
        return NGX_ERROR;
    }

    res->request = r;
    *resp = res;

    return NGX_OK;
}


/*
 * oc_connect, with the tenant's lease taken: a lookup, then a create, an
 * update or a delete (ngx_oc_tenant_connect.c)
 */

ngx_oc_resolver_t *
ngx_oc_resolve_connect(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_uint_t connect, ngx_http_request_t *r)
{
    ngx_oc_resolver_t  *res;

    res = ngx_oc_resolve_start(omcf, oi, NULL, connect);

    if (res != NULL) {
        res->request = r;
    }

    return res;
}


/* the request that waits for the exchange went away */

void
ngx_oc_resolve_detach(ngx_oc_resolver_t *res)
{
    res->request = NULL;
}


/* stops this worker's resolution; the request of a code exchange remains */

ngx_http_request_t *
ngx_oc_resolve_abort(ngx_oc_instance_t *oi)
{
    ngx_oc_resolver_t   *res;
    ngx_http_request_t  *r;

    res = oi->resolver;

    if (res == NULL) {
        return NULL;
    }

    oi->resolver = NULL;
    r = res->request;

    ngx_oc_scan_leave(res);

    if (res->retry.timer_set) {
        ngx_del_timer(&res->retry);
    }

    /* the transfer, if any, ends with the pool */

    ngx_destroy_pool(res->pool);

    return r;
}


static ngx_oc_resolver_t *
ngx_oc_resolve_start(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    ngx_str_t *code, ngx_uint_t connect)
{
    ngx_pool_t         *pool;
    ngx_oc_resolver_t  *res;

    res = NULL;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    res = ngx_pcalloc(pool, sizeof(ngx_oc_resolver_t));
    if (res == NULL) {
        goto failed;
    }

    res->omcf = omcf;
    res->oi = oi;
    res->pool = pool;
    res->connect = connect;

    if (code) {
        res->code.data = ngx_pstrdup(pool, code);
        if (res->code.data == NULL) {
            goto failed;
        }

        res->code.len = code->len;
    }

    if (ngx_array_init(&res->matches, pool, 4, sizeof(ngx_oc_api_instance_t))
        != NGX_OK
        || ngx_array_init(&res->surplus, pool, 2, sizeof(int64_t)) != NGX_OK)
    {
        goto failed;
    }

    res->http = ngx_oc_http_create(pool, ngx_cycle->log);
    if (res->http == NULL) {
        goto failed;
    }

    oi->resolver = res;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "oc_instance \"%V\": resolving", &oi->block);

    if (ngx_oc_resolve_first(res) != NGX_OK) {
        goto failed;
    }

    return res;

failed:

    oi->resolver = NULL;

    if (pool) {
        ngx_destroy_pool(pool);
    }

    ngx_oc_shm_release(omcf, oi);

    return NULL;
}


/*
 * the first call: a known instance whose token or state is in doubt is
 * asked for, by id; otherwise a lookup
 */

static ngx_int_t
ngx_oc_resolve_first(ngx_oc_resolver_t *res)
{
    ngx_str_t           path;
    ngx_oc_shrec_t     *rec;
    ngx_oc_instance_t  *oi;

    oi = res->oi;
    rec = oi->rec;

    /*
     * read without the lock: token, id and ident change only under the
     * lease, which this worker holds; others write the record too (a
     * header filter's 401 or 403 moves state and check, the master's
     * reload the newest declaration and the back-off), which only changes
     * the call made
     */

    if (res->code.len || res->connect
        || !(rec->state == NGX_OC_STALE || rec->state == NGX_OC_DISABLED
             || rec->check)
        || rec->id <= 0
        || ngx_memcmp(rec->ident, oi->ident, NGX_OC_DIGEST_LEN) != 0)
    {
        return ngx_oc_lookup(res, 0);
    }

    if (rec->state == NGX_OC_STALE) {
        res->stale.len = rec->token_len;
        res->stale.data = ngx_pnalloc(res->pool, rec->token_len);
        if (res->stale.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(res->stale.data, rec->token, rec->token_len);
    }

    if (ngx_oc_instance_path(res, rec->id, &path) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_oc_call(res, NGX_OC_CALL_GET, "GET", &path, NULL,
                       ngx_oc_get_done);
}


/* the lookup is over: the instances that matched are in res->matches */

/* no instance matches: create one, or say why not */

static void
ngx_oc_none_found(ngx_oc_resolver_t *res)
{
    ngx_str_t           path, body;
    ngx_oc_instance_t  *oi;

    oi = res->oi;

    res->kind = NGX_OC_CALL_VERDICT;

    if (res->created) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "instance %L created but not listed",
                      res->created);
        return;
    }

    if (res->doubt) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "POST /instances got no answer and no instance "
                      "has appeared since");
        return;
    }

    /*
     * a tenant without an instance: asked again after the ttl; it gets
     * one from oc_connect, or from a consent (oauth2)
     */

    if (oi->family && !res->connect && res->code.len == 0) {
        res->delay = oi->family->absent_ttl;
        ngx_oc_failed(res, NGX_OC_ANSWER_NONE, NULL,
                      "tenant not connected, no instance tagged "
                      "\"%V\" named \"%V\"",
                      (ngx_str_t *) oi->tags.elts, &oi->name);
        return;
    }

    /* oauth2 instances are only created with a person's consent */

    if (oi->auth == NGX_OC_AUTH_OAUTH2 && res->code.len == 0) {
        ngx_oc_failed(res, NGX_OC_ANSWER_NONE, NULL,
                      "authorization required");
        return;
    }

    if (!oi->create && !res->connect && oi->family == NULL) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "no instance named \"%V\" in Open Connectors "
                      "and \"create\" is off", &oi->name);
        return;
    }

    if (ngx_oc_body(res, 1, &body) != NGX_OK) {
        goto nomem;
    }

    ngx_str_set(&path, "/instances");

    if (ngx_oc_call(res, NGX_OC_CALL_CREATE, "POST", &path, &body,
                    ngx_oc_create_done)
        != NGX_OK)
    {
        goto nomem;
    }

    return;

nomem:

    ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
}


/* several instances with the name: the lowest id wins; one at least */

ngx_oc_api_instance_t *
ngx_oc_lowest(ngx_array_t *matches)
{
    ngx_uint_t              i;
    ngx_oc_api_instance_t  *oci, *winner;

    oci = matches->elts;
    winner = &oci[0];

    for (i = 1; i < matches->nelts; i++) {
        if (oci[i].id < winner->id) {
            winner = &oci[i];
        }
    }

    return winner;
}


void
ngx_oc_lookup_done(ngx_oc_resolver_t *res)
{
    ngx_oc_api_instance_t  *winner;

    res->listed = 1;

    if (res->connect == NGX_OC_CONNECT_DELETE) {
        ngx_oc_connect_delete(res);
        return;
    }

    if (res->matches.nelts == 0) {
        ngx_oc_none_found(res);
        return;
    }

    winner = ngx_oc_lowest(&res->matches);
    res->winner = *winner;

    if (ngx_oc_surplus(res, winner) != NGX_OK) {
        goto nomem;
    }

    if (res->surplus.nelts) {
        if (ngx_oc_delete_next(res) != NGX_OK) {
            goto nomem;
        }

        return;
    }

    ngx_oc_settle(res, &res->winner);
    return;

nomem:

    ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
}


/*
 * the other instances of the name that nginx made: the one this
 * resolution created, and those with this declaration's digest tag
 * (a create that got no answer and landed later, another host's)
 */

static ngx_int_t
ngx_oc_surplus(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *winner)
{
    int64_t                *id;
    ngx_uint_t              i;
    ngx_oc_instance_t      *oi;
    ngx_oc_api_instance_t  *oci;

    oi = res->oi;
    oci = res->matches.elts;

    for (i = 0; i < res->matches.nelts; i++) {
        if (oci[i].id == winner->id) {
            continue;
        }

        if (oci[i].id != res->created
            && (oci[i].digest.len != NGX_OC_DIGEST_LEN
                || ngx_memcmp(oci[i].digest.data, oi->digest,
                              NGX_OC_DIGEST_LEN)
                   != 0))
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "oc_instance \"%V\": duplicate instance %L "
                          "named \"%V\", using instance %L",
                          &oi->block, oci[i].id, &oi->name, winner->id);
            continue;
        }

        id = ngx_array_push(&res->surplus);
        if (id == NULL) {
            return NGX_ERROR;
        }

        *id = oci[i].id;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_oc_delete_next(ngx_oc_resolver_t *res)
{
    int64_t    *id;
    ngx_str_t   path;

    id = res->surplus.elts;

    if (ngx_oc_instance_path(res, id[res->deleted], &path) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_oc_call(res, NGX_OC_CALL_DELETE, "DELETE", &path, NULL,
                       ngx_oc_delete_done);
}


static void
ngx_oc_get_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_str_t              err;
    ngx_oc_api_instance_t  oci;

    if (h->status == 404) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oc_instance \"%V\": instance %L no longer exists",
                      &res->oi->block, res->oi->rec->id);

        /* it carried the identity tag: a search for it, not a scan */

        if (ngx_oc_lookup(res, 1) != NGX_OK) {
            ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
        }

        return;
    }

    if (h->status != 200) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h, "GET /instances/{id}");
        return;
    }

    if (ngx_oc_api_parse_instance(res->pool, &h->response, &oci, &err)
        != NGX_OK)
    {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "GET /instances/{id}: %V", &err);
        return;
    }

    res->winner = oci;

    if (res->oi->auth == NGX_OC_AUTH_OAUTH2
        && res->stale.len == oci.token.len
        && ngx_memcmp(res->stale.data, oci.token.data, oci.token.len) == 0)
    {
        /*
         * Open Connectors keeps one OAuth token per Pipedrive company,
         * user and app: another instance may have been authorized
         */

        res->kind = NGX_OC_CALL_VERDICT;

        ngx_oc_failed(res, NGX_OC_ANSWER_REVOKED, NULL,
                      "the upstream rejected the token of instance %L: "
                      "re-authorization needed (was another instance "
                      "authorized for the same Pipedrive app?)", oci.id);
        return;
    }

    ngx_oc_settle(res, &oci);
}


static void
ngx_oc_create_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_str_t              err;
    ngx_oc_api_instance_t  oci;

    if (h->status != 200 && h->status != 201) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h, "POST /instances");
        return;
    }

    if (ngx_oc_api_parse_instance(res->pool, &h->response, &oci, &err)
        != NGX_OK)
    {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "POST /instances: %V",
                      &err);
        return;
    }

    res->created = oci.id;

    /*
     * look again: another host may have created one at the same time;
     * every instance nginx creates carries the identity tag
     */

    if (ngx_oc_lookup(res, 1) != NGX_OK) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
    }
}


static void
ngx_oc_delete_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    int64_t  *id;

    id = res->surplus.elts;

    if (h->status == 200 || h->status == 204 || h->status == 404) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oc_instance \"%V\": deleted surplus instance %L "
                      "that nginx made, instance %L was first",
                      &res->oi->block, id[res->deleted], res->winner.id);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "oc_instance \"%V\": deleting surplus instance %L "
                      "failed with status %l",
                      &res->oi->block, id[res->deleted], h->status);
    }

    if (++res->deleted < res->surplus.nelts) {
        if (ngx_oc_delete_next(res) != NGX_OK) {
            ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
        }

        return;
    }

    /* res->created stays: ngx_oc_settle() reports the duplicate settled */

    ngx_oc_settle(res, &res->winner);
}


/*
 * POST /instances got no answer: Open Connectors may still create the
 * instance.  Never POST again blindly: look again once a slow create had
 * time to finish, and have a later lookup delete a surplus one.
 */

void
ngx_oc_create_lost(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_msec_t  delay;

    delay = 2 * res->omcf->api_timeout;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "oc_instance \"%V\": POST /instances failed: %s, the "
                  "instance may still be created: looking again in %M ms",
                  &res->oi->block, h->error, delay);

    res->doubt = 1;
    res->matches.nelts = 0;
    res->pages = 0;

    res->retry.handler = ngx_oc_look_again;
    ngx_oc_shm_renew_lease(res->omcf, res->oi, delay);
    ngx_add_timer(&res->retry, delay);
}


static void
ngx_oc_look_again(ngx_event_t *ev)
{
    ngx_oc_resolver_t  *res = ev->data;

    /* an instance this POST made carries the identity tag */

    if (ngx_oc_lookup(res, 1) != NGX_OK) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
    }
}


ngx_int_t
ngx_oc_instance_path(ngx_oc_resolver_t *res, int64_t id, ngx_str_t *path)
{
    path->data = ngx_pnalloc(res->pool,
                             sizeof("/instances/") - 1 + NGX_INT64_LEN);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    path->len = ngx_sprintf(path->data, "/instances/%L", id) - path->data;

    return NGX_OK;
}

