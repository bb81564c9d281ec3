
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * The fuzz targets' surroundings, on nginx's own code (the targets link
 * nginx's core, event and os/unix objects, fuzz/nginx-lib):
 *
 * - one pool per input, created with no room of its own, so that
 *   ngx_palloc() gives every allocation a malloc() of its own size (its
 *   "large" path): AddressSanitizer then sees the exact bounds of each,
 *   which it cannot inside a pool block; ngx_destroy_pool() runs the
 *   cleanups and frees all after the input;
 * - a log whose writer keeps the messages of this input for the targets'
 *   checks, at every level, so that every message is formatted;
 * - an ngx_conf_t and a cycle with a private prefix directory for "file:"
 *   values and "env OC_FUZZ_LISTED;" in the core configuration.
 */


#include "ngx_oc_fuzz.h"


#define NGX_OC_FUZZ_MESSAGES  65536


static void ngx_oc_fuzz_pool_new(void);
static void ngx_oc_fuzz_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
static void ngx_oc_fuzz_cleanup(void);


ngx_pool_t                 *ngx_oc_fuzz_pool;
ngx_log_t                  *ngx_oc_fuzz_log;


static ngx_log_t            ngx_oc_fuzz_log_s;
static ngx_open_file_t      ngx_oc_fuzz_log_file;
static ngx_cycle_t          ngx_oc_fuzz_cycle;
static ngx_core_conf_t      ngx_oc_fuzz_ccf;
static void                *ngx_oc_fuzz_conf_ctx[1];
static ngx_conf_file_t      ngx_oc_fuzz_conf_file;
static ngx_conf_t           ngx_oc_fuzz_cf;
static ngx_str_t            ngx_oc_fuzz_env_listed =
    ngx_string("OC_FUZZ_LISTED");

static u_char               ngx_oc_fuzz_msg[NGX_OC_FUZZ_MESSAGES];
static ngx_str_t            ngx_oc_fuzz_msgs = { 0, ngx_oc_fuzz_msg };
static ngx_uint_t           ngx_oc_fuzz_verbose;
static char                 ngx_oc_fuzz_dir[256];


void
ngx_oc_fuzz_init(void)
{
    const char  *tmp;

    if (ngx_oc_fuzz_log != NULL) {
        return;
    }

    /* what nginx's main() sets up before it reads the configuration */

    ngx_pid = ngx_getpid();
    ngx_pagesize = getpagesize();
    ngx_use_stderr = 0;

    ngx_time_init();

    ngx_oc_fuzz_verbose = (getenv("OC_FUZZ_VERBOSE") != NULL);

    /*
     * every level, so that every message's arguments are formatted, but
     * the allocator's own debug lines, which would slow each input down
     */

    ngx_oc_fuzz_log_file.fd = NGX_INVALID_FILE;
    ngx_oc_fuzz_log_s.file = &ngx_oc_fuzz_log_file;
    ngx_oc_fuzz_log_s.log_level = NGX_LOG_DEBUG_ALL & ~NGX_LOG_DEBUG_ALLOC;
    ngx_oc_fuzz_log_s.writer = ngx_oc_fuzz_writer;
    ngx_oc_fuzz_log = &ngx_oc_fuzz_log_s;

    /* secret files are written to and read from a private directory */

    tmp = getenv("TMPDIR");
    snprintf(ngx_oc_fuzz_dir, sizeof(ngx_oc_fuzz_dir), "%s/ngx-oc-fuzz-XXXXXX",
             tmp ? tmp : "/tmp");

    if (mkdtemp(ngx_oc_fuzz_dir) == NULL) {
        perror("mkdtemp");
        abort();
    }

    atexit(ngx_oc_fuzz_cleanup);

    ngx_oc_fuzz_cycle.log = ngx_oc_fuzz_log;
    ngx_oc_fuzz_cycle.prefix.data = (u_char *) ngx_oc_fuzz_dir;
    ngx_oc_fuzz_cycle.prefix.len = strlen(ngx_oc_fuzz_dir);
    ngx_oc_fuzz_dir[ngx_oc_fuzz_cycle.prefix.len++] = '/';
    ngx_oc_fuzz_cycle.conf_prefix = ngx_oc_fuzz_cycle.prefix;

    /* "env OC_FUZZ_LISTED;" in the main context */

    ngx_oc_fuzz_ccf.env.elts = &ngx_oc_fuzz_env_listed;
    ngx_oc_fuzz_ccf.env.nelts = 1;
    ngx_oc_fuzz_ccf.env.nalloc = 1;
    ngx_oc_fuzz_ccf.env.size = sizeof(ngx_str_t);

    ngx_oc_fuzz_conf_ctx[ngx_core_module.index] = &ngx_oc_fuzz_ccf;
    ngx_oc_fuzz_cycle.conf_ctx = (void ****) ngx_oc_fuzz_conf_ctx;

    ngx_str_set(&ngx_oc_fuzz_conf_file.file.name, "fuzz.conf");
    ngx_oc_fuzz_conf_file.line = 1;

    ngx_oc_fuzz_cf.cycle = &ngx_oc_fuzz_cycle;
    ngx_oc_fuzz_cf.log = ngx_oc_fuzz_log;
    ngx_oc_fuzz_cf.conf_file = &ngx_oc_fuzz_conf_file;

    ngx_cycle = &ngx_oc_fuzz_cycle;

    ngx_oc_fuzz_pool_new();
}


static void
ngx_oc_fuzz_pool_new(void)
{
    /* max is 0: every allocation but an empty one is its own malloc() */

    ngx_oc_fuzz_pool = ngx_create_pool(sizeof(ngx_pool_t), ngx_oc_fuzz_log);
    if (ngx_oc_fuzz_pool == NULL) {
        abort();
    }

    ngx_oc_fuzz_cycle.pool = ngx_oc_fuzz_pool;
    ngx_oc_fuzz_ccf.env.pool = ngx_oc_fuzz_pool;
    ngx_oc_fuzz_cf.pool = ngx_oc_fuzz_pool;
    ngx_oc_fuzz_cf.temp_pool = ngx_oc_fuzz_pool;
}


/* the end of an input: its allocations and messages go */

void
ngx_oc_fuzz_reset(void)
{
    ngx_destroy_pool(ngx_oc_fuzz_pool);
    ngx_oc_fuzz_pool_new();

    ngx_oc_fuzz_msgs.len = 0;
}


static void
ngx_oc_fuzz_cleanup(void)
{
    if (ngx_oc_fuzz_pool != NULL) {
        ngx_destroy_pool(ngx_oc_fuzz_pool);
        ngx_oc_fuzz_pool = NULL;
    }

    (void) rmdir(ngx_oc_fuzz_dir);
}


const char *
ngx_oc_fuzz_prefix(void)
{
    return ngx_oc_fuzz_dir;
}


ngx_conf_t *
ngx_oc_fuzz_conf(void)
{
    return &ngx_oc_fuzz_cf;
}


ngx_str_t *
ngx_oc_fuzz_messages(void)
{
    return &ngx_oc_fuzz_msgs;
}


/* an input in memory of its exact size, null-terminated if asked */

u_char *
ngx_oc_fuzz_copy(const uint8_t *data, size_t size, ngx_uint_t nul)
{
    u_char  *p;

    p = ngx_pnalloc(ngx_oc_fuzz_pool, size + (nul ? 1 : 0));
    if (p == NULL) {
        abort();
    }

    if (size) {
        ngx_memcpy(p, data, size);
    }

    if (nul) {
        p[size] = '\0';
    }

    return p;
}


/* reads every byte, so that a wrong length is an out-of-bounds read */

void
ngx_oc_fuzz_touch(ngx_str_t *s)
{
    size_t           i;
    volatile u_char  sum;

    if (s->len) {
        ngx_oc_fuzz_assert(s->data != NULL);
    }

    sum = 0;

    for (i = 0; i < s->len; i++) {
        sum ^= s->data[i];
    }

    (void) sum;
}


/*
 * ngx_log_error_core() hands the whole line: the time, "[level] ",
 * "pid#tid: ", the message and a line feed; this input's messages, debug
 * ones aside, are kept without the prefix, which is not the module's
 */

static void
ngx_oc_fuzz_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    u_char  *p, *last;
    size_t   n;

    last = buf + len;

    if (ngx_oc_fuzz_verbose) {
        fprintf(stderr, "log: %.*s", (int) len, buf);
    }

    if (level >= NGX_LOG_DEBUG) {
        return;
    }

    if (last > buf && last[-1] == LF) {
        last--;
    }

    p = memchr(buf, '#', last - buf);
    p = p ? ngx_strlchr(p, last, ':') : NULL;

    ngx_oc_fuzz_assert(p != NULL && p + 1 < last && p[1] == ' ');

    p += 2;

    n = ngx_min((size_t) (last - p),
                sizeof(ngx_oc_fuzz_msg) - ngx_oc_fuzz_msgs.len - 1);

    ngx_memcpy(ngx_oc_fuzz_msg + ngx_oc_fuzz_msgs.len, p, n);
    ngx_oc_fuzz_msgs.len += n;
    ngx_oc_fuzz_msg[ngx_oc_fuzz_msgs.len] = '\n';

    if (ngx_oc_fuzz_msgs.len < sizeof(ngx_oc_fuzz_msg) - 1) {
        ngx_oc_fuzz_msgs.len++;
    }
}
