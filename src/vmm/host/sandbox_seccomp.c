/* The monitor's seccomp allow-lists, one per thread kind (docs/security.md, "Monitor
 * sandbox"). The main thread loads the base list, the union of what every thread needs, before
 * it creates any thread; each thread then stacks the list of its kind on top (the kernel runs
 * every filter of a thread and the strictest answer wins), so a thread may do only what both
 * allow. Anything else kills the whole process (SECCOMP_RET_KILL_PROCESS): visible, never
 * silently refused. */
#include "vmm/host/sandbox_priv.h"

#include "lib/blob_cache.h"
#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdint.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every thread: memory (malloc, thread stacks), locks, time, its eventfds and sockets already
 * open, signals it is sent (vCPU kicks), its own end. */
static const int common[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(close),
    SCMP_SYS(futex),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettid),
    SCMP_SYS(getpid),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(madvise),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(mremap),
    SCMP_SYS(brk),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getrandom),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(lseek),
    SCMP_SYS(tgkill),
    SCMP_SYS(clock_getres),
    SCMP_SYS(getrusage),
    SCMP_SYS(rt_sigtimedwait),
};

/* Sanitizer builds only (make SAN=1): the ASan/UBSan runtime's reports and LeakSanitizer's
 * check at exit, which clones a tracer that ptraces the process's threads. Never in a
 * release build. */
static const int san[] = {
#if defined(__SANITIZE_ADDRESS__)
    SCMP_SYS(prctl),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(getrlimit),
    SCMP_SYS(prlimit64),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(open),
    SCMP_SYS(openat),
    SCMP_SYS(getdents64),
    SCMP_SYS(getdents),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(kill),
    SCMP_SYS(pipe2),
    SCMP_SYS(dup2),
    SCMP_SYS(dup3),
    SCMP_SYS(getppid),
    SCMP_SYS(set_tid_address),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(statx),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(sysinfo),
    SCMP_SYS(uname),
    SCMP_SYS(ioctl),
    SCMP_SYS(msync),
    SCMP_SYS(clone),
    SCMP_SYS(ptrace),
    SCMP_SYS(wait4),
    SCMP_SYS(waitid),
    SCMP_SYS(sched_setaffinity),
#endif
    -1,
};

/* The main (control) thread: besides serving the control and console sockets, it builds a
 * fresh VM on a restart (/dev/kvm, guest memory memfd, eventfds, vCPU and device threads,
 * the vhost-user socket), writes snapshots (save), starts lazy restores (userfaultfd) and
 * migrations, and reads its stats. */
static const int main_extra[] = {
    SCMP_SYS(ioctl),
    SCMP_SYS(openat),
    SCMP_SYS(connect),
    SCMP_SYS(bind),
    SCMP_SYS(listen),
    SCMP_SYS(accept4),
    SCMP_SYS(getsockopt),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(shutdown),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(fcntl),
    SCMP_SYS(eventfd2),
    SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(signalfd4),
    SCMP_SYS(memfd_create),
    SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(fadvise64),
    SCMP_SYS(unlink),
    SCMP_SYS(unlinkat),
    SCMP_SYS(rename),
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(umask),
    SCMP_SYS(fchmod),
    SCMP_SYS(fchmodat),
    SCMP_SYS(flock),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(seccomp),
    SCMP_SYS(sched_setscheduler),
    SCMP_SYS(sched_getscheduler),
    SCMP_SYS(sched_getparam),
    SCMP_SYS(setpriority),
    SCMP_SYS(getpriority),
    SCMP_SYS(getsid),
    SCMP_SYS(sysinfo),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(sched_setaffinity),
    SCMP_SYS(statx),
    SCMP_SYS(socketpair),
    SCMP_SYS(uname),
};

/* A vCPU: KVM_RUN and the vCPU ioctls, the exits it emulates (eventfd writes, console bytes
 * into buffers, timers). No new sockets, no files, no new threads. A driver's reset of a
 * vhost-user device is an exit too: vhost_front_reset stops the rings on the backend's
 * connection (GET_VRING_BASE, with the exchange's deadline as the socket's timeout), so the
 * calls of one vhost-user exchange on an open socket are here. */
