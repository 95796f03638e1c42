/* The host's own readings for the host bill (docs/billing.md, "The host's bill"): what one of
 * XenoServer's processes consumed (its CPU time and resident memory, from /proc/PID/stat and
 * the process's CPU clock), the host's idle CPU time (/proc/stat) and available memory
 * (/proc/meminfo), and the host's capacity. Readers only: billing.c posts them.
 *
 * Threads: no state; any thread. */
#ifndef XENO_DAEMON_HOST_METER_H
#define XENO_DAEMON_HOST_METER_H

#include <stdint.h>

#include "daemon/meter.h"

struct proc_usage {
    uint64_t cpu_ns;    /* user + system time of all its threads, the exited ones too */
    uint64_t rss_bytes; /* resident set */
    uint64_t start_ns;  /* CLOCK_REALTIME it started (boot time + /proc/PID/stat starttime) */
    uint64_t read_ns;   /* CLOCK_REALTIME of this reading */
    char state;         /* /proc/PID/stat's: 'Z' an exited process not yet reaped */
};
/* One process's usage: 0, or -errno (-ESRCH: no such process). A zombie (exited, not yet
 * reaped) still answers its whole CPU time. */
int host_proc_usage(int pid, struct proc_usage *out);

/* The host's reading as meter.h wants it (instance and start_ns the boot time, counter[0] idle
 * + iowait ns of all CPUs, gauge[0] MemAvailable bytes, time_ns now): 0 or -errno. */
int host_idle_reading(struct meter_reading *out);

/* The host's capacity: online CPUs and MemTotal bytes. 0 or -errno. */
int host_capacity(int *cpus, uint64_t *memory_bytes);

/* The overhead reading of one process (meter.h): instance and start_ns its start, counter[0]
 * cpu_ns - guest_cpu_ns (0 if below), gauge[0] rss - guest_bytes (0 if below), time_ns now. */
void host_overhead_reading(const struct proc_usage *u, uint64_t guest_cpu_ns, uint64_t guest_bytes,
                           struct meter_reading *out);

#endif
