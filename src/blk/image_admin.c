/* `xenctl disk create|info|commit`: images made, described and merged in the image directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/image.h"
#include "blk/image_base.h"
#include "lib/err.h"

static int create_file(int dirfd, const char *dir, const char *name)
{
    return image_dir_openat(dirfd, dir, name, O_RDWR | O_CREAT | O_EXCL, 0600);
}

int image_create_raw(int dirfd, const char *dir, const char *name, uint64_t size)
{
    if (image_format_of_name(name) != IMAGE_RAW)
        return err_set(EINVAL, "image '%s': a raw image's name must not end in %s", name, IMAGE_OVERLAY_SUFFIX);
    if (size == 0 || size % 512 || size > OVL_MAX_VIRTUAL_SIZE)
        return err_set(EINVAL, "image '%s': size must be a multiple of 512 bytes up to 1 TiB", name);
    int fd = create_file(dirfd, dir, name);
    if (fd < 0)
        return fd;
    int rc = ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        unlinkat(dirfd, name, 0);
        return err_set(-rc, "image '%s' in %s: %s", name, dir, strerror(-rc));
    }
    return 0;
}

static void identity_of(const struct stat *st, struct ovl_header *h)
{
    h->base_size = (uint64_t)st->st_size;
    h->base_ino = (uint64_t)st->st_ino;
    h->base_mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec;
}

/* Writes a fresh overlay (empty table) described by *h into fd: header, zero table up to the
 * data, synced. */
static int write_empty_overlay(int fd, const struct ovl_header *h)
{
    uint8_t hdr[OVL_HEADER_SIZE];
    ovl_header_encode(h, hdr);
    /* Header first: for `commit`, a crash before the table is emptied leaves the new base's
     * identity with clusters that hold what the base now holds. */
    if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        return errno ? -errno : -EIO;
    if (ftruncate(fd, OVL_HEADER_SIZE) < 0 || ftruncate(fd, (off_t)h->data_offset) < 0)
        return -errno;
    return fdatasync(fd) < 0 ? -errno : 0;
}

int image_create_overlay(int dirfd, const char *dir, const char *name, uint64_t size, const char *base,
                         unsigned cluster_bits)
{
    if (image_format_of_name(name) != IMAGE_OVERLAY)
        return err_set(EINVAL, "image '%s': an overlay's name ends in %s", name, IMAGE_OVERLAY_SUFFIX);
    struct ovl_header h = {.virtual_size = size, .cluster_bits = cluster_bits};
    if (base && base[0]) {
        if (image_format_of_name(base) != IMAGE_RAW)
            return err_set(EINVAL, "base '%s': bases are raw images, not overlays", base);
        int bfd = image_dir_openat(dirfd, dir, base, O_RDONLY, 0);
        if (bfd < 0)
            return bfd;
        struct stat st;
        int rc = fstat(bfd, &st) < 0 ? -errno : 0;
        close(bfd);
        if (rc < 0)
            return err_set(-rc, "base '%s': %s", base, strerror(-rc));
        identity_of(&st, &h);
        snprintf(h.base_name, sizeof(h.base_name), "%s", base);
        if (!h.virtual_size)
            h.virtual_size = (h.base_size + 511) & ~511ull;
        if (h.virtual_size < h.base_size)
            return err_set(EINVAL, "overlay '%s': size %llu is smaller than its base '%s' (%llu)", name,
                           (unsigned long long)h.virtual_size, base, (unsigned long long)h.base_size);
    }
    int rc = ovl_header_layout(&h);
    if (rc < 0)
        return err_wrap(-rc, "image '%s'", name);
    int fd = create_file(dirfd, dir, name);
    if (fd < 0)
        return fd;
    rc = write_empty_overlay(fd, &h);
    close(fd);
    if (rc < 0) {
        unlinkat(dirfd, name, 0);
        return err_set(-rc, "overlay '%s' in %s: %s", name, dir, strerror(-rc));
    }
    return 0;
}

