/* What a sandbox is built from, shared by xeno-netback (src/net/sandbox.c) and every monitor
 * (src/vmm/host/sandbox.c): a Landlock ruleset over the ABI this kernel has, and dropping
 * capabilities. Each sandbox decides its own rules and its seccomp allow-list; this file only
 * keeps the kernel interfaces in one place. Called once, on the thread that then starts the
 * others (Landlock and capabilities are inherited by threads created after). */
#ifndef XENO_LIB_CONFINE_H
#define XENO_LIB_CONFINE_H

#include <linux/landlock.h>
#include <stdint.h>

/* Later ABIs' bits, which an older <linux/landlock.h> may lack (the kernel's uapi values). */
#define CONFINE_FS_REFER (1ull << 13)     /* ABI 2 */
#define CONFINE_FS_TRUNCATE (1ull << 14)  /* ABI 3 */
#define CONFINE_FS_IOCTL_DEV (1ull << 15) /* ABI 5 */
#define CONFINE_NET_BIND_TCP (1ull << 0)  /* ABI 4 */
#define CONFINE_NET_CONNECT_TCP (1ull << 1)

#define CONFINE_FS_RW (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE)

struct confine_ruleset {
    int fd;           /* -1: Landlock is not available (every call below is then a no-op) */
    long abi;         /* the kernel's Landlock ABI version */
    uint64_t handled; /* every file-system right this ABI knows: all are refused but the rules' */
};

/* A ruleset that handles every file-system right the kernel knows, the TCP rights in `net`
 * (CONFINE_NET_*, where the ABI has them), and, where the ABI has it, scopes abstract unix
 * sockets and signals to the process. 0 (rs->fd -1 and a warning when the kernel has no
 * Landlock: the caller's other layers still apply), or a negative errno with err_set(). */
int confine_landlock_open(struct confine_ruleset *rs, uint64_t net);

/* Allows `access` beneath the open file or directory fd (cut to what the ABI handles). */
int confine_landlock_allow_fd(struct confine_ruleset *rs, int fd, uint64_t access, const char *what);

/* The same for a path; one that does not exist is skipped, and for a file `access` is cut to
 * the rights a file can have. */
int confine_landlock_allow_path(struct confine_ruleset *rs, const char *path, uint64_t access);

/* Enforces the rules on the calling thread and those it creates after, and closes the
 * ruleset (also after an earlier failure: pass that failure as `rc`). Returns rc, or the
 * enforcement's own error. */
int confine_landlock_enforce(struct confine_ruleset *rs, int rc);

/* Drops every capability from the bounding, ambient, inheritable, permitted and effective
 * sets but those in `keep` (a mask of 1 << CAP_*, kept permitted and effective only).
 * 0, or a negative errno with err_set(). */
int confine_drop_capabilities(uint64_t keep);

#endif
