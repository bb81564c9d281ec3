
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * A GET, POST or PATCH /instances/{id} answer: ngx_oc_api_parse_instance()
 * on any body, then what the resolver does with the instance.
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
    ngx_int_t              rc;
    ngx_str_t              body, err;
    ngx_oc_api_instance_t  oci;

    body.data = ngx_oc_fuzz_copy(data, size, 0);
    body.len = size;
    ngx_str_null(&err);

    rc = ngx_oc_api_parse_instance(ngx_oc_fuzz_pool, &body, &oci, &err);

    ngx_oc_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        ngx_oc_fuzz_assert(err.len > 0);
        ngx_oc_fuzz_touch(&err);

    } else {
        ngx_oc_fuzz_api_instance(&oci);
    }

    ngx_oc_fuzz_reset();

    return 0;
}
