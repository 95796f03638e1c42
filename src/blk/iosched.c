/* mClock over the disks' queues; the algorithm and its tags are described in iosched.h,
 * where each queue sits (the tree of heaps by group) in iosched_tree.h. Group limits move
 * when a member is served; the groups of the served queue are looked at then (a group over
 * its limit leaves whole), and each picked queue's own eligibility once more (limits for one
 * direction, groups off its path): a queue found over a limit waits alone.
 * Invariant: every key in a P heap is >= V - BLK_P_LAG_MAX when it enters (iosched_tree.h), so
 * rebase_p rarely clips one; the heaps are rebuilt in order then. A queue back from a
 * limit keeps its stale P tag (up to that lag) for its head request, so the members of a
 * group over its limit take turns. */
#include "blk/iosched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/iosched_heap.h"
#include "blk/iosched_tree.h"
#include "lib/err.h"

#define P_REBASE_AT (1ull << 62) /* P tags are moved down by V - P_REBASE_TO when V gets here */
#define P_REBASE_TO (1ull << 58)

int blk_iosched_create(const struct blk_iosched_config *cfg, uint64_t now_ns, struct blk_iosched **out)
{
    (void)now_ns;
    uint32_t ref = cfg->ref_bytes ? cfg->ref_bytes : BLK_IOSCHED_REF_BYTES_DEFAULT;
    if (!cfg->queues || cfg->queues > (1u << 20) || !cfg->queue_depth || cfg->queue_depth > 65536 ||
        !cfg->device_depth || cfg->groups > (1u << 20))
        return err_set(EINVAL, "I/O scheduler: %u queues of depth %u, %u groups, device depth %u: out of range",
                       cfg->queues, cfg->queue_depth, cfg->groups, cfg->device_depth);
    if (ref < BLK_IOSCHED_REF_BYTES_MIN || ref > BLK_IOSCHED_REF_BYTES_MAX)
        return err_set(EINVAL, "I/O scheduler: reference size %u bytes is outside %u..%u", ref,
                       BLK_IOSCHED_REF_BYTES_MIN, BLK_IOSCHED_REF_BYTES_MAX);
    struct blk_iosched *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "I/O scheduler: no memory");
    s->cfg = *cfg;
    s->ref_bytes = ref;
    s->cost_mul = ((uint64_t)BLK_IOSCHED_COST_ONE << 32) / ref; /* <= 2^36 */
    s->tree = cfg->queues >= (cfg->tree_from ? cfg->tree_from : BLK_IOSCHED_TREE_FROM_DEFAULT);
    size_t q_bytes = (size_t)cfg->queues * sizeof(*s->q); /* two cache lines each */
    s->q = aligned_alloc(_Alignof(struct blk_queue), q_bytes);
    if (s->q)
        memset(s->q, 0, q_bytes);
    size_t conf_bytes = (size_t)cfg->queues * sizeof(*s->conf);           /* a multiple of 64 */
    s->conf = aligned_alloc(_Alignof(struct blk_queue_conf), conf_bytes); /* calloc aligns to 16 */
    if (s->conf)
        memset(s->conf, 0, conf_bytes);
    s->slots = calloc((size_t)cfg->queues * cfg->queue_depth, sizeof(*s->slots));
    int e = !s->q || !s->conf || !s->slots ? err_set(ENOMEM, "I/O scheduler: no memory for %u queues", cfg->queues)
                                           : blk_tree_init(s);
    if (e) {
        blk_iosched_destroy(s);
        return e;
    }
    *out = s;
    return 0;
}

void blk_iosched_destroy(struct blk_iosched *s)
{
    if (!s)
        return;
    blk_tree_free(s);
    free(s->slots);
    free(s->conf);
    free(s->q);
    free(s);
}

static inline uint64_t cost_of(const struct blk_iosched *s, uint32_t bytes)
{
    if (bytes > BLK_IO_MAX_BYTES)
        bytes = BLK_IO_MAX_BYTES;
    return BLK_IOSCHED_COST_ONE + (((uint64_t)bytes * s->cost_mul) >> 32); /* 2^26 x 2^36: fits */
}

uint64_t blk_iosched_cost(const struct blk_iosched *s, uint32_t bytes)
{
    return cost_of(s, bytes);
}

static void resync_p(struct blk_iosched *s, struct blk_queue *q);
static void tag_head(struct blk_iosched *s, struct blk_queue *q);

