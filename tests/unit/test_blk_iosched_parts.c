/* The disk I/O scheduler's parts one by one (src/blk/): the tournament tree against a brute
 * force, the <iotune> limits (exact ready times, size_iops_sec, live changes, refusals that
 * name the setting), the scheduler's API edges (depth, full queues, retry times, removal,
 * throttled time, the P-tag rebase) and admission control with its capacity record.
 * tests/unit/test_blk_iosched.c has the scenarios on a simulated device. */
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
#include "blk/iosched_admit.h"
#include "blk/iosched_heap.h"
#include "blk/iosched_limit.h"
#include "lib/err.h"

#define MS 1000000ull
#define SEC 1000000000ull

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* --- the heap --- */

/* The tournament tree against a brute force: inserts, moves, removals (the last slot's
 * member fills the hole), depth growing and shrinking, rebases; grown = starts in 4 slots of
 * caller storage and grows (blk_heap_reserve) as members come. */
static void heap_against_brute_force(bool grown)
{
    enum { N = 64 };
    struct blk_heap h;
    struct blk_heap_entry storage[BLK_HEAP_NODES(4)];
    uint32_t pos[N];
    uint64_t key[N];
    bool in[N] = {false};
    if (grown) {
        for (uint32_t i = 0; i < N; i++)
            pos[i] = BLK_HEAP_NONE;
        blk_heap_init_inline(&h, storage, 4, pos);
    } else {
        assert_int_equal(blk_heap_init(&h, N), 0);
    }
    for (int step = 0; step < 20000; step++) {
        uint32_t q = next_rand() % N;
        if (next_rand() % 3 == 0) {
            blk_heap_remove(&h, q);
            in[q] = false;
        } else {
            key[q] = next_rand() % 1000;
            if (grown && h.n == h.cap && !in[q]) {
                assert_int_equal(blk_heap_reserve(&h, h.n + 1), 0);
                assert_true(h.cap >= h.n + 1);
            }
            blk_heap_set(&h, q, key[q]);
            in[q] = true;
        }
        if (step % 500 == 499 && !blk_heap_empty(&h)) { /* a rebase keeps the order */
            uint64_t d = blk_heap_top(&h)->key < 100 ? blk_heap_top(&h)->key : 100;
            blk_heap_rebase(&h, 100);
            for (int i = 0; i < N; i++)
                key[i] = key[i] > d ? key[i] - d : 0;
        }
        uint32_t n = 0, best = BLK_HEAP_NONE;
        for (uint32_t i = 0; i < N; i++) {
            assert_int_equal(blk_heap_has(&h, i), in[i]);
            if (in[i]) {
                n++;
                if (best == BLK_HEAP_NONE || key[i] < key[best])
                    best = i;
                assert_int_equal(blk_heap_slot(&h, h.pos[i])->id, i);
                assert_int_equal(blk_heap_slot(&h, h.pos[i])->key, key[i]);
            }
        }
        assert_int_equal(h.n, n);
        if (n) {
            assert_int_equal(blk_heap_top(&h)->queue, best); /* ties: the lower queue */
            assert_int_equal(blk_heap_top(&h)->key, key[best]);
        } else {
            assert_true(blk_heap_empty(&h));
        }
    }
    blk_heap_free(&h);
}

static void heap_matches_brute_force(void **state)
{
    (void)state;
    heap_against_brute_force(false);
}

static void heap_grows_from_inline_storage(void **state)
{
    (void)state;
    heap_against_brute_force(true);
}

/* --- limits --- */

/* A greedy disk against its own limits: starts whenever allowed, else jumps to the ready
 * time. Returns requests started in [0, t1). */
static uint64_t greedy(struct blk_limits *l, enum blk_io_dir dir, uint32_t bytes, uint64_t t1)
{
    uint64_t t = 0, n = 0;
    for (;;) {
        uint64_t ready = blk_limits_ready_at(l, dir);
        if (ready > t) {
            t = ready;
            continue;
        }
        if (t >= t1)
            return n;
        blk_limits_charge(l, dir, bytes, t);
        n++;
    }
}

