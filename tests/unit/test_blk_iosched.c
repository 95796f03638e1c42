/* The disk I/O scheduler (src/blk/iosched.c) on a simulated clock: a saturated device that
 * serves one request at a time, each for cost / capacity seconds (the mClock cost model),
 * while every queue is kept backlogged; the clock jumps to the retry time the scheduler
 * names when none may go. A simulated second takes milliseconds and the figures are exact.
 * Reservations within 5%, limits within 2% in every 1 s window, spare capacity split by
 * weight within 10%, group limits across disks and a sponsor, bursts to _max and back, no
 * credit for an idle queue, live changes. (tests/unit/test_blk_iosched_parts.c: the heap,
 * the limits and the refusals one by one.) */
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
#include "lib/err.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define NQ 8
#define MAX_EVENTS 2000000

struct event {
    uint64_t t;
    uint32_t queue, bytes;
};

struct sim {
    struct blk_iosched *s;
    uint64_t now;
    double capacity;    /* cost units per second the device serves */
    uint32_t bytes[NQ]; /* request size per queue */
    bool active[NQ];    /* kept backlogged */
    struct event *ev;   /* every dispatch */
    size_t n;
};

static void assert_near(double got, double want, double pct, const char *what)
{
    double lo = want * (1 - pct / 100), hi = want * (1 + pct / 100);
    if (got < lo || got > hi)
        fail_msg("%s: got %.1f, want %.1f +- %.1f%%", what, got, want, pct);
}

static void sim_init(struct sim *m, double capacity, uint32_t groups)
{
    memset(m, 0, sizeof(*m));
    m->capacity = capacity;
    m->ev = calloc(MAX_EVENTS, sizeof(*m->ev));
    assert_non_null(m->ev);
    struct blk_iosched_config c = {.queues = NQ, .groups = groups, .queue_depth = 64, .device_depth = 1};
    assert_int_equal(blk_iosched_create(&c, 0, &m->s), 0);
}

static void sim_free(struct sim *m)
{
    blk_iosched_destroy(m->s);
    free(m->ev);
}

static void sim_queue(struct sim *m, uint32_t q, const struct blk_iosched_params *p, uint32_t bytes)
{
    assert_int_equal(blk_iosched_queue_set(m->s, q, p, m->now), 0);
    m->bytes[q] = bytes;
}

/* Keeps queue q backlogged (or lets it run dry) from now on. */
static void sim_active(struct sim *m, uint32_t q, bool on)
{
    m->active[q] = on;
}

static void refill(struct sim *m)
{
    for (uint32_t q = 0; q < NQ; q++) {
        if (!m->active[q])
            continue;
        struct blk_iosched_stats st;
        assert_int_equal(blk_iosched_queue_stats(m->s, q, m->now, &st), 0);
        for (uint32_t k = st.queued; k < 16; k++) {
            struct blk_io io = {.cookie = q, .bytes = m->bytes[q], .dir = (k & 1) ? BLK_IO_WRITE : BLK_IO_READ};
            assert_int_equal(blk_iosched_enqueue(m->s, q, &io, m->now), 0);
        }
    }
}

/* Runs the device until `until`: dispatch, serve for cost / capacity, complete. */
static void sim_run(struct sim *m, uint64_t until)
{
    while (m->now < until) {
        refill(m);
        struct blk_iosched_pick p;
        int e = blk_iosched_dispatch(m->s, m->now, &p);
        if (e == -EAGAIN) {
            assert_true(p.retry_at_ns > m->now);
            m->now = p.retry_at_ns < until ? p.retry_at_ns : until;
            continue;
        }
        assert_int_equal(e, 0);
        assert_true(m->n < MAX_EVENTS);
        m->ev[m->n++] = (struct event){.t = m->now, .queue = p.queue, .bytes = p.io.bytes};
        double cost = (double)blk_iosched_cost(m->s, p.io.bytes) / BLK_IOSCHED_COST_ONE;
        m->now += (uint64_t)(cost / m->capacity * 1e9);
        blk_iosched_complete(m->s, p.queue);
    }
}

