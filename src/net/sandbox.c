#include "net/sandbox.h"

#include "lib/confine.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vhost/seccomp_base.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The file system shrinks to the state directory; TCP bind/connect are refused. Connecting to
 * the monitors' unix sockets is not a file access Landlock controls, so it keeps working. A
 * kernel without Landlock leaves only seccomp and the lost capabilities (logged). */
static int landlock(int state_dirfd, int read_dirfd)
{
    struct confine_ruleset rs;
    int rc = confine_landlock_open(&rs, CONFINE_NET_BIND_TCP | CONFINE_NET_CONNECT_TCP);
    if (rc < 0)
        return rc;
    rc =
        confine_landlock_allow_fd(&rs, state_dirfd,
                                  rs.handled & ~(uint64_t)(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                                                           LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_DIR |
                                                           LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_SYM |
                                                           LANDLOCK_ACCESS_FS_MAKE_FIFO),
                                  "the state directory");
    /* The audit rules file's directory, read-only, so `audit-rules` can read a new version (an
     * editor replaces the file by rename: a rule on the file itself would name the old inode). */
    if (rc == 0 && read_dirfd >= 0)
        rc = confine_landlock_allow_fd(&rs, read_dirfd, LANDLOCK_ACCESS_FS_READ_FILE, "the audit rules directory");
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

static int seccomp_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return err_set(ENOMEM, "sandbox: seccomp_init failed");
    int rc = vhost_seccomp_base(ctx);
    if (rc < 0)
        goto out;
    /* Frames: tap reads and writes. */
    ALLOW(readv);
    ALLOW(writev);
    ALLOW(accept4); /* control clients */
    /* Inflight regions (GET_INFLIGHT_FD). */
    ALLOW(memfd_create);
    ALLOW(ftruncate);
    /* The ports file and pid under the state directory (Landlock keeps them there). */
    ALLOW(openat);
    ALLOW(renameat);
    ALLOW(renameat2);
    ALLOW(fsync);
    ALLOW(fdatasync); /* the flow log's blocks (audit) */
    ALLOW(lseek);
    ALLOW(unlink);
    ALLOW(unlinkat);
    ALLOW(getrusage); /* `status` reports the backend's CPU time */
    rc = seccomp_load(ctx);
out:
    seccomp_release(ctx);
    if (rc < 0)
        return err_set(-rc, "sandbox: seccomp: %s", strerror(-rc));
    return 0;
}

int netback_sandbox_enter(int state_dirfd, int read_dirfd)
{
    int rc = landlock(state_dirfd, read_dirfd);
    if (rc == 0)
        /* Every capability goes: the backend needs none once the tap is open. It stays uid 0
         * only because the monitors' run directories are root's and 0700
         * (docs/control-channel.md); as their owner it may search them without
         * CAP_DAC_OVERRIDE. */
        rc = confine_drop_capabilities(0);
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = err_set(errno, "sandbox: no_new_privs: %s", strerror(errno));
    if (rc == 0)
        rc = seccomp_filter();
    return rc;
}
