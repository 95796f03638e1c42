/* A disk image open for I/O, as xeno-blkback serves it: a raw file (sparse) or a
 * copy-on-write overlay on a read-only raw base (overlay.h), always named relative to the
 * image directory (image_dir.h). The format comes from the name, never from the contents: a
 * name ending in ".ovl" is an overlay, anything else raw, so a guest that writes an overlay
 * header into its raw disk cannot make it one (and point it at another tenant's image).
 *
 * Locks: a writable open takes flock(LOCK_EX) on the image, a read-only one LOCK_SH, and an
 * overlay LOCK_SH on its base, so two domains never write one image and `disk commit` (which
 * needs its base exclusively) waits for no one: it is refused while an overlay of it is open.
 * Threads: one thread at a time per struct image. */
#ifndef XENO_BLK_IMAGE_H
#define XENO_BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/overlay.h"

#define IMAGE_OVERLAY_SUFFIX ".ovl"

enum image_format { IMAGE_RAW, IMAGE_OVERLAY };

struct image;

/* The format a name gives (see above). */
enum image_format image_format_of_name(const char *name);

/* Opens image `name` beneath the directory `dirfd` (path `dir`, for messages); an overlay's
 * base is opened read-only and must be the file the overlay was made on (size, inode and
 * modification time as recorded): a changed base is refused. 0 or -errno with a message. */
int image_open(int dirfd, const char *dir, const char *name, bool ro, struct image **out);
uint64_t image_size(const struct image *img);
enum image_format image_format(const struct image *img);
/* The overlay behind an overlay image, NULL for raw. */
struct ovl *image_overlay(struct image *img);
/* The file writes go to (raw: the image; overlay: the overlay's own file, not its base), for
 * fstat of the space it occupies. */
int image_file_fd(const struct image *img);

/* Translates [off, off+len) (inside the size) to its first extent in a file, for reads. */
void image_map_read(const struct image *img, uint64_t off, uint64_t len, struct image_extent *ext);
/* For writes: false where the write must go through image_pwrite (an overlay's cluster
 * without a data slot: copy-on-write and a table change); read-only: always false. */
bool image_map_write(const struct image *img, uint64_t off, uint64_t len, struct image_extent *ext);
/* Whole-buffer I/O inside the image's size; -EINVAL past it, -EROFS when read-only. */
int image_pread(struct image *img, void *buf, size_t len, uint64_t off);
int image_pwrite(struct image *img, const void *buf, size_t len, uint64_t off);
/* fdatasync of what was written (an overlay's table included). */
int image_flush(struct image *img);
/* The range reads zeros afterwards; a raw image's blocks are punched (space freed). */
int image_discard(struct image *img, uint64_t off, uint64_t len);
int image_write_zeroes(struct image *img, uint64_t off, uint64_t len);
/* Flushes a writable image, closes it; returns the flush's result. NULL is fine. */
int image_close(struct image *img);

/* --- what `xenctl disk` does (image_admin.c) --- */

/* Creates raw image `name` of `size` bytes (sparse), refusing one that exists. */
int image_create_raw(int dirfd, const char *dir, const char *name, uint64_t size);
/* Creates overlay `name` (ending in .ovl) on raw `base` ("" or NULL: none) of `size` bytes
 * (0: the base's size) with clusters of 2^cluster_bits bytes. */
int image_create_overlay(int dirfd, const char *dir, const char *name, uint64_t size, const char *base,
                         unsigned cluster_bits);
/* Writes overlay `name`'s clusters into its base (growing the base to the overlay's size),
 * syncs it, then empties the overlay and records the base's new identity, so the overlay
 * goes on as a fresh one on the merged base. Other overlays of that base are refused from
 * then on (their base changed). *clusters: how many were merged. */
int image_commit(int dirfd, const char *dir, const char *name, uint64_t *clusters);

struct image_info {
    enum image_format format;
    uint64_t virtual_size, disk_bytes; /* disk_bytes: what the file occupies (st_blocks) */
    /* overlays only: */
    uint64_t cluster_size, allocated, zero, entries;
    char base[IMAGE_NAME_MAX + 1];
    int base_ok; /* 1: base present and unchanged; 0: not (base_problem says why) */
    char base_problem[256];
};
int image_info(int dirfd, const char *dir, const char *name, struct image_info *info);

#endif
