
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <cjson/cJSON.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_status.h"
#include "ngx_oc_tenant.h"


/*
 * oc_connect: the application connects the request's tenant.  POST (or
 * PUT) with the credentials of the family's auth type creates the
 * tenant's instance, or updates the one there is; GET shows the
 * tenant's state; DELETE deletes its instance.  Each runs as the
 * tenant's resolution, under its lease: single flight across workers.
 */


#define NGX_OC_CONNECT_RETRY    20          /* ms, while another resolves */
#define NGX_OC_CONNECT_VALUE    1024


typedef struct {
    ngx_oc_instance_t          *oi;         /* the tenant's */
    ngx_oc_resolver_t          *res;
    ngx_array_t                *config;     /* the credentials, wiped */
    ngx_uint_t                  mode;
    ngx_msec_t                  deadline;
    ngx_event_t                 retry;
} ngx_oc_connect_ctx_t;


static ngx_int_t ngx_oc_connect_handler(ngx_http_request_t *r);
static ngx_int_t ngx_oc_connect_refuse(ngx_http_request_t *r,
    ngx_int_t status);
static void ngx_oc_connect_body(ngx_http_request_t *r);
static ngx_int_t ngx_oc_connect_parse(ngx_http_request_t *r,
    ngx_oc_connect_ctx_t *ctx);
static ngx_int_t ngx_oc_connect_keys(ngx_http_request_t *r,
    ngx_oc_connect_ctx_t *ctx, cJSON *json);
static void ngx_oc_connect_wipe_json(cJSON *json);
static void ngx_oc_connect_start(ngx_http_request_t *r);
static void ngx_oc_connect_retry(ngx_event_t *ev);
static void ngx_oc_connect_later(ngx_http_request_t *r,
    ngx_oc_connect_ctx_t *ctx);
static ngx_int_t ngx_oc_connect_copy(ngx_oc_connect_ctx_t *ctx,
    ngx_oc_resolver_t *res);
static void ngx_oc_connect_wipe(void *data);
static void ngx_oc_connect_cleanup(void *data);
static void ngx_oc_connect_deleted(ngx_oc_resolver_t *res,
    ngx_oc_http_t *h);
static void ngx_oc_connect_forget(ngx_oc_resolver_t *res, int64_t id);
static void ngx_oc_connect_answer(ngx_http_request_t *r, ngx_uint_t status,
    char *error);
static void ngx_oc_connect_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *error);
static void ngx_oc_connect_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text);


char *
ngx_oc_connect(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_loc_conf_t *olcf = conf;

    ngx_str_t                 *value;
    ngx_oc_instance_t         *oi;
    ngx_oc_main_conf_t        *omcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->connect != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs the name of an oc_instance with \"tenant\"";
    }

    /* the block may come later: postconfiguration checks it is a family */

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    oi = ngx_oc_instance_add(cf, omcf, &value[1]);
    if (oi == NULL) {
        return NGX_CONF_ERROR;
    }

    if (oi->connect_file == NULL) {
        oi->connect_file = cf->conf_file->file.name.data;
        oi->connect_line = cf->conf_file->line;
    }

    olcf->connect = oi;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_oc_connect_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_oc_connect_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc, status;
    ngx_uint_t             mode;
    ngx_oc_tenant_t       *t;
    ngx_oc_loc_conf_t     *olcf;
    ngx_pool_cleanup_t    *cln;
    ngx_oc_main_conf_t    *omcf;
    ngx_oc_connect_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        mode = NGX_OC_CONNECT_NONE;

    } else if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)) {
        mode = NGX_OC_CONNECT_PUT;

    } else if (r->method & NGX_HTTP_DELETE) {
        mode = NGX_OC_CONNECT_DELETE;

    } else {
        return NGX_HTTP_NOT_ALLOWED;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    /* an oauth2 tenant has no keys to send: it connects by consent */

    if (mode == NGX_OC_CONNECT_PUT
        && olcf->connect->auth == NGX_OC_AUTH_OAUTH2)
    {
        return ngx_oc_oauth_tenant_connect(r, olcf->connect);
    }

    t = ngx_oc_tenant_get(r, omcf, olcf->connect, &status);

    if (t == NULL) {
        return ngx_oc_connect_refuse(r, status);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_oc_connect_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t->refs++;

    ctx->oi = &t->oi;
    ctx->mode = mode;
    ctx->deadline = ngx_current_msec + omcf->wait_timeout;
    ctx->retry.handler = ngx_oc_connect_retry;
    ctx->retry.data = r;
    ctx->retry.log = r->connection->log;

    cln->handler = ngx_oc_connect_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_oc_module);

    if (mode == NGX_OC_CONNECT_PUT) {
        rc = ngx_http_read_client_request_body(r, ngx_oc_connect_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    ngx_oc_connect_start(r);

    return NGX_DONE;
}


/* an invalid tenant: 400, sent and finalized here */

static ngx_int_t
ngx_oc_connect_refuse(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_int_t  rc;

    if (status != NGX_HTTP_BAD_REQUEST) {
        return status;
    }

    /* it finalizes, and so does the content phase after it */

    r->main->count++;
    rc = ngx_oc_tenant_refuse(r, NULL, status);

    if (rc != NGX_DONE) {
        r->main->count--;
    }

    return rc;
}


static void
ngx_oc_connect_body(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_oc_connect_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);

    rc = ngx_oc_connect_parse(r, ctx);

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            ngx_oc_connect_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL);
        }

        return;
    }

    ngx_oc_connect_start(r);
}


