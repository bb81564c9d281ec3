
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * The header lines of an Open Connectors answer, as curl hands them to
 * ngx_oc_http_header() one by one, then what the resolver makes of them:
 * the Content-Type check, the Retry-After delay and the path of the next
 * page of the instance list from Elements-Next-Page-Token.
 */


#include "ngx_oc_fuzz_api.h"
#include "ngx_oc_curl.h"


static void ngx_oc_fuzz_value(ngx_str_t *v);
static void ngx_oc_fuzz_next_page(ngx_str_t *token);
static ngx_int_t ngx_oc_fuzz_hex(u_char c);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_oc_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char         *line;
    size_t          n;
    ngx_int_t       delay;
    ngx_str_t       path;
    ngx_uint_t      json;
    const uint8_t  *p, *last, *lf;
    ngx_oc_http_t   h;

    ngx_memzero(&h, sizeof(ngx_oc_http_t));
    h.pool = ngx_oc_fuzz_pool;
    h.log = ngx_oc_fuzz_log;

    /* curl's buffer holds one line, its line break included, no null */

    p = data;
    last = data + size;

    while (p < last) {
        lf = memchr(p, '\n', last - p);
        n = (lf ? lf + 1 : last) - p;

        line = ngx_oc_fuzz_copy(p, n, 0);

        ngx_oc_fuzz_assert(ngx_oc_http_header((char *) line, 1, n, &h) == n);

        p += n;
    }

    ngx_oc_fuzz_value(&h.content_type);
    ngx_oc_fuzz_value(&h.next_page);
    ngx_oc_fuzz_value(&h.retry_after);
    ngx_oc_fuzz_value(&h.location);

    json = ngx_oc_api_is_json(&h.content_type);

    ngx_oc_fuzz_assert(json == (h.content_type.len >= 16
                                && strncasecmp((char *) h.content_type.data,
                                               "application/json", 16)
                                   == 0));

    delay = ngx_oc_api_retry_after(&h.retry_after, 60);

    ngx_oc_fuzz_assert(delay == NGX_ERROR || (delay >= 0 && delay <= 60));

    ngx_oc_fuzz_assert(ngx_oc_api_list_path(ngx_oc_fuzz_pool, NULL, &path)
                       == NGX_OK);
    ngx_oc_fuzz_assert(path.len == 10
                       && ngx_strncmp(path.data, "/instances", 10) == 0);

    /* ngx_oc_list_done() follows the token only when it is not empty */

    if (h.next_page.len) {
        ngx_oc_fuzz_next_page(&h.next_page);
    }

    ngx_oc_fuzz_reset();

    return 0;
}


/* a header value: in bounds, null-terminated, trimmed */

static void
ngx_oc_fuzz_value(ngx_str_t *v)
{
    if (v->data == NULL) {
        ngx_oc_fuzz_assert(v->len == 0);
        return;
    }

    ngx_oc_fuzz_touch(v);
    ngx_oc_fuzz_assert(v->data[v->len] == '\0');

    if (v->len == 0) {
        return;
    }

    ngx_oc_fuzz_assert(v->data[0] != ' ' && v->data[0] != '\t');
    ngx_oc_fuzz_assert(v->data[v->len - 1] != ' '
                       && v->data[v->len - 1] != '\t'
                       && v->data[v->len - 1] != '\r'
                       && v->data[v->len - 1] != '\n');
    ngx_oc_fuzz_assert(memchr(v->data, '\n', v->len) == NULL);
}


/*
 * the path of the next page: a query string no URL parser misreads, that
 * decodes back to the very token
 */

static void
ngx_oc_fuzz_next_page(ngx_str_t *token)
{
    u_char      c;
    size_t      i, j;
    ngx_str_t   page, path;
    ngx_int_t   hi, lo;

    page.len = token->len;
    page.data = ngx_pstrdup(ngx_oc_fuzz_pool, token);

    ngx_oc_fuzz_assert(page.data != NULL);
    ngx_oc_fuzz_assert(ngx_oc_api_list_path(ngx_oc_fuzz_pool, &page, &path)
                       == NGX_OK);

    ngx_oc_fuzz_touch(&path);
    ngx_oc_fuzz_assert(path.len >= 20
                       && ngx_strncmp(path.data, "/instances?nextPage=", 20)
                          == 0);

    j = 0;

    for (i = 20; i < path.len; i++) {
        c = path.data[i];

        ngx_oc_fuzz_assert(c > 0x20 && c < 0x7f);
        ngx_oc_fuzz_assert(strchr("#&+;?\"<>\\^`{|}", c) == NULL);

        if (c == '%') {
            ngx_oc_fuzz_assert(i + 2 < path.len);

            hi = ngx_oc_fuzz_hex(path.data[i + 1]);
            lo = ngx_oc_fuzz_hex(path.data[i + 2]);

            ngx_oc_fuzz_assert(hi >= 0 && lo >= 0);

            c = (u_char) (hi * 16 + lo);
            i += 2;
        }

        ngx_oc_fuzz_assert(j < page.len && page.data[j] == c);
        j++;
    }

    ngx_oc_fuzz_assert(j == page.len);
}


static ngx_int_t
ngx_oc_fuzz_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
