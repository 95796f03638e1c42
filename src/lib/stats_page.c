#include "lib/stats_page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const char *dom_state_name(enum dom_state s)
{
    switch (s) {
    case DOM_STATE_RUNNING: return "running";
    case DOM_STATE_BLOCKED: return "blocked";
    case DOM_STATE_PAUSED: return "paused";
    case DOM_STATE_SHUTDOWN: return "shutdown";
    case DOM_STATE_CRASHED: return "crashed";
    case DOM_STATE_NONE:
    default: return "none";
    }
}

/* seq odd = an update is in progress. The fences order the payload stores (writer) and
 * loads (reader) against the seq accesses, across processes sharing the page. */
void stats_page_write_begin(struct stats_page *p)
{
    uint32_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&p->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void stats_page_write_end(struct stats_page *p)
{
    uint32_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&p->seq, s + 1, __ATOMIC_RELEASE);
}

#define READ_TRIES 10000

int stats_page_read(const struct stats_page *shared, struct stats_page *out)
{
    for (int i = 0; i < READ_TRIES; i++) {
        uint32_t s1 = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            if (i % 64 == 63)
                sched_yield();
            continue;
        }
        memcpy(out, (const void *)shared, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&shared->seq, __ATOMIC_RELAXED) != s1)
            continue;
        out->seq = s1;
        if (out->magic != STATS_PAGE_MAGIC || out->version != STATS_PAGE_VERSION)
            return -EPROTO;
        return 0;
    }
    return -EAGAIN;
}

/* Exactly len bytes at off, or -ENODATA (the file is shorter: never made whole, or
 * truncated by its writer since). */
static int pread_all(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n;
    do
        n = pread(fd, buf, len, off);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -ENODATA;
}

static int read_fd_consistent(int fd, struct stats_page *out)
{
    for (int i = 0; i < READ_TRIES; i++) {
        uint32_t s1, s2;
        if (pread_all(fd, &s1, sizeof(s1), offsetof(struct stats_page, seq)) < 0)
            return -ENODATA;
        if (s1 & 1) {
            if (i % 64 == 63)
                sched_yield();
            continue;
        }
        /* Each pread is a copy made by a system call after the one before: the same order
         * as the loads of stats_page_read(), on private memory. */
        if (pread_all(fd, out, sizeof(*out), 0) < 0 ||
            pread_all(fd, &s2, sizeof(s2), offsetof(struct stats_page, seq)) < 0)
            return -ENODATA;
        if (s2 != s1)
            continue;
        out->seq = s1;
        if (out->magic != STATS_PAGE_MAGIC || out->version != STATS_PAGE_VERSION)
            return -EPROTO;
        return 0;
    }
    return -EAGAIN;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The preads of read_fd_consistent() do not wake a sleeping monitor; stats_page_ask() does.
 * The monitor answers with a write section, so seq moving past the one we read means a page
 * refreshed after we asked. */
int stats_page_read_fd(int fd, struct stats_page *out)
{
    return stats_page_read_fd_since(fd, -1, out, 0);
}

int stats_page_read_fd_nowait(int fd, struct stats_page *out)
{
    return read_fd_consistent(fd, out);
}

/* Without a pidfd, a pid read from a page may be a dead monitor's, reused by another
 * process, for which the signal would be fatal: only a xeno-vmm is asked. */
static int is_monitor(int pid)
{
    char path[40], comm[32] = "";
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, comm, sizeof(comm) - 1);
    close(fd);
    return n > 0 && strcmp(comm, "xeno-vmm\n") == 0;
}

void stats_page_ask(int pidfd, int pid)
{
    if (pidfd >= 0)
        syscall(SYS_pidfd_send_signal, pidfd, STATS_PAGE_ASK_SIGNAL, NULL, 0);
    else if (pid > 0 && is_monitor(pid))
        kill((pid_t)pid, STATS_PAGE_ASK_SIGNAL);
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int stats_page_current(struct stats_page *out, int pid)
{
    if (!out->refresh_on_read)
        return 1; /* a ticking monitor's page is at most one tick old */
    clockid_t clk;
    struct timespec ts;
    if (pid <= 0 || !out->asleep_process_cpu_ns || clock_getcpuclockid((pid_t)pid, &clk) != 0 ||
        clock_gettime(clk, &ts) != 0)
        return 0;
    uint64_t cpu = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (cpu < out->asleep_process_cpu_ns || cpu - out->asleep_process_cpu_ns >= STATS_PAGE_QUIET_CPU_NS)
        return 0;
    out->updated_ns = realtime_ns();
    return 1;
}

int stats_page_read_fd_since(int fd, int pidfd, struct stats_page *out, uint64_t since_ns)
{
    int r = read_fd_consistent(fd, out);
    if (r < 0 || !out->refresh_on_read)
        return r; /* a ticking monitor's page is at most one tick old */
    if (since_ns && out->updated_ns >= since_ns)
        return 0; /* refreshed after the reader's earlier stats_page_ask(): fresh enough */
    uint32_t asked = out->seq;
    if (!since_ns)
        stats_page_ask(pidfd, (int)out->pid); /* else the reader asked already; its answer is on its way */
    uint64_t end = mono_ns() + (uint64_t)STATS_PAGE_REFRESH_WAIT_MS * 1000000u;
    do {
        struct timespec pause = {0, 50000}; /* 50 us: about one wake-up of the monitor */
        uint32_t s;
        nanosleep(&pause, NULL);
        if (pread_all(fd, &s, sizeof(s), offsetof(struct stats_page, seq)) < 0)
            return -ENODATA;
        if (s != asked && !(s & 1)) {
            struct stats_page fresh;
            if (read_fd_consistent(fd, &fresh) == 0)
                *out = fresh;
            return 0;
        }
    } while (mono_ns() < end);
    return 0; /* no answer in time (a stopped or busy monitor): its last page */
}
