
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_tenant.h"
#include "ngx_oc_handler.h"


/*
 * a path of its own, out of the handler, but not a cold one; and a path
 * inline in both the handler and that one
 */

#if (__GNUC__)
#define ngx_oc_apart   __attribute__((noinline))
#define ngx_oc_inline  __attribute__((always_inline))
#else
#define ngx_oc_apart
#define ngx_oc_inline
#endif


static ngx_int_t ngx_oc_handler(ngx_http_request_t *r);
static ngx_int_t ngx_oc_refresh(ngx_http_request_t *r,
    ngx_oc_instance_t *oi) ngx_oc_cold;
static ngx_int_t ngx_oc_tenant_pass(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
static ngx_int_t ngx_oc_tenant_eval(ngx_http_request_t *r,
    ngx_oc_instance_t *oi) ngx_oc_apart;
static ngx_inline ngx_int_t ngx_oc_tenant_arm(ngx_http_request_t *r,
    ngx_oc_instance_t *oi, ngx_http_variable_value_t *vv) ngx_oc_inline;
static ngx_int_t ngx_oc_tenant_choose(ngx_http_request_t *r,
    ngx_oc_instance_t *oi) ngx_oc_cold;
static ngx_inline ngx_int_t ngx_oc_arm(ngx_http_request_t *r,
    ngx_oc_instance_t *oi);
static ngx_inline ngx_int_t ngx_oc_wrap(ngx_http_request_t *r);
static ngx_int_t ngx_oc_content(ngx_http_request_t *r);
static void ngx_oc_choose(ngx_oc_ctx_t *ctx, ngx_oc_instance_t *oi)
    ngx_oc_cold;
static ngx_int_t ngx_oc_content_later(ngx_http_request_t *r, ngx_int_t rc)
    ngx_oc_cold;
static ngx_int_t ngx_oc_create_request(ngx_http_request_t *r);
static ngx_inline ngx_int_t ngx_oc_inject(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_inline void ngx_oc_restore(void);
static void ngx_oc_restore_pushed(ngx_http_request_t *r,
    ngx_table_elt_t *pushed) ngx_oc_cold;
static ngx_inline void ngx_oc_restore_last(ngx_http_request_t *r,
    ngx_table_elt_t *pushed);
static ngx_int_t ngx_oc_rewrite_handler(ngx_http_request_t *r);
static ngx_int_t ngx_oc_location_handler(ngx_http_request_t *r);


static ngx_uint_t  ngx_oc_authorization_hash;

/*
 * the request whose headers hold the injected value, and what the value
 * replaces: only while its upstream request is made, a synchronous call
 * (see ngx_oc_content())
 */

static struct {
    ngx_http_request_t         *request;    /* NULL: none */
    ngx_table_elt_t            *header;     /* the client's, value changed */
    ngx_str_t                   client;     /* its own value */
    ngx_table_elt_t            *pushed;     /* ours, the client sent none */
} ngx_oc_window;


static ngx_int_t
ngx_oc_handler(ngx_http_request_t *r)
{
    ngx_oc_instance_t  *oi;
    ngx_oc_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    oi = olcf->instance;

    /*
     * a subrequest shares its parent's request headers: the header set
     * there would reach the parent's upstream too
     */

    if (oi == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    if (oi->family) {
        return ngx_oc_tenant_pass(r, oi);
    }

    /* ngx_oc_shm_refresh()'s fast path: the record has not moved */

    if (oi->rec->generation == oi->gen && oi->state == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    return ngx_oc_refresh(r, oi);
}


/* a block whose record moved, or that is not ready: out of the handler */

static ngx_int_t
ngx_oc_refresh(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    return ngx_oc_wait(r, omcf, oi);
}


/*
 * A family: the tenant's own copy of the block, chosen once per request
 * (a wait comes here again with it, in its ctx; a replay, after its
 * internal redirect, chooses again), then as a block.  A ready tenant
 * takes no ctx, as a block's request does not: the content handler finds
 * the copy in ngx_oc_tenant_chosen, in this same run of the phases, and
 * what comes later finds it again by the value (ngx_oc_tenant_find()).
 */

static ngx_int_t
ngx_oc_tenant_pass(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void                       *slot;
    ngx_http_variable_value_t  *vv;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot != NULL && !ngx_oc_tagged(slot)) {
        return ngx_oc_tenant_choose(r, oi);
    }

    /*
     * a value already evaluated, as that of auth_request_set or set is:
     * ngx_http_get_indexed_variable()'s own test, without the call
     */

    vv = &r->variables[oi->family->index];

    if (!vv->valid && !vv->not_found) {
        return ngx_oc_tenant_eval(r, oi);
    }

    return ngx_oc_tenant_arm(r, oi, vv);
}


/* a variable evaluated on demand ($http_...), in a call of its own */

static ngx_int_t
ngx_oc_tenant_eval(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    ngx_http_variable_value_t  *vv;

    vv = ngx_http_get_indexed_variable(r, oi->family->index);

    if (vv == NULL) {
        return ngx_oc_tenant_choose(r, oi);
    }

    return ngx_oc_tenant_arm(r, oi, vv);
}


/* a ready copy: the block's hot path, with the copy noted for content */

static ngx_inline ngx_int_t
ngx_oc_tenant_arm(ngx_http_request_t *r, ngx_oc_instance_t *oi,
    ngx_http_variable_value_t *vv)
{
    ngx_oc_tenant_t  *t;

    t = ngx_oc_tenant_ready(oi->family, vv);

    if (t == NULL) {
        return ngx_oc_tenant_choose(r, oi);
    }

    ngx_oc_tenant_chosen.request = r;
    ngx_oc_tenant_chosen.oi = &t->oi;
    ngx_http_set_ctx(r, ngx_oc_tag(t->oi.header_id), ngx_oc_module);

    return ngx_oc_wrap(r);
}


/*
 * the rest, out of the handler: a tenant the worker has no ready copy
 * of, a bad value, a request that waits (and holds a count on its copy)
 * or that comes back from its wait
 */

static ngx_int_t
ngx_oc_tenant_choose(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void                *slot;
    ngx_int_t            status;
    ngx_oc_ctx_t        *ctx;
    ngx_oc_tenant_t     *t;
    ngx_oc_instance_t   *ti;
    ngx_oc_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    ctx = (slot != NULL && !ngx_oc_tagged(slot)) ? slot : NULL;

    if (ctx == NULL || ctx->tenant == NULL) {
        t = ngx_oc_tenant_get(r, omcf, oi, &status);

        if (t == NULL) {
            return (status == NGX_HTTP_BAD_REQUEST
                    || status == NGX_HTTP_SERVICE_UNAVAILABLE)
                   ? ngx_oc_tenant_refuse(r, NULL, status) : status;
        }

        ti = &t->oi;

        if (ctx == NULL && ngx_oc_shm_refresh(omcf, ti) == NGX_OC_READY) {
            ngx_oc_tenant_chosen.request = r;
            ngx_oc_tenant_chosen.oi = ti;
            return ngx_oc_arm(r, ti);
        }

        ctx = ngx_oc_get_ctx(r, omcf);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->tenant == NULL) {
            t->refs++;
            ctx->tenant = ti;
        }

    } else if (ngx_oc_tenant_recheck(omcf, ctx->tenant) != NGX_OK) {
        /* woken: the tenant may have left the zone since */
        return ngx_oc_tenant_refuse(r, NULL, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    oi = ctx->tenant;

    if (ngx_oc_shm_refresh(omcf, oi) == NGX_OC_READY) {
        return ngx_oc_arm(r, oi);
    }

    return ngx_oc_wait(r, omcf, oi);
}


/* the instance a request uses: a family's is its tenant's, or none */

ngx_oc_instance_t *
ngx_oc_request_instance(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void          *slot;
    ngx_oc_ctx_t  *ctx;

    if (oi == NULL || oi->family == NULL) {
        return oi;
    }

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot == NULL) {
        return NULL;
    }

    if (ngx_oc_tagged(slot)) {
        return ngx_oc_tenant_find(r, oi);
    }

    ctx = slot;

    return ctx->tenant;
}


/*
 * The boundary (docs/security.md): the request's headers keep the
 * client's Authorization.  The value is chosen here, and the location's
 * content handler is wrapped: the value is put into the headers only
 * while the upstream request is made from them, and taken out again at
 * once.  Whatever else reads the headers (error_page, X-Accel-Redirect,
 * try_files, mirror and other subrequests, $http_authorization, the
 * access log) reads the client's own value.
 */

static ngx_inline ngx_int_t
ngx_oc_arm(ngx_http_request_t *r, ngx_oc_instance_t *oi)
{
    void  *slot;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot != NULL && !ngx_oc_tagged(slot)) {
        return ngx_oc_arm_ctx(r, slot, oi);
    }

    ngx_http_set_ctx(r, ngx_oc_tag(oi->header_id), ngx_oc_module);

    return ngx_oc_wrap(r);
}


/* a request with a ctx: it holds the value (a call: out of the handler) */

ngx_int_t
ngx_oc_arm_ctx(ngx_http_request_t *r, ngx_oc_ctx_t *ctx,
    ngx_oc_instance_t *oi)
{
    ngx_oc_choose(ctx, oi);

    return ngx_oc_wrap(r);
}


/*
 * the location's own content handler is wrapped; without one (static
 * files, say) there is no upstream request
 */

static ngx_inline ngx_int_t
ngx_oc_wrap(ngx_http_request_t *r)
{
    if (r->content_handler != NULL) {
        r->content_handler = ngx_oc_content;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_oc_content(ngx_http_request_t *r)
{
    void                      *slot;
    ngx_int_t                  rc;
    ngx_str_t                 *value;
    ngx_oc_ctx_t              *ctx;
    ngx_oc_instance_t         *oi;
    ngx_oc_loc_conf_t         *olcf;
    ngx_http_upstream_t       *u;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    oi = olcf->instance;

    if (slot == NULL) {
        /*
         * a subrequest that clones its parent (a cache background
         * update) has a ctx of its own: the location's own handler,
         * without the value
         */

        return clcf->handler ? clcf->handler(r) : NGX_DECLINED;
    }

    /* chosen in the precontent phase, in this same run of the phases */

    if (ngx_oc_tagged(slot)) {
        value = (oi->family == NULL) ? &oi->header
                : (ngx_oc_tenant_chosen.request == r
                   && ngx_oc_tenant_chosen.oi->family == oi->family)
                  ? &ngx_oc_tenant_chosen.oi->header
                  : ngx_oc_tenant_value(r, oi);

        if (value == NULL) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

    } else {
        ctx = slot;
        value = &ctx->sent;
    }

    (void) ngx_atomic_fetch_add(&oi->rec->counters.injected, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oc pass \"%V\": token of generation %uA",
                   &oi->block, oi->gen);

    u = r->upstream;

    if (ngx_oc_inject(r, value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * without a body to read, the upstream request is made in this call;
     * an upstream that fails at once may also take the request into an
     * error_page here: ngx_oc_rewrite_handler() undoes the value then
     */

    rc = clcf->handler(r);

    if (ngx_oc_window.request != r) {
        return rc;
    }

    ngx_oc_restore();

    if (r->upstream != NULL && r->upstream != u
        && r->upstream->request_bufs == NULL)
    {
        return ngx_oc_content_later(r, rc);
    }

    return rc;
}


/* a ctx keeps the value it is given until the request ends */

static void
ngx_oc_choose(ngx_oc_ctx_t *ctx, ngx_oc_instance_t *oi)
{
    ngx_oc_value_t  *held;

    held = ctx->held;

    ctx->held = ngx_oc_shm_hold(oi);
    ctx->sent = oi->header;
    ctx->sent_id = oi->header_id;

    ngx_oc_shm_unhold(held);
}


/* a body still to read: the upstream request is made later */

static ngx_int_t
ngx_oc_content_later(ngx_http_request_t *r, ngx_int_t rc)
{
    void                *slot;
    ngx_oc_ctx_t        *ctx;
    ngx_oc_instance_t   *oi;
    ngx_oc_loc_conf_t   *olcf;
    ngx_oc_main_conf_t  *omcf;

    if (r->upstream->create_request == NULL) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_oc_module);
    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    ctx = ngx_oc_get_ctx(r, omcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the fast path's value, read in this call: now kept for later */

    if (ngx_oc_tagged(slot)) {
        olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);
        oi = olcf->instance->family ? ctx->tenant : olcf->instance;

        if (oi == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_oc_choose(ctx, oi);
    }

    ctx->create_request = r->upstream->create_request;
    r->upstream->create_request = ngx_oc_create_request;

    return rc;
}


static ngx_int_t
ngx_oc_create_request(ngx_http_request_t *r)
{
    void          *slot;
    ngx_int_t      rc;
    ngx_oc_ctx_t  *ctx;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);
    ctx = slot;

    if (slot == NULL || ngx_oc_tagged(slot) || ctx->create_request == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "oc_pass: upstream request without its state");
        return NGX_ERROR;
    }

    if (ngx_oc_window.request != NULL) {
        ngx_oc_restore();
    }

    if (ngx_oc_inject(r, &ctx->sent) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ctx->create_request(r);

    if (ngx_oc_window.request == r) {
        ngx_oc_restore();
    }

    return rc;
}


/* whatever the client sent as Authorization is replaced, for a moment */

static ngx_inline ngx_int_t
ngx_oc_inject(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_list_part_t  *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h != NULL) {
        ngx_oc_window.header = h;
        ngx_oc_window.client = h->value;
        h->value = *value;

    } else {
        /* ngx_list_push(), its common case inline */

        last = r->headers_in.headers.last;

        if (last->nelts < r->headers_in.headers.nalloc) {
            h = (ngx_table_elt_t *) last->elts + last->nelts++;

        } else {
            h = ngx_list_push(&r->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }
        }

        h->hash = ngx_oc_authorization_hash;
        ngx_str_set(&h->key, "Authorization");
        h->lowcase_key = (u_char *) "authorization";
        h->value = *value;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        ngx_oc_window.pushed = h;
    }

    ngx_oc_window.request = r;

    return NGX_OK;
}


static ngx_inline void
ngx_oc_restore(void)
{
    ngx_table_elt_t     *pushed;
    ngx_http_request_t  *r;

    r = ngx_oc_window.request;
    ngx_oc_window.request = NULL;

    if (ngx_oc_window.header != NULL) {
        ngx_oc_window.header->value = ngx_oc_window.client;
        ngx_oc_window.header = NULL;
    }

    pushed = ngx_oc_window.pushed;

    if (pushed != NULL) {
        ngx_oc_window.pushed = NULL;
        ngx_oc_restore_last(r, pushed);
    }
}


/* nothing is added after it in between: it is the last one */

static ngx_inline void
ngx_oc_restore_last(ngx_http_request_t *r, ngx_table_elt_t *pushed)
{
    ngx_list_part_t  *last;

    last = r->headers_in.headers.last;

    if (last->nelts
        && (ngx_table_elt_t *) last->elts + last->nelts - 1 == pushed)
    {
        last->nelts--;
        return;
    }

    ngx_oc_restore_pushed(r, pushed);
}


static void
ngx_oc_restore_pushed(ngx_http_request_t *r, ngx_table_elt_t *pushed)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "oc_pass: a request header was added after the "
                  "injected one");

    ngx_str_set(&pushed->value, "");
    pushed->hash = 0;
}


/*
 * an internal redirect or a named location inside the upstream call:
 * the request enters another location, with the client's value
 */

static ngx_int_t
ngx_oc_rewrite_handler(ngx_http_request_t *r)
{
    if (ngx_oc_window.request != NULL) {
        ngx_oc_restore();
    }

    return NGX_DECLINED;
}


/*
 * the same, on entering a location: oc_retry_on_401 notes its URI there
 * (only where an oc_pass location has it on: it costs every location)
 */

static ngx_int_t
ngx_oc_location_handler(ngx_http_request_t *r)
{
    ngx_oc_loc_conf_t  *olcf;

    if (ngx_oc_window.request != NULL) {
        ngx_oc_restore();
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_oc_module);

    if (olcf->retry_on_401 && olcf->instance != NULL && r == r->main) {
        return ngx_oc_retry_enter(r);
    }

    return NGX_DECLINED;
}


/* the id of the value given to the request, or 0 */

uintptr_t
ngx_oc_sent(ngx_http_request_t *r)
{
    void          *slot;
    ngx_oc_ctx_t  *ctx;

    slot = ngx_http_get_module_ctx(r, ngx_oc_module);

    if (slot == NULL) {
        return 0;
    }

    if (ngx_oc_tagged(slot)) {
        return ngx_oc_untag(slot);
    }

    ctx = slot;

    return ctx->sent_id;
}


/*
 * the handler runs in the precontent phase, after every access check:
 * a request that access rules refuse never starts a resolution, and
 * "satisfy any" cannot skip the injection
 */

ngx_int_t
ngx_oc_handler_init(ngx_conf_t *cf, ngx_uint_t retry)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_handler;

    /* every entry into a location, also by a redirect, a named location */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_oc_rewrite_handler;

    /*
     * pushed after ngx_http_rewrite_module's (which precedes this filter
     * module in the module list, static or dynamic): the phase engine
     * runs a phase's handlers last pushed first, so this one sees the URI
     * the location was chosen for, before a "rewrite ... break" changes it
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = retry ? ngx_oc_location_handler : ngx_oc_rewrite_handler;

    ngx_oc_retry_init();

    ngx_oc_authorization_hash = ngx_hash_key((u_char *) "authorization",
                                             sizeof("authorization") - 1);

    return NGX_OK;
}
