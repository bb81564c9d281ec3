
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_api.h"
#include "ngx_oc_curl.h"
#include "ngx_oc_resolve.h"


/*
 * Looking an instance up: first by its identity tag, one call whatever
 * the size of the account; only when that finds nothing (an instance made
 * by hand or by an older version) by a scan of the element's list, 200
 * a page, shared by every block of the worker that needs one at the same
 * time, keeping only the entries that match.
 */


typedef struct {
    ngx_str_t                  *name;
    ngx_oc_resolver_t          *res;        /* NULL: left the scan */
} ngx_oc_scan_member_t;


static ngx_int_t ngx_oc_tag_search(ngx_oc_resolver_t *res, ngx_str_t *page);
static void ngx_oc_tag_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static ngx_array_t *ngx_oc_tag_match(void *data, ngx_str_t *element,
    ngx_str_t *name);
static void ngx_oc_tag_search_end(ngx_oc_resolver_t *res);
static void ngx_oc_scan_join(ngx_oc_resolver_t *res);
static void ngx_oc_scan_kick(void);
static void ngx_oc_scan_leave_scan(ngx_oc_resolver_t *res);
static ngx_int_t ngx_oc_scan_page(ngx_oc_resolver_t *res, ngx_str_t *page);
static void ngx_oc_scan_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h);
static ngx_int_t ngx_oc_scan_members(ngx_oc_resolver_t *res);
static ngx_array_t *ngx_oc_scan_match(void *data, ngx_str_t *element,
    ngx_str_t *name);
static void ngx_oc_scan_end(ngx_oc_resolver_t *res);
static void ngx_oc_scan_close(ngx_oc_resolver_t *res, ngx_queue_t *followers);
static ngx_oc_resolver_t *ngx_oc_scan_follower(ngx_queue_t *followers);
static ngx_int_t ngx_oc_list_page(ngx_oc_resolver_t *res, ngx_str_t *tag,
    ngx_str_t *page, ngx_oc_step_pt step);
static ngx_uint_t ngx_oc_same(ngx_str_t *a, ngx_str_t *b);
static ngx_int_t ngx_oc_next_page(ngx_oc_resolver_t *res, ngx_oc_http_t *h,
    ngx_uint_t listed, ngx_str_t *page);
static int ngx_libc_cdecl ngx_oc_member_cmp(const void *one,
    const void *two);


/* the scans under way or about to start in this worker, their leaders */
static ngx_queue_t  ngx_oc_scans = { &ngx_oc_scans, &ngx_oc_scans };

/*
 * tag searches under way: a scan starts when none is, so that every
 * block of a start or a restart whose search finds nothing joins it
 */
static ngx_uint_t   ngx_oc_searching;


/* no_scan: a tag search alone (the instance nginx knew was deleted) */

ngx_int_t
ngx_oc_lookup(ngx_oc_resolver_t *res, ngx_uint_t no_scan)
{
    if (ngx_oc_ident(res) != NGX_OK) {
        return NGX_ERROR;
    }

    res->matches.nelts = 0;
    res->pages = 0;
    res->entries = 0;

    /* a tenant: its first tag alone, a scan per tenant grows with all */
    res->no_scan = no_scan || res->oi->family != NULL;
    res->scanned = 0;
    ngx_str_null(&res->page);

    if (!res->searching) {
        res->searching = 1;
        ngx_oc_searching++;
    }

    return ngx_oc_tag_search(res, NULL);
}


/* the identity tag of the instance, made once per resolution */

ngx_int_t
ngx_oc_ident(ngx_oc_resolver_t *res)
{
    if (res->ident.len) {
        return NGX_OK;
    }

    return ngx_oc_api_ident_tag(res->pool, &res->oi->element, &res->oi->name,
                                &res->ident);
}


static ngx_int_t
ngx_oc_tag_search(ngx_oc_resolver_t *res, ngx_str_t *page)
{
    ngx_str_t  *tag;

    tag = res->oi->family ? res->oi->tags.elts : &res->ident;

    return ngx_oc_list_page(res, tag, page, ngx_oc_tag_done);
}


