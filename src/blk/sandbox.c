#include "blk/sandbox.h"

#include "vhost/sandbox_base.h"

#include <seccomp.h>

/* io_uring: the ring was set up and restricted before (blkback_init: READV, WRITEV, FSYNC
 * and FALLOCATE only, IORING_REGISTER_RESTRICTIONS); here only io_uring_enter, which submits
 * and waits. No io_uring_setup (a new, unrestricted ring) and no io_uring_register.
 * Overlays (*.ovl): their copy-on-write, flush, discard and write-zeroes are synchronous
 * through the image layer (blk_overlay_io.c): pread/pwrite, fdatasync and fallocate; an
 * overlay added at run time is locked as it opens (image_lock: flock LOCK_EX on the overlay,
 * LOCK_SH on its base), which without flock here killed the backend (SIGSYS). */
static const int blkback_calls[] = {
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(fdatasync),
    SCMP_SYS(fallocate),
    SCMP_SYS(accept4), /* the control socket's clients (--control) */
    SCMP_SYS(openat2), /* an image of a disk added at run time (add-disk), beneath the directory */
    SCMP_SYS(flock),   /* an overlay added at run time (image_lock) */
    /* The inflight region a front end asks for (GET_INFLIGHT_FD, blk_inflight.c): a memfd,
     * sized, sealed (fcntl) and mapped (mmap) by the base list's calls. */
    SCMP_SYS(memfd_create),
    SCMP_SYS(ftruncate),
    /* The event loop's epoll set (blkback.h): created before the sandbox, then only added to,
     * taken from and read. */
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
};

/* Only the image directory, read and write of files (the images of disks added at run time,
 * add-disk on the control socket). Connecting to the monitors' unix sockets is not a
 * file access Landlock controls, so it keeps working. */
int blkback_sandbox_enter(int image_dirfd)
{
    struct confine_ruleset rs;
    int rc = confine_landlock_open(&rs, CONFINE_NET_BIND_TCP | CONFINE_NET_CONNECT_TCP);
    if (rc < 0)
        return rc;
    rc = confine_landlock_allow_fd(&rs, image_dirfd, rs.handled & CONFINE_FS_RW, "the image directory");
    return vhost_sandbox_enter(&rs, rc, blkback_calls, sizeof(blkback_calls) / sizeof(blkback_calls[0]));
}
