
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_status.h"
#include "ngx_oc_version.h"
#include "ngx_oc_tenant.h"


static ngx_int_t ngx_oc_status_handler(ngx_http_request_t *r);
static ngx_oc_status_t *ngx_oc_status_collect(ngx_http_request_t *r,
    ngx_oc_main_conf_t *omcf);
static void ngx_oc_status_json(ngx_oc_writer_t *w, ngx_oc_status_t *st);
static void ngx_oc_status_json_instance(ngx_oc_writer_t *w,
    ngx_oc_status_t *st, ngx_oc_status_instance_t *si);
static void ngx_oc_status_json_counts(ngx_oc_writer_t *w, const char *name,
    ngx_str_t *names, ngx_atomic_t *counts, ngx_uint_t n);
static void ngx_oc_status_json_str(ngx_oc_writer_t *w, u_char *data,
    size_t len);
static void ngx_oc_status_family(ngx_oc_status_instance_t *si,
    ngx_oc_instance_t *oi, ngx_str_t *tenant);
static void ngx_oc_status_json_family(ngx_oc_writer_t *w,
    ngx_oc_status_instance_t *si);


/* indexed by NGX_OC_ABSENT ... NGX_OC_DISABLED */
ngx_str_t  ngx_oc_state_names[] = {
    ngx_string("absent"),
    ngx_string("ready"),
    ngx_string("stale"),
    ngx_string("failed"),
    ngx_string("unauthorized"),
    ngx_string("disabled"),
    ngx_null_string
};

/* indexed by NGX_OC_REFUSED_* */
ngx_str_t  ngx_oc_refused_names[] = {
    ngx_string("failed"),
    ngx_string("disabled"),
    ngx_string("unauthorized"),
    ngx_string("timeout"),
    ngx_string("unavailable"),
    ngx_null_string
};

/* indexed by NGX_OC_CALL_* */
ngx_str_t  ngx_oc_call_names[] = {
    ngx_string("list"),
    ngx_string("get"),
    ngx_string("create"),
    ngx_string("update"),
    ngx_string("delete"),
    ngx_string("oauth"),
    ngx_null_string
};

/* indexed by NGX_OC_OUTCOME_* */
ngx_str_t  ngx_oc_outcome_names[] = {
    ngx_string("ok"),
    ngx_string("client_error"),
    ngx_string("server_error"),
    ngx_string("transport"),
    ngx_null_string
};

/* indexed by NGX_OC_RESOLVED_* */
ngx_str_t  ngx_oc_resolved_names[] = {
    ngx_string("found"),
    ngx_string("created"),
    ngx_string("updated"),
    ngx_string("settled"),
    ngx_string("failed"),
    ngx_string("reauthorized"),
    ngx_null_string
};

/* one finished Open Connectors call of the kind its caller knows */

void
ngx_oc_status_call(ngx_oc_instance_t *oi, ngx_oc_http_t *h, ngx_uint_t kind)
{
    ngx_uint_t  outcome;

    if (h->result != CURLE_OK) {
        outcome = NGX_OC_OUTCOME_TRANSPORT;

    } else if (h->status >= 200 && h->status < 300) {
        outcome = NGX_OC_OUTCOME_OK;

    } else if (h->status >= 400 && h->status < 500 && h->status != 429) {
        outcome = NGX_OC_OUTCOME_CLIENT_ERROR;

    } else {
        /* 5xx, 429 and whatever else Open Connectors should not answer */
        outcome = NGX_OC_OUTCOME_SERVER_ERROR;
    }

    (void) ngx_atomic_fetch_add(&oi->rec->counters.calls[kind][outcome], 1);
}


/* a request refused with 503 */

void
ngx_oc_status_refused(ngx_oc_instance_t *oi, ngx_uint_t timedout)
{
    ngx_uint_t  reason;

    if (timedout) {
        reason = NGX_OC_REFUSED_TIMEOUT;

    } else {
        switch (oi->state) {

        case NGX_OC_FAILED:
            reason = NGX_OC_REFUSED_FAILED;
            break;

        case NGX_OC_DISABLED:
            reason = NGX_OC_REFUSED_DISABLED;
            break;

        case NGX_OC_UNAUTHORIZED:
            reason = NGX_OC_REFUSED_UNAUTHORIZED;
            break;

        default:
            reason = NGX_OC_REFUSED_UNAVAILABLE;
        }
    }

    (void) ngx_atomic_fetch_add(&oi->rec->counters.refused[reason], 1);
}


/* the outcome of a resolution, an NGX_OC_RESOLVED_* */

void
ngx_oc_status_resolved(ngx_oc_instance_t *oi, ngx_uint_t outcome)
{
    (void) ngx_atomic_fetch_add(&oi->rec->counters.resolutions[outcome], 1);
}


