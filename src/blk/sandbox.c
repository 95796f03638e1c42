#include "blk/sandbox.h"

#include "lib/confine.h"
#include "lib/err.h"
#include "vhost/seccomp_base.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Only the image directory, read and write of files (the images are open already; this is
 * for the day disks are added at run time). Connecting to the monitors' unix sockets is not a
 * file access Landlock controls, so it keeps working. */
static int landlock(int image_dirfd)
{
    struct confine_ruleset rs;
    int rc = confine_landlock_open(&rs, CONFINE_NET_BIND_TCP | CONFINE_NET_CONNECT_TCP);
    if (rc < 0)
        return rc;
    rc = confine_landlock_allow_fd(&rs, image_dirfd, rs.handled & CONFINE_FS_RW, "the image directory");
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: ASan reads /proc/self/maps for its reports. */
    if (rc == 0)
        rc = confine_landlock_allow_path(&rs, "/proc", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
#endif
    return confine_landlock_enforce(&rs, rc);
}

#define ALLOW(name)                                                                                                    \
    do {                                                                                                               \
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)) < 0)                                       \
            goto out;                                                                                                  \
    } while (0)

/* io_uring: the ring was set up before (io_uring_setup is not allowed here); enter submits
 * and waits. The opcodes the backend prepares are READV, WRITEV, FSYNC and FALLOCATE on the
 * images' fds; seccomp cannot see an SQE's opcode, so what the ring can reach is bounded by
 * the fds this process holds and by Landlock (docs/blkback.md "Sandbox"). */
static int seccomp_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return err_set(ENOMEM, "sandbox: seccomp_init failed");
    int rc = vhost_seccomp_base(ctx);
    if (rc < 0)
        goto out;
    ALLOW(io_uring_enter);
    ALLOW(io_uring_register);
    rc = seccomp_load(ctx);
out:
    seccomp_release(ctx);
    if (rc < 0)
        return err_set(-rc, "sandbox: seccomp: %s", strerror(-rc));
    return 0;
}

int blkback_sandbox_enter(int image_dirfd)
{
    int rc = landlock(image_dirfd);
    if (rc == 0)
        /* The backend needs no capability: the images are open, the sockets are reached as
         * their owner. */
        rc = confine_drop_capabilities(0);
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = err_set(errno, "sandbox: no_new_privs: %s", strerror(errno));
    if (rc == 0)
        rc = seccomp_filter();
    return rc;
}
