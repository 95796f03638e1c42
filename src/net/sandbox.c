#include "net/sandbox.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <unistd.h>

/* The installed <linux/landlock.h> may predate later ABIs: the later bits and the full
 * attribute layout, as the kernel's uapi defines them. */
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

/* File-system rights Landlock knows by ABI version: a right the kernel does not know cannot
 * be handled (the ruleset would be refused). */
static uint64_t fs_rights(long abi)
{
    uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                 LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        r |= LL_FS_REFER;
    if (abi >= 3)
        r |= LL_FS_TRUNCATE;
    if (abi >= 5)
        r |= LL_FS_IOCTL_DEV;
    return r;
}

/* The file system shrinks to the state directory; TCP bind/connect are refused. Connecting to
 * the monitors' unix sockets is not a file access Landlock controls, so it keeps working. A
 * kernel without Landlock leaves only seccomp and the lost capabilities (logged). */
static int landlock(int state_dirfd, int read_dirfd)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        log_warn("sandbox: Landlock is not available (%s); file system access is not narrowed", strerror(errno));
        return 0;
    }
    struct ll_ruleset_attr attr = {.handled_access_fs = fs_rights(abi)};
    size_t attr_size = sizeof(attr);
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    else
        attr_size = offsetof(struct ll_ruleset_attr, scoped);
    if (abi >= 4)
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    else
        attr_size = offsetof(struct ll_ruleset_attr, handled_access_net);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0)
        return err_set(errno, "sandbox: landlock_create_ruleset: %s", strerror(errno));
    struct landlock_path_beneath_attr pb = {
        .allowed_access = fs_rights(abi) & ~(uint64_t)(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                                                       LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_DIR |
                                                       LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_SYM |
                                                       LANDLOCK_ACCESS_FS_MAKE_FIFO),
        .parent_fd = state_dirfd};
    int rc = 0;
    if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_add_rule for the state directory: %s", strerror(errno));
    /* The audit rules file's directory, read-only, so `audit-rules` can read a new version (an
     * editor replaces the file by rename: a rule on the file itself would name the old inode). */
    struct landlock_path_beneath_attr rd = {.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE, .parent_fd = read_dirfd};
    if (rc == 0 && read_dirfd >= 0 && syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &rd, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_add_rule for the audit rules directory: %s", strerror(errno));
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: ASan reads /proc/self/maps for its reports. */
    int procfd = open("/proc", O_PATH | O_CLOEXEC);
    struct landlock_path_beneath_attr proc = {
        .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR, .parent_fd = procfd};
    if (rc == 0 && procfd >= 0 && syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &proc, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_add_rule for /proc: %s", strerror(errno));
    if (procfd >= 0)
        close(procfd);
#endif
    if (rc < 0)
        ;
    else if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_restrict_self: %s", strerror(errno));
    close(rs);
    return rc;
}

/* Every capability goes: the backend needs none once the tap is open. It stays uid 0 only
 * because the monitors' run directories are root's and 0700 (docs/control-channel.md); as
 * their owner it may search them without CAP_DAC_OVERRIDE. */
static int drop_capabilities(void)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return err_set(errno, "sandbox: dropping capability %d from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return err_set(errno, "sandbox: clearing ambient capabilities: %s", strerror(errno));
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return err_set(errno, "sandbox: capset: %s", strerror(errno));
    return 0;
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
    int rc;
    /* The event loop: ppoll over sockets, eventfds and the tap. */
    ALLOW(ppoll);
    ALLOW(poll);
    /* Frames and messages: tap and eventfd reads/writes, control socket, log lines. */
    ALLOW(read);
    ALLOW(write);
    ALLOW(readv);
    ALLOW(writev);
    /* vhost-user messages with fds (SCM_RIGHTS), and their plain parts. */
    ALLOW(recvmsg);
    ALLOW(sendmsg);
    ALLOW(recvfrom);
    ALLOW(sendto);
    /* Reconnecting to monitors: unix sockets only (checked on the first argument). */
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0)
        goto out;
    ALLOW(connect);
    ALLOW(setsockopt); /* the receive/send timeouts of a new connection */
    ALLOW(getsockopt); /* vhost_user_recv: the receive timeout is a whole message's budget */
    ALLOW(fcntl);      /* O_NONBLOCK off after connect; F_GET_SEALS/F_ADD_SEALS of memfds */
    ALLOW(accept4);    /* control clients */
    ALLOW(close);
    /* Guest memory (SET_MEM_TABLE), inflight regions (GET/SET_INFLIGHT_FD), malloc. */
    ALLOW(mmap);
    ALLOW(munmap);
    ALLOW(mremap);
    ALLOW(madvise);
    ALLOW(brk);
    ALLOW(memfd_create);
    ALLOW(ftruncate);
    ALLOW(fstat); /* a region must fit its fd */
    ALLOW(newfstatat);
    /* The ports file and pid under the state directory (Landlock keeps them there). */
    ALLOW(openat);
    ALLOW(renameat);
    ALLOW(renameat2);
    ALLOW(fsync);
    ALLOW(fdatasync); /* the flow log's blocks (audit) */
    ALLOW(lseek);
    ALLOW(unlink);
    ALLOW(unlinkat);
    /* Time (vDSO fallback), pid for replies, signals (SIGTERM ends the loop), exiting. */
    ALLOW(clock_gettime);
    ALLOW(getpid);
    ALLOW(getrusage); /* `status` reports the backend's CPU time */
    ALLOW(gettid);
    ALLOW(rt_sigreturn);
    ALLOW(rt_sigprocmask);
    ALLOW(exit);
    ALLOW(exit_group);
    ALLOW(getrandom); /* glibc's malloc may seed from it */
    ALLOW(futex);     /* glibc's stdio locks */
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only (make SAN=1): what the ASan/UBSan runtime needs for its reports.
     * LeakSanitizer cannot work in here (it ptraces the process from a clone): tests run the
     * sandboxed backend with detect_leaks=0. Never in a release build. */
    ALLOW(prctl);
    ALLOW(sigaltstack);
    ALLOW(rt_sigaction);
    ALLOW(mprotect);
    ALLOW(sched_yield);
    ALLOW(getrlimit);
    ALLOW(prlimit64);
    ALLOW(readlink);
    ALLOW(readlinkat);
    ALLOW(open);
    ALLOW(getdents64);
    ALLOW(sched_getaffinity);
    ALLOW(tgkill);
    ALLOW(kill);
    ALLOW(pipe2);
    ALLOW(dup2);
    ALLOW(dup3);
    ALLOW(nanosleep);
    ALLOW(clock_nanosleep);
    ALLOW(getppid);
    ALLOW(set_tid_address);
    ALLOW(set_robust_list);
    ALLOW(rseq);
    ALLOW(statx);
    ALLOW(access);
    ALLOW(faccessat);
    ALLOW(process_vm_readv);
    ALLOW(sysinfo);
    ALLOW(uname);
    ALLOW(ioctl);
    ALLOW(msync);
    ALLOW(exit);
#endif
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
        rc = drop_capabilities();
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = err_set(errno, "sandbox: no_new_privs: %s", strerror(errno));
    if (rc == 0)
        rc = seccomp_filter();
    return rc;
}
