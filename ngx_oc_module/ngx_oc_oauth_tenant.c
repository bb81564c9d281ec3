
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/random.h>

#include "ngx_oc_module.h"
#include "ngx_oc_tenant.h"


/*
 * OAuth2 for a family: the consent's state binds the tenant.  The state
 * is "<nonce>.<tenant>": 128 random bits, kept in the tenant's own record
 * in the zone, then the tenant value.  The callback takes the tenant from
 * the state and accepts it only if that tenant's record holds the nonce:
 * a browser that changes the tenant, or makes a nonce up, or sends one
 * twice, or late, finds none.  The tenant is never taken from the
 * callback request itself; a session there that names another tenant is
 * refused.
 */


#define NGX_OC_OAUTH_TSTATE_MAX                                               \
    (NGX_OC_OAUTH_STATE_LEN + 1 + NGX_OC_TENANT_MAX)


static ngx_int_t ngx_oc_oauth_tenant_take_locked(ngx_oc_shrec_t *rec,
    u_char *nonce);
static ngx_int_t ngx_oc_oauth_tenant_session(ngx_http_request_t *r,
    ngx_oc_instance_t *family, ngx_str_t *tenant);


/*
 * oc_oauth_start: NGX_OK and the state of the request's tenant; else
 * NGX_DECLINED and *answer what the handler returns (400 for an invalid
 * tenant value, no call)
 */

