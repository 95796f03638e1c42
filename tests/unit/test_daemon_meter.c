/* Meters (src/daemon/meter.c): exact deltas and integrals from cumulative counters, with
 * resets (a new monitor, a restarted backend) starting a new baseline: never negative,
 * never counted twice, no fraction of a micro-unit lost across readings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "daemon/meter.h"

#define S 1000000000ULL /* one second in ns */

static struct meter_reading mon(uint64_t instance, uint64_t t_s, uint64_t cpu_ns, uint64_t ppm, uint64_t resident)
{
    struct meter_reading r = {.instance = instance, .start_ns = instance, .time_ns = t_s * S};
    r.counter[0] = cpu_ns;
    r.gauge[0] = ppm;
    r.gauge[1] = resident;
    r.gauge[2] = 1ULL << 30;
    return r;
}

static void first_reading_counts_from_the_monitor_start(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = mon(100 * S, 110, 3 * S, 250000, 512ULL << 20);
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_VCPU_USED], 3000000);       /* 3 vCPU-seconds */
    assert_int_equal(q[METER_VCPU_RESERVED], 2500000);   /* 25% x 10 s */
    assert_int_equal(q[METER_MEMORY_RESIDENT], 5000000); /* 0.5 GiB x 10 s */
    assert_int_equal(q[METER_MEMORY_ALLOCATED], 10000000);
}

static void deltas_continue_and_sum_exactly(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR};
    int64_t q[METER__COUNT] = {0};
    /* 7 readings a third of a second apart (in ns: not whole micro-units) */
    uint64_t cpu = 0;
    for (int i = 0; i <= 6; i++) {
        struct meter_reading r = mon(5 * S, 5, cpu, 333333, 0);
        r.time_ns = 5 * S + (uint64_t)i * (S / 3);
        assert_true(meter_advance(&c, &r, q) >= 0);
        cpu += 333333333 + 7;
    }
    cpu -= 333333333 + 7;
    assert_int_equal(q[METER_VCPU_USED], (int64_t)(cpu / 1000));
    /* 333333 ppm x 1.999999998 s = 666665.99 micro: exact floor of the whole */
    assert_int_equal(q[METER_VCPU_RESERVED], (int64_t)((333333ULL * (6 * (S / 3))) / S));
}

static void monitor_restart_starts_a_new_baseline(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading a = mon(10 * S, 20, 8 * S, 0, 0);
    meter_advance(&c, &a, q);
    memset(q, 0, sizeof(q));
    /* a new monitor started at 25 s: its counter is 1 s; nothing negative, nothing twice */
    struct meter_reading b = mon(25 * S, 30, 1 * S, 1000000, 0);
    assert_int_equal(meter_advance(&c, &b, q), 1);
    assert_int_equal(q[METER_VCPU_USED], 1000000);
    assert_int_equal(q[METER_VCPU_RESERVED], 5000000); /* from 25 s, not from 20 s */
}

static void new_instance_started_before_the_last_reading_is_not_counted_twice(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading a = mon(10 * S, 40, 8 * S, 1000000, 0);
    meter_advance(&c, &a, q);
    memset(q, 0, sizeof(q));
    /* a migration destination that started at 35 s, before the source's last reading */
    struct meter_reading b = mon(35 * S, 50, 0, 1000000, 0);
    meter_advance(&c, &b, q);
    assert_int_equal(q[METER_VCPU_RESERVED], 10000000); /* 40..50 s only */
}

