/* Bandwidth control (src/net/qos.c) on virtual time: a simulated backend sends as fast as
 * the QoS lets it, jumping the clock to the retry time it is given, so a simulated second
 * takes microseconds and the figures are exact. Limits within 2% of what is configured,
 * bursts and peaks, round-robin shares by weight, floors against heavy competitors, live
 * changes, no starvation, and the refusals of settings that cannot be kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "net/qos.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define KIB 1024ull
#define NPORTS 8

/* Is got within pct percent of want? Fails with both figures if not. */
static void assert_near(double got, double want, double pct, const char *what)
{
    double lo = want * (1 - pct / 100), hi = want * (1 + pct / 100);
    if (got < lo || got > hi)
        fail_msg("%s: got %.0f, want %.0f +- %.1f%%", what, got, want, pct);
}

/* --- one port against its own limit --- */

/* A greedy sender of frame-byte frames on port p in dir from t0 to t1: sends whenever
 * allowed, else jumps to the ready time. Returns bytes sent at times in [from, t1). */
static uint64_t greedy(struct net_qos *q, unsigned p, enum net_qos_dir dir, size_t frame, uint64_t t0, uint64_t from,
                       uint64_t t1)
{
    uint64_t t = t0, bytes = 0;
    while (t < t1) {
        if (net_qos_may_send(q, p, dir, t)) {
            net_qos_charge(q, p, dir, frame, t);
            if (t >= from)
                bytes += frame;
            continue;
        }
        uint64_t next = net_qos_ready_at(q, p, dir, t);
        assert_true(next > t);
        /* Exact: not ready one nanosecond before the time it names. */
        assert_false(net_qos_may_send(q, p, dir, next - 1));
        t = next;
    }
    return bytes;
}

static void average_limit_accuracy(void **state)
{
    (void)state;
    const uint64_t rates[] = {8, 100, 1000, 12500, 125000, 1250000}; /* KiB/s: 64 kbit/s to 10 Gbit/s */
    const size_t frames[] = {60, 1514, 9014, 65536};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++)
        for (size_t fsz = 0; fsz < sizeof(frames) / sizeof(frames[0]); fsz++)
            for (int dir = 0; dir < 2; dir++) {
                struct net_qos *q;
                assert_int_equal(net_qos_create(NPORTS, 0, 0, &q), 0);
                struct net_qos_port_config c = {0};
                struct net_qos_limit l = {.average_kib = rates[r], .burst_kib = 64};
                if (dir == NET_QOS_INBOUND)
                    c.inbound = l;
                else
                    c.outbound = l;
                assert_int_equal(net_qos_port_set(q, 3, &c, 0), 0);
                /* The greedy sender spends the burst at once; then the steady rate is
                 * measured over a window long enough that one frame is at most 1% of it
                 * (a second, or up to 800 s for 64 KiB frames at 8 KiB/s). Cases of more
                 * than a million frames (tiny frames at gigabytes per second) are left to
                 * the benchmark: they would only take time here. */
                uint64_t window = (frames[fsz] * 100 + rates[r] * KIB - 1) / (rates[r] * KIB);
                if (window < 1)
                    window = 1;
                if (rates[r] * KIB * window / frames[fsz] > 1000000) {
                    net_qos_destroy(q);
                    continue;
                }
                uint64_t from = SEC / 10;
                uint64_t got = greedy(q, 3, dir, frames[fsz], 0, from, from + window * SEC);
                char what[96];
                snprintf(what, sizeof(what), "%s %llu KiB/s, %zu-byte frames", dir ? "outbound" : "inbound",
                         (unsigned long long)rates[r], frames[fsz]);
                assert_near((double)got, (double)(rates[r] * KIB * window), 2, what);
                /* The other direction is unlimited. */
                assert_true(net_qos_may_send(q, 3, !dir, 5 * SEC));
                net_qos_destroy(q);
            }
}