static void limits_exact(void **state)
{
    (void)state;
    const uint64_t iops[] = {1, 7, 100, 1000, 33333, 1000000};
    for (size_t i = 0; i < sizeof(iops) / sizeof(iops[0]); i++) {
        struct blk_limits l = {0};
        assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = iops[i]}, 0, "disk"), 0);
        uint64_t n = greedy(&l, BLK_IO_READ, 4096, 10 * SEC);
        /* 10 s at the rate, plus the 10 ms of slack and the one that starts at the edge */
        uint64_t want = iops[i] * 10, most = want + iops[i] * BLK_LIMIT_SLACK_NS / SEC + 1;
        if (n < want || n > most)
            fail_msg("%llu IOPS: %llu requests in 10 s", (unsigned long long)iops[i], (unsigned long long)n);
    }
    /* bytes: 100 MB/s with 1 MiB requests */
    struct blk_limits l = {0};
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.write_bytes.avg = 100000000}, 0, "disk"), 0);
    uint64_t n = greedy(&l, BLK_IO_WRITE, 1 << 20, 10 * SEC);
    assert_true(n * (1 << 20) >= 1000000000ull - (1 << 20) && n * (1 << 20) <= 1000000000ull + 2000000 + (2 << 20));
    /* a write limit does not hold reads */
    assert_int_equal(blk_limits_ready_at(&l, BLK_IO_READ), 0);
}

static void limits_size_iops(void **state)
{
    (void)state;
    struct blk_limits l = {0};
    /* 100 IOPS counted per 8 KiB: a 64 KiB request is 8 operations */
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = 100, .size_iops = 8192}, 0, "d"), 0);
    uint64_t n = greedy(&l, BLK_IO_READ, 65536, 10 * SEC);
    assert_true(n >= 125 && n <= 127);
    struct blk_iotune back;
    blk_limits_get(&l, &back);
    assert_int_equal(back.total_iops.avg, 100);
    assert_int_equal(back.size_iops, 8192);
}

static void limits_refusals(void **state)
{
    (void)state;
    struct blk_limits l = {0};
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = 10, .read_iops.avg = 5}, 0, "disk vda"),
                     -EINVAL);
    assert_non_null(strstr(err_msg(), "disk vda: total_iops_sec cannot be combined with read_iops_sec"));
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.total_bytes = {.avg = 100, .max = 50}}, "g"), -EINVAL);
    assert_non_null(strstr(err_msg(), "total_bytes_sec_max 50 is below total_bytes_sec 100"));
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.write_iops.max = 50}, "g"), -EINVAL);
    assert_non_null(strstr(err_msg(), "write_iops_sec_max needs write_iops_sec"));
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.read_iops = {.avg = 5, .max_length_s = 3}}, "g"), -EINVAL);
    assert_non_null(strstr(err_msg(), "read_iops_sec_max_length needs read_iops_sec_max"));
    assert_int_equal(
        blk_iotune_check(&(struct blk_iotune){.read_iops = {.avg = 5, .max = 9, .max_length_s = 999999}}, "g"),
        -EINVAL);
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.total_bytes.avg = BLK_LIMIT_MAX_RATE + 1}, "g"), -EINVAL);
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.size_iops = BLK_IO_MAX_BYTES + 1}, "g"), -EINVAL);
    /* read and write both set, without total: fine */
    assert_int_equal(blk_iotune_check(&(struct blk_iotune){.read_iops.avg = 5, .write_iops.avg = 6}, "g"), 0);
}

/* A live change keeps the debt as an amount: 1 s of debt at 100 IOPS is 100 requests, which
 * take 0.1 s at 1000 IOPS; and 10 s of debt is not forgiven by tightening. */
static void limits_live_change(void **state)
{
    (void)state;
    struct blk_limits l = {0};
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = 100}, 0, "d"), 0);
    for (int i = 0; i < 101; i++)
        blk_limits_charge(&l, BLK_IO_READ, 0, 0); /* tat = 1.01 s */
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = 1000}, 0, "d"), 0);
    uint64_t ready = blk_limits_ready_at(&l, BLK_IO_READ);
    assert_true(ready >= 101 * MS - BLK_LIMIT_SLACK_NS - 1 && ready <= 101 * MS - BLK_LIMIT_SLACK_NS + 1);
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){.total_iops.avg = 10}, 0, "d"), 0);
    assert_true(blk_limits_ready_at(&l, BLK_IO_READ) >= 10 * SEC - BLK_LIMIT_SLACK_NS - 1);
    /* removing the limit forgets it */
    assert_int_equal(blk_limits_set(&l, &(struct blk_iotune){0}, 0, "d"), 0);
    assert_int_equal(blk_limits_ready_at(&l, BLK_IO_READ), 0);
}

