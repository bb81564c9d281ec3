
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


#define NGX_OC_DIGEST_BLOCK     64          /* SHA-256 block size */
#define NGX_OC_DIGEST_ROUNDS    20000       /* the old digest, recognition */

#define NGX_OC_ORG_PREFIX       ", Organization "


typedef void (*ngx_oc_digest_update_pt)(void *ctx, const void *data,
    size_t len);


static ngx_int_t ngx_oc_digest_key(ngx_oc_main_conf_t *omcf, u_char *key);
static void ngx_oc_digest_fields(ngx_oc_instance_t *oi,
    ngx_oc_digest_update_pt update, void *ctx);
static void ngx_oc_digest_str(ngx_oc_digest_update_pt update, void *ctx,
    ngx_str_t *s);
static void ngx_oc_digest_sha1_update(void *ctx, const void *data,
    size_t len);
static void ngx_oc_digest_evp_update(void *ctx, const void *data,
    size_t len);
static ngx_int_t ngx_oc_digest_cmp(ngx_str_t *a, ngx_str_t *b);


/*
 * HMAC-SHA256 of the declaration, keyed with a hash of the Organization
 * secret, truncated to 160 bits: the digest travels as a tag that anyone
 * who can list the account reads, and covers the Pipedrive secrets; only
 * a holder of the Organization secret can test a guess against it, and
 * Open Connectors already has both.  One HMAC costs microseconds, so
 * loading 1,000 blocks costs milliseconds
 */

ngx_int_t
ngx_oc_instance_digest(ngx_oc_main_conf_t *omcf, ngx_oc_instance_t *oi,
    u_char *digest)
{
    u_char         key[NGX_OC_DIGEST_BLOCK], pad[NGX_OC_DIGEST_BLOCK];
    u_char         inner[EVP_MAX_MD_SIZE], outer[EVP_MAX_MD_SIZE];
    ngx_int_t      rc;
    ngx_uint_t     i;
    unsigned int   len;
    EVP_MD_CTX    *md;

    if (ngx_oc_digest_key(omcf, key) != NGX_OK) {
        return NGX_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        ngx_explicit_memzero(key, sizeof(key));
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    /* HMAC by its definition (RFC 2104), on the EVP digest interface */

    for (i = 0; i < NGX_OC_DIGEST_BLOCK; i++) {
        pad[i] = key[i] ^ 0x36;
    }

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, pad, sizeof(pad)) != 1)
    {
        goto done;
    }

    ngx_oc_digest_fields(oi, ngx_oc_digest_evp_update, md);

    if (EVP_DigestFinal_ex(md, inner, &len) != 1) {
        goto done;
    }

    for (i = 0; i < NGX_OC_DIGEST_BLOCK; i++) {
        pad[i] = key[i] ^ 0x5c;
    }

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, pad, sizeof(pad)) != 1
        || EVP_DigestUpdate(md, inner, len) != 1
        || EVP_DigestFinal_ex(md, outer, &len) != 1)
    {
        goto done;
    }

    ngx_hex_dump(digest, outer, NGX_OC_DIGEST_LEN / 2);

    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);
    ngx_explicit_memzero(key, sizeof(key));
    ngx_explicit_memzero(pad, sizeof(pad));

    return rc;
}


/*
 * the digest of versions before the keyed one: SHA-1 over the same
 * fields, then PBKDF2-HMAC-SHA256 with 20,000 rounds and the name as
 * salt; costly, so it is computed only to recognise an instance that
 * carries an old digest tag, once, before re-tagging it
 */

void
ngx_oc_instance_digest_legacy(ngx_oc_instance_t *oi, u_char *digest)
{
    u_char      hash[20], stretched[20];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_oc_digest_fields(oi, ngx_oc_digest_sha1_update, &sha1);
    ngx_sha1_final(hash, &sha1);

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


/*
 * the key: SHA-256 of the Organization secret, the tail of the platform
 * Authorization value (the secret itself is wiped once that is built)
 */

static ngx_int_t
ngx_oc_digest_key(ngx_oc_main_conf_t *omcf, u_char *key)
{
    u_char        *p, *last, *org;
    unsigned int   len;

    ngx_memzero(key, NGX_OC_DIGEST_BLOCK);

    last = omcf->platform_auth.data + omcf->platform_auth.len;
    org = NULL;

    for (p = omcf->platform_auth.data;
         p + sizeof(NGX_OC_ORG_PREFIX) - 1 <= last;
         p++)
    {
        if (ngx_strncmp(p, NGX_OC_ORG_PREFIX, sizeof(NGX_OC_ORG_PREFIX) - 1)
            == 0)
        {
            org = p + sizeof(NGX_OC_ORG_PREFIX) - 1;
        }
    }

    if (org == NULL) {
        return NGX_ERROR;
    }

    if (EVP_Digest(org, last - org, key, &len, EVP_sha256(), NULL) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * element, name, auth, the sorted tags and the configuration sorted by
 * key, each field length-prefixed; tags and keys are unique
 */

static void
ngx_oc_digest_fields(ngx_oc_instance_t *oi, ngx_oc_digest_update_pt update,
    void *ctx)
{
    ngx_str_t           *tag, *prev, *next;
    ngx_uint_t           i, j;
    ngx_oc_config_kv_t  *kv, *prev_kv, *next_kv;

    ngx_oc_digest_str(update, ctx, &oi->element);
    ngx_oc_digest_str(update, ctx, &oi->name);
    ngx_oc_digest_str(update, ctx, ngx_oc_auth_name(oi->auth));

    /* a few tags and keys: selection order, no allocation */

    tag = oi->tags.elts;
    prev = NULL;

    update(ctx, "T", 1);

    for (i = 0; i < oi->tags.nelts; i++) {
        next = NULL;

        for (j = 0; j < oi->tags.nelts; j++) {
            if ((prev == NULL || ngx_oc_digest_cmp(&tag[j], prev) > 0)
                && (next == NULL || ngx_oc_digest_cmp(&tag[j], next) < 0))
            {
                next = &tag[j];
            }
        }

        ngx_oc_digest_str(update, ctx, next);
        prev = next;
    }

    kv = oi->config.elts;
    prev_kv = NULL;

    update(ctx, "C", 1);

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

        ngx_oc_digest_str(update, ctx, &next_kv->key);
        ngx_oc_digest_str(update, ctx, &next_kv->value);
        prev_kv = next_kv;
    }
}


static void
ngx_oc_digest_str(ngx_oc_digest_update_pt update, void *ctx, ngx_str_t *s)
{
    u_char  *p, buf[NGX_SIZE_T_LEN + 1];

    p = ngx_sprintf(buf, "%uz:", s->len);

    update(ctx, buf, p - buf);
    update(ctx, s->data, s->len);
}


static void
ngx_oc_digest_sha1_update(void *ctx, const void *data, size_t len)
{
    ngx_sha1_update(ctx, data, len);
}


static void
ngx_oc_digest_evp_update(void *ctx, const void *data, size_t len)
{
    /* SHA-256 in memory: an update does not fail once Init succeeded */

    (void) EVP_DigestUpdate(ctx, data, len);
}


static ngx_int_t
ngx_oc_digest_cmp(ngx_str_t *a, ngx_str_t *b)
{
    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
