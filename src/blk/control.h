/* xeno-blkback's control socket (--control PATH; docs/blkback.md, "Control socket"): disks
 * come and go while the backend runs. The framing is lib/line_server.h (shared with
 * xeno-netback); the words are proto/netback_ctl.h's nb_line_words (spaces, no control
 * characters). Requests, each answered by one `ok ...` or `err ...` line (`list` and `stats`
 * add one line per disk after theirs):
 *
 *   version                 ok blkctl 1
 *   add-disk SPEC           ok name=N sectors=S [updated]   (SPEC: --disk's words)
 *   remove-disk NAME        ok
 *   list                    ok disks=N, then "disk name=N socket=P file=F sectors=S readonly=0|1 connected=0|1"
 *   stats                   ok disks=N, then blkback_stats' lines
 *   status                  ok pid=P disks=N connected=C
 *
 * add-disk of a name that exists with the same socket and file is blkback_update_disk().
 * Threads: one (the event loop). */
#ifndef XENO_BLK_CONTROL_H
#define XENO_BLK_CONTROL_H

#include "blk/blkback.h"

#define BLK_CONTROL_VERSION 1

/* Runs one request line and returns the reply text (malloc'd, ends in '\n'; NULL: out of
 * memory). The line_server handler, and the unit tests' way in. */
char *blk_control_request(void *bb, char *line);

#endif