static const int vcpu_extra[] = {SCMP_SYS(ioctl),      SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
                                 SCMP_SYS(sendmsg),    SCMP_SYS(recvmsg),         SCMP_SYS(recvfrom),
                                 SCMP_SYS(setsockopt), SCMP_SYS(getsockopt)};

/* The vCPU scheduler: real-time priority and nice of the vCPU threads, the autogroup nice
 * (a file opened before the sandbox), its timers. */
static const int sched_extra[] = {
    SCMP_SYS(sched_setscheduler), SCMP_SYS(sched_getscheduler), SCMP_SYS(sched_getparam),
    SCMP_SYS(setpriority),        SCMP_SYS(getpriority),        SCMP_SYS(getsid),
    SCMP_SYS(timerfd_settime),    SCMP_SYS(timerfd_gettime),    SCMP_SYS(sched_setaffinity),
    SCMP_SYS(sched_getaffinity),
};

/* A virtio device thread: queue notifications (eventfds), interrupts (KVM ioctls), the
 * balloon's holes punched in guest memory (fallocate), the entropy device (getrandom). */
static const int virtio_extra[] = {SCMP_SYS(ioctl), SCMP_SYS(fallocate), SCMP_SYS(timerfd_settime),
                                   SCMP_SYS(timerfd_gettime)};

/* The vhost-user front end: accepts the backend, exchanges messages with fds, creates and
 * seals the inflight region, registers ioeventfds/irqfds with KVM. */
static const int vhost_extra[] = {
    SCMP_SYS(accept4), SCMP_SYS(recvmsg),    SCMP_SYS(sendmsg),    SCMP_SYS(recvfrom),     SCMP_SYS(sendto),
    SCMP_SYS(fcntl),   SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(memfd_create), SCMP_SYS(ftruncate),
    SCMP_SYS(ioctl),   SCMP_SYS(eventfd2),   SCMP_SYS(shutdown),
};

/* The migration sender: resolves and connects to the destination (TCP; glibc's resolver may
 * try nscd over a unix socket and netlink), streams memory (KVM dirty logs), and libcrypto. */
static const int migrate_extra[] = {
    SCMP_SYS(connect),  SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
    SCMP_SYS(sendto),   SCMP_SYS(recvfrom),   SCMP_SYS(sendmsg),    SCMP_SYS(recvmsg),     SCMP_SYS(sendmmsg),
    SCMP_SYS(shutdown), SCMP_SYS(fcntl),      SCMP_SYS(ioctl),      SCMP_SYS(openat),      SCMP_SYS(bind),
    SCMP_SYS(uname),    SCMP_SYS(sysinfo),
};

/* Lazy restore: the fault handler answers faults (UFFDIO_COPY/ZEROPAGE/WAKE); the filler
 * reads the snapshot (pread) and copies it in. */
static const int uffd_extra[] = {SCMP_SYS(ioctl), SCMP_SYS(fadvise64)};

static int add_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (nrs[i] < 0)
            continue;
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
        if (rc < 0 && rc != -EEXIST)
            return rc;
    }
    return 0;
}

#define ADD(ctx, list) add_list(ctx, list, sizeof(list) / sizeof(list[0]))

