#include "proto/blkback_stats.h"

#include <errno.h>
#include <unistd.h>

int bb_stats_read_fd(int fd, struct bb_stats_page *out)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t seq0;
        if (pread(fd, &seq0, sizeof(seq0), 8) != sizeof(seq0))
            return errno ? -errno : -EINVAL;
        if (seq0 & 1)
            continue;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (pread(fd, out, sizeof(*out), 0) != (ssize_t)sizeof(*out))
            return -EINVAL;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (out->seq != seq0)
            continue;
        if (out->magic != BB_STATS_MAGIC || out->version != BB_STATS_VERSION || out->ndisks > BB_STATS_MAX_DISKS)
            return -EINVAL;
        return 0;
    }
    return -EAGAIN;
}
