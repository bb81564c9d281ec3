/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_curl.h"


/*
 * An Open Connectors answer as libcurl hands it over, piece by piece: the
 * body kept up to oc_api_max_body, and the few headers the resolver reads.
 * fuzz/fuzz_api_body.c and fuzz/fuzz_api_headers.c call these directly.
 */


/* CURLOPT_WRITEFUNCTION: a piece of the body, kept up to max_body */

size_t
ngx_oc_http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ngx_oc_http_t  *h = userdata;

    u_char  *p;
    size_t   n, need, alloc;

    n = size * nmemb;

    /* an empty body may come as one call with no data */

    if (n == 0) {
        return 0;
    }

    need = h->response.len + n;

    if (need > h->max_body) {
        h->too_big = 1;
        return 0;
    }

    if (need > h->size) {
        alloc = ngx_max(need, ngx_min(2 * h->size + 4096, h->max_body));

        p = ngx_alloc(alloc, h->log);
        if (p == NULL) {
            return 0;
        }

        /* the answer may carry an instance token: no copy left behind */

        if (h->buf) {
            ngx_memcpy(p, h->buf, h->response.len);
            ngx_explicit_memzero(h->buf, h->size);
            ngx_free(h->buf);
        }

        h->buf = p;
        h->size = alloc;
        h->response.data = p;
    }

    ngx_memcpy(h->buf + h->response.len, ptr, n);
    h->response.len += n;

    return n;
}


/* CURLOPT_HEADERFUNCTION: one header line, its line break included */

size_t
ngx_oc_http_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ngx_oc_http_t  *h = userdata;

    size_t      n, len;
    u_char     *p, *last, *colon;
    ngx_str_t  *dst;

    n = size * nmemb;
    p = (u_char *) ptr;
    last = p + n;

    while (last > p && (last[-1] == CR || last[-1] == LF)) {
        last--;
    }

    if (n > 5 && ngx_strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after "100 Continue"): forget earlier headers */
        ngx_str_null(&h->content_type);
        ngx_str_null(&h->next_page);
        ngx_str_null(&h->retry_after);
        ngx_str_null(&h->location);
        return n;
    }

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return n;
    }

    len = colon - p;

#define ngx_oc_header_is(name)                                               \
    (len == sizeof(name) - 1 && ngx_strncasecmp(p, (u_char *) name, len) == 0)

    if (ngx_oc_header_is("Content-Type")) {
        dst = &h->content_type;

    } else if (ngx_oc_header_is("Elements-Next-Page-Token")) {
        dst = &h->next_page;

    } else if (ngx_oc_header_is("Retry-After")) {
        dst = &h->retry_after;

    } else if (ngx_oc_header_is("Location")) {
        dst = &h->location;

    } else {
        return n;
    }

#undef ngx_oc_header_is

    p = colon + 1;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    /* "token\r \r\n": no stray CR in the value */

    while (last > p
           && (last[-1] == ' ' || last[-1] == '\t'
               || last[-1] == CR || last[-1] == LF))
    {
        last--;
    }

    dst->len = last - p;
    dst->data = ngx_pnalloc(h->pool, dst->len + 1);
    if (dst->data == NULL) {
        return 0;
    }

    *ngx_cpymem(dst->data, p, dst->len) = '\0';

    return n;
}
