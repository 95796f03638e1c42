#include "blk/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/image_base.h"
#include "lib/err.h"

struct image {
    enum image_format format;
    bool ro;
    int fd;          /* raw */
    uint64_t size;   /* raw: the file's size at open */
    struct ovl *ovl; /* overlay */
    char name[IMAGE_NAME_MAX + 1];
};

enum image_format image_format_of_name(const char *name)
{
    size_t n = strlen(name), k = strlen(IMAGE_OVERLAY_SUFFIX);
    return n > k && strcmp(name + n - k, IMAGE_OVERLAY_SUFFIX) == 0 ? IMAGE_OVERLAY : IMAGE_RAW;
}

int image_lock(int fd, bool exclusive, const char *name, const char *dir)
{
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
        return 0;
    int e = errno;
    if (e == EWOULDBLOCK)
        return err_set(EBUSY, "image '%s' in %s is in use (%s)", name, dir,
                       exclusive ? "another process has it open" : "another process writes it");
    return err_set(e, "image '%s' in %s: flock: %s", name, dir, strerror(e));
}

int image_base_check(int base_fd, const struct ovl_header *h, const char *name)
{
    struct stat st;
    if (fstat(base_fd, &st) < 0)
        return err_set(errno, "base '%s': %s", h->base_name, strerror(errno));
    uint64_t mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    if ((uint64_t)st.st_size != h->base_size || (uint64_t)st.st_ino != h->base_ino || mtime != h->base_mtime_ns)
        return err_set(ESTALE,
                       "base '%s' of overlay '%s' changed since the overlay was made (size, inode or modification "
                       "time differ): refusing to read a different disk",
                       h->base_name, name);
    return 0;
}

/* image_dir_openat opens O_NONBLOCK (a planted FIFO cannot hang the opener; only regular
 * files get this far): cleared, since io_uring answers EAGAIN on a non-blocking file where it
 * should wait for the device (xeno-blkback reads and writes overlays on its ring). */
static int opened_blocking(int fd, const char *name)
{
    int fl = fd < 0 ? 0 : fcntl(fd, F_GETFL);
    if (fd >= 0 && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
        int e = errno;
        close(fd);
        return err_set(e, "image '%s': fcntl: %s", name, strerror(e));
    }
    return fd;
}

static int open_overlay(int dirfd, const char *dir, int fd, struct image *img)
{
    uint8_t hdr[OVL_HEADER_SIZE];
    struct ovl_header h;
    ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
    if (n != (ssize_t)sizeof(hdr)) {
        close(fd);
        return err_set(EINVAL, "image '%s' in %s: too short for an overlay header", img->name, dir);
    }
    int rc = ovl_header_decode(hdr, &h);
    if (rc < 0) {
        close(fd);
        return err_wrap(-rc, "image '%s' in %s", img->name, dir);
    }
    int base_fd = -1;
    if (h.base_name[0]) {
        if (image_format_of_name(h.base_name) != IMAGE_RAW)
            rc =
                err_set(EINVAL, "overlay '%s': base '%s' is an overlay (bases are raw images)", img->name, h.base_name);
        else if ((base_fd = rc =
                      opened_blocking(image_dir_openat(dirfd, dir, h.base_name, O_RDONLY, 0), h.base_name)) >= 0)
            rc = image_lock(base_fd, false, h.base_name, dir);
        if (rc >= 0)
            rc = image_base_check(base_fd, &h, img->name);
        if (rc < 0) {
            close(fd);
            if (base_fd >= 0)
                close(base_fd);
            return rc;
        }
    }
    return ovl_open(fd, base_fd, img->ro, img->name, &img->ovl);
}

int image_open(int dirfd, const char *dir, const char *name, bool ro, struct image **out)
{
    struct image *img = calloc(1, sizeof(*img));
    if (!img)
        return err_set(ENOMEM, "image '%s': out of memory", name);
    img->fd = -1, img->ro = ro;
    int fd = opened_blocking(image_dir_openat(dirfd, dir, name, ro ? O_RDONLY : O_RDWR, 0), name);
    int rc = fd;
    if (fd >= 0) {
        snprintf(img->name, sizeof(img->name), "%s", name);
        img->format = image_format_of_name(name);
        rc = image_lock(fd, !ro, name, dir);
        if (rc < 0)
            close(fd);
    }
    if (rc >= 0 && img->format == IMAGE_OVERLAY) {
        rc = open_overlay(dirfd, dir, fd, img);
    } else if (rc >= 0) {
        struct stat st;
        img->fd = fd;
        rc = fstat(fd, &st) < 0 ? err_set(errno, "image '%s': %s", name, strerror(errno)) : 0;
        img->size = (uint64_t)st.st_size;
    }
    if (rc < 0) {
        image_close(img);
        return rc;
    }
    *out = img;
    return 0;
}

