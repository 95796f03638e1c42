/* The monitor's side of the stats page (src/lib/stats_page.h): a 4 KiB file in the run
 * directory, mapped shared, that only the monitor writes. Each update is one seqlock
 * write section. The file is created under a temporary name and renamed into place, so
 * a reader still mapping the page of an earlier monitor keeps a valid (stale) page. */
#ifndef XENO_VMM_HOST_STATS_H
#define XENO_VMM_HOST_STATS_H

#include <stdint.h>

#include "lib/stats_page.h"

#define STATS_FILE_NAME "stats"

struct stats {
    struct stats_page *page;
    int watch_fd; /* inotify on the file: IN_OPEN = a reader asked for a fresh page; -1 without one */
};

/* Creates DIR/stats (mode 0600) with the fixed fields filled in. 0 or -errno, err_msg(). */
int stats_create(struct stats *s, int dir_fd, unsigned nvcpus, uint64_t memory_bytes);
/* Opens an update: returns the page to fill in; stats_end() publishes it. */
struct stats_page *stats_begin(struct stats *s);
void stats_end(struct stats *s);
void stats_close(struct stats *s);
/* Readers' requests (docs/control-channel.md, "Stats page"): the descriptor to poll, -1
 * when inotify is not available (the monitor then never stops its timed refresh), and the
 * drain: how many opens (requests) happened since the last call (0 when none). */
int stats_watch_fd(const struct stats *s);
unsigned stats_take_requests(struct stats *s);

#endif