/* --- the scheduler's API --- */

static struct blk_iosched *make(uint32_t queues, uint32_t groups, uint32_t qdepth, uint32_t ddepth)
{
    struct blk_iosched *s;
    struct blk_iosched_config c = {.queues = queues, .groups = groups, .queue_depth = qdepth, .device_depth = ddepth};
    assert_int_equal(blk_iosched_create(&c, 0, &s), 0);
    return s;
}

static void create_refusals(void **state)
{
    (void)state;
    struct blk_iosched *s;
    assert_int_equal(
        blk_iosched_create(&(struct blk_iosched_config){.queues = 0, .queue_depth = 1, .device_depth = 1}, 0, &s),
        -EINVAL);
    assert_int_equal(
        blk_iosched_create(
            &(struct blk_iosched_config){.queues = 1, .queue_depth = 1, .device_depth = 1, .ref_bytes = 512}, 0, &s),
        -EINVAL);
    assert_non_null(strstr(err_msg(), "reference size 512 bytes"));
    s = make(1, 0, 1, 1);
    /* cost: 1 + S / 32 KiB */
    assert_int_equal(blk_iosched_cost(s, 0), BLK_IOSCHED_COST_ONE);
    assert_int_equal(blk_iosched_cost(s, 4096), BLK_IOSCHED_COST_ONE * 9 / 8);
    assert_int_equal(blk_iosched_cost(s, 1 << 20), BLK_IOSCHED_COST_ONE * 33);
    blk_iosched_destroy(s);
}