int blk_iosched_group_set(struct blk_iosched *s, uint32_t group, const struct blk_iotune *t, uint64_t now_ns)
{
    if (group == BLK_IOSCHED_NO_GROUP || group > s->cfg.groups)
        return err_set(EINVAL, "I/O scheduler: group %u is outside 1..%u", group, s->cfg.groups);
    char what[32];
    snprintf(what, sizeof(what), "group %u", group);
    struct blk_limits l = s->node[group].limits;
    int e = blk_limits_set(&l, t, now_ns, what);
    if (e)
        return e;
    s->node[group].limits = l;
    blk_tree_group_changed(s, group, now_ns);
    /* members go by the new limit from now: a looser one may let a waiting member go earlier */
    for (uint32_t i = 0; i < s->cfg.queues; i++) {
        struct blk_queue *q = &s->q[i];
        if (q->used && q->count && (q->group[0] == group || q->group[1] == group)) {
            resync_p(s, q);
            tag_head(s, q);
            blk_tree_place(s, i, now_ns);
        }
    }
    blk_tree_update(s, group, now_ns);
    return 0;
}

static struct blk_slot *head_of(const struct blk_iosched *s, const struct blk_queue *q)
{
    return &blk_ring(s, q)[q->head];
}

/* The head request's R and P tags (iosched.h). */
static void tag_head(struct blk_iosched *s, struct blk_queue *q)
{
    const struct blk_slot *h = head_of(s, q);
    uint64_t cost = cost_of(s, h->io.bytes); /* <= 2^30 with ref_bytes >= 4 KiB */
    q->head_cost = (uint32_t)cost;
    if (q->r_mul) {
        uint64_t r = q->r_prev + (uint64_t)(((unsigned __int128)cost * q->r_mul) >> 48);
        q->r_tag = r > h->arrival_ns ? r : h->arrival_ns;
    }
    q->head_p_inc = (cost * q->p_mul) >> 12; /* 2^30 x 2^32: fits */
    q->p_tag = q->p_prev + q->head_p_inc;
}

/* A queue that becomes backlogged (or whose settings change) starts its P tags at V at the
 * earliest: no credit for the time it had nothing to do (or a limit held it). A queue that
 * stays backlogged keeps its own tags, so queues held by the same group take turns. */
static void resync_p(struct blk_iosched *s, struct blk_queue *q)
{
    if (q->p_prev < s->v)
        q->p_prev = s->v;
}

static int check_params(const struct blk_iosched *s, uint32_t queue, const struct blk_iosched_params *p)
{
    if (queue >= s->cfg.queues)
        return err_set(EINVAL, "I/O scheduler: queue %u is outside 0..%u", queue, s->cfg.queues - 1);
    if (p->weight > BLK_IOSCHED_WEIGHT_MAX)
        return err_set(EINVAL, "queue %u: weight %u is outside 1..%u", queue, p->weight, BLK_IOSCHED_WEIGHT_MAX);
    if (p->reservation > BLK_IOSCHED_MAX_RESERVE)
        return err_set(EINVAL, "queue %u: reservation %llu is above %llu units/s", queue,
                       (unsigned long long)p->reservation, (unsigned long long)BLK_IOSCHED_MAX_RESERVE);
    for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++)
        if (p->group[k] > s->cfg.groups)
            return err_set(EINVAL, "queue %u: group %u is outside 1..%u", queue, p->group[k], s->cfg.groups);
    if (p->group[0] && p->group[0] == p->group[1])
        return err_set(EINVAL, "queue %u: group %u given twice", queue, p->group[0]);
    return 0;
}

int blk_iosched_queue_set(struct blk_iosched *s, uint32_t queue, const struct blk_iosched_params *p, uint64_t now_ns)
{
    int e = check_params(s, queue, p);
    if (e)
        return e;
    struct blk_queue *q = &s->q[queue];
    char what[32];
    snprintf(what, sizeof(what), "queue %u", queue);
    struct blk_queue_conf *conf = blk_conf(s, q);
    struct blk_limits l = q->used ? conf->limits : (struct blk_limits){0};
    if ((e = blk_limits_set(&l, &p->limits, now_ns, what)) || (e = blk_tree_reserve(s, p->group[0], p->group[1])))
        return e;
    if (q->used)
        blk_tree_unlink(s, queue, now_ns); /* its groups may change: it finds its home again */
    else {
        memset(q, 0, sizeof(*q));
        conf->throttled_since = conf->node_mark = conf->throttled_ns = 0;
        q->p_prev = s->v;
        q->used = true;
    }
    conf->limits = l;
    conf->params = *p;
    if (!conf->params.weight)
        conf->params.weight = BLK_IOSCHED_WEIGHT_DEFAULT;
    for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++)
        q->group[k] = p->group[k];
    /* ns per unit = 1e9 / reservation, in 16.48 fixed point with the cost's 16 bits of fraction */
    q->r_mul = p->reservation ? (uint64_t)((1000000000ull << 32) / p->reservation) : 0;
    q->p_mul = (BLK_IOSCHED_P_SCALE << 12) / conf->params.weight;
    q->limited = l.active || p->group[0] != BLK_IOSCHED_NO_GROUP || p->group[1] != BLK_IOSCHED_NO_GROUP;
    q->own_limits = l.active != 0;
    blk_tree_link(s, queue, now_ns);
    if (q->count) {
        resync_p(s, q);
        tag_head(s, q);
        blk_tree_place(s, queue, now_ns);
    }
    return 0;
}

