/* A domain's CPU scheduling settings (docs/scheduling.md): what the XML's <cputune> and
 * <xeno:cpu reservation>, `xenctl sched` and the API set, what xenod passes to the monitor
 * and what the monitor enforces. Header only (data and pure checks), so the domain XML
 * parser in src/lib and xenctl can use it without linking the scheduler.
 *
 * Shares of CPU are in parts per million of one CPU (SCHED_PPM = 100%): 300000 is 30% of
 * one CPU. Reservation and limit are per domain, shared by all its vCPUs, so a domain with
 * N vCPUs may have up to N x 100%. */
#ifndef XENO_LIB_SCHED_PARAMS_H
#define XENO_LIB_SCHED_PARAMS_H

#include <stdint.h>
#include <stdio.h>

#include "lib/parse.h"

#define SCHED_PPM 1000000u /* 100% of one CPU */

#define SCHED_WEIGHT_DEFAULT 1024 /* libvirt's default <shares> (cgroup v1 cpu.shares) */
#define SCHED_WEIGHT_MIN 2
#define SCHED_WEIGHT_MAX 262144
#define SCHED_PERIOD_DEFAULT_US 10000 /* 10 ms */
#define SCHED_PERIOD_MIN_US 1000      /* libvirt's range for <period> */
#define SCHED_PERIOD_MAX_US 1000000
#define SCHED_SHARE_MIN_PPM 10000 /* a reservation or limit below 1% is not enforceable */
#define SCHED_MAX_VCPUS 32

struct sched_params {
    uint32_t reservation_ppm; /* guaranteed CPU per period, all vCPUs together; 0: none */
    uint32_t limit_ppm;       /* hard ceiling per period, all vCPUs together; 0: none */
    uint32_t weight;          /* share of the slack (CPU nobody reserved), relative */
    uint32_t period_us;       /* the time scale of the guarantee and the limit */
};

static inline struct sched_params sched_params_default(void)
{
    return (struct sched_params){0, 0, SCHED_WEIGHT_DEFAULT, SCHED_PERIOD_DEFAULT_US};
}

/* A percentage for messages, in a buffer that lives as long as the full expression. */
#define SCHED_PCT(ppm) format_percent_ppm((ppm), (char[32]){0}, 32)

/* Whether the settings make sense for a domain of nvcpus vCPUs, whatever the host: 0, or
 * -1 with the reason (one line, no source prefix) in why. Whether a reservation fits the
 * host is admission control's business (sched/admit.h). */
static inline int sched_params_check(const struct sched_params *p, unsigned nvcpus, char *why, size_t size)
{
    uint64_t most = (uint64_t)nvcpus * SCHED_PPM;
    if (p->weight < SCHED_WEIGHT_MIN || p->weight > SCHED_WEIGHT_MAX)
        snprintf(why, size, "weight %u is out of range; give %d to %d (default %d)", p->weight, SCHED_WEIGHT_MIN,
                 SCHED_WEIGHT_MAX, SCHED_WEIGHT_DEFAULT);
    else if (p->period_us < SCHED_PERIOD_MIN_US || p->period_us > SCHED_PERIOD_MAX_US)
        snprintf(why, size, "period %u us is out of range; give %d to %d us (default %d)", p->period_us,
                 SCHED_PERIOD_MIN_US, SCHED_PERIOD_MAX_US, SCHED_PERIOD_DEFAULT_US);
    else if (p->reservation_ppm && p->reservation_ppm < SCHED_SHARE_MIN_PPM)
        snprintf(why, size, "a reservation of %s is too small to enforce; give at least 1%% (or none)",
                 SCHED_PCT(p->reservation_ppm));
    else if (p->limit_ppm && p->limit_ppm < SCHED_SHARE_MIN_PPM)
        snprintf(why, size, "a limit of %s is too small to enforce; give at least 1%% (or none)",
                 SCHED_PCT(p->limit_ppm));
    else if (p->reservation_ppm > most)
        snprintf(why, size, "a reservation of %s is more than %u vCPU%s can use (%s)", SCHED_PCT(p->reservation_ppm),
                 nvcpus, nvcpus == 1 ? "" : "s", SCHED_PCT(most));
    else if (p->limit_ppm > most)
        snprintf(why, size, "a limit of %s is more than %u vCPU%s can use (%s): leave the limit out instead",
                 SCHED_PCT(p->limit_ppm), nvcpus, nvcpus == 1 ? "" : "s", SCHED_PCT(most));
    else if (p->limit_ppm && p->reservation_ppm > p->limit_ppm)
        snprintf(why, size,
                 "the reservation (%s) is above the limit (%s); a domain cannot be guaranteed more than it may use",
                 SCHED_PCT(p->reservation_ppm), SCHED_PCT(p->limit_ppm));
    else
        return 0;
    return -1;
}

#endif
