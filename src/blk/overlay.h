/* A copy-on-write overlay open for I/O (docs/overlay-format.md): clusters the
 * overlay holds are read and written in its file, the others read from the base image (or as
 * zeros); a write to one of those allocates a data slot, copying the rest of the cluster from
 * the base first. Synchronous pread/pwrite underneath; every operation first translates the
 * guest offset (ovl_map_read, or the allocation in ovl_pwrite) and then does the I/O, which is
 * how xeno-blkback puts it on io_uring: translate, then submit to the file and offset it got.
 *
 * Crash consistency: a new cluster's data is written before its table entry, and table
 * entries reach the file only in ovl_flush(), after an fdatasync of the data, then fdatasync
 * again. So after a crash every entry on disk points at data that was durable when the entry
 * was written; writes since the last flush may be lost (old contents read back), as on a disk
 * with a volatile cache. A data slot freed by discard is reused only after the flush that
 * made its entry's change durable, so a crash never shows one cluster's data in another.
 *
 * Threads: one thread at a time per struct ovl (xeno-blkback's I/O thread of that disk). */
#ifndef XENO_BLK_OVERLAY_H
#define XENO_BLK_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/overlay_format.h"

struct ovl;

/* One run of guest bytes translated to a file: `len` bytes at `off` of `fd`, or zeros when
 * fd is -1. */
struct image_extent {
    int fd;
    uint64_t off, len;
};

/* Reads and checks the header and table of the overlay `fd` (which the ovl takes) whose base
 * is `base_fd` (taken too; -1 without a base, checked by the caller against the header's
 * identity). `ro`: no writes. `name` is for messages. 0 or -errno with a message. */
int ovl_open(int fd, int base_fd, bool ro, const char *name, struct ovl **out);
const struct ovl_header *ovl_header(const struct ovl *o);
/* The overlay's own file (not its base), for fstat (the space it occupies). */
int ovl_fd(const struct ovl *o);
/* Translates [off, off+len) (inside the virtual size): the first extent, at most len bytes
 * and never crossing a cluster. */
void ovl_map_read(const struct ovl *o, uint64_t off, uint64_t len, struct image_extent *ext);
/* The same for a write, where the cluster has its data slot already (the write changes no
 * table entry): true and the extent in the overlay's file; false when the write would have to
 * allocate (copy-on-write: ovl_pwrite does it). */
bool ovl_map_write(const struct ovl *o, uint64_t off, uint64_t len, struct image_extent *ext);
/* The overlay's file and its base's (-1: none), for a caller that opens them again (O_DIRECT). */
void ovl_files(const struct ovl *o, int *fd, int *base_fd);
int ovl_pread(struct ovl *o, void *buf, size_t len, uint64_t off);
int ovl_pwrite(struct ovl *o, const void *buf, size_t len, uint64_t off);
/* Discard and write-zeroes alike: the range reads zeros afterwards; whole clusters lose their
 * data slot (its blocks are punched out of the file). */
int ovl_zero(struct ovl *o, uint64_t off, uint64_t len);
int ovl_flush(struct ovl *o);
/* Cluster idx's table entry (OVL_ENTRY_* or its data's offset), for `disk commit`. */
uint64_t ovl_entry(const struct ovl *o, uint64_t idx);
/* Counts of clusters by state (for `xenctl disk info`). */
void ovl_counts(const struct ovl *o, uint64_t *allocated, uint64_t *zero);
/* Flushes (unless read-only), closes both files and frees; returns the flush's result. */
int ovl_close(struct ovl *o);

#endif
