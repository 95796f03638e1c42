/* xenod's handle on one running xeno-vmm: the process (a pidfd, so a monitor that is not our
 * child, after a restart of xenod, is watched the same way), the control socket
 * (docs/control-channel.md) and the read-only stats page.
 *
 * One thread (the supervisor) reads the control socket; requesters write a line and sleep
 * until the supervisor hands them the reply. Event lines go to the supervisor's callback. */
#ifndef XENO_DAEMON_MONITOR_H
#define XENO_DAEMON_MONITOR_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>

#include "lib/domain_config.h"
#include "lib/stats_page.h"
#include "proto/control_proto.h"

struct monitor {
    int pid;
    int pidfd;
    int ctl_fd;
    char run_dir[PATH_MAX];
    int stats_fd;            /* RUN_DIR/stats, read with pread (never mapped: the monitor may truncate
                                it), or -1 if it could not be opened */
    uint64_t stats_asked_ns; /* CLOCK_REALTIME of the last monitor_ask_stats (0: none); under
                                the registry lock, as every use of the monitor by xenod */

    pthread_mutex_t lock; /* serialises requests; guards the reply slot */
    pthread_cond_t cond;
    int busy;                     /* a request is in flight */
    int reply_ready;              /* reply[] holds the answer to it */
    int dead;                     /* the control socket closed */
    char reply[CONTROL_LINE_MAX]; /* a whole line: a refusal names both images of each disk */
    char inbuf[CONTROL_LINE_MAX];
    size_t inlen;

    /* Owned by the registry, under its lock: requesters in flight, and whether the
     * supervisor has already detached it (the last user then closes it). */
    int users;
    int orphaned;
};

struct monitor_spawn_args {
    const char *vmm_path;
    const char *run_dir;
    const struct domain_config *cfg;
    int paused;
    const struct sched_params *sched; /* CPU scheduling in force (NULL: the XML's, cfg->sched) */
    const char *domain_xml;           /* written to RUN_DIR/domain.xml for the monitor to keep in
                                         its snapshots (domain_xml_canonical()); NULL: none */
    const char *restore_file;         /* resume this snapshot instead of booting cfg's kernel */
    const char *net;                  /* the --net value (net_port_monitor_arg), or NULL */
    const char *const *disks;         /* ndisks --disk values (reg_disks_attach) */
    unsigned ndisks;
    const char *migrate_incoming; /* wait for a live migration on ADDR:PORT (with migrate_key) */
    const char *migrate_key;
    const char *save_dir;    /* --save-dir: where the monitor's sandbox lets `save` write */
    const char *cache_dir;   /* --cache-dir: start-up results it reads (start_cache.h), or NULL */
    const char *out_key;     /* the key of migrations out (read by the monitor at `migrate`) */
    int no_wait;             /* return once started; monitor_wait_ready() later */
    const int *cgroup_procs; /* the domain's memory cgroup.procs to join (mcg_prepare); NULL: none */
};

/* Starts a monitor in its own session and waits until its control socket answers. */
int monitor_spawn(struct monitor **out, const struct monitor_spawn_args *a);
/* Waits until a monitor started with no_wait is ready (its pid file) and attaches; on
 * failure (it exited, or timeout_ms passed: then it is killed) frees m and says why. */
int monitor_wait_ready(struct monitor *m, int timeout_ms);
/* The same, also giving up (killing it) as soon as cancelled(ctx) returns 1 (polled every
 * 5 ms; cancelled may be NULL). */
int monitor_wait_ready_or(struct monitor *m, int timeout_ms, int (*cancelled)(void *), void *ctx);
/* Re-attaches to a monitor started by an earlier xenod. -ESRCH if `pid` is not the monitor
 * of `run_dir` (it exited, or the pid was reused). */
int monitor_attach(struct monitor **out, int pid, const char *run_dir);
/* Sends one request line (without newline) and waits up to timeout_ms for the reply line. */
int monitor_request(struct monitor *m, const char *request, char *reply, size_t size, int timeout_ms);
/* Reads what is available on the control socket; calls on_event for each event line.
 * Returns 0, or -EPIPE once the socket closed. Supervisor thread only. */
int monitor_read(struct monitor *m, void (*on_event)(void *ctx, const char *line), void *ctx);
/* A consistent copy of the stats page (seqlock); -ENODATA if unavailable. A sleeping
 * monitor whose process has not run since it wrote its page is not woken: the page is exact
 * and its updated_ns reads now (stats_page_current). Any other sleeping monitor is woken and
 * waited for, unless it refreshed since a monitor_ask_stats() of the last second
 * (docs/control-channel.md, "Stats page"). */
int monitor_read_stats(const struct monitor *m, struct stats_page *out);
/* Wakes a sleeping monitor to refresh its page, unless its page is current as it is: a pass
 * over many domains asks them all first, so that its reads wait for one wake-up in all, not
 * one each (reg_ask_stats_locked). */
void monitor_ask_stats(struct monitor *m);
/* The page without waiting: a sleeping monitor whose page is not current is asked (for the
 * next view) but not waited for. */
int monitor_peek_stats(const struct monitor *m, struct stats_page *out);
/* Reaps the process if it is our child, closes everything, frees m. */
void monitor_close(struct monitor *m);

/* The first line of RUN_DIR/outcome ("poweroff REASON", ...) or -ENOENT if there is none. */
int monitor_read_outcome(const char *run_dir, char *out, size_t size);
/* Removes what a monitor left in its run directory except the console logs. */
void monitor_clean_run_dir(const char *run_dir);

#endif
