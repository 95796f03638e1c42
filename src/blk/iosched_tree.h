/* The disk I/O scheduler's inside (src/blk/iosched.c, docs/blkback.md "Scheduler"): its
 * state, and the tree of heaps (iosched_tree.c) that says which queues may go now. Only
 * iosched.c and iosched_tree.c include this; one thread at a time, as iosched.h.
 *
 * The tree: the root and each group (1..groups) is a node with two heaps of its children,
 * queues and nested groups, that may go now: R (by the R tag, queues with a reservation)
 * and P (by the P tag). A group in its parent's heaps stands for its best child, with that
 * child's key and queue (so ties still go to the lower queue), and a decision takes the
 * queue the root's top entry names: the smallest tag among the queues that may go, as in
 * one flat heap.
 * A group over its limit (in both directions) waits whole in a wait heap of its own
 * (wait_groups; queues held by their own limits wait in wait_heap, and the two are taken in
 * one order, by wake time then id); its entries in its parent's heaps stay, keyed
 * BLK_TREE_HELD (never picked), and its members stay in its heaps with their tags, so
 * holding and waking a group is one move however many members it has, and when it wakes
 * its members compete by their tags for the batch it lets through. An active group keeps
 * its slot in wait_groups when it wakes (keyed UINT64_MAX): holding and waking rewrite
 * entries, and only a group that goes idle leaves the heaps (measured: bench/README.md,
 * "Held groups keep their slots").
 *
 * Where a queue sits (its home): the deepest of its groups whose path to the root is made
 * of its groups only; a group nests in another (libvirt's group_name in a sponsor's group)
 * when a queue in both finds the inner one free, and leaves it when its last member goes.
 * A group of a queue that is not on its home's path (groups that do not nest: a libvirt
 * group spread over two sponsors) is an "extra" one: checked when the queue is picked, as
 * are limits for one direction only, and a queue found over one waits alone. */
#ifndef XENO_BLK_IOSCHED_TREE_H
#define XENO_BLK_IOSCHED_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/iosched.h"
#include "blk/iosched_heap.h"

#define BLK_ROOT 0u       /* node 0: the root; groups are nodes 1..groups */
#define BLK_NODE_INLINE 4 /* a group's heaps' leaf slots kept in its node (blk_tree_reserve asks children + 1) */

struct blk_slot {
    struct blk_io io;
    uint64_t arrival_ns;
};

/* A queue's settings and what decisions seldom need, apart from struct blk_queue; the
 * limits' packed buckets first, in the struct's first cache lines (charged per request). */
struct blk_queue_conf {
    struct blk_limits limits;
    struct blk_iosched_params params;
    uint64_t throttled_since; /* while waiting alone (blk_queue.throttled): since when (0 read as 1) */
    uint64_t node_mark;       /* with blk_queue.in_node: home's blocked clock when it came in */
    uint64_t throttled_ns;    /* struct blk_iosched_stats' */
} __attribute__((aligned(64)));

/* What every decision touches: two cache lines per queue (the size is checked), so that a
 * served queue costs two lines, and a thousand queues stay in the CPU's cache. Its ring is
 * s->slots from queue x queue_depth, its settings s->conf[queue] (blk_ring, blk_conf). */
struct blk_queue {
    uint64_t r_prev, p_prev; /* tags of the last request served (R: in the reservation phase) */
    uint64_t r_tag, p_tag;   /* tags of the head request while there is one */
    uint64_t head_p_inc;     /* what the head request adds to P */
    uint64_t r_mul;          /* ns per cost unit at the reservation, 32.32 fixed point; 0: none */
    uint64_t p_mul;          /* P_SCALE / weight, 52.12 fixed point */
    uint32_t head_cost;      /* cost of the head request (BLK_IOSCHED_COST_ONE fixed point, <= 2^31) */
    uint32_t head, count, inflight;
    uint32_t home;                            /* the node whose heaps it is in while it may go */
    uint32_t group[BLK_IOSCHED_QUEUE_GROUPS]; /* conf's params.group, here for each request */
    bool used, limited;                       /* limited: its own or a group's limits are set */
    bool own_limits;                          /* its own limits are set */
    bool active;                              /* counted in its home's active children (count > 0) */
    bool pick_check;                          /* extra groups, or one_way groups on its path: checked when picked */
    bool in_node;                             /* its throttled time follows home's blocked clock from node_mark */
    bool throttled;                           /* waiting alone (conf's throttled_since) */
    uint8_t extra;                            /* bit k: group[k] is off home's path, checked at each pick */
    uint64_t dispatched, by_reservation;      /* struct blk_iosched_stats' */
    uint64_t bytes, cost_units;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct blk_queue) == 128, "struct blk_queue: two cache lines");

