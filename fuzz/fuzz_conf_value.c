
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * Directive values: the User and Organization secrets, "config KEY VALUE"
 * (with its typed properties) and oc_api_url, each a literal, a "file:"
 * whose content is the input or an "env:" whose value is.  The input:
 *
 *     byte 0   'u' a secret, 'c' config, 'a' oc_api_url (other bytes: % 3)
 *     byte 1   'l' literal, 'f' file:, 'e' env: (other bytes: % 3)
 *     KEY\n    config only: the key, up to the first line break
 *     rest     the literal, the file's content or the variable's value
 *
 * A "config" value that passes is also sent through the request body
 * (ngx_oc_api_instance_body()) and must come back from it unchanged.
 */


#include "ngx_oc_fuzz_api.h"
#include "ngx_oc_conf.h"

#include <cjson/cJSON.h>


#define NGX_OC_FUZZ_ENV  "OC_FUZZ_SECRET"


static ngx_int_t ngx_oc_fuzz_source(ngx_uint_t kind, ngx_str_t *content,
    ngx_str_t *value);
static void ngx_oc_fuzz_unset(ngx_uint_t kind);
static void ngx_oc_fuzz_resolved(ngx_uint_t kind, ngx_str_t *content,
    ngx_str_t *key, ngx_str_t *value);
static void ngx_oc_fuzz_body(ngx_str_t *key, ngx_str_t *value);
static void ngx_oc_fuzz_secret(ngx_uint_t kind, ngx_str_t *content,
    ngx_str_t *key);
static ngx_uint_t ngx_oc_fuzz_pick(const char *set, u_char c);


static const char  ngx_oc_fuzz_directives[] = "uca";
static const char  ngx_oc_fuzz_kinds[] = "lfe";


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_oc_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char          *nl, *p;
    ngx_int_t        rc;
    ngx_str_t        key, content, value, what;
    ngx_uint_t       directive, kind, i;
    ngx_conf_t      *cf;
    const uint8_t   *last;

    if (size < 2) {
        return 0;
    }

    cf = ngx_oc_fuzz_conf();

    directive = ngx_oc_fuzz_pick(ngx_oc_fuzz_directives, data[0]);
    kind = ngx_oc_fuzz_pick(ngx_oc_fuzz_kinds, data[1]);

    if (directive == 'a') {
        kind = 'l';
    }

    data += 2;
    size -= 2;
    last = data + size;

    ngx_str_null(&key);

    if (directive == 'c') {
        nl = memchr(data, '\n', size);
        if (nl == NULL) {
            return 0;
        }

        key.len = nl - data;
        key.data = ngx_oc_fuzz_copy(data, key.len, 1);
        data = nl + 1;
    }

    content.len = last - data;
    content.data = ngx_oc_fuzz_copy(data, content.len, 1);

    if (ngx_oc_fuzz_source(kind, &content, &value) != NGX_OK) {
        ngx_oc_fuzz_reset();
        return 0;
    }

    switch (directive) {

    case 'u':
        ngx_str_set(&what, "oc_user_secret");
        rc = ngx_oc_conf_platform_secret(cf, &what, &value);
        break;

    case 'c':
        rc = ngx_oc_conf_config_value(cf, &key, &value);
        break;

    default: /* 'a' */
        ngx_str_set(&what, "oc_api_url");
        rc = ngx_oc_conf_api_url(cf, &what, &value);
        break;
    }

    ngx_oc_fuzz_unset(kind);

    ngx_oc_fuzz_assert(rc == NGX_OK || rc == NGX_ERROR);

    /* every refusal says why */

    ngx_oc_fuzz_assert(rc == NGX_OK || ngx_oc_fuzz_messages()->len > 0);

    if (rc == NGX_OK) {
        ngx_oc_fuzz_assert(value.len > 0 && value.data != NULL);
        ngx_oc_fuzz_touch(&value);

        for (p = value.data; p + 2 < value.data + value.len; p++) {
            ngx_oc_fuzz_assert(!(p[0] == 0xe2 && p[1] == 0x80
                                 && (p[2] == 0x98 || p[2] == 0x99
                                     || p[2] == 0x9c || p[2] == 0x9d)));
        }

        switch (directive) {

        case 'u':
            for (i = 0; i < value.len; i++) {
                ngx_oc_fuzz_assert(value.data[i] > 0x20
                                   && value.data[i] != 0x7f
                                   && value.data[i] != ',');
            }
            break;

        case 'a':
            ngx_oc_fuzz_assert(ngx_oc_conf_is_http_url(&value));
            ngx_oc_fuzz_assert(value.data[value.len - 1] != '/');
            break;
        }

        ngx_oc_fuzz_resolved(kind, &content, &key, &value);

        if (directive == 'c') {
            ngx_oc_fuzz_body(&key, &value);
        }
    }

    /*
     * a value from a file or the environment is a secret: no message
     * repeats it (checked when it cannot be a message's own words)
     */

    if (kind != 'l') {
        ngx_oc_fuzz_secret(kind, &content, &key);
    }

    ngx_oc_fuzz_reset();

    return 0;
}