static void burst_allowance(void **state)
{
    (void)state;
    struct net_qos *q;
    assert_int_equal(net_qos_create(NPORTS, 0, 0, &q), 0);
    /* 10 KiB/s with a 100 KiB burst: at once, 100 KiB (plus the one frame that may
     * overrun), then 10 KiB/s. */
    struct net_qos_port_config c = {.outbound = {.average_kib = 10, .burst_kib = 100}};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), 0);
    uint64_t at_once = 0;
    while (net_qos_may_send(q, 0, NET_QOS_OUTBOUND, 0)) {
        net_qos_charge(q, 0, NET_QOS_OUTBOUND, 1000, 0);
        at_once += 1000;
    }
    assert_int_equal(at_once, 103000); /* 102400 bytes: 103 frames, the last one overrunning */
    /* It then takes 600 bytes of debt / 10240 B/s = 58.6 ms before the next frame. */
    uint64_t ready = net_qos_ready_at(q, 0, NET_QOS_OUTBOUND, 0);
    assert_int_equal(ready, (600 * SEC + 10239) / 10240);
    /* Idle for a minute: the bucket fills to its depth, not beyond. */
    uint64_t again = greedy(q, 0, NET_QOS_OUTBOUND, 1000, 60 * SEC, 60 * SEC, 60 * SEC + 1);
    assert_int_equal(again, 103000);
    /* An idle hour is no overflow either. */
    again = greedy(q, 0, NET_QOS_OUTBOUND, 1000, 3600 * SEC, 3600 * SEC, 3600 * SEC + 1);
    assert_int_equal(again, 103000);

    /* Burst 0: NET_QOS_DEFAULT_BURST_NS (10 ms) of average: 10240 B/s -> 102 bytes. */
    c.outbound.burst_kib = 0;
    c.outbound.average_kib = 1000; /* 1024000 B/s -> 10240 bytes */
    assert_int_equal(net_qos_port_set(q, 1, &c, 0), 0);
    at_once = 0;
    while (net_qos_may_send(q, 1, NET_QOS_OUTBOUND, 0)) {
        net_qos_charge(q, 1, NET_QOS_OUTBOUND, 1024, 0);
        at_once += 1024;
    }
    assert_int_equal(at_once, 11264); /* 10 frames fill it, the 11th overruns */
    net_qos_destroy(q);
}

static void peak_rate(void **state)
{
    (void)state;
    struct net_qos *q;
    assert_int_equal(net_qos_create(NPORTS, 0, 0, &q), 0);
    /* average 1000 KiB/s, peak 4000 KiB/s, burst 600 KiB: the burst is spent at the peak
     * rate, in 600 / (4000 - 1000) = 200 ms, then the average holds. */
    struct net_qos_port_config c = {.outbound = {.average_kib = 1000, .peak_kib = 4000, .burst_kib = 600}};
    assert_int_equal(net_qos_port_set(q, 2, &c, 0), 0);
    uint64_t first = greedy(q, 2, NET_QOS_OUTBOUND, 1514, 0, 0, 100 * MS);
    /* 100 ms at the peak, plus the peak bucket's 1 ms. */
    assert_near((double)first, 4000.0 * KIB * 0.101, 2, "first 100 ms at peak");
    uint64_t rest = greedy(q, 2, NET_QOS_OUTBOUND, 1514, 100 * MS, 100 * MS, 200 * MS);
    assert_near((double)rest, 4000.0 * KIB * 0.1, 2, "second 100 ms at peak");
    uint64_t after = greedy(q, 2, NET_QOS_OUTBOUND, 1514, 200 * MS, 1 * SEC, 2 * SEC);
    assert_near((double)after, 1000.0 * KIB, 2, "after the burst, the average");
    /* Without a peak the whole burst goes at once. */
    c.outbound.peak_kib = 0;
    assert_int_equal(net_qos_port_set(q, 3, &c, 0), 0);
    uint64_t burst = greedy(q, 3, NET_QOS_OUTBOUND, 1514, 0, 0, 1);
    assert_true(burst >= 600 * KIB && burst < 600 * KIB + 1514);
    net_qos_destroy(q);
}

