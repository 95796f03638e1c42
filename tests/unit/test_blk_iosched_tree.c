/* The disk I/O scheduler's tree of heaps by group (src/blk/iosched_tree.h): a group over its
 * limit waits whole and its members keep their tags in its heaps. On a simulated saturated
 * device (as tests/unit/test_blk_iosched.c): members of a held group compete by their tags
 * (weights, and a reservation that falls due while the group is held goes first when it
 * wakes); a libvirt group over two disks of two sponsors (groups that do not nest); a
 * member moving between groups live; a disk leaving a group (the group no longer nests, a
 * new member of it alone is not held by the old sponsor); a group's limit for reads only;
 * the throttled time of the members of a held group; random settings against a shadow copy
 * of every limit: no request ever starts over one; and the P-tag rebase through nested
 * groups. Every test runs twice: with the
 * heaps by group (tree_from 1) and with the flat heaps (below tree_from), whose decisions
 * follow the same rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/iosched.h"
#include "blk/iosched_limit.h"
#include "lib/err.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define NQ 8
#define MAX_EVENTS 400000

static uint32_t tree_from; /* the mode under test: 1 (heaps by group) or UINT32_MAX (flat) */

struct event {
    uint64_t t;
    uint32_t queue;
    enum blk_io_dir dir;
    enum blk_iosched_phase phase;
};

struct sim {
    struct blk_iosched *s;
    uint64_t now;
    double capacity; /* cost units per second */
    bool active[NQ];
    struct event *ev;
    size_t n;
};

static void assert_near(double got, double want, double pct, const char *what)
{
    if (got < want * (1 - pct / 100) || got > want * (1 + pct / 100))
        fail_msg("%s: got %.1f, want %.1f +- %.1f%%", what, got, want, pct);
}

static void sim_init(struct sim *m, double capacity, uint32_t groups)
{
    memset(m, 0, sizeof(*m));
    m->capacity = capacity;
    m->ev = calloc(MAX_EVENTS, sizeof(*m->ev));
    assert_non_null(m->ev);
    struct blk_iosched_config c = {
        .queues = NQ, .groups = groups, .queue_depth = 64, .device_depth = 1, .tree_from = tree_from};
    assert_int_equal(blk_iosched_create(&c, 0, &m->s), 0);
}

static void sim_free(struct sim *m)
{
    blk_iosched_destroy(m->s);
    free(m->ev);
}

static void sim_group(struct sim *m, uint32_t g, uint64_t iops)
{
    assert_int_equal(blk_iosched_group_set(m->s, g, &(struct blk_iotune){.total_iops.avg = iops}, m->now), 0);
}

static void sim_queue(struct sim *m, uint32_t q, const struct blk_iosched_params *p)
{
    assert_int_equal(blk_iosched_queue_set(m->s, q, p, m->now), 0);
    m->active[q] = true;
}

/* Runs the saturated device until `until`: every active queue holds 16 requests of 4 KiB,
 * reads and writes in turn. */
static void sim_run(struct sim *m, uint64_t until)
{
    while (m->now < until) {
        for (uint32_t q = 0; q < NQ; q++) {
            struct blk_iosched_stats st;
            if (!m->active[q] || blk_iosched_queue_stats(m->s, q, m->now, &st))
                continue;
            for (uint32_t k = st.queued; k < 16; k++) {
                struct blk_io io = {.cookie = q, .bytes = 4096, .dir = (st.dispatched + k) & 1};
                assert_int_equal(blk_iosched_enqueue(m->s, q, &io, m->now), 0);
            }
        }
        struct blk_iosched_pick p;
        int e = blk_iosched_dispatch(m->s, m->now, &p);
        if (e == -EAGAIN) {
            assert_true(p.retry_at_ns > m->now);
            m->now = p.retry_at_ns < until ? p.retry_at_ns : until;
            continue;
        }
        assert_int_equal(e, 0);
        assert_true(m->n < MAX_EVENTS);
        m->ev[m->n++] = (struct event){.t = m->now, .queue = p.queue, .dir = p.io.dir, .phase = p.phase};
        m->now += (uint64_t)((double)blk_iosched_cost(m->s, p.io.bytes) / BLK_IOSCHED_COST_ONE / m->capacity * 1e9);
        blk_iosched_complete(m->s, p.queue);
    }
}

