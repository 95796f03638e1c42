/* Where each queue of the disk I/O scheduler sits: the tree of heaps described in
 * iosched_tree.h. Every backlogged queue is in exactly one place: its home's heaps (it may
 * go, as far as its own and its extra groups' limits say), or the queues' wait heap (held alone).
 * Every active group (a member with requests) is likewise in its parent's heaps (when any
 * of its children may go), or held whole in the groups' wait heap, or in neither (its children all
 * wait alone). A group's entries in its parent's heaps always carry its heaps' tops: every
 * change to a node's heaps is followed by blk_tree_update on it. */
#include "blk/iosched_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static uint32_t node_id(const struct blk_iosched *s, uint32_t g)
{
    return s->cfg.queues + g;
}

int blk_tree_init(struct blk_iosched *s)
{
    uint32_t ids = s->cfg.queues + s->cfg.groups + 1;
    size_t node_bytes = ((size_t)s->cfg.groups + 1) * sizeof(*s->node); /* a multiple of 64 */
    s->node = aligned_alloc(_Alignof(struct blk_node), node_bytes);     /* calloc aligns to 16 */
    if (s->node)
        memset(s->node, 0, node_bytes);
    s->pos_r = malloc((size_t)ids * sizeof(*s->pos_r));
    s->pos_p = malloc((size_t)ids * sizeof(*s->pos_p));
    s->pos_w = malloc((size_t)ids * sizeof(*s->pos_w));
    if (!s->node || !s->pos_r || !s->pos_p || !s->pos_w)
        return err_set(ENOMEM, "I/O scheduler: no memory for %u queues and %u groups", s->cfg.queues, s->cfg.groups);
    for (uint32_t i = 0; i < ids; i++)
        s->pos_r[i] = s->pos_p[i] = s->pos_w[i] = BLK_HEAP_NONE;
    int e = blk_heap_init_shared(&s->wait_heap, s->cfg.queues, s->pos_w); /* ids apart: one pos_w */
    e = e ? e : blk_heap_init_shared(&s->wait_groups, s->cfg.groups + 1, s->pos_w);
    e = e ? e : blk_heap_init_shared(&s->node[BLK_ROOT].r, ids, s->pos_r); /* the root may hold everything */
    e = e ? e : blk_heap_init_shared(&s->node[BLK_ROOT].p, ids, s->pos_p);
    for (uint32_t g = 1; !e && g <= s->cfg.groups; g++) {
        blk_heap_init_inline(&s->node[g].r, s->node[g].inline_r, BLK_NODE_INLINE, s->pos_r);
        blk_heap_init_inline(&s->node[g].p, s->node[g].inline_p, BLK_NODE_INLINE, s->pos_p);
    }
    return e;
}

void blk_tree_free(struct blk_iosched *s)
{
    for (uint32_t g = 0; s->node && g <= s->cfg.groups; g++) {
        blk_heap_free(&s->node[g].r);
        blk_heap_free(&s->node[g].p);
    }
    blk_heap_free(&s->wait_heap);
    blk_heap_free(&s->wait_groups);
    free(s->node);
    free(s->pos_r);
    free(s->pos_p);
    free(s->pos_w);
}

/* A queue joining adds at most one child to each node: itself to its home, or its home
 * nested in its other group (choose_home), and the heaps hold children only. */
static int reserve_node(struct blk_node *n)
{
    uint32_t want = n->children + 1;
    if (want <= n->r.cap && want <= n->p.cap)
        return 0;
    want = want < 2 * n->r.cap ? 2 * n->r.cap : want;
    int e = blk_heap_reserve(&n->r, want);
    return e ? e : blk_heap_reserve(&n->p, want);
}

int blk_tree_reserve(struct blk_iosched *s, uint32_t g0, uint32_t g1)
{
    int e = g0 ? reserve_node(&s->node[g0]) : 0;
    return e ? e : g1 ? reserve_node(&s->node[g1]) : 0;
}

/* --- the blocked clock: how long a node's members were held with it --- */

static uint64_t node_clock(const struct blk_node *n, uint64_t now)
{
    return n->blocked_total + (n->blocked && now > n->blocked_since ? now - n->blocked_since : 0);
}

