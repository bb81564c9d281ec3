
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <cjson/cJSON.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_events.h"


#define NGX_OC_EVENTS_MAC_LEN       32      /* SHA-256 */
#define NGX_OC_EVENTS_MAC_B64_LEN   44

/* a body larger than this is not parsed for its event id */
#define NGX_OC_EVENTS_PARSE_MAX     (1024 * 1024)

/* the temporary file of a body is read in chunks of this size */
#define NGX_OC_EVENTS_CHUNK         65536

#define NGX_OC_EVENTS_PREFIX        "sha256="

/* how much of an event id a log line shows */
#define NGX_OC_EVENTS_ID_LOG        64


typedef struct {
    ngx_http_request_t         *request;
    ngx_oc_instance_t          *instance;
    ngx_str_t                   signature;  /* the base64 after "sha256=" */
    ngx_int_t                   status;     /* of the phase handler */
    u_char                     *chunk;      /* NGX_OC_EVENTS_CHUNK bytes */

    /* the replay store's record of this notification */
    u_char                      key[NGX_OC_EVENTS_KEY_LEN];
    uint32_t                    serial;
    unsigned                    recorded:1;
} ngx_oc_events_ctx_t;


typedef ngx_int_t (*ngx_oc_events_data_pt)(void *data, u_char *p,
    size_t len);


typedef struct {
    u_char                     *pos;
    u_char                     *last;
} ngx_oc_events_copy_t;


static ngx_int_t ngx_oc_events_handler(ngx_http_request_t *r);
static void ngx_oc_events_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_oc_events_signature(ngx_http_request_t *r,
    ngx_oc_instance_t *oi, ngx_str_t *signature);
static ngx_int_t ngx_oc_events_verify(ngx_http_request_t *r,
    ngx_oc_events_ctx_t *ctx);
static ngx_int_t ngx_oc_events_hmac(ngx_http_request_t *r,
    ngx_oc_events_ctx_t *ctx, u_char *mac);
static ngx_int_t ngx_oc_events_hmac_update(void *data, u_char *p,
    size_t len);
static ngx_int_t ngx_oc_events_replay(ngx_http_request_t *r,
    ngx_oc_events_ctx_t *ctx, u_char *mac);
static ngx_int_t ngx_oc_events_event_id(ngx_http_request_t *r,
    ngx_oc_events_ctx_t *ctx, ngx_str_t *id);
static ngx_int_t ngx_oc_events_copy(void *data, u_char *p, size_t len);
static off_t ngx_oc_events_body_length(ngx_http_request_t *r);
static ngx_int_t ngx_oc_events_body(ngx_http_request_t *r,
    ngx_oc_events_ctx_t *ctx, ngx_oc_events_data_pt handler, void *data);
