
/*
 * Copyright (C) ngx_oc_module authors
 */

/*
 * Small stand-ins, written for the fuzz build, for the nginx core
 * functions that the module's parsers call (Debian's nginx-dev ships
 * headers only).  They follow nginx's documented behaviour closely enough
 * for the parsers; the module itself always runs on nginx's own.
 */


#include <ngx_config.h>
#include <ngx_core.h>


static u_char *ngx_oc_fuzz_num(u_char *buf, u_char *last, uint64_t n,
    ngx_uint_t hex, ngx_uint_t width, u_char pad);
static ngx_uint_t ngx_oc_fuzz_escaped(u_char c, ngx_uint_t type);


u_char *
ngx_cpystrn(u_char *dst, u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }

    while (--n && *src) {
        *dst++ = *src++;
    }

    *dst = '\0';

    return dst;
}


u_char *
ngx_pstrdup(ngx_pool_t *pool, ngx_str_t *src)
{
    u_char  *dst;

    dst = ngx_pnalloc(pool, src->len);
    if (dst == NULL) {
        return NULL;
    }

    if (src->len) {
        memcpy(dst, src->data, src->len);
    }

    return dst;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/*
 * the conversions the module uses: %[0][width][u][x|X] with d, i, l, L,
 * z, T, M, O, P; %V, %s, %*s, %c, %p, %Z, %N, %%
 */

u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *s, pad;
    size_t       len;
    int64_t      i64;
    uint64_t     u64;
    ngx_str_t   *v;
    ngx_uint_t   width, hex, sign, star;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;

        pad = (u_char) (*fmt == '0' ? '0' : ' ');
        width = 0;
        hex = 0;
        sign = 1;
        star = 0;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            if (*fmt == 'u') {
                sign = 0;

            } else if (*fmt == 'x') {
                hex = 1;
                sign = 0;

            } else if (*fmt == 'X') {
                hex = 2;
                sign = 0;

            } else if (*fmt == '*') {
                star = 1;

            } else {
                break;
            }

            fmt++;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, len);
            fmt++;
            continue;

        case 's':
            if (star) {
                len = va_arg(args, size_t);
                s = va_arg(args, u_char *);

            } else {
                s = va_arg(args, u_char *);
                len = ngx_strlen(s);
            }

            len = ngx_min((size_t) (last - buf), len);
            buf = ngx_cpymem(buf, s, len);
            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case 'p':
            u64 = (uintptr_t) va_arg(args, void *);
            buf = ngx_oc_fuzz_num(buf, last, u64, 1, 2 * sizeof(void *),
                                  '0');
            fmt++;
            continue;

        case 'd':
            i64 = sign ? (int64_t) va_arg(args, int)
                       : (int64_t) va_arg(args, u_int);
            break;

        case 'i':
            i64 = sign ? (int64_t) va_arg(args, ngx_int_t)
                       : (int64_t) va_arg(args, ngx_uint_t);
            break;

        case 'l':
            i64 = sign ? (int64_t) va_arg(args, long)
                       : (int64_t) va_arg(args, u_long);
            break;

        case 'L':
            i64 = va_arg(args, int64_t);
            break;

        case 'z':
            i64 = sign ? (int64_t) va_arg(args, ssize_t)
                       : (int64_t) va_arg(args, size_t);
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            break;

        case 'M':
            i64 = (int64_t) va_arg(args, ngx_msec_t);
            sign = 0;
            break;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            break;

        case 'P':
            i64 = (int64_t) va_arg(args, ngx_pid_t);
            break;

        default:
            *buf++ = *fmt++;
            continue;
        }

        fmt++;

        if (sign && i64 < 0) {
            *buf++ = '-';
            u64 = (uint64_t) -(i64 + 1) + 1;

        } else {
            u64 = (uint64_t) i64;
        }

        buf = ngx_oc_fuzz_num(buf, last, u64, hex, width, pad);
    }

    return buf;
}


static u_char *
ngx_oc_fuzz_num(u_char *buf, u_char *last, uint64_t n, ngx_uint_t hex,
    ngx_uint_t width, u_char pad)
{
    u_char        tmp[NGX_INT64_LEN + 1], *p;
    size_t        len;
    const char   *digits;

    digits = (hex == 2) ? "0123456789ABCDEF" : "0123456789abcdef";
    p = tmp + sizeof(tmp);

    do {
        *--p = (u_char) digits[n % (hex ? 16 : 10)];
        n /= hex ? 16 : 10;
    } while (n);

    len = tmp + sizeof(tmp) - p;

    while (width > len && buf < last) {
        *buf++ = pad;
        width--;
    }

    len = ngx_min((size_t) (last - buf), len);

    return ngx_cpymem(buf, p, len);
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    while (n--) {
        c1 = ngx_tolower(*s1);
        c2 = ngx_tolower(*s2);

        if (c1 != c2) {
            return c1 < c2 ? -1 : 1;
        }

        if (c1 == 0) {
            return 0;
        }

        s1++;
        s2++;
    }

    return 0;
}