static void live_limit_change(void **state)
{
    (void)state;
    struct net_qos *q;
    assert_int_equal(net_qos_create(NPORTS, 0, 0, &q), 0);
    struct net_qos_port_config c = {.inbound = {.average_kib = 2000, .burst_kib = 16}};
    assert_int_equal(net_qos_port_set(q, 4, &c, 0), 0);
    uint64_t a = greedy(q, 4, NET_QOS_INBOUND, 1514, 0, SEC, 2 * SEC);
    assert_near((double)a, 2000.0 * KIB, 2, "before the change");
    /* Down to 500 KiB/s at 2 s: the next second has 500 KiB/s. */
    c.inbound.average_kib = 500;
    assert_int_equal(net_qos_port_set(q, 4, &c, 2 * SEC), 0);
    uint64_t b = greedy(q, 4, NET_QOS_INBOUND, 1514, 2 * SEC, 2 * SEC, 3 * SEC);
    assert_near((double)b, 500.0 * KIB, 2, "after lowering");
    /* Up to 8000 KiB/s. */
    c.inbound.average_kib = 8000;
    assert_int_equal(net_qos_port_set(q, 4, &c, 3 * SEC), 0);
    uint64_t d = greedy(q, 4, NET_QOS_INBOUND, 1514, 3 * SEC, 3 * SEC, 4 * SEC);
    assert_near((double)d, 8000.0 * KIB, 2, "after raising");
    /* Removing the limit: anything goes; setting one again starts with a full bucket. */
    c.inbound.average_kib = 0;
    assert_int_equal(net_qos_port_set(q, 4, &c, 4 * SEC), 0);
    for (int i = 0; i < 1000; i++) {
        assert_true(net_qos_may_send(q, 4, NET_QOS_INBOUND, 4 * SEC));
        net_qos_charge(q, 4, NET_QOS_INBOUND, 65536, 4 * SEC);
    }
    c.inbound.average_kib = 100;
    assert_int_equal(net_qos_port_set(q, 4, &c, 4 * SEC), 0);
    assert_int_equal(greedy(q, 4, NET_QOS_INBOUND, 1024, 4 * SEC, 4 * SEC, 4 * SEC + 1), 17 * 1024);
    struct net_qos_port_config got;
    assert_int_equal(net_qos_port_get(q, 4, &got), 0);
    assert_int_equal(got.inbound.average_kib, 100);
    assert_int_equal(got.weight, NET_QOS_WEIGHT_DEFAULT);
    net_qos_destroy(q);
}

/* --- the uplink: a simulated backend whose ports always have frames --- */

struct sim {
    struct net_qos *q;
    uint64_t now;
    size_t frame[NPORTS];
    uint64_t sent[NPORTS]; /* bytes at times >= count_from */
    uint64_t count_from;
    uint64_t max_gap[NPORTS]; /* longest wait between two sends of a port */
    uint64_t last_sent[NPORTS];
};

static void sim_run(struct sim *s, uint64_t until)
{
    while (s->now < until) {
        uint64_t retry = 0;
        int p = net_qos_uplink_next(s->q, s->now, &retry);
        if (p < 0) {
            assert_int_equal(p, -EAGAIN);
            if (retry == UINT64_MAX)
                return;
            assert_true(retry > s->now);
            s->now = retry;
            continue;
        }
        assert_true(p < NPORTS);
        /* Asking again without sending names the same port. */
        assert_int_equal(net_qos_uplink_next(s->q, s->now, &retry), p);
        net_qos_uplink_sent(s->q, (unsigned)p, s->frame[p], s->now);
        if (s->now >= s->count_from) {
            s->sent[p] += s->frame[p];
            if (s->last_sent[p] && s->now - s->last_sent[p] > s->max_gap[p])
                s->max_gap[p] = s->now - s->last_sent[p];
            s->last_sent[p] = s->now;
        }
    }
}

static void sim_init(struct sim *s, uint64_t uplink_kib)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(net_qos_create(NPORTS, uplink_kib, 0, &s->q), 0);
    for (int i = 0; i < NPORTS; i++)
        s->frame[i] = 1514;
}

static void sim_port(struct sim *s, unsigned p, uint32_t weight, uint64_t floor_kib, uint64_t out_avg_kib)
{
    struct net_qos_port_config c = {.weight = weight, .floor_kib = floor_kib, .outbound = {.average_kib = out_avg_kib}};
    int rc = net_qos_port_set(s->q, p, &c, s->now);
    if (rc != 0)
        fail_msg("port %u: %s", p, err_msg());
    net_qos_uplink_pending(s->q, p, true);
}

/* Measure the second after a one-second warm-up. */
static void sim_measure(struct sim *s)
{
    s->count_from = s->now + SEC;
    memset(s->sent, 0, sizeof(s->sent));
    sim_run(s, s->now + 2 * SEC);
}

static void uplink_capacity_kept(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    sim_port(&s, 0, 1, 0, 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 10000.0 * KIB, 2, "one port alone fills the uplink");
    net_qos_destroy(s.q);
}

static void weights_share_by_weight(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    sim_port(&s, 1, 1, 0, 0);
    sim_port(&s, 2, 2, 0, 0);
    sim_port(&s, 5, 3, 0, 0);
    s.frame[2] = 60;   /* small frames do not buy more bytes */
    s.frame[5] = 9014; /* nor do jumbo ones */
    sim_measure(&s);
    double total = 10000.0 * KIB;
    assert_near((double)s.sent[1], total / 6, 2, "weight 1 of 6");
    assert_near((double)s.sent[2], total * 2 / 6, 2, "weight 2 of 6");
    assert_near((double)s.sent[5], total * 3 / 6, 2, "weight 3 of 6");
    /* A port that goes idle leaves its share to the others. */
    net_qos_uplink_pending(s.q, 5, false);
    sim_measure(&s);
    assert_int_equal(s.sent[5], 0);
    assert_near((double)s.sent[1], total / 3, 2, "weight 1 of 3");
    assert_near((double)s.sent[2], total * 2 / 3, 2, "weight 2 of 3");
    /* Live weight change: 1 -> 6 against 2. */
    struct net_qos_port_config c = {.weight = 6};
    assert_int_equal(net_qos_port_set(s.q, 1, &c, s.now), 0);
    sim_measure(&s);
    assert_near((double)s.sent[1], total * 6 / 8, 2, "weight 6 of 8 after the change");
    assert_near((double)s.sent[2], total * 2 / 8, 2, "weight 2 of 8 after the change");
    net_qos_destroy(s.q);
}

