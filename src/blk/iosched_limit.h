/* Disk I/O limits with libvirt's <iotune> semantics (docs/blkback.md, "Scheduler"), for one
 * disk or one group of disks: pure arithmetic on a clock the caller passes (ns, monotonic),
 * no allocation, one thread at a time.
 *
 * Each limit (total, read or write; IOPS or bytes/s) is a virtual-clock token bucket (GCRA:
 * a "theoretical arrival time" tat that each request pushes later by amount / rate). A
 * request may start while tat - tolerance <= now, and is then charged whole, possibly into
 * debt, so any request size fits and the long-run rate is exact: the debt is paid before the
 * next one. The tolerance is the burst:
 *   - without _max: BLK_LIMIT_SLACK_NS of the average (timer latency, not a burst);
 *   - with _max and _max_length (libvirt's total_iops_sec_max etc.): as QEMU's throttle, a
 *     bucket of max x max_length that drains at the average, so an idle disk may go at up to
 *     max for about max_length seconds, then falls back to the average. A second bucket at
 *     the max rate (BLK_LIMIT_PEAK_SLACK_NS of tolerance) caps the speed of the burst.
 * An idle disk's tat falls behind now, and max(tat, now) when charging forgets all but the
 * tolerance: no credit is hoarded beyond the burst the settings allow.
 *
 * size_iops_sec (libvirt's size_iops_sec, QEMU's iops-size): a request of S bytes counts
 * ceil(S / size_iops) operations against the IOPS limits (at least 1); 0: always 1. */
#ifndef XENO_BLK_IOSCHED_LIMIT_H
#define XENO_BLK_IOSCHED_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_LIMIT_SLACK_NS 10000000ull     /* 10 ms of average when no _max is set */
#define BLK_LIMIT_PEAK_SLACK_NS 5000000ull /* 5 ms of max while bursting */
#define BLK_LIMIT_MAX_RATE (1ull << 40)    /* per second: keeps amount x 1e9 / rate in 64 bits */
#define BLK_LIMIT_MAX_LENGTH_S 86400u      /* libvirt has no bound; a day is plenty */
#define BLK_IO_MAX_BYTES (64u << 20)       /* largest request charged (iosched refuses more) */

enum blk_io_dir {
    BLK_IO_READ = 0,
    BLK_IO_WRITE = 1, /* also discard and write-zeroes; flush is a write of 0 bytes */
};

/* One libvirt limit: total_iops_sec / total_iops_sec_max / total_iops_sec_max_length. */
struct blk_rate {
    uint64_t avg;          /* per second; 0: no limit (then max and max_length must be 0) */
    uint64_t max;          /* per second while bursting; 0: no burst; else >= avg */
    uint32_t max_length_s; /* seconds a burst at max may last; 0 with max set: 1 (libvirt's default) */
};

/* <iotune>: libvirt refuses total_* together with read_* or write_* of the same kind;
 * so does blk_iotune_check. */
struct blk_iotune {
    struct blk_rate total_iops, read_iops, write_iops;
    struct blk_rate total_bytes, read_bytes, write_bytes;
    uint64_t size_iops; /* bytes per operation for the IOPS limits; 0: one per request */
};

enum { BLK_LIMIT_DIMS = 6 }; /* total, read, write IOPS; total, read, write bytes */
/* Buckets set at once at most: libvirt refuses total_* with read_* or write_* of the same
 * kind, so at most read and write of IOPS and of bytes, each with its _max. */
enum { BLK_LIMIT_HOT = 8 };

struct blk_bucket {
    uint64_t rate;         /* per second; 0: unused */
    uint64_t tolerance_ns; /* how far ahead of now tat may be for a request to start */
    uint64_t tat;          /* when the charged amount is paid off at rate */
    uint64_t ns_mul;       /* ns per unit, 32.32 fixed point, rounded up (never under-charges) */
};

/* What a request reads and charges: a set bucket's clock and arithmetic, packed. */
struct blk_hot_bucket {
    uint64_t tat, tolerance_ns, ns_mul; /* as in struct blk_bucket */
    uint64_t one_ns;                    /* what one unit adds to tat: ns_mul rounded up */
};