static ngx_int_t
ngx_oc_status_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            format;
    ngx_uint_t           prometheus;
    ngx_oc_status_t     *st;
    ngx_oc_writer_t      w;
    ngx_oc_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = 0;

    if (ngx_http_arg(r, (u_char *) "format", sizeof("format") - 1, &format)
        == NGX_OK)
    {
        if (format.len == sizeof("prometheus") - 1
            && ngx_strncmp(format.data, "prometheus", format.len) == 0)
        {
            prometheus = 1;

        } else if (format.len != sizeof("json") - 1
                   || ngx_strncmp(format.data, "json", format.len) != 0)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "oc_status: unknown format \"%V\", "
                          "use \"json\" or \"prometheus\"", &format);
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    st = ngx_oc_status_collect(r, omcf);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&w, sizeof(ngx_oc_writer_t));
    w.pool = r->pool;
    w.last = &w.out;

    if (prometheus) {
        ngx_oc_status_prometheus(&w, st);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_oc_status_json(&w, st);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    if (w.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last_buf = (r == r->main) ? 1 : 0;
    w.buf->last_in_chain = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oc status: %ui instances, %s, %O bytes",
                   st->ninstances, prometheus ? "prometheus" : "json",
                   w.size);

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = w.size;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


/* every record in one pass under the lock, copied without its token */

static ngx_oc_status_t *
ngx_oc_status_collect(ngx_http_request_t *r, ngx_oc_main_conf_t *omcf)
{
    ngx_str_t                  tenant;
    ngx_uint_t                 i;
    ngx_oc_shrec_t            *rec;
    ngx_oc_status_t           *st;
    ngx_slab_pool_t           *shpool;
    ngx_oc_instance_t        **oip;
    ngx_oc_status_instance_t  *si;

    st = ngx_pcalloc(r->pool, sizeof(ngx_oc_status_t));
    if (st == NULL) {
        return NULL;
    }

    st->now = ngx_oc_now_ms();

    if (omcf->sh == NULL) {
        return st;
    }

    st->instances = ngx_pcalloc(r->pool, omcf->instances.nelts
                                         * sizeof(ngx_oc_status_instance_t));
    if (st->instances == NULL) {
        return NULL;
    }

    st->ninstances = omcf->instances.nelts;
    st->zone = omcf->shm_zone;

    shpool = omcf->shpool;
    oip = omcf->instances.elts;

    if (ngx_http_arg(r, (u_char *) "tenant", sizeof("tenant") - 1, &tenant)
        != NGX_OK)
    {
        ngx_str_null(&tenant);
    }

    ngx_shmtx_lock(&shpool->mutex);

    st->pages = shpool->last - shpool->pages;
    st->free = shpool->pfree;

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        rec = oip[i]->rec;

        si->oi = oip[i];
        si->state = rec->state;
        si->resolving = rec->lease_pid != 0 && st->now < rec->lease_until;
        si->id = rec->id;
        si->generation = rec->generation;
        si->token_time = rec->token_len ? rec->token_time : 0;
        si->failures = rec->failures;
        si->next_retry = rec->next_retry;

        si->error_time = rec->error_time;
        si->error_len = rec->error_len;
        ngx_memcpy(si->error, rec->error, rec->error_len);
        si->request_id_len = rec->request_id_len;
        ngx_memcpy(si->request_id, rec->request_id, rec->request_id_len);

        ngx_memcpy((void *) &si->counters, (void *) &rec->counters,
                   sizeof(ngx_oc_counters_t));

        if (oip[i]->family) {
            ngx_oc_status_family(si, oip[i], &tenant);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return st;
}


static void
ngx_oc_status_json(ngx_oc_writer_t *w, ngx_oc_status_t *st)
{
    ngx_uint_t  i;

    ngx_oc_writer_printf(w, "{\"version\":\"" NGX_OC_VERSION "\","
                         "\"nginx_version\":\"" NGINX_VERSION "\","
                         "\"libcurl_version\":\"%s\","
                         "\"time\":%uL.%03uL,\"zone\":",
                         curl_version_info(CURLVERSION_NOW)->version,
                         st->now / 1000, st->now % 1000);

    if (st->zone == NULL) {
        ngx_oc_writer_printf(w, "null");

    } else {
        ngx_oc_writer_printf(w, "{\"name\":");
        ngx_oc_status_json_str(w, st->zone->shm.name.data,
                               st->zone->shm.name.len);
        ngx_oc_writer_printf(w, ",\"size\":%uz,\"pages\":{\"total\":%ui,"
                             "\"used\":%ui,\"free\":%ui}}",
                             st->zone->shm.size, st->pages,
                             st->pages - st->free, st->free);
    }

    ngx_oc_writer_printf(w, ",\"instances\":{");

    for (i = 0; i < st->ninstances; i++) {
        ngx_oc_writer_printf(w, i ? ",\n" : "\n");
        ngx_oc_status_json_instance(w, st, &st->instances[i]);
    }

    ngx_oc_writer_printf(w, "}}\n");
}


static void
ngx_oc_status_json_instance(ngx_oc_writer_t *w, ngx_oc_status_t *st,
    ngx_oc_status_instance_t *si)
{
    ngx_uint_t          k;
    ngx_oc_instance_t  *oi;

    oi = si->oi;

    ngx_oc_status_json_str(w, oi->block.data, oi->block.len);
    ngx_oc_writer_printf(w, ":{\"element\":");
    ngx_oc_status_json_str(w, oi->element.data, oi->element.len);
    ngx_oc_writer_printf(w, ",\"name\":");
    ngx_oc_status_json_str(w, oi->name.data, oi->name.len);

    ngx_oc_writer_printf(w, ",\"auth\":\"%V\",\"state\":\"%V\","
                         "\"resolving\":%s,",
                         ngx_oc_auth_name(oi->auth),
                         &ngx_oc_state_names[si->state],
                         si->resolving ? "true" : "false");

    if (si->id > 0) {
        ngx_oc_writer_printf(w, "\"instance_id\":%L,", si->id);

    } else {
        ngx_oc_writer_printf(w, "\"instance_id\":null,");
    }

    ngx_oc_writer_printf(w, "\"generation\":%uA,", si->generation);

    if (si->token_time) {
        ngx_oc_writer_printf(w, "\"token_age\":%T,",
                             ngx_max(ngx_time() - si->token_time, 0));

    } else {
        ngx_oc_writer_printf(w, "\"token_age\":null,");
    }

    ngx_oc_writer_printf(w, "\"failures\":%ui,", si->failures);

    if (si->next_retry) {
        ngx_oc_writer_printf(w, "\"next_retry\":%uL.%03uL,",
                             si->next_retry / 1000, si->next_retry % 1000);

    } else {
        ngx_oc_writer_printf(w, "\"next_retry\":null,");
    }

    if (si->error_len) {
        ngx_oc_writer_printf(w, "\"last_error\":{\"message\":");
        ngx_oc_status_json_str(w, si->error, si->error_len);
        ngx_oc_writer_printf(w, ",\"request_id\":");

        if (si->request_id_len) {
            ngx_oc_status_json_str(w, si->request_id, si->request_id_len);

        } else {
            ngx_oc_writer_printf(w, "null");
        }

        ngx_oc_writer_printf(w, ",\"time\":%T},", si->error_time);

    } else {
        ngx_oc_writer_printf(w, "\"last_error\":null,");
    }

    ngx_oc_writer_printf(w, "\"requests\":{\"injected\":%uA,",
                         si->counters.injected);
    ngx_oc_status_json_counts(w, "refused", ngx_oc_refused_names,
                              si->counters.refused, NGX_OC_REFUSED_N);

    ngx_oc_writer_printf(w, "},\"calls\":{");

    for (k = 0; k < NGX_OC_CALL_N; k++) {
        if (k) {
            ngx_oc_writer_printf(w, ",");
        }

        ngx_oc_status_json_counts(w, (char *) ngx_oc_call_names[k].data,
                                  ngx_oc_outcome_names,
                                  si->counters.calls[k], NGX_OC_OUTCOME_N);
    }

    ngx_oc_writer_printf(w, "},");
    ngx_oc_status_json_counts(w, "resolutions", ngx_oc_resolved_names,
                              si->counters.resolutions, NGX_OC_RESOLVED_N);

    ngx_oc_writer_printf(w, ",\"token_purges\":%uA", si->counters.purges);

    if (si->family) {
        ngx_oc_status_json_family(w, si);
    }

    ngx_oc_writer_printf(w, "}");
}


/* under the lock: the family's tenants by state, their counters summed */

static void
ngx_oc_status_family(ngx_oc_status_instance_t *si, ngx_oc_instance_t *oi,
    ngx_str_t *tenant)
{
    ngx_oc_shrec_t    *rec;
    ngx_oc_tshared_t  *tsh;

    si->family = 1;
    tsh = oi->rec->tenants;

    if (tsh == NULL) {
        return;
    }

    ngx_oc_tenant_count(oi, si->states, &si->counters, &si->tenants);

    si->tenants_max = tsh->max;
    si->evicted = tsh->evicted;
    si->full = tsh->full;

    if (tenant->len == 0 || tenant->len > NGX_OC_TENANT_MAX) {
        return;
    }

    si->tenant = *tenant;

    rec = ngx_oc_tenant_find_locked(oi, tenant);

    if (rec == NULL) {
        return;
    }

    si->tenant_found = 1;
    si->tenant_state = (rec->state == NGX_OC_UNAUTHORIZED && rec->none)
                       ? NGX_OC_DISABLED + 1 : rec->state;
    si->tenant_id = rec->id;
    si->tenant_failures = rec->failures;
    si->tenant_error_len = rec->error_len;
    ngx_memcpy(si->tenant_error, rec->error, rec->error_len);
}


static void
ngx_oc_status_json_family(ngx_oc_writer_t *w, ngx_oc_status_instance_t *si)
{
    ngx_uint_t  k;

    static ngx_str_t  names[] = {
        ngx_string("absent"), ngx_string("ready"), ngx_string("stale"),
        ngx_string("failed"), ngx_string("unauthorized"),
        ngx_string("disabled"), ngx_string("not_connected")
    };

    ngx_oc_writer_printf(w, ",\"tenants\":{\"count\":%ui,\"max\":%ui,"
                         "\"evicted\":%ui,\"refused_full\":%ui,"
                         "\"states\":{", si->tenants, si->tenants_max,
                         si->evicted, si->full);

    for (k = 0; k < NGX_OC_DISABLED + 2; k++) {
        ngx_oc_writer_printf(w, "%s\"%V\":%ui", k ? "," : "", &names[k],
                             si->states[k]);
    }

    ngx_oc_writer_printf(w, "}}");

    if (si->tenant.len == 0) {
        return;
    }

    ngx_oc_writer_printf(w, ",\"tenant\":");

    if (!si->tenant_found) {
        ngx_oc_writer_printf(w, "null");
        return;
    }

    ngx_oc_writer_printf(w, "{\"value\":");
    ngx_oc_status_json_str(w, si->tenant.data, si->tenant.len);
    ngx_oc_writer_printf(w, ",\"state\":\"%V\",\"id\":",
                         &names[si->tenant_state]);

    if (si->tenant_id > 0) {
        ngx_oc_writer_printf(w, "%L", si->tenant_id);

    } else {
        ngx_oc_writer_printf(w, "null");
    }

    ngx_oc_writer_printf(w, ",\"failures\":%ui,\"last_error\":",
                         si->tenant_failures);

    if (si->tenant_error_len) {
        ngx_oc_status_json_str(w, si->tenant_error, si->tenant_error_len);

    } else {
        ngx_oc_writer_printf(w, "null");
    }

    ngx_oc_writer_printf(w, "}");
}


static void
ngx_oc_status_json_counts(ngx_oc_writer_t *w, const char *name,
    ngx_str_t *names, ngx_atomic_t *counts, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_oc_writer_printf(w, "\"%s\":{", name);

    for (i = 0; i < n; i++) {
        ngx_oc_writer_printf(w, "%s\"%V\":%uA", i ? "," : "", &names[i],
                             counts[i]);
    }

    ngx_oc_writer_printf(w, "}");
}


static void
ngx_oc_status_json_str(ngx_oc_writer_t *w, u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_oc_writer_reserve(w, len + ngx_escape_json(NULL, data, len) + 2);
    if (p == NULL) {
        return;
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, data, len);
    *p++ = '"';

    w->size += p - w->buf->last;
    w->buf->last = p;
}


/* a pointer to at least n free bytes at the end of the body */

u_char *
ngx_oc_writer_reserve(ngx_oc_writer_t *w, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (w->failed) {
        return NULL;
    }

    if (w->buf && (size_t) (w->buf->end - w->buf->last) >= n) {
        return w->buf->last;
    }

    b = ngx_create_temp_buf(w->pool, ngx_max(n, 4096));
    if (b == NULL) {
        goto failed;
    }

    cl = ngx_alloc_chain_link(w->pool);
    if (cl == NULL) {
        goto failed;
    }

    cl->buf = b;
    cl->next = NULL;

    *w->last = cl;
    w->last = &cl->next;
    w->buf = b;

    return b->last;

failed:

    w->failed = 1;

    return NULL;
}


void
ngx_oc_writer_printf(ngx_oc_writer_t *w, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    p = ngx_oc_writer_reserve(w, NGX_OC_WRITER_LINE);
    if (p == NULL) {
        return;
    }

    last = p + NGX_OC_WRITER_LINE;

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    w->size += p - w->buf->last;
    w->buf->last = p;
}


char *
ngx_oc_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_oc_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_oc_status_handler;

    return NGX_CONF_OK;
}