static void net_counter_reset_counts_from_zero(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_NET};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = {.instance = 3, .time_ns = 10 * S, .counter = {1000, 2000, 10, 20}};
    meter_advance(&c, &r, q);
    assert_int_equal(q[METER_NET_TX_BYTES], 1000LL * 1000000);
    r.time_ns = 20 * S;
    r.counter[0] = 1500;
    r.counter[1] = 2500;
    r.counter[2] = 15;
    r.counter[3] = 25;
    assert_int_equal(meter_advance(&c, &r, q), 0);
    assert_int_equal(q[METER_NET_TX_BYTES], 1500LL * 1000000);
    assert_int_equal(q[METER_NET_RX_PACKETS], 25LL * 1000000);
    /* the backend restarted (same port id): counters back to 300 bytes */
    r.time_ns = 30 * S;
    r.counter[0] = 300;
    r.counter[1] = 0;
    r.counter[2] = 3;
    r.counter[3] = 0;
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_NET_TX_BYTES], 1800LL * 1000000);
    assert_int_equal(q[METER_NET_RX_BYTES], 2500LL * 1000000);
}

static void older_reading_is_refused(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading a = mon(1 * S, 20, 5 * S, 0, 0), b = mon(1 * S, 19, 6 * S, 0, 0);
    meter_advance(&c, &a, q);
    struct meter_cursor before = c;
    assert_int_equal(meter_advance(&c, &b, q), -EINVAL);
    assert_memory_equal(&before, &c, sizeof(c));
}

static void names_are_fixed(void **state)
{
    (void)state;
    assert_int_equal(meter_by_name("vcpu_seconds_used"), METER_VCPU_USED);
    assert_int_equal(meter_by_name("net_rx_packets"), METER_NET_RX_PACKETS);
    assert_int_equal(meter_by_name("cpu"), -1);
    assert_int_equal(meter_by_name("disk_ops"), 12); /* stored by number: never renumbered */
    assert_int_equal(meter_by_name("disk_reserved_iops_seconds"), 15);
}

/* A process's overhead: counted from its start; a dip of the counter (two clocks read a
 * moment apart) adds nothing and keeps the high mark, so the total telescopes exactly. */
static void overhead_dips_add_nothing_and_total_is_exact(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_OVERHEAD};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = {.instance = 100 * S, .start_ns = 100 * S, .time_ns = 102 * S};
    r.counter[0] = S / 2;
    r.gauge[0] = 1ULL << 30;
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_OVERHEAD_CPU], 500000);
    assert_int_equal(q[METER_OVERHEAD_MEMORY], 2000000); /* 1 GiB x 2 s */
    r.time_ns = 103 * S;
    r.counter[0] = S / 4; /* below the mark: no reset, nothing added */
    assert_int_equal(meter_advance(&c, &r, q), 0);
    assert_int_equal(q[METER_OVERHEAD_CPU], 500000);
    r.time_ns = 104 * S;
    r.counter[0] = S; /* the final reading */
    meter_advance(&c, &r, q);
    assert_int_equal(q[METER_OVERHEAD_CPU], 1000000);
    assert_int_equal(q[METER_OVERHEAD_MEMORY], 4000000);
    assert_int_equal(q[METER_VCPU_USED], 0); /* nothing of a sponsor's */
}

/* The host: its first reading ever is a baseline (no idle since boot in one lump); a new boot
 * counts from the boot. */
static void host_first_reading_is_a_baseline(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_HOST};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = {.instance = 10 * S, .start_ns = 10 * S, .time_ns = 1000 * S};
    r.counter[0] = 1500 * S;
    r.gauge[0] = 2ULL << 30;
    meter_advance(&c, &r, q);
    assert_int_equal(q[METER_HOST_CPU_IDLE], 0);
    assert_int_equal(q[METER_HOST_MEMORY_AVAILABLE], 0);
    r.time_ns = 1010 * S;
    r.counter[0] = 1512 * S;
    assert_int_equal(meter_advance(&c, &r, q), 0);
    assert_int_equal(q[METER_HOST_CPU_IDLE], 12000000);
    assert_int_equal(q[METER_HOST_MEMORY_AVAILABLE], 20000000); /* 2 GiB x 10 s */
    struct meter_reading boot = {.instance = 2000 * S, .start_ns = 2000 * S, .time_ns = 2010 * S};
    boot.counter[0] = 15 * S;
    boot.gauge[0] = 1ULL << 30;
    assert_int_equal(meter_advance(&c, &boot, q), 1);
    assert_int_equal(q[METER_HOST_CPU_IDLE], 27000000);
    assert_int_equal(q[METER_HOST_MEMORY_AVAILABLE], 30000000); /* + 1 GiB x 10 s since the boot */
}

