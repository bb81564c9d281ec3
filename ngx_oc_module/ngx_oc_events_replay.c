
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"
#include "ngx_oc_shm.h"
#include "ngx_oc_events.h"


/* at most one "forgotten early" warning a minute */
#define NGX_OC_EVENTS_WARN_INTERVAL  60000


/*
 * the event ids accepted within the replay window: a fixed number of
 * nodes, allocated once, found by an rbtree keyed by the SHA-1 of the
 * instance and event id, and queued oldest first so that a full store
 * forgets the oldest id
 */

typedef struct {
    ngx_rbtree_node_t           node;       /* must be first */
    ngx_queue_t                 queue;
    uint64_t                    expire;     /* ms, wall clock */
    uint32_t                    serial;
    u_char                      key[NGX_OC_EVENTS_KEY_LEN];
} ngx_oc_events_node_t;


struct ngx_oc_events_shctx_s {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 used;       /* oldest first */
    ngx_queue_t                 free;
    ngx_uint_t                  capacity;
    uint32_t                    serial;
    uint64_t                    warned;     /* ms, wall clock */
};


static ngx_oc_events_node_t *ngx_oc_events_lookup(ngx_oc_events_shctx_t *ev,
    ngx_rbtree_key_t hash, u_char *key);
static void ngx_oc_events_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_oc_events_expire(ngx_oc_events_shctx_t *ev, uint64_t now,
    ngx_uint_t n);
static void ngx_oc_events_release(ngx_oc_events_shctx_t *ev,
    ngx_oc_events_node_t *en);


size_t
ngx_oc_events_size_needed(ngx_oc_main_conf_t *omcf)
{
    size_t  size;

    if (!omcf->events || omcf->events_replay_window == 0) {
        return 0;
    }

    size = sizeof(ngx_oc_events_shctx_t)
           + omcf->events_replay_max * sizeof(ngx_oc_events_node_t);

    /* a large slab allocation takes whole pages, each with a descriptor */

    return ngx_align(size, ngx_pagesize) / ngx_pagesize
           * (ngx_pagesize + sizeof(ngx_slab_page_t));
}


/*
 * called by the zone's init on every configuration load: a store of the
 * same capacity is kept across reloads, with the ids it holds
 */

ngx_int_t
ngx_oc_events_init_zone(ngx_shm_zone_t *shm_zone, ngx_oc_main_conf_t *omcf)
{
    size_t                  size;
    ngx_uint_t              i, old;
    ngx_slab_pool_t        *shpool;
    ngx_oc_events_node_t   *nodes;
    ngx_oc_events_shctx_t  *ev;

    if (!omcf->events || omcf->events_replay_window == 0) {
        return NGX_OK;
    }

    shpool = omcf->shpool;
    old = 0;

    ngx_shmtx_lock(&shpool->mutex);

    ev = omcf->sh->events;

    if (ev != NULL) {

        if (ev->capacity == omcf->events_replay_max) {
            /* the module may be loaded at another address after a reload */
            ev->rbtree.insert = ngx_oc_events_insert;

            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }

        old = ev->capacity;
        omcf->sh->events = NULL;
        ngx_slab_free_locked(shpool, ev);
    }

    size = sizeof(ngx_oc_events_shctx_t)
           + omcf->events_replay_max * sizeof(ngx_oc_events_node_t);

    ev = ngx_slab_alloc_locked(shpool, size);

    if (ev == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "oc_zone \"%V\" has no room for %ui event ids "
                      "(oc_events_replay_max), it needs at least %uz bytes",
                      &shm_zone->shm.name, omcf->events_replay_max,
                      ngx_oc_shm_size_needed(omcf));
        return NGX_ERROR;
    }

    ngx_rbtree_init(&ev->rbtree, &ev->sentinel, ngx_oc_events_insert);
    ngx_queue_init(&ev->used);
    ngx_queue_init(&ev->free);

    ev->capacity = omcf->events_replay_max;
    ev->serial = 0;
    ev->warned = 0;
    nodes = (ngx_oc_events_node_t *) (ev + 1);

    for (i = 0; i < ev->capacity; i++) {
        ngx_queue_insert_tail(&ev->free, &nodes[i].queue);
    }

    omcf->sh->events = ev;

    ngx_shmtx_unlock(&shpool->mutex);

    if (old) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "oc_events_replay_max changed from %ui to %ui, "
                      "the event ids accepted so far are forgotten",
                      old, omcf->events_replay_max);
    }

    return NGX_OK;
}


/*
 * NGX_OK: the key is new (or its window has passed) and is now recorded
 * with "serial"; NGX_DECLINED: a replay; NGX_ERROR: no store
 */

