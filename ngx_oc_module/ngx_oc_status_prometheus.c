
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_status.h"


/*
 * The Prometheus text exposition format, version 0.0.4: each metric
 * family once, HELP and TYPE before its samples, all instances together
 */


static void ngx_oc_prom_family(ngx_oc_writer_t *w, const char *name,
    const char *type, const char *help);
static void ngx_oc_prom_sample(ngx_oc_writer_t *w, const char *name,
    ngx_oc_status_instance_t *si);
static void ngx_oc_prom_zone(ngx_oc_writer_t *w, const char *name,
    ngx_oc_status_t *st);
static void ngx_oc_prom_label(ngx_oc_writer_t *w, const char *name,
    ngx_str_t *value, ngx_uint_t first);
static void ngx_oc_prom_counts(ngx_oc_writer_t *w, ngx_oc_status_t *st,
    const char *name, const char *help, const char *label, ngx_str_t *names,
    ngx_uint_t n, size_t offset);


void
ngx_oc_status_prometheus(ngx_oc_writer_t *w, ngx_oc_status_t *st)
{
    ngx_uint_t                 i, k, o;
    ngx_oc_instance_t         *oi;
    ngx_oc_status_instance_t  *si;

    ngx_oc_prom_family(w, "ngx_oc_instance_info", "gauge",
                       "Declared oc_instance: element, Open Connectors "
                       "name and auth type.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        oi = si->oi;

        ngx_oc_prom_sample(w, "ngx_oc_instance_info", si);
        ngx_oc_prom_label(w, "element", &oi->element, 0);
        ngx_oc_prom_label(w, "name", &oi->name, 0);
        ngx_oc_prom_label(w, "auth", ngx_oc_auth_name(oi->auth), 0);
        ngx_oc_writer_printf(w, "} 1\n");
    }

    ngx_oc_prom_family(w, "ngx_oc_instance_state", "gauge",
                       "1 for the current state of the instance record, "
                       "0 for the others.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        for (k = 0; ngx_oc_state_names[k].len; k++) {
            ngx_oc_prom_sample(w, "ngx_oc_instance_state", si);
            ngx_oc_prom_label(w, "state", &ngx_oc_state_names[k], 0);
            ngx_oc_writer_printf(w, "} %d\n", si->state == k);
        }
    }

    ngx_oc_prom_family(w, "ngx_oc_instance_resolving", "gauge",
                       "1 while a worker resolves the instance.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        ngx_oc_prom_sample(w, "ngx_oc_instance_resolving", si);
        ngx_oc_writer_printf(w, "} %ui\n", si->resolving);
    }

    ngx_oc_prom_family(w, "ngx_oc_instance_id", "gauge",
                       "Open Connectors id of the instance in use.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        if (si->id > 0) {
            ngx_oc_prom_sample(w, "ngx_oc_instance_id", si);
            ngx_oc_writer_printf(w, "} %L\n", si->id);
        }
    }

    ngx_oc_prom_family(w, "ngx_oc_instance_generation", "gauge",
                       "Generation of the shared record, moves on every "
                       "change.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        ngx_oc_prom_sample(w, "ngx_oc_instance_generation", si);
        ngx_oc_writer_printf(w, "} %uA\n", si->generation);
    }

    ngx_oc_prom_family(w, "ngx_oc_token_age_seconds", "gauge",
                       "Seconds since the instance token last changed.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        if (si->token_time) {
            ngx_oc_prom_sample(w, "ngx_oc_token_age_seconds", si);
            ngx_oc_writer_printf(w, "} %T\n",
                                 ngx_max(ngx_time() - si->token_time, 0));
        }
    }

    ngx_oc_prom_family(w, "ngx_oc_instance_failures", "gauge",
                       "Resolutions failed in a row.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        ngx_oc_prom_sample(w, "ngx_oc_instance_failures", si);
        ngx_oc_writer_printf(w, "} %ui\n", si->failures);
    }

    ngx_oc_prom_family(w, "ngx_oc_next_retry_timestamp_seconds", "gauge",
                       "When the next resolution after a failure is due.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        if (si->next_retry) {
            ngx_oc_prom_sample(w, "ngx_oc_next_retry_timestamp_seconds", si);
            ngx_oc_writer_printf(w, "} %uL.%03uL\n", si->next_retry / 1000,
                                 si->next_retry % 1000);
        }
    }

    ngx_oc_prom_family(w, "ngx_oc_last_error_timestamp_seconds", "gauge",
                       "When the last resolution failed.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        if (si->error_len) {
            ngx_oc_prom_sample(w, "ngx_oc_last_error_timestamp_seconds", si);
            ngx_oc_writer_printf(w, "} %T\n", si->error_time);
        }
    }

    ngx_oc_prom_family(w, "ngx_oc_requests_injected_total", "counter",
                       "Requests sent upstream with the instance token.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        ngx_oc_prom_sample(w, "ngx_oc_requests_injected_total", si);
        ngx_oc_writer_printf(w, "} %uA\n", si->counters.injected);
    }

    ngx_oc_prom_counts(w, st, "ngx_oc_requests_refused_total",
                       "Requests refused with 503, by reason.", "reason",
                       ngx_oc_refused_names, NGX_OC_REFUSED_N,
                       offsetof(ngx_oc_counters_t, refused));

    ngx_oc_prom_family(w, "ngx_oc_api_calls_total", "counter",
                       "Open Connectors API calls by kind and outcome.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];

        for (k = 0; k < NGX_OC_CALL_N; k++) {
            for (o = 0; o < NGX_OC_OUTCOME_N; o++) {
                ngx_oc_prom_sample(w, "ngx_oc_api_calls_total", si);
                ngx_oc_prom_label(w, "kind", &ngx_oc_call_names[k], 0);
                ngx_oc_prom_label(w, "outcome", &ngx_oc_outcome_names[o],
                                  0);
                ngx_oc_writer_printf(w, "} %uA\n", si->counters.calls[k][o]);
            }
        }
    }

    ngx_oc_prom_counts(w, st, "ngx_oc_resolutions_total",
                       "Resolutions of the instance, by outcome.", "outcome",
                       ngx_oc_resolved_names, NGX_OC_RESOLVED_N,
                       offsetof(ngx_oc_counters_t, resolutions));

    ngx_oc_prom_family(w, "ngx_oc_token_purges_total", "counter",
                       "Tokens dropped after an upstream 401.");

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        ngx_oc_prom_sample(w, "ngx_oc_token_purges_total", si);
        ngx_oc_writer_printf(w, "} %uA\n", si->counters.purges);
    }

    if (st->zone == NULL) {
        return;
    }

    ngx_oc_prom_family(w, "ngx_oc_zone_size_bytes", "gauge",
                       "Size of the shared memory zone.");
    ngx_oc_prom_zone(w, "ngx_oc_zone_size_bytes", st);
    ngx_oc_writer_printf(w, "} %uz\n", st->zone->shm.size);

    ngx_oc_prom_family(w, "ngx_oc_zone_pages", "gauge",
                       "Pages of the shared memory zone, used and free.");
    ngx_oc_prom_zone(w, "ngx_oc_zone_pages", st);
    ngx_oc_writer_printf(w, ",state=\"used\"} %ui\n",
                         st->pages - st->free);
    ngx_oc_prom_zone(w, "ngx_oc_zone_pages", st);
    ngx_oc_writer_printf(w, ",state=\"free\"} %ui\n", st->free);
}


