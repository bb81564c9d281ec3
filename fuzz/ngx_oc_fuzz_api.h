
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_FUZZ_API_H_INCLUDED_
#define _NGX_OC_FUZZ_API_H_INCLUDED_


#include "ngx_oc_fuzz.h"
#include "ngx_oc_module.h"
#include "ngx_oc_api.h"


/* a string taken from a cJSON string: in bounds, no null byte inside */

static ngx_inline void
ngx_oc_fuzz_api_string(ngx_str_t *s)
{
    ngx_oc_fuzz_touch(s);

    if (s->len) {
        ngx_oc_fuzz_assert(memchr(s->data, '\0', s->len) == NULL);
    }
}


/* what the resolver relies on in a parsed instance, and what it does */

static ngx_inline void
ngx_oc_fuzz_api_instance(ngx_oc_api_instance_t *oci)
{
    size_t     i;
    ngx_str_t  name = ngx_string("acme-crm");

    ngx_oc_fuzz_assert(oci->id >= 1 && oci->id <= 9007199254740992LL);

    ngx_oc_fuzz_api_string(&oci->name);
    ngx_oc_fuzz_api_string(&oci->element);
    ngx_oc_fuzz_api_string(&oci->token);
    ngx_oc_fuzz_api_string(&oci->digest);

    /* ngx_oc_list_done() */

    if (oci->name.len == name.len) {
        (void) ngx_strncmp(oci->name.data, name.data, name.len);
    }

    /* ngx_oc_settle() */

    if (oci->digest.len == NGX_OC_DIGEST_LEN) {
        (void) ngx_memcmp(oci->digest.data, name.data, 1);
    }

    /* ngx_oc_publish(): a token that passes fits the shared record */

    if (ngx_oc_api_valid_token(&oci->token) == NGX_OK) {
        ngx_oc_fuzz_assert(oci->token.len > 0
                           && oci->token.len < NGX_OC_TOKEN_MAX);

        for (i = 0; i < oci->token.len; i++) {
            ngx_oc_fuzz_assert(oci->token.data[i] > 0x20
                               && oci->token.data[i] < 0x7f
                               && oci->token.data[i] != ','
                               && oci->token.data[i] != '"');
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_oc_fuzz_log, 0,
                      "instance %L, token %*s...", oci->id,
                      (size_t) ngx_min(oci->token.len, 4), oci->token.data);
    }
}


#endif /* _NGX_OC_FUZZ_API_H_INCLUDED_ */