/* the argument nginx would hand the directive, and what it refers to */

static ngx_int_t
ngx_oc_fuzz_source(ngx_uint_t kind, ngx_str_t *content, ngx_str_t *value)
{
    int          fd;
    char         path[512];
    ssize_t      n;

    switch (kind) {

    case 'f':
        snprintf(path, sizeof(path), "%ssecret", ngx_oc_fuzz_prefix());

        fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
        if (fd == -1) {
            perror("open");
            abort();
        }

        n = content->len ? write(fd, content->data, content->len) : 0;
        close(fd);

        ngx_oc_fuzz_assert(n == (ssize_t) content->len);

        ngx_str_set(value, "file:secret");
        break;

    case 'e':
        /* a variable's value ends at its first null byte */
        setenv(NGX_OC_FUZZ_ENV, (char *) content->data, 1);
        ngx_str_set(value, "env:" NGX_OC_FUZZ_ENV);
        break;

    default: /* 'l' */

        /* a literal "file:" reads nothing outside the private directory */

        if (content->len >= 5
            && ngx_strncmp(content->data, "file:", 5) == 0
            && memchr(content->data, '/', content->len) != NULL)
        {
            return NGX_DECLINED;
        }

        *value = *content;
        return NGX_OK;
    }

    /* the argument is a copy of its own, null-terminated as nginx's are */

    value->data = ngx_oc_fuzz_copy(value->data, value->len, 1);

    return NGX_OK;
}


static void
ngx_oc_fuzz_unset(ngx_uint_t kind)
{
    char  path[512];

    if (kind == 'f') {
        snprintf(path, sizeof(path), "%ssecret", ngx_oc_fuzz_prefix());
        (void) unlink(path);

    } else if (kind == 'e') {
        unsetenv(NGX_OC_FUZZ_ENV);
    }
}


/* the value that passed is what the file or the variable held */

static void
ngx_oc_fuzz_resolved(ngx_uint_t kind, ngx_str_t *content, ngx_str_t *key,
    ngx_str_t *value)
{
    size_t  len;

    switch (kind) {

    case 'f':
        /* trailing line breaks stripped */
        len = content->len;

        while (len && (content->data[len - 1] == '\n'
                       || content->data[len - 1] == '\r'))
        {
            len--;
        }

        ngx_oc_fuzz_assert(value->len == len
                           && ngx_memcmp(value->data, content->data, len)
                              == 0);
        ngx_oc_fuzz_assert(value->data[len] == '\0');
        break;

    case 'e':
        len = ngx_strlen(content->data);

        ngx_oc_fuzz_assert(value->len == len
                           && ngx_memcmp(value->data, content->data, len)
                              == 0);
        ngx_oc_fuzz_assert(value->data[len] == '\0');
        break;
    }
}


/* ngx_oc_api_instance_body(): the value travels intact */