/* Requests (bytes=false) or bytes of the queues in mask dispatched in [t0, t1). */
static double sim_count(const struct sim *m, uint32_t mask, uint64_t t0, uint64_t t1, bool bytes)
{
    double sum = 0;
    for (size_t i = 0; i < m->n; i++)
        if ((mask >> m->ev[i].queue & 1) && m->ev[i].t >= t0 && m->ev[i].t < t1)
            sum += bytes ? m->ev[i].bytes : 1;
    return sum;
}

/* Cost units of queue q dispatched in [t0, t1), per second. */
static double sim_units_rate(const struct sim *m, uint32_t q, uint64_t t0, uint64_t t1)
{
    double sum = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->ev[i].queue == q && m->ev[i].t >= t0 && m->ev[i].t < t1)
            sum += (double)blk_iosched_cost(m->s, m->ev[i].bytes) / BLK_IOSCHED_COST_ONE;
    return sum * 1e9 / (double)(t1 - t0);
}

/* The most requests (or bytes) the queues in mask got in any 1 s window starting at a
 * dispatch in [t0, t1 - 1 s]. */
static double sim_max_window(const struct sim *m, uint32_t mask, uint64_t t0, uint64_t t1, bool bytes)
{
    double best = 0, sum = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < m->n; hi++) {
        if (!(mask >> m->ev[hi].queue & 1) || m->ev[hi].t < t0)
            continue;
        sum += bytes ? m->ev[hi].bytes : 1;
        while (m->ev[lo].t + SEC <= m->ev[hi].t || m->ev[lo].t < t0 || !(mask >> m->ev[lo].queue & 1)) {
            if ((mask >> m->ev[lo].queue & 1) && m->ev[lo].t >= t0)
                sum -= bytes ? m->ev[lo].bytes : 1;
            lo++;
        }
        if (m->ev[hi].t < t1 && sum > best)
            best = sum;
    }
    return best;
}

#define W(w) ((struct blk_iosched_params){.weight = (w)})

/* A reserves 2000 units/s on a device of 10000 saturated by two heavy-weight queues: it
 * gets its reservation (its weight alone would give it under 1%), and they split the rest. */
static void reservation_held(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 10000, 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.reservation = 2000, .weight = 1}, 4096);
    sim_queue(&m, 1, &W(100), 4096);
    sim_queue(&m, 2, &W(100), 65536);
    for (uint32_t q = 0; q < 3; q++)
        sim_active(&m, q, true);
    sim_run(&m, 10 * SEC);
    assert_near(sim_units_rate(&m, 0, 0, 10 * SEC), 2000, 5, "A's reservation");
    assert_near(sim_units_rate(&m, 1, 0, 10 * SEC), 4000, 10, "B's half of the rest");
    assert_near(sim_units_rate(&m, 2, 0, 10 * SEC), 4000, 10, "C's half of the rest (large requests)");
    /* held in every second, not just on average */
    for (uint64_t t = 0; t < 10 * SEC; t += SEC)
        assert_near(sim_units_rate(&m, 0, t, t + SEC), 2000, 5, "A's reservation in one second");
    sim_free(&m);
}

/* A reservation below the weight's share changes nothing: the larger of the two. */
static void reservation_below_share(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 10000, 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.reservation = 1000, .weight = 100}, 4096);
    sim_queue(&m, 1, &W(100), 4096);
    sim_active(&m, 0, true);
    sim_active(&m, 1, true);
    sim_run(&m, 5 * SEC);
    assert_near(sim_units_rate(&m, 0, 0, 5 * SEC), 5000, 5, "A's share");
    assert_near(sim_units_rate(&m, 1, 0, 5 * SEC), 5000, 5, "B's share");
    sim_free(&m);
}

/* A heavy-weight queue limited to 1000 IOPS and one to 8 MB/s: never more than 2% above in
 * any 1 s window, and the limit is used (the device has room). */
