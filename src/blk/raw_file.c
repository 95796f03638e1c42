#include "blk/raw_file.h"

#include "blk/image.h"
#include "blk/image_dir.h"

#include "lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The image directory's one way of opening a name beneath it (image_dir.c: openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, O_NOFOLLOW per component where the kernel lacks it,
 * regular files only). A file that is not regular is -EINVAL as before. */
static int open_beneath(int dirfd, const char *name, int flags)
{
    int fd = image_dir_openat(dirfd, "--image-dir", name, flags, 0);
    if (fd >= 0) {
        /* image_dir_openat opens O_NONBLOCK against planted FIFOs; io_uring would answer
         * EAGAIN on a non-blocking file instead of waiting for the device. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            int e = errno;
            close(fd);
            return err_set(e, "image %s: fcntl: %s", name, strerror(e));
        }
    }
    return fd;
}

/* NAME beneath dirfd again with O_DIRECT, if it is still the file `fd` is (not replaced in
 * between); -1 where the file system refuses O_DIRECT or the name changed. */
static int reopen_direct(int dirfd, const char *name, int mode, int fd)
{
    int dfd = open_beneath(dirfd, name, mode | O_DIRECT);
    struct stat st, st2;
    if (dfd >= 0 &&
        (fstat(fd, &st) < 0 || fstat(dfd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)) {
        close(dfd);
        dfd = -1;
    }
    return dfd < 0 ? -1 : dfd;
}

int blk_image_open(struct blk_image *img, int dirfd, const char *name, bool readonly)
{
    img->fd = img->direct_fd = -1;
    img->ovl_fd = img->ovl_direct_fd = img->base_fd = img->base_direct_fd = -1;
    img->ovl = NULL;
    img->readonly = readonly;
    int mode = readonly ? O_RDONLY : O_RDWR;
    int fd = open_beneath(dirfd, name, mode);
    if (fd < 0) {
        if (fd == -ENOENT || fd == -EACCES)
            return fd;
        return err_wrap(-fd, "images must be files under --image-dir, no links");
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
    if (img->direct_fd < 0)
        img->direct_fd = -1;
    struct stat st2;
    if (img->direct_fd >= 0 &&
        (fstat(img->direct_fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)) {
        close(img->direct_fd);
        img->direct_fd = -1;
    }
    return 0;
}

int blk_image_open_any(struct blk_image *img, int dirfd, const char *name, bool readonly)
{
    if (image_format_of_name(name) != IMAGE_OVERLAY)
        return blk_image_open(img, dirfd, name, readonly);
    *img = (struct blk_image){.fd = -1,
                              .direct_fd = -1,
                              .ovl_fd = -1,
                              .ovl_direct_fd = -1,
                              .base_fd = -1,
                              .base_direct_fd = -1,
                              .readonly = readonly};
    int rc = image_open(dirfd, "--image-dir", name, readonly, &img->ovl);
    if (rc < 0)
        return rc;
    img->size = image_size(img->ovl) & ~511ull;
    if (img->size < 512) {
        image_close(img->ovl);
        img->ovl = NULL;
        return err_set(EINVAL, "image %s: smaller than one sector", name);
    }
    struct ovl *o = image_overlay(img->ovl);
    ovl_files(o, &img->ovl_fd, &img->base_fd);
    img->ovl_direct_fd = reopen_direct(dirfd, name, readonly ? O_RDONLY : O_RDWR, img->ovl_fd);
    if (img->base_fd >= 0)
        img->base_direct_fd = reopen_direct(dirfd, ovl_header(o)->base_name, O_RDONLY, img->base_fd);
    return 0;
}

void blk_image_close(struct blk_image *img)
{
    if (img->ovl)
        image_close(img->ovl);
    img->ovl = NULL;
    if (img->fd >= 0)
        close(img->fd);
    if (img->direct_fd >= 0)
        close(img->direct_fd);
    if (img->ovl_direct_fd >= 0)
        close(img->ovl_direct_fd);
    if (img->base_direct_fd >= 0)
        close(img->base_direct_fd);
    img->fd = img->direct_fd = img->ovl_direct_fd = img->base_direct_fd = -1;
    img->ovl_fd = img->base_fd = -1;
}
