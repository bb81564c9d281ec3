
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>
#include <openssl/evp.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"


#define NGX_OC_DIGEST_ROUNDS    20000


static void ngx_oc_digest_str(ngx_sha1_t *sha1, ngx_str_t *s);
static ngx_int_t ngx_oc_digest_cmp(ngx_str_t *a, ngx_str_t *b);


/*
 * SHA-1 over element, name, auth, the sorted tags and the configuration
 * sorted by key, each field length-prefixed; tags and keys are unique;
 * then stretched with PBKDF2
 */

void
ngx_oc_instance_digest(ngx_oc_instance_t *oi, u_char *digest)
{
    u_char               hash[20], stretched[20];
    ngx_str_t           *tag, *prev, *next;
    ngx_uint_t           i, j;
    ngx_sha1_t           sha1;
    ngx_oc_config_kv_t  *kv, *prev_kv, *next_kv;

    ngx_sha1_init(&sha1);

    ngx_oc_digest_str(&sha1, &oi->element);
    ngx_oc_digest_str(&sha1, &oi->name);
    ngx_oc_digest_str(&sha1, ngx_oc_auth_name(oi->auth));

    /* a few tags and keys: selection order, no allocation */

    tag = oi->tags.elts;
    prev = NULL;

    ngx_sha1_update(&sha1, "T", 1);

    for (i = 0; i < oi->tags.nelts; i++) {
        next = NULL;

        for (j = 0; j < oi->tags.nelts; j++) {
            if ((prev == NULL || ngx_oc_digest_cmp(&tag[j], prev) > 0)
                && (next == NULL || ngx_oc_digest_cmp(&tag[j], next) < 0))
            {
                next = &tag[j];
            }
        }

        ngx_oc_digest_str(&sha1, next);
        prev = next;
    }

    kv = oi->config.elts;
    prev_kv = NULL;

    ngx_sha1_update(&sha1, "C", 1);

    for (i = 0; i < oi->config.nelts; i++) {
        next_kv = NULL;

        for (j = 0; j < oi->config.nelts; j++) {
            if ((prev_kv == NULL
                 || ngx_oc_digest_cmp(&kv[j].key, &prev_kv->key) > 0)
                && (next_kv == NULL
                    || ngx_oc_digest_cmp(&kv[j].key, &next_kv->key) < 0))
            {
                next_kv = &kv[j];
            }
        }

        ngx_oc_digest_str(&sha1, &next_kv->key);
        ngx_oc_digest_str(&sha1, &next_kv->value);
        prev_kv = next_kv;
    }

    ngx_sha1_final(hash, &sha1);

    /*
     * the digest is stored with the instance, where anyone who can list
     * the account's instances reads it; it covers the Pipedrive secrets,
     * so it is stretched to make guessing them offline expensive
     */

    if (PKCS5_PBKDF2_HMAC((const char *) hash, sizeof(hash),
                          oi->name.data, oi->name.len,
                          NGX_OC_DIGEST_ROUNDS, EVP_sha256(),
                          sizeof(stretched), stretched)
        != 1)
    {
        ngx_memcpy(stretched, hash, sizeof(stretched));
    }

    ngx_hex_dump(digest, stretched, sizeof(stretched));
}


static void
ngx_oc_digest_str(ngx_sha1_t *sha1, ngx_str_t *s)
{
    u_char  *p, buf[NGX_SIZE_T_LEN + 1];

    p = ngx_sprintf(buf, "%uz:", s->len);

    ngx_sha1_update(sha1, buf, p - buf);
    ngx_sha1_update(sha1, s->data, s->len);
}


static ngx_int_t
ngx_oc_digest_cmp(ngx_str_t *a, ngx_str_t *b)
{
    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