/* Turns are scaled to the lightest waiting port: two ports of weight 1000 alternate in
 * turns of one quantum, not of 1000 quanta (16 MiB, 1.6 s of this uplink) each; and when a
 * port of weight 1 joins, the heavy ones' turns grow to keep the 1:1000 ratio. */
static void turns_scale_to_the_lightest(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    sim_port(&s, 0, 1000, 0, 0);
    sim_port(&s, 1, 1000, 0, 0);
    unsigned run = 0, longest = 0;
    int last = -1;
    uint64_t retry;
    for (int i = 0; i < 20000; i++) {
        int p = net_qos_uplink_next(s.q, s.now, &retry);
        if (p < 0) {
            s.now = retry;
            continue;
        }
        run = p == last ? run + 1 : 1;
        last = p;
        if (run > longest)
            longest = run;
        net_qos_uplink_sent(s.q, (unsigned)p, 1514, s.now);
    }
    /* One quantum is 16384 / 1514 = 10.8 frames: 11 in a row at most. */
    assert_int_equal(longest, (NET_QOS_QUANTUM + 1513) / 1514);
    sim_port(&s, 2, 1, 0, 0);
    /* A round is now 2001 quanta, 3.2 s here (its share is no_starvation's business). */
    s.count_from = s.now;
    memset(s.sent, 0, sizeof(s.sent));
    sim_run(&s, s.now + 8 * SEC);
    assert_true(s.sent[2] > 0);
    assert_true(s.sent[0] >= 1000 * NET_QOS_QUANTUM);
    /* It leaves; the heavy ones are back to short turns. */
    net_qos_uplink_pending(s.q, 2, false);
    longest = 0;
    last = -1;
    for (int i = 0; i < 20000; i++) {
        int p = net_qos_uplink_next(s.q, s.now, &retry);
        if (p < 0) {
            s.now = retry;
            continue;
        }
        run = p == last ? run + 1 : 1;
        last = p;
        if (run > longest)
            longest = run;
        net_qos_uplink_sent(s.q, (unsigned)p, 1514, s.now);
    }
    /* (the first turn after the change may still be a long one granted before it) */
    assert_true(longest <= 1000 * ((NET_QOS_QUANTUM + 1513) / 1514));
    unsigned long_runs = 0;
    run = 0;
    last = -1;
    for (int i = 0; i < 20000; i++) {
        int p = net_qos_uplink_next(s.q, s.now, &retry);
        if (p < 0) {
            s.now = retry;
            continue;
        }
        run = p == last ? run + 1 : 1;
        last = p;
        if (run > (NET_QOS_QUANTUM + 1513) / 1514)
            long_runs++;
        net_qos_uplink_sent(s.q, (unsigned)p, 1514, s.now);
    }
    assert_int_equal(long_runs, 0);
    net_qos_destroy(s.q);
}

static void floor_kept_against_heavy_competitors(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    /* Port 0 is promised 4000 KiB/s; three others weigh 1000 times as much. */
    sim_port(&s, 0, 1, 4000, 0);
    sim_port(&s, 1, 1000, 0, 0);
    sim_port(&s, 2, 1000, 0, 0);
    sim_port(&s, 3, 1000, 0, 0);
    s.frame[1] = 65536;
    sim_measure(&s);
    assert_near((double)s.sent[0], 4000.0 * KIB, 2, "the floor under contention");
    /* The rest goes to the others (each heavy turn is 16 MiB, so their split is only
     * even over several seconds). */
    assert_near((double)(s.sent[1] + s.sent[2] + s.sent[3]), 6000.0 * KIB, 2, "the heavy competitors' rest");

    /* Equal weights: without the floor port 0 would get a quarter (2500); with a floor of
     * 4000 it gets 4000 and the others split the remaining 6000. */
    for (unsigned p = 1; p <= 3; p++)
        assert_int_equal(net_qos_port_set(s.q, p, &(struct net_qos_port_config){.weight = 1}, s.now), 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 4000.0 * KIB, 2, "floor with equal weights");
    assert_near((double)s.sent[2], 2000.0 * KIB, 2, "an equal competitor");
    /* A floor below the fair share changes nothing: 1000 floor, a quarter is 2500. */
    assert_int_equal(net_qos_port_set(s.q, 0, &(struct net_qos_port_config){.weight = 1, .floor_kib = 1000}, s.now), 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 2500.0 * KIB, 2, "fair share above the floor");
    assert_near((double)s.sent[3], 2500.0 * KIB, 2, "fair share of a competitor");
    net_qos_destroy(s.q);
}