static ngx_int_t ngx_oc_events_headers(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
static ngx_uint_t ngx_oc_events_is_header(ngx_table_elt_t *h, char *name,
    size_t len);
static ngx_oc_events_ctx_t *ngx_oc_events_get_ctx(ngx_http_request_t *r);
static void ngx_oc_events_cleanup(void *data);


static ngx_str_t  ngx_oc_events_enabled_key =
    ngx_string("event.notification.enabled");
static ngx_str_t  ngx_oc_events_signature_key =
    ngx_string("event.notification.signature.key");
static ngx_str_t  ngx_oc_events_post = ngx_string("POST");

static ngx_uint_t  ngx_oc_events_instance_hash;


static ngx_int_t
ngx_oc_events_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             signature;
    ngx_table_elt_t      *h;
    ngx_oc_instance_t    *oi;
    ngx_oc_loc_conf_t    *olcf;
    ngx_pool_cleanup_t   *cln;
    ngx_oc_events_ctx_t  *ctx;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    oi = olcf->events;
    if (oi == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_oc_events_get_ctx(r);

    if (ctx != NULL && ctx->instance == oi) {
        /* the body has been read, or an internal redirect came back */
        return ctx->status;
    }

    if (r->method != NGX_HTTP_POST) {
        h = ngx_oc_push_header(&r->headers_out.headers, "Allow",
                               &ngx_oc_events_post);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    /* a notification without a well-formed signature is not read at all */

    if (ngx_oc_events_signature(r, oi, &signature) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_oc_events_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_oc_events_ctx_t));

    ctx->request = r;
    ctx->instance = oi;
    ctx->signature = signature;
    ctx->status = NGX_DONE;

    cln->handler = ngx_oc_events_cleanup;

    if (r != r->main) {
        /* a subrequest has the body of its parent, if it was read */
        ctx->status = ngx_oc_events_verify(r, ctx);
        return ctx->status;
    }

    rc = ngx_http_read_client_request_body(r, ngx_oc_events_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_oc_events_body_handler(ngx_http_request_t *r)
{
    ngx_oc_events_ctx_t  *ctx;

    ctx = ngx_oc_events_get_ctx(r);

    ctx->status = ngx_oc_events_verify(r, ctx);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* exactly one Elements-Webhook-Signature: sha256=<44 base64 characters> */

static ngx_int_t
ngx_oc_events_signature(ngx_http_request_t *r, ngx_oc_instance_t *oi,
    ngx_str_t *signature)
{
    size_t            len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    n = 0;
    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_oc_events_is_header(&h[i], "Elements-Webhook-Signature",
                                    sizeof("Elements-Webhook-Signature") - 1))
        {
            found = &h[i];
            n++;
        }
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_events: refused a notification for \"%V\" "
                      "without an Elements-Webhook-Signature header",
                      &oi->block);
        return NGX_DECLINED;
    }

    if (n > 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_events: refused a notification for \"%V\" with "
                      "%ui Elements-Webhook-Signature headers",
                      &oi->block, n);
        return NGX_DECLINED;
    }

    len = sizeof(NGX_OC_EVENTS_PREFIX) - 1;

    if (found->value.len != len + NGX_OC_EVENTS_MAC_B64_LEN
        || ngx_strncasecmp(found->value.data, (u_char *) NGX_OC_EVENTS_PREFIX,
                           len)
           != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_events: refused a notification for \"%V\" with "
                      "a malformed signature, it must be \"sha256=\" and "
                      "%d base64 characters",
                      &oi->block, NGX_OC_EVENTS_MAC_B64_LEN);
        return NGX_DECLINED;
    }

    signature->data = found->value.data + len;
    signature->len = NGX_OC_EVENTS_MAC_B64_LEN;

    return NGX_OK;
}


/* the body is complete: NGX_DECLINED lets the request go on */

static ngx_int_t
ngx_oc_events_verify(ngx_http_request_t *r, ngx_oc_events_ctx_t *ctx)
{
    u_char               mac[NGX_OC_EVENTS_MAC_LEN];
    u_char               expected[NGX_OC_EVENTS_MAC_B64_LEN];
    ngx_int_t            rc;
    ngx_str_t            src, dst;
    ngx_oc_main_conf_t  *omcf;

    if (ngx_oc_events_hmac(r, ctx, mac) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    src.data = mac;
    src.len = NGX_OC_EVENTS_MAC_LEN;
    dst.data = expected;

    ngx_encode_base64(&dst, &src);

    if (CRYPTO_memcmp(expected, ctx->signature.data,
                      NGX_OC_EVENTS_MAC_B64_LEN)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_events: refused a notification for \"%V\": "
                      "signature mismatch", &ctx->instance->block);
        return NGX_HTTP_UNAUTHORIZED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (omcf->events_replay_window) {
        rc = ngx_oc_events_replay(r, ctx, mac);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_oc_events_headers(r, ctx->instance) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oc_events: genuine notification for \"%V\"",
                   &ctx->instance->block);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_oc_events_hmac(ngx_http_request_t *r, ngx_oc_events_ctx_t *ctx,
    u_char *mac)
{
    size_t       len;
    EVP_PKEY    *pkey;
    ngx_int_t    rc;
    ngx_str_t   *key;
    EVP_MD_CTX  *md;

    key = &ctx->instance->events_key;

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL, key->data,
                                        key->len);
    if (pkey == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "EVP_PKEY_new_raw_private_key() failed");
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "EVP_MD_CTX_new() failed");
        goto done;
    }

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "EVP_DigestSignInit() failed");
        goto done;
    }

    if (ngx_oc_events_body(r, ctx, ngx_oc_events_hmac_update, md)
        != NGX_OK)
    {
        goto done;
    }

    len = NGX_OC_EVENTS_MAC_LEN;

    if (EVP_DigestSignFinal(md, mac, &len) != 1
        || len != NGX_OC_EVENTS_MAC_LEN)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "EVP_DigestSignFinal() failed");
        goto done;
    }

    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    return rc;
}


