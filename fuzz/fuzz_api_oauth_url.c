
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * A GET /elements/{key}/oauth/url answer: ngx_oc_api_parse_oauth_url() on
 * any body.  What passes becomes the Location header of oc_oauth_start's
 * redirect, so it must be one absolute http(s) URL on one line.
 */


#include "ngx_oc_fuzz_api.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_oc_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   body, url, err;

    body.data = ngx_oc_fuzz_copy(data, size, 0);
    body.len = size;
    ngx_str_null(&url);
    ngx_str_null(&err);

    rc = ngx_oc_api_parse_oauth_url(ngx_oc_fuzz_pool, &body, &url, &err);

    ngx_oc_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        ngx_oc_fuzz_assert(err.len > 0);
        ngx_oc_fuzz_touch(&err);

    } else {
        ngx_oc_fuzz_api_string(&url);

        ngx_oc_fuzz_assert((url.len > 8
                            && ngx_strncmp(url.data, "https://", 8) == 0)
                           || (url.len > 7
                               && ngx_strncmp(url.data, "http://", 7) == 0));

        for (i = 0; i < url.len; i++) {
            ngx_oc_fuzz_assert(url.data[i] > ' ' && url.data[i] != 0x7f);
        }
    }

    ngx_oc_fuzz_reset();

    return 0;
}