/* Node g is blocked while it or its parent is held; its nested groups follow. */
static void set_blocked(struct blk_iosched *s, uint32_t g, uint64_t now)
{
    struct blk_node *n = &s->node[g];
    bool b = g != BLK_ROOT && (n->held || s->node[n->parent].blocked);
    if (b == n->blocked)
        return;
    if (b)
        n->blocked_since = now;
    else
        n->blocked_total += now > n->blocked_since ? now - n->blocked_since : 0;
    n->blocked = b;
    for (uint32_t c = n->first_child; c; c = s->node[c].next_sibling)
        set_blocked(s, c, now);
}

static void acct_start(struct blk_iosched *s, struct blk_queue *q, uint64_t now)
{
    if (!q->in_node) {
        q->in_node = true;
        blk_conf(s, q)->node_mark = node_clock(&s->node[q->home], now);
    }
}

static void acct_stop(struct blk_iosched *s, struct blk_queue *q, uint64_t now)
{
    if (q->in_node) {
        struct blk_queue_conf *c = blk_conf(s, q);
        c->throttled_ns += node_clock(&s->node[q->home], now) - c->node_mark;
        q->in_node = false;
    }
}

static void throttle_end(struct blk_iosched *s, struct blk_queue *q, uint64_t now)
{
    if (q->throttled) {
        struct blk_queue_conf *c = blk_conf(s, q);
        c->throttled_ns += now > c->throttled_since ? now - c->throttled_since : 0;
        q->throttled = false;
    }
}

uint64_t blk_tree_throttled_now(const struct blk_iosched *s, const struct blk_queue *q, uint64_t now)
{
    const struct blk_queue_conf *c = blk_conf(s, q);
    uint64_t t = q->throttled && now > c->throttled_since ? now - c->throttled_since : 0;
    return t + (q->in_node ? node_clock(&s->node[q->home], now) - c->node_mark : 0);
}

/* --- membership: homes, nesting --- */

static void nest(struct blk_iosched *s, uint32_t inner, uint32_t outer, uint64_t now)
{
    struct blk_node *n = &s->node[inner];
    n->parent = outer;
    n->next_sibling = s->node[outer].first_child;
    s->node[outer].first_child = inner;
    s->node[outer].children++;
    set_blocked(s, inner, now);
}

/* A group without members leaves the group it nested in. */
static void unnest(struct blk_iosched *s, uint32_t g, uint64_t now)
{
    struct blk_node *n = &s->node[g];
    struct blk_node *o = &s->node[n->parent];
    for (uint32_t *link = &o->first_child; *link; link = &s->node[*link].next_sibling)
        if (*link == g) {
            *link = n->next_sibling;
            break;
        }
    o->children--;
    n->parent = BLK_ROOT;
    n->next_sibling = 0;
    set_blocked(s, g, now);
}

/* The deepest of a queue's groups a and b (0: none) whose path to the root has only its
 * groups, nesting a free one in the other when that makes such a path. */
static uint32_t choose_home(struct blk_iosched *s, uint32_t a, uint32_t b, uint64_t now)
{
    if (!s->tree) /* flat: every group is checked when its members are placed and picked */
        return BLK_ROOT;
    if (a && b) {
        if (s->node[a].parent == b)
            return a;
        if (s->node[b].parent == a)
            return b;
        if (!s->node[a].children && s->node[b].parent == BLK_ROOT) {
            nest(s, a, b, now);
            return a;
        }
        if (!s->node[b].children && s->node[a].parent == BLK_ROOT) {
            nest(s, b, a, now);
            return b;
        }
    }
    if (a && s->node[a].parent == BLK_ROOT)
        return a;
    if (b && s->node[b].parent == BLK_ROOT)
        return b;
    return BLK_ROOT;
}

void blk_tree_link(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    const uint32_t *g = q->group;
    q->home = choose_home(s, g[0], g[1], now);
    s->node[q->home].children++;
    uint32_t up = s->node[q->home].parent;
    q->extra = 0;
    for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++)
        if (g[k] && g[k] != q->home && g[k] != up)
            q->extra |= (uint8_t)(1u << k);
    q->pick_check = q->extra || s->node[q->home].one_way || s->node[up].one_way;
}

