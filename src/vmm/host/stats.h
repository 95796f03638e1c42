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
};

/* Creates DIR/stats (mode 0600) with the fixed fields filled in. 0 or -errno, err_msg(). */
int stats_create(struct stats *s, int dir_fd, unsigned nvcpus, uint64_t memory_bytes);
/* Opens an update: returns the page to fill in; stats_end() publishes it. */
struct stats_page *stats_begin(struct stats *s);
void stats_end(struct stats *s);
void stats_close(struct stats *s);
#endif
