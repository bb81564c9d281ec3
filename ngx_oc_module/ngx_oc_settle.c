
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_tenant.h"
#include "ngx_oc_status.h"


/*
 * The end of a resolution: the instance found is reconciled with the
 * declaration (a tag write or a PATCH), its token published to the zone,
 * or the failure recorded; then the waiting requests are woken.
 */


static ngx_int_t ngx_oc_applied(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci);
static ngx_int_t ngx_oc_retag(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci);
static ngx_int_t ngx_oc_publish(ngx_oc_resolver_t *res,
    ngx_oc_api_instance_t *oci, u_char *digest, ngx_uint_t outcome);
static void ngx_oc_update_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);


/* the instance is known: reconcile its configuration, then publish */

void
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

    /* a reconcile that fails keeps the token (ngx_oc_transition.c's table) */

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

ngx_int_t
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