int blk_iosched_queue_get(const struct blk_iosched *s, uint32_t queue, struct blk_iosched_params *out)
{
    if (queue >= s->cfg.queues || !s->q[queue].used)
        return err_set(ENOENT, "I/O scheduler: no queue %u", queue);
    *out = s->conf[queue].params;
    return 0;
}

int blk_iosched_queue_remove(struct blk_iosched *s, uint32_t queue)
{
    if (queue >= s->cfg.queues || !s->q[queue].used)
        return err_set(ENOENT, "I/O scheduler: no queue %u", queue);
    if (s->q[queue].count || s->q[queue].inflight)
        return err_set(EBUSY, "I/O scheduler: queue %u still has %u requests waiting and %u in flight", queue,
                       s->q[queue].count, s->q[queue].inflight);
    blk_tree_unlink(s, queue, 0); /* idle: in no heap, its throttled time counted */
    s->q[queue].used = false;
    return 0;
}

int blk_iosched_enqueue(struct blk_iosched *s, uint32_t queue, const struct blk_io *io, uint64_t now_ns)
{
    if (queue >= s->cfg.queues || !s->q[queue].used)
        return err_set(ENOENT, "I/O scheduler: no queue %u", queue);
    struct blk_queue *q = &s->q[queue];
    if (q->count == s->cfg.queue_depth)
        return err_set(ENOSPC, "I/O scheduler: queue %u already holds %u requests", queue, q->count);
    if (io->bytes > BLK_IO_MAX_BYTES)
        return err_set(E2BIG, "I/O scheduler: a request of %u bytes on queue %u is above %u", io->bytes, queue,
                       BLK_IO_MAX_BYTES);
    uint32_t slot = q->head + q->count;
    if (slot >= s->cfg.queue_depth)
        slot -= s->cfg.queue_depth;
    struct blk_slot *ring = blk_ring(s, q);
    ring[slot] = (struct blk_slot){.io = *io, .arrival_ns = now_ns};
    ring[slot].io.dir = io->dir == BLK_IO_READ ? BLK_IO_READ : BLK_IO_WRITE;
    if (q->count++ == 0) {
        resync_p(s, q);
        tag_head(s, q);
        blk_tree_place(s, queue, now_ns);
    }
    return 0;
}

/* Moves every P tag down by the same amount before V could overflow (every ~2^26 units of
 * work at weight 1): O(queues + groups), rare, keeps the order. Tags of idle queues are
 * clipped at 0 (they restart at V anyway), and so would be those of queues a group held for
 * longer than BLK_P_LAG_MAX of virtual time (their order among themselves is then the queue
 * number's). */
static void rebase_p(struct blk_iosched *s)
{
    uint64_t delta = s->v - P_REBASE_TO;
    for (uint32_t i = 0; i < s->cfg.queues; i++) {
        struct blk_queue *q = &s->q[i];
        q->p_prev = q->p_prev > delta ? q->p_prev - delta : 0;
        q->p_tag = q->p_tag > delta ? q->p_tag - delta : 0;
    }
    blk_tree_rebuild_p(s);
    s->v -= delta;
}

