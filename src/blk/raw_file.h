/* A disk's image: a raw (sparse) file under the operator's image directory (--image-dir).
 * Opened relative to that directory's fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * | RESOLVE_NO_MAGICLINKS): an absolute name, "..", or a symbolic link anywhere on the way is
 * refused by the kernel, not by string checks. O_DIRECT where the file system allows it (a
 * second, buffered fd serves requests whose buffers O_DIRECT cannot take, and everything on a
 * file system without O_DIRECT, tmpfs for instance). */
#ifndef XENO_BLK_RAW_FILE_H
#define XENO_BLK_RAW_FILE_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_DIRECT_ALIGN 512u /* buffer address, length and offset alignment used for O_DIRECT */

struct image;

struct blk_image {
    struct image *ovl; /* an overlay (*.ovl, image.h); fd and direct_fd -1 */
    int fd;            /* buffered */
    int direct_fd;     /* O_DIRECT, or -1 where the file system refuses it */
    /* An overlay's files as the image layer holds them (buffered, not ours to close) and the
     * same files again with O_DIRECT (ours; -1: refused, or no base): the ring's reads and
     * writes use the latter where the request is aligned (blk_overlay_io.c). */
    int ovl_fd, ovl_direct_fd, base_fd, base_direct_fd;
    uint64_t size; /* bytes, a multiple of 512 (the rest of a last partial sector is not served) */
    bool readonly;
};

/* Opens NAME (relative, under dirfd) read-write or read-only. 0, or -errno with a message:
 * -EXDEV/-ELOOP for a name leaving the directory or crossing a link, -EINVAL for something
 * not a regular file or smaller than one sector. */
int blk_image_open(struct blk_image *img, int dirfd, const char *name, bool readonly);
/* A name ending in .ovl opens the overlay through the image layer (its base checked and
 * locked, image.h); any other name as above. Same errors. */
int blk_image_open_any(struct blk_image *img, int dirfd, const char *name, bool readonly);
void blk_image_close(struct blk_image *img);

#endif