static void limit_every_window(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 1000, .limits.total_iops.avg = 1000}, 4096);
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 1000, .limits.total_bytes.avg = 8000000}, 65536);
    sim_queue(&m, 2,
              &(struct blk_iosched_params){.weight = 1000, .limits = {.read_iops.avg = 300, .write_iops.avg = 200}},
              4096);
    sim_queue(&m, 3, &W(1), 4096);
    for (uint32_t q = 0; q < 4; q++)
        sim_active(&m, q, true);
    sim_run(&m, 10 * SEC);
    double a = sim_max_window(&m, 1u << 0, 0, 10 * SEC, false);
    double b = sim_max_window(&m, 1u << 1, 0, 10 * SEC, true);
    if (a > 1020 || a < 990)
        fail_msg("1000 IOPS limit: %.0f in the busiest 1 s window", a);
    if (b > 8000000 * 1.02 || b < 8000000 * 0.97)
        fail_msg("8 MB/s limit: %.0f bytes in the busiest 1 s window", b);
    assert_near(sim_count(&m, 1u << 0, 0, 10 * SEC, false), 10000, 2, "A over 10 s");
    assert_near(sim_count(&m, 1u << 1, 0, 10 * SEC, true), 80000000, 2, "B over 10 s");
    /* read and write limits separately: alternate reads and writes, so writes bound both */
    double c = sim_max_window(&m, 1u << 2, 0, 10 * SEC, false);
    if (c > 400 * 1.02 + 1)
        fail_msg("read 300 + write 200 IOPS, alternating: %.0f in a 1 s window", c);
    /* the unlimited light queue took the rest: the device never idled */
    assert_near(sim_units_rate(&m, 3, 1 * SEC, 10 * SEC), 20000 - 1125 - 2 * 8000000.0 / 65536 * 3 - 400 * 1.125, 5,
                "D takes what the limits leave");
    sim_free(&m);
}

/* Spare capacity (what the reservations leave) split by weight: A holds its reservation
 * of 3000 (its share by weight would be 2500), B and C split the other 7000 2:1. */
static void spare_split_by_weight(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 10000, 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.reservation = 3000, .weight = 1}, 4096);
    sim_queue(&m, 1, &W(2), 16384);
    sim_queue(&m, 2, &W(1), 4096);
    for (uint32_t q = 0; q < 3; q++)
        sim_active(&m, q, true);
    sim_run(&m, 10 * SEC);
    assert_near(sim_units_rate(&m, 0, 0, 10 * SEC), 3000, 5, "A's reservation");
    assert_near(sim_units_rate(&m, 1, 0, 10 * SEC), 7000 * 2 / 3.0, 10, "B's two thirds of the rest");
    assert_near(sim_units_rate(&m, 2, 0, 10 * SEC), 7000 / 3.0, 10, "C's third of the rest");
    sim_free(&m);
}

/* libvirt group_name: disks 0 and 1 in group 1 share 1000 IOPS (each alone would take the
 * device), and a sponsor group 2 over disks 0, 1 and 2 caps the three at 1500. Splitting a
 * disk into two gives no second quota. */
static void group_limits(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 2);
    assert_int_equal(blk_iosched_group_set(m.s, 1, &(struct blk_iotune){.total_iops.avg = 1000}, 0), 0);
    assert_int_equal(blk_iosched_group_set(m.s, 2, &(struct blk_iotune){.total_iops.avg = 1500}, 0), 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 1000, .group = {1, 2}}, 4096);
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 1000, .group = {1, 2}}, 4096);
    sim_queue(&m, 2, &(struct blk_iosched_params){.weight = 1000, .group = {0, 2}}, 4096);
    sim_queue(&m, 3, &W(1), 4096);
    for (uint32_t q = 0; q < 4; q++)
        sim_active(&m, q, true);
    sim_run(&m, 10 * SEC);
    double ab = sim_max_window(&m, 0x3, 0, 10 * SEC, false);
    double abc = sim_max_window(&m, 0x7, 0, 10 * SEC, false);
    if (ab > 1020)
        fail_msg("group of two disks at 1000 IOPS: %.0f in a 1 s window", ab);
    if (abc > 1530)
        fail_msg("sponsor at 1500 IOPS: %.0f in a 1 s window", abc);
    assert_near(sim_count(&m, 0x3, 0, 10 * SEC, false), 10000, 2, "the group's disks over 10 s");
    assert_near(sim_count(&m, 0x1, 0, 10 * SEC, false), 5000, 10, "disk 0's half of the group");
    assert_near(sim_count(&m, 0x4, 0, 10 * SEC, false), 5000, 3, "disk 2: the sponsor's 1500 less the group's 1000");
    sim_free(&m);
}

