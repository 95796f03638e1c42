/* cpuwatch: samples the CPU time of one thread of a process, for the scheduling tests
 * (tests/integration/sched.sh). The thread is found by its name (/proc/PID/task/TID/comm,
 * e.g. "vcpu0"); its CPU time is the first field of /proc/PID/task/TID/schedstat (ns,
 * exact). Prints "REALTIME_NS CPU_NS" every INTERVAL_US for DURATION_MS, then exits.
 *
 * usage: cpuwatch PID THREAD_NAME DURATION_MS [INTERVAL_US]   status 0; 1 on bad input or
 *        when the thread is not found (or goes away) */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return ok ? 0 : -1;
}

static unsigned long long now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    char path[64], buf[256], stat_path[600] = "";
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: cpuwatch PID THREAD_NAME DURATION_MS [INTERVAL_US]\n");
        return 1;
    }
    long pid = atol(argv[1]), duration_ms = atol(argv[3]), interval_us = argc == 5 ? atol(argv[4]) : 1000;
    if (pid <= 0 || duration_ms <= 0 || interval_us <= 0) {
        fprintf(stderr, "cpuwatch: bad numbers\n");
        return 1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "cpuwatch: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        char comm[400];
        if (e->d_name[0] == '.')
            continue;
        snprintf(comm, sizeof(comm), "%s/%s/comm", path, e->d_name);
        if (read_line(comm, buf, sizeof(buf)) == 0 && strcmp(buf, argv[2]) == 0) {
            snprintf(stat_path, sizeof(stat_path), "%s/%s/schedstat", path, e->d_name);
            break;
        }
    }
    closedir(d);
    if (!stat_path[0]) {
        fprintf(stderr, "cpuwatch: no thread named %s in process %ld\n", argv[2], pid);
        return 1;
    }
    unsigned long long start = now_ns(CLOCK_MONOTONIC), next = start;
    while (next - start <= (unsigned long long)duration_ms * 1000000ULL) {
        if (read_line(stat_path, buf, sizeof(buf)) < 0) {
            fprintf(stderr, "cpuwatch: the thread went away\n");
            return 1;
        }
        printf("%llu %llu\n", now_ns(CLOCK_REALTIME), strtoull(buf, NULL, 10));
        next += (unsigned long long)interval_us * 1000ULL;
        struct timespec ts = {(time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return 0;
}