/* Node g gains or loses an active child (delta +1 or -1): the change goes up while nodes
 * become active or idle; an idle group leaves every heap. */
static void node_activity(struct blk_iosched *s, uint32_t g, int delta, uint64_t now)
{
    while (g != BLK_ROOT) {
        struct blk_node *n = &s->node[g];
        bool was = n->active != 0;
        n->active = (uint32_t)((int)n->active + delta);
        if (was == (n->active != 0))
            return;
        n->recheck = true; /* becomes active: its limit may still hold it */
        if (!n->active) {
            uint32_t id = node_id(s, g);
            blk_heap_remove(&s->node[n->parent].r, id);
            blk_heap_remove(&s->node[n->parent].p, id);
            blk_heap_remove(&s->wait_groups, id);
            n->held = false;
            set_blocked(s, g, now);
        }
        g = n->parent;
    }
}

/* Queue i leaves every heap (its head or its home is about to change). */
static void take_out(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    blk_heap_remove(&s->node[q->home].r, i);
    blk_heap_remove(&s->node[q->home].p, i);
    blk_heap_remove(&s->wait_heap, i);
    acct_stop(s, q, now);
    if (q->active) {
        q->active = false;
        node_activity(s, q->home, -1, now);
    }
}

void blk_tree_unlink(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    uint32_t h = q->home;
    if (q->active) { /* idle (queue_remove, which knows no time): in no heap, nothing to update */
        take_out(s, i, now);
        blk_tree_update(s, h, now);
    }
    if (--s->node[h].children == 0 && h != BLK_ROOT && s->node[h].parent != BLK_ROOT)
        unnest(s, h, now);
    q->home = BLK_ROOT;
    q->extra = 0;
}

/* --- readiness --- */

uint64_t blk_tree_ready_at(const struct blk_iosched *s, const struct blk_queue *q)
{
    if (!q->limited)
        return 0;
    enum blk_io_dir dir = blk_ring(s, q)[q->head].io.dir;
    uint64_t ready = blk_limits_ready_at(&blk_conf(s, q)->limits, dir);
    for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++) {
        uint32_t g = q->group[k];
        if (g != BLK_IOSCHED_NO_GROUP) {
            uint64_t r = blk_limits_ready_at(&s->node[g].limits, dir);
            ready = r > ready ? r : ready;
        }
    }
    return ready;
}

/* The same by its own limits and its extra groups' only: the groups on its path hold it
 * with their nodes. */
static uint64_t ready_alone(const struct blk_iosched *s, const struct blk_queue *q)
{
    if (!q->extra && !q->own_limits)
        return 0;
    enum blk_io_dir dir = blk_ring(s, q)[q->head].io.dir;
    uint64_t ready = blk_limits_ready_at(&blk_conf(s, q)->limits, dir);
    for (int k = 0; q->extra && k < BLK_IOSCHED_QUEUE_GROUPS; k++)
        if (q->extra >> k & 1) {
            uint64_t r = blk_limits_ready_at(&s->node[q->group[k]].limits, dir);
            ready = r > ready ? r : ready;
        }
    return ready;
}

/* When a group's limits let a request in either direction start: over this, the group is
 * held whole. */
static uint64_t node_ready(const struct blk_node *n)
{
    if (!n->one_way) /* total_* limits only: the same for reads and writes, kept by each charge */
        return n->ready_ns;
    uint64_t r = blk_limits_ready_at(&n->limits, BLK_IO_READ);
    uint64_t w = blk_limits_ready_at(&n->limits, BLK_IO_WRITE);
    return r < w ? r : w;
}

/* The members a group holds come back together, BLK_IOSCHED_WAKE_BATCH_NS after its limit
 * would let one through (iosched.h): its common wake time, planned again only when it
 * passed or came too early. */
static uint64_t group_wake(struct blk_node *n, uint64_t ready, uint64_t now)
{
    if (n->wake_ns <= now || ready > n->wake_ns)
        n->wake_ns = ready + BLK_IOSCHED_WAKE_BATCH_NS;
    return n->wake_ns;
}

/* When a queue held alone comes back: BLK_IOSCHED_WAKE_BATCH_NS after its own limits would
 * let it go, and at the wake time of each group that holds it. */