static void floors_of_several_ports(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    /* Floors adding up to the whole capacity: each gets exactly its floor, the port
     * without one gets what the round robin finds left (nothing much). */
    sim_port(&s, 0, 1, 5000, 0);
    sim_port(&s, 1, 1, 3000, 0);
    sim_port(&s, 2, 1, 2000, 0);
    sim_port(&s, 3, 100, 0, 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 5000.0 * KIB, 2, "floor 5000");
    assert_near((double)s.sent[1], 3000.0 * KIB, 2, "floor 3000");
    assert_near((double)s.sent[2], 2000.0 * KIB, 2, "floor 2000");
    net_qos_destroy(s.q);
}

static void own_limit_and_work_conservation(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 10000);
    /* Port 0 weighs 10 but may only send 1000 KiB/s: the others take the rest. */
    sim_port(&s, 0, 10, 0, 1000);
    sim_port(&s, 1, 1, 0, 0);
    sim_port(&s, 2, 1, 0, 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 1000.0 * KIB, 2, "own limit");
    assert_near((double)s.sent[1], 4500.0 * KIB, 2, "rest, half");
    assert_near((double)s.sent[2], 4500.0 * KIB, 2, "rest, other half");
    /* A limit on every port below the capacity: the uplink idles, retry times say when. */
    net_qos_uplink_pending(s.q, 1, false);
    net_qos_uplink_pending(s.q, 2, false);
    sim_measure(&s);
    assert_near((double)s.sent[0], 1000.0 * KIB, 2, "alone under its own limit");
    /* Live change of the uplink: down to 500 KiB/s, below port 0's limit. */
    assert_int_equal(net_qos_set_uplink(s.q, 500, s.now), 0);
    sim_measure(&s);
    assert_near((double)s.sent[0], 500.0 * KIB, 2, "uplink lowered live");
    net_qos_destroy(s.q);
}

static void no_starvation(void **state)
{
    (void)state;
    struct sim s;
    sim_init(&s, 100000);
    sim_port(&s, 0, 1, 0, 0);
    sim_port(&s, 1, NET_QOS_WEIGHT_MAX, 0, 0);
    sim_port(&s, 2, NET_QOS_WEIGHT_MAX, 0, 0);
    s.frame[1] = s.frame[2] = 65536; /* the heavy ports send the largest frames */
    s.count_from = s.now + SEC;
    sim_run(&s, s.now + 11 * SEC);
    double total = 100000.0 * KIB * 10;
    assert_near((double)s.sent[0], total / (1 + 2 * NET_QOS_WEIGHT_MAX), 5, "the weight-1 port's share");
    /* It gets frames out every round: a round is (1 + 2 x 1000) quanta of 16 KiB at
     * 100000 KiB/s, about 0.32 s; allow the heavy ports' overrun. */
    uint64_t round_ns = (uint64_t)((1 + 2.0 * NET_QOS_WEIGHT_MAX) * NET_QOS_QUANTUM / (100000.0 * KIB) * SEC);
    assert_true(s.max_gap[0] > 0);
    assert_true(s.max_gap[0] <= round_ns * 11 / 10);
    net_qos_destroy(s.q);
}

