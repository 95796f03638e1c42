/* What image.c and image_admin.c share: the locks and the base identity check. */
#ifndef XENO_BLK_IMAGE_BASE_H
#define XENO_BLK_IMAGE_BASE_H

#include <stdbool.h>

#include "blk/overlay_format.h"

/* flock without waiting: LOCK_EX or LOCK_SH; -EBUSY with a message when someone holds it. */
int image_lock(int fd, bool exclusive, const char *name, const char *dir);
/* Whether base_fd is the file header h recorded (size, inode, mtime); -ESTALE if not. */
int image_base_check(int base_fd, const struct ovl_header *h, const char *name);

#endif
