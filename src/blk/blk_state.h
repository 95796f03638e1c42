/* xeno-blkback's --state-dir (optional; xenod gives one when it supervises the backend):
 *   capacity   the device's measurement (calibrate.h), read at start: reservations need it
 *   stats      the live counters page (struct bb_stats_page, proto/blkback_stats.h) with a
 *              heartbeat, mapped before the sandbox and updated about once a second */
#ifndef XENO_BLK_BLK_STATE_H
#define XENO_BLK_BLK_STATE_H

#include "blk/blkback.h"
#include "proto/blkback_stats.h"

/* Creates (0700) and opens the directory. The descriptor or -errno with a message. */
int blk_state_open(const char *path);
/* Creates and maps `stats` (never through a link). 0 or -errno with a message. */
int blk_state_map_stats(int dirfd, struct bb_stats_page **out);
void blk_state_update_stats(struct bb_stats_page *page, const struct blkback *bb);

#endif
