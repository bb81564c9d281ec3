
/*
 * Copyright (C) ngx_oc_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_oc_module.h"
#include "ngx_oc_conf.h"


/* a secret file holds a token or a small JSON document, never more */
#define NGX_OC_SECRET_FILE_MAX  (1024 * 1024)


static ngx_int_t ngx_oc_conf_read_file(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value);
static ngx_int_t ngx_oc_conf_file_size(ngx_conf_t *cf, ngx_str_t *what,
    ngx_fd_t fd, ngx_str_t *name, size_t *size);
static ngx_int_t ngx_oc_conf_file_read(ngx_conf_t *cf, ngx_str_t *what,
    ngx_fd_t fd, ngx_str_t *name, size_t size, ngx_str_t *value);
static ngx_int_t ngx_oc_conf_getenv(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value);
static ngx_int_t ngx_oc_conf_literal_file(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value);


/*
 * resolves a secret value in place: "file:PATH" (relative to the
 * configuration prefix, trailing line breaks stripped), "env:NAME",
 * otherwise the literal; "what" names the directive in messages
 */

ngx_int_t
ngx_oc_conf_secret(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *value)
{
    ngx_int_t  rc;
    ngx_str_t  source;

    source = *value;

    if (value->len >= sizeof("file:") - 1
        && ngx_strncmp(value->data, "file:", sizeof("file:") - 1) == 0)
    {
        rc = ngx_oc_conf_read_file(cf, what, value);

    } else if (value->len >= sizeof("env:") - 1
               && ngx_strncmp(value->data, "env:", sizeof("env:") - 1) == 0)
    {
        rc = ngx_oc_conf_getenv(cf, what, value);

    } else {
        if (value->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: empty value", what);
            return NGX_ERROR;
        }

        if (ngx_oc_conf_literal_file(cf, what, value) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_oc_conf_check_quotes(cf, what, value, NULL);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_oc_conf_check_quotes(cf, what, value, &source);
}


/* a User or Organization secret: it becomes part of an Authorization header */

ngx_int_t
ngx_oc_conf_platform_secret(ngx_conf_t *cf, ngx_str_t *what,
    ngx_str_t *value)
{
    ngx_uint_t  i;

    if (ngx_oc_conf_secret(cf, what, value) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < 0x20 || value->data[i] == 0x7f
            || value->data[i] == ',' || value->data[i] == ' ')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: the secret contains a space, a comma or "
                               "a control character (a line break in the "
                               "middle of a file?)", what);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * a literal that names an existing file was most likely meant as
 * "file:PATH": as it is, the path itself is sent as the secret
 */

static ngx_int_t
ngx_oc_conf_literal_file(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *value)
{
    ngx_str_t        name;
    ngx_file_info_t  fi;

    if (value->len > NGX_MAX_PATH) {
        return NGX_OK;
    }

    /* a copy: ngx_file_info() needs a null-terminated name */

    name.len = value->len;
    name.data = ngx_pnalloc(cf->temp_pool, value->len + 1);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(name.data, value->data, value->len) = '\0';

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_info(name.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi))
    {
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "%V: the value is the name of the file \"%s\" and "
                       "is sent as it is, did you mean \"file:%V\"?",
                       what, name.data, value);

    return NGX_OK;
}


static ngx_int_t
ngx_oc_conf_read_file(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *value)
{
    size_t      size;
    ngx_fd_t    fd;
    ngx_int_t   rc;
    ngx_str_t   name;

    name.data = value->data + sizeof("file:") - 1;
    name.len = value->len - (sizeof("file:") - 1);

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: no file name after \"file:\"", what);
        return NGX_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: cannot read secret file, "
                           ngx_open_file_n " \"%s\" failed",
                           what, name.data);
        return NGX_ERROR;
    }

    rc = ngx_oc_conf_file_size(cf, what, fd, &name, &size);

    if (rc == NGX_OK) {
        rc = ngx_oc_conf_file_read(cf, what, fd, &name, size, value);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name.data);
    }

    return rc;
}


/* a regular file of a sane size, readable by its owner only */

static ngx_int_t
ngx_oc_conf_file_size(ngx_conf_t *cf, ngx_str_t *what, ngx_fd_t fd,
    ngx_str_t *name, size_t *size)
{
    ngx_uint_t       mode;
    ngx_file_info_t  fi;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: cannot read secret file, "
                           ngx_fd_info_n " \"%s\" failed",
                           what, name->data);
        return NGX_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: secret file \"%s\" is not a regular file",
                           what, name->data);
        return NGX_ERROR;
    }

    mode = ngx_file_access(&fi);

    if (mode & 077) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%V: secret file \"%s\" is accessible by group "
                           "or others (mode 0%d%d%d), make it readable by "
                           "its owner only, such as with \"chmod 600\"",
                           what, name->data, (int) (mode >> 6) & 7,
                           (int) (mode >> 3) & 7, (int) mode & 7);
    }

    if (ngx_file_size(&fi) > NGX_OC_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: secret file \"%s\" is too large, "
                           "the limit is %d bytes",
                           what, name->data, NGX_OC_SECRET_FILE_MAX);
        return NGX_ERROR;
    }

    *size = (size_t) ngx_file_size(&fi);

    return NGX_OK;
}


/* the whole file, trailing line breaks removed, into "value" */

static ngx_int_t
ngx_oc_conf_file_read(ngx_conf_t *cf, ngx_str_t *what, ngx_fd_t fd,
    ngx_str_t *name, size_t size, ngx_str_t *value)
{
    u_char      *buf;
    ssize_t      n;
    ngx_file_t   file;

    buf = ngx_pnalloc(cf->pool, size + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, buf, size, 0);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: cannot read secret file \"%s\"",
                           what, name->data);
        return NGX_ERROR;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: secret file \"%s\" returned only %z bytes "
                           "instead of %uz", what, name->data, n, size);
        return NGX_ERROR;
    }

    while (size && (buf[size - 1] == LF || buf[size - 1] == CR)) {
        size--;
    }

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: secret file \"%s\" is empty",
                           what, name->data);
        return NGX_ERROR;
    }

    buf[size] = '\0';

    value->data = buf;
    value->len = size;

    return NGX_OK;
}


static ngx_int_t
ngx_oc_conf_getenv(ngx_conf_t *cf, ngx_str_t *what, ngx_str_t *value)
{
    u_char           *p;
    ngx_str_t         name, *var;
    ngx_uint_t        i;
    ngx_core_conf_t  *ccf;

    /* the argument is null-terminated, so is its "env:" tail */

    name.data = value->data + sizeof("env:") - 1;
    name.len = value->len - (sizeof("env:") - 1);

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: no variable name after \"env:\"", what);
        return NGX_ERROR;
    }

    p = (u_char *) getenv((char *) name.data);

    if (p == NULL) {
        ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                               ngx_core_module);
        var = ccf->env.elts;

        for (i = 0; i < ccf->env.nelts; i++) {
            if (ngx_memn2cmp(var[i].data, name.data, var[i].len, name.len)
                == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%V: environment variable \"%V\" is not "
                                   "set in the environment nginx was "
                                   "started with", what, &name);
                return NGX_ERROR;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: environment variable \"%V\" is not set; "
                           "nginx passes environment variables to its "
                           "processes only when listed with \"env %V;\" "
                           "in the main context", what, &name, &name);
        return NGX_ERROR;
    }

    if (*p == '\0') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: environment variable \"%V\" is empty",
                           what, &name);
        return NGX_ERROR;
    }

    value->len = ngx_strlen(p);

    value->data = ngx_pnalloc(cf->pool, value->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, p, value->len + 1);

    return NGX_OK;
}
