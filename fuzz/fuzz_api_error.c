
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * An Open Connectors error answer: ngx_oc_api_parse_error() on any body,
 * then the reason line the resolver builds from it (ngx_oc_failed()).
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
    u_char     *p, *last, buf[NGX_OC_ERROR_MAX];
    ngx_str_t   body, message, request_id;

    body.data = ngx_oc_fuzz_copy(data, size, 0);
    body.len = size;

    ngx_oc_api_parse_error(ngx_oc_fuzz_pool, &body, &message, &request_id);

    ngx_oc_fuzz_api_string(&message);
    ngx_oc_fuzz_api_string(&request_id);

    p = buf;
    last = buf + sizeof(buf);

    p = ngx_slprintf(p, last, "POST /instances answered %l", 400L);

    if (message.len) {
        p = ngx_slprintf(p, last, ": %V", &message);
    }

    ngx_oc_fuzz_assert(p <= last);

    /* ngx_oc_shm_failed() keeps at most NGX_OC_REQID_MAX bytes of the id */

    if (request_id.len) {
        ngx_log_error(NGX_LOG_ERR, ngx_oc_fuzz_log, 0,
                      "oc_instance \"fuzz\": %*s (requestId: %*s)",
                      p - buf, buf,
                      ngx_min(request_id.len, NGX_OC_REQID_MAX),
                      request_id.data);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_oc_fuzz_log, 0,
                      "oc_instance \"fuzz\": %*s", p - buf, buf);
    }

    ngx_oc_fuzz_reset();

    return 0;
}