/* the body, in memory, copied once and wiped everywhere after parsing */

static ngx_int_t
ngx_oc_connect_parse(ngx_http_request_t *r, ngx_oc_connect_ctx_t *ctx)
{
    u_char       *p, *data;
    size_t        len;
    cJSON        *json;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_oc_connect_answer(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "the body must fit client_body_buffer_size");
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    data = ngx_pnalloc(r->pool, len + 1);
    if (data == NULL) {
        return NGX_ERROR;
    }

    p = data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
        ngx_explicit_memzero(b->pos, b->last - b->pos);
    }

    json = cJSON_ParseWithLength((const char *) data, p - data);

    ngx_explicit_memzero(data, len);

    if (json == NULL || !cJSON_IsObject(json)) {
        if (json) {
            ngx_oc_connect_wipe_json(json);
        }

        ngx_oc_connect_answer(r, NGX_HTTP_BAD_REQUEST,
                              "the body must be a JSON object of the "
                              "configuration keys");
        return NGX_DECLINED;
    }

    rc = ngx_oc_connect_keys(r, ctx, json);

    ngx_oc_connect_wipe_json(json);

    return rc;
}


static ngx_int_t
ngx_oc_connect_keys(ngx_http_request_t *r, ngx_oc_connect_ctx_t *ctx,
    cJSON *json)
{
    u_char              *p, *last, buf[256];
    size_t               len;
    cJSON               *item;
    ngx_str_t           *keys, *key, text;
    ngx_uint_t           n;
    ngx_oc_config_kv_t  *kv, *shared;
    ngx_oc_instance_t   *oi;

    oi = ctx->oi;
    keys = ngx_oc_conf_required_keys(oi);

    p = buf;
    last = buf + sizeof(buf);
    n = 0;

    for (key = keys; key && key->len; key++) {
        item = cJSON_GetObjectItemCaseSensitive(json, (char *) key->data);

        if (!cJSON_IsString(item) || item->valuestring[0] == '\0'
            || ngx_strlen(item->valuestring) > NGX_OC_CONNECT_VALUE)
        {
            p = ngx_slprintf(p, last, "%s\"%V\"", n++ ? ", " : "", key);
        }
    }

    if (n) {
        p = ngx_slprintf(p, last, " %s missing or empty",
                         n == 1 ? "is" : "are");
        text.data = buf;
        text.len = p - buf;
        ngx_oc_connect_error(r, NGX_HTTP_BAD_REQUEST, &text);
        return NGX_DECLINED;
    }

    for (item = json->child; item; item = item->next) {
        for (key = keys; key && key->len; key++) {
            if (ngx_strcmp(item->string, key->data) == 0) {
                break;
            }
        }

        if (key == NULL || key->len == 0) {
            ngx_oc_connect_answer(r, NGX_HTTP_BAD_REQUEST,
                                  "the body has a key that the auth type "
                                  "does not take");
            return NGX_DECLINED;
        }
    }

    shared = oi->config.elts;

    ctx->config = ngx_array_create(r->pool, oi->config.nelts + 2,
                                   sizeof(ngx_oc_config_kv_t));
    if (ctx->config == NULL) {
        return NGX_ERROR;
    }

    for (n = 0; n < oi->config.nelts; n++) {
        kv = ngx_array_push(ctx->config);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        /* a copy: every value of the array is wiped alike */

        kv->key = shared[n].key;
        kv->value.len = shared[n].value.len;
        kv->value.data = ngx_pstrdup(r->pool, &shared[n].value);
        if (kv->value.data == NULL) {
            return NGX_ERROR;
        }
    }

    for (key = keys; key->len; key++) {
        item = cJSON_GetObjectItemCaseSensitive(json, (char *) key->data);

        kv = ngx_array_push(ctx->config);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        len = ngx_strlen(item->valuestring);

        kv->key = *key;
        kv->value.data = ngx_pnalloc(r->pool, len);
        if (kv->value.data == NULL) {
            return NGX_ERROR;
        }

        kv->value.len = len;
        ngx_memcpy(kv->value.data, item->valuestring, len);
    }

    return NGX_OK;
}


