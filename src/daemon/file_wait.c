#include "daemon/file_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <stdio.h>

#define CANCEL_CHECK_MS 100
#define FALLBACK_POLL_MS 5

static int exists(int dirfd, const char *dir, const char *name)
{
    if (dirfd >= 0)
        return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    char path[4200];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}

static int64_t ms_left(const struct timespec *end)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

int file_wait(const char *dir, const char *name, int pidfd, int timeout_ms, int (*cancelled)(void *), void *ctx)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    /* The watch before the first look: a file that appears in between is seen either way.
     * The monitor writes it by rename (IN_MOVED_TO); IN_CREATE for any other writer. */
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0 && inotify_add_watch(in, dir, IN_MOVED_TO | IN_CREATE | IN_ONLYDIR) < 0) {
        close(in);
        in = -1;
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    for (;;) {
        if (exists(dirfd, dir, name)) {
            rc = 0;
            break;
        }
        if (cancelled && cancelled(ctx)) {
            rc = -ECANCELED;
            break;
        }
        int64_t left = ms_left(&end);
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        int wait_ms = in >= 0 ? (int)left : FALLBACK_POLL_MS;
        if (cancelled && wait_ms > CANCEL_CHECK_MS)
            wait_ms = CANCEL_CHECK_MS;
        if (wait_ms > left)
            wait_ms = (int)left;
        struct pollfd p[2] = {{pidfd, POLLIN, 0}, {in, POLLIN, 0}};
        int n = poll(p, in >= 0 ? 2 : 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (n > 0 && p[1].revents) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(in, buf, sizeof(buf)) > 0)
                ; /* which entry changed does not matter: look again */
        }
        if (n > 0 && p[0].revents) {
            /* Ended: it may still have published the file just before. */
            rc = exists(dirfd, dir, name) ? 0 : -ECHILD;
            break;
        }
    }
    if (dirfd >= 0)
        close(dirfd);
    if (in >= 0)
        close(in);
    return rc;
}