static void
ngx_oc_tag_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_str_t   err, page;
    ngx_int_t   rc;
    ngx_uint_t  listed;

    /* section 8 of the API notes: a tag search that finds nothing is 404 */

    if (h->status == 404) {
        listed = 0;
        goto found;
    }

    if (h->status != 200) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h,
                      "GET /elements/{key}/instances by tag");
        return;
    }

    switch (ngx_oc_api_parse_matching(&h->response, ngx_oc_tag_match, res,
                                      &listed, &err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "GET /elements/{key}/instances by tag: %V", &err);
        return;

    default:
        goto nomem;
    }

    rc = ngx_oc_next_page(res, h, listed, &page);

    if (rc == NGX_ERROR) {
        goto nomem;
    }

    if (rc == NGX_OK) {
        if (ngx_oc_tag_search(res, &page) != NGX_OK) {
            goto nomem;
        }

        return;
    }

found:

    ngx_oc_tag_search_end(res);

    if (res->matches.nelts || res->no_scan) {
        ngx_oc_lookup_done(res);

    } else {
        ngx_oc_scan_join(res);
    }

    ngx_oc_scan_kick();
    return;

nomem:

    ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
}


/* a tag is only a hint: the element and the name must match too */

static ngx_array_t *
ngx_oc_tag_match(void *data, ngx_str_t *element, ngx_str_t *name)
{
    ngx_oc_resolver_t *res = data;

    if (ngx_oc_same(element, &res->oi->element)
        && ngx_oc_same(name, &res->oi->name))
    {
        return &res->matches;
    }

    return NULL;
}


static void
ngx_oc_tag_search_end(ngx_oc_resolver_t *res)
{
    if (res->searching) {
        res->searching = 0;
        ngx_oc_searching--;
    }
}


/*
 * joins a scan of the element that has not had its first page yet, or
 * sets one up, to start when no tag search is under way any more
 */

static void
ngx_oc_scan_join(ngx_oc_resolver_t *res)
{
    ngx_queue_t        *q;
    ngx_oc_resolver_t  *leader;

    for (q = ngx_queue_head(&ngx_oc_scans);
         q != ngx_queue_sentinel(&ngx_oc_scans);
         q = ngx_queue_next(q))
    {
        leader = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);

        if (leader->members == NULL
            && ngx_oc_same(&leader->oi->element, &res->oi->element))
        {
            res->scan = NGX_OC_SCAN_FOLLOWER;
            res->leader = leader;
            ngx_queue_insert_tail(&leader->followers, &res->scan_link);

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "oc scan: \"%V\" joins the scan of \"%V\"",
                           &res->oi->block, &leader->oi->block);
            return;
        }
    }

    res->scan = NGX_OC_SCAN_LEADER;
    res->members = NULL;
    res->scan_pending = 1;
    ngx_queue_init(&res->followers);
    ngx_queue_insert_tail(&ngx_oc_scans, &res->scan_link);

    res->pages = 0;
    res->entries = 0;
    ngx_str_null(&res->page);
}


/* no tag search is under way: the scans set up start */

static void
ngx_oc_scan_kick(void)
{
    ngx_queue_t        *q;
    ngx_oc_resolver_t  *leader;

    if (ngx_oc_searching || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

again:

    for (q = ngx_queue_head(&ngx_oc_scans);
         q != ngx_queue_sentinel(&ngx_oc_scans);
         q = ngx_queue_next(q))
    {
        leader = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);

        if (!leader->scan_pending) {
            continue;
        }

        leader->scan_pending = 0;

        if (ngx_oc_scan_page(leader, NULL) != NGX_OK) {
            /* its followers fail with it: the queue changed */
            ngx_oc_failed(leader, NGX_OC_ANSWER_ERROR, NULL,
                          "out of memory");
            goto again;
        }
    }
}


static ngx_int_t
ngx_oc_scan_page(ngx_oc_resolver_t *res, ngx_str_t *page)
{
    return ngx_oc_list_page(res, NULL, page, ngx_oc_scan_done);
}