static void
ngx_oc_connect_wipe_json(cJSON *json)
{
    cJSON  *item;

    for (item = json->child; item; item = item->next) {
        if (cJSON_IsString(item) && item->valuestring) {
            ngx_explicit_memzero(item->valuestring,
                                 ngx_strlen(item->valuestring));
        }
    }

    cJSON_Delete(json);
}


/*
 * GET: the state, after a lookup if none was made; POST and DELETE: the
 * tenant's lease, or a wait while another request resolves the tenant
 */

static void
ngx_oc_connect_start(ngx_http_request_t *r)
{
    ngx_uint_t             state;
    ngx_oc_instance_t     *oi;
    ngx_oc_resolver_t     *res;
    ngx_oc_main_conf_t    *omcf;
    ngx_oc_connect_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    oi = ctx->oi;

    if (ngx_oc_tenant_recheck(omcf, oi) != NGX_OK) {
        ngx_oc_connect_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "no room for the tenant in oc_zone");
        return;
    }

    if ((ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0) {
        ngx_oc_connect_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "timed out waiting for the tenant's "
                              "resolution");
        return;
    }

    if (ctx->mode == NGX_OC_CONNECT_NONE) {
        state = ngx_oc_shm_refresh(omcf, oi);

        if ((state == NGX_OC_ABSENT || state == NGX_OC_STALE
             || oi->resolver != NULL)
            && ngx_oc_resolve(omcf, oi) == NGX_OK)
        {
            ngx_oc_connect_later(r, ctx);
            return;
        }

        ngx_oc_connect_answer(r, NGX_HTTP_OK, NULL);
        return;
    }

    if (oi->resolver != NULL) {
        ngx_oc_connect_later(r, ctx);
        return;
    }

    switch (ngx_oc_shm_try_lease(omcf, oi, 1)) {

    case NGX_OK:
        break;

    case NGX_BUSY:
        ngx_oc_connect_later(r, ctx);
        return;

    default:
        ngx_oc_connect_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL);
        return;
    }

    res = ngx_oc_resolve_connect(omcf, oi, ctx->mode, r);

    if (res == NULL || ngx_oc_connect_copy(ctx, res) != NGX_OK) {
        if (res) {
            ngx_oc_resolve_detach(res);
        }

        ngx_oc_connect_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL);
        return;
    }

    ctx->res = res;
}


