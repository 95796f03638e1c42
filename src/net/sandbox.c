#include "net/sandbox.h"

#include "lib/confine.h"
#include "vhost/sandbox_base.h"

#include <seccomp.h>
#include <stdint.h>

/* The calls netback needs besides the shared ones (src/vhost/sandbox_base.c). */
static const int netback_calls[] = {
    /* Frames: tap reads and writes. */
    SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(accept4), /* control clients */
    /* Inflight regions (GET_INFLIGHT_FD). */
    SCMP_SYS(memfd_create), SCMP_SYS(ftruncate),
    /* The ports file and pid under the state directory (Landlock keeps them there). */
    SCMP_SYS(openat), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(fsync),
    SCMP_SYS(fdatasync), /* the flow log's blocks (audit) */
    SCMP_SYS(lseek), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
    SCMP_SYS(getrusage), /* `status` reports the backend's CPU time */
};

/* The file system shrinks to the state directory; TCP bind/connect are refused. Connecting to
 * the monitors' unix sockets is not a file access Landlock controls, so it keeps working. A
 * kernel without Landlock leaves only seccomp and the lost capabilities (logged). The tap is
 * open already: no capability is needed after this. */
int netback_sandbox_enter(int state_dirfd, int read_dirfd)
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
    return vhost_sandbox_enter(&rs, rc, netback_calls, sizeof(netback_calls) / sizeof(netback_calls[0]));
}