ngx_int_t
ngx_memn2cmp(u_char *s1, u_char *s2, size_t n1, size_t n2)
{
    int  rc;

    rc = memcmp(s1, s2, ngx_min(n1, n2));

    if (rc != 0) {
        return rc;
    }

    return (n1 > n2) - (n1 < n2);
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9'
            || value > (NGX_MAX_INT_T_VALUE - (*line - '0')) / 10)
        {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


ssize_t
ngx_atosz(u_char *line, size_t n)
{
    ssize_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9'
            || value > (NGX_MAX_SIZE_T_VALUE - (*line - '0')) / 10)
        {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = (u_char) hex[*src >> 4];
        *dst++ = (u_char) hex[*src++ & 0xf];
    }

    return dst;
}


/* more escaping than nginx does is still a correct URI */

static ngx_uint_t
ngx_oc_fuzz_escaped(u_char c, ngx_uint_t type)
{
    if (c <= 0x20 || c >= 0x7f) {
        return 1;
    }

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~')
    {
        return 0;
    }

    switch (type) {

    case NGX_ESCAPE_ARGS:
        return ngx_strchr("#%&+;?\"'<>\\^`{|}", c) != NULL;

    case NGX_ESCAPE_URI:
        return ngx_strchr("#%?\"'<>\\^`{|}", c) != NULL;

    default:
        return 1;
    }
}


uintptr_t
ngx_escape_uri(u_char *dst, u_char *src, size_t size, ngx_uint_t type)
{
    static const char  hex[] = "0123456789ABCDEF";

    ngx_uint_t  n;

    if (dst == NULL) {
        for (n = 0; size--; src++) {
            n += ngx_oc_fuzz_escaped(*src, type);
        }

        return (uintptr_t) n;
    }

    while (size--) {
        if (ngx_oc_fuzz_escaped(*src, type)) {
            *dst++ = '%';
            *dst++ = (u_char) hex[*src >> 4];
            *dst++ = (u_char) hex[*src & 0xf];
            src++;

        } else {
            *dst++ = *src++;
        }
    }

    return (uintptr_t) dst;
}


void
ngx_explicit_memzero(void *buf, size_t n)
{
    volatile u_char  *p = buf;

    while (n--) {
        *p++ = 0;
    }
}


ssize_t
ngx_parse_size(ngx_str_t *line)
{
    size_t   len;
    ssize_t  size, scale;

    len = line->len;

    if (len == 0) {
        return NGX_ERROR;
    }

    switch (line->data[len - 1]) {

    case 'K':
    case 'k':
        len--;
        scale = 1024;
        break;

    case 'M':
    case 'm':
        len--;
        scale = 1024 * 1024;
        break;

    default:
        scale = 1;
    }

    size = ngx_atosz(line->data, len);

    if (size == NGX_ERROR || size > NGX_MAX_SIZE_T_VALUE / scale) {
        return NGX_ERROR;
    }

    return size * scale;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(a->pool, 2 * a->nalloc * a->size + a->size);
        if (elts == NULL) {
            return NULL;
        }

        if (a->nelts) {
            memcpy(elts, a->elts, a->nelts * a->size);
        }

        a->elts = elts;
        a->nalloc = 2 * a->nalloc + 1;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


ngx_int_t
ngx_get_full_name(ngx_pool_t *pool, ngx_str_t *prefix, ngx_str_t *name)
{
    u_char  *p;

    if (name->len && name->data[0] == '/') {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, prefix->len + name->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    memcpy(p, prefix->data, prefix->len);
    memcpy(p + prefix->len, name->data, name->len);
    p[prefix->len + name->len] = '\0';

    name->data = p;
    name->len += prefix->len;

    return NGX_OK;
}


ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t conf_prefix)
{
    return ngx_get_full_name(cycle->pool,
                             conf_prefix ? &cycle->conf_prefix
                                         : &cycle->prefix,
                             name);
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    ssize_t  n;

    n = pread(file->fd, buf, size, offset);

    if (n == -1) {
        return NGX_ERROR;
    }

    file->offset += n;

    return n;
}
