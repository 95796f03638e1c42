/* The live-counters page a monitor shares with xenod: a file in the domain's run directory,
 * written only by the monitor (which maps it) and read by xenod with pread into private
 * memory (stats_page_read_fd: never mapped, the monitor may truncate it), so `xenctl list`
 * and metering read counters without a round trip to the monitor.
 *
 * Consistency is a sequence lock: the writer makes `seq` odd, writes, makes it even again;
 * a reader copies the page and retries while seq was odd or changed under it. */
#ifndef XENO_LIB_STATS_PAGE_H
#define XENO_LIB_STATS_PAGE_H

#include <signal.h>
#include <stdint.h>

#define STATS_PAGE_MAGIC 0x58535441u /* "ATSX" little-endian: XenoServer sTAts */
#define STATS_PAGE_VERSION 1
#define STATS_PAGE_MAX_VCPUS 32
#define STATS_PAGE_SIZE 4096

enum dom_state {
    DOM_STATE_NONE = 0,
    DOM_STATE_RUNNING,  /* some vCPU used CPU time in the last interval */
    DOM_STATE_BLOCKED,  /* every vCPU halted, waiting for an interrupt */
    DOM_STATE_PAUSED,   /* vCPUs stopped by the operator */
    DOM_STATE_SHUTDOWN, /* powered off (kept by on_poweroff=preserve) */
    DOM_STATE_CRASHED,  /* crashed (kept by on_crash=preserve) */
};

struct stats_page {
    uint32_t magic;
    uint32_t version;
    volatile uint32_t seq;
    uint32_t state; /* enum dom_state */
    uint32_t nvcpus;
    uint32_t pid;
    uint64_t started_ns; /* CLOCK_REALTIME when the monitor started */
    uint64_t updated_ns; /* CLOCK_REALTIME of the last update */
    uint64_t cpu_ns;     /* all vCPU threads' CPU time */
    uint64_t vcpu_ns[STATS_PAGE_MAX_VCPUS];
    uint64_t exits_io, exits_mmio;
    uint64_t console_out_bytes, console_in_bytes;
    uint64_t memory_bytes;
    uint64_t boots;         /* 1 + restarts after a guest reboot */
    uint64_t virtio_errors; /* virtio devices the guest broke (DEVICE_NEEDS_RESET), all boots */

    /* Memory and the balloon (docs/control-interface.md). Bytes unless said otherwise.
     * Measured by the host: guest_resident_bytes, monitor_rss_bytes. Reported by the guest
     * (untrusted, for information): balloon_bytes and the guest_* values, which read
     * STATS_PAGE_UNKNOWN until the guest's balloon driver has sent them. */
    uint64_t memory_target_bytes;                       /* the target of the last mem-set; 0: none set */
    uint64_t memory_target_deadline_ms;                 /* its deadline */
    uint32_t memory_target_state;                       /* enum stats_memory_target_state */
    uint32_t memory_enforcement;                        /* enum memory_enforcement: 0 report, 1 pause, 2 destroy */
    uint64_t balloon_target_bytes;                      /* what the balloon is asked to hold: num_pages * 4096 */
    uint64_t balloon_bytes;                             /* what the driver says it holds: actual * 4096 */
    uint64_t guest_resident_bytes;                      /* guest RAM allocated on the host (memfd blocks) */
    uint64_t monitor_rss_bytes;                         /* the monitor's resident set (all of it, guest RAM included) */
    uint64_t guest_free_bytes;                          /* balloon stats: MEMFREE */
    uint64_t guest_available_bytes;                     /* AVAIL */
    uint64_t guest_total_bytes;                         /* MEMTOT */
    uint64_t guest_caches_bytes;                        /* CACHES */
    uint64_t guest_swap_in_bytes, guest_swap_out_bytes; /* SWAP_IN, SWAP_OUT */
    uint64_t guest_major_faults, guest_minor_faults;    /* MAJFLT, MINFLT (counts) */
    uint64_t guest_stats_ns;                            /* CLOCK_REALTIME of the guest's last stats; 0: never */
    uint64_t balloon_released_bytes; /* holes punched in guest RAM (inflate + free page reports), all boots */
    uint64_t balloon_reported_bytes; /* of which free page reporting */
    uint64_t exits_other;            /* vCPU exits other than io and mmio (intr, hlt, ...), all boots */
    uint64_t memory_target_reached;  /* `event memory-target reached` sent */
    uint64_t memory_target_missed;   /* `event memory-target missed` sent */
    uint64_t memory_enforcements;    /* of which pause or destroy was applied */