/* Inside a group held by its limit, the members share by weight (3:1), and a member's
 * reservation is served first: the group's 1000 IOPS go 600 units (533 requests of 4 KiB)
 * to the reserving disk, the rest to the other. */
static void group_shares_by_weight_and_reservation(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 20000, 2);
    assert_int_equal(blk_iosched_group_set(m.s, 1, &(struct blk_iotune){.total_iops.avg = 1000}, 0), 0);
    assert_int_equal(blk_iosched_group_set(m.s, 2, &(struct blk_iotune){.total_iops.avg = 1000}, 0), 0);
    sim_queue(&m, 0, &(struct blk_iosched_params){.weight = 300, .group = {1, 0}}, 4096);
    sim_queue(&m, 1, &(struct blk_iosched_params){.weight = 100, .group = {1, 0}}, 4096);
    sim_queue(&m, 2, &(struct blk_iosched_params){.reservation = 600, .weight = 1, .group = {2, 0}}, 4096);
    sim_queue(&m, 3, &(struct blk_iosched_params){.weight = 1000, .group = {2, 0}}, 4096);
    sim_queue(&m, 4, &W(1), 4096);
    for (uint32_t q = 0; q < 5; q++)
        sim_active(&m, q, true);
    sim_run(&m, 10 * SEC);
    assert_near(sim_count(&m, 1u << 0, 1 * SEC, 10 * SEC, false), 9000 * 0.75, 10, "weight 300 in the group");
    assert_near(sim_count(&m, 1u << 1, 1 * SEC, 10 * SEC, false), 9000 * 0.25, 10, "weight 100 in the group");
    assert_near(sim_count(&m, 1u << 2, 1 * SEC, 10 * SEC, false), 9 * 600 / 1.125, 5, "the reservation in the group");
    assert_near(sim_count(&m, 1u << 3, 1 * SEC, 10 * SEC, false), 9 * (1000 - 600 / 1.125), 10,
                "the rest of the group");
    sim_free(&m);
}

/* total_iops_sec 1000, _max 5000, _max_length 2: a fresh disk goes at 5000 while its burst
 * lasts (max x length = 10000 requests drained at 1000/s: about 2.5 s), then at 1000. */
static void burst_then_limit(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 40000, 0);
    struct blk_iosched_params p = {.weight = 1000, .limits.total_iops = {.avg = 1000, .max = 5000, .max_length_s = 2}};
    sim_queue(&m, 0, &p, 4096);
    sim_queue(&m, 1, &W(1), 4096);
    sim_active(&m, 0, true);
    sim_active(&m, 1, true);
    sim_run(&m, 8 * SEC);
    assert_near(sim_count(&m, 1, 0, 1 * SEC, false), 5000, 2, "the first second, at max");
    assert_near(sim_count(&m, 1, 1 * SEC, 2 * SEC, false), 5000, 2, "the second second, still at max");
    double burst = sim_count(&m, 1, 0, 4 * SEC, false) - 1000 * 4;
    assert_near(burst, 10000, 5, "requests above the average in the burst");
    if (sim_max_window(&m, 1, 0, 8 * SEC, false) > 5000 * 1.02)
        fail_msg("faster than max in a burst");
    for (uint64_t t = 4 * SEC; t < 7 * SEC; t += SEC / 2)
        if (sim_count(&m, 1, t, t + SEC, false) > 1020)
            fail_msg("after the burst: %.0f requests in 1 s from %.1f s", sim_count(&m, 1, t, t + SEC, false), t / 1e9);
    assert_near(sim_count(&m, 1, 5 * SEC, 8 * SEC, false), 3000, 2, "back at the average");
    sim_free(&m);
}