static void pending_and_retry(void **state)
{
    (void)state;
    struct net_qos *q;
    uint64_t retry = 0;
    assert_int_equal(net_qos_create(NPORTS, 1000, 0, &q), 0);
    /* Nothing pending: no retry time. */
    assert_int_equal(net_qos_uplink_next(q, 0, &retry), -EAGAIN);
    assert_int_equal(retry, UINT64_MAX);
    /* A port without settings cannot be marked pending. */
    net_qos_uplink_pending(q, 6, true);
    assert_int_equal(net_qos_uplink_next(q, 0, &retry), -EAGAIN);
    assert_int_equal(retry, UINT64_MAX);
    assert_int_equal(net_qos_port_set(q, 6, &(struct net_qos_port_config){.outbound = {.average_kib = 1}}, 0), 0);
    assert_int_equal(net_qos_port_set(q, 7, &(struct net_qos_port_config){0}, 0), 0);
    net_qos_uplink_pending(q, 6, true);
    net_qos_uplink_pending(q, 6, true); /* twice is once */
    assert_int_equal(net_qos_uplink_next(q, 0, &retry), 6);
    /* Port 6's own limit (1 KiB/s, 10 ms = 10 bytes of burst): one frame and it waits. */
    net_qos_uplink_sent(q, 6, 1034, 0);
    assert_int_equal(net_qos_uplink_next(q, 0, &retry), -EAGAIN);
    /* The debt: 1034 bytes less the 10.24 held, in nanobytes, paid at 1024 B/s. */
    uint64_t debt = 1034 * SEC - 1024 * 10 * MS;
    assert_int_equal(retry, (debt + 1023) / 1024);
    assert_int_equal(net_qos_uplink_next(q, retry - 1, &retry), -EAGAIN);
    assert_int_equal(net_qos_uplink_next(q, SEC, &retry), 6);
    /* The uplink itself: 1000 KiB/s holding 2 ms (2048 bytes). Port 7 is unlimited. */
    net_qos_uplink_pending(q, 6, false);
    net_qos_uplink_pending(q, 7, true);
    assert_int_equal(net_qos_uplink_next(q, SEC, &retry), 7);
    net_qos_uplink_sent(q, 7, 2048 + 1024000, SEC); /* charged as NET_QOS_MAX_FRAME */
    assert_int_equal(net_qos_uplink_next(q, SEC, &retry), -EAGAIN);
    assert_int_equal(retry, SEC + ((65536ull - 2048) * SEC + 1023999) / 1024000);
    assert_int_equal(net_qos_uplink_next(q, retry, &retry), 7);
    /* Removing a pending port takes it out of the round. */
    assert_int_equal(net_qos_port_remove(q, 7), 0);
    assert_int_equal(net_qos_uplink_next(q, 10 * SEC, &retry), -EAGAIN);
    assert_int_equal(retry, UINT64_MAX);
    assert_int_equal(net_qos_port_remove(q, 7), -ENOENT);
    assert_false(net_qos_may_send(q, 7, NET_QOS_OUTBOUND, 0));
    assert_int_equal(net_qos_ready_at(q, 7, NET_QOS_OUTBOUND, 0), UINT64_MAX);
    net_qos_charge(q, 7, NET_QOS_OUTBOUND, 100, 0); /* ignored */
    net_qos_uplink_sent(q, 7, 100, 0);              /* ignored */
    net_qos_destroy(q);
}

static void refusals(void **state)
{
    (void)state;
    struct net_qos *q;
    assert_int_equal(net_qos_create(0, 0, 0, &q), -EINVAL);
    assert_int_equal(net_qos_create(NPORTS, NET_QOS_MAX_RATE_KIB + 1, 0, &q), -EINVAL);
    assert_int_equal(net_qos_create(NPORTS, 0, 0, &q), 0);
    struct net_qos_port_config c = {.floor_kib = 10};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "needs an uplink capacity"));
    assert_int_equal(net_qos_port_set(q, NPORTS, &(struct net_qos_port_config){0}, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "out of range"));
    c = (struct net_qos_port_config){.outbound = {.average_kib = 100, .peak_kib = 50}};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "peak 50 KiB/s below average 100"));
    c = (struct net_qos_port_config){.inbound = {.average_kib = 100, .burst_kib = NET_QOS_MAX_BURST_KIB + 1}};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "burst"));
    c = (struct net_qos_port_config){.inbound = {.average_kib = NET_QOS_MAX_RATE_KIB + 1}};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -EINVAL);
    c = (struct net_qos_port_config){.weight = NET_QOS_WEIGHT_MAX + 1};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "weight"));
    assert_int_equal(net_qos_port_get(q, 0, &c), -ENOENT);

    assert_int_equal(net_qos_set_uplink(q, 1000, 0), 0);
    c = (struct net_qos_port_config){.floor_kib = 600};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), 0);
    assert_int_equal(net_qos_port_set(q, 1, &c, 0), -ENOSPC);
    assert_non_null(strstr(err_msg(), "600 KiB/s promised"));
    c.floor_kib = 400;
    assert_int_equal(net_qos_port_set(q, 1, &c, 0), 0);
    /* Changing port 0's own floor counts only the others. */
    c.floor_kib = 600;
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), 0);
    c.floor_kib = 601;
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), -ENOSPC);
    /* A floor above the port's own outbound average. */
    c = (struct net_qos_port_config){.floor_kib = 300, .outbound = {.average_kib = 200}};
    assert_int_equal(net_qos_port_set(q, 1, &c, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "above its outbound average"));
    /* The uplink cannot shrink below the floors, nor become unlimited under them. */
    assert_int_equal(net_qos_set_uplink(q, 999, 0), -ENOSPC);
    assert_int_equal(net_qos_set_uplink(q, 0, 0), -EINVAL);
    assert_int_equal(net_qos_set_uplink(q, 1000, 0), 0);
    /* Removing a port frees its floor. */
    assert_int_equal(net_qos_port_remove(q, 1), 0);
    c = (struct net_qos_port_config){.floor_kib = 400};
    assert_int_equal(net_qos_port_set(q, 2, &c, 0), 0);
    net_qos_destroy(q);
}

