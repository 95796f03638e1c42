/* /proc readings of the host and of XenoServer's processes (host_meter.h). */
#include "daemon/host_meter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t ticks_ns(unsigned long long ticks)
{
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)(ticks * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100)));
}

/* /proc/stat's btime: the boot as seconds since 1970. */
static int boot_time(uint64_t *out)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return err_set(errno, "/proc/stat: %s", strerror(errno));
    char line[512];
    unsigned long long bt = 0;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "btime %llu", &bt) == 1;
    fclose(f);
    *out = bt;
    return found ? 0 : err_set(EIO, "/proc/stat: no btime");
}

int host_proc_usage(int pid, struct proc_usage *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(errno == ENOENT ? ESRCH : errno, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The name (field 2) may hold spaces and parentheses: the fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st, start;
    long long rss;
    char state;
    if (!p ||
        sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %lld",
               &state, &ut, &st, &start, &rss) != 5)
        return err_set(EIO, "%s: not understood", path);
    uint64_t bt;
    int r = boot_time(&bt);
    if (r < 0)
        return r;
    memset(out, 0, sizeof(*out));
    out->state = state;
    out->read_ns = realtime_ns();
    out->cpu_ns = ticks_ns(ut + st);
    /* The process's CPU clock counts nanoseconds, where /proc counts ticks: use it if we may. */
    clockid_t cid;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &cid) == 0 && clock_gettime(cid, &ts) == 0)
        out->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    out->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
    out->start_ns = bt * 1000000000u + ticks_ns(start);
    return 0;
}

int host_idle_reading(struct meter_reading *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t bt;
    int r = boot_time(&bt);
    if (r < 0)
        return r;
    out->instance = out->start_ns = bt * 1000000000u;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return err_set(errno, "/proc/stat: %s", strerror(errno));
    unsigned long long user, nice, sys, idle, iowait;
    int ok = fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait) == 5;
    fclose(f);
    if (!ok)
        return err_set(EIO, "/proc/stat: no cpu line");
    out->time_ns = realtime_ns();
    out->counter[0] = ticks_ns(idle + iowait);
    f = fopen("/proc/meminfo", "re");
    if (!f)
        return err_set(errno, "/proc/meminfo: %s", strerror(errno));
    char line[256];
    unsigned long long kib;
    ok = 0;
    while (!ok && fgets(line, sizeof(line), f))
        ok = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    fclose(f);
    if (!ok)
        return err_set(EIO, "/proc/meminfo: no MemAvailable");
    out->gauge[0] = (uint64_t)kib * 1024u;
    return 0;
}

int host_capacity(int *cpus, uint64_t *memory_bytes)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return err_set(errno, "/proc/meminfo: %s", strerror(errno));
    char line[256];
    unsigned long long kib;
    int ok = 0;
    while (!ok && fgets(line, sizeof(line), f))
        ok = sscanf(line, "MemTotal: %llu kB", &kib) == 1;
    fclose(f);
    if (!ok || n < 1)
        return err_set(EIO, "/proc/meminfo: no MemTotal");
    *cpus = (int)n;
    *memory_bytes = (uint64_t)kib * 1024u;
    return 0;
}

void host_overhead_reading(const struct proc_usage *u, uint64_t guest_cpu_ns, uint64_t guest_bytes,
                           struct meter_reading *out)
{
    memset(out, 0, sizeof(*out));
    out->instance = out->start_ns = u->start_ns;
    out->time_ns = u->read_ns ? u->read_ns : realtime_ns();
    out->counter[0] = u->cpu_ns > guest_cpu_ns ? u->cpu_ns - guest_cpu_ns : 0;
    out->gauge[0] = u->rss_bytes > guest_bytes ? u->rss_bytes - guest_bytes : 0;
}
