/* Admission control for disk reservations (docs/blkback.md, "Scheduler"): a host promises
 * no more of a device than it has. `xeno-blkback --calibrate` measures the device once (4
 * KiB random reads at depth 32, and 1 MiB sequential reads) and stores a capacity record;
 * from the two figures the cost model follows: a request of S bytes takes the device
 * a + b x S seconds, so with ref_bytes = a / b it costs 1 + S / ref_bytes units of a seconds
 * each, and the device serves 1 / a units per second. The reservations of the disks that
 * are served may add up to at most that less the headroom (default 10%: what is never
 * promised, for measurement error, flushes and the backend's own reads). Pure arithmetic;
 * the caller holds whatever lock guards the set of reservations. */
#ifndef XENO_BLK_IOSCHED_ADMIT_H
#define XENO_BLK_IOSCHED_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "blk/iosched_limit.h"

#define BLK_CALIBRATE_SMALL_BYTES 4096u
#define BLK_CALIBRATE_LARGE_BYTES (1u << 20)
#define BLK_HEADROOM_DEFAULT_PPM 100000u /* 10% */
#define BLK_HEADROOM_MAX_PPM 900000u
#define BLK_CAPACITY_MAX (1ull << 40) /* per second, for either figure */
#define BLK_CAPACITY_LINE_MAX 160

struct blk_capacity {
    uint64_t iops;          /* measured: BLK_CALIBRATE_SMALL_BYTES random reads per second */
    uint64_t bytes_per_sec; /* measured: BLK_CALIBRATE_LARGE_BYTES sequential reads */
    uint32_t headroom_ppm;  /* share of the device never reserved */
    uint32_t ref_bytes;     /* derived: the cost model's reference size (iosched.h) */
    uint64_t units_per_sec; /* derived: cost units per second the device serves */
};

/* Fills *out from the two measurements (ref_bytes clipped to the scheduler's range; units
 * then follow from the small-request figure). -EINVAL with a message for a zero or absurd
 * figure or headroom. */
int blk_capacity_derive(uint64_t iops, uint64_t bytes_per_sec, uint32_t headroom_ppm, struct blk_capacity *out);
/* What may be reserved in all: units_per_sec less the headroom. */
uint64_t blk_capacity_reservable(const struct blk_capacity *c);
/* The stored record, one line: "iops=N bytes_per_sec=N headroom_ppm=N\n". Returns the
 * length (< size) or -ENOSPC. */
int blk_capacity_format(const struct blk_capacity *c, char *buf, size_t size);
/* Reads a record back (from the daemon's state directory, still checked as input: known
 * keys once each, decimal numbers, nothing else) and derives the rest. -EINVAL with a
 * message. */
int blk_capacity_parse(const char *line, struct blk_capacity *out);

/* May disk `name` hold a reservation of want units/s while the others hold held (listed in
 * holders, e.g. "web/vda 2000, db/vdb 500"; may be empty)? 0 if it fits; -EINVAL if it can
 * never fit (above what the host can reserve at all, above the disk's own IOPS limit, or no
 * capacity measured); -ENOSPC if it does not fit now. The reason, with what would fit, goes
 * to why (one line). A reservation of 0 always fits. limits may be NULL. */
int blk_admit(const struct blk_capacity *c, uint64_t held, const char *holders, const char *name, uint64_t want,
              const struct blk_iotune *limits, char *why, size_t size);

/* The same inside a group (libvirt group_name, or a sponsor's): the reservations of its
 * disks may add up to at most the group's IOPS limit, since limits are hard and a group over
 * its limit serves no reservation. held: what the group's other disks reserve (listed in
 * holders). 0, or -ENOSPC with the reason in why. No limit: always 0. */
int blk_admit_in_group(const char *group, const struct blk_iotune *group_limits, uint64_t held, const char *holders,
                       const char *name, uint64_t want, char *why, size_t size);

#endif
