#include "blk/image_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"

/* The fallback: each directory component with O_NOFOLLOW|O_DIRECTORY, the last with
 * O_NOFOLLOW. The name was checked, so no component is "..". */
static int open_by_components(int dirfd, const char *name, int flags, mode_t mode)
{
    char part[IMAGE_NAME_MAX + 1];
    int cur = dirfd;
    const char *p = name;
    for (;;) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        memcpy(part, p, n);
        part[n] = '\0';
        int fd = *end ? openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                      : openat(cur, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (fd < 0)
            return -e;
        if (!*end)
            return fd;
        cur = fd;
        p = end + 1;
    }
}

/* The name checked, the file opened (openat2, or the fallback), then the regular-file check, with errors
 * that name the image and the directory. */
static int open_checked(int dirfd, const char *dir, const char *name, int flags, mode_t mode, bool components)
{
    int rc = image_name_check(name);
    if (rc < 0)
        return err_wrap(-rc, "image directory %s", dir);
    /* O_NONBLOCK: opening a FIFO planted in the directory must not hang the caller; it has
     * no effect on the regular files that pass the check. */
    flags |= O_NONBLOCK;
    int fd = -ENOSYS;
    if (!components) {
        struct open_how how = {
            .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
        if (fd < 0)
            fd = -errno;
    }
    if (fd == -ENOSYS || fd == -EPERM) /* no openat2, or seccomp said no */
        fd = open_by_components(dirfd, name, flags, mode);
    if (fd < 0) {
        const char *why =
            fd == -ELOOP || fd == -EXDEV ? "a symbolic link or a path leaving the directory" : strerror(-fd);
        return err_set(-fd, "image '%s' in %s: %s", name, dir, why);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(EINVAL, "image '%s' in %s: not a regular file", name, dir);
    }
    return fd;
}

int image_dir_openat(int dirfd, const char *dir, const char *name, int flags, mode_t mode)
{
    return open_checked(dirfd, dir, name, flags, mode, false);
}

int image_dir_openat_components(int dirfd, const char *dir, const char *name, int flags, mode_t mode)
{
    return open_checked(dirfd, dir, name, flags, mode, true);
}

int image_dir_open(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "image directory %s: %s", dir, strerror(errno));
    return fd;
}