/* Equal weights (100); A runs, sleeps 5 s while B has the device alone, then wakes: it gets half
 * from the first moment, not the 5 s it missed. A reserving queue C that sleeps does not
 * catch up its reservation either. */
static void idle_queue_gets_no_credit(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 10000, 0);
    sim_queue(&m, 0, &W(100), 4096);
    sim_queue(&m, 1, &W(100), 4096);
    sim_queue(&m, 2, &(struct blk_iosched_params){.reservation = 1000, .weight = 1}, 4096);
    sim_active(&m, 0, true);
    sim_active(&m, 1, true);
    sim_active(&m, 2, true);
    sim_run(&m, 2 * SEC);
    sim_active(&m, 0, false);
    sim_active(&m, 2, false);
    sim_run(&m, 7 * SEC);
    assert_true(sim_count(&m, 0x5, 3 * SEC, 7 * SEC, false) == 0);
    sim_active(&m, 0, true);
    sim_active(&m, 2, true);
    uint64_t wake = m.now;
    sim_run(&m, 10 * SEC);
    /* C (weight 1 of 201: its reservation is what it gets) is paced from the wake-up, 1000
     * units/s, not the 5000 units it missed */
    double c = sim_units_rate(&m, 2, wake, wake + 10 * MS);
    if (c > 1000 * 1.2 + 1.125 / 0.01)
        fail_msg("C caught up after sleeping: %.0f units/s in the first 10 ms", c);
    assert_near(sim_units_rate(&m, 2, wake, wake + SEC), 1000, 5, "C after waking: its reservation");
    for (uint64_t t = wake; t < wake + 100 * MS; t += 20 * MS) {
        double a = sim_count(&m, 0x1, t, t + 20 * MS, false), b = sim_count(&m, 0x2, t, t + 20 * MS, false);
        assert_near(a / (a + b), 0.5, 10, "A's part of A and B in 20 ms after waking");
    }
    sim_free(&m);
}

/* Live changes: A's limit from 2000 to 500 IOPS, then its weight from 1 to 3 against B's 1. */
static void set_params_live(void **state)
{
    (void)state;
    struct sim m;
    sim_init(&m, 10000, 0);
    struct blk_iosched_params a = {.weight = 1, .limits.total_iops.avg = 2000};
    sim_queue(&m, 0, &a, 4096);
    sim_queue(&m, 1, &W(1), 4096);
    sim_active(&m, 0, true);
    sim_active(&m, 1, true);
    sim_run(&m, 2 * SEC);
    assert_near(sim_count(&m, 1, 1 * SEC, 2 * SEC, false), 2000, 2, "A at 2000");
    a.limits.total_iops.avg = 500;
    assert_int_equal(blk_iosched_queue_set(m.s, 0, &a, m.now), 0);
    sim_run(&m, 4 * SEC);
    if (sim_max_window(&m, 1, 2 * SEC + 20 * MS, 4 * SEC, false) > 510)
        fail_msg("A above 500 after the change: %.0f", sim_max_window(&m, 1, 2 * SEC + 20 * MS, 4 * SEC, false));
    a.limits.total_iops.avg = 0;
    a.weight = 3;
    assert_int_equal(blk_iosched_queue_set(m.s, 0, &a, m.now), 0);
    struct blk_iosched_params got;
    assert_int_equal(blk_iosched_queue_get(m.s, 0, &got), 0);
    assert_int_equal(got.weight, 3);
    sim_run(&m, 6 * SEC);
    double x = sim_count(&m, 1, 4 * SEC + 100 * MS, 6 * SEC, false),
           y = sim_count(&m, 2, 4 * SEC + 100 * MS, 6 * SEC, false);
    assert_near(x / (x + y), 0.75, 5, "A's part at weight 3 against 1");
    sim_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reservation_held),   cmocka_unit_test(reservation_below_share),
        cmocka_unit_test(limit_every_window), cmocka_unit_test(spare_split_by_weight),
        cmocka_unit_test(group_limits),       cmocka_unit_test(group_shares_by_weight_and_reservation),
        cmocka_unit_test(burst_then_limit),   cmocka_unit_test(idle_queue_gets_no_credit),
        cmocka_unit_test(set_params_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
