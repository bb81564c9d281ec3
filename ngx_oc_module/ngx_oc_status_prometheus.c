
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"
#include "ngx_oc_status.h"
#include "ngx_oc_version.h"


/*
 * The Prometheus text exposition format, version 0.0.4: each metric
 * family once, HELP and TYPE before its samples, all instances together.
 * The instance label is "oc_instance": "instance" is Prometheus's own
 * label for the scraped target.
 */


/* how a family reads its value from ngx_oc_status_instance_t */
#define NGX_OC_PROM_UINT        0   /* ngx_uint_t */
#define NGX_OC_PROM_ATOMIC      1   /* ngx_atomic_t */
#define NGX_OC_PROM_ID          2   /* int64_t, no sample unless > 0 */
#define NGX_OC_PROM_AGE         3   /* time_t, seconds since, 0: none */
#define NGX_OC_PROM_TIME        4   /* time_t, 0: no sample */
#define NGX_OC_PROM_TIME_MS     5   /* uint64_t ms, in s, 0: no sample */
#define NGX_OC_PROM_COUNTS      6   /* ngx_atomic_t[n], one per label */
#define NGX_OC_PROM_STATE       7   /* ngx_uint_t, 1 for its label */
#define NGX_OC_PROM_CALLS       8   /* the calls by kind and outcome */
#define NGX_OC_PROM_INFO        9   /* 1, the declaration as labels */


typedef struct {
    const char                 *name;
    const char                 *type;
    const char                 *help;
    size_t                      offset;
    ngx_uint_t                  value;      /* NGX_OC_PROM_* */
    const char                 *label;      /* COUNTS, STATE */
    ngx_str_t                  *names;
    ngx_uint_t                  n;
} ngx_oc_prom_metric_t;


static void ngx_oc_prom_build_info(ngx_oc_writer_t *w);
static void ngx_oc_prom_instance(ngx_oc_writer_t *w,
    ngx_oc_prom_metric_t *m, ngx_oc_status_instance_t *si);
static void ngx_oc_prom_family(ngx_oc_writer_t *w, const char *name,
    const char *type, const char *help);
static void ngx_oc_prom_sample(ngx_oc_writer_t *w, const char *name,
    ngx_oc_status_instance_t *si);
static void ngx_oc_prom_zone(ngx_oc_writer_t *w, const char *name,
    ngx_oc_status_t *st);
static void ngx_oc_prom_label(ngx_oc_writer_t *w, const char *name,
    ngx_str_t *value, ngx_uint_t first);


#define ngx_oc_si(field)        offsetof(ngx_oc_status_instance_t, field)


static ngx_oc_prom_metric_t  ngx_oc_prom_metrics[] = {

    { "ngx_oc_instance_info", "gauge",
      "Declared oc_instance: element, Open Connectors name and auth type.",
      0, NGX_OC_PROM_INFO, NULL, NULL, 0 },

    { "ngx_oc_instance_state", "gauge",
      "1 for the current state of the instance record, 0 for the others.",
      ngx_oc_si(state), NGX_OC_PROM_STATE, "state", ngx_oc_state_names,
      0 },

    { "ngx_oc_instance_resolving", "gauge",
      "1 while a worker resolves the instance.",
      ngx_oc_si(resolving), NGX_OC_PROM_UINT, NULL, NULL, 0 },

    { "ngx_oc_instance_id", "gauge",
      "Open Connectors id of the instance in use.",
      ngx_oc_si(id), NGX_OC_PROM_ID, NULL, NULL, 0 },

    { "ngx_oc_instance_generation", "gauge",
      "Generation of the shared record, moves on every change.",
      ngx_oc_si(generation), NGX_OC_PROM_ATOMIC, NULL, NULL, 0 },

    { "ngx_oc_token_age_seconds", "gauge",
      "Seconds since the instance token last changed.",
      ngx_oc_si(token_time), NGX_OC_PROM_AGE, NULL, NULL, 0 },

    { "ngx_oc_instance_failures", "gauge",
      "Resolutions failed in a row.",
      ngx_oc_si(failures), NGX_OC_PROM_UINT, NULL, NULL, 0 },

    { "ngx_oc_next_retry_timestamp_seconds", "gauge",
      "When the next resolution after a failure is due.",
      ngx_oc_si(next_retry), NGX_OC_PROM_TIME_MS, NULL, NULL, 0 },

    { "ngx_oc_last_error_timestamp_seconds", "gauge",
      "When the last resolution failed.",
      ngx_oc_si(error_time), NGX_OC_PROM_TIME, NULL, NULL, 0 },

    { "ngx_oc_requests_injected_total", "counter",
      "Requests sent upstream with the instance token.",
      ngx_oc_si(counters.injected), NGX_OC_PROM_ATOMIC, NULL, NULL, 0 },

    { "ngx_oc_requests_refused_total", "counter",
      "Requests refused with 503, by reason.",
      ngx_oc_si(counters.refused), NGX_OC_PROM_COUNTS, "reason",
      ngx_oc_refused_names, NGX_OC_REFUSED_N },

    { "ngx_oc_api_calls_total", "counter",
      "Open Connectors API calls by kind and outcome.",
      ngx_oc_si(counters.calls), NGX_OC_PROM_CALLS, NULL, NULL, 0 },

    { "ngx_oc_resolutions_total", "counter",
      "Resolutions of the instance, by outcome.",
      ngx_oc_si(counters.resolutions), NGX_OC_PROM_COUNTS, "outcome",
      ngx_oc_resolved_names, NGX_OC_RESOLVED_N },

    { "ngx_oc_token_purges_total", "counter",
      "Tokens dropped after an upstream 401.",
      ngx_oc_si(counters.purges), NGX_OC_PROM_ATOMIC, NULL, NULL, 0 },

    { NULL, NULL, NULL, 0, 0, NULL, NULL, 0 }
};