    /* CPU scheduling (docs/scheduling.md): the settings in force (changed live by `sched` on
     * the control socket) and the scheduler's counters, all boots. vcpu_ns[] and cpu_ns above
     * are the exact CPU time (thread CPU clocks), the base for billing. */
    uint32_t sched_reservation_ppm; /* guaranteed share of one CPU, all vCPUs together; 0: none */
    uint32_t sched_limit_ppm;       /* ceiling; 0: none */
    uint32_t sched_weight;          /* share of the slack */
    uint32_t sched_period_us;
    uint32_t sched_band; /* enum sched_band (sched/server.h): 0 slack, 1 reserved, 2 throttled */
    uint32_t sched_pad;
    uint64_t sched_reserved_ns;  /* vCPU CPU time used in the reserved band */
    uint64_t sched_throttled_ns; /* wall time the limit kept the vCPUs off the CPU */
    uint64_t sched_throttles;    /* times the limit stopped them */
    uint64_t sched_overrun_ns;   /* CPU time past the limit before they stopped (paid back) */
    uint64_t sched_periods;      /* periods begun */
    uint64_t sched_overhead_ns;  /* the scheduler thread's own CPU time */
    uint64_t sched_changes;      /* live changes applied */

    /* The network interface (virtio-net over vhost-user, docs/machine.md), this boot of the
     * VM; all zero without one. */
    uint32_t net_present;           /* 1: the domain has an interface */
    uint32_t net_backend_connected; /* 1 while a backend (xeno-netback) is connected */
    uint64_t net_backend_connects;  /* backend connections accepted */
    uint64_t net_backend_handovers; /* rings handed to a backend (one per connection while the driver runs) */
    uint64_t net_backend_errors;    /* connections dropped for a protocol violation or a missed reply */
    uint64_t net_driver_resets;     /* the guest's driver reset the device after running it */

    /* Refresh on request (docs/control-channel.md, "Stats page"). While every vCPU is
     * halted (or paused, or the guest is preserved stopped) the monitor stops its 100 ms
     * refresh and sleeps; a reader's STATS_PAGE_ASK_SIGNAL wakes it (stats_page_ask) and it
     * writes a fresh page at once. Reads do not wake it. stats_page_read_fd() asks and
     * waits for that refresh (bounded). */
    uint32_t refresh_on_read; /* 1: no timed refresh now; a reader must ask for one */
    uint32_t refresh_pad;
    uint64_t refreshes_on_read; /* refreshes readers asked for */
    /* Who bills the domain when (docs/metering.md, "Migration: the hand-over instant"). A
     * live migration's destination monitor exists before the source stops; the domain
     * changes hands at GO, the commit point: the source bills until it sent GO, the
     * destination from when it received it. CLOCK_REALTIME; appended: a page without them
     * (all zero) bills from started_ns to updated_ns, as before. */
    uint32_t migrate_incoming_pending; /* 1: an incoming migration has not received GO: bill nothing */
    uint32_t held_pad;
    uint64_t held_from_ns;  /* when GO arrived (an incoming migration); 0: from started_ns */
    uint64_t held_until_ns; /* when GO left (a committed migration out); 0: it holds the domain */
    /* Asleep and exact (docs/control-channel.md, "Stats page"): while refresh_on_read is 1,
     * the monitor's whole process CPU time (every thread, CLOCK_PROCESS_CPUTIME_ID) when it
     * wrote this page; 0 while it ticks. A reader that finds the process's CPU time still
     * there (within STATS_PAGE_QUIET_CPU_NS) knows nothing ran since: every counter is as
     * written, the page is current without waking the monitor (stats_page_current). */
    uint64_t asleep_process_cpu_ns;
    /* The monitor's whole process CPU time (every thread, the ended ones too), read just
     * before cpu_ns: process_cpu_ns - cpu_ns is the monitor's own CPU time beyond its vCPUs'
     * as of this page, never ahead of the truth (the host bill's overhead meter,
     * docs/billing.md). Appended: 0 from a monitor that predates it. */
    uint64_t process_cpu_ns;
};

