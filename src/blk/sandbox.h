/* xeno-blkback's sandbox, entered once the images are open: Landlock (the file system
 * shrinks to the image directory, TCP refused), no capabilities, no_new_privs, and a seccomp
 * allow-list (src/vhost/sandbox_base.h plus io_uring and the calls below). */
#ifndef XENO_BLK_SANDBOX_H
#define XENO_BLK_SANDBOX_H

/* 0 or -errno with a message (the caller exits). */
int blkback_sandbox_enter(int image_dirfd);

#endif