/* The largest rates and bursts, an hour idle, a debt of many frames: no overflow (UBSan
 * traps signed overflow) and still exact. */
static void extremes(void **state)
{
    (void)state;
    struct net_qos *q;
    assert_int_equal(net_qos_create(NPORTS, NET_QOS_MAX_RATE_KIB, 0, &q), 0);
    struct net_qos_port_config c = {.outbound = {.average_kib = NET_QOS_MAX_RATE_KIB,
                                                 .peak_kib = NET_QOS_MAX_RATE_KIB,
                                                 .burst_kib = NET_QOS_MAX_BURST_KIB},
                                    .inbound = {.average_kib = 1, .burst_kib = 1},
                                    .floor_kib = NET_QOS_MAX_RATE_KIB / 2,
                                    .weight = NET_QOS_WEIGHT_MAX};
    assert_int_equal(net_qos_port_set(q, 0, &c, 0), 0);
    net_qos_uplink_pending(q, 0, true);
    uint64_t retry;
    assert_true(net_qos_may_send(q, 0, NET_QOS_INBOUND, 0));
    for (uint64_t t = 0; t < 4; t++) {
        uint64_t now = t * 3600 * SEC;
        assert_int_equal(net_qos_uplink_next(q, now, &retry), 0);
        net_qos_uplink_sent(q, 0, 65536, now);
        for (int i = 0; i < 1000; i++)
            net_qos_charge(q, 0, NET_QOS_INBOUND, 1 << 30, now);
    }
    /* 1 KiB/s, 1000 frames charged as 64 KiB each, 4 times over, with 3 hours (10.5 MiB
     * of refill) between: still in debt, and ready exactly when it is paid. */
    uint64_t now = 3 * 3600 * SEC;
    uint64_t ready = net_qos_ready_at(q, 0, NET_QOS_INBOUND, now);
    assert_true(ready > now);
    /* Time going backwards (another clock) is ignored, neither a refill nor a debt. */
    assert_false(net_qos_may_send(q, 0, NET_QOS_INBOUND, 0));
    assert_int_equal(net_qos_ready_at(q, 0, NET_QOS_INBOUND, now), ready);
    assert_false(net_qos_may_send(q, 0, NET_QOS_INBOUND, ready - 1));
    assert_true(net_qos_may_send(q, 0, NET_QOS_INBOUND, ready));
    net_qos_destroy(q);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Random settings, changed live at random times, random frame sizes, ports going idle and
 * busy: nothing the scheduler answers breaks a rule. No port sends more than its limit
 * allows (burst + average x time + one frame, per stretch between changes), the uplink
 * never more than its capacity, only pending ports are named, retry times lie ahead, and
 * a port that stays busy under a floor gets it. */
static void random_settings_keep_the_rules(void **state)
{
    (void)state;
    uint32_t seed = 99;
    for (int round = 0; round < 40; round++) {
        struct sim s;
        uint64_t cap_kib = 1000 + lcg(&seed) % 20000;
        sim_init(&s, cap_kib);
        struct net_qos_port_config cfg[NPORTS];
        bool pending[NPORTS] = {0};
        uint64_t floors = 0;
        for (unsigned p = 0; p < NPORTS; p++) {
            struct net_qos_port_config c = {.weight = 1 + lcg(&seed) % NET_QOS_WEIGHT_MAX};
            if (lcg(&seed) % 2) {
                c.outbound.average_kib = 100 + lcg(&seed) % 10000;
                c.outbound.burst_kib = lcg(&seed) % 3 ? lcg(&seed) % 512 : 0;
                if (lcg(&seed) % 2)
                    c.outbound.peak_kib = c.outbound.average_kib * (1 + lcg(&seed) % 4);
            }
            if (lcg(&seed) % 3 == 0) {
                uint64_t f = 1 + lcg(&seed) % (cap_kib / 4);
                if ((!c.outbound.average_kib || f <= c.outbound.average_kib) && floors + f <= cap_kib) {
                    c.floor_kib = f;
                    floors += f;
                }
            }
            assert_int_equal(net_qos_port_set(s.q, p, &c, 0), 0);
            cfg[p] = c;
            s.frame[p] = 60 + lcg(&seed) % 9000;
            pending[p] = lcg(&seed) % 4 != 0;
            net_qos_uplink_pending(s.q, p, pending[p]);
        }
        /* One stretch of 2 s with no changes: check the limits over it. */
        uint64_t t0 = 0, sent0[NPORTS] = {0}, total0 = 0;
        uint64_t steps = 0;
        while (s.now < 2 * SEC) {
            uint64_t retry;
            int p = net_qos_uplink_next(s.q, s.now, &retry);
            if (p < 0) {
                assert_int_equal(p, -EAGAIN);
                if (retry == UINT64_MAX)
                    break;
                assert_true(retry > s.now);
                s.now = retry;
                continue;
            }
            assert_true(p < NPORTS && pending[p]);
            net_qos_uplink_sent(s.q, (unsigned)p, s.frame[p], s.now);
            sent0[p] += s.frame[p];
            total0 += s.frame[p];
            if (++steps % 97 == 0 && (lcg(&seed) % 8) == 0) {
                /* Toggle a port that has no floor (floors are checked below). */
                unsigned q = lcg(&seed) % NPORTS;
                if (!cfg[q].floor_kib) {
                    pending[q] = !pending[q];
                    net_qos_uplink_pending(s.q, q, pending[q]);
                }
            }
        }
        double secs = (double)(s.now - t0) / SEC;
        double cap = (double)cap_kib * KIB;
        assert_true((double)total0 <= cap * secs + cap * 0.002 + NET_QOS_MAX_FRAME);
        for (unsigned p = 0; p < NPORTS; p++) {
            const struct net_qos_limit *l = &cfg[p].outbound;
            if (l->average_kib) {
                double burst = l->burst_kib ? (double)l->burst_kib * KIB : (double)l->average_kib * KIB * 0.01;
                assert_true((double)sent0[p] <= burst + (double)l->average_kib * KIB * secs + (double)s.frame[p]);
            }
            /* A port under a floor that was busy all along got it (less one floor bucket's
             * 10 ms and a frame). */
            if (cfg[p].floor_kib && pending[p]) {
                double want = (double)cfg[p].floor_kib * KIB * (secs - 0.01) - (double)s.frame[p];
                if ((double)sent0[p] < want * 0.98)
                    fail_msg("round %d port %u: floor %llu KiB/s, got %.0f bytes in %.2f s", round, p,
                             (unsigned long long)cfg[p].floor_kib, (double)sent0[p], secs);
            }
        }
        /* Live changes: new random settings for every port, then another second. */
        for (unsigned p = 0; p < NPORTS; p++) {
            struct net_qos_port_config c = cfg[p];
            c.weight = 1 + lcg(&seed) % NET_QOS_WEIGHT_MAX;
            if (c.outbound.average_kib)
                c.outbound.average_kib = 100 + lcg(&seed) % 10000;
            if (c.outbound.peak_kib && c.outbound.peak_kib < c.outbound.average_kib)
                c.outbound.peak_kib = c.outbound.average_kib;
            if (c.floor_kib && c.outbound.average_kib && c.floor_kib > c.outbound.average_kib)
                c.floor_kib = c.outbound.average_kib;
            assert_int_equal(net_qos_port_set(s.q, p, &c, s.now), 0);
        }
        assert_int_equal(net_qos_set_uplink(s.q, cap_kib + lcg(&seed) % 1000, s.now), 0);
        sim_run(&s, s.now + SEC);
        net_qos_destroy(s.q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(average_limit_accuracy),
        cmocka_unit_test(burst_allowance),
        cmocka_unit_test(peak_rate),
        cmocka_unit_test(live_limit_change),
        cmocka_unit_test(uplink_capacity_kept),
        cmocka_unit_test(weights_share_by_weight),
        cmocka_unit_test(turns_scale_to_the_lightest),
        cmocka_unit_test(floor_kept_against_heavy_competitors),
        cmocka_unit_test(floors_of_several_ports),
        cmocka_unit_test(own_limit_and_work_conservation),
        cmocka_unit_test(no_starvation),
        cmocka_unit_test(pending_and_retry),
        cmocka_unit_test(refusals),
        cmocka_unit_test(extremes),
        cmocka_unit_test(random_settings_keep_the_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
