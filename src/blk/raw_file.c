#include "blk/raw_file.h"

#include "lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_beneath(int dirfd, const char *name, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

int blk_image_open(struct blk_image *img, int dirfd, const char *name, bool readonly)
{
    img->fd = img->direct_fd = -1;
    img->readonly = readonly;
    int mode = readonly ? O_RDONLY : O_RDWR;
    int fd = open_beneath(dirfd, name, mode);
    if (fd < 0) {
        int e = errno;
        return err_set(e, "image %s: %s%s", name, strerror(e),
                       e == EXDEV || e == ELOOP ? " (images must be files under --image-dir, no links)" : "");
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 512) {
        close(fd);
        return err_set(EINVAL, "image %s: not a regular file of at least one sector", name);
    }
    img->fd = fd;
    img->size = (uint64_t)st.st_size & ~511ull;
    /* O_DIRECT is refused at open (EINVAL) on file systems without it. The name is looked up
     * again: if it no longer names the same file (replaced in between), no O_DIRECT fd. */
    img->direct_fd = open_beneath(dirfd, name, mode | O_DIRECT);
    struct stat st2;
    if (img->direct_fd >= 0 &&
        (fstat(img->direct_fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)) {
        close(img->direct_fd);
        img->direct_fd = -1;
    }
    return 0;
}

void blk_image_close(struct blk_image *img)
{
    if (img->fd >= 0)
        close(img->fd);
    if (img->direct_fd >= 0)
        close(img->direct_fd);
    img->fd = img->direct_fd = -1;
}