/* What a decision touches first (heaps, state) in the first two cache lines, then the limits
 * (whose active buckets come first). */
struct blk_node {
    struct blk_heap r, p;                  /* children that may go now (node ids: queues + group) */
    uint32_t parent;                       /* the node it nests in; BLK_ROOT for the root and a free group */
    uint32_t active;                       /* children that are queues with requests or active groups */
    bool held;                             /* over its limit: in wait_groups, BLK_TREE_HELD above */
    bool blocked;                          /* held, or its parent blocked */
    bool recheck;                          /* its limits may hold it now (charged, changed, woken, active) */
    bool one_way;                          /* read_* or write_* limits: its members are checked when picked */
    uint32_t children;                     /* queues at home here and groups nested here */
    uint32_t first_child, next_sibling;    /* the groups nested here (node numbers; 0: none) */
    uint64_t blocked_since, blocked_total; /* the blocked clock, for the members' throttled time */
    uint64_t wake_ns;                      /* when its held members come back (a group's common wake time) */
    uint64_t ready_ns; /* without one_way: when its limits let any request start (kept at each change) */
    /* A group's heaps' first entries, in its own cache lines (the next two after the above):
     * a libvirt group of a few disks, a sponsor of a few libvirt groups, needs no other
     * memory; a larger group's heaps move to their own allocation as it grows. */
    struct blk_heap_entry inline_p[BLK_HEAP_NODES(BLK_NODE_INLINE)] __attribute__((aligned(64)));
    struct blk_heap_entry inline_r[BLK_HEAP_NODES(BLK_NODE_INLINE)] __attribute__((aligned(64)));
    struct blk_limits limits; /* a group's; none for the root */
} __attribute__((aligned(64)));

struct blk_iosched {
    struct blk_iosched_config cfg;
    struct blk_queue *q;
    struct blk_queue_conf *conf;
    struct blk_node *node; /* groups + 1 */
    struct blk_slot *slots;
    uint32_t *pos_r, *pos_p, *pos_w; /* heap positions by id: queue i is id i, node g id queues + g */
    struct blk_heap wait_heap;       /* queues held alone, by wake time */
    struct blk_heap wait_groups;     /* held groups by wake time; UINT64_MAX: not held */
    uint64_t v;                      /* virtual time: P tag of the last weight-phase pick, less its cost */
    uint32_t inflight;               /* dispatched, not completed, all queues */
    uint32_t ref_bytes;              /* cost model */
    uint64_t cost_mul;               /* COST_ONE / ref_bytes, 32.32 fixed point */
    bool tree;                       /* queues sit in their groups' heaps (tree_from), else all at the root */
};

static inline struct blk_slot *blk_ring(const struct blk_iosched *s, const struct blk_queue *q)
{
    return &s->slots[(size_t)(q - s->q) * s->cfg.queue_depth];
}
static inline struct blk_queue_conf *blk_conf(const struct blk_iosched *s, const struct blk_queue *q)
{
    return &s->conf[q - s->q];
}

/* Allocates the nodes and the wait heaps (create). 0 or -ENOMEM. */
int blk_tree_init(struct blk_iosched *s);
void blk_tree_free(struct blk_iosched *s);

/* Room in the heaps of groups g0 and g1 (0: none) for a queue joining them. 0 or -ENOMEM;
 * nothing else changes. */
int blk_tree_reserve(struct blk_iosched *s, uint32_t g0, uint32_t g1);
/* Queue i joins the tree by its groups (conf->params.group), finds its home and extras. */
void blk_tree_link(struct blk_iosched *s, uint32_t i, uint64_t now);
/* Queue i leaves the tree (before its groups change or it is removed): out of every heap. */
void blk_tree_unlink(struct blk_iosched *s, uint32_t i, uint64_t now);