static void api_edges(void **state)
{
    (void)state;
    struct blk_iosched *s = make(4, 2, 2, 1);
    struct blk_io io = {.cookie = 7, .bytes = 4096, .dir = BLK_IO_READ};
    struct blk_iosched_pick p;
    struct blk_iosched_params params = {0};
    assert_int_equal(blk_iosched_enqueue(s, 0, &io, 0), -ENOENT);
    assert_int_equal(blk_iosched_dispatch(s, 0, &p), -EAGAIN);
    assert_int_equal(p.retry_at_ns, UINT64_MAX);
    /* dispatch_queue's -EAGAIN (iosched.h) leaves *out as it was, its retry time included */
    p = (struct blk_iosched_pick){.queue = 3, .retry_at_ns = 12345};
    assert_int_equal(blk_iosched_dispatch_queue(s, 0, 0, &p), -EAGAIN); /* unset */
    assert_int_equal(blk_iosched_dispatch_queue(s, 9, 0, &p), -EAGAIN); /* out of range */
    assert_int_equal(p.queue, 3);
    assert_int_equal(p.retry_at_ns, 12345);
    assert_int_equal(blk_iosched_queue_set(s, 4, &params, 0), -EINVAL);
    assert_int_equal(blk_iosched_queue_set(s, 0, &(struct blk_iosched_params){.weight = 10001}, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "weight 10001"));
    assert_int_equal(blk_iosched_queue_set(s, 0, &(struct blk_iosched_params){.group = {3, 0}}, 0), -EINVAL);
    assert_int_equal(blk_iosched_queue_set(s, 0, &(struct blk_iosched_params){.group = {1, 1}}, 0), -EINVAL);
    assert_int_equal(blk_iosched_queue_set(s, 0, &(struct blk_iosched_params){.reservation = (1ull << 32) + 1}, 0),
                     -EINVAL);
    assert_int_equal(blk_iosched_group_set(s, 0, &(struct blk_iotune){0}, 0), -EINVAL);
    assert_int_equal(blk_iosched_group_set(s, 3, &(struct blk_iotune){0}, 0), -EINVAL);
    assert_int_equal(blk_iosched_queue_set(s, 0, &params, 0), 0);
    assert_int_equal(blk_iosched_queue_get(s, 0, &params), 0);
    assert_int_equal(params.weight, BLK_IOSCHED_WEIGHT_DEFAULT);
    assert_int_equal(blk_iosched_enqueue(s, 0, &(struct blk_io){.bytes = BLK_IO_MAX_BYTES + 1}, 0), -E2BIG);
    assert_int_equal(blk_iosched_enqueue(s, 0, &io, 0), 0);
    assert_int_equal(blk_iosched_enqueue(s, 0, &io, 0), 0);
    assert_int_equal(blk_iosched_enqueue(s, 0, &io, 0), -ENOSPC);
    assert_int_equal(blk_iosched_queue_remove(s, 0), -EBUSY);
    assert_int_equal(blk_iosched_dispatch(s, 0, &p), 0);
    assert_int_equal(p.queue, 0);
    assert_int_equal(p.io.cookie, 7);
    assert_int_equal(p.phase, BLK_IOSCHED_WEIGHT);
    assert_int_equal(blk_iosched_dispatch(s, 0, &p), -EBUSY); /* device depth 1 */
    blk_iosched_complete(s, 0);
    assert_int_equal(blk_iosched_dispatch_queue(s, 0, 0, &p), 0); /* the last one, out of turn */
    p.retry_at_ns = 777;
    assert_int_equal(blk_iosched_dispatch_queue(s, 0, 0, &p), -EAGAIN); /* empty now: *out untouched */
    assert_int_equal(p.retry_at_ns, 777);
    assert_int_equal(p.io.cookie, 7);
    blk_iosched_complete(s, 0);
    assert_int_equal(blk_iosched_enqueue(s, 0, &io, 0), 0);
    assert_int_equal(blk_iosched_dispatch(s, 0, &p), 0);
    assert_int_equal(blk_iosched_queue_remove(s, 0), -EBUSY); /* in flight */
    blk_iosched_complete(s, 0);
    blk_iosched_complete(s, 0); /* one too many: ignored */
    assert_int_equal(blk_iosched_queue_remove(s, 0), 0);
    assert_int_equal(blk_iosched_queue_remove(s, 0), -ENOENT);
    blk_iosched_destroy(s);
}

/* Over a limit: -EAGAIN with the exact time, the throttled time counted; a reservation does
 * not pass a limit. */
static void limited_retry_and_throttled_time(void **state)
{
    (void)state;
    struct blk_iosched *s = make(2, 1, 8, 4);
    struct blk_iosched_params p = {.reservation = 5000, .limits.total_iops.avg = 100};
    assert_int_equal(blk_iosched_queue_set(s, 0, &p, 0), 0);
    struct blk_io io = {.bytes = 0, .dir = BLK_IO_WRITE};
    struct blk_iosched_pick pick;
    uint64_t now = 0;
    int served = 0;
    for (int i = 0; i < 8; i++)
        assert_int_equal(blk_iosched_enqueue(s, 0, &io, now), 0);
    while (served < 3) {
        int e = blk_iosched_dispatch(s, now, &pick);
        if (e == 0) {
            served++;
            blk_iosched_complete(s, 0);
            continue;
        }
        assert_int_equal(e, -EAGAIN);
        now = pick.retry_at_ns;
    }
    /* the 10 ms slack lets one go at once and one more; the third waits 10 ms each */
    assert_int_equal(blk_iosched_dispatch(s, now, &pick), -EAGAIN);
    assert_int_equal(pick.retry_at_ns, now + 10 * MS);
    assert_int_equal(blk_iosched_dispatch(s, pick.retry_at_ns - 1, &pick), -EAGAIN);
    struct blk_iosched_stats st;
    assert_int_equal(blk_iosched_queue_stats(s, 0, now + 5 * MS, &st), 0);
    assert_int_equal(st.dispatched, 3);
    assert_int_equal(st.queued, 5);
    assert_true(st.throttled_ns >= 5 * MS);
    blk_iosched_destroy(s);
}

/* Two weight-1 queues of 64 MiB requests push the virtual time (2^47 a request) past 2^64
 * without the rebase, and past its rebase point several times with it:
 * they keep alternating through it. */
