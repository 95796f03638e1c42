/* xeno-blkback's counters page (the `stats` file of its --state-dir): the backend writes it,
 * xenod maps or reads it to meter disks per domain and to watch the backend's heartbeat, as
 * for xeno-netback (proto/netback_stats.h). The layout is the contract between the two
 * programs. */
#ifndef XENO_PROTO_BLKBACK_STATS_H
#define XENO_PROTO_BLKBACK_STATS_H

#include <stdint.h>

#define BB_STATS_MAGIC 0x534b4c42u /* "BLKS" little-endian */
#define BB_STATS_VERSION 3         /* 2: size_bytes, allocated_bytes, added_ns; 3: 256 disks */
#define BB_STATS_MAX_DISKS 256
/* Latency histogram: bucket 0 counts requests done (taken from the ring to completed) in
 * under BB_STATS_LAT_BASE_NS, bucket i in [2^(i-1), 2^i) x BB_STATS_LAT_BASE_NS, the last
 * everything longer. */
#define BB_STATS_LAT_BUCKETS 16
#define BB_STATS_LAT_BASE_NS 16000ull

struct bb_stats_disk {
    char name[32];
    char group[32]; /* libvirt group_name, "" none */
    char sponsor[32];
    uint32_t connected;
    uint32_t pad;
    uint64_t connects;
    uint64_t reads, writes, flushes, discards, write_zeroes, get_ids; /* requests taken */
    uint64_t bytes_read, bytes_written;
    uint64_t ioerr, unsupp, bad_chains, ring_errors, direct_fallbacks; /* errors */
    /* The scheduler's view: requests sent to the device, those sent for the reservation,
     * their cost in units (x 65536), the time requests waited over a limit. */
    uint64_t dispatched, by_reservation, cost_units, throttled_ns;
    uint64_t reservation, weight; /* as set (units/s; 1..10000) */
    uint64_t latency[BB_STATS_LAT_BUCKETS];
    /* The image as served: its size as the guest sees it, and what its writable file
     * occupies on the host (st_blocks x 512; an overlay's own file, not its shared base). */
    uint64_t size_bytes, allocated_bytes;
    /* CLOCK_REALTIME when the backend added the disk: its counters began at zero then. A disk
     * removed and added again, or a restarted backend, gives a new one (metering keys on it). */
    uint64_t added_ns;
};

/* Sequence lock as in src/lib/stats_page.h: seq odd while the backend writes. */
struct bb_stats_page {
    uint32_t magic;
    uint32_t version;
    volatile uint32_t seq;
    uint32_t pid;
    uint64_t started_ns; /* CLOCK_REALTIME */
    uint64_t updated_ns; /* CLOCK_REALTIME of the last update */
    uint64_t heartbeat;  /* +1 per update */
    uint32_t ndisks;
    uint32_t device_depth;
    uint64_t capacity_units; /* calibrated cost units/s; 0: not calibrated */
    struct bb_stats_disk disks[BB_STATS_MAX_DISKS];
};

/* A consistent copy of the page from fd (pread, retried while the backend writes it; never
 * mapped, so a truncated file cannot fault the reader). 0, -EAGAIN (no consistent copy in a
 * few tries), -EINVAL (not a page of this version) or -errno. */
int bb_stats_read_fd(int fd, struct bb_stats_page *out);

#endif
