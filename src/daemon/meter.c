/* Meter arithmetic: exact integer deltas and integrals, with what falls below one micro-unit
 * carried to the next reading (meter.h). */
#include "daemon/meter.h"

#include <errno.h>
#include <string.h>

const struct meter_info meter_info[METER__COUNT] = {
    [METER_VCPU_USED] = {"vcpu_seconds_used", "vcpu-second", "cumulative"},
    [METER_VCPU_RESERVED] = {"vcpu_seconds_reserved", "vcpu-second", "gauge"},
    [METER_MEMORY_RESIDENT] = {"memory_gib_seconds_resident", "GiB-second", "gauge"},
    [METER_MEMORY_ALLOCATED] = {"memory_gib_seconds_allocated", "GiB-second", "gauge"},
    [METER_NET_TX_BYTES] = {"net_tx_bytes", "byte", "cumulative"},
    [METER_NET_RX_BYTES] = {"net_rx_bytes", "byte", "cumulative"},
    [METER_NET_TX_PACKETS] = {"net_tx_packets", "packet", "cumulative"},
    [METER_NET_RX_PACKETS] = {"net_rx_packets", "packet", "cumulative"},
    [METER_OVERHEAD_CPU] = {"overhead_cpu_seconds", "cpu-second", "cumulative"},
    [METER_OVERHEAD_MEMORY] = {"overhead_memory_gib_seconds", "GiB-second", "gauge"},
    [METER_HOST_CPU_IDLE] = {"host_cpu_seconds_idle", "cpu-second", "cumulative"},
    [METER_HOST_MEMORY_AVAILABLE] = {"host_memory_gib_seconds_available", "GiB-second", "gauge"},
    [METER_DISK_OPS] = {"disk_ops", "op", "cumulative"},
    [METER_DISK_BYTES] = {"disk_bytes", "byte", "cumulative"},
    [METER_DISK_PROVISIONED] = {"disk_provisioned_gib_seconds", "GiB-second", "gauge"},
    [METER_DISK_RESERVED] = {"disk_reserved_iops_seconds", "iops-second", "gauge"},
};

int meter_by_name(const char *name)
{
    for (int i = 0; i < METER__COUNT; i++)
        if (strcmp(meter_info[i].name, name) == 0)
            return i;
    return -1;
}

/* value x dt_ns / divisor in whole units, the rest carried in *rem (always below divisor).
 * 128-bit: 2^40 bytes x a day of nanoseconds does not fit 64 bits. */
static int64_t integrate(uint64_t value, uint64_t dt_ns, unsigned __int128 divisor, uint64_t *rem)
{
    unsigned __int128 p = (unsigned __int128)value * dt_ns + *rem;
    *rem = (uint64_t)(p % divisor);
    return (int64_t)(p / divisor);
}

/* Micro-units: reservation ppm x ns / 1e9 = micro vCPU-seconds; bytes x ns x 1e6 /
 * (2^30 x 1e9) = micro GiB-seconds. */
#define RESERVED_DIVISOR 1000000000u
#define GIB_SECOND_DIVISOR ((unsigned __int128)1073741824u * 1000u)

/* Counters of the port source, in meter order. */
static const int net_meters[METER_COUNTERS] = {METER_NET_TX_BYTES, METER_NET_RX_BYTES, METER_NET_TX_PACKETS,
                                               METER_NET_RX_PACKETS};

