
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_api.h"
#include <cjson/cJSON.h>


static ngx_int_t ngx_oc_api_instance(ngx_pool_t *pool, cJSON *json,
    ngx_oc_api_instance_t *oci, ngx_str_t *err);
static ngx_int_t ngx_oc_api_tag(ngx_pool_t *pool, const char *tag,
    const char *prefix, size_t len, ngx_str_t *value);
static ngx_int_t ngx_oc_api_string(ngx_pool_t *pool, cJSON *item,
    ngx_str_t *s);
static ngx_int_t ngx_oc_api_copy(ngx_pool_t *pool, u_char *data,
    ngx_str_t *out);
static ngx_uint_t ngx_oc_api_equal(cJSON *item, ngx_str_t *value);
static ngx_uint_t ngx_oc_api_clean(u_char *p, size_t len);
static void ngx_oc_api_no_nul(ngx_str_t *body);
static cJSON *ngx_oc_api_parse(ngx_str_t *body, ngx_str_t *err);


ngx_int_t
ngx_oc_api_parse_instance(ngx_pool_t *pool, ngx_str_t *body,
    ngx_oc_api_instance_t *oci, ngx_str_t *err)
{
    cJSON      *json;
    ngx_int_t   rc;

    json = ngx_oc_api_parse(body, err);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_oc_api_instance(pool, json, oci, err);

    ngx_oc_api_wipe(json);
    cJSON_Delete(json);

    return rc;
}


/*
 * the instances of a list page that are element "element" named "name",
 * exactly: a bad entry that is not one of them is skipped, a bad one that
 * is fails the page (NGX_DECLINED, err says which and why); the others'
 * tokens are wiped once parsed; "entries" counts them all
 */