static void p_tags_rebase(void **state)
{
    (void)state;
    struct blk_iosched *s = make(2, 0, 4, 1);
    assert_int_equal(blk_iosched_queue_set(s, 0, &(struct blk_iosched_params){.weight = 1}, 0), 0);
    assert_int_equal(blk_iosched_queue_set(s, 1, &(struct blk_iosched_params){.weight = 1}, 0), 0);
    struct blk_io io = {.bytes = BLK_IO_MAX_BYTES};
    uint32_t got[2] = {0, 0}, last = 2, run = 0;
    for (int i = 0; i < 300000; i++) {
        for (uint32_t q = 0; q < 2; q++) {
            struct blk_iosched_stats st;
            assert_int_equal(blk_iosched_queue_stats(s, q, 0, &st), 0);
            if (st.queued < 2)
                assert_int_equal(blk_iosched_enqueue(s, q, &io, 0), 0);
        }
        struct blk_iosched_pick p;
        assert_int_equal(blk_iosched_dispatch(s, 0, &p), 0);
        blk_iosched_complete(s, p.queue);
        got[p.queue]++;
        run = p.queue == last ? run + 1 : 1;
        last = p.queue;
        if (run > 2)
            fail_msg("queue %u served %u times in a row at request %d", p.queue, run, i);
    }
    assert_true(got[0] == 150000 || got[1] == 150000);
    blk_iosched_destroy(s);
}

/* Random settings changed live, random requests and completions on a random clock: every
 * request comes out exactly once and in its queue's order, the device depth holds, a retry
 * time is in the future, "nothing waits" is said only when nothing waits, and everything
 * drains. ASan and UBSan watch the rest. */
static void random_operations_keep_the_rules(void **state)
{
    (void)state;
    enum { NQ = 16, NG = 4, QD = 32, DD = 8 };
    struct blk_iosched *s = make(NQ, NG, QD, DD);
    uint32_t sent[NQ] = {0}, got[NQ] = {0}, inflight[DD], n_inflight = 0;
    uint64_t now = 0;
    for (uint32_t q = 0; q < NQ; q++)
        assert_int_equal(blk_iosched_queue_set(s, q, &(struct blk_iosched_params){0}, 0), 0);
    for (int step = 0; step < 200000; step++) {
        uint64_t r = next_rand();
        uint32_t q = (uint32_t)(r >> 8) % NQ;
        switch (r % 16) {
        case 0: { /* live settings */
            struct blk_iosched_params p = {.weight = (uint32_t)(next_rand() % 2000),
                                           .reservation = next_rand() % 3 ? 0 : next_rand() % 5000};
            if (next_rand() % 2)
                p.limits.total_iops = (struct blk_rate){.avg = 1 + next_rand() % 5000};
            if (next_rand() % 3 == 0)
                p.limits.read_bytes =
                    (struct blk_rate){.avg = 4096 + next_rand() % 50000000, .max = 60000000, .max_length_s = 2};
            p.group[0] = (uint32_t)(next_rand() % (NG + 1));
            p.group[1] = p.group[0] ? 0 : (uint32_t)(next_rand() % (NG + 1));
            assert_int_equal(blk_iosched_queue_set(s, q, &p, now), 0);
            break;
        }
        case 1: {
            struct blk_iotune t = {.total_iops.avg = next_rand() % 4 ? 1 + next_rand() % 20000 : 0};
            assert_int_equal(blk_iosched_group_set(s, 1 + (uint32_t)(next_rand() % NG), &t, now), 0);
            break;
        }
        case 2:
        case 3:
        case 4:
        case 5: { /* a request */
            struct blk_io io = {.cookie = (uint64_t)q << 32 | sent[q],
                                .bytes = (uint32_t)(next_rand() % 4 == 0 ? next_rand() % (1 << 20) : 4096),
                                .dir = next_rand() % 2 ? BLK_IO_READ : BLK_IO_WRITE};
            int e = blk_iosched_enqueue(s, q, &io, now);
            if (e == 0)
                sent[q]++;
            else
                assert_int_equal(e, -ENOSPC);
            break;
        }
        case 6:
        case 7: /* a completion */
            if (n_inflight) {
                uint32_t k = (uint32_t)(next_rand() % n_inflight);
                blk_iosched_complete(s, inflight[k]);
                inflight[k] = inflight[--n_inflight];
            }
            break;
        case 8: /* time passes */ now += next_rand() % (5 * MS); break;
        default: { /* a decision */
            struct blk_iosched_pick p;
            int e = blk_iosched_dispatch(s, now, &p);
            if (e == 0) {
                assert_true(n_inflight < DD);
                assert_int_equal(p.io.cookie >> 32, p.queue);
                assert_int_equal((uint32_t)p.io.cookie, got[p.queue]);
                got[p.queue]++;
                inflight[n_inflight++] = p.queue;
            } else if (e == -EBUSY) {
                assert_int_equal(n_inflight, DD);
            } else {
                assert_int_equal(e, -EAGAIN);
                uint32_t waiting = 0;
                for (uint32_t i = 0; i < NQ; i++)
                    waiting += sent[i] - got[i];
                if (p.retry_at_ns == UINT64_MAX)
                    assert_int_equal(waiting, 0);
                else
                    assert_true(p.retry_at_ns > now && waiting > 0);
            }
        }
        }
    }
    /* drain: complete everything, follow the retry times */
    for (int guard = 0; guard < 1000000; guard++) {
        while (n_inflight)
            blk_iosched_complete(s, inflight[--n_inflight]);
        struct blk_iosched_pick p;
        int e = blk_iosched_dispatch(s, now, &p);
        if (e == 0) {
            assert_int_equal((uint32_t)p.io.cookie, got[p.queue]);
            got[p.queue]++;
            inflight[n_inflight++] = p.queue;
        } else if (p.retry_at_ns == UINT64_MAX) {
            break;
        } else {
            now = p.retry_at_ns;
        }
    }
    uint64_t total = 0;
    for (uint32_t q = 0; q < NQ; q++) {
        assert_int_equal(got[q], sent[q]);
        total += got[q];
    }
    assert_true(total > 10000); /* the run did exercise the scheduler */
    blk_iosched_destroy(s);
}