/* The host's sources: one cumulative counter (counter[0], ns) and one gauge (gauge[0], bytes). */
static int advance_host(struct meter_cursor *c, const struct meter_reading *r, uint64_t base_time,
                        const uint64_t base[METER_COUNTERS], int reset, int64_t q[METER__COUNT])
{
    int overhead = c->source == METER_SOURCE_OVERHEAD;
    int baseline = !overhead && c->instance == 0 && c->time_ns == 0;
    uint64_t now = r->counter[0] > base[0] ? r->counter[0] : base[0];
    if (!baseline) {
        uint64_t ns = now - base[0] + c->rem[0];
        q[overhead ? METER_OVERHEAD_CPU : METER_HOST_CPU_IDLE] += (int64_t)(ns / 1000u);
        c->rem[0] = ns % 1000u;
        uint64_t dt = r->time_ns > base_time ? r->time_ns - base_time : 0;
        q[overhead ? METER_OVERHEAD_MEMORY : METER_HOST_MEMORY_AVAILABLE] +=
            integrate(r->gauge[0], dt, GIB_SECOND_DIVISOR, &c->rem[1]);
    }
    c->instance = r->instance;
    c->from_ns = base_time < r->time_ns ? base_time : r->time_ns;
    c->time_ns = r->time_ns > base_time ? r->time_ns : base_time;
    memset(c->counter, 0, sizeof(c->counter));
    c->counter[0] = now;
    return reset;
}

int meter_advance(struct meter_cursor *c, const struct meter_reading *r, int64_t q[METER__COUNT])
{
    int fresh = c->instance != r->instance || (c->instance == 0 && c->time_ns == 0);
    if (!fresh && r->time_ns < c->time_ns)
        return -EINVAL;
    uint64_t base_time = c->time_ns;
    if (fresh && r->start_ns) {
        /* A new instance: its counters began at zero when it started. Never before the
         * last reading of the one it follows: no second counted twice. */
        base_time = r->start_ns > c->time_ns ? r->start_ns : c->time_ns;
    } else if (fresh) {
        base_time = r->time_ns; /* no start time known: no gauge time before this reading */
    }
    int reset = fresh;
    int host = c->source == METER_SOURCE_OVERHEAD || c->source == METER_SOURCE_HOST;
    for (int i = 0; i < METER_COUNTERS && !reset && !host; i++)
        if (r->counter[i] < c->counter[i])
            reset = 1; /* the source restarted: everything it counts began again at zero */
    uint64_t base[METER_COUNTERS] = {0};
    if (!reset)
        memcpy(base, c->counter, sizeof(base));
    if (host)
        return advance_host(c, r, base_time, base, reset, q);

    if (c->source == METER_SOURCE_MONITOR) {
        uint64_t ns = r->counter[0] - base[0] + c->rem[0];
        q[METER_VCPU_USED] += (int64_t)(ns / 1000u);
        c->rem[0] = ns % 1000u;
        uint64_t dt = r->time_ns > base_time ? r->time_ns - base_time : 0;
        q[METER_VCPU_RESERVED] += integrate(r->gauge[0], dt, RESERVED_DIVISOR, &c->rem[1]);
        q[METER_MEMORY_RESIDENT] += integrate(r->gauge[1], dt, GIB_SECOND_DIVISOR, &c->rem[2]);
        q[METER_MEMORY_ALLOCATED] += integrate(r->gauge[2], dt, GIB_SECOND_DIVISOR, &c->rem[3]);
    } else if (meter_source_is_disk(c->source)) {
        q[METER_DISK_OPS] += (int64_t)(r->counter[0] - base[0]) * 1000000;
        q[METER_DISK_BYTES] += (int64_t)(r->counter[1] - base[1]) * 1000000;
        uint64_t dt = r->time_ns > base_time ? r->time_ns - base_time : 0;
        q[METER_DISK_PROVISIONED] += integrate(r->gauge[0], dt, GIB_SECOND_DIVISOR, &c->rem[1]);
        /* units/s x ns / 1e9 = unit-seconds; x 1e6 for micro-units: / 1000. */
        q[METER_DISK_RESERVED] += integrate(r->gauge[1], dt, 1000u, &c->rem[2]);
    } else {
        for (int i = 0; i < METER_COUNTERS; i++)
            q[net_meters[i]] += (int64_t)(r->counter[i] - base[i]) * 1000000;
    }
    c->instance = r->instance;
    c->from_ns = base_time < r->time_ns ? base_time : r->time_ns;
    c->time_ns = r->time_ns > base_time ? r->time_ns : base_time;
    memcpy(c->counter, r->counter, sizeof(c->counter));
    return reset;
}
