
/*
 * Copyright (C) ngx_oc_module authors
 */


/* the request bodies the module sends to Open Connectors */


#include "ngx_oc_module.h"
#include "ngx_oc_api.h"
#include <cjson/cJSON.h>


static ngx_int_t ngx_oc_api_config(ngx_pool_t *pool, cJSON *json,
    ngx_array_t *config, ngx_str_t *auth);
static ngx_int_t ngx_oc_api_print(ngx_pool_t *pool, cJSON *json,
    ngx_str_t *out);
static ngx_int_t ngx_oc_api_tags(ngx_pool_t *pool, cJSON *arr,
    ngx_array_t *tags, ngx_str_t *ident, u_char *digest);
static ngx_int_t ngx_oc_api_add(ngx_pool_t *pool, cJSON *parent,
    const char *key, ngx_str_t *value);
static void ngx_oc_api_wipe_cleanup(void *data);


ngx_int_t
ngx_oc_api_instance_body(ngx_pool_t *pool, ngx_str_t *element,
    ngx_str_t *name, ngx_array_t *tags, ngx_str_t *ident, ngx_str_t *auth,
    ngx_array_t *config, u_char *digest, ngx_str_t *code, ngx_uint_t create,
    ngx_str_t *out)
{
    cJSON  *json, *obj, *arr;

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NGX_ERROR;
    }

    if (create) {
        obj = cJSON_AddObjectToObject(json, "element");
        if (obj == NULL
            || ngx_oc_api_add(pool, obj, "key", element) != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_oc_api_add(pool, json, "name", name) != NGX_OK) {
        goto failed;
    }

    arr = cJSON_AddArrayToObject(json, "tags");
    if (arr == NULL
        || ngx_oc_api_tags(pool, arr, tags, ident, digest) != NGX_OK)
    {
        goto failed;
    }

    if (ngx_oc_api_config(pool, json, config, auth) != NGX_OK) {
        goto failed;
    }

    /* the OAuth2 grant code, exchanged by Open Connectors for tokens */

    if (code) {
        obj = cJSON_AddObjectToObject(json, "providerData");
        if (obj == NULL
            || ngx_oc_api_add(pool, obj, "code", code) != NGX_OK)
        {
            goto failed;
        }
    }

    return ngx_oc_api_print(pool, json, out);

failed:

    ngx_oc_api_wipe(json);
    cJSON_Delete(json);

    return NGX_ERROR;
}


/* the "configuration" object: the declared keys, the auth type */