static uint64_t wake_at(struct blk_iosched *s, const struct blk_queue *q, uint64_t now)
{
    enum blk_io_dir dir = blk_ring(s, q)[q->head].io.dir;
    uint64_t own = blk_limits_ready_at(&blk_conf(s, q)->limits, dir);
    uint64_t wake = own > now ? own + BLK_IOSCHED_WAKE_BATCH_NS : now;
    for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++) {
        uint32_t g = q->group[k];
        if (g == BLK_IOSCHED_NO_GROUP)
            continue;
        uint64_t ready = blk_limits_ready_at(&s->node[g].limits, dir);
        if (ready <= now)
            continue;
        uint64_t w = group_wake(&s->node[g], ready, now);
        wake = w > wake ? w : wake;
    }
    return wake;
}

/* --- placement --- */

/* Group id's entry in its parent's heap up carries the top of its own heap (none when
 * empty). Whether the entry changed. */
static inline __attribute__((always_inline)) bool sync_entry(struct blk_heap *up, uint32_t id,
                                                             const struct blk_heap *own)
{
    uint32_t at = up->pos[id];
    if (blk_heap_empty(own)) {
        if (at == BLK_HEAP_NONE)
            return false;
        blk_heap_remove(up, id);
        return true;
    }
    const struct blk_heap_entry *top = blk_heap_top(own);
    if (at != BLK_HEAP_NONE && blk_heap_slot(up, at)->key == top->key && blk_heap_slot(up, at)->queue == top->queue)
        return false;
    blk_heap_set_as(up, id, top->key, top->queue);
    return true;
}

/* A held group's entry in a heap of its parent's, if it has one, sorts after every real
 * one; waking rewrites it (sync_entry) instead of inserting it again. */
static inline void park(struct blk_heap *up, uint32_t id)
{
    if (blk_heap_has(up, id))
        blk_heap_set_as(up, id, BLK_TREE_HELD, 0);
}

void blk_tree_update_up(struct blk_iosched *s, uint32_t g, uint64_t now, unsigned what)
{
    while (g != BLK_ROOT) {
        struct blk_node *n = &s->node[g];
        struct blk_node *up = &s->node[n->parent];
        uint32_t id = node_id(s, g);
        unsigned moved = n->active ? 0 : BLK_TREE_ALL; /* an idle group has left its parent's heaps */
        if (n->active && !n->held) {
            uint64_t ready = n->recheck ? node_ready(n) : 0; /* unchanged since it was looked at */
            n->recheck = false;
            if (ready > now) { /* over its limit: the whole group waits */
                park(&up->r, id);
                park(&up->p, id);
                n->held = true;
                blk_heap_set(&s->wait_groups, id, group_wake(n, ready, now));
                set_blocked(s, g, now);
                moved = BLK_TREE_ALL;
            } else { /* only the heaps that changed can have a new top */
                if (what & BLK_TREE_R && sync_entry(&up->r, id, &n->r))
                    moved |= BLK_TREE_R;
                if (what & BLK_TREE_P && sync_entry(&up->p, id, &n->p))
                    moved |= BLK_TREE_P;
            }
        }
        g = n->parent;
        if (!moved && !s->node[g].recheck)
            break;
        what = moved;
    }
}

/* Queue i waits alone until its wake time (it is out of its home's heaps). */
static void wait_alone(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    struct blk_node *home = &s->node[q->home];
    blk_heap_remove(&home->r, i);
    blk_heap_remove(&home->p, i);
    blk_heap_set(&s->wait_heap, i, wake_at(s, q, now));
    acct_stop(s, q, now);
    if (!q->throttled) {
        q->throttled = true;
        blk_conf(s, q)->throttled_since = now ? now : 1;
    }
}

void blk_tree_hold(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    wait_alone(s, i, now);
    blk_tree_update(s, s->q[i].home, now);
}