#define STATS_PAGE_UNKNOWN UINT64_MAX

enum stats_memory_target_state {
    STATS_MEMTARGET_NONE = 0, /* no mem-set yet */
    STATS_MEMTARGET_PENDING,  /* set, not reached, deadline not passed */
    STATS_MEMTARGET_MET,      /* reached (and not grown past it for a deadline since) */
    STATS_MEMTARGET_MISSED,   /* the deadline passed (or the guest grew again): enforcement applied */
};

_Static_assert(sizeof(struct stats_page) <= STATS_PAGE_SIZE, "stats page must fit one page");

/* "running", "blocked", "paused", "shutdown", "crashed"; "none" for DOM_STATE_NONE and
 * anything unknown. These are the words of the control channel's `event state`. */
const char *dom_state_name(enum dom_state s);

/* The sequence lock (stats_page.c). The writer brackets every update with begin/end. A
 * reader copies a consistent snapshot into *out: 0; -EAGAIN when the writer kept the page
 * busy through every retry (try again later); -EPROTO when the page is not a valid stats
 * page (wrong magic or version, e.g. a monitor still initialising it). */
void stats_page_write_begin(struct stats_page *p);
void stats_page_write_end(struct stats_page *p);
int stats_page_read(const struct stats_page *shared, struct stats_page *out);
/* The same from the page's file, read with pread into private memory: what a reader in
 * another process uses (xenod), so that a writer that truncates or shrinks the file costs
 * the reader an error, never a SIGBUS (a mapping of a shared file faults on the pages past
 * its end). -ENODATA when the file is shorter than the page. */
int stats_page_read_fd(int fd, struct stats_page *out);
/* A reader's request for a fresh page from a sleeping monitor: a signal, which the monitor
 * takes on its signalfd (several pending are one request). A signal, not a file event: it
 * costs the monitor no descriptor and no inotify instance (the host's per-user limit on
 * those, 128 by default, would keep all monitors past the 128th awake). */
#define STATS_PAGE_ASK_SIGNAL SIGUSR2
/* For a reader of many pages (xenod's passes over every domain): stats_page_ask() wakes a
 * sleeping monitor, through pidfd (it names one process: never another that reused the
 * pid), or when pidfd is -1 to pid, only if that process is a xeno-vmm (/proc/PID/comm);
 * so that asking all first and reading all after costs one wake-up's wait in all, not one
 * per page. stats_page_read_fd_since() takes a sleeping monitor's page without waiting when
 * it was updated at or after since_ns (CLOCK_REALTIME, taken before the asks); with
 * since_ns 0 it asks itself (pidfd, else the page's pid) and waits. Readers first check
 * stats_page_current() and ask only the monitors whose page is not. */
void stats_page_ask(int pidfd, int pid);
/* The page as it is, without asking and without waiting: a read never wakes the monitor. */
int stats_page_read_fd_nowait(int fd, struct stats_page *out);
int stats_page_read_fd_since(int fd, int pidfd, struct stats_page *out, uint64_t since_ns);
/* Whether a page read into *out (stats_page_read_fd_nowait) is current now without asking
 * its monitor, pid the monitor's process as the reader knows it: 1 when the monitor ticks
 * (the page is at most a tick old) or when it sleeps and its process used less than
 * STATS_PAGE_QUIET_CPU_NS of CPU since it wrote the page (no vCPU ran, no thread did any
 * work: every counter is as written); then out->updated_ns is set to now, the instant the
 * page is known true. 0 when it sleeps and something ran since (a guest woken by its own
 * in-kernel timer, or a monitor between wake-up and refresh), or pid is gone: ask. */
int stats_page_current(struct stats_page *out, int pid);
#define STATS_PAGE_QUIET_CPU_NS 1000000ull /* 1 ms */
/* How long stats_page_read_fd() waits for a sleeping monitor's refresh before it returns
 * the page it has (consistent, as of the monitor's last refresh). */
#define STATS_PAGE_REFRESH_WAIT_MS 20

#endif
