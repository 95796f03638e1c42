/* `xeno-blkback --calibrate`: measures the device under the image directory once, for the
 * admission of reservations (iosched_admit.h): 4 KiB random reads at depth 32 (IOPS) and
 * 1 MiB sequential reads at depth 4 (bytes/s), on io_uring with O_DIRECT where the file
 * system takes it, each for a bounded time. The scratch file is written with data first
 * (a sparse or preallocated file reads zeros without touching the device) and removed
 * afterwards; an existing image may be measured instead, read only. */
#ifndef XENO_BLK_CALIBRATE_H
#define XENO_BLK_CALIBRATE_H

#include <stdint.h>

#include "blk/iosched_admit.h"

#define BLK_CALIBRATE_SCRATCH ".xeno-calibrate.tmp"
#define BLK_CALIBRATE_SCRATCH_BYTES (64ull << 20)
#define BLK_CALIBRATE_FILE "capacity" /* in the backend's --state-dir */

/* Measures for ms_each milliseconds per pattern on `file` beneath dirfd (the image directory
 * `dir`; NULL file: a scratch file of BLK_CALIBRATE_SCRATCH_BYTES, created and removed), then
 * derives *out with the default headroom. 0 or -errno with a message. */
int blk_calibrate(int dirfd, const char *dir, const char *file, unsigned ms_each, struct blk_capacity *out);

/* The record under the state directory: stored whole or not at all, never through a link
 * (file_write_atomic); read back with O_NOFOLLOW and checked as any input. Load: -ENOENT
 * when there is none (no reservation is then admitted). 0 or -errno with a message. */
int blk_capacity_store(const char *state_dir, const struct blk_capacity *c);
int blk_capacity_load(int state_dirfd, struct blk_capacity *out);

#endif