static void
ngx_oc_connect_retry(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_oc_connect_start(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_oc_connect_later(ngx_http_request_t *r, ngx_oc_connect_ctx_t *ctx)
{
    ngx_oc_poll();
    ngx_add_timer(&ctx->retry, NGX_OC_CONNECT_RETRY);
}


/* the credentials go with the resolution, wiped when it ends */

static ngx_int_t
ngx_oc_connect_copy(ngx_oc_connect_ctx_t *ctx, ngx_oc_resolver_t *res)
{
    ngx_uint_t           i;
    ngx_array_t         *config;
    ngx_pool_cleanup_t  *cln;
    ngx_oc_config_kv_t  *src, *kv;

    if (ctx->config == NULL) {
        return NGX_OK;
    }

    config = ngx_array_create(res->pool, ctx->config->nelts,
                              sizeof(ngx_oc_config_kv_t));
    if (config == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(res->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_oc_connect_wipe;
    cln->data = config;

    src = ctx->config->elts;

    for (i = 0; i < ctx->config->nelts; i++) {
        kv = ngx_array_push(config);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key = src[i].key;
        kv->value.len = src[i].value.len;
        kv->value.data = ngx_pnalloc(res->pool, src[i].value.len);
        if (kv->value.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(kv->value.data, src[i].value.data, src[i].value.len);
    }

    res->config = config;

    ngx_oc_connect_wipe(ctx->config);
    ctx->config = NULL;

    return NGX_OK;
}


static void
ngx_oc_connect_wipe(void *data)
{
    ngx_array_t *config = data;

    ngx_uint_t           i;
    ngx_oc_config_kv_t  *kv;

    kv = config->elts;

    for (i = 0; i < config->nelts; i++) {
        ngx_explicit_memzero(kv[i].value.data, kv[i].value.len);
    }
}


static void
ngx_oc_connect_cleanup(void *data)
{
    ngx_oc_connect_ctx_t  *ctx = data;

    if (ctx->res) {
        ngx_oc_resolve_detach(ctx->res);
        ctx->res = NULL;
    }

    if (ctx->retry.timer_set) {
        ngx_del_timer(&ctx->retry);
    }

    if (ctx->config) {
        ngx_oc_connect_wipe(ctx->config);
        ctx->config = NULL;
    }

    ngx_oc_tenant_unref(ctx->oi);
}


/* the resolution of oc_connect is over */

void
ngx_oc_connect_done(ngx_http_request_t *r, ngx_uint_t outcome)
{
    ngx_str_t              error, request_id;
    ngx_connection_t      *c;
    ngx_oc_main_conf_t    *omcf;
    ngx_oc_connect_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    ctx->res = NULL;

    (void) ngx_oc_shm_refresh(omcf, ctx->oi);

    if (outcome == NGX_OC_RESOLVED_FAILED) {
        ngx_oc_shm_error(omcf, ctx->oi, r->pool, &error, &request_id);

        if (error.len == 0) {
            ngx_str_set(&error, "the Open Connectors call failed");
        }

        ngx_oc_connect_error(r, NGX_HTTP_BAD_GATEWAY, &error);

    } else if (ctx->mode == NGX_OC_CONNECT_DELETE) {
        ngx_oc_connect_answer(r, outcome == NGX_OC_RESOLVED_N
                                 ? NGX_HTTP_NOT_FOUND : NGX_HTTP_OK, NULL);

    } else {
        ngx_oc_connect_answer(r, outcome == NGX_OC_RESOLVED_CREATED
                                 ? NGX_HTTP_CREATED : NGX_HTTP_OK, NULL);
    }

    ngx_http_run_posted_requests(c);
}


/* DELETE: the lookup is over; the lowest id is the tenant's instance */

void
ngx_oc_connect_delete(ngx_oc_resolver_t *res)
{
    ngx_str_t  path;

    if (res->matches.nelts == 0) {
        ngx_oc_connect_forget(res, 0);
        return;
    }

    res->winner = *ngx_oc_lowest(&res->matches);

    if (ngx_oc_instance_path(res, res->winner.id, &path) != NGX_OK) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
        return;
    }

    if (ngx_oc_call(res, NGX_OC_CALL_DELETE, "DELETE", &path, NULL,
                    ngx_oc_connect_deleted)
        != NGX_OK)
    {
        res->kind = NGX_OC_CALL_VERDICT;
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
    }
}


static void
ngx_oc_connect_deleted(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    if (h->status != 200 && h->status != 204 && h->status != 404) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "oc_connect \"%V\": DELETE /instances/%L answered %l",
                      &res->oi->block, res->winner.id, h->status);

        ngx_oc_shm_release(res->omcf, res->oi);
        res->outcome = NGX_OC_RESOLVED_FAILED;
        ngx_oc_finish(res);
        return;
    }

    ngx_oc_connect_forget(res, res->winner.id);
}


/* not connected from now on: no token, asked again after the ttl */

static void
ngx_oc_connect_forget(ngx_oc_resolver_t *res, int64_t id)
{
    ngx_str_t           error;
    ngx_oc_answer_t     a;
    ngx_oc_shrec_t     *rec;
    ngx_oc_instance_t  *oi;

    oi = res->oi;
    rec = oi->rec;

    ngx_str_set(&error, "tenant not connected, its instance was deleted");

    ngx_memzero(&a, sizeof(ngx_oc_answer_t));
    a.call = NGX_OC_CALL_VERDICT;
    a.answer = NGX_OC_ANSWER_NONE;
    a.delay = oi->family->absent_ttl;
    a.error = &error;

    ngx_shmtx_lock(&res->omcf->shpool->mutex);

    ngx_explicit_memzero(rec->token, sizeof(rec->token));
    rec->token_len = 0;
    rec->id = 0;

    ngx_shmtx_unlock(&res->omcf->shpool->mutex);

    (void) ngx_oc_shm_transition(res->omcf, oi, &a);

    if (id) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oc_connect \"%V\": deleted instance %L",
                      &oi->block, id);
    }

    res->outcome = id ? NGX_OC_RESOLVED_FOUND : NGX_OC_RESOLVED_N;
    ngx_oc_finish(res);
}


