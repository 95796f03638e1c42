#include "blk/sandbox.h"

#include "vhost/sandbox_base.h"

#include <seccomp.h>

/* io_uring: the ring was set up before (io_uring_setup is not allowed here); enter submits
 * and waits. The opcodes the backend prepares are READV, WRITEV, FSYNC and FALLOCATE on the
 * images' fds; seccomp cannot see an SQE's opcode, so what the ring can reach is bounded by
 * the fds this process holds and by Landlock (docs/blkback.md "Sandbox"). */
static const int blkback_calls[] = {SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register)};

/* Only the image directory, read and write of files (the images are open already; this is
 * for the day disks are added at run time). Connecting to the monitors' unix sockets is not a
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
