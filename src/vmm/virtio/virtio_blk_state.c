/* A virtio-blk disk in a snapshot or a migration (docs/snapshot-format.md, "Disks"): the
 * request queue is taken back from the backend first (it drains, publishes and flushes), then
 * the disk section records the image the backend serves and its identity, and a restore or
 * an incoming migration refuses an image that is not the one recorded. The monitor never
 * opens the image: it looks at the file's metadata (fstatat, no link followed), which is the
 * identity, and the bytes stay the backend's. */
#include "vmm/virtio/virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/log.h"
#include "proto/virtio_blk.h"

int virtio_blk_hold(struct virtio_blk *b)
{
    return vhost_front_hold(&b->front);
}

void virtio_blk_release(struct virtio_blk *b)
{
    vhost_front_release(&b->front);
}

static uint64_t ns_of(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/* The image's identity now, into d (size, ino, mtime, ctime). */
static int identity(const struct virtio_blk *b, struct snap_disk *d)
{
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof(path), "%s/%s", b->image_dir, b->image) >= (int)sizeof(path))
        return err_set(ENAMETOOLONG, "image '%s' in %s: the path is too long", b->image, b->image_dir);
    if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(errno, "image '%s' in %s: %s", b->image, b->image_dir, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(EINVAL, "image '%s' in %s: not a regular file", b->image, b->image_dir);
    d->size = (uint64_t)st.st_size;
    d->ino = (uint64_t)st.st_ino;
    d->mtime_ns = ns_of(&st.st_mtim);
    d->ctime_ns = ns_of(&st.st_ctim);
    return 0;
}

/* The vCPUs are paused. Takes the queue back if it is not already (a migration took it at
 * its start); the caller releases it if the domain runs on here. */
static int disk_save(void *dev, void *buf)
{
    struct virtio_blk *b = dev;
    struct snap_disk *d = buf;
    if (!b->image || !b->image_dir)
        return err_set(EOPNOTSUPP,
                       "virtio-blk: --disk has no image=NAME,image-dir=DIR: the image's identity cannot be recorded, "
                       "so a restore could not refuse a changed image (docs/snapshot-format.md, \"Disks\")");
    int r = virtio_blk_hold(b);
    if (r < 0)
        return err_wrap(-r, "disk image '%s'", b->image);
    if (strlen(b->image) >= sizeof(d->image))
        return err_set(ENAMETOOLONG, "disk image '%s': the name is longer than %zu bytes", b->image,
                       sizeof(d->image) - 1);
    d->version = SNAP_DISK_VERSION;
    d->flags = b->readonly ? SNAP_DISK_F_READONLY : 0;
    d->sectors = b->sectors;
    memcpy(d->image, b->image, strlen(b->image) + 1);
    return identity(b, d);
}

/* What the disk section says against this disk (untrusted payload: every field is checked
 * before it is printed or compared; nothing is opened by its name). */
static int disk_check(void *dev, const void *buf, unsigned instance)
{
    const struct virtio_blk *b = dev;
    const struct snap_disk *d = buf;
    if (snap_disk_check(d) < 0) /* a file's were checked with its config; a migration's come here first */
        return err_wrap(EINVAL, "disk %u", instance);
    if (!b->image || !b->image_dir)
        return err_set(EINVAL,
                       "disk %u: the snapshot was taken with image '%s'; give --disk image=%s,image-dir=DIR so that "
                       "its identity can be checked",
                       instance, d->image, d->image);
    if (strcmp(d->image, b->image) != 0)
        return err_set(EINVAL, "disk %u: the snapshot was taken with image '%s', this disk serves '%s'", instance,
                       d->image, b->image);
    if (d->sectors != b->sectors || ((d->flags & SNAP_DISK_F_READONLY) != 0) != b->readonly)
        return err_set(EINVAL, "disk %u (image '%s'): the guest saw %" PRIu64 " sectors%s, this disk has %" PRIu64 "%s",
                       instance, d->image, d->sectors, d->flags & SNAP_DISK_F_READONLY ? " read-only" : "", b->sectors,
                       b->readonly ? " read-only" : "");
    struct snap_disk now = {0};
    int r = identity(b, &now);
    if (r < 0)
        return err_wrap(-r, "disk %u", instance);
    if (now.size != d->size || now.ino != d->ino || now.mtime_ns != d->mtime_ns || now.ctime_ns != d->ctime_ns)
        return err_set(ESTALE,
                       "disk %u: image '%s' in %s changed since the snapshot was taken (size %" PRIu64
                       ", inode %" PRIu64 ", modified %" PRIu64 ".%09" PRIu64 ", changed %" PRIu64 ".%09" PRIu64
                       "; recorded: size %" PRIu64 ", inode %" PRIu64 ", modified %" PRIu64 ".%09" PRIu64
                       ", changed %" PRIu64 ".%09" PRIu64 "): the guest's memory no longer matches its disk; refused",
                       instance, b->image, b->image_dir, now.size, now.ino, now.mtime_ns / 1000000000u,
                       now.mtime_ns % 1000000000u, now.ctime_ns / 1000000000u, now.ctime_ns % 1000000000u, d->size,
                       d->ino, d->mtime_ns / 1000000000u, d->mtime_ns % 1000000000u, d->ctime_ns / 1000000000u,
                       d->ctime_ns % 1000000000u);
    return 0;
}

/* Nothing to load: the queue's state is the virtio section's and guest RAM's, and the image
 * was checked. */
static int disk_restore(void *dev, const void *buf, enum dev_state_source src)
{
    (void)dev, (void)buf, (void)src;
    return 0;
}

const struct dev_state_ops virtio_blk_disk_state_ops = {
    .section = SNAP_SEC_DISK,
    .size = sizeof(struct snap_disk),
    .save = disk_save,
    .check = disk_check,
    .restore = disk_restore,
};