static void
ngx_oc_scan_done(ngx_oc_resolver_t *res, ngx_oc_http_t *h)
{
    ngx_str_t           err, page;
    ngx_int_t           rc;
    ngx_uint_t          listed;
    ngx_queue_t        *q;
    ngx_oc_resolver_t  *f;

    if (h->status == 404) {
        ngx_oc_scan_end(res);
        return;
    }

    if (h->status != 200) {
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, h,
                      "GET /elements/{key}/instances");
        return;
    }

    /* from the first page on, no block joins: the members are known */

    if (res->members == NULL && ngx_oc_scan_members(res) != NGX_OK) {
        goto nomem;
    }

    switch (ngx_oc_api_parse_matching(&h->response, ngx_oc_scan_match, res,
                                      &listed, &err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL,
                      "GET /elements/{key}/instances: %V", &err);
        return;

    default:
        goto nomem;
    }

    res->entries += listed;

    /* the blocks that wait on the scan hold their leases meanwhile */

    for (q = ngx_queue_head(&res->followers);
         q != ngx_queue_sentinel(&res->followers);
         q = ngx_queue_next(q))
    {
        f = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);
        ngx_oc_shm_renew_lease(res->omcf, f->oi, 0);
    }

    rc = ngx_oc_next_page(res, h, listed, &page);

    if (rc == NGX_ERROR) {
        goto nomem;
    }

    if (rc == NGX_OK) {
        if (res->pages % 100 == 0) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "oc_instance \"%V\": scanning the instances of "
                          "element \"%V\", %ui pages, %ui instances so far",
                          &res->oi->block, &res->oi->element, res->pages,
                          res->entries);
        }

        if (ngx_oc_scan_page(res, &page) != NGX_OK) {
            goto nomem;
        }

        return;
    }

    ngx_oc_scan_end(res);
    return;

nomem:

    ngx_oc_failed(res, NGX_OC_ANSWER_ERROR, NULL, "out of memory");
}


/* the leader and its followers, sorted by name for a binary search */

static ngx_int_t
ngx_oc_scan_members(ngx_oc_resolver_t *res)
{
    ngx_uint_t             n;
    ngx_queue_t           *q;
    ngx_oc_resolver_t     *f;
    ngx_oc_scan_member_t  *m;

    n = 1;

    for (q = ngx_queue_head(&res->followers);
         q != ngx_queue_sentinel(&res->followers);
         q = ngx_queue_next(q))
    {
        n++;
    }

    res->members = ngx_array_create(res->pool, n,
                                    sizeof(ngx_oc_scan_member_t));
    if (res->members == NULL) {
        return NGX_ERROR;
    }

    m = ngx_array_push_n(res->members, n);
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->name = &res->oi->name;
    m->res = res;
    m++;

    for (q = ngx_queue_head(&res->followers);
         q != ngx_queue_sentinel(&res->followers);
         q = ngx_queue_next(q))
    {
        f = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);
        m->name = &f->oi->name;
        m->res = f;
        m++;
    }

    ngx_qsort(res->members->elts, n, sizeof(ngx_oc_scan_member_t),
              ngx_oc_member_cmp);

    return NGX_OK;
}


/* every member with the name gets the entry: blocks may share a name */

static ngx_array_t *
ngx_oc_scan_match(void *data, ngx_str_t *element, ngx_str_t *name)
{
    ngx_oc_resolver_t *res = data;

    ngx_int_t              c;
    ngx_uint_t             lo, hi, mid;
    ngx_oc_scan_member_t  *m;

    if (!ngx_oc_same(element, &res->oi->element)) {
        return NULL;
    }

    m = res->members->elts;
    lo = 0;
    hi = res->members->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = ngx_memn2cmp(m[mid].name->data, name->data, m[mid].name->len,
                         name->len);

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    /* the first member with the name that is still in the scan */

    for ( /* void */ ; lo < res->members->nelts; lo++) {
        if (!ngx_oc_same(m[lo].name, name)) {
            return NULL;
        }

        if (m[lo].res) {
            return &m[lo].res->matches;
        }
    }

    return NULL;
}


/* the list is read: every member goes on with what it matched */

static void
ngx_oc_scan_end(ngx_oc_resolver_t *res)
{
    ngx_uint_t              i, n;
    ngx_queue_t             followers;
    ngx_oc_resolver_t      *f;
    ngx_oc_scan_member_t   *m;
    ngx_oc_api_instance_t  *oci, *copy;

    if (res->pages >= NGX_OC_LARGE_SCAN) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oc_instance \"%V\": a large account: scanning the "
                      "instances of element \"%V\" took %ui pages "
                      "(%ui instances) for %ui blocks; instances nginx "
                      "tags are found by one call from now on",
                      &res->oi->block, &res->oi->element, res->pages,
                      res->entries,
                      res->members ? res->members->nelts : (ngx_uint_t) 1);
    }

    /*
     * members that share a name got the entries in the first of them:
     * each of the others gets its own copy
     */

    if (res->members) {
        m = res->members->elts;
        n = res->members->nelts;

        for (i = 1; i < n; i++) {
            if (m[i].res == NULL || m[i - 1].res == NULL
                || !ngx_oc_same(m[i].name, m[i - 1].name)
                || m[i].res->matches.nelts)
            {
                continue;
            }

            oci = m[i - 1].res->matches.elts;
            copy = ngx_array_push_n(&m[i].res->matches,
                                    m[i - 1].res->matches.nelts);
            if (copy == NULL) {
                continue;
            }

            ngx_memcpy(copy, oci, m[i - 1].res->matches.nelts
                                  * sizeof(ngx_oc_api_instance_t));
        }
    }

    ngx_oc_scan_close(res, &followers);

    while ((f = ngx_oc_scan_follower(&followers)) != NULL) {
        f->scanned = 1;

        ngx_oc_lookup_done(f);
    }

    res->scanned = 1;

    ngx_oc_lookup_done(res);
}


