
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_tenant.h"
#include "ngx_oc_status.h"


static ngx_oc_resolver_t *ngx_oc_resolve_start(ngx_oc_main_conf_t *omcf,
    ngx_oc_instance_t *oi, ngx_str_t *code, ngx_uint_t connect);
static void ngx_oc_none_found(ngx_oc_resolver_t *res);
static void ngx_oc_get_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static void ngx_oc_create_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static void ngx_oc_look_again(ngx_event_t *ev);
static ngx_int_t ngx_oc_surplus(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *winner);
static ngx_int_t ngx_oc_delete_next(ngx_oc_resolver_t *res);
static void ngx_oc_delete_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static void ngx_oc_settle(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci);
static ngx_int_t ngx_oc_applied(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci);
static ngx_int_t ngx_oc_retag(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci);
static ngx_int_t ngx_oc_publish(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci, u_char *digest, ngx_uint_t outcome);
static void ngx_oc_update_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static ngx_int_t ngx_oc_instance_path(ngx_oc_resolver_t *res, int64_t id,
    ngx_str_t *path);
static ngx_int_t ngx_oc_body(ngx_oc_resolver_t *res, ngx_uint_t create,
    ngx_str_t *body);


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
    ngx_str_t           path;
    ngx_pool_t         *pool;
    ngx_oc_shrec_t     *rec;
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

    rec = oi->rec;

    /*
     * a known instance whose token or state is in doubt: ask for it; no
     * lock: only the lease holder writes token, id and ident, and state
     * and check moving on a 401 or 403 elsewhere only change the call
     */

    if (code == NULL && !connect
        && (rec->state == NGX_OC_STALE || rec->state == NGX_OC_DISABLED
            || rec->check)
        && rec->id > 0
        && ngx_memcmp(rec->ident, oi->ident, NGX_OC_DIGEST_LEN) == 0)
    {
        if (rec->state == NGX_OC_STALE) {
            res->stale.len = rec->token_len;
            res->stale.data = ngx_pnalloc(pool, rec->token_len);
            if (res->stale.data == NULL) {
                goto failed;
            }

            ngx_memcpy(res->stale.data, rec->token, rec->token_len);
        }

        if (ngx_oc_instance_path(res, rec->id, &path) != NGX_OK
            || ngx_oc_call(res, NGX_OC_CALL_GET, "GET", &path, NULL,
                          ngx_oc_get_done)
               != NGX_OK)
        {
            goto failed;
        }

    } else if (ngx_oc_lookup(res, 0) != NGX_OK) {
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

    /* oauth2 instances are only created with a person's consent */

    if (oi->auth == NGX_OC_AUTH_OAUTH2 && res->code.len == 0) {
        ngx_oc_failed(res, NGX_OC_ANSWER_NONE, NULL,
                      "authorization required");
        return;
    }

    /* a tenant without an instance: asked again after the ttl */

    if (oi->family && !res->connect) {
        res->delay = oi->family->absent_ttl;
        ngx_oc_failed(res, NGX_OC_ANSWER_NONE, NULL,
                      "tenant not connected, no instance tagged "
                      "\"%V\" named \"%V\"",
                      (ngx_str_t *) oi->tags.elts, &oi->name);
        return;
    }

    if (!oi->create && !res->connect) {
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


void
ngx_oc_lookup_done(ngx_oc_resolver_t *res)
{
    ngx_uint_t              i;
    ngx_oc_api_instance_t  *oci, *winner;

    oci = res->matches.elts;
    res->listed = 1;

    if (res->connect == NGX_OC_CONNECT_DELETE) {
        ngx_oc_connect_delete(res);
        return;
    }

    if (res->matches.nelts == 0) {
        ngx_oc_none_found(res);
        return;
    }

    /* several instances with the name: the lowest id wins */

    winner = &oci[0];

    for (i = 1; i < res->matches.nelts; i++) {
        if (oci[i].id < winner->id) {
            winner = &oci[i];
        }
    }

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


/* the instance is known: reconcile its configuration, then publish */

static void
ngx_oc_settle(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci)
{
    ngx_str_t           path, body;
    ngx_oc_instance_t  *oi;

    oi = res->oi;

    if (oci->disabled) {
        res->kind = NGX_OC_CALL_VERDICT;

        ngx_oc_failed(res, NGX_OC_ANSWER_DISABLED, NULL,
                      "instance disabled in Open Connectors");
        return;
    }

    /* a grant code re-authorizes an instance that this did not create */

    /* found by GET /instances/{id}: no lookup made the identity tag */

    if (ngx_oc_ident(res) != NGX_OK) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
        return;
    }

    /* oc_connect writes the tenant's credentials to what it found */

    if ((res->code.len == 0 || oci->id == res->created)
        && (res->connect == 0 || oci->id == res->created)
        && ngx_oc_applied(res, oci) == NGX_OK)
    {
        /* found by a scan, or with the old digest: a tag write only */

        if (oci->id != res->created
            && (oci->ident.len != res->ident.len
                || ngx_strncmp(oci->ident.data, res->ident.data,
                               res->ident.len) != 0
                || oci->digest.len == 0))
        {
            if (ngx_oc_retag(res, oci) != NGX_OK) {
                ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                              "out of memory");
            }

            return;
        }

        if (ngx_oc_publish(res, oci, oi->digest,
                           oci->id == res->created ? NGX_OC_RESOLVED_CREATED
                           : res->created ? NGX_OC_RESOLVED_SETTLED
                           : NGX_OC_RESOLVED_FOUND)
            == NGX_OK)
        {
            ngx_oc_finish(res);
        }

        return;
    }

    if (ngx_oc_body(res, 0, &body) != NGX_OK
        || ngx_oc_instance_path(res, oci->id, &path) != NGX_OK
        || ngx_oc_call(res, NGX_OC_CALL_UPDATE, "PATCH", &path, &body,
                          ngx_oc_update_done)
           != NGX_OK)
    {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
    }
}


/*
 * NGX_OK: the instance has the declaration: its digest tag says so, or
 * the tag of versions before the keyed digest does (computed only then)
 */

static ngx_int_t
ngx_oc_applied(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci)
{
    u_char  legacy[NGX_OC_DIGEST_LEN];

    if (oci->digest.len == NGX_OC_DIGEST_LEN) {
        return ngx_memcmp(oci->digest.data, res->oi->digest,
                          NGX_OC_DIGEST_LEN) == 0 ? NGX_OK : NGX_DECLINED;
    }

    if (oci->legacy.len != NGX_OC_DIGEST_LEN) {
        return NGX_DECLINED;
    }

    ngx_oc_instance_digest_legacy(res->oi, legacy);

    if (ngx_memcmp(oci->legacy.data, legacy, NGX_OC_DIGEST_LEN) != 0) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "oc_instance \"%V\": instance %L carries the digest of "
                  "an older version for this declaration, re-tagging it",
                  &res->oi->block, oci->id);

    return NGX_OK;
}