static struct meter_reading disk(uint64_t added_s, uint64_t t_s, uint64_t ops, uint64_t bytes, uint64_t size,
                                 uint64_t reservation)
{
    struct meter_reading r = {.instance = added_s * S, .start_ns = added_s * S, .time_ns = t_s * S};
    r.counter[0] = ops;
    r.counter[1] = bytes;
    r.gauge[0] = size;
    r.gauge[1] = reservation;
    return r;
}

/* A disk on xeno-blkback (source METER_SOURCE_DISK + i): ops and bytes differenced, size and
 * reservation integrated from the disk's add; a disk added again (a restarted backend, or
 * the domain started again) counts its new counters from zero and no time twice. */
static void disk_counts_ops_bytes_and_provisioned_time(void **state)
{
    (void)state;
    struct meter_cursor c = {.source = METER_SOURCE_DISK + 2};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = disk(100, 110, 40, 4096 * 40, 2ULL << 30, 300);
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_DISK_OPS], 40 * 1000000LL);
    assert_int_equal(q[METER_DISK_BYTES], 4096 * 40 * 1000000LL);
    assert_int_equal(q[METER_DISK_PROVISIONED], 20 * 1000000LL); /* 2 GiB x 10 s */
    assert_int_equal(q[METER_DISK_RESERVED], 3000 * 1000000LL);  /* 300 IOPS x 10 s */
    assert_int_equal(q[METER_VCPU_USED] + q[METER_NET_TX_BYTES] + q[METER_MEMORY_ALLOCATED], 0);
    memset(q, 0, sizeof(q));
    r = disk(100, 112, 50, 4096 * 45, 2ULL << 30, 0);
    assert_int_equal(meter_advance(&c, &r, q), 0);
    assert_int_equal(q[METER_DISK_OPS], 10 * 1000000LL);
    assert_int_equal(q[METER_DISK_BYTES], 4096 * 5 * 1000000LL);
    assert_int_equal(q[METER_DISK_PROVISIONED], 4 * 1000000LL);
    assert_int_equal(q[METER_DISK_RESERVED], 0);
    /* The backend restarted at 111 s (before the last reading): its counters from zero, its
     * time from the last reading on. */
    memset(q, 0, sizeof(q));
    r = disk(111, 113, 3, 512, 1ULL << 30, 0);
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_DISK_OPS], 3 * 1000000LL);
    assert_int_equal(q[METER_DISK_BYTES], 512 * 1000000LL);
    assert_int_equal(q[METER_DISK_PROVISIONED], 1000000LL); /* 1 GiB x 1 s (112..113) */
    /* Stopped at 113, started again at 200: nothing in between. */
    memset(q, 0, sizeof(q));
    r = disk(200, 201, 1, 0, 1ULL << 30, 0);
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_DISK_PROVISIONED], 1000000LL);
    assert_int_equal(q[METER_DISK_OPS], 1000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_reading_counts_from_the_monitor_start),
        cmocka_unit_test(deltas_continue_and_sum_exactly),
        cmocka_unit_test(monitor_restart_starts_a_new_baseline),
        cmocka_unit_test(new_instance_started_before_the_last_reading_is_not_counted_twice),
        cmocka_unit_test(net_counter_reset_counts_from_zero),
        cmocka_unit_test(older_reading_is_refused),
        cmocka_unit_test(names_are_fixed),
        cmocka_unit_test(overhead_dips_add_nothing_and_total_is_exact),
        cmocka_unit_test(host_first_reading_is_a_baseline),
        cmocka_unit_test(disk_counts_ops_bytes_and_provisioned_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
