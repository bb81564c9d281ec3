
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * The body of an Open Connectors answer as curl hands it over, piece by
 * piece, to ngx_oc_http_write(), which keeps it up to oc_api_max_body.
 * The input:
 *
 *     bytes 0-1   oc_api_max_body, little-endian (0 to 65535)
 *     then        pieces: a length byte, then that many bytes
 *
 * The body kept is the pieces in order; the first piece that would pass
 * the limit is refused and curl, as it does, stops the transfer there.
 */


#include "ngx_oc_fuzz.h"
#include "ngx_oc_curl.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_oc_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char         *piece, *expect;
    size_t          n, total, rc;
    ngx_oc_http_t   h;
    const uint8_t  *p, *last;

    if (size < 2) {
        return 0;
    }

    ngx_memzero(&h, sizeof(ngx_oc_http_t));
    h.pool = ngx_oc_fuzz_pool;
    h.log = ngx_oc_fuzz_log;
    h.max_body = data[0] | (data[1] << 8);

    p = data + 2;
    last = data + size;

    expect = ngx_oc_fuzz_copy(p, last - p, 0);
    total = 0;

    while (p < last) {
        n = ngx_min((size_t) *p, (size_t) (last - p - 1));
        p++;

        piece = ngx_oc_fuzz_copy(p, n, 0);

        rc = ngx_oc_http_write((char *) piece, 1, n, &h);

        if (total + n > h.max_body) {
            ngx_oc_fuzz_assert(rc == 0 && h.too_big);
            break;
        }

        ngx_oc_fuzz_assert(rc == n && !h.too_big);

        ngx_memcpy(expect + total, p, n);
        total += n;
        p += n;
    }

    ngx_oc_fuzz_assert(h.response.len == total);
    ngx_oc_fuzz_assert(h.size >= total && h.size <= h.max_body);
    ngx_oc_fuzz_touch(&h.response);

    if (total) {
        ngx_oc_fuzz_assert(h.response.data == h.buf);
        ngx_oc_fuzz_assert(ngx_memcmp(h.response.data, expect, total) == 0);
    }

    /* as ngx_oc_http_cleanup() does */

    if (h.buf) {
        ngx_free(h.buf);
    }

    ngx_oc_fuzz_reset();

    return 0;
}