/* Requests of the queues in mask dispatched in [t0, t1) (phase < 0: either phase). */
static double sim_count(const struct sim *m, uint32_t mask, uint64_t t0, uint64_t t1, int phase)
{
    double n = 0;
    for (size_t i = 0; i < m->n; i++)
        if ((mask >> m->ev[i].queue & 1) && m->ev[i].t >= t0 && m->ev[i].t < t1 &&
            (phase < 0 || (int)m->ev[i].phase == phase))
            n++;
    return n;
}

/* The most requests of the queues in mask in any 1 s window starting at one of them. */
static double sim_max_window(const struct sim *m, uint32_t mask)
{
    double best = 0, in = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < m->n; hi++) {
        if (!(mask >> m->ev[hi].queue & 1))
            continue;
        in++;
        for (; m->ev[lo].t + SEC <= m->ev[hi].t; lo++)
            in -= mask >> m->ev[lo].queue & 1;
        best = in > best ? in : best;
    }
    return best;
}

static void limit_holds(const struct sim *m, uint32_t mask, double iops, const char *what)
{
    double w = sim_max_window(m, mask);
    if (w > iops * 1.02 + 1)
        fail_msg("%s: %.0f requests in a 1 s window, limit %.0f", what, w, iops);
}

/* Three disks of weights 1, 2, 3 in a libvirt group of 600 IOPS nested in a sponsor of
 * 10000 with a fourth, light disk: the group is held nearly all the time, and each time it
 * wakes its members compete by their P tags, so they share the 600 by weight. */
static void members_compete_by_tags(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 2);
    sim_group(&m, 1, 600);
    sim_group(&m, 2, 10000);
    for (uint32_t q = 0; q < 3; q++)
        sim_queue(&m, q, &(struct blk_iosched_params){.weight = 1 + q, .group = {1, 2}});
    sim_queue(&m, 3, &(struct blk_iosched_params){.weight = 1, .group = {0, 2}});
    sim_run(&m, 6 * SEC);
    limit_holds(&m, 0x7, 600, "the group");
    for (uint32_t q = 0; q < 3; q++) {
        char what[48];
        snprintf(what, sizeof(what), "weight %u of 6 in the group", 1 + q);
        assert_near(sim_count(&m, 1u << q, 1 * SEC, 6 * SEC, -1), 5 * 600 * (1 + q) / 6.0, 10, what);
    }
    assert_near(sim_count(&m, 0x8, 1 * SEC, 6 * SEC, -1), 5 * (10000 - 600), 3, "the sponsor's other disk");
    sim_free(&m);
}

/* A disk reserving 300 units/s (267 requests of 4 KiB) with weight 1 beside a disk of weight
 * 1000 in a group of 500 IOPS: while the group is held the reservation falls due, and when
 * it wakes the due request goes first, in the reservation phase, so the reservation holds
 * inside the group; the other disk gets the rest of the group. */
static void reservation_due_in_held_group(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 1);
    sim_group(&m, 1, 500);
    sim_queue(&m, 0, &(struct blk_iosched_params){.reservation = 300, .weight = 1, .group = {1, 0}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 1000, .group = {1, 0}});
    sim_queue(&m, 2, &(struct blk_iosched_params){.weight = 1}); /* keeps the device busy */
    sim_run(&m, 6 * SEC);
    limit_holds(&m, 0x3, 500, "the group");
    double a = sim_count(&m, 0x1, 1 * SEC, 6 * SEC, -1);
    assert_near(a, 5 * 300 / 1.125, 5, "the reservation inside the held group");
    assert_near(sim_count(&m, 0x1, 1 * SEC, 6 * SEC, BLK_IOSCHED_RESERVATION), a, 2, "served by its reservation");
    assert_near(sim_count(&m, 0x2, 1 * SEC, 6 * SEC, -1), 5 * (500 - 300 / 1.125), 5, "the rest of the group");
    sim_free(&m);
}

/* A libvirt group over two disks of two sponsors: the groups do not nest (the group is off
 * one disk's path and checked when it is picked), and every limit still holds: the group
 * at 400 over both, each sponsor at 500 over its disk and another. */