static ngx_int_t
ngx_oc_events_hmac_update(void *data, u_char *p, size_t len)
{
    EVP_MD_CTX  *md = data;

    if (EVP_DigestSignUpdate(md, p, len) != 1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "EVP_DigestSignUpdate() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * the replay key is the notification's message.eventId; a body without
 * one (not JSON, or too large to parse) is known by its signature, so
 * that at least a byte for byte replay is caught
 */

static ngx_int_t
ngx_oc_events_replay(ngx_http_request_t *r, ngx_oc_events_ctx_t *ctx,
    u_char *mac)
{
    u_char              *p, buf[NGX_OC_EVENTS_ID_LOG * 6];
    ngx_int_t            rc;
    ngx_str_t            id;
    ngx_sha1_t           sha1;
    ngx_oc_instance_t   *oi;
    ngx_oc_main_conf_t  *omcf;

    oi = ctx->instance;

    rc = ngx_oc_events_event_id(r, ctx, &id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, oi->block.data, oi->block.len);

    if (rc == NGX_OK) {
        ngx_sha1_update(&sha1, "\0e", 2);
        ngx_sha1_update(&sha1, id.data, id.len);

    } else {
        ngx_sha1_update(&sha1, "\0s", 2);
        ngx_sha1_update(&sha1, mac, NGX_OC_EVENTS_MAC_LEN);
        ngx_str_set(&id, "(none)");
    }

    ngx_sha1_final(ctx->key, &sha1);

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    rc = ngx_oc_events_replay_add(omcf, ctx->key, &ctx->serial,
                                  r->connection->log);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oc_events: no replay store in the shared zone");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* a signed body, still the id is shown cut and escaped */

        p = (u_char *) ngx_escape_json(buf, id.data,
                                       ngx_min(id.len, NGX_OC_EVENTS_ID_LOG));

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oc_events: refused a replayed notification for "
                      "\"%V\", event \"%*s\"", &oi->block, p - buf, buf);

        return NGX_HTTP_CONFLICT;
    }

    ctx->recorded = 1;

    return NGX_OK;
}


/* NGX_OK with the id, NGX_DECLINED when the body has none */

static ngx_int_t
ngx_oc_events_event_id(ngx_http_request_t *r, ngx_oc_events_ctx_t *ctx,
    ngx_str_t *id)
{
    off_t                  len;
    char                  *text;
    cJSON                 *json, *item;
    u_char                *start;
    ngx_int_t              rc;
    ngx_oc_events_copy_t   copy;

    len = ngx_oc_events_body_length(r);

    if (len == 0 || len > NGX_OC_EVENTS_PARSE_MAX) {
        return NGX_DECLINED;
    }

    start = ngx_pnalloc(r->pool, (size_t) len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    copy.pos = start;
    copy.last = start + len;

    if (ngx_oc_events_body(r, ctx, ngx_oc_events_copy, &copy) != NGX_OK) {
        return NGX_ERROR;
    }

    json = cJSON_ParseWithLength((const char *) start,
                                 (size_t) (copy.pos - start));
    if (json == NULL) {
        return NGX_DECLINED;
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "message");
    item = cJSON_GetObjectItemCaseSensitive(item, "eventId");

    rc = NGX_DECLINED;
    text = NULL;

    if (cJSON_IsString(item) && item->valuestring[0] != '\0') {
        text = item->valuestring;

    } else if (cJSON_IsNumber(item)) {
        text = cJSON_PrintUnformatted(item);
    }

    if (text != NULL) {
        id->len = ngx_strlen(text);
        id->data = ngx_pnalloc(r->pool, id->len);

        if (id->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(id->data, text, id->len);
            rc = NGX_OK;
        }

        if (text != item->valuestring) {
            cJSON_free(text);
        }
    }

    cJSON_Delete(json);

    return rc;
}


static ngx_int_t
ngx_oc_events_copy(void *data, u_char *p, size_t len)
{
    ngx_oc_events_copy_t  *copy = data;

    if (len > (size_t) (copy->last - copy->pos)) {
        return NGX_ERROR;
    }

    copy->pos = ngx_cpymem(copy->pos, p, len);

    return NGX_OK;
}


static off_t
ngx_oc_events_body_length(ngx_http_request_t *r)
{
    off_t         len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return 0;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            len += b->last - b->pos;

        } else if (b->in_file) {
            len += b->file_last - b->file_pos;
        }
    }

    return len;
}


/*
 * hands every byte of the request body to "handler", in order: memory
 * buffers as they are, a temporary file in chunks
 */

