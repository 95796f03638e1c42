/* Per-CPU admission of pinned reservations (docs/scheduling.md, "Pinned domains"): a domain
 * whose vCPUs are pinned is admitted only if every CPU they are pinned to still has its share
 * unreserved. The model: a domain's reservation is split evenly over its vCPUs, and each vCPU's
 * share evenly over the host CPUs it may run on (an unpinned vCPU: all of them). A CPU may
 * carry at most 100% less the headroom. Beside the host-wide rule (sched/admit.h), which still
 * applies. Pure arithmetic; xenod applies it under its registry lock. */
#ifndef XENO_SCHED_ADMIT_CPUS_H
#define XENO_SCHED_ADMIT_CPUS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/cpumask.h"
#include "sched/admit.h"

/* What is reserved on each host CPU, in ppm of one CPU. 8 KiB: allocate, do not put on a
 * small stack. */
struct sched_cpu_load {
    uint64_t ppm[CPUMASK_MAX];
};

/* Adds one domain's reservation to *l: each of its nvcpus vCPUs carries reservation/nvcpus,
 * spread evenly over the CPUs of `host` its mask allows. masks[i] is vCPU i's mask, NULL for
 * "any host CPU" (a mask with no host CPU in it counts as NULL). Shares round up: the model
 * never promises a CPU less than it may be asked for. */
void sched_load_add(struct sched_cpu_load *l, const struct cpumask *host, uint32_t reservation_ppm, unsigned nvcpus,
                    const struct cpumask *const masks[]);

/* May domain `name` add its load `mine` (sched_load_add of its own reservation want_ppm) to
 * `held` (the other running domains')? Only the CPUs of `pinned` (where its pinned vCPUs may
 * run; empty for a domain with no pins: the host-wide rule is all there is) are checked.
 * 0 if it fits (*cpu = -1); -ENOSPC with the reason in why (the first CPU that would be
 * over, what is held there and by whom: `holders`, e.g. "web 30%", may be empty; the most
 * `name` could reserve with these pins) and that CPU in *cpu. */
int sched_admit_cpus(const struct sched_host *h, const struct sched_cpu_load *held, const struct sched_cpu_load *mine,
                     const struct cpumask *pinned, const char *name, uint32_t want_ppm, const char *holders, int *cpu,
                     char *why, size_t size);

#endif