/* socket(2) by family: the argument is a value seccomp can see. */
static int allow_socket(scmp_filter_ctx ctx, const int *families, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, families[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* New threads only: clone with CLONE_THREAD (a seccomp filter can read its flags). clone3
 * passes them in memory it cannot read, so it answers ENOSYS and glibc falls back to clone.
 * No new process, ever: that is the monitor's process limit (RLIMIT_NPROC does not bind uid 0). */
static int allow_threads(scmp_filter_ctx ctx)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* glibc names threads with prctl(PR_SET_NAME); nothing else of prctl. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    return rc;
}

/* The filter for one kind (or the base, kind < 0), not loaded. */
static int build(int kind, scmp_filter_ctx *out)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return -ENOMEM;
    int rc = ADD(ctx, common);
    if (rc == 0)
        rc = ADD(ctx, san);
    static const int net[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
    switch (kind) {
    case -1: /* base: the union of all kinds */
        if (rc == 0)
            rc = ADD(ctx, main_extra);
        if (rc == 0)
            rc = ADD(ctx, migrate_extra);
        if (rc == 0)
            rc = ADD(ctx, vhost_extra);
        if (rc == 0)
            rc = allow_socket(ctx, net, 4);
        if (rc == 0)
            rc = allow_threads(ctx);
        break;
    case THREAD_VCPU: rc = rc ? rc : ADD(ctx, vcpu_extra); break;
    case THREAD_SCHED: rc = rc ? rc : ADD(ctx, sched_extra); break;
    case THREAD_VIRTIO_IO: rc = rc ? rc : ADD(ctx, virtio_extra); break;
    case THREAD_VHOST_FRONT: rc = rc ? rc : ADD(ctx, vhost_extra); break;
    case THREAD_MIGRATE_SEND:
        if (rc == 0)
            rc = ADD(ctx, migrate_extra);
        if (rc == 0)
            rc = allow_socket(ctx, net, 4);
        break;
    case THREAD_UFFD_HANDLER:
    case THREAD_UFFD_FILLER: rc = rc ? rc : ADD(ctx, uffd_extra); break;
    default: rc = -EINVAL;
    }
    if (rc < 0) {
        seccomp_release(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

/* The BPF program of each thread kind, compiled on the main thread before the sandbox so a
 * new thread only has to hand it to the kernel (no allocation, no libseccomp). */
static struct sock_fprog kind_prog[THREAD_KIND_COUNT];

static int compile(int kind, struct sock_fprog *prog)
{
    scmp_filter_ctx ctx;
    int rc = build(kind, &ctx);
    if (rc < 0)
        return rc;
    int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0) {
        seccomp_release(ctx);
        return -errno;
    }
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    off_t len = rc < 0 ? 0 : lseek(fd, 0, SEEK_END);
    void *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (rc == 0 && (!buf || pread(fd, buf, (size_t)len, 0) != len))
        rc = -EIO;
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    prog->len = (unsigned short)((size_t)len / sizeof(struct sock_filter));
    prog->filter = buf;
    return 0;
}

static void narrow_thread(enum thread_kind kind)
{
    if (kind >= THREAD_KIND_COUNT || !kind_prog[kind].filter)
        return;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &kind_prog[kind]) < 0)
        log_error("sandbox: the %s thread keeps the base allow-list: seccomp: %s", thread_kind_name(kind),
                  strerror(errno));
}

/* All programs, base first (index 0, kind -1) then each kind: the value cached under this
 * binary's build ID, the kernel and libseccomp's version and API level (lib/blob_cache.h).
 * The layout: THREAD_KIND_COUNT + 1 lengths (uint32_t, instructions), then the programs. */
enum { NPROGS = THREAD_KIND_COUNT + 1 };

size_t sandbox_seccomp_pack(const struct sock_fprog *progs, uint8_t *out, size_t cap)
{
    size_t n = sizeof(uint32_t) * NPROGS;
    for (int i = 0; i < NPROGS; i++) {
        uint32_t len = progs[i].len;
        size_t bytes = (size_t)len * sizeof(struct sock_filter);
        if (n + bytes > cap)
            return 0;
        memcpy(out + sizeof(uint32_t) * (size_t)i, &len, sizeof(len));
        memcpy(out + n, progs[i].filter, bytes);
        n += bytes;
    }
    return n;
}

int sandbox_seccomp_unpack(const uint8_t *in, size_t len, struct sock_fprog *progs)
{
    size_t n = sizeof(uint32_t) * NPROGS;
    if (len < n)
        return -EINVAL;
    for (int i = 0; i < NPROGS; i++) {
        uint32_t pl;
        memcpy(&pl, in + sizeof(uint32_t) * (size_t)i, sizeof(pl));
        size_t bytes = (size_t)pl * sizeof(struct sock_filter);
        if (pl == 0 || pl > BPF_MAXINSNS || bytes > len - n)
            return -EINVAL;
        progs[i].len = (unsigned short)pl;
        progs[i].filter = malloc(bytes);
        if (!progs[i].filter)
            return -ENOMEM;
        memcpy(progs[i].filter, in + n, bytes);
        n += bytes;
    }
    return n == len ? 0 : -EINVAL;
}

static long seccomp_key(char *key, size_t cap)
{
    long n = blob_cache_host_key(key, cap);
    if (n < 0)
        return n;
    const struct scmp_version *v = seccomp_version();
    int m = snprintf(key + n, cap - (size_t)n, "libseccomp %u.%u.%u api %u kinds %d\n", v->major, v->minor, v->micro,
                     seccomp_api_get(), THREAD_KIND_COUNT);
    return m > 0 && (size_t)m < cap - (size_t)n ? n + m : -ENOENT;
}

int sandbox_seccomp_compile(struct sock_fprog *progs)
{
    for (int k = -1; k < THREAD_KIND_COUNT; k++) {
        int rc = compile(k, &progs[k + 1]);
        if (rc < 0)
            return err_set(-rc, "sandbox: seccomp filter for %s: %s",
                           k < 0 ? "the base" : thread_kind_name((enum thread_kind)k), strerror(-rc));
    }
    return 0;
}

/* progs from the cache when it holds this binary's, else compiled by libseccomp. */
static int programs(const char *cache_dir, struct sock_fprog *progs)
{
    char key[1024];
    long kl = cache_dir ? seccomp_key(key, sizeof(key)) : -ENOENT;
    uint8_t *buf = kl > 0 ? malloc(BLOB_CACHE_MAX) : NULL;
    long vl = buf ? blob_cache_get(cache_dir, "seccomp", key, (size_t)kl, buf, BLOB_CACHE_MAX - (size_t)kl) : -ENOENT;
    if (vl > 0 && sandbox_seccomp_unpack(buf, (size_t)vl, progs) == 0) {
        free(buf);
        return 0;
    }
    for (int i = 0; i < NPROGS; i++) {
        free(progs[i].filter);
        progs[i] = (struct sock_fprog){0};
    }
    free(buf);
    return sandbox_seccomp_compile(progs);
}

int sandbox_seccomp_fill(const char *cache_dir)
{
    char key[1024];
    struct sock_fprog progs[NPROGS] = {{0}};
    long kl = seccomp_key(key, sizeof(key));
    if (kl < 0)
        return err_set(ENOENT, "sandbox: this xeno-vmm has no build ID: nothing can be cached");
    uint8_t *buf = malloc(BLOB_CACHE_MAX);
    int rc = buf ? sandbox_seccomp_compile(progs) : err_set(ENOMEM, "out of memory");
    size_t n = rc == 0 ? sandbox_seccomp_pack(progs, buf, BLOB_CACHE_MAX - (size_t)kl) : 0;
    if (rc == 0)
        rc = n > 0 ? blob_cache_put(cache_dir, "seccomp", key, (size_t)kl, buf, n)
                   : err_set(EFBIG, "sandbox: the seccomp programs do not fit in a cache entry");
    for (int i = 0; i < NPROGS; i++)
        free(progs[i].filter);
    free(buf);
    return rc;
}

int sandbox_seccomp_load(const char *cache_dir)
{
    struct sock_fprog progs[NPROGS] = {{0}};
    int rc = programs(cache_dir, progs);
    if (rc < 0)
        return rc;
    for (int k = 0; k < THREAD_KIND_COUNT; k++)
        kind_prog[k] = progs[k + 1];
    /* The base program exactly as seccomp_load() would hand it over (no filter flags). */
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[0]) < 0 ? -errno : 0;
    free(progs[0].filter);
    if (rc < 0)
        return err_set(-rc, "sandbox: seccomp: %s", strerror(-rc));
    thread_kind_set_hook(narrow_thread);
    return 0;
}