/*
 * PATCH /instances/{id} with the tags alone: no configuration write; it
 * counts as a reconcile, whose failure keeps the token
 */

static ngx_int_t
ngx_oc_retag(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci)
{
    ngx_str_t  path, body;

    res->winner = *oci;

    if (ngx_oc_api_tags_body(res->pool, &res->oi->tags, &res->ident,
                             res->oi->digest, &body)
        != NGX_OK
        || ngx_oc_instance_path(res, oci->id, &path) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_oc_call(res, NGX_OC_CALL_UPDATE, "PATCH", &path, &body,
                       ngx_oc_retag_done);
}


void
ngx_oc_retag_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    if (h->status != 200) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h,
                      "tagging instance %L (the next lookup scans again)",
                      res->winner.id);
        return;
    }

    if (ngx_oc_publish(res, &res->winner, res->oi->digest,
                       res->created ? NGX_OC_RESOLVED_SETTLED
                                    : NGX_OC_RESOLVED_FOUND)
        == NGX_OK)
    {
        ngx_oc_finish(res);
    }
}


static void
ngx_oc_update_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_str_t              err;
    ngx_oc_api_instance_t  oci;

    /* a reconcile that fails keeps the token (see ngx_oc_shm.c's table) */

    if (h->status != 200) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h,
                      res->code.len ? "re-authorizing with PATCH /instances/%L"
                                    : "PATCH /instances/%L",
                      res->winner.id);
        return;
    }

    if (ngx_oc_api_parse_instance(res->pool, &h->response, &oci, &err)
        == NGX_OK)
    {
        if (oci.id != res->winner.id) {
            ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                          "PATCH /instances/%L answered with instance %L",
                          res->winner.id, oci.id);
            return;
        }

        if (oci.token.len) {
            res->winner.token = oci.token;
        }
    }

    if (ngx_oc_publish(res, &res->winner, res->oi->digest,
                       res->code.len ? NGX_OC_RESOLVED_REAUTHORIZED
                                     : NGX_OC_RESOLVED_UPDATED)
        == NGX_OK)
    {
        ngx_oc_finish(res);
    }
}


/* NGX_ERROR: the resolution failed and is over */

static ngx_int_t
ngx_oc_publish(ngx_oc_resolver_t *res, ngx_oc_api_instance_t *oci,
    u_char *digest, ngx_uint_t outcome)
{
    ngx_oc_answer_t     a;
    ngx_oc_instance_t  *oi;

    static const char  *actions[] = {
        "found", "created", "updated", "settled", "failed", "re-authorized"
    };

    oi = res->oi;
    res->outcome = outcome;

    if (ngx_oc_api_valid_token(&oci->token) != NGX_OK) {
        res->kind = NGX_OC_CALL_VERDICT;
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "instance %L has no usable token", oci->id);
        return NGX_ERROR;
    }

    if (res->stale.len == oci->token.len
        && ngx_memcmp(res->stale.data, oci->token.data, oci->token.len) == 0)
    {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "oc_instance \"%V\": instance %L keeps its token "
                      "after an upstream 401", &oi->block, oci->id);
    }

    ngx_memzero(&a, sizeof(ngx_oc_answer_t));
    a.call = NGX_OC_CALL_VERDICT;
    a.answer = NGX_OC_ANSWER_TOKEN;
    a.id = oci->id;
    a.token = &oci->token;
    a.digest = digest;
    a.doubt = res->doubt;
    a.listed = res->listed;

    (void) ngx_oc_shm_transition(res->omcf, oi, &a);

    ngx_oc_status_resolved(oi, outcome);

    if (outcome == NGX_OC_RESOLVED_SETTLED) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oc_instance \"%V\": settled a duplicate: instance %L "
                      "was first, using it instead of instance %L, "
                      "\"%V\", token %*s...",
                      &oi->block, oci->id, res->created, &oi->name,
                      (size_t) ngx_min(oci->token.len, 4), oci->token.data);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "oc_instance \"%V\": %s instance %L \"%V\", token %*s...",
                  &oi->block, actions[outcome], oci->id, &oi->name,
                  (size_t) ngx_min(oci->token.len, 4), oci->token.data);

    return NGX_OK;
}


