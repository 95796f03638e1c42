#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

/* Non-empty mapping for zero-length files, so callers never see a NULL data pointer. */
static const uint8_t empty_file[1];

int file_map_open(struct file_map *fm, const char *path, const char *what)
{
    struct stat st;
    fm->data = NULL;
    fm->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "%s '%s': %s", what, path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        close(fd);
        return err_set(e, "%s '%s': not a regular file", what, path);
    }
    if (st.st_size == 0) {
        close(fd);
        fm->data = empty_file;
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, "%s '%s': cannot map: %s", what, path, strerror(e));
    fm->data = p;
    fm->len = (size_t)st.st_size;
    return 0;
}

void file_map_close(struct file_map *fm)
{
    if (fm->len)
        munmap((void *)fm->data, fm->len);
    fm->data = NULL;
    fm->len = 0;
}

int file_fsync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if ((size_t)(slash - path) >= sizeof(dir))
        return err_set(ENAMETOOLONG, "%s: path too long", path);
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "directory %s: %s", dir, strerror(errno));
    int r = fsync(fd) < 0 ? err_set(errno, "fsync of directory %s: %s", dir, strerror(errno)) : 0;
    close(fd);
    return r;
}

int file_create_new(const char *path, mode_t mode)
{
    for (int tries = 0;; tries++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0)
            return fd;
        int e = errno;
        struct stat st;
        /* Left by a crash of ours: a plain file of our own with no other name. Anything
         * else (a symlink, someone else's file, a hard link to a file elsewhere) stays. The
         * unlink removes this name only, never what a link points to. */
        if (e == EEXIST && !tries && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            st.st_nlink == 1 && unlink(path) == 0)
            continue;
        return err_set(e, "%s: %s%s", path, strerror(e),
                       e == EEXIST ? " (not a stale file of ours: not replaced; remove it if it is)" : "");
    }
}

/* PATH.tmp created new, written, renamed over path; with `durable`, fsync of the file before
 * the rename and of the directory after it. */
static int write_whole(const char *path, const void *data, size_t len, mode_t mode, int durable)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return err_set(ENAMETOOLONG, "%s: path too long", path);
    int fd = file_create_new(tmp, mode);
    if (fd < 0)
        return fd;
    const char *p = data;
    int r = 0;
    while (len && r == 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            p += n, len -= (size_t)n;
    }
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return err_set(-r, "%s: %s", path, strerror(-r));
    }
    return durable ? file_fsync_dir(path) : 0; /* the rename itself durable */
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    return write_whole(path, data, len, mode, 1);
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    return write_whole(path, data, len, mode, 0);
}
