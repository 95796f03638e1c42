#include "vhost/sandbox_base.h"

#include "lib/err.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define ALLOW(name)                                                                                                    \
    do {                                                                                                               \
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)) < 0)                                       \
            goto out;                                                                                                  \
    } while (0)

static int seccomp_base(scmp_filter_ctx ctx)
{
    int rc = 0;
    /* The event loop: poll over sockets and eventfds. */
    ALLOW(ppoll);
    ALLOW(poll);
    /* A poll interrupted by task work (io_uring completions) or a signal resumes through it. */
    ALLOW(restart_syscall);
    /* Eventfd reads/writes (kicks, calls), messages, log lines. */
    ALLOW(read);
    ALLOW(write);
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
    ALLOW(close);
    /* Guest memory (SET_MEM_TABLE), malloc. */
    ALLOW(mmap);
    ALLOW(munmap);
    ALLOW(mremap);
    ALLOW(madvise);
    ALLOW(brk);
    ALLOW(fstat); /* a region must fit its fd */
    ALLOW(newfstatat);
    /* Time (vDSO fallback), pid for replies, signals (SIGTERM ends the loop), exiting. */
    ALLOW(clock_gettime);
    ALLOW(getpid);
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
out:
    return rc;
}

static int seccomp_filter(const int *extra, unsigned n)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return err_set(ENOMEM, "sandbox: seccomp_init failed");
    int rc = seccomp_base(ctx);
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, extra[i], 0);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return err_set(-rc, "sandbox: seccomp: %s", strerror(-rc));
    return 0;
}

int vhost_sandbox_enter(struct confine_ruleset *rs, int rc, const int *extra, unsigned n)
{
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: ASan reads /proc/self/maps for its reports. */
    if (rc == 0)
        rc = confine_landlock_allow_path(rs, "/proc", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
#endif
    rc = confine_landlock_enforce(rs, rc);
    if (rc == 0)
        /* Every capability goes. A backend stays uid 0 only because the monitors' run
         * directories are root's and 0700 (docs/control-channel.md); as their owner it may
         * search them without CAP_DAC_OVERRIDE. */
        rc = confine_drop_capabilities(0);
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = err_set(errno, "sandbox: no_new_privs: %s", strerror(errno));
    if (rc == 0)
        rc = seccomp_filter(extra, n);
    return rc;
}