static void group_across_two_sponsors(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 3);
    sim_group(&m, 1, 400); /* libvirt group */
    sim_group(&m, 2, 500); /* sponsor A */
    sim_group(&m, 3, 500); /* sponsor B */
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {1, 2}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 3}});
    sim_queue(&m, 2, &(struct blk_iosched_params){.weight = 100, .group = {0, 2}});
    sim_queue(&m, 3, &(struct blk_iosched_params){.weight = 100, .group = {0, 3}});
    sim_queue(&m, 4, &(struct blk_iosched_params){.weight = 1});
    sim_run(&m, 6 * SEC);
    limit_holds(&m, 0x3, 400, "the group over two sponsors");
    limit_holds(&m, 0x5, 500, "sponsor A");
    limit_holds(&m, 0xa, 500, "sponsor B");
    assert_near(sim_count(&m, 0x5, 1 * SEC, 6 * SEC, -1), 5 * 500, 2, "sponsor A used");
    assert_near(sim_count(&m, 0xa, 1 * SEC, 6 * SEC, -1), 5 * 500, 2, "sponsor B used");
    assert_near(sim_count(&m, 0x3, 1 * SEC, 6 * SEC, -1), 5 * 400, 2, "the group used");
    assert_near(sim_count(&m, 0x1, 1 * SEC, 6 * SEC, -1), 5 * 200, 10, "disk 0: half the group");
    sim_free(&m);
}

/* A disk moves live (queue_set while backlogged) from a group of 500 IOPS it shares to a
 * group of 2000 of its own: before, the two share 500; after, it goes at 2000 and the
 * other disk has the whole 500. */
static void member_moves_between_groups(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 2);
    sim_group(&m, 1, 500);
    sim_group(&m, 2, 2000);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_queue(&m, 2, &(struct blk_iosched_params){.weight = 1});
    sim_run(&m, 3 * SEC);
    assert_near(sim_count(&m, 0x1, 1 * SEC, 3 * SEC, -1), 2 * 250, 10, "disk 0: half of group 1");
    assert_near(sim_count(&m, 0x3, 1 * SEC, 3 * SEC, -1), 2 * 500, 2, "group 1");
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {2, 0}});
    struct blk_iosched_params got;
    assert_int_equal(blk_iosched_queue_get(m.s, 0, &got), 0);
    assert_int_equal(got.group[0], 2);
    sim_run(&m, 6 * SEC);
    assert_near(sim_count(&m, 0x1, 4 * SEC, 6 * SEC, -1), 2 * 2000, 2, "disk 0 in group 2");
    assert_near(sim_count(&m, 0x2, 4 * SEC, 6 * SEC, -1), 2 * 500, 2, "disk 1: group 1 alone");
    sim_free(&m);
}

/* Disks leave a group: a libvirt group 1 nested in sponsor 2 loses its members (removed
 * when idle); the other member then has the group alone; and when the group is used again
 * by a disk that names no sponsor, the old sponsor's limit does not hold that disk (the
 * group left it with its last member). */
static void disk_leaves_group(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 2);
    sim_group(&m, 1, 1000);
    sim_group(&m, 2, 300);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {1, 2}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 2}});
    sim_queue(&m, 7, &(struct blk_iosched_params){.weight = 1});
    sim_run(&m, 2 * SEC);
    assert_near(sim_count(&m, 0x3, 1 * SEC, 2 * SEC, -1), 300, 3, "the sponsor holds the group");
    /* disk 0 goes: let it drain, then remove it */
    m.active[0] = false;
    sim_run(&m, 3 * SEC);
    assert_int_equal(blk_iosched_queue_remove(m.s, 0), 0);
    sim_run(&m, 5 * SEC);
    assert_near(sim_count(&m, 0x2, 4 * SEC, 5 * SEC, -1), 300, 3, "disk 1 alone in the sponsor");
    m.active[1] = false;
    sim_run(&m, 6 * SEC);
    assert_int_equal(blk_iosched_queue_remove(m.s, 1), 0);
    assert_int_equal(blk_iosched_queue_remove(m.s, 1), -ENOENT);
    /* group 1 again, without the sponsor */
    sim_queue(&m, 3, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_run(&m, 8 * SEC);
    assert_near(sim_count(&m, 0x8, 7 * SEC, 8 * SEC, -1), 1000, 2, "group 1 without the sponsor's 300");
    sim_free(&m);
}

