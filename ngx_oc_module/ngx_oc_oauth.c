
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_api.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_resolve.h"
#include "ngx_oc_status.h"
#include "ngx_oc_tenant.h"
#include <sys/random.h>


#define NGX_OC_OAUTH_RETRY      100     /* ms, while another worker resolves */


typedef struct {
    ngx_http_request_t         *request;
    ngx_oc_instance_t          *oi;         /* a family's: its tenant's */
    ngx_oc_resolver_t          *res;
    ngx_str_t                   code;
    ngx_event_t                 retry;
    ngx_msec_t                  deadline;
    unsigned                    tenant:1;   /* oi is held */
} ngx_oc_oauth_ctx_t;


static ngx_int_t ngx_oc_oauth_start_handler(ngx_http_request_t *r);
static void ngx_oc_oauth_url_done(ngx_oc_http_t *h);
static ngx_int_t ngx_oc_oauth_state(ngx_http_request_t *r,
    ngx_oc_instance_t *oi, ngx_str_t *state);
static ngx_int_t ngx_oc_oauth_callback_handler(ngx_http_request_t *r);
static void ngx_oc_oauth_args(ngx_http_request_t *r, ngx_str_t *state,
    ngx_str_t *code, ngx_uint_t *denied);
static ngx_int_t ngx_oc_oauth_take(ngx_http_request_t *r,
    ngx_oc_oauth_ctx_t *ctx, ngx_str_t *state, ngx_int_t *answer);
static ngx_int_t ngx_oc_oauth_code(ngx_pool_t *pool, ngx_str_t *arg,
    ngx_str_t *code);
static void ngx_oc_oauth_retry_handler(ngx_event_t *ev);
static void ngx_oc_oauth_cleanup(void *data);
static ngx_int_t ngx_oc_oauth_exchange(ngx_http_request_t *r,
    ngx_oc_oauth_ctx_t *ctx);
static ngx_int_t ngx_oc_oauth_page(ngx_http_request_t *r, ngx_uint_t status,
    char *title, ngx_str_t *text);
static u_char *ngx_oc_oauth_arg(u_char *p, char *name, ngx_str_t *value);
static char *ngx_oc_oauth_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_http_handler_pt handler);


static ngx_str_t  ngx_oc_oauth_key = ngx_string("oauth.api.key");
static ngx_str_t  ngx_oc_oauth_secret = ngx_string("oauth.api.secret");
static ngx_str_t  ngx_oc_oauth_callback_url =
    ngx_string("oauth.callback.url");
static ngx_str_t  ngx_oc_oauth_no_store = ngx_string("no-store");

static ngx_str_t  ngx_oc_oauth_no_url =
    ngx_string("Open Connectors did not give a consent URL; "
               "the error log says why.");


