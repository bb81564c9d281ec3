
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * A GET /instances answer: ngx_oc_api_parse_list() on any body, then what
 * the resolver does with each instance listed.
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
    ngx_int_t               rc;
    ngx_str_t               body, err;
    ngx_uint_t              i, n;

    /* the declaration the fuzz corpus lists */
    static ngx_str_t        element = ngx_string("pipedrive");
    static ngx_str_t        name = ngx_string("acme-crm");

    ngx_array_t             list;
    ngx_oc_api_instance_t  *oci;

    body.data = ngx_oc_fuzz_copy(data, size, 0);
    body.len = size;
    ngx_str_null(&err);
    n = 0;

    if (ngx_array_init(&list, ngx_oc_fuzz_pool, 16,
                       sizeof(ngx_oc_api_instance_t))
        != NGX_OK)
    {
        abort();
    }

    rc = ngx_oc_api_parse_list(ngx_oc_fuzz_pool, &body, &element, &name,
                               &list, &n, &err);

    ngx_oc_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        ngx_oc_fuzz_assert(err.len > 0);
        ngx_oc_fuzz_touch(&err);

    } else {
        oci = list.elts;

        for (i = 0; i < list.nelts; i++) {
            ngx_oc_fuzz_api_instance(&oci[i]);
        }
    }

    ngx_oc_fuzz_reset();

    return 0;
}