static void serve(struct blk_iosched *s, uint32_t i, enum blk_iosched_phase phase, uint64_t now,
                  struct blk_iosched_pick *out)
{
    struct blk_queue *q = &s->q[i];
    const struct blk_slot *h = head_of(s, q);
    out->queue = i;
    out->io = h->io;
    out->phase = phase;
    out->retry_at_ns = now;
    if (q->limited) {
        if (q->own_limits) /* no own limits: nothing to charge, and its settings' lines stay cold */
            blk_limits_charge(&blk_conf(s, q)->limits, h->io.dir, h->io.bytes, now);
        for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++)
            if (q->group[k] != BLK_IOSCHED_NO_GROUP) {
                struct blk_node *g = &s->node[q->group[k]];
                if (s->tree) { /* its node looks at its limits again (flat: its members do) */
                    g->ready_ns = blk_limits_charge_ready(&g->limits, h->io.dir, h->io.bytes, now);
                    g->recheck = true;
                } else {
                    blk_limits_charge(&g->limits, h->io.dir, h->io.bytes, now);
                }
            }
    }
    uint64_t cost = q->head_cost;
    if (phase == BLK_IOSCHED_RESERVATION) {
        q->r_prev = q->r_tag;
        q->by_reservation++;
    } else {
        uint64_t start = q->p_tag - q->head_p_inc;
        s->v = start > s->v ? start : s->v;
    }
    q->p_prev = q->p_tag;
    q->dispatched++;
    q->bytes += h->io.bytes;
    q->cost_units += cost;
    q->inflight++;
    s->inflight++;
    q->head = q->head + 1 == s->cfg.queue_depth ? 0 : q->head + 1;
    q->count--;
    if (q->count)
        tag_head(s, q);
    blk_tree_place(s, i, now); /* its home and the groups above follow, held whole if over */
    for (int k = 0; s->tree && q->extra && k < BLK_IOSCHED_QUEUE_GROUPS; k++)
        if (q->extra >> k & 1) /* a group off its path was charged too */
            blk_tree_update(s, q->group[k], now);
}

/* The queue at the top of the root's R heap (by_r) or P heap: a group's entry carries its
 * best child's queue (iosched_tree.h), so the root's top names the leaf without walking
 * down through the groups. */
static uint32_t leaf(const struct blk_iosched *s, bool by_r)
{
    const struct blk_node *n = &s->node[BLK_ROOT];
    return blk_heap_top(by_r ? &n->r : &n->p)->queue;
}

int blk_iosched_dispatch(struct blk_iosched *s, uint64_t now_ns, struct blk_iosched_pick *out)
{
    out->retry_at_ns = UINT64_MAX;
    if (s->inflight >= s->cfg.device_depth)
        return -EBUSY;
    if (s->v >= P_REBASE_AT)
        rebase_p(s);
    blk_tree_wake(s, now_ns);
    const struct blk_node *root = &s->node[BLK_ROOT];
    while (!blk_heap_empty(&root->r) && blk_heap_top(&root->r)->key <= now_ns &&
           blk_heap_top(&root->r)->key != BLK_TREE_HELD) {
        uint32_t i = leaf(s, true);
        if (!blk_tree_may_go(s, &s->q[i], now_ns)) { /* a limit for its direction, or a group off its path */
            blk_tree_hold(s, i, now_ns);
            continue;
        }
        serve(s, i, BLK_IOSCHED_RESERVATION, now_ns, out);
        return 0;
    }
    while (!blk_heap_empty(&root->p) && blk_heap_top(&root->p)->key != BLK_TREE_HELD) {
        uint32_t i = leaf(s, false);
        if (!blk_tree_may_go(s, &s->q[i], now_ns)) {
            blk_tree_hold(s, i, now_ns);
            continue;
        }
        serve(s, i, BLK_IOSCHED_WEIGHT, now_ns, out);
        return 0;
    }
    out->retry_at_ns = blk_tree_next_wake(s);
    return -EAGAIN;
}

int blk_iosched_dispatch_queue(struct blk_iosched *s, uint32_t queue, uint64_t now_ns, struct blk_iosched_pick *out)
{
    if (queue >= s->cfg.queues || !s->q[queue].used || !s->q[queue].count)
        return -EAGAIN;
    uint64_t v = s->v; /* out of turn: the virtual time of the others does not move */
    serve(s, queue, BLK_IOSCHED_WEIGHT, now_ns, out);
    s->v = v;
    return 0;
}

void blk_iosched_complete(struct blk_iosched *s, uint32_t queue)
{
    if (queue >= s->cfg.queues || !s->q[queue].inflight)
        return;
    s->q[queue].inflight--;
    s->inflight--;
}

int blk_iosched_queue_stats(const struct blk_iosched *s, uint32_t queue, uint64_t now_ns, struct blk_iosched_stats *out)
{
    if (queue >= s->cfg.queues || !s->q[queue].used)
        return err_set(ENOENT, "I/O scheduler: no queue %u", queue);
    const struct blk_queue *q = &s->q[queue];
    *out =
        (struct blk_iosched_stats){.dispatched = q->dispatched,
                                   .by_reservation = q->by_reservation,
                                   .bytes = q->bytes,
                                   .cost_units = q->cost_units,
                                   .throttled_ns = blk_conf(s, q)->throttled_ns + blk_tree_throttled_now(s, q, now_ns)};
    out->queued = q->count;
    out->inflight = q->inflight;
    return 0;
}
