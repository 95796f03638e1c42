/* Admission control for CPU reservations (docs/scheduling.md): a host promises no more
 * than it has. The reservations of the domains that run (or start, or are paused: a paused
 * domain keeps its promise) may add up to at most
 *
 *     capacity = CPUs x (100% - headroom)
 *
 * and one domain's reservation to at most its vCPUs x (100% - headroom), since a vCPU runs
 * on one CPU at a time. The headroom (default 10% of each CPU) is CPU that is never
 * promised: the host's own threads (xenod, the monitors' main loops, the kernel) and the
 * kernel's real-time throttling (95% of each CPU at most for real-time threads, which the
 * reserved band is) need it. Pure arithmetic; xenod applies it under its registry lock. */
#ifndef XENO_SCHED_ADMIT_H
#define XENO_SCHED_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#define SCHED_HEADROOM_DEFAULT_PPM 100000u /* 10% of each CPU */
#define SCHED_HEADROOM_MIN_PPM 50000u      /* the kernel keeps 5% from real-time threads anyway */

struct sched_host {
    unsigned cpus;         /* CPUs the domains run on */
    uint32_t headroom_ppm; /* share of each CPU never reserved */
};

/* What may be reserved in all: cpus x (100% - headroom), in ppm of one CPU. */
uint64_t sched_capacity_ppm(const struct sched_host *h);
/* The most one domain of nvcpus vCPUs may reserve: the smaller of nvcpus x (100% -
 * headroom) and the capacity. */
uint64_t sched_domain_max_ppm(const struct sched_host *h, unsigned nvcpus);

/* May domain `name` (nvcpus vCPUs) hold a reservation of want_ppm while the others hold
 * held_ppm (listed in `holders`, e.g. "web 30%, db 50%"; may be empty)? 0 if it fits;
 * -EINVAL if it can never fit this host; -ENOSPC if it does not fit now. The reason, with
 * what would fit, is written to why (one line). A reservation of 0 always fits. */
int sched_admit(const struct sched_host *h, uint64_t held_ppm, const char *holders, const char *name, uint32_t want_ppm,
                unsigned nvcpus, char *why, size_t size);

#endif