/* A group limit for reads only (read_iops_sec 200): its members' writes are not held by it;
 * reads never pass 200 in any second. The group never waits whole (writes may go). */
static void group_limit_one_way(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 4000, 1);
    assert_int_equal(blk_iosched_group_set(m.s, 1, &(struct blk_iotune){.read_iops.avg = 200}, 0), 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_run(&m, 4 * SEC);
    double reads = 0, writes = 0;
    for (size_t i = 0; i < m.n; i++)
        if (m.ev[i].t >= SEC && m.ev[i].t < 4 * SEC)
            *(m.ev[i].dir == BLK_IO_READ ? &reads : &writes) += 1;
    assert_near(reads, 3 * 200, 3, "reads of the group");
    /* each queue alternates, so a held read holds its queue's writes behind it: writes
     * follow reads one for one */
    assert_near(writes, reads, 3, "writes behind the reads");
    sim_free(&m);
}

/* The members of a group held whole count the time as throttled, as a disk held by its own
 * limit does. */
static void held_group_counts_throttled_time(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 1);
    sim_group(&m, 1, 100);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}});
    sim_queue(&m, 2, &(struct blk_iosched_params){.weight = 100, .limits.total_iops.avg = 100});
    sim_run(&m, 3 * SEC);
    for (uint32_t q = 0; q < 3; q++) {
        struct blk_iosched_stats st;
        assert_int_equal(blk_iosched_queue_stats(m.s, q, m.now, &st), 0);
        if (st.throttled_ns < 2 * SEC || st.throttled_ns > 3 * SEC)
            fail_msg("queue %u: throttled %.3f s of 3 s", q, st.throttled_ns / 1e9);
    }
    sim_free(&m);
}

/* Four weight-1 queues of 64 MiB requests, two in group 1 nested in the sponsor group 2, one
 * in group 2 only, one in none, each kept 2 deep with the clock at 0; group 1 limited to
 * group1_iops (0: no limit). */
static struct blk_iosched *rebase_setup(uint64_t group1_iops)
{
    struct blk_iosched *s;
    struct blk_iosched_config c = {
        .queues = 4, .groups = 2, .queue_depth = 4, .device_depth = 1, .tree_from = tree_from};
    assert_int_equal(blk_iosched_create(&c, 0, &s), 0);
    if (group1_iops)
        assert_int_equal(blk_iosched_group_set(s, 1, &(struct blk_iotune){.total_iops.avg = group1_iops}, 0), 0);
    static const uint32_t groups[4][2] = {{1, 2}, {1, 2}, {0, 2}, {0, 0}};
    for (uint32_t q = 0; q < 4; q++)
        assert_int_equal(blk_iosched_queue_set(
                             s, q, &(struct blk_iosched_params){.weight = 1, .group = {groups[q][0], groups[q][1]}}, 0),
                         0);
    return s;
}

/* Refills the four queues, serves one request and completes it: the queue served. */
static uint32_t rebase_step(struct blk_iosched *s)
{
    struct blk_io io = {.bytes = BLK_IO_MAX_BYTES};
    for (uint32_t q = 0; q < 4; q++) {
        struct blk_iosched_stats st;
        assert_int_equal(blk_iosched_queue_stats(s, q, 0, &st), 0);
        if (st.queued < 2)
            assert_int_equal(blk_iosched_enqueue(s, q, &io, 0), 0);
    }
    struct blk_iosched_pick p;
    assert_int_equal(blk_iosched_dispatch(s, 0, &p), 0);
    blk_iosched_complete(s, p.queue);
    return p.queue;
}

/* The four queues of rebase_setup push the virtual time past its rebase point several times
 * (test_blk_iosched_parts: p_tags_rebase): the P heaps of every node are rebuilt in order,
 * and the queues keep taking turns through it. */
static void p_tags_rebase_in_groups(void **state)
{
    (void)state;
    struct blk_iosched *s = rebase_setup(0);
    uint32_t got[4] = {0}, since[4] = {0};
    for (int i = 0; i < 400000; i++) { /* a rebase every ~123000 requests */
        uint32_t served = rebase_step(s);
        got[served]++;
        for (uint32_t q = 0; q < 4; q++)
            if (q != served && ++since[q] > 6)
                fail_msg("queue %u not served for %u requests at request %d", q, since[q], i);
        since[served] = 0;
    }
    for (uint32_t q = 0; q < 4; q++)
        assert_true(got[q] >= 99999 && got[q] <= 100001);
    blk_iosched_destroy(s);
}