/* --- admission --- */

static void capacity_model(void **state)
{
    (void)state;
    struct blk_capacity c;
    /* an SSD: 100k IOPS at 4 KiB, 2 GB/s at 1 MiB: t(S) = 7.98 us + S / 2.03 GB/s */
    assert_int_equal(blk_capacity_derive(100000, 2000000000, BLK_HEADROOM_DEFAULT_PPM, &c), 0);
    assert_true(c.ref_bytes > 16000 && c.ref_bytes < 16400);
    assert_true(c.units_per_sec > 125000 && c.units_per_sec < 125600);
    assert_int_equal(blk_capacity_reservable(&c), c.units_per_sec * 9 / 10);
    /* a disk: 200 IOPS, 150 MB/s: 5 ms a seek, so about 2.6 MB move in the time of one */
    assert_int_equal(blk_capacity_derive(200, 150000000, 0, &c), 0);
    assert_true(c.ref_bytes > 2500000 && c.ref_bytes < 2700000);
    assert_int_equal(c.units_per_sec, 200);
    /* large requests no slower per byte than small ones: the largest reference size */
    assert_int_equal(blk_capacity_derive(1000, 1000ull << 30, 0, &c), 0);
    assert_int_equal(c.ref_bytes, BLK_IOSCHED_REF_BYTES_MAX);
    assert_int_equal(blk_capacity_derive(0, 1, 0, &c), -EINVAL);
    assert_int_equal(blk_capacity_derive(1, 1, 950000, &c), -EINVAL);
}

