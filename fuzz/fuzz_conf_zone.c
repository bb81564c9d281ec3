
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * "oc_zone NAME:SIZE": ngx_oc_conf_zone() on any argument, a null byte
 * inside included (nginx's configuration parser lets one through).
 */


#include "ngx_oc_fuzz.h"
#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_oc_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *colon, *p, *last;
    ssize_t     size_value, expect;
    uint64_t    n, scale;
    ngx_uint_t  valid;
    ngx_int_t   rc;
    ngx_str_t   value, name;

    value.data = ngx_oc_fuzz_copy(data, size, 1);
    value.len = size;

    rc = ngx_oc_conf_zone(ngx_oc_fuzz_conf(), &value, &name, &size_value);

    ngx_oc_fuzz_assert(rc == NGX_OK || rc == NGX_ERROR);
    ngx_oc_fuzz_assert(rc == NGX_OK || ngx_oc_fuzz_messages()->len > 0);

    /* what nginx accepts: NAME, a colon, digits, an optional k or m */

    colon = (u_char *) strchr((char *) value.data, ':');
    expect = -1;

    if (colon != NULL && colon != value.data) {
        p = colon + 1;
        last = value.data + value.len;
        scale = 1;

        if (last > p && (last[-1] == 'k' || last[-1] == 'K')) {
            scale = 1024;
            last--;

        } else if (last > p && (last[-1] == 'm' || last[-1] == 'M')) {
            scale = 1024 * 1024;
            last--;
        }

        n = 0;
        valid = (p < last);

        for ( /* void */ ; p < last && valid; p++) {
            valid = (*p >= '0' && *p <= '9'
                     && !__builtin_mul_overflow(n, 10, &n)
                     && !__builtin_add_overflow(n, *p - '0', &n)
                     && n <= (uint64_t) NGX_MAX_SIZE_T_VALUE);
        }

        if (valid && n <= (uint64_t) NGX_MAX_SIZE_T_VALUE / scale) {
            expect = (ssize_t) (n * scale);
        }

        if (expect < (ssize_t) (8 * ngx_pagesize)) {
            expect = -1;
        }
    }

    if (rc == NGX_OK) {
        ngx_oc_fuzz_assert(name.data == value.data
                           && name.len == (size_t) (colon - value.data));
        ngx_oc_fuzz_touch(&name);
        ngx_oc_fuzz_assert(size_value == expect);

    } else {
        ngx_oc_fuzz_assert(expect == -1);
    }

    ngx_oc_fuzz_reset();

    return 0;
}