static ngx_int_t
ngx_oc_api_config(ngx_pool_t *pool, cJSON *json, ngx_array_t *config,
    ngx_str_t *auth)
{
    char                *key;
    cJSON               *obj;
    ngx_uint_t           i;
    ngx_oc_config_kv_t  *kv;

    obj = cJSON_AddObjectToObject(json, "configuration");
    if (obj == NULL) {
        return NGX_ERROR;
    }

    kv = config->elts;

    for (i = 0; i < config->nelts; i++) {
        key = (char *) ngx_pnalloc(pool, kv[i].key.len + 1);
        if (key == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(key, kv[i].key.data, kv[i].key.len) = '\0';

        if (ngx_oc_api_add(pool, obj, key, &kv[i].value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* section 8 of the API notes: the auth type is a configuration key */

    return ngx_oc_api_add(pool, obj, "authentication.type", auth);
}


/*
 * prints a body that holds secrets into the pool, which wipes it; the
 * library's copies are wiped and the document freed here
 */

static ngx_int_t
ngx_oc_api_print(ngx_pool_t *pool, cJSON *json, ngx_str_t *out)
{
    char                *text;
    ngx_str_t           *wipe;
    ngx_pool_cleanup_t  *cln;

    text = cJSON_PrintUnformatted(json);
    if (text == NULL) {
        ngx_oc_api_wipe(json);
        cJSON_Delete(json);
        return NGX_ERROR;
    }

    out->len = ngx_strlen(text);
    out->data = ngx_pnalloc(pool, out->len + 1);

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_str_t));

    if (out->data != NULL && cln != NULL) {
        ngx_memcpy(out->data, text, out->len + 1);

        wipe = cln->data;
        *wipe = *out;
        cln->handler = ngx_oc_api_wipe_cleanup;

    } else {
        out->data = NULL;
    }

    ngx_explicit_memzero(text, ngx_strlen(text));
    cJSON_free(text);
    ngx_oc_api_wipe(json);
    cJSON_Delete(json);

    return out->data ? NGX_OK : NGX_ERROR;
}


/* {"tags": [...]}: a tag write, not a configuration write */

ngx_int_t
ngx_oc_api_tags_body(ngx_pool_t *pool, ngx_array_t *tags, ngx_str_t *ident,
    u_char *digest, ngx_str_t *out)
{
    char   *text;
    cJSON  *json, *arr;

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NGX_ERROR;
    }

    arr = cJSON_AddArrayToObject(json, "tags");
    if (arr == NULL
        || ngx_oc_api_tags(pool, arr, tags, ident, digest) != NGX_OK)
    {
        cJSON_Delete(json);
        return NGX_ERROR;
    }

    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);

    if (text == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(text);
    out->data = ngx_pnalloc(pool, out->len + 1);

    if (out->data != NULL) {
        ngx_memcpy(out->data, text, out->len + 1);
    }

    cJSON_free(text);

    return out->data ? NGX_OK : NGX_ERROR;
}


/* "ngx-oc:<element>:<name>": it stays when the declaration changes */

ngx_int_t
ngx_oc_api_ident_tag(ngx_pool_t *pool, ngx_str_t *element, ngx_str_t *name,
    ngx_str_t *tag)
{
    tag->len = sizeof(NGX_OC_IDENT_TAG) - 1 + element->len + 1 + name->len;
    tag->data = ngx_pnalloc(pool, tag->len);
    if (tag->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(tag->data, NGX_OC_IDENT_TAG "%V:%V", element, name);

    return NGX_OK;
}


/*
 * the declared tags, the identity tag (how any nginx finds the instance)
 * and the digest of the applied declaration (so that a restarted nginx
 * or another host knows what was applied)
 */

static ngx_int_t
ngx_oc_api_tags(ngx_pool_t *pool, cJSON *arr, ngx_array_t *tags,
    ngx_str_t *ident, u_char *digest)
{
    ngx_str_t   *tag, dtag;
    ngx_uint_t   i;
    u_char       buf[sizeof(NGX_OC_DIGEST_TAG) + NGX_OC_DIGEST_LEN];

    tag = tags->elts;

    for (i = 0; i < tags->nelts; i++) {
        if (ngx_oc_api_add(pool, arr, NULL, &tag[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_oc_api_add(pool, arr, NULL, ident) != NGX_OK) {
        return NGX_ERROR;
    }

    dtag.data = buf;
    dtag.len = ngx_cpymem(ngx_cpymem(buf, NGX_OC_DIGEST_TAG,
                                     sizeof(NGX_OC_DIGEST_TAG) - 1),
                          digest, NGX_OC_DIGEST_LEN)
               - buf;

    return ngx_oc_api_add(pool, arr, NULL, &dtag);
}


static ngx_int_t
ngx_oc_api_add(ngx_pool_t *pool, cJSON *parent, const char *key,
    ngx_str_t *value)
{
    u_char  *p;
    cJSON   *item;

    p = ngx_pnalloc(pool, value->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, value->data, value->len) = '\0';

    item = cJSON_CreateString((char *) p);

    /* the value may be a secret, and cJSON has its own copy */

    ngx_explicit_memzero(p, value->len);

    if (item == NULL) {
        return NGX_ERROR;
    }

    if (key == NULL) {
        cJSON_AddItemToArray(parent, item);

    } else {
        cJSON_AddItemToObject(parent, key, item);
    }

    return NGX_OK;
}


static void
ngx_oc_api_wipe_cleanup(void *data)
{
    ngx_str_t  *s = data;

    ngx_explicit_memzero(s->data, s->len);
}
