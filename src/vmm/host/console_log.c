#include "vmm/host/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

static int open_log(struct console_log *l)
{
    struct stat st;
    l->fd = openat(l->dir_fd, CONSOLE_LOG_NAME, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (l->fd < 0)
        return err_set(errno, "%s: %s", CONSOLE_LOG_NAME, strerror(errno));
    l->size = fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    l->failed = 0;
    return 0;
}

int console_log_open(struct console_log *l, int dir_fd, uint64_t limit)
{
    l->dir_fd = dir_fd;
    l->limit = limit < CONSOLE_LOG_MIN ? CONSOLE_LOG_MIN : limit;
    return open_log(l);
}

static void rotate(struct console_log *l)
{
    close(l->fd);
    l->fd = -1;
    if (renameat(l->dir_fd, CONSOLE_LOG_NAME, l->dir_fd, CONSOLE_LOG_OLD_NAME) < 0)
        log_warn("rotating %s: %s", CONSOLE_LOG_NAME, strerror(errno));
    if (open_log(l) < 0)
        log_warn("console log: %s", err_msg());
}

void console_log_write(struct console_log *l, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len && l->fd >= 0) {
        if (l->size >= l->limit) {
            rotate(l);
            continue;
        }
        size_t n = len;
        if (n > l->limit - l->size)
            n = (size_t)(l->limit - l->size);
        ssize_t w = l->failed ? (ssize_t)n : write(l->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            log_warn("console log: %s (console output is not logged until the next rotation)", strerror(errno));
            l->failed = 1;
            w = (ssize_t)n; /* count it anyway, so rotation (and a retry) still comes */
        }
        l->size += (uint64_t)w;
        p += w;
        len -= (size_t)w;
    }
}

void console_log_close(struct console_log *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
