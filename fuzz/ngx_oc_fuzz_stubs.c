
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * Stand-ins for the parts of nginx the module's parsers need and nginx-dev
 * does not ship as code: pools, logs, the configuration context.  The
 * nginx functions whose behaviour matters (formatting, escaping, number
 * parsing) have their own stand-ins in ngx_oc_fuzz_core.c.  Functions
 * that only the event loop or the configuration parser call abort: a fuzz
 * target reaching one is a bug in the target.
 */


#include "ngx_oc_fuzz.h"
#include "ngx_oc_tenant.h"

#include <ngx_sha1.h>
#include <sys/stat.h>


#define NGX_OC_FUZZ_MESSAGES  65536


static void ngx_oc_fuzz_message(ngx_uint_t level, u_char *p, u_char *last);
static void ngx_oc_fuzz_cleanup(void);
static void ngx_oc_fuzz_unexpected(const char *name);


ngx_pool_t                 *ngx_oc_fuzz_pool;
ngx_log_t                  *ngx_oc_fuzz_log;

/* what the module's object files refer to */
ngx_uint_t                  ngx_pagesize;
volatile ngx_msec_t         ngx_current_msec;
ngx_module_t                ngx_core_module;    /* index 0 */
ngx_module_t                ngx_http_module;
ngx_module_t                ngx_oc_module;
ngx_event_actions_t         ngx_event_actions;
ngx_rbtree_t                ngx_event_timer_rbtree;
ngx_queue_t                 ngx_posted_events;


static ngx_pool_t           ngx_oc_fuzz_pool_s;
static ngx_log_t            ngx_oc_fuzz_log_s;
static ngx_cycle_t          ngx_oc_fuzz_cycle;
static ngx_core_conf_t      ngx_oc_fuzz_ccf;
static void                *ngx_oc_fuzz_conf_ctx[1];
static ngx_conf_file_t      ngx_oc_fuzz_conf_file;
static ngx_conf_t           ngx_oc_fuzz_cf;
static ngx_str_t            ngx_oc_fuzz_env_listed =
    ngx_string("OC_FUZZ_LISTED");

static void               **ngx_oc_fuzz_blocks;
static size_t               ngx_oc_fuzz_nblocks;
static size_t               ngx_oc_fuzz_nalloc;

static u_char               ngx_oc_fuzz_msg[NGX_OC_FUZZ_MESSAGES];
static ngx_str_t            ngx_oc_fuzz_msgs = { 0, ngx_oc_fuzz_msg };
static ngx_uint_t           ngx_oc_fuzz_verbose;
static char                 ngx_oc_fuzz_dir[256];


void
ngx_oc_fuzz_init(void)
{
    const char  *tmp;

    if (ngx_oc_fuzz_pool != NULL) {
        return;
    }

    ngx_pagesize = getpagesize();
    ngx_oc_fuzz_verbose = (getenv("OC_FUZZ_VERBOSE") != NULL);

    /* every level, so that every message's arguments are formatted */

    ngx_oc_fuzz_log_s.log_level = NGX_LOG_DEBUG_ALL;
    ngx_oc_fuzz_log = &ngx_oc_fuzz_log_s;

    ngx_oc_fuzz_pool_s.log = ngx_oc_fuzz_log;
    ngx_oc_fuzz_pool = &ngx_oc_fuzz_pool_s;

    /* secret files are written to and read from a private directory */

    tmp = getenv("TMPDIR");
    snprintf(ngx_oc_fuzz_dir, sizeof(ngx_oc_fuzz_dir), "%s/ngx-oc-fuzz-XXXXXX",
             tmp ? tmp : "/tmp");

    if (mkdtemp(ngx_oc_fuzz_dir) == NULL) {
        perror("mkdtemp");
        abort();
    }

    atexit(ngx_oc_fuzz_cleanup);

    ngx_oc_fuzz_cycle.pool = ngx_oc_fuzz_pool;
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
    ngx_oc_fuzz_ccf.env.pool = ngx_oc_fuzz_pool;

    ngx_oc_fuzz_conf_ctx[0] = &ngx_oc_fuzz_ccf;
    ngx_oc_fuzz_cycle.conf_ctx = (void ****) ngx_oc_fuzz_conf_ctx;

    ngx_str_set(&ngx_oc_fuzz_conf_file.file.name, "fuzz.conf");
    ngx_oc_fuzz_conf_file.line = 1;

    ngx_oc_fuzz_cf.cycle = &ngx_oc_fuzz_cycle;
    ngx_oc_fuzz_cf.pool = ngx_oc_fuzz_pool;
    ngx_oc_fuzz_cf.temp_pool = ngx_oc_fuzz_pool;
    ngx_oc_fuzz_cf.log = ngx_oc_fuzz_log;
    ngx_oc_fuzz_cf.conf_file = &ngx_oc_fuzz_conf_file;
}


/* the end of an input: its allocations and messages go */