static void
ngx_oc_connect_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *error)
{
    u_char     *p;
    ngx_str_t   text;

    text.len = sizeof("{\"error\":\"\"}") - 1 + error->len
               + ngx_escape_json(NULL, error->data, error->len);

    text.data = ngx_pnalloc(r->pool, text.len);
    if (text.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(text.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, error->data, error->len);
    ngx_memcpy(p, "\"}", 2);

    ngx_oc_connect_json(r, status, &text);
}


static void
ngx_oc_connect_json(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *text)
{
    ngx_buf_t  *b;

    b = ngx_create_temp_buf(r->pool, text->len + 1);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    b->last = ngx_cpymem(b->last, text->data, text->len);
    *b->last++ = '\n';

    (void) ngx_oc_send_json(r, status, b);
}


/* the tenant's state, never its token; or an error */

static void
ngx_oc_connect_answer(ngx_http_request_t *r, ngx_uint_t status, char *error)
{
    u_char                *p;
    ngx_str_t              text, state;
    ngx_oc_instance_t     *oi;
    ngx_oc_connect_ctx_t  *ctx;
    u_char                 buf[NGX_OC_TENANT_MAX + 6 * NGX_OC_NAME_MAX
                               + NGX_INT64_LEN + 128];

    if (error != NULL || status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        text.data = (u_char *) (error ? error : "internal error");
        text.len = ngx_strlen(text.data);
        ngx_oc_connect_error(r, status, &text);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);
    oi = ctx->oi;

    if (oi->state == NGX_OC_UNAUTHORIZED && oi->rec->none) {
        ngx_str_set(&state, "not connected");

    } else {
        state = ngx_oc_state_names[oi->state];
    }

    /* a block name and a tenant value need no escaping but quotes */

    p = ngx_snprintf(buf, sizeof(buf),
                     "{\"tenant\":\"%V\",\"instance\":\"", &oi->tenant);
    p = (u_char *) ngx_escape_json(p, oi->family->oi->block.data,
                                   oi->family->oi->block.len);
    p = ngx_sprintf(p, "\",\"state\":\"%V\"", &state);

    if (oi->state == NGX_OC_READY && ctx->mode != NGX_OC_CONNECT_DELETE) {
        p = ngx_sprintf(p, ",\"id\":%L", oi->id);
    }

    p = ngx_sprintf(p, "}");

    text.data = buf;
    text.len = p - buf;

    ngx_oc_connect_json(r, status, &text);
}