void blk_tree_place_any(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    struct blk_node *home = &s->node[q->home];
    unsigned what = BLK_TREE_ALL; /* home's heaps that may have changed */
    if (!q->count) {
        take_out(s, i, now);
        throttle_end(s, q, now);
    } else {
        if (!q->active) {
            q->active = true;
            node_activity(s, q->home, +1, now);
        }
        if (ready_alone(s, q) > now) {
            wait_alone(s, i, now);
        } else {
            blk_heap_remove(&s->wait_heap, i);
            throttle_end(s, q, now);
            acct_start(s, q, now);
            if (q->p_tag + BLK_P_LAG_MAX < s->v) /* keeps its order among the limited, within reason */
                q->p_tag = s->v - BLK_P_LAG_MAX;
            blk_heap_set(&home->p, i, q->p_tag);
            if (q->r_mul)
                blk_heap_set(&home->r, i, q->r_tag);
            else if (blk_heap_has(&home->r, i))
                blk_heap_remove(&home->r, i);
            else
                what = BLK_TREE_P; /* a queue without a reservation, served: its R heap is as it was */
        }
    }
    if (q->home != BLK_ROOT)
        blk_tree_update_up(s, q->home, now, what);
}

void blk_tree_wake_due(struct blk_iosched *s, uint64_t now)
{
    for (;;) { /* the two wait heaps' entries in the order of one: by (wake time, id) */
        const struct blk_heap_entry *q = blk_heap_empty(&s->wait_heap) ? NULL : blk_heap_top(&s->wait_heap);
        const struct blk_heap_entry *gt = blk_heap_empty(&s->wait_groups) ? NULL : blk_heap_top(&s->wait_groups);
        if (q && q->key <= now && (!gt || q->key < gt->key || (q->key == gt->key && q->id < gt->id))) {
            blk_tree_place(s, q->id, now);
            continue;
        }
        if (!gt || gt->key > now)
            break;
        uint32_t id = gt->id;
        uint32_t g = id - s->cfg.queues;
        blk_heap_set(&s->wait_groups, id, UINT64_MAX); /* parked: its next hold is a move, not an insertion */
        s->node[g].held = false;
        s->node[g].recheck = true;
        set_blocked(s, g, now);
        blk_tree_update(s, g, now);
    }
}

void blk_tree_group_changed(struct blk_iosched *s, uint32_t g, uint64_t now)
{
    struct blk_node *n = &s->node[g];
    n->wake_ns = 0; /* a wake planned under the old limit may be too late now */
    n->recheck = true;
    n->one_way = blk_limits_one_way(&n->limits);
    n->ready_ns = blk_limits_ready_at(&n->limits, BLK_IO_READ);
    for (uint32_t i = 0; i < s->cfg.queues; i++) {
        struct blk_queue *q = &s->q[i];
        if (q->used && (q->group[0] == g || q->group[1] == g))
            q->pick_check = q->extra || s->node[q->home].one_way || s->node[s->node[q->home].parent].one_way;
    }
    if (n->held) {
        blk_heap_remove(&s->wait_groups, node_id(s, g));
        n->held = false;
        set_blocked(s, g, now);
    }
    blk_tree_update(s, g, now);
}

/* Node g's P heap from its children's keys (queues' P tags, nested groups' tops). */
static void rekey_p(struct blk_iosched *s, uint32_t g)
{
    struct blk_heap *h = &s->node[g].p;
    for (uint32_t k = 0; k < h->n; k++) {
        struct blk_heap_entry *e = blk_heap_slot(h, k);
        if (e->id < s->cfg.queues) {
            e->key = s->q[e->id].p_tag;
        } else if (!s->node[e->id - s->cfg.queues].held) { /* a held one's stays BLK_TREE_HELD */
            const struct blk_heap_entry *top = blk_heap_top(&s->node[e->id - s->cfg.queues].p);
            e->key = top->key;
            e->queue = top->queue;
        }
    }
    blk_heap_heapify(h);
}

void blk_tree_rebuild_p(struct blk_iosched *s)
{
    for (uint32_t g = 1; g <= s->cfg.groups; g++) /* nested groups first, then the outer ones */
        if (s->node[g].parent != BLK_ROOT)
            rekey_p(s, g);
    for (uint32_t g = 1; g <= s->cfg.groups; g++)
        if (s->node[g].parent == BLK_ROOT)
            rekey_p(s, g);
    rekey_p(s, BLK_ROOT);
}