static ngx_int_t
ngx_oc_oauth_start_handler(ngx_http_request_t *r)
{
    u_char              *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_str_t           *key, *secret, *callback, state;
    ngx_oc_http_t       *h;
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    oi = olcf->oauth;

    /* the state is what ties the callback to this start: unguessable */

    if (oi->family) {
        if (ngx_oc_oauth_tenant_state(r, oi, &state, &rc) != NGX_OK) {
            return rc;
        }

    } else if (ngx_oc_oauth_state(r, oi, &state) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key = ngx_oc_config_value(oi, &ngx_oc_oauth_key);
    secret = ngx_oc_config_value(oi, &ngx_oc_oauth_secret);
    callback = ngx_oc_config_value(oi, &ngx_oc_oauth_callback_url);

    if (key == NULL || secret == NULL || callback == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_oc_http_create(r->pool, r->connection->log);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = omcf->api_url.len + sizeof("/elements//oauth/url?apiKey=&apiSecret="
                                     "&callbackUrl=&state=")
          + 3 * (oi->element.len + key->len + secret->len + callback->len
                 + state.len);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->url.data = p;

    p = ngx_cpymem(p, omcf->api_url.data, omcf->api_url.len);
    p = ngx_cpymem(p, "/elements/", sizeof("/elements/") - 1);
    p = (u_char *) ngx_escape_uri(p, oi->element.data, oi->element.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    p = ngx_cpymem(p, "/oauth/url", sizeof("/oauth/url") - 1);
    p = ngx_oc_oauth_arg(p, "?apiKey=", key);
    p = ngx_oc_oauth_arg(p, "&apiSecret=", secret);
    p = ngx_oc_oauth_arg(p, "&callbackUrl=", callback);
    p = ngx_oc_oauth_arg(p, "&state=", &state);
    *p = '\0';

    h->url.len = p - h->url.data;
    h->method = "GET";
    h->authorization = omcf->platform_auth;
    h->timeout = omcf->api_timeout;
    h->max_body = omcf->api_max_body;
    h->handler = ngx_oc_oauth_url_done;
    h->data = r;

    if (ngx_oc_http_start(h) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


/* a declared instance's state: kept in its record */

static ngx_int_t
ngx_oc_oauth_state(ngx_http_request_t *r, ngx_oc_instance_t *oi,
    ngx_str_t *state)
{
    u_char              *p;
    ngx_oc_main_conf_t  *omcf;
    u_char               rnd[NGX_OC_OAUTH_STATE_LEN / 2];

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "getrandom() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_OC_OAUTH_STATE_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(p, rnd, sizeof(rnd));
    ngx_explicit_memzero(rnd, sizeof(rnd));

    state->data = p;
    state->len = NGX_OC_OAUTH_STATE_LEN;

    ngx_oc_shm_state_add(omcf, oi, p);

    return NGX_OK;
}


static void
ngx_oc_oauth_url_done(ngx_oc_http_t *h)
{
    ngx_int_t                   rc;
    ngx_str_t                   url, err, message, request_id;
    ngx_table_elt_t            *location;
    ngx_connection_t           *c;
    ngx_oc_loc_conf_t          *olcf;
    ngx_http_request_t         *r;
    ngx_http_variable_value_t  *vv;

    r = h->data;
    c = r->connection;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    ngx_oc_status_call(olcf->oauth, h, NGX_OC_CALL_OAUTH);

    /* the URL's query holds the app secret */

    ngx_explicit_memzero(h->url.data, h->url.len);

    /* the query holds the app secret: the log names the path only */

    if (h->result != CURLE_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "oc_oauth_start: GET /elements/%V/oauth/url "
                      "failed: %s", &olcf->oauth->element, h->error);
        goto failed;
    }

    if (h->status != 200) {
        ngx_oc_api_parse_error(r->pool, &h->response, &message, &request_id);

        if (request_id.len == 0) {
            ngx_str_set(&request_id, "none");
        }

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "oc_oauth_start: GET /elements/%V/oauth/url answered "
                      "%l: \"%V\" (requestId: %V)", &olcf->oauth->element,
                      h->status, &message, &request_id);
        goto failed;
    }

    if (ngx_oc_api_parse_oauth_url(r->pool, &h->response, &url, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "oc_oauth_start: GET /elements/%V/oauth/url: %V",
                      &olcf->oauth->element, &err);
        goto failed;
    }

    location = ngx_oc_push_header(&r->headers_out.headers, "Location", &url);
    if (location == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    r->headers_out.location = location;

    vv = NULL;

    if (olcf->oauth->family) {
        /* the value was valid at the start: indexed variables are kept */
        vv = ngx_http_get_indexed_variable(r, olcf->oauth->family->index);
    }

    if (vv != NULL && !vv->not_found) {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "oc_oauth_start: consent flow for tenant \"%v\" of "
                      "oc_instance \"%V\" started", vv, &olcf->oauth->block);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "oc_oauth_start: consent flow for oc_instance \"%V\" "
                      "started", &olcf->oauth->block);
    }

    rc = NGX_HTTP_MOVED_TEMPORARILY;
    goto done;

failed:

    rc = ngx_oc_oauth_page(r, NGX_HTTP_BAD_GATEWAY, "Authorization failed",
                           &ngx_oc_oauth_no_url);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_oc_oauth_callback_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            state, code, text;
    ngx_uint_t           denied;
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;
    ngx_oc_oauth_ctx_t  *ctx;
    ngx_pool_cleanup_t  *cln;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ngx_oc_oauth_args(r, &state, &code, &denied);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_oc_oauth_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* first: a tenant the state gives is held until the request ends */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_oc_oauth_cleanup;
    cln->data = ctx;

    ctx->oi = olcf->oauth;

    /* no Open Connectors call before the state is known to be ours */

    if (ngx_oc_oauth_take(r, ctx, &state, &rc) != NGX_OK) {
        return rc;
    }

    oi = ctx->oi;

    if (denied) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "oc_oauth_callback: consent for oc_instance \"%V\" "
                      "refused by the provider", &oi->block);

        ngx_str_set(&text, "Pipedrive did not grant access: the consent "
                    "was denied. The instance stays unauthorized.");
        return ngx_oc_oauth_page(r, NGX_HTTP_FORBIDDEN,
                                 "Authorization denied", &text);
    }

    if (code.len == 0) {
        ngx_str_set(&text, "The provider sent no authorization code.");
        return ngx_oc_oauth_page(r, NGX_HTTP_BAD_REQUEST,
                                 "Authorization failed", &text);
    }

    rc = ngx_oc_oauth_code(r->pool, &code, &ctx->code);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&text, "The provider sent no usable authorization "
                    "code.");
        return ngx_oc_oauth_page(r, NGX_HTTP_BAD_REQUEST,
                                 "Authorization failed", &text);
    }

    ctx->request = r;
    ctx->deadline = ngx_current_msec + omcf->wait_timeout;

    ctx->retry.handler = ngx_oc_oauth_retry_handler;
    ctx->retry.data = ctx;
    ctx->retry.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_oc_module);

    rc = ngx_oc_oauth_exchange(r, ctx);
    if (rc != NGX_DONE) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * The query holds the grant code: it is read here, then the request shows
 * its path alone to what logs it later, the "request:" of an error log
 * line, $request in the access log, nginx's own debug traces
 */