static void
ngx_oc_prom_family(ngx_oc_writer_t *w, const char *name, const char *type,
    const char *help)
{
    ngx_oc_writer_printf(w, "# HELP %s %s\n# TYPE %s %s\n",
                         name, help, name, type);
}


/* the metric name and the instance label, the sample is left open */

static void
ngx_oc_prom_sample(ngx_oc_writer_t *w, const char *name,
    ngx_oc_status_instance_t *si)
{
    ngx_oc_writer_printf(w, "%s{", name);
    ngx_oc_prom_label(w, "instance", &si->oi->block, 1);
}


static void
ngx_oc_prom_zone(ngx_oc_writer_t *w, const char *name, ngx_oc_status_t *st)
{
    ngx_oc_writer_printf(w, "%s{", name);
    ngx_oc_prom_label(w, "zone", &st->zone->shm.name, 1);
}


/* name="value", after a comma unless it is the first label */

static void
ngx_oc_prom_label(ngx_oc_writer_t *w, const char *name, ngx_str_t *value,
    ngx_uint_t first)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = ngx_strlen(name);

    p = ngx_oc_writer_reserve(w, len + 2 * value->len + sizeof(",=\"\""));
    if (p == NULL) {
        return;
    }

    if (!first) {
        *p++ = ',';
    }

    p = ngx_cpymem(p, name, len);
    *p++ = '=';
    *p++ = '"';

    for (i = 0; i < value->len; i++) {
        switch (value->data[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = value->data[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = value->data[i];
        }
    }

    *p++ = '"';

    w->size += p - w->buf->last;
    w->buf->last = p;
}


/* a counter family with one label over an array of the counters */

static void
ngx_oc_prom_counts(ngx_oc_writer_t *w, ngx_oc_status_t *st, const char *name,
    const char *help, const char *label, ngx_str_t *names, ngx_uint_t n,
    size_t offset)
{
    ngx_uint_t                 i, k;
    ngx_atomic_t              *counts;
    ngx_oc_status_instance_t  *si;

    ngx_oc_prom_family(w, name, "counter", help);

    for (i = 0; i < st->ninstances; i++) {
        si = &st->instances[i];
        counts = (ngx_atomic_t *) ((u_char *) &si->counters + offset);

        for (k = 0; k < n; k++) {
            ngx_oc_prom_sample(w, name, si);
            ngx_oc_prom_label(w, label, &names[k], 0);
            ngx_oc_writer_printf(w, "} %uA\n", counts[k]);
        }
    }
}
