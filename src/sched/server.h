/* The budget server of one domain: the algorithm core of XenoServer's CPU scheduler
 * (docs/scheduling.md). Pure: no threads, no clocks, no system calls. The caller feeds it the
 * time and the CPU time each vCPU thread has used (thread CPU clocks), and it says which
 * band the domain's vCPUs belong in until when:
 *
 *   RESERVED   the domain has reservation left in this period: its vCPU threads run in the
 *              reserved band (above every ordinary host thread), so they get it whatever
 *              else competes;
 *   SLACK      the reservation is used up (or there is none): its vCPUs compete for the
 *              CPU nobody reserved, in proportion to their weight;
 *   THROTTLED  the limit for this period is used up: its vCPUs do not run until the next
 *              period begins.
 *
 * Budgets are refilled at the start of every period (a periodic server with budget
 * reservation_ppm x period for the reserved band and limit_ppm x period for everything).
 * Only CPU time the vCPU threads really used is charged, so a halted vCPU (blocked in KVM
 * waiting for an interrupt) spends nothing and keeps its reservation for when it wakes.
 * A limit overrun (the time between the budget running out and the vCPUs stopping) is
 * carried into the next period as debt, so over many periods the domain never gets more
 * than its limit, however late the enforcement is. Reservation and limit are pooled: the
 * domain's vCPUs draw on one budget.
 *
 * Unit-tested on a simulated clock (tests/unit/test_sched_server.c). */
#ifndef XENO_SCHED_SERVER_H
#define XENO_SCHED_SERVER_H

#include <stdint.h>

#include "lib/sched_params.h"

enum sched_band {
    SCHED_BAND_SLACK = 0,
    SCHED_BAND_RESERVED,
    SCHED_BAND_THROTTLED,
};

/* Never: a server with neither a reservation nor a limit has nothing to decide. */
#define SCHED_NEVER UINT64_MAX
/* The shortest sleep the server asks for: a budget closer than this to its end counts as
 * used up (so the caller never spins on microsecond timers). */
#define SCHED_MIN_STEP_NS 20000u

struct sched_counters {
    uint64_t reserved_ns;  /* CPU time used in the reserved band */
    uint64_t slack_ns;     /* CPU time used in the slack band (and overruns) */
    uint64_t throttled_ns; /* wall time spent throttled */
    uint64_t throttles;    /* times the limit stopped the domain */
    uint64_t periods;      /* periods begun */
    uint64_t overrun_ns;   /* CPU time used past the limit, paid back later as debt */
};

struct sched_server {
    struct sched_params p;
    unsigned nvcpus;
    uint64_t period_ns;
    uint64_t period_start, period_end;
    uint64_t used;       /* CPU time all vCPUs used in this period */
    uint64_t res_budget; /* reserved CPU time this period */
    uint64_t lim_budget; /* CPU time allowed this period (the limit less the debt); SCHED_NEVER: none */
    uint64_t debt;       /* limit overrun of the last period, taken from this one */
    uint64_t last_cpu[SCHED_MAX_VCPUS];
    uint64_t last_step;
    enum sched_band band;
    struct sched_counters c;
};

/* A fresh server at `now` (a period begins), with the vCPUs' CPU clocks as they read now. */
void sched_server_init(struct sched_server *s, const struct sched_params *p, unsigned nvcpus, uint64_t now,
                       const uint64_t *cpu_ns);
/* New settings, live. The period in progress keeps its start and what was used in it; its
 * budgets and length become the new ones at once (a period already longer than the new
 * length ends at the next step). Call sched_server_step right after. */
void sched_server_set(struct sched_server *s, const struct sched_params *p, uint64_t now);
/* Charges the CPU time used since the last call, begins new periods that are due, and
 * decides the band. Returns when to call again at the latest (SCHED_NEVER: only after a
 * change): the end of the period, or the earliest moment a budget could run out if every
 * vCPU ran flat out from now on. */
uint64_t sched_server_step(struct sched_server *s, uint64_t now, const uint64_t *cpu_ns);

const char *sched_band_name(enum sched_band b);

/* The nice value (-20..19) whose CFS weight is nearest to `weight` (libvirt's shares, 1024 =
 * nice 0), per vCPU thread: a domain's weight is divided among its vCPUs. */
int sched_weight_to_nice(uint32_t weight, unsigned nvcpus);
/* CFS's weight of a nice value (the kernel's sched_prio_to_weight table). */
uint32_t sched_nice_to_weight(int nice);

#endif