static void
ngx_oc_oauth_args(ngx_http_request_t *r, ngx_str_t *state, ngx_str_t *code,
    ngx_uint_t *denied)
{
    u_char     *p, *q;
    ngx_str_t   error;

    if (ngx_http_arg(r, (u_char *) "state", 5, state) != NGX_OK) {
        ngx_str_null(state);
    }

    if (ngx_http_arg(r, (u_char *) "code", 4, code) != NGX_OK) {
        ngx_str_null(code);
    }

    *denied = (ngx_http_arg(r, (u_char *) "error", 5, &error) == NGX_OK);

    ngx_str_null(&r->args);

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');
    if (q != NULL) {
        r->unparsed_uri.len = q - r->unparsed_uri.data;
    }

    p = ngx_pnalloc(r->pool, r->method_name.len + 2 + r->uri.len
                             + r->http_protocol.len);
    if (p == NULL) {
        ngx_str_null(&r->request_line);
        return;
    }

    r->request_line.data = p;

    p = ngx_cpymem(p, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    p = ngx_cpymem(p, r->uri.data, r->uri.len);

    if (r->http_protocol.len) {
        *p++ = ' ';
        p = ngx_cpymem(p, r->http_protocol.data, r->http_protocol.len);
    }

    r->request_line.len = p - r->request_line.data;
}


/*
 * NGX_OK: the state is one this module issued, unused, and ctx->oi the
 * instance it was issued for: a family's gives its tenant; otherwise
 * NGX_DECLINED and *answer what the handler returns
 */

static ngx_int_t
ngx_oc_oauth_take(ngx_http_request_t *r, ngx_oc_oauth_ctx_t *ctx,
    ngx_str_t *state, ngx_int_t *answer)
{
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_oc_instance_t   *oi, *tenant;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    oi = ctx->oi;

    if (state->data == NULL) {
        rc = NGX_DECLINED;

    } else if (oi->family) {
        rc = ngx_oc_oauth_tenant_take(r, oi, state, &tenant);

        if (rc == NGX_OK) {
            ctx->oi = tenant;
            ctx->tenant = 1;
        }

    } else {
        rc = ngx_oc_shm_state_take(omcf, oi, state);
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oc_oauth_callback: missing, unknown, expired or "
                      "reused state for oc_instance \"%V\"", &oi->block);

        ngx_str_set(&text, "The authorization link is missing, unknown, "
                    "expired or already used. Start again.");
        *answer = ngx_oc_oauth_page(r, NGX_HTTP_BAD_REQUEST,
                                    "Authorization failed", &text);
        return NGX_DECLINED;
    }

    if (rc == NGX_HTTP_FORBIDDEN) {
        ngx_str_set(&text, "This authorization was started for another "
                    "account. Start again from your own account.");
        *answer = ngx_oc_oauth_page(r, NGX_HTTP_FORBIDDEN,
                                    "Authorization refused", &text);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *answer = rc;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the code argument, unescaped; NGX_DECLINED: nothing to exchange */

static ngx_int_t
ngx_oc_oauth_code(ngx_pool_t *pool, ngx_str_t *arg, ngx_str_t *code)
{
    u_char  *dst, *src;

    dst = ngx_pnalloc(pool, arg->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    code->data = dst;
    src = arg->data;
    ngx_unescape_uri(&dst, &src, arg->len, NGX_UNESCAPE_URI);
    code->len = dst - code->data;

    /* "%" or "%00": nothing Open Connectors could exchange */

    for (src = code->data; src < dst; src++) {
        if (*src < 0x20 || *src == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return code->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_oc_oauth_exchange(ngx_http_request_t *r, ngx_oc_oauth_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            text;
    ngx_oc_instance_t   *oi;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    oi = ctx->oi;

    if (ctx->tenant && ngx_oc_tenant_recheck(omcf, oi) != NGX_OK) {
        ngx_str_set(&text, "No room for the account in oc_zone. Start "
                    "again in a moment.");
        return ngx_oc_oauth_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "Authorization failed", &text);
    }

    /*
     * a tenant's resolution in this worker is waited for, never taken
     * over: another consent's exchange ends with the instance this one
     * then re-authorizes; oc_connect's, with what it was asked for
     */

    if (oi->resolver != NULL && (ctx->tenant || oi->resolver->connect)) {
        rc = NGX_BUSY;

    } else {
        rc = ngx_oc_resolve_code(omcf, oi, &ctx->code, r, &ctx->res);
    }

    switch (rc) {

    case NGX_OK:
        return NGX_DONE;

    case NGX_BUSY:
        if ((ngx_msec_int_t) (ctx->deadline - ngx_current_msec) > 0) {
            ngx_add_timer(&ctx->retry, NGX_OC_OAUTH_RETRY);
            return NGX_DONE;
        }

        ngx_str_set(&text, "Another resolution of the instance is under "
                    "way. Start again in a moment.");
        return ngx_oc_oauth_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "Authorization failed", &text);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void
ngx_oc_oauth_retry_handler(ngx_event_t *ev)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_oc_oauth_ctx_t  *ctx;
    ngx_http_request_t  *r;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    rc = ngx_oc_oauth_exchange(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
    }
}


/* the resolution that exchanged the code is over */

void
ngx_oc_oauth_done(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            error, request_id, text;
    ngx_connection_t    *c;
    ngx_oc_instance_t   *oi;
    ngx_oc_oauth_ctx_t  *ctx;
    ngx_oc_main_conf_t  *omcf;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_oc_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    ctx->res = NULL;
    oi = ctx->oi;

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        text.len = sizeof("Instance \"\" (Open Connectors id ) is authorized. "
                          "Requests through oc_pass now use it.") - 1
                   + oi->block.len + oi->id_text.len;
        text.data = ngx_pnalloc(r->pool, text.len);

        if (text.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            ngx_sprintf(text.data, "Instance \"%V\" (Open Connectors id %V) "
                        "is authorized. Requests through oc_pass now use it.",
                        &oi->block, &oi->id_text);
            rc = ngx_oc_oauth_page(r, NGX_HTTP_OK, "Authorized", &text);
        }

    } else {
        ngx_oc_shm_error(omcf, oi, r->pool, &error, &request_id);

        if (error.len == 0) {
            ngx_str_set(&error, "the exchange was interrupted");
        }

        rc = ngx_oc_oauth_page(r, NGX_HTTP_BAD_GATEWAY,
                               "Authorization failed", &error);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_oc_oauth_cleanup(void *data)
{
    ngx_oc_oauth_ctx_t  *ctx = data;

    if (ctx->res) {
        ngx_oc_resolve_detach(ctx->res);
        ctx->res = NULL;
    }

    if (ctx->retry.timer_set) {
        ngx_del_timer(&ctx->retry);
    }

    if (ctx->tenant) {
        ngx_oc_tenant_unref(ctx->oi);
        ctx->tenant = 0;
    }

    if (ctx->code.len) {
        ngx_explicit_memzero(ctx->code.data, ctx->code.len);
        ctx->code.len = 0;
    }
}


static ngx_int_t
ngx_oc_oauth_page(ngx_http_request_t *r, ngx_uint_t status, char *title,
    ngx_str_t *text)
{
    u_char           *p;
    size_t            len, tlen;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    tlen = ngx_strlen(title);

    len = sizeof("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                 "<title></title></head>\n<body><h1></h1>\n<p></p>\n"
                 "</body></html>\n") - 1
          + 2 * tlen + text->len
          + ngx_escape_html(NULL, text->data, text->len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "<!DOCTYPE html>\n<html><head>"
                    "<meta charset=\"utf-8\"><title>%s</title></head>\n"
                    "<body><h1>%s</h1>\n<p>", title, title);
    p = (u_char *) ngx_escape_html(p, text->data, text->len);
    b->last = ngx_cpymem(p, "</p>\n</body></html>\n",
                         sizeof("</p>\n</body></html>\n") - 1);
    b->last_buf = 1;
    b->last_in_chain = 1;

    h = ngx_oc_push_header(&r->headers_out.headers, "Cache-Control",
                           &ngx_oc_oauth_no_store);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/html") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static u_char *
ngx_oc_oauth_arg(u_char *p, char *name, ngx_str_t *value)
{
    p = ngx_cpymem(p, name, ngx_strlen(name));

    return (u_char *) ngx_escape_uri(p, value->data, value->len,
                                     NGX_ESCAPE_URI_COMPONENT);
}


/* the directive that made a location an OAuth2 one, for messages */

const char *
ngx_oc_oauth_directive(ngx_http_core_loc_conf_t *clcf)
{
    return clcf->handler == ngx_oc_oauth_start_handler
           ? "oc_oauth_start" : "oc_oauth_callback";
}


char *
ngx_oc_oauth_start(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_oc_oauth_conf(cf, cmd, conf, ngx_oc_oauth_start_handler);
}


char *
ngx_oc_oauth_callback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_oc_oauth_conf(cf, cmd, conf, ngx_oc_oauth_callback_handler);
}


static char *
ngx_oc_oauth_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    ngx_http_handler_pt handler)
{
    ngx_oc_loc_conf_t *olcf = conf;

    ngx_str_t                 *value;
    ngx_oc_instance_t         *oi;
    ngx_oc_main_conf_t        *omcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->oauth != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    /* the block may come later: postconfiguration checks it is oauth2 */

    oi = ngx_oc_instance_add(cf, omcf, &value[1]);
    if (oi == NULL) {
        return NGX_CONF_ERROR;
    }

    olcf->oauth = oi;
    oi->oauth_used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    if (handler == ngx_oc_oauth_start_handler) {
        oi->oauth_start = clcf->name;
    }

    return NGX_CONF_OK;
}