static void capacity_record(void **state)
{
    (void)state;
    struct blk_capacity c, back;
    char line[BLK_CAPACITY_LINE_MAX];
    assert_int_equal(blk_capacity_derive(100000, 2000000000, 100000, &c), 0);
    int n = blk_capacity_format(&c, line, sizeof(line));
    assert_true(n > 0);
    assert_string_equal(line, "iops=100000 bytes_per_sec=2000000000 headroom_ppm=100000\n");
    assert_int_equal(blk_capacity_parse(line, &back), 0);
    assert_memory_equal(&c, &back, sizeof(c));
    assert_int_equal(blk_capacity_format(&c, line, 10), -ENOSPC);
    const char *bad[] = {
        "iops=1 bytes_per_sec=1",
        "iops=1 bytes_per_sec=1 headroom_ppm=1 iops=2",
        "iops=1 bytes_per_sec=1 headroom_ppm=1 color=red",
        "iops=-1 bytes_per_sec=1 headroom_ppm=1",
        "iops=1x bytes_per_sec=1 headroom_ppm=1",
        "iops=1 bytes_per_sec=1 headroom_ppm=999999",
        "iops bytes_per_sec=1 headroom_ppm=1",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (blk_capacity_parse(bad[i], &back) != -EINVAL)
            fail_msg("accepted: \"%s\"", bad[i]);
    char longline[400];
    memset(longline, '1', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    assert_int_equal(blk_capacity_parse(longline, &back), -EINVAL);
}

static void admission(void **state)
{
    (void)state;
    struct blk_capacity c;
    char why[512];
    assert_int_equal(blk_capacity_derive(100000, 2000000000, 100000, &c), 0);
    uint64_t cap = blk_capacity_reservable(&c);
    assert_int_equal(blk_admit(&c, 0, "", "web/vda", 0, NULL, why, sizeof(why)), 0);
    assert_int_equal(blk_admit(&c, 0, "", "web/vda", cap, NULL, why, sizeof(why)), 0);
    assert_int_equal(blk_admit(&c, 100000, "db/vda 100000", "web/vda", cap - 100000 + 1, NULL, why, sizeof(why)),
                     -ENOSPC);
    char want[160];
    snprintf(want, sizeof(want), "only %llu of this host's %llu units/s", (unsigned long long)(cap - 100000),
             (unsigned long long)cap);
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "(db/vda 100000)"));
    assert_non_null(strstr(why, "give web/vda at most"));
    assert_int_equal(blk_admit(&c, 0, "", "web/vda", cap + 1, NULL, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "can reserve at most"));
    struct blk_iotune lim = {.total_iops.avg = 500};
    assert_int_equal(blk_admit(&c, 0, "", "web/vda", 501, &lim, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "above its own IOPS limit of 500"));
    assert_int_equal(blk_admit(&c, 0, "", "web/vda", 500, &lim, why, sizeof(why)), 0);
    assert_int_equal(blk_admit(&(struct blk_capacity){0}, 0, "", "web/vda", 1, NULL, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "xeno-blkback --calibrate"));
    /* inside a group of 1000 IOPS where another disk reserves 700 */
    struct blk_iotune g = {.read_iops.avg = 600, .write_iops.avg = 400};
    assert_int_equal(blk_admit_in_group("web-disks", &g, 700, "web/vdb 700", "web/vda", 300, why, sizeof(why)), 0);
    assert_int_equal(blk_admit_in_group("web-disks", &g, 700, "web/vdb 700", "web/vda", 301, why, sizeof(why)),
                     -ENOSPC);
    assert_non_null(
        strstr(why, "group web-disks is limited to 1000 IOPS and its other disks reserve 700 (web/vdb 700)"));
    assert_non_null(strstr(why, "give web/vda at most 300"));
    assert_int_equal(
        blk_admit_in_group("all", &(struct blk_iotune){.total_bytes.avg = 1}, 0, "", "x", 1 << 30, why, sizeof(why)),
        0); /* a bytes limit alone bounds no small request */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_matches_brute_force),
        cmocka_unit_test(heap_grows_from_inline_storage),
        cmocka_unit_test(limits_exact),
        cmocka_unit_test(limits_size_iops),
        cmocka_unit_test(limits_refusals),
        cmocka_unit_test(limits_live_change),
        cmocka_unit_test(create_refusals),
        cmocka_unit_test(api_edges),
        cmocka_unit_test(limited_retry_and_throttled_time),
        cmocka_unit_test(p_tags_rebase),
        cmocka_unit_test(random_operations_keep_the_rules),
        cmocka_unit_test(capacity_model),
        cmocka_unit_test(capacity_record),
        cmocka_unit_test(admission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