/* The buckets that are set are packed first (hot[0..], in the order of active's bits) so
 * that a request reads one or two cache lines, not the six dimensions' twelve buckets;
 * the whole settings follow, for blk_limits_set and blk_limits_get only (their tat is
 * brought up to date from hot[] there). */
struct blk_limits {
    uint32_t active;    /* bit d: avg[d] set; bit 8 + d: peak[d] set; 0: unlimited */
    uint16_t dir_k[2];  /* bit k: hot[k] is charged for a read (0) / a write (1) */
    uint16_t bytes_k;   /* bit k: hot[k] counts bytes (else operations) */
    uint32_t size_iops; /* <= BLK_IO_MAX_BYTES */
    struct blk_hot_bucket hot[BLK_LIMIT_HOT];
    struct blk_bucket avg[BLK_LIMIT_DIMS], peak[BLK_LIMIT_DIMS];
    uint32_t len_s[BLK_LIMIT_DIMS]; /* max_length as given (for blk_limits_get) */
};

/* 0, or -EINVAL with a message naming the setting (what: "disk vda", "group g1"). */
int blk_iotune_check(const struct blk_iotune *t, const char *what);
/* Sets (or changes live) the limits. A changed limit keeps each bucket's debt as time (its
 * tat), clipped so that tightening a limit forgives nothing and loosening it grants no burst
 * that the new settings do not allow; a removed limit forgets its debt. Checks as
 * blk_iotune_check. */
int blk_limits_set(struct blk_limits *l, const struct blk_iotune *t, uint64_t now_ns, const char *what);
/* The settings back (avg, max, max_length as set). */
void blk_limits_get(const struct blk_limits *l, struct blk_iotune *out);
/* Whether a read_* or write_* limit is set: then a request's direction decides whether it may
 * start (with total_* limits only, reads and writes start at the same time). */
static inline bool blk_limits_one_way(const struct blk_limits *l)
{
    return (l->active & (0x36u | 0x36u << 8)) != 0; /* read and write, IOPS and bytes, avg and peak */
}
/* Per request, so inline: */
static inline uint64_t blk_limits_ready_of_(const struct blk_hot_bucket *b)
{
    return b->tat > b->tolerance_ns ? b->tat - b->tolerance_ns : 0;
}

/* Earliest time at which a request in dir may start: 0 when unlimited (or any time <= now). */
static inline uint64_t blk_limits_ready_at(const struct blk_limits *l, enum blk_io_dir dir)
{
    uint32_t m = l->dir_k[dir];
    uint64_t ready = 0;
    while (m) {
        int k = __builtin_ctz(m);
        m &= m - 1;
        uint64_t r = blk_limits_ready_of_(&l->hot[k]);
        ready = r > ready ? r : ready;
    }
    return ready;
}

/* Charges a request of bytes in dir that starts now, and returns blk_limits_ready_at(l, dir)
 * after the charge (one pass). */
static inline uint64_t blk_limits_charge_ready(struct blk_limits *l, enum blk_io_dir dir, uint32_t bytes,
                                               uint64_t now_ns)
{
    uint32_t m = l->dir_k[dir];
    uint64_t ready = 0;
    if (!m)
        return 0;
    if (bytes > BLK_IO_MAX_BYTES)
        bytes = BLK_IO_MAX_BYTES;
    uint64_t ops = l->size_iops ? (bytes + l->size_iops - 1) / l->size_iops : 1;
    if (ops == 0)
        ops = 1;
    while (m) {
        int k = __builtin_ctz(m);
        m &= m - 1;
        struct blk_hot_bucket *b = &l->hot[k];
        uint64_t amount = l->bytes_k >> k & 1 ? bytes : ops;
        uint64_t inc = amount == 1 ? b->one_ns /* an operation (IOPS without size_iops): no multiply */
                                   : (uint64_t)(((unsigned __int128)amount * b->ns_mul + 0xffffffffu) >> 32);
        b->tat = (b->tat > now_ns ? b->tat : now_ns) + inc;
        uint64_t r = blk_limits_ready_of_(b);
        ready = r > ready ? r : ready;
    }
    return ready;
}

/* The same without the answer. */
void blk_limits_charge(struct blk_limits *l, enum blk_io_dir dir, uint32_t bytes, uint64_t now_ns);

#endif