/* the scan failed: every block that waited on it fails alike */

void
ngx_oc_scan_fail(ngx_oc_resolver_t *res, ngx_oc_answer_e answer,
    ngx_str_t *error)
{
    ngx_queue_t         followers;
    ngx_oc_resolver_t  *f;

    if (res->scan != NGX_OC_SCAN_LEADER) {
        return;
    }

    ngx_oc_scan_close(res, &followers);

    while ((f = ngx_oc_scan_follower(&followers)) != NULL) {
        f->kind = res->kind;
        f->delay = res->delay;

        ngx_oc_failed(f, answer, NULL, "%V (in the scan of \"%V\")", error,
                      &res->oi->block);
    }
}


/* the leader leaves the scan list; its followers move to "followers" */

static void
ngx_oc_scan_close(ngx_oc_resolver_t *res, ngx_queue_t *followers)
{
    ngx_queue_remove(&res->scan_link);
    res->scan = NGX_OC_SCAN_NONE;
    res->members = NULL;

    ngx_queue_init(followers);

    if (!ngx_queue_empty(&res->followers)) {
        ngx_queue_add(followers, &res->followers);
        ngx_queue_init(&res->followers);
    }
}


/* the next follower of a closed scan, out of it; NULL: none left */

static ngx_oc_resolver_t *
ngx_oc_scan_follower(ngx_queue_t *followers)
{
    ngx_queue_t        *q;
    ngx_oc_resolver_t  *f;

    if (ngx_queue_empty(followers)) {
        return NULL;
    }

    q = ngx_queue_head(followers);
    ngx_queue_remove(q);

    f = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);
    f->scan = NGX_OC_SCAN_NONE;
    f->leader = NULL;

    return f;
}


/*
 * a resolution ends while in a scan: a follower just leaves; a leader's
 * scan is taken over by its first follower, from the first page
 */

void
ngx_oc_scan_leave(ngx_oc_resolver_t *res)
{
    if (res->searching) {
        ngx_oc_tag_search_end(res);
        ngx_oc_scan_leave_scan(res);
        ngx_oc_scan_kick();
        return;
    }

    ngx_oc_scan_leave_scan(res);
}


static void
ngx_oc_scan_leave_scan(ngx_oc_resolver_t *res)
{
    ngx_uint_t             i;
    ngx_queue_t           *q;
    ngx_oc_resolver_t     *f, *other;
    ngx_oc_scan_member_t  *m;

    if (res->scan == NGX_OC_SCAN_FOLLOWER) {
        ngx_queue_remove(&res->scan_link);

        if (res->leader->members) {
            m = res->leader->members->elts;

            for (i = 0; i < res->leader->members->nelts; i++) {
                if (m[i].res == res) {
                    m[i].res = NULL;
                }
            }
        }

        res->scan = NGX_OC_SCAN_NONE;
        res->leader = NULL;
        return;
    }

    if (res->scan != NGX_OC_SCAN_LEADER) {
        return;
    }

    ngx_queue_remove(&res->scan_link);
    res->scan = NGX_OC_SCAN_NONE;
    res->members = NULL;

    if (ngx_queue_empty(&res->followers)) {
        return;
    }

    q = ngx_queue_head(&res->followers);
    ngx_queue_remove(q);

    f = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);

    f->scan = NGX_OC_SCAN_LEADER;
    f->leader = NULL;
    f->members = NULL;
    f->pages = 0;
    f->entries = 0;
    ngx_str_null(&f->page);

    ngx_queue_init(&f->followers);

    if (!ngx_queue_empty(&res->followers)) {
        ngx_queue_add(&f->followers, &res->followers);
    }

    /* what the first pass gave them is dropped: the new one starts over */

    for (q = ngx_queue_head(&f->followers);
         q != ngx_queue_sentinel(&f->followers);
         q = ngx_queue_next(q))
    {
        other = ngx_queue_data(q, ngx_oc_resolver_t, scan_link);
        other->leader = f;
        other->matches.nelts = 0;
    }

    ngx_queue_init(&res->followers);
    ngx_queue_insert_tail(&ngx_oc_scans, &f->scan_link);

    f->matches.nelts = 0;
    f->scan_pending = 1;

    /* started by ngx_oc_scan_kick(), unless the worker is going away */

    ngx_oc_scan_kick();
}