ngx_int_t
ngx_oc_api_parse_list(ngx_pool_t *pool, ngx_str_t *body, ngx_str_t *element,
    ngx_str_t *name, ngx_array_t *list, ngx_uint_t *entries, ngx_str_t *err)
{
    cJSON                  *json, *item, *key;
    ngx_int_t               rc;
    ngx_uint_t              n;
    ngx_oc_api_instance_t  *oci;

    json = ngx_oc_api_parse(body, err);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    if (!cJSON_IsArray(json)) {
        ngx_str_set(err, "instance list is not a JSON array");
        cJSON_Delete(json);
        return NGX_DECLINED;
    }

    rc = NGX_OK;
    n = 0;

    cJSON_ArrayForEach(item, json) {

        *entries = ++n;

        key = cJSON_GetObjectItemCaseSensitive(item, "element");

        if (cJSON_IsObject(key)) {
            key = cJSON_GetObjectItemCaseSensitive(key, "key");
        }

        if (!cJSON_IsObject(item)
            || !ngx_oc_api_equal(cJSON_GetObjectItemCaseSensitive(item,
                                                                  "name"),
                                 name)
            || !ngx_oc_api_equal(key, element))
        {
            /* the caller logs how many were skipped */
            continue;
        }

        oci = ngx_array_push(list);
        if (oci == NULL) {
            rc = NGX_ERROR;
            break;
        }

        rc = ngx_oc_api_instance(pool, item, oci, err);

        if (rc == NGX_DECLINED) {
            list->nelts--;
            break;
        }

        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_oc_api_wipe(json);
    cJSON_Delete(json);

    return rc;
}


/*
 * a page of a list where only the instances "match" wants are kept, each
 * in the array it names and from that array's pool, so that a scan of a
 * large account keeps no more than its matches; "listed" counts them all
 */

ngx_int_t
ngx_oc_api_parse_matching(ngx_str_t *body, ngx_oc_api_match_pt match,
    void *data, ngx_uint_t *listed, ngx_str_t *err)
{
    cJSON                  *json, *item, *elt;
    ngx_int_t               rc;
    ngx_str_t               element, name;
    ngx_array_t            *list;
    ngx_oc_api_instance_t  *oci;

    *listed = 0;

    json = ngx_oc_api_parse(body, err);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    if (!cJSON_IsArray(json)) {
        ngx_str_set(err, "instance list is not a JSON array");
        cJSON_Delete(json);
        return NGX_DECLINED;
    }

    rc = NGX_OK;

    cJSON_ArrayForEach(item, json) {

        (*listed)++;

        /* element and name read in place: nothing copied to skip one */

        ngx_str_null(&element);
        ngx_str_null(&name);

        elt = cJSON_GetObjectItemCaseSensitive(item, "element");

        if (cJSON_IsObject(elt)) {
            elt = cJSON_GetObjectItemCaseSensitive(elt, "key");
        }

        /* a string with a control character matches nothing */

        if (cJSON_IsString(elt) && elt->valuestring) {
            element.data = (u_char *) elt->valuestring;
            element.len = ngx_strlen(element.data);

            if (!ngx_oc_api_clean(element.data, element.len)) {
                continue;
            }
        }

        elt = cJSON_GetObjectItemCaseSensitive(item, "name");

        if (cJSON_IsString(elt) && elt->valuestring) {
            name.data = (u_char *) elt->valuestring;
            name.len = ngx_strlen(name.data);

            if (!ngx_oc_api_clean(name.data, name.len)) {
                continue;
            }
        }

        if (!cJSON_IsObject(item) || element.len == 0 || name.len == 0) {
            continue;
        }

        list = match(data, &element, &name);
        if (list == NULL) {
            continue;
        }

        oci = ngx_array_push(list);
        if (oci == NULL) {
            rc = NGX_ERROR;
            break;
        }

        rc = ngx_oc_api_instance(list->pool, item, oci, err);
        if (rc != NGX_OK) {
            list->nelts--;
            break;
        }
    }

    /* the page holds every listed token: wipe it before it is freed */

    ngx_oc_api_wipe(json);
    cJSON_Delete(json);

    return rc;
}


void
ngx_oc_api_parse_error(ngx_pool_t *pool, ngx_str_t *body, ngx_str_t *message,
    ngx_str_t *request_id)
{
    cJSON      *json;
    ngx_str_t   err;

    ngx_str_null(message);
    ngx_str_null(request_id);

    json = ngx_oc_api_parse(body, &err);
    if (json == NULL) {
        return;
    }

    if (cJSON_IsObject(json)) {
        (void) ngx_oc_api_string(pool,
                                 cJSON_GetObjectItemCaseSensitive(json,
                                                                  "message"),
                                 message);
        (void) ngx_oc_api_string(pool,
                                 cJSON_GetObjectItemCaseSensitive(json,
                                                                  "requestId"),
                                 request_id);
    }

    cJSON_Delete(json);
}


ngx_int_t
ngx_oc_api_parse_oauth_url(ngx_pool_t *pool, ngx_str_t *body, ngx_str_t *url,
    ngx_str_t *err)
{
    u_char     *p, *last;
    cJSON      *json;
    ngx_int_t   rc;

    json = ngx_oc_api_parse(body, err);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    ngx_str_set(err, "no \"oauthUrl\" in the answer");

    if (cJSON_IsObject(json)) {
        rc = ngx_oc_api_string(pool,
                               cJSON_GetObjectItemCaseSensitive(json,
                                                                "oauthUrl"),
                               url);
    }

    cJSON_Delete(json);

    if (rc != NGX_OK) {
        return rc;
    }

    /* it becomes a Location header: an absolute http(s) URL, one line */

    if (!(url->len > 8 && ngx_strncmp(url->data, "https://", 8) == 0)
        && !(url->len > 7 && ngx_strncmp(url->data, "http://", 7) == 0))
    {
        ngx_str_set(err, "\"oauthUrl\" is not an http(s) URL");
        return NGX_DECLINED;
    }

    last = url->data + url->len;

    for (p = url->data; p < last; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            ngx_str_set(err, "\"oauthUrl\" contains a space or a control "
                        "character");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_oc_api_valid_token(ngx_str_t *token)
{
    u_char  *p, *last;

    if (token->len == 0 || token->len >= NGX_OC_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    last = token->data + token->len;

    for (p = token->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z')
            || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || ngx_strlchr((u_char *) "+/=._~-", (u_char *) "+/=._~-" + 7, *p))
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * the path of a page of the instance list: the first one (page is NULL)
 * or the one an Elements-Next-Page-Token header named
 */

ngx_int_t
ngx_oc_api_list_path(ngx_pool_t *pool, ngx_str_t *page, ngx_str_t *path)
{
    u_char  *p;
    size_t   len;

    len = sizeof("/instances?nextPage=") - 1;

    if (page) {
        len += page->len + 2 * ngx_escape_uri(NULL, page->data, page->len,
                                              NGX_ESCAPE_ARGS);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    path->data = p;

    if (page) {
        p = ngx_cpymem(p, "/instances?nextPage=",
                       sizeof("/instances?nextPage=") - 1);
        p = (u_char *) ngx_escape_uri(p, page->data, page->len,
                                      NGX_ESCAPE_ARGS);

    } else {
        p = ngx_cpymem(p, "/instances", sizeof("/instances") - 1);
    }

    path->len = p - path->data;

    return NGX_OK;
}


/* a Retry-After in seconds, at most "max"; NGX_ERROR: none, or a date */

ngx_int_t
ngx_oc_api_retry_after(ngx_str_t *value, ngx_int_t max)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data, value->len);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_min(n, max);
}


ngx_uint_t
ngx_oc_api_is_json(ngx_str_t *content_type)
{
    return content_type->len >= sizeof("application/json") - 1
           && ngx_strncasecmp(content_type->data,
                              (u_char *) "application/json",
                              sizeof("application/json") - 1)
              == 0;
}


static cJSON *
ngx_oc_api_parse(ngx_str_t *body, ngx_str_t *err)
{
    cJSON  *json;

    if (body->len == 0) {
        ngx_str_set(err, "empty response body");
        return NULL;
    }

    ngx_oc_api_no_nul(body);

    json = cJSON_ParseWithLength((const char *) body->data, body->len);
    if (json == NULL) {
        ngx_str_set(err, "response is not valid JSON");
        return NULL;
    }

    return json;
}


static ngx_int_t
ngx_oc_api_instance(ngx_pool_t *pool, cJSON *json, ngx_oc_api_instance_t *oci,
    ngx_str_t *err)
{
    cJSON      *id, *item, *tag;
    ngx_str_t   s;

    ngx_memzero(oci, sizeof(ngx_oc_api_instance_t));

    if (!cJSON_IsObject(json)) {
        ngx_str_set(err, "instance is not a JSON object");
        return NGX_DECLINED;
    }

    /* a positive integer that a double holds exactly */

    id = cJSON_GetObjectItemCaseSensitive(json, "id");
    if (!cJSON_IsNumber(id) || id->valuedouble < 1
        || id->valuedouble > 9007199254740992.0
        || id->valuedouble != (double) (int64_t) id->valuedouble)
    {
        ngx_str_set(err, "instance has no valid \"id\"");
        return NGX_DECLINED;
    }

    oci->id = (int64_t) id->valuedouble;

    if (ngx_oc_api_string(pool, cJSON_GetObjectItemCaseSensitive(json, "name"),
                          &oci->name)
        == NGX_ERROR
        || ngx_oc_api_string(pool,
                             cJSON_GetObjectItemCaseSensitive(json, "token"),
                             &oci->token)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "element");

    if (cJSON_IsObject(item)) {
        item = cJSON_GetObjectItemCaseSensitive(item, "key");
    }

    if (ngx_oc_api_string(pool, item, &oci->element) == NGX_ERROR) {
        return NGX_ERROR;
    }

    item = cJSON_GetObjectItemCaseSensitive(json, "disabled");
    oci->disabled = cJSON_IsTrue(item) ? 1 : 0;

    item = cJSON_GetObjectItemCaseSensitive(json, "tags");

    if (!cJSON_IsArray(item)) {
        return NGX_OK;
    }

    cJSON_ArrayForEach(tag, item) {
        if (!cJSON_IsString(tag) || tag->valuestring == NULL) {
            continue;
        }

        if (ngx_oc_api_tag(pool, tag->valuestring, NGX_OC_DIGEST_TAG,
                           sizeof(NGX_OC_DIGEST_TAG) - 1, &oci->digest)
            == NGX_ERROR
            || ngx_oc_api_tag(pool, tag->valuestring,
                              NGX_OC_LEGACY_DIGEST_TAG,
                              sizeof(NGX_OC_LEGACY_DIGEST_TAG) - 1,
                              &oci->legacy)
               == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        /* the whole tag: it is compared with the one expected */

        if (ngx_strncmp(tag->valuestring, NGX_OC_IDENT_TAG,
                        sizeof(NGX_OC_IDENT_TAG) - 1)
            == 0)
        {
            s.data = (u_char *) tag->valuestring;
            s.len = ngx_strlen(s.data);

            if (!ngx_oc_api_clean(s.data, s.len)) {
                continue;
            }

            oci->ident.data = ngx_pstrdup(pool, &s);
            if (oci->ident.data == NULL) {
                return NGX_ERROR;
            }

            oci->ident.len = s.len;
        }
    }

    return NGX_OK;
}


/* the value after "prefix" of a tag that starts with it */

static ngx_int_t
ngx_oc_api_tag(ngx_pool_t *pool, const char *tag, const char *prefix,
    size_t len, ngx_str_t *value)
{
    if (ngx_strncmp(tag, prefix, len) != 0) {
        return NGX_DECLINED;
    }

    return ngx_oc_api_copy(pool, (u_char *) tag + len, value);
}


static ngx_int_t
ngx_oc_api_string(ngx_pool_t *pool, cJSON *item, ngx_str_t *s)
{
    ngx_str_null(s);

    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return NGX_DECLINED;
    }

    return ngx_oc_api_copy(pool, (u_char *) item->valuestring, s);
}


/* a string of Open Connectors' without control characters, copied */

static ngx_int_t
ngx_oc_api_copy(ngx_pool_t *pool, u_char *data, ngx_str_t *out)
{
    ngx_str_t  v;

    v.data = data;
    v.len = ngx_strlen(data);

    if (!ngx_oc_api_clean(v.data, v.len)) {
        return NGX_DECLINED;
    }

    out->data = ngx_pstrdup(pool, &v);
    if (out->data == NULL && v.len) {
        return NGX_ERROR;
    }

    out->len = v.len;

    return NGX_OK;
}


/* a JSON string equal to "value", its whole length */

static ngx_uint_t
ngx_oc_api_equal(cJSON *item, ngx_str_t *value)
{
    size_t  len;

    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        return 0;
    }

    len = ngx_strlen(item->valuestring);

    return len == value->len
           && ngx_oc_api_clean((u_char *) item->valuestring, len)
           && ngx_memcmp(item->valuestring, value->data, len) == 0;
}


/* no control character: a NUL (see below), a line break, an escape */

static ngx_uint_t
ngx_oc_api_clean(u_char *p, size_t len)
{
    u_char  *last;

    for (last = p + len; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * cJSON keeps "\u0000" as a NUL inside the value and does not say how
 * long the value is: a C string would end there ("acme-crm\u0000x" would
 * read "acme-crm").  Such escapes, and raw NUL bytes, become U+0001
 * before parsing, which every string check here refuses.
 */

static void
ngx_oc_api_no_nul(ngx_str_t *body)
{
    u_char      *p, *last;
    ngx_uint_t   in_string;

    in_string = 0;
    last = body->data + body->len;

    for (p = body->data; p < last; p++) {

        if (*p == '\0') {
            *p = 0x01;
            continue;
        }

        if (*p == '"') {
            in_string = !in_string;
            continue;
        }

        if (!in_string || *p != '\\' || p + 1 == last) {
            continue;
        }

        p++;

        if (*p == 'u' && last - p > 4
            && p[1] == '0' && p[2] == '0' && p[3] == '0' && p[4] == '0')
        {
            p[4] = '1';
            p += 4;
        }
    }
}


/* the string values of a document, before cJSON frees them unwiped */

void
ngx_oc_api_wipe(cJSON *item)
{
    for ( /* void */ ; item; item = item->next) {

        if (item->valuestring != NULL) {
            ngx_explicit_memzero(item->valuestring,
                                 ngx_strlen(item->valuestring));
        }

        ngx_oc_api_wipe(item->child);
    }
}