/* The same rebase while group 1 is held (1000 IOPS and a clock that never moves: held from
 * its 11th request on, BLK_LIMIT_SLACK_NS of tolerance): its entries in its parent's heaps
 * keep the held key through the rebuild, so its members get nothing more while the other
 * two take turns. */
static void p_tags_rebase_while_group_held(void **state)
{
    (void)state;
    struct blk_iosched *s = rebase_setup(1000);
    uint32_t got[4] = {0};
    for (int i = 0; i < 300000; i++) /* two rebases */
        got[rebase_step(s)]++;
    if (got[0] + got[1] > 11)
        fail_msg("group 1 (1000 IOPS, the clock at 0) let %u requests through", got[0] + got[1]);
    assert_true(got[2] >= 149990 && got[3] >= 149990);
    blk_iosched_destroy(s);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random groups (nested, spread over sponsors, read- or write-only), queue settings and
 * group limits changed live, random request sizes and directions: every dispatched request
 * may start by a shadow copy of its queue's and groups' limits (charged alike), every
 * request comes out once and in order, and everything drains. */
static void random_groups_never_pass_a_limit(void **state)
{
    (void)state;
    enum { Q = 12, G = 6, DD = 4 };
    struct blk_iosched *s;
    struct blk_iosched_config c = {
        .queues = Q, .groups = G, .queue_depth = 16, .device_depth = DD, .tree_from = tree_from};
    assert_int_equal(blk_iosched_create(&c, 0, &s), 0);
    struct blk_limits shadow_q[Q], shadow_g[G + 1];
    struct blk_iosched_params params[Q];
    memset(shadow_q, 0, sizeof(shadow_q));
    memset(shadow_g, 0, sizeof(shadow_g));
    uint32_t sent[Q] = {0}, got[Q] = {0}, inflight[DD], n_inflight = 0;
    uint64_t now = 0;
    for (uint32_t q = 0; q < Q; q++) {
        params[q] = (struct blk_iosched_params){.weight = 100, .group = {1 + q % 3, 4 + q % 2}};
        assert_int_equal(blk_iosched_queue_set(s, q, &params[q], 0), 0);
    }
    for (int step = 0; step < 300000; step++) {
        uint64_t r = next_rand();
        uint32_t q = (uint32_t)(r >> 8) % Q;
        switch (r % 24) {
        case 0: { /* a queue's settings, its groups too */
            if (sent[q] != got[q] && next_rand() % 2)
                break; /* mostly while idle, sometimes live */
            struct blk_iosched_params p = {.weight = 1 + (uint32_t)(next_rand() % 1000),
                                           .reservation = next_rand() % 3 ? 0 : next_rand() % 3000};
            if (next_rand() % 3 == 0)
                p.limits.total_iops.avg = 50 + next_rand() % 3000;
            p.group[0] = (uint32_t)(next_rand() % (G + 1));
            p.group[1] = (uint32_t)(next_rand() % (G + 1));
            if (p.group[1] == p.group[0])
                p.group[1] = 0;
            assert_int_equal(blk_iosched_queue_set(s, q, &p, now), 0);
            assert_int_equal(blk_limits_set(&shadow_q[q], &p.limits, now, "shadow"), 0);
            params[q] = p;
            break;
        }
        case 1: { /* a group's limits: total, or one direction */
            uint32_t g = 1 + (uint32_t)(next_rand() % G);
            struct blk_iotune t = {0};
            uint64_t v = 100 + next_rand() % 5000;
            switch (next_rand() % 4) {
            case 0: t.total_iops.avg = v; break;
            case 1: t.read_iops.avg = v; break;
            case 2: t.write_bytes.avg = v * 4096; break;
            default: break; /* no limit */
            }
            assert_int_equal(blk_iosched_group_set(s, g, &t, now), 0);
            assert_int_equal(blk_limits_set(&shadow_g[g], &t, now, "shadow"), 0);
            break;
        }
        case 2: /* a disk goes and comes back */
            if (sent[q] == got[q] && !n_inflight && blk_iosched_queue_remove(s, q) == 0) {
                assert_int_equal(blk_iosched_queue_set(s, q, &params[q], now), 0);
                memset(&shadow_q[q], 0, sizeof(shadow_q[q])); /* a new queue: a new bucket */
                assert_int_equal(blk_limits_set(&shadow_q[q], &params[q].limits, now, "shadow"), 0);
            }
            break;
        case 3:
        case 4:
        case 5:
        case 6: {
            struct blk_io io = {.cookie = (uint64_t)q << 32 | sent[q],
                                .bytes = (uint32_t)(next_rand() % 4 == 0 ? next_rand() % (256 << 10) : 4096),
                                .dir = next_rand() % 2 ? BLK_IO_READ : BLK_IO_WRITE};
            int e = blk_iosched_enqueue(s, q, &io, now);
            if (e == 0)
                sent[q]++;
            else
                assert_int_equal(e, -ENOSPC);
            break;
        }
        case 7:
        case 8:
            if (n_inflight) {
                uint32_t k = (uint32_t)(next_rand() % n_inflight);
                blk_iosched_complete(s, inflight[k]);
                inflight[k] = inflight[--n_inflight];
            }
            break;
        case 9: now += next_rand() % (2 * MS); break;
        default: {
            struct blk_iosched_pick p;
            int e = blk_iosched_dispatch(s, now, &p);
            if (e == -EAGAIN) {
                if (p.retry_at_ns != UINT64_MAX && next_rand() % 2)
                    now = p.retry_at_ns;
                break;
            }
            if (e == -EBUSY) {
                assert_int_equal(n_inflight, DD);
                break;
            }
            assert_int_equal(e, 0);
            uint32_t i = p.queue;
            assert_int_equal(p.io.cookie >> 32, i);
            assert_int_equal((uint32_t)p.io.cookie, got[i]);
            got[i]++;
            inflight[n_inflight++] = i;
            if (blk_limits_ready_at(&shadow_q[i], p.io.dir) > now)
                fail_msg("step %d: queue %u started over its own limit", step, i);
            blk_limits_charge(&shadow_q[i], p.io.dir, p.io.bytes, now);
            for (int k = 0; k < BLK_IOSCHED_QUEUE_GROUPS; k++) {
                uint32_t g = params[i].group[k];
                if (!g)
                    continue;
                if (blk_limits_ready_at(&shadow_g[g], p.io.dir) > now)
                    fail_msg("step %d: queue %u started over group %u's limit", step, i, g);
                blk_limits_charge(&shadow_g[g], p.io.dir, p.io.bytes, now);
            }
        }
        }
    }
    for (int guard = 0; guard < 1000000; guard++) {
        while (n_inflight)
            blk_iosched_complete(s, inflight[--n_inflight]);
        struct blk_iosched_pick p;
        int e = blk_iosched_dispatch(s, now, &p);
        if (e == 0) {
            got[p.queue]++;
            inflight[n_inflight++] = p.queue;
        } else if (p.retry_at_ns == UINT64_MAX) {
            break;
        } else {
            now = p.retry_at_ns;
        }
    }
    uint64_t total = 0;
    for (uint32_t q = 0; q < Q; q++) {
        assert_int_equal(got[q], sent[q]);
        total += got[q];
    }
    assert_true(total > 20000);
    blk_iosched_destroy(s);
}

static int heaps_by_group(void **state)
{
    (void)state;
    tree_from = 1;
    return 0;
}

static int flat_heaps(void **state)
{
    (void)state;
    tree_from = UINT32_MAX;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_compete_by_tags),
        cmocka_unit_test(reservation_due_in_held_group),
        cmocka_unit_test(group_across_two_sponsors),
        cmocka_unit_test(member_moves_between_groups),
        cmocka_unit_test(disk_leaves_group),
        cmocka_unit_test(group_limit_one_way),
        cmocka_unit_test(held_group_counts_throttled_time),
        cmocka_unit_test(random_groups_never_pass_a_limit),
        cmocka_unit_test(p_tags_rebase_in_groups),
        cmocka_unit_test(p_tags_rebase_while_group_held),
    };
    int failed = cmocka_run_group_tests_name("heaps by group", tests, heaps_by_group, NULL);
    return failed + cmocka_run_group_tests_name("flat heaps", tests, flat_heaps, NULL);
}