static ngx_int_t
ngx_oc_events_body(ngx_http_request_t *r, ngx_oc_events_ctx_t *ctx,
    ngx_oc_events_data_pt handler, void *data)
{
    off_t         offset;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (b->last > b->pos
                && handler(data, b->pos, b->last - b->pos) != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!b->in_file) {
            continue;
        }

        if (ctx->chunk == NULL) {
            ctx->chunk = ngx_pnalloc(r->pool, NGX_OC_EVENTS_CHUNK);
            if (ctx->chunk == NULL) {
                return NGX_ERROR;
            }
        }

        for (offset = b->file_pos; offset < b->file_last; offset += n) {
            size = (size_t) ngx_min(b->file_last - offset,
                                    NGX_OC_EVENTS_CHUNK);

            n = ngx_read_file(b->file, ctx->chunk, size, offset);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (n == 0) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "oc_events: request body file \"%V\" ends "
                              "at %O, %O bytes early", &b->file->name,
                              offset, b->file_last - offset);
                return NGX_ERROR;
            }

            if (handler(data, ctx->chunk, n) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * the application gets no Authorization and an X-OC-Instance it can
 * trust; the list is rebuilt, as a subrequest shares its parent's
 */

static ngx_int_t
ngx_oc_events_headers(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_oc_events_is_header(&h[i], "Authorization",
                                    sizeof("Authorization") - 1)
            || ngx_oc_events_is_header(&h[i], "X-OC-Instance",
                                       sizeof("X-OC-Instance") - 1))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    nh = ngx_oc_push_header(&headers, "X-OC-Instance", &oi->block);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    nh->hash = ngx_oc_events_instance_hash;
    nh->lowcase_key = (u_char *) "x-oc-instance";

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


static ngx_uint_t
ngx_oc_events_is_header(ngx_table_elt_t *h, char *name, size_t len)
{
    return h->key.len == len
           && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0;
}


/*
 * the context hangs on a pool cleanup: it survives internal redirects,
 * and it does not take the module's request context from oc_pass
 */

static ngx_oc_events_ctx_t *
ngx_oc_events_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_oc_events_ctx_t  *ctx;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_oc_events_cleanup) {
            continue;
        }

        ctx = cln->data;

        if (ctx->request == r) {
            return ctx;
        }
    }

    return NULL;
}


/*
 * the request is over: an event the application did not answer with 2xx
 * is not taken, so Open Connectors' retry of it must get through
 */

static void
ngx_oc_events_cleanup(void *data)
{
    ngx_oc_events_ctx_t  *ctx = data;

    ngx_uint_t           status;
    ngx_http_request_t  *r;
    ngx_oc_main_conf_t  *omcf;

    if (!ctx->recorded) {
        return;
    }

    r = ctx->request;
    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        return;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    ngx_oc_events_replay_forget(omcf, ctx->key, ctx->serial);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oc_events: notification for \"%V\" ended with status "
                  "%ui, a retry will be accepted",
                  &ctx->instance->block, status);
}


/*
 * nginx -t: an oc_events instance must have a signature key, and should
 * have events enabled
 */

ngx_int_t
ngx_oc_events_init_conf(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_oc_instance_t  **oip, *oi;

    oip = omcf->instances.elts;

    for (i = 0; i < omcf->instances.nelts; i++) {
        oi = oip[i];

        if (oi->events_file == NULL) {
            continue;
        }

        value = ngx_oc_config_value(oi, &ngx_oc_events_signature_key);

        if (value == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oc_events: oc_instance \"%V\" has no config "
                          "event.notification.signature.key, its events "
                          "cannot be verified in %s:%ui",
                          &oi->block, oi->events_file, oi->events_line);
            return NGX_ERROR;
        }

        oi->events_key = *value;

        value = ngx_oc_config_value(oi, &ngx_oc_events_enabled_key);

        if (value == NULL || value->len != 4
            || ngx_strncmp(value->data, "true", 4) != 0)
        {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "oc_events: oc_instance \"%V\" does not set "
                          "config event.notification.enabled true, Open "
                          "Connectors sends it no events in %s:%ui",
                          &oi->block, oi->events_file, oi->events_line);
        }
    }

    return NGX_OK;
}


/*
 * the handler runs in the precontent phase, after every access check
 * ("satisfy any" cannot skip it) and before oc_pass, mirror and try_files
 */

ngx_int_t
ngx_oc_events_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_oc_main_conf_t         *omcf;
    ngx_http_core_main_conf_t  *cmcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_oc_module);

    if (!omcf->events) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_events_handler;

    ngx_oc_events_instance_hash = ngx_hash_key((u_char *) "x-oc-instance",
                                               sizeof("x-oc-instance") - 1);

    return NGX_OK;
}