ngx_int_t
ngx_oc_oauth_tenant_state(ngx_http_request_t *r, ngx_oc_instance_t *family,
    ngx_str_t *state, ngx_int_t *answer)
{
    u_char              *p;
    ngx_int_t            status;
    ngx_oc_shrec_t      *rec;
    ngx_oc_tenant_t     *t;
    ngx_oc_main_conf_t  *omcf;
    u_char               rnd[NGX_OC_OAUTH_STATE_LEN / 2];

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    t = ngx_oc_tenant_get(r, omcf, family, &status);

    if (t == NULL) {
        *answer = status;

        if (status == NGX_HTTP_BAD_REQUEST) {
            /* it finalizes, and so does the content phase after it */
            r->main->count++;
            *answer = ngx_oc_tenant_refuse(r, NULL, status);

            if (*answer != NGX_DONE) {
                r->main->count--;
            }
        }

        return NGX_DECLINED;
    }

    *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "getrandom() failed");
        return NGX_DECLINED;
    }

    state->len = NGX_OC_OAUTH_STATE_LEN + 1 + t->oi.tenant.len;
    state->data = ngx_pnalloc(r->pool, state->len);
    if (state->data == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_hex_dump(state->data, rnd, sizeof(rnd));
    *p++ = '.';
    ngx_memcpy(p, t->oi.tenant.data, t->oi.tenant.len);

    ngx_explicit_memzero(rnd, sizeof(rnd));

    /* under the lock: the record may leave the zone at any other time */

    ngx_shmtx_lock(&omcf->shpool->mutex);

    rec = ngx_oc_tenant_find_locked(family, &t->oi.tenant);

    if (rec != NULL) {
        ngx_oc_shm_state_add_locked(omcf, rec, state->data);
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    if (rec == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oc_oauth_start: tenant \"%V\" of \"%V\" left oc_zone",
                      &t->oi.tenant, &family->block);
        *answer = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * oc_oauth_callback: NGX_OK and the tenant of the state, held until the
 * request ends (ngx_oc_tenant_unref()); NGX_DECLINED: the state is not
 * one the module issued, or was used; else what the handler answers
 */

ngx_int_t
ngx_oc_oauth_tenant_take(ngx_http_request_t *r, ngx_oc_instance_t *family,
    ngx_str_t *arg, ngx_oc_instance_t **tenant)
{
    u_char              *buf, *dst, *src;
    ngx_int_t            rc, status;
    ngx_str_t            value;
    ngx_oc_shrec_t      *rec;
    ngx_oc_tenant_t     *t;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    /* ":" and "@" of a tenant value come back escaped */

    if (arg->len < NGX_OC_OAUTH_STATE_LEN + 2
        || arg->len > 3 * NGX_OC_OAUTH_TSTATE_MAX)
    {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(r->pool, arg->len);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dst = buf;
    src = arg->data;
    ngx_unescape_uri(&dst, &src, arg->len, NGX_UNESCAPE_URI);

    if (dst - buf < NGX_OC_OAUTH_STATE_LEN + 2
        || dst - buf > NGX_OC_OAUTH_TSTATE_MAX
        || buf[NGX_OC_OAUTH_STATE_LEN] != '.')
    {
        return NGX_DECLINED;
    }

    value.data = buf + NGX_OC_OAUTH_STATE_LEN + 1;
    value.len = dst - value.data;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    rec = ngx_oc_tenant_find_locked(family, &value);

    rc = rec ? ngx_oc_oauth_tenant_take_locked(rec, buf) : NGX_DECLINED;

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    ngx_explicit_memzero(buf, NGX_OC_OAUTH_STATE_LEN);

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_oc_oauth_tenant_session(r, family, &value) != NGX_OK) {
        return NGX_HTTP_FORBIDDEN;
    }

    t = ngx_oc_tenant_get_value(omcf, family, &value, &status);

    if (t == NULL) {
        return status;
    }

    t->refs++;
    *tenant = &t->oi;

    return NGX_OK;
}


/* NGX_OK once for a nonce the record holds and that has not expired */

static ngx_int_t
ngx_oc_oauth_tenant_take_locked(ngx_oc_shrec_t *rec, u_char *nonce)
{
    u_char                 diff;
    uint64_t               now;
    ngx_int_t              rc;
    ngx_uint_t             i, j;
    ngx_oc_oauth_state_t  *st;

    st = rec->oauth;
    now = ngx_oc_now_ms();
    rc = NGX_DECLINED;

    for (i = 0; i < NGX_OC_OAUTH_STATES; i++) {
        if (st[i].expires <= now) {
            continue;
        }

        /* in constant time: a nonce is a secret */

        diff = 0;

        for (j = 0; j < NGX_OC_OAUTH_STATE_LEN; j++) {
            diff |= st[i].state[j] ^ nonce[j];
        }

        if (diff == 0) {
            st[i].expires = 0;
            rc = NGX_OK;
        }
    }

    return rc;
}


/*
 * the callback location may know its own tenant (auth_request there):
 * a consent that one tenant started and another's browser brings back is
 * refused, never swapped; with no tenant there, the state's alone counts
 */

static ngx_int_t
ngx_oc_oauth_tenant_session(ngx_http_request_t *r, ngx_oc_instance_t *family,
    ngx_str_t *tenant)
{
    ngx_http_variable_value_t  *vv;

    vv = ngx_http_get_indexed_variable(r, family->family->index);

    if (vv == NULL || vv->not_found || vv->len == 0) {
        return NGX_OK;
    }

    if (vv->len == tenant->len
        && ngx_memcmp(vv->data, tenant->data, tenant->len) == 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "oc_oauth_callback: the consent of tenant \"%V\" of \"%V\" "
                  "came back in a request of another tenant, refused",
                  tenant, &family->block);

    return NGX_DECLINED;
}


/*
 * oc_connect: POST or PUT to an oauth2 family answers 400 without reading
 * the body or making a call, and names where the customer's browser goes
 * to consent
 */

ngx_int_t
ngx_oc_oauth_tenant_connect(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    u_char     *p;
    size_t      len;
    ngx_int_t   rc;
    ngx_buf_t  *b;

    static ngx_str_t  error = ngx_string(
        "{\"error\":\"an oauth2 tenant connects by its own consent, not with "
        "keys: send the customer's browser to the oc_oauth_start location\"");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = error.len + sizeof(",\"authorize\":\"\"}\n")
          + ngx_escape_json(NULL, oi->oauth_start.data, oi->oauth_start.len)
          + oi->oauth_start.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, error.data, error.len);

    if (oi->oauth_start.len) {
        p = ngx_cpymem(p, ",\"authorize\":\"", sizeof(",\"authorize\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, oi->oauth_start.data,
                                       oi->oauth_start.len);
        *p++ = '"';
    }

    b->last = ngx_cpymem(p, "}\n", 2);

    /* it finalizes, and so does the content phase after it */

    r->main->count++;

    return ngx_oc_send_json(r, NGX_HTTP_BAD_REQUEST, b);
}