void
ngx_oc_failed(ngx_oc_resolver_t *res, ngx_oc_answer_e answer,
    ngx_oc_http_t *h, const char *fmt, ...)
{
    u_char             *p, *last;
    va_list             args;
    ngx_str_t           error, message, request_id;
    ngx_uint_t          level, state;
    ngx_oc_answer_t     a;
    ngx_oc_instance_t  *oi;
    u_char              buf[NGX_OC_ERROR_MAX];

    oi = res->oi;
    res->outcome = NGX_OC_RESOLVED_FAILED;

    p = buf;
    last = buf + sizeof(buf);

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    ngx_str_null(&request_id);

    if (h) {
        ngx_oc_api_parse_error(res->pool, &h->response, &message,
                               &request_id);

        p = ngx_slprintf(p, last, " answered %l", h->status);

        if (message.len) {
            p = ngx_slprintf(p, last, ": %V", &message);
        }

        if (h->status == 401) {
            answer = NGX_OC_ANSWER_UNAUTHORIZED;

        } else if (h->status == 403) {
            answer = NGX_OC_ANSWER_FORBIDDEN;
        }
    }

    error.data = buf;
    error.len = p - buf;

    /* the blocks that waited on this one's scan fail alike */

    ngx_oc_scan_fail(res, answer, &error);

    ngx_memzero(&a, sizeof(ngx_oc_answer_t));
    a.call = res->kind;
    a.answer = answer;
    a.delay = res->delay;
    a.doubt = res->doubt;
    a.error = &error;
    a.request_id = &request_id;

    if (a.call == NGX_OC_CALL_UPDATE) {
        if (res->code.len) {
            a.call = NGX_OC_CALL_REAUTHORIZE;

        } else if (ngx_oc_api_valid_token(&res->winner.token) == NGX_OK) {
            /* the instance and its token are fine, its configuration old */
            a.id = res->winner.id;
            a.token = &res->winner.token;
        }
    }

    state = ngx_oc_shm_transition(res->omcf, oi, &a);
    ngx_oc_status_resolved(oi, NGX_OC_RESOLVED_FAILED);

    /*
     * an error when requests are refused, a warning when the token stays;
     * a customer who has not connected yet is no fault: info, as the
     * refusal's own line (a flood of unknown tenants fills no error log)
     */

    level = (state == NGX_OC_READY) ? NGX_LOG_WARN
            : (oi->family && answer == NGX_OC_ANSWER_NONE) ? NGX_LOG_INFO
            : NGX_LOG_ERR;

    if (request_id.len) {
        ngx_log_error(level, ngx_cycle->log, 0,
                      "oc_instance \"%V\": %V (requestId: %V)%s",
                      &oi->block, &error, &request_id,
                      state == NGX_OC_READY ? ", the token stays in use" : "");

    } else {
        ngx_log_error(level, ngx_cycle->log, 0,
                      "oc_instance \"%V\": %V%s", &oi->block, &error,
                      state == NGX_OC_READY ? ", the token stays in use" : "");
    }

    ngx_oc_finish(res);
}


void
ngx_oc_finish(ngx_oc_resolver_t *res)
{
    ngx_uint_t           connect, outcome;
    ngx_oc_instance_t   *oi;
    ngx_http_request_t  *r;

    oi = res->oi;

    if (oi->resolver != res) {
        return;
    }

    connect = res->connect;
    outcome = res->outcome;

    r = ngx_oc_resolve_abort(oi);

    ngx_oc_wake_waiters(oi);

    if (r && connect) {
        ngx_oc_connect_done(r, outcome);

    } else if (r) {
        ngx_oc_oauth_done(r);
    }
}


static ngx_int_t
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


static ngx_int_t
ngx_oc_body(ngx_oc_resolver_t *res, ngx_uint_t create, ngx_str_t *body)
{
    ngx_oc_instance_t  *oi;

    oi = res->oi;

    if (ngx_oc_ident(res) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_oc_api_instance_body(res->pool, &oi->element, &oi->name,
                                    &oi->tags, &res->ident,
                                    ngx_oc_auth_name(oi->auth),
                                    res->config ? res->config : &oi->config,
                                    oi->digest,
                                    res->code.len ? &res->code : NULL,
                                    create, body);
}
