#include "vhost/seccomp_base.h"

#include <errno.h>
#include <sys/socket.h>

#define ALLOW(name)                                                                                                    \
    do {                                                                                                               \
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0)) < 0)                                       \
            goto out;                                                                                                  \
    } while (0)

int vhost_seccomp_base(scmp_filter_ctx ctx)
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
