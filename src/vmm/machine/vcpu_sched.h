/* The CPU scheduler's mechanism in the monitor (docs/scheduling.md): one thread per domain
 * that runs the budget server of src/sched on the vCPU threads' CPU clocks and puts the
 * vCPU threads in the band it decides:
 *
 *   reserved   SCHED_FIFO at VCPU_SCHED_RESERVED_PRIO: ahead of every ordinary thread on
 *              the host, until the period's reservation is used;
 *   slack      SCHED_OTHER at the nice value of the domain's weight (CFS shares the CPU
 *              nobody reserved in proportion to weight);
 *   throttled  parked outside KVM_RUN (kicked out, waiting on the VM's condition variable)
 *              until the next period, once the period's limit is used.
 *
 * The thread runs at SCHED_FIFO VCPU_SCHED_THREAD_PRIO, above the reserved band, so that it
 * can demote or stop a vCPU on the same CPU on time. It wakes at period ends and when a
 * budget could run out, and sleeps for good when the domain has neither a reservation nor
 * a limit. The domain owns it for its whole life; each VM (a restart makes a new one) is
 * attached after its vCPU threads start and detached before they are joined. */
#ifndef XENO_VMM_MACHINE_VCPU_SCHED_H
#define XENO_VMM_MACHINE_VCPU_SCHED_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "sched/server.h"

#define VCPU_SCHED_THREAD_PRIO 45
#define VCPU_SCHED_RESERVED_PRIO 40

struct vm;

/* What the stats page shows (all VMs of the domain together). */
struct vcpu_sched_stats {
    struct sched_params p;
    enum sched_band band;
    struct sched_counters c;
    uint64_t overhead_ns; /* the scheduler thread's own CPU time */
    uint64_t changes;     /* live changes applied */
};

struct vcpu_sched {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC: the thread's sleep; a change or a stop wakes it */
    pthread_t thread;
    int started, stop, changed;
    struct vm *vm; /* attached VM, or NULL */
    int fresh;     /* a VM was attached: restart the server on its clocks */
    unsigned nvcpus;
    struct sched_params p;
    struct sched_server server;
    struct sched_counters base; /* counters of earlier VMs */
    uint64_t overhead_ns, changes;
    int warned_rt, warned_nice;
    /* What each vCPU thread was last given: its tid (0: none yet) and band, and the nice. */
    pid_t tid[SCHED_MAX_VCPUS];
    enum sched_band applied[SCHED_MAX_VCPUS];
    int nice;
    int group_nice; /* what the session's autogroup was given (apply_group_nice) */
};

/* Starts the thread with these settings (checked by the caller). 0 or -errno, err_msg(). */
int vcpu_sched_start(struct vcpu_sched *sc, const struct sched_params *p, unsigned nvcpus);
/* New settings, applied at once (the thread wakes). Any thread. */
void vcpu_sched_set(struct vcpu_sched *sc, const struct sched_params *p);
struct sched_params vcpu_sched_params(struct vcpu_sched *sc);
/* The VM whose vCPU threads are to be scheduled (after vm_start), or none (NULL, before
 * vm_join): its vCPUs go back to SCHED_OTHER and unthrottled. */
void vcpu_sched_attach(struct vcpu_sched *sc, struct vm *vm);
void vcpu_sched_stats(struct vcpu_sched *sc, struct vcpu_sched_stats *out);
/* Stops and joins the thread (detach first). */
void vcpu_sched_stop(struct vcpu_sched *sc);

/* Opens the /proc file the scheduler writes at run time (the session's autogroup nice) and
 * keeps it for the process's life: called before the monitor enters its sandbox, which
 * refuses opening anything under /proc. Main thread, before any scheduler starts. */
void vcpu_sched_open_host_files(void);

#endif