/*
 * GET /elements/{key}/instances?pageSize=200, with tags[]=TAG for a tag
 * search, and nextPage=TOKEN after the first page
 */

static ngx_int_t
ngx_oc_list_page(ngx_oc_resolver_t *res, ngx_str_t *tag, ngx_str_t *page,
    ngx_oc_step_pt step)
{
    u_char             *p;
    size_t              len;
    ngx_str_t           path;
    ngx_oc_instance_t  *oi;

    oi = res->oi;

    len = sizeof("/elements//instances?pageSize=") - 1 + NGX_INT_T_LEN
          + oi->element.len
          + 2 * ngx_escape_uri(NULL, oi->element.data, oi->element.len,
                               NGX_ESCAPE_URI_COMPONENT);

    if (tag) {
        len += sizeof("&tags%5B%5D=") - 1 + tag->len
               + 2 * ngx_escape_uri(NULL, tag->data, tag->len,
                                    NGX_ESCAPE_URI_COMPONENT);
    }

    if (page) {
        len += sizeof("&nextPage=") - 1 + page->len
               + 2 * ngx_escape_uri(NULL, page->data, page->len,
                                    NGX_ESCAPE_URI_COMPONENT);
    }

    p = ngx_pnalloc(res->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    path.data = p;

    p = ngx_cpymem(p, "/elements/", sizeof("/elements/") - 1);
    p = (u_char *) ngx_escape_uri(p, oi->element.data, oi->element.len,
                                  NGX_ESCAPE_URI_COMPONENT);
    p = ngx_sprintf(p, "/instances?pageSize=%d", NGX_OC_PAGE_SIZE);

    if (tag) {
        p = ngx_cpymem(p, "&tags%5B%5D=", sizeof("&tags%5B%5D=") - 1);
        p = (u_char *) ngx_escape_uri(p, tag->data, tag->len,
                                      NGX_ESCAPE_URI_COMPONENT);
    }

    if (page) {
        p = ngx_cpymem(p, "&nextPage=", sizeof("&nextPage=") - 1);
        p = (u_char *) ngx_escape_uri(p, page->data, page->len,
                                      NGX_ESCAPE_URI_COMPONENT);
    }

    path.len = p - path.data;

    return ngx_oc_call(res, NGX_OC_CALL_LIST, "GET", &path, NULL, step);
}


/*
 * NGX_OK: another page to ask for; NGX_DONE: the list is read (an empty
 * page, no token, or the token of the page before: no page cap, but no
 * endless loop either)
 */

static ngx_int_t
ngx_oc_next_page(ngx_oc_resolver_t *res, ngx_oc_http_t *h, ngx_uint_t listed,
    ngx_str_t *page)
{
    res->pages++;

    if (listed == 0 || h->next_page.len == 0) {
        return NGX_DONE;
    }

    if (ngx_oc_same(&h->next_page, &res->page)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "oc_instance \"%V\": the instance list gave the same "
                      "next page token twice, stopping after %ui pages",
                      &res->oi->block, res->pages);
        return NGX_DONE;
    }

    page->len = h->next_page.len;
    page->data = ngx_pstrdup(res->pool, &h->next_page);
    if (page->data == NULL) {
        return NGX_ERROR;
    }

    res->page = *page;

    return NGX_OK;
}


static ngx_uint_t
ngx_oc_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && ngx_strncmp(a->data, b->data, a->len) == 0;
}


static int ngx_libc_cdecl
ngx_oc_member_cmp(const void *one, const void *two)
{
    const ngx_oc_scan_member_t  *a = one;
    const ngx_oc_scan_member_t  *b = two;

    return (int) ngx_memn2cmp(a->name->data, b->name->data, a->name->len,
                              b->name->len);
}