void
ngx_oc_fuzz_reset(void)
{
    size_t               i;
    ngx_pool_cleanup_t  *c;

    /* as ngx_destroy_pool(): the cleanups first, the last added first */

    for (c = ngx_oc_fuzz_pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    ngx_oc_fuzz_pool->cleanup = NULL;

    for (i = 0; i < ngx_oc_fuzz_nblocks; i++) {
        free(ngx_oc_fuzz_blocks[i]);
    }

    ngx_oc_fuzz_nblocks = 0;
    ngx_oc_fuzz_msgs.len = 0;
}


static void
ngx_oc_fuzz_cleanup(void)
{
    free(ngx_oc_fuzz_blocks);
    ngx_oc_fuzz_blocks = NULL;
    ngx_oc_fuzz_nblocks = 0;
    ngx_oc_fuzz_nalloc = 0;

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


/* ngx_palloc.c: every allocation is its own block */

void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    void   *p, **blocks;
    size_t  n;

    if (ngx_oc_fuzz_nblocks == ngx_oc_fuzz_nalloc) {
        n = ngx_oc_fuzz_nalloc ? 2 * ngx_oc_fuzz_nalloc : 256;

        blocks = realloc(ngx_oc_fuzz_blocks, n * sizeof(void *));
        if (blocks == NULL) {
            return NULL;
        }

        ngx_oc_fuzz_blocks = blocks;
        ngx_oc_fuzz_nalloc = n;
    }

    p = malloc(size);
    if (p == NULL) {
        return NULL;
    }

    ngx_oc_fuzz_blocks[ngx_oc_fuzz_nblocks++] = p;

    return p;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);

    if (p != NULL) {
        ngx_memzero(p, size);
    }

    return p;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = ngx_palloc(p, sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    if (size) {
        c->data = ngx_palloc(p, size);
        if (c->data == NULL) {
            return NULL;
        }

    } else {
        c->data = NULL;
    }

    c->handler = NULL;
    c->next = p->cleanup;

    p->cleanup = c;

    return c;
}


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}


/* ngx_log.c: formatted, kept for the target, printed if asked */

void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last, buf[NGX_MAX_ERROR_STR];
    va_list   args;

    last = buf + sizeof(buf);

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d)", err);
    }

    ngx_oc_fuzz_message(level, buf, p);
}


/* ngx_conf_file.c: the message, its errno and the place */

void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last, buf[NGX_MAX_CONF_ERRSTR];
    va_list   args;

    last = buf + sizeof(buf);

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d)", err);
    }

    ngx_log_error(level, cf->log, 0, "%*s in %V:%ui", p - buf, buf,
                  &cf->conf_file->file.name, cf->conf_file->line);
}


/* the messages of this input, debug messages aside */

static void
ngx_oc_fuzz_message(ngx_uint_t level, u_char *p, u_char *last)
{
    size_t  n;

    if (ngx_oc_fuzz_verbose) {
        fprintf(stderr, "log: %.*s\n", (int) (last - p), p);
    }

    if (level >= NGX_LOG_DEBUG) {
        return;
    }

    n = ngx_min((size_t) (last - p),
                sizeof(ngx_oc_fuzz_msg) - ngx_oc_fuzz_msgs.len - 1);

    ngx_memcpy(ngx_oc_fuzz_msg + ngx_oc_fuzz_msgs.len, p, n);
    ngx_oc_fuzz_msgs.len += n;
    ngx_oc_fuzz_msg[ngx_oc_fuzz_msgs.len] = '\n';

    if (ngx_oc_fuzz_msgs.len < sizeof(ngx_oc_fuzz_msg) - 1) {
        ngx_oc_fuzz_msgs.len++;
    }
}


/* never called by a fuzz target */

static void
ngx_oc_fuzz_unexpected(const char *name)
{
    fprintf(stderr, "fuzz target called %s()\n", name);
    abort();
}


ngx_connection_t *
ngx_get_connection(ngx_socket_t s, ngx_log_t *log)
{
    ngx_oc_fuzz_unexpected("ngx_get_connection");
    return NULL;
}


void
ngx_free_connection(ngx_connection_t *c)
{
    ngx_oc_fuzz_unexpected("ngx_free_connection");
}


void
ngx_rbtree_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    ngx_oc_fuzz_unexpected("ngx_rbtree_insert");
}


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    ngx_oc_fuzz_unexpected("ngx_rbtree_delete");
}


char *
ngx_conf_parse(ngx_conf_t *cf, ngx_str_t *filename)
{
    ngx_oc_fuzz_unexpected("ngx_conf_parse");
    return NGX_CONF_ERROR;
}


char *
ngx_conf_set_flag_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_conf_set_flag_slot");
    return NGX_CONF_ERROR;
}


char *
ngx_conf_set_str_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_conf_set_str_slot");
    return NGX_CONF_ERROR;
}


void
ngx_sha1_init(ngx_sha1_t *ctx)
{
    ngx_oc_fuzz_unexpected("ngx_sha1_init");
}


void
ngx_sha1_update(ngx_sha1_t *ctx, const void *data, size_t size)
{
    ngx_oc_fuzz_unexpected("ngx_sha1_update");
}


void
ngx_sha1_final(u_char result[20], ngx_sha1_t *ctx)
{
    ngx_oc_fuzz_unexpected("ngx_sha1_final");
}


/* families (ngx_oc_tenant_conf.c): no fuzz target declares one */

char *
ngx_oc_tenant_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenant_directive");
    return NGX_CONF_ERROR;
}


char *
ngx_oc_tenants_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenants_max");
    return NGX_CONF_ERROR;
}


char *
ngx_oc_tenant_absent_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenant_absent_ttl");
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_oc_tenant_init_conf(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    return NGX_OK;
}


ngx_int_t
ngx_oc_tenant_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    return NGX_OK;
}