/* When the head request of q may start by its own limits and all its groups'. */
uint64_t blk_tree_ready_at(const struct blk_iosched *s, const struct blk_queue *q);
/* Whether queue q, at the top of its home's heaps, may go now: its own limits and the
 * groups on its path held it there already, so only a group off its path, or a group's
 * limit for one direction, is looked at. */
static inline bool blk_tree_may_go(const struct blk_iosched *s, const struct blk_queue *q, uint64_t now)
{
    return !q->pick_check || blk_tree_ready_at(s, q) <= now;
}
#define BLK_P_LAG_MAX (1ull << 57) /* how far below V a P tag may be when it enters a heap */
/* The key of a held group's entries in its parent's heaps (and so of a group whose children
 * are all held): above every tag, never picked. */
#define BLK_TREE_HELD (UINT64_MAX - 1)

/* Puts queue i, whose head, tags or limits changed, where it belongs: nowhere when empty,
 * alone in the wait heap when its own or an extra group's limits hold it, else in its home's
 * heaps; then its home and the nodes above follow (a group over its limit leaves whole). */
void blk_tree_place_any(struct blk_iosched *s, uint32_t i, uint64_t now);
static inline void blk_tree_place(struct blk_iosched *s, uint32_t i, uint64_t now)
{
    struct blk_queue *q = &s->q[i];
    if (!q->count || !q->active || q->limited) {
        blk_tree_place_any(s, i, now);
        return;
    }
    /* the common case, inline: a queue without limits or groups (at the root, never held)
     * that stays backlogged */
    struct blk_node *root = &s->node[BLK_ROOT];
    if (q->p_tag + BLK_P_LAG_MAX < s->v)
        q->p_tag = s->v - BLK_P_LAG_MAX;
    blk_heap_set(&root->p, i, q->p_tag);
    if (q->r_mul)
        blk_heap_set(&root->r, i, q->r_tag);
}
/* Queue i was picked but a limit holds it (ready_at > now): it waits alone. */
void blk_tree_hold(struct blk_iosched *s, uint32_t i, uint64_t now);
/* Group g's heaps changed (what: its R heap, its P heap, or both), or its limits were
 * charged or changed (recheck set): it and the nodes above follow, as far as something
 * changes. */
#define BLK_TREE_R 1u
#define BLK_TREE_P 2u
#define BLK_TREE_ALL (BLK_TREE_R | BLK_TREE_P)
void blk_tree_update_up(struct blk_iosched *s, uint32_t g, uint64_t now, unsigned what);
static inline void blk_tree_update(struct blk_iosched *s, uint32_t g, uint64_t now)
{
    if (g != BLK_ROOT)
        blk_tree_update_up(s, g, now, BLK_TREE_ALL);
}
/* Takes what wakes from the wait heaps (key <= now) back, in (wake time, id) order. */
void blk_tree_wake_due(struct blk_iosched *s, uint64_t now);
/* When the next queue or group held comes back: UINT64_MAX when none is held. */
static inline uint64_t blk_tree_next_wake(const struct blk_iosched *s)
{
    uint64_t q = blk_heap_empty(&s->wait_heap) ? UINT64_MAX : blk_heap_top(&s->wait_heap)->key;
    uint64_t g = blk_heap_empty(&s->wait_groups) ? UINT64_MAX : blk_heap_top(&s->wait_groups)->key;
    return q < g ? q : g;
}
static inline void blk_tree_wake(struct blk_iosched *s, uint64_t now)
{
    if (blk_tree_next_wake(s) <= now)
        blk_tree_wake_due(s, now);
}
/* Group g's limits changed: a held group is looked at again now, its members' pick checks
 * follow. */
void blk_tree_group_changed(struct blk_iosched *s, uint32_t g, uint64_t now);
/* The queue's throttled time not yet in its stats. */
uint64_t blk_tree_throttled_now(const struct blk_iosched *s, const struct blk_queue *q, uint64_t now);
/* After every queue's P tags moved down: every P heap's keys again, in order. */
void blk_tree_rebuild_p(struct blk_iosched *s);

#endif
