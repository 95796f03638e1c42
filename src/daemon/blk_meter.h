/* xenod's reader of xeno-blkback's stats page (proto/blkback_stats.h; docs/metering.md, "Disk
 * meters"): the per-disk counters behind `xenctl info`, the usage samples and the ledger's
 * disk meters.
 *
 * The page is written by another process (sandboxed, but a process xenod does not trust with
 * its own memory): it is never mapped, only copied with pread (a truncated or replaced file
 * cannot fault xenod), checked (magic, version, disk count) and made safe (every string
 * NUL-terminated) before anything reads it. Idle costs nothing: a refresh reads the page's
 * first 40 bytes and copies the whole page only when its sequence, start or update time moved.
 *
 * Threads: none of its own; the caller serialises (the registry lock). */
#ifndef XENO_DAEMON_BLK_METER_H
#define XENO_DAEMON_BLK_METER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/meter.h"
#include "proto/blkback_stats.h"

struct blk_meter {
    char path[4096]; /* the page's file (the backend's STATE/stats) */
    int fd;          /* -1: not open (no backend yet, or it went away) */
    int valid;       /* page holds a checked copy */
    uint32_t seq;    /* the copy's sequence, start and update time: the refresh's test */
    uint64_t started_ns, updated_ns;
    uint64_t copies;     /* whole-page copies made (a test's measure of idle cost) */
    uint64_t checked_ns; /* CLOCK_MONOTONIC of the caller's last refresh (its memo; 0 none) */
    struct bb_stats_page page;
};

/* The backend's name of a domain's disk `target`: "TAG-TARGET", the tag xenod gives the domain
 * (reg_disk_tag: 'u' and the UUID's first 10 hex digits, "u0b2a4c1e96-vda"), as
 * lib/domain_disk.h's domain_disk_spec names it. 0, or -ENAMETOOLONG. */
#define BLK_METER_NAME_MAX 32 /* the page's name field */
int blk_meter_disk_name(char out[BLK_METER_NAME_MAX], const char *tag, const char *target);

/* Sets the path; opens nothing yet (the backend may not run). */
void blk_meter_init(struct blk_meter *m, const char *path);
void blk_meter_fini(struct blk_meter *m);
/* Brings the copy up to date: 1 copied anew, 0 unchanged (nothing but the header read),
 * -ENOENT no page (the backend never ran, or its page was removed), -EINVAL not a page of
 * this version, -EAGAIN the backend kept writing. On an error the last good copy is dropped. */
int blk_meter_refresh(struct blk_meter *m);
/* The disk of that name in the copy, or NULL. */
const struct bb_stats_disk *blk_meter_find(const struct blk_meter *m, const char *name);

/* A checked copy (bb_stats_read_fd's) made safe to read: strings cut at their last byte and
 * the disk count clamped. Exposed for the unit test. */
void blk_meter_sanitize(struct bb_stats_page *pg);

/* Requests done (read, write, flush, discard, write-zeroes: get-id is no I/O). */
uint64_t blk_meter_ops(const struct bb_stats_disk *d);
/* A disk's meter reading (meter.h, source METER_SOURCE_DISK + i) as of time_ns. */
void blk_meter_reading(const struct bb_stats_disk *d, uint64_t time_ns, struct meter_reading *out);
/* The latency below which `permille` of the histogram's requests finished: the upper edge
 * of the bucket that holds that rank (ns), UINT64_MAX for the last (open) bucket, 0 with no
 * requests. */
uint64_t blk_meter_latency_ns(const uint64_t latency[BB_STATS_LAT_BUCKETS], unsigned permille);

#endif