uint64_t image_size(const struct image *img)
{
    return img->format == IMAGE_OVERLAY ? ovl_header(img->ovl)->virtual_size : img->size;
}
enum image_format image_format(const struct image *img)
{
    return img->format;
}
struct ovl *image_overlay(struct image *img)
{
    return img->ovl;
}

int image_file_fd(const struct image *img)
{
    return img->format == IMAGE_OVERLAY ? ovl_fd(img->ovl) : img->fd;
}

void image_map_read(const struct image *img, uint64_t off, uint64_t len, struct image_extent *ext)
{
    if (img->format == IMAGE_OVERLAY) {
        ovl_map_read(img->ovl, off, len, ext);
        return;
    }
    ext->fd = img->fd, ext->off = off, ext->len = len;
}

bool image_map_write(const struct image *img, uint64_t off, uint64_t len, struct image_extent *ext)
{
    if (img->format == IMAGE_OVERLAY)
        return ovl_map_write(img->ovl, off, len, ext);
    if (img->ro)
        return false;
    ext->fd = img->fd, ext->off = off, ext->len = len;
    return true;
}

static int raw_range(const struct image *img, uint64_t off, uint64_t len)
{
    if (off > img->size || len > img->size - off)
        return err_set(EINVAL, "image '%s': %llu bytes at %llu past its size %llu", img->name, (unsigned long long)len,
                       (unsigned long long)off, (unsigned long long)img->size);
    return 0;
}

int image_pread(struct image *img, void *buf, size_t len, uint64_t off)
{
    if (img->format == IMAGE_OVERLAY)
        return ovl_pread(img->ovl, buf, len, off);
    int rc = raw_range(img, off, len);
    for (uint8_t *p = buf; rc == 0 && len;) {
        ssize_t n = pread(img->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* n == 0: the file shrank under us */
            return err_set(n < 0 ? errno : EIO, "image '%s': read at %llu failed", img->name, (unsigned long long)off);
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return rc;
}

int image_pwrite(struct image *img, const void *buf, size_t len, uint64_t off)
{
    if (img->ro)
        return err_set(EROFS, "image '%s' is open read-only", img->name);
    if (img->format == IMAGE_OVERLAY)
        return ovl_pwrite(img->ovl, buf, len, off);
    int rc = raw_range(img, off, len);
    for (const uint8_t *p = buf; rc == 0 && len;) {
        ssize_t n = pwrite(img->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(n < 0 ? errno : EIO, "image '%s': write at %llu failed", img->name, (unsigned long long)off);
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return rc;
}

int image_flush(struct image *img)
{
    if (img->ro)
        return 0;
    if (img->format == IMAGE_OVERLAY)
        return ovl_flush(img->ovl);
    return fdatasync(img->fd) < 0 ? err_set(errno, "image '%s': fdatasync: %s", img->name, strerror(errno)) : 0;
}

/* A raw image: punch the blocks out (they read as zeros); a file system that cannot gets the
 * zeros written. */
static int raw_zero(struct image *img, uint64_t off, uint64_t len)
{
    int rc = raw_range(img, off, len);
    if (rc < 0 || len == 0)
        return rc;
    if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP)
        return err_set(errno, "image '%s': punching a hole: %s", img->name, strerror(errno));
    static const uint8_t zeros[65536];
    for (uint64_t done = 0; rc == 0 && done < len; done += sizeof(zeros)) {
        uint64_t k = len - done < sizeof(zeros) ? len - done : sizeof(zeros);
        rc = image_pwrite(img, zeros, k, off + done);
    }
    return rc;
}

int image_discard(struct image *img, uint64_t off, uint64_t len)
{
    if (img->ro)
        return err_set(EROFS, "image '%s' is open read-only", img->name);
    return img->format == IMAGE_OVERLAY ? ovl_zero(img->ovl, off, len) : raw_zero(img, off, len);
}

int image_write_zeroes(struct image *img, uint64_t off, uint64_t len)
{
    return image_discard(img, off, len);
}

int image_close(struct image *img)
{
    if (!img)
        return 0;
    int rc = 0;
    if (img->ovl)
        rc = ovl_close(img->ovl);
    if (img->fd >= 0) {
        rc = image_flush(img);
        close(img->fd);
    }
    free(img);
    return rc;
}