static void
ngx_oc_fuzz_body(ngx_str_t *key, ngx_str_t *value)
{
    u_char               digest[NGX_OC_DIGEST_LEN];
    cJSON               *json, *conf, *item;
    ngx_str_t            element = ngx_string("pipedrive");
    ngx_str_t            name = ngx_string("fuzz");
    ngx_str_t            auth = ngx_string("emailPassword");
    ngx_str_t            ident = ngx_string("ngx-oc:pipedrive:fuzz");
    ngx_str_t            body, *tag;
    ngx_array_t          tags, config;
    ngx_oc_config_kv_t  *kv;

    if (ngx_array_init(&tags, ngx_oc_fuzz_pool, 1, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&config, ngx_oc_fuzz_pool, 1,
                          sizeof(ngx_oc_config_kv_t))
           != NGX_OK)
    {
        abort();
    }

    tag = ngx_array_push(&tags);
    kv = ngx_array_push(&config);

    ngx_oc_fuzz_assert(tag != NULL && kv != NULL);

    ngx_str_set(tag, "prod");
    kv->key = *key;
    kv->value = *value;

    ngx_memset(digest, '0', sizeof(digest));

    ngx_oc_fuzz_assert(ngx_oc_api_instance_body(ngx_oc_fuzz_pool, &element,
                                                &name, &tags, &ident, &auth,
                                                &config, digest, NULL, 1,
                                                &body)
                       == NGX_OK);

    ngx_oc_fuzz_touch(&body);

    json = cJSON_ParseWithLength((char *) body.data, body.len);

    ngx_oc_fuzz_assert(json != NULL);

    conf = cJSON_GetObjectItemCaseSensitive(json, "configuration");

    ngx_oc_fuzz_assert(cJSON_IsObject(conf));

    /* cJSON keeps strings null-terminated: compare up to a null byte */

    if (memchr(key->data, '\0', key->len) == NULL
        && memchr(value->data, '\0', value->len) == NULL)
    {
        item = cJSON_GetObjectItemCaseSensitive(conf, (char *) key->data);

        ngx_oc_fuzz_assert(cJSON_IsString(item)
                           && ngx_strlen(item->valuestring) == value->len
                           && ngx_memcmp(item->valuestring, value->data,
                                         value->len)
                              == 0);
    }

    cJSON_Delete(json);
}


static void
ngx_oc_fuzz_secret(ngx_uint_t kind, ngx_str_t *content, ngx_str_t *key)
{
    u_char     *p, *q, *last, *text;
    size_t      len;
    ngx_str_t  *msgs;

    len = content->len;

    if (memchr(content->data, '\0', len) != NULL) {
        return;
    }

    while (kind == 'f' && len
           && (content->data[len - 1] == '\n'
               || content->data[len - 1] == '\r'))
    {
        len--;
    }

    if (len < 8 || memchr(content->data, '#', len) == NULL) {
        return;
    }

    /* a secret that is part of the key is quoted with the key */

    if (key->len
        && memmem(key->data, key->len, content->data, len) != NULL)
    {
        return;
    }

    /*
     * the key is the input's too and messages quote it: each occurrence
     * becomes a null byte, which the secret does not hold
     */

    msgs = ngx_oc_fuzz_messages();

    text = ngx_oc_fuzz_copy(msgs->data, msgs->len, 0);
    p = msgs->data;
    last = msgs->data + msgs->len;
    q = text;

    while (p < last) {
        if (key->len && (size_t) (last - p) >= key->len
            && ngx_memcmp(p, key->data, key->len) == 0)
        {
            *q++ = '\0';
            p += key->len;
            continue;
        }

        *q++ = *p++;
    }

    ngx_oc_fuzz_assert(memmem(text, q - text, content->data, len) == NULL);
}


/* a letter of the set, or one chosen by the byte */
static ngx_uint_t
ngx_oc_fuzz_pick(const char *set, u_char c)
{
    const char  *p;

    p = c ? strchr(set, c) : NULL;

    return p ? (ngx_uint_t) *p : (ngx_uint_t) set[c % ngx_strlen(set)];
}
