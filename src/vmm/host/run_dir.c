#include "vmm/host/run_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"

/* mkdir -p, the last component 0700. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf))
        return err_set(ENAMETOOLONG, "run directory '%s': path too long", path);
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return err_set(errno, "run directory '%s': creating '%s': %s", path, buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "run directory '%s': %s", path, strerror(errno));
    return 0;
}

int run_dir_open(struct run_dir *rd, const char *path)
{
    int r;
    rd->fd = -1;
    if (!*path)
        return err_set(EINVAL, "--run-dir: empty path");
    snprintf(rd->path, sizeof(rd->path), "%s", path);
    if ((r = make_dirs(path)) < 0)
        return r;
    rd->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rd->fd < 0)
        return err_set(errno, "run directory '%s': %s", path, strerror(errno));
    if (flock(rd->fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(rd->fd);
        rd->fd = -1;
        if (e == EWOULDBLOCK)
            return err_set(EBUSY, "run directory '%s' is in use by another monitor", path);
        return err_set(e, "run directory '%s': lock: %s", path, strerror(e));
    }
    if (fchmod(rd->fd, 0700) < 0)
        return err_set(errno, "run directory '%s': chmod: %s", path, strerror(errno));
    static const char *const stale[] = {RUN_DIR_CONTROL, RUN_DIR_CONSOLE, RUN_DIR_PID, RUN_DIR_OUTCOME};
    for (unsigned i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
        if (unlinkat(rd->fd, stale[i], 0) < 0 && errno != ENOENT)
            return err_set(errno, "run directory '%s': removing old %s: %s", path, stale[i], strerror(errno));
    return 0;
}

void run_dir_close(struct run_dir *rd)
{
    if (rd->fd >= 0)
        close(rd->fd); /* releases the lock */
    rd->fd = -1;
}

int run_dir_listen(struct run_dir *rd, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rd->path, name);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) /* too long for sun_path: go through our fd */
        n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", rd->fd, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(errno, "%s: socket: %s", name, strerror(errno));
    unlinkat(rd->fd, name, 0);
    mode_t old = umask(077); /* the socket is born 0600: nobody else may connect, even briefly */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || fchmodat(rd->fd, name, 0600, 0) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "%s/%s: %s", rd->path, name, strerror(e));
    }
    return fd;
}

int run_dir_write(struct run_dir *rd, const char *name, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    int fd = openat(rd->fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "%s/%s: %s", rd->path, tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlinkat(rd->fd, tmp, 0);
            return err_set(e, "%s/%s: %s", rd->path, tmp, strerror(e));
        }
        off += (size_t)w;
    }
    close(fd);
    if (renameat(rd->fd, tmp, rd->fd, name) < 0) {
        int e = errno;
        unlinkat(rd->fd, tmp, 0);
        return err_set(e, "%s/%s: %s", rd->path, name, strerror(e));
    }
    return 0;
}

void run_dir_remove(struct run_dir *rd, const char *name)
{
    unlinkat(rd->fd, name, 0);
}
