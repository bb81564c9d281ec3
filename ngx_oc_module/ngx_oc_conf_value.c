
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"


/*
 * Values of the configuration checked as nginx -t reads them: the API
 * URL, the zone, pasted curly quotes, configuration keys with a typo.
 */


/* longer configuration keys are not compared for typos */
#define NGX_OC_KEY_MAX  64


static ngx_uint_t ngx_oc_distance(ngx_str_t *a, ngx_str_t *b);


/*
 * configuration keys the reference sheet names: an unknown key close to
 * one of them is most likely a typo, which Open Connectors ignores
 */

static ngx_str_t  ngx_oc_known_keys[] = {
    ngx_string("pipedrive.email"),
    ngx_string("pipedrive.password"),
    ngx_string("pipedrive.api.token"),
    ngx_string("oauth.api.key"),
    ngx_string("oauth.api.secret"),
    ngx_string("oauth.callback.url"),
    ngx_string("event.notification.enabled"),
    ngx_string("event.notification.callback.url"),
    ngx_string("event.notification.signature.key"),
    ngx_string("event.notification.type"),
    ngx_string("event.notification.instance.finder"),
    ngx_string("event.vendor.type"),
    ngx_string("event.poller.refresh_interval"),
    ngx_string("event.poller.configuration"),
    ngx_string("event.poller.urls"),
    ngx_string("filter.response.nulls"),
    ngx_string("pagination.max"),
    ngx_string("pagination.offset"),
    ngx_string("base.url"),
    ngx_null_string
};


/* "oc_api_url": checked, trailing slashes removed in place */

ngx_int_t
ngx_oc_conf_api_url(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *url)
{
    if (ngx_oc_conf_check_quotes(cf, what, url, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ngx_oc_conf_is_http_url(url)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\" in \"oc_api_url\", it must "
                           "begin with \"http://\" or \"https://\" and a host",
                           url);
        return NGX_ERROR;
    }

    while (url->data[url->len - 1] == '/') {
        url->len--;
    }

    return NGX_OK;
}


/* "oc_zone NAME:SIZE"; the argument is null-terminated */

ngx_int_t
ngx_oc_conf_zone(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    p = (u_char *) ngx_strchr(value->data, ':');

    if (p == NULL || p == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid oc_zone \"%V\", it must be NAME:SIZE",
                           value);
        return NGX_ERROR;
    }

    name->data = value->data;
    name->len = p - name->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    *size = ngx_parse_size(&s);

    if (*size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NGX_ERROR;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "config KEY VALUE": a warning for a key one typo away from a known one */

void
ngx_oc_conf_check_key(ngx_conf_t *cf, ngx_str_t *key)
{
    ngx_str_t   *known, *best;
    ngx_uint_t   d, min;

    best = NULL;
    min = 3;

    for (known = ngx_oc_known_keys; known->len; known++) {

        if (key->len == known->len
            && ngx_strncmp(key->data, known->data, key->len) == 0)
        {
            return;
        }

        /* 0: the same key in another case, which Open Connectors ignores */

        d = ngx_oc_distance(key, known);

        if (d < min) {
            min = d;
            best = known;
        }
    }

    /* a short key is close to too many others to guess */

    if (best != NULL && key->len > 2 * min + 2) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "config \"%V\" is not a key Open Connectors "
                           "knows and is ignored by it, did you mean "
                           "\"%V\"?", key, best);
    }
}


/*
 * edit distance (insertions, deletions, substitutions and swaps of two
 * neighbours), case-insensitive; NGX_OC_KEY_MAX or more when too long
 */

static ngx_uint_t
ngx_oc_distance(ngx_str_t *a, ngx_str_t *b)
{
    ngx_uint_t  i, j, cost, d, row[3][NGX_OC_KEY_MAX + 1];
    ngx_uint_t  *prev2, *prev, *cur, *t;

    if (a->len >= NGX_OC_KEY_MAX || b->len >= NGX_OC_KEY_MAX) {
        return NGX_OC_KEY_MAX;
    }

    prev2 = row[0];
    prev = row[1];
    cur = row[2];

    for (j = 0; j <= b->len; j++) {
        prev[j] = j;
    }

    for (i = 1; i <= a->len; i++) {
        cur[0] = i;

        for (j = 1; j <= b->len; j++) {
            cost = (ngx_tolower(a->data[i - 1])
                    != ngx_tolower(b->data[j - 1]));

            d = ngx_min(prev[j] + 1, cur[j - 1] + 1);
            d = ngx_min(d, prev[j - 1] + cost);

            if (i > 1 && j > 1
                && ngx_tolower(a->data[i - 1]) == ngx_tolower(b->data[j - 2])
                && ngx_tolower(a->data[i - 2]) == ngx_tolower(b->data[j - 1]))
            {
                d = ngx_min(d, prev2[j - 2] + 1);
            }

            cur[j] = d;
        }

        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }

    return prev[b->len];
}


/*
 * U+2018, U+2019, U+201C and U+201D in UTF-8: the Open Connectors
 * documentation warns that values pasted from it often carry them
 */

ngx_int_t
ngx_oc_conf_check_quotes(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *value,
    ngx_str_t *source)
{
    u_char  *p, *last;

    last = value->data + value->len;

    for (p = value->data; p + 2 < last; p++) {

        if (p[0] != 0xe2 || p[1] != 0x80) {
            continue;
        }

        if (p[2] != 0x98 && p[2] != 0x99 && p[2] != 0x9c && p[2] != 0x9d) {
            continue;
        }

        if (source != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: the value of \"%V\" contains curly "
                               "quotes, a pasted value often carries them, "
                               "write plain quotes (\" or ') or none",
                               what, source);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: the value contains curly quotes, "
                               "a pasted value often carries them, "
                               "write plain quotes (\" or ') or none",
                               what);
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_oc_conf_is_http_url(ngx_str_t *url)
{
    size_t  n;

    if (url->len > sizeof("http://") - 1
        && ngx_strncasecmp(url->data, (u_char *) "http://",
                           sizeof("http://") - 1) == 0)
    {
        n = sizeof("http://") - 1;

    } else if (url->len > sizeof("https://") - 1
               && ngx_strncasecmp(url->data, (u_char *) "https://",
                                  sizeof("https://") - 1) == 0)
    {
        n = sizeof("https://") - 1;

    } else {
        return 0;
    }

    /* a host must follow */

    switch (url->data[n]) {
    case '/':
    case '?':
    case '#':
    case ':':
    case ' ':
        return 0;
    }

    return 1;
}