ngx_int_t
ngx_oc_events_replay_add(ngx_oc_main_conf_t *omcf, u_char *key,
    uint32_t *serial, ngx_log_t *log)
{
    uint64_t                now, early;
    ngx_int_t               rc;
    ngx_uint_t              capacity;
    ngx_queue_t            *q;
    ngx_rbtree_key_t        hash;
    ngx_oc_events_node_t   *en;
    ngx_oc_events_shctx_t  *ev;

    now = ngx_oc_now_ms();
    early = 0;
    capacity = 0;

    ngx_memcpy(&hash, key, sizeof(ngx_rbtree_key_t));

    ngx_shmtx_lock(&omcf->shpool->mutex);

    ev = omcf->sh->events;

    if (ev == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    en = ngx_oc_events_lookup(ev, hash, key);

    if (en != NULL) {

        if (en->expire > now) {
            rc = NGX_DECLINED;
            goto done;
        }

        ngx_queue_remove(&en->queue);
        goto record;
    }

    ngx_oc_events_expire(ev, now, 2);

    if (ngx_queue_empty(&ev->free)) {
        q = ngx_queue_head(&ev->used);
        en = ngx_queue_data(q, ngx_oc_events_node_t, queue);

        if (en->expire > now
            && now >= ev->warned + NGX_OC_EVENTS_WARN_INTERVAL)
        {
            ev->warned = now;
            early = en->expire - now;
            capacity = ev->capacity;
        }

        ngx_oc_events_release(ev, en);
    }

    q = ngx_queue_head(&ev->free);
    ngx_queue_remove(q);

    en = ngx_queue_data(q, ngx_oc_events_node_t, queue);

    ngx_memcpy(en->key, key, NGX_OC_EVENTS_KEY_LEN);
    en->node.key = hash;

    ngx_rbtree_insert(&ev->rbtree, &en->node);

record:

    if (++ev->serial == 0) {
        ev->serial = 1;
    }

    en->serial = ev->serial;
    en->expire = now + omcf->events_replay_window;

    ngx_queue_insert_tail(&ev->used, &en->queue);

    *serial = en->serial;
    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    if (early) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "oc_events: all %ui event ids are within "
                      "oc_events_replay_window, the oldest was forgotten "
                      "%uL ms early, consider raising oc_events_replay_max",
                      capacity, early);
    }

    return rc;
}


/* the application did not take the event: a retry must get through */

void
ngx_oc_events_replay_forget(ngx_oc_main_conf_t *omcf, u_char *key,
    uint32_t serial)
{
    ngx_rbtree_key_t        hash;
    ngx_oc_events_node_t   *en;
    ngx_oc_events_shctx_t  *ev;

    ngx_memcpy(&hash, key, sizeof(ngx_rbtree_key_t));

    ngx_shmtx_lock(&omcf->shpool->mutex);

    ev = omcf->sh->events;

    if (ev != NULL) {
        en = ngx_oc_events_lookup(ev, hash, key);

        if (en != NULL && en->serial == serial) {
            ngx_oc_events_release(ev, en);
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


static ngx_oc_events_node_t *
ngx_oc_events_lookup(ngx_oc_events_shctx_t *ev, ngx_rbtree_key_t hash,
    u_char *key)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t     *node, *sentinel;
    ngx_oc_events_node_t  *en;

    node = ev->rbtree.root;
    sentinel = ev->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        en = (ngx_oc_events_node_t *) node;

        rc = ngx_memcmp(key, en->key, NGX_OC_EVENTS_KEY_LEN);

        if (rc == 0) {
            return en;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_oc_events_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t     **p;
    ngx_oc_events_node_t   *en, *ent;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            en = (ngx_oc_events_node_t *) node;
            ent = (ngx_oc_events_node_t *) temp;

            p = (ngx_memcmp(en->key, ent->key, NGX_OC_EVENTS_KEY_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * at most n expired ids per call, under the zone lock: as limit_req does;
 * an expired id left behind is replaced when found, and the oldest is
 * recycled when no node is free
 */

static void
ngx_oc_events_expire(ngx_oc_events_shctx_t *ev, uint64_t now, ngx_uint_t n)
{
    ngx_queue_t           *q;
    ngx_oc_events_node_t  *en;

    while (n-- && !ngx_queue_empty(&ev->used)) {
        q = ngx_queue_head(&ev->used);
        en = ngx_queue_data(q, ngx_oc_events_node_t, queue);

        if (en->expire > now) {
            return;
        }

        ngx_oc_events_release(ev, en);
    }
}


static void
ngx_oc_events_release(ngx_oc_events_shctx_t *ev, ngx_oc_events_node_t *en)
{
    ngx_rbtree_delete(&ev->rbtree, &en->node);
    ngx_queue_remove(&en->queue);
    ngx_queue_insert_tail(&ev->free, &en->queue);
}
