/* Image names confined to the operator's image directory (--image-dir): every disk image a
 * domain or `xenctl disk` opens is named relative to that directory and resolved beneath it,
 * never through a symbolic link, never outside it, whatever the name says. Names come from
 * sponsors' XML and from overlay headers: both are hostile. */
#ifndef XENO_BLK_IMAGE_DIR_H
#define XENO_BLK_IMAGE_DIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/image_name.h" /* image_name_check, IMAGE_NAME_MAX, IMAGE_DIR_DEFAULT */

/* Opens `name` beneath the directory `dirfd` (whose path `dir` is only for messages) with
 * `flags` (O_RDONLY, O_RDWR, O_CREAT|O_EXCL...; O_CLOEXEC is added) and `mode`: openat2()
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or, where the kernel
 * lacks openat2, one component at a time with O_NOFOLLOW. The result must be a regular file.
 * Returns the descriptor or -errno with a message naming the image and the directory. */
int image_dir_openat(int dirfd, const char *dir, const char *name, int flags, mode_t mode);

/* The fallback alone (one component at a time with O_NOFOLLOW), whatever the kernel has: for
 * the tests, which run it where openat2 exists too. */
int image_dir_openat_components(int dirfd, const char *dir, const char *name, int flags, mode_t mode);

/* Opens the directory itself (an absolute or relative path of the operator's choosing) for
 * image_dir_openat(). Returns the descriptor or -errno with a message. */
int image_dir_open(const char *dir);

#endif