void
ngx_oc_status_prometheus(ngx_oc_writer_t *w, ngx_oc_status_t *st)
{
    ngx_uint_t             i;
    ngx_oc_prom_metric_t  *m;

    ngx_oc_prom_build_info(w);

    for (m = ngx_oc_prom_metrics; m->name; m++) {
        ngx_oc_prom_family(w, m->name, m->type, m->help);

        for (i = 0; i < st->ninstances; i++) {
            ngx_oc_prom_instance(w, m, &st->instances[i]);
        }
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
ngx_oc_prom_build_info(ngx_oc_writer_t *w)
{
    curl_version_info_data  *cv;

    cv = curl_version_info(CURLVERSION_NOW);

    ngx_oc_prom_family(w, "ngx_oc_build_info", "gauge",
                       "Versions of the module, nginx and libcurl.");
    ngx_oc_writer_printf(w, "ngx_oc_build_info{version=\"" NGX_OC_VERSION
                         "\",nginx=\"" NGINX_VERSION "\",libcurl=\"%s\"} 1\n",
                         cv->version);
}


/* the samples of one family for one instance */

static void
ngx_oc_prom_instance(ngx_oc_writer_t *w, ngx_oc_prom_metric_t *m,
    ngx_oc_status_instance_t *si)
{
    u_char             *p;
    time_t              t;
    uint64_t            ms;
    ngx_uint_t          k, o, v;
    ngx_atomic_t       *counts;
    ngx_oc_instance_t  *oi;

    p = (u_char *) si + m->offset;

    switch (m->value) {

    case NGX_OC_PROM_UINT:
        ngx_oc_prom_sample(w, m->name, si);
        ngx_oc_writer_printf(w, "} %ui\n", *(ngx_uint_t *) p);
        return;

    case NGX_OC_PROM_ATOMIC:
        ngx_oc_prom_sample(w, m->name, si);
        ngx_oc_writer_printf(w, "} %uA\n", *(ngx_atomic_t *) p);
        return;

    case NGX_OC_PROM_ID:
        if (*(int64_t *) p > 0) {
            ngx_oc_prom_sample(w, m->name, si);
            ngx_oc_writer_printf(w, "} %L\n", *(int64_t *) p);
        }
        return;

    case NGX_OC_PROM_AGE:
    case NGX_OC_PROM_TIME:
        t = *(time_t *) p;

        if (t) {
            ngx_oc_prom_sample(w, m->name, si);
            ngx_oc_writer_printf(w, "} %T\n", m->value == NGX_OC_PROM_AGE
                                              ? ngx_max(ngx_time() - t, 0)
                                              : t);
        }
        return;

    case NGX_OC_PROM_TIME_MS:
        ms = *(uint64_t *) p;

        if (ms) {
            ngx_oc_prom_sample(w, m->name, si);
            ngx_oc_writer_printf(w, "} %uL.%03uL\n", ms / 1000, ms % 1000);
        }
        return;

    case NGX_OC_PROM_COUNTS:
        counts = (ngx_atomic_t *) p;

        for (k = 0; k < m->n; k++) {
            ngx_oc_prom_sample(w, m->name, si);
            ngx_oc_prom_label(w, m->label, &m->names[k], 0);
            ngx_oc_writer_printf(w, "} %uA\n", counts[k]);
        }
        return;

    case NGX_OC_PROM_STATE:
        v = *(ngx_uint_t *) p;

        for (k = 0; m->names[k].len; k++) {
            ngx_oc_prom_sample(w, m->name, si);
            ngx_oc_prom_label(w, m->label, &m->names[k], 0);
            ngx_oc_writer_printf(w, "} %d\n", v == k);
        }
        return;

    case NGX_OC_PROM_CALLS:
        counts = (ngx_atomic_t *) p;

        for (k = 0; k < NGX_OC_CALL_N; k++) {
            for (o = 0; o < NGX_OC_OUTCOME_N; o++) {
                ngx_oc_prom_sample(w, m->name, si);
                ngx_oc_prom_label(w, "kind", &ngx_oc_call_names[k], 0);
                ngx_oc_prom_label(w, "outcome", &ngx_oc_outcome_names[o],
                                  0);
                ngx_oc_writer_printf(w, "} %uA\n",
                                     counts[k * NGX_OC_OUTCOME_N + o]);
            }
        }
        return;

    default: /* NGX_OC_PROM_INFO */
        oi = si->oi;

        ngx_oc_prom_sample(w, m->name, si);
        ngx_oc_prom_label(w, "oc_element", &oi->element, 0);
        ngx_oc_prom_label(w, "name", &oi->name, 0);
        ngx_oc_prom_label(w, "auth", ngx_oc_auth_name(oi->auth), 0);
        ngx_oc_writer_printf(w, "} 1\n");
        return;
    }
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
    ngx_oc_prom_label(w, "oc_instance", &si->oi->block, 1);
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