/* Cluster i of o into the base: its data, or zeros for a zeroed cluster. */
static int merge_cluster(struct ovl *o, int fd, int base_fd, uint64_t i, uint8_t *buf)
{
    const struct ovl_header *h = ovl_header(o);
    uint64_t cluster = 1ull << h->cluster_bits, off = i * cluster, e = ovl_entry(o, i);
    uint64_t n = h->virtual_size - off < cluster ? h->virtual_size - off : cluster;
    if (e == OVL_ENTRY_UNALLOCATED)
        return 0;
    if (e == OVL_ENTRY_ZERO) {
        if (fallocate(base_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n) == 0)
            return 0;
        memset(buf, 0, n);
    } else if (pread(fd, buf, n, (off_t)e) < 0) {
        return -errno;
    } /* a short read left the rest as it was: the scratch buffer is zeroed per cluster */
    return pwrite(base_fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : (errno ? -errno : -EIO);
}

static int commit_open(int dirfd, const char *dir, const char *name, int *fd, int *base_fd, struct ovl_header *h)
{
    uint8_t hdr[OVL_HEADER_SIZE];
    int rc = *fd = image_dir_openat(dirfd, dir, name, O_RDWR, 0);
    if (rc >= 0)
        rc = image_lock(*fd, true, name, dir);
    if (rc >= 0 && pread(*fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        rc = err_set(EINVAL, "overlay '%s': too short for a header", name);
    if (rc >= 0 && (rc = ovl_header_decode(hdr, h)) < 0)
        rc = err_wrap(-rc, "image '%s'", name);
    if (rc >= 0 && !h->base_name[0])
        rc = err_set(EINVAL, "overlay '%s' has no base to commit into", name);
    if (rc >= 0 && (rc = *base_fd = image_dir_openat(dirfd, dir, h->base_name, O_RDWR, 0)) >= 0)
        rc = image_lock(*base_fd, true, h->base_name, dir);
    if (rc >= 0)
        rc = image_base_check(*base_fd, h, name);
    return rc < 0 ? rc : 0;
}

int image_commit(int dirfd, const char *dir, const char *name, uint64_t *clusters)
{
    if (image_format_of_name(name) != IMAGE_OVERLAY)
        return err_set(EINVAL, "image '%s' is not an overlay (its name ends in %s)", name, IMAGE_OVERLAY_SUFFIX);
    int fd = -1, base_fd = -1;
    struct ovl_header h;
    struct ovl *o = NULL;
    uint8_t *buf = NULL;
    int rc = commit_open(dirfd, dir, name, &fd, &base_fd, &h);
    /* The ovl reads through duplicates: they share the open files, hence the locks. */
    if (rc == 0)
        rc = ovl_open(dup(fd), dup(base_fd), true, name, &o);
    if (rc == 0 && !(buf = malloc(1ull << h.cluster_bits)))
        rc = err_set(ENOMEM, "overlay '%s': out of memory", name);
    if (rc == 0 && h.virtual_size > h.base_size && ftruncate(base_fd, (off_t)h.virtual_size) < 0)
        rc = err_set(errno, "base '%s': growing it: %s", h.base_name, strerror(errno));
    *clusters = 0;
    for (uint64_t i = 0; rc == 0 && i < h.entries; i++) {
        memset(buf, 0, 1ull << h.cluster_bits);
        *clusters += ovl_entry(o, i) != OVL_ENTRY_UNALLOCATED;
        if ((rc = merge_cluster(o, fd, base_fd, i, buf)) < 0)
            rc = err_set(-rc, "merging cluster %llu of '%s' into '%s': %s", (unsigned long long)i, name, h.base_name,
                         strerror(-rc));
    }
    if (rc == 0 && fdatasync(base_fd) < 0)
        rc = err_set(errno, "base '%s': fdatasync: %s", h.base_name, strerror(errno));
    /* The base now holds everything: a crash from here on leaves an overlay whose clusters
     * equal the base's (or one refused as stale), never a different disk. */
    struct stat st;
    if (rc == 0 && fstat(base_fd, &st) < 0)
        rc = err_set(errno, "base '%s': %s", h.base_name, strerror(errno));
    if (rc == 0) {
        identity_of(&st, &h);
        int w = write_empty_overlay(fd, &h);
        if (w < 0)
            rc = err_set(-w, "overlay '%s': emptying it after the merge: %s", name, strerror(-w));
    }
    ovl_close(o);
    free(buf);
    if (fd >= 0)
        close(fd);
    if (base_fd >= 0)
        close(base_fd);
    return rc;
}

static void overlay_info(int dirfd, const char *dir, const char *name, struct ovl *o, struct image_info *info)
{
    const struct ovl_header *h = ovl_header(o);
    info->virtual_size = h->virtual_size;
    info->cluster_size = 1ull << h->cluster_bits;
    info->entries = h->entries;
    ovl_counts(o, &info->allocated, &info->zero);
    snprintf(info->base, sizeof(info->base), "%s", h->base_name);
    if (!h->base_name[0]) {
        info->base_ok = 1;
        return;
    }
    int bfd = image_dir_openat(dirfd, dir, h->base_name, O_RDONLY, 0);
    if (bfd >= 0 && image_base_check(bfd, h, name) == 0)
        info->base_ok = 1;
    else
        snprintf(info->base_problem, sizeof(info->base_problem), "%s", err_msg());
    if (bfd >= 0)
        close(bfd);
}

int image_info(int dirfd, const char *dir, const char *name, struct image_info *info)
{
    memset(info, 0, sizeof(*info));
    int fd = image_dir_openat(dirfd, dir, name, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "image '%s': %s", name, strerror(e));
    }
    info->disk_bytes = (uint64_t)st.st_blocks * 512;
    info->format = image_format_of_name(name);
    if (info->format == IMAGE_RAW) {
        info->virtual_size = (uint64_t)st.st_size;
        close(fd);
        return 0;
    }
    struct ovl *o;
    int rc = ovl_open(fd, -1, true, name, &o); /* takes fd */
    if (rc < 0)
        return err_wrap(-rc, "image directory %s", dir);
    overlay_info(dirfd, dir, name, o, info);
    ovl_close(o);
    return 0;
}
