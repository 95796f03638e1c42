/* Meters (docs/metering.md): what a domain consumed, as integer micro-units of each meter's
 * unit, from the monitor's and the network backend's own cumulative counters. Pure: no I/O,
 * no clock; the caller hands readings in and gets deltas out (unit-tested in
 * tests/unit/test_daemon_meter.c).
 *
 * A meter_cursor remembers the last reading of one source (a monitor instance, or a domain's
 * port on the backend). meter_advance turns the next reading into the quantities since the
 * cursor: counters are differenced, gauges (reservation, memory) integrated over wall time.
 * A counter reset (a new monitor instance, a restarted backend, a counter that went down)
 * starts a new baseline at zero: the new source's counters are counted from its start,
 * never negative and never twice. */
#ifndef XENO_DAEMON_METER_H
#define XENO_DAEMON_METER_H

#include <stdint.h>

enum meter_id {
    METER_VCPU_USED = 0,    /* vcpu_seconds_used: thread CPU time of the vCPUs */
    METER_VCPU_RESERVED,    /* vcpu_seconds_reserved: reservation x wall time */
    METER_MEMORY_RESIDENT,  /* memory_gib_seconds_resident: guest RAM on the host x time */
    METER_MEMORY_ALLOCATED, /* memory_gib_seconds_allocated: current target x time */
    METER_NET_TX_BYTES,     /* net_tx_bytes: what the domain sent */
    METER_NET_RX_BYTES,     /* net_rx_bytes: what it received */
    METER_NET_TX_PACKETS,   /* net_tx_packets */
    METER_NET_RX_PACKETS,   /* net_rx_packets */
    /* The host's own meters (docs/metering.md, "Host meters"): no sponsor's. */
    METER_OVERHEAD_CPU,          /* overhead_cpu_seconds: a XenoServer process's CPU beyond its guest's */
    METER_OVERHEAD_MEMORY,       /* overhead_memory_gib_seconds: its resident memory beyond guest RAM x time */
    METER_HOST_CPU_IDLE,         /* host_cpu_seconds_idle: /proc/stat idle + iowait of all CPUs */
    METER_HOST_MEMORY_AVAILABLE, /* host_memory_gib_seconds_available: MemAvailable x time */
    /* A sponsor's disks (xeno-blkback's counters, docs/metering.md "Disk meters"): after the
     * host's because a meter's number never changes (the ledger stores it). */
    METER_DISK_OPS,         /* disk_ops: requests done (read, write, flush, discard, write-zeroes) */
    METER_DISK_BYTES,       /* disk_bytes: bytes read plus bytes written */
    METER_DISK_PROVISIONED, /* disk_provisioned_gib_seconds: the disk's size x time */
    METER_DISK_RESERVED,    /* disk_reserved_iops_seconds: the disk's I/O reservation x time */
    METER__COUNT
};

/* Fixed forever (docs/metering.md): the name, the unit, and the type. */
struct meter_info {
    const char *name;
    const char *unit; /* singular: "vcpu-second", "GiB-second", "byte", "packet" */
    const char *type; /* "cumulative" (a counter) or "gauge" (integrated over time) */
};
extern const struct meter_info meter_info[METER__COUNT];
/* The meter of that name, or -1. */
int meter_by_name(const char *name);

/* Which readings a cursor follows. */
enum meter_source {
    METER_SOURCE_MONITOR = 0,
    METER_SOURCE_NET = 1,
    METER_SOURCE_OVERHEAD = 2, /* one process of XenoServer's: xenod, the backend, a monitor */
    METER_SOURCE_HOST = 3,     /* the whole host's idle CPU and available memory */
    /* Disk i of the domain (its i-th <disk>, i < METER_DISKS_MAX) on xeno-blkback: one
     * source (one cursor, one exactly-once series) per disk. */
    METER_SOURCE_DISK = 4,
    METER_SOURCE__COUNT = METER_SOURCE_DISK + 8
};
#define METER_DISKS_MAX (METER_SOURCE__COUNT - METER_SOURCE_DISK) /* DOMAIN_DISKS_MAX */
static inline int meter_source_is_disk(int source)
{
    return source >= METER_SOURCE_DISK && source < METER_SOURCE__COUNT;
}

/* One reading. For a monitor: instance = its stats page's started_ns (a new process, restore
 * or migration destination gives a new one), start_ns = the same, counter[0] = cpu_ns,
 * gauge[] = reservation_ppm, resident bytes, allocated bytes. For a port: instance = the
 * backend's port id (0: unknown), start_ns = 0, counter[] = tx bytes, rx bytes, tx packets,
 * rx packets, no gauges. For a process's overhead: instance = the process's start
 * (CLOCK_REALTIME ns; a monitor's started_ns), start_ns = the same, counter[0] = its CPU
 * time beyond its guest's vCPUs (ns, cumulative since its start), gauge[0] = its resident
 * bytes beyond guest RAM. For the host: instance = boot time (/proc/stat btime, ns),
 * start_ns = the same, counter[0] = idle + iowait ns of all CPUs, gauge[0] = MemAvailable.
 * For a disk: instance = the backend's started_ns (a restarted backend counts from zero),
 * start_ns = the same, counter[0] = requests done, counter[1] = bytes read + written,
 * gauge[0] = the disk's size in bytes, gauge[1] = its reservation (cost units/s, "IOPS"). */
#define METER_COUNTERS 4
#define METER_GAUGES 3
struct meter_reading {
    uint64_t instance;
    uint64_t start_ns; /* CLOCK_REALTIME the counters started at zero; 0: unknown */
    uint64_t time_ns;  /* CLOCK_REALTIME of the reading */
    uint64_t counter[METER_COUNTERS];
    uint64_t gauge[METER_GAUGES];
};

struct meter_cursor {
    int source;        /* enum meter_source */
    uint64_t instance; /* 0 with time_ns 0: no reading yet */
    uint64_t time_ns;
    uint64_t counter[METER_COUNTERS];
    /* What was below one micro-unit last time, carried so that no fraction is ever lost:
     * rem[0] nanoseconds of CPU, rem[1..3] the gauges' products below one micro-unit. */
    uint64_t rem[4];
    uint64_t from_ns; /* where the last meter_advance's interval began (not saved) */
};

/* Moves the cursor to r and adds the quantities since the previous reading to q[meter]
 * (micro-units, never negative). An overhead counter that went down within one instance (the
 * process's clock and its guest's are read a moment apart) adds nothing and keeps the higher
 * mark; the host's very first reading (no cursor at all) is a baseline only: nothing before
 * xenod first looked is counted. Returns 1 when the reading started a new baseline (a
 * reset: the counters were counted from zero), 0 otherwise, -EINVAL for a reading older
 * than the cursor (ignored, the cursor unchanged). */
int meter_advance(struct meter_cursor *c, const struct meter_reading *r, int64_t q[METER__COUNT]);

#endif
