#include "sched/admit.h"

#include <errno.h>
#include <stdio.h>

#include "lib/sched_params.h"

uint64_t sched_capacity_ppm(const struct sched_host *h)
{
    uint32_t head = h->headroom_ppm < SCHED_PPM ? h->headroom_ppm : SCHED_PPM;
    return (uint64_t)h->cpus * (SCHED_PPM - head);
}

uint64_t sched_domain_max_ppm(const struct sched_host *h, unsigned nvcpus)
{
    uint32_t head = h->headroom_ppm < SCHED_PPM ? h->headroom_ppm : SCHED_PPM;
    uint64_t per_vcpus = (uint64_t)nvcpus * (SCHED_PPM - head), cap = sched_capacity_ppm(h);
    return per_vcpus < cap ? per_vcpus : cap;
}

int sched_admit(const struct sched_host *h, uint64_t held_ppm, const char *holders, const char *name, uint32_t want_ppm,
                unsigned nvcpus, char *why, size_t size)
{
    uint64_t cap = sched_capacity_ppm(h), most = sched_domain_max_ppm(h, nvcpus);
    uint64_t free_ppm = held_ppm < cap ? cap - held_ppm : 0;
    char host[160];
    snprintf(host, sizeof(host), "%s (%u CPU%s less %s headroom each)", SCHED_PCT(cap), h->cpus,
             h->cpus == 1 ? "" : "s", SCHED_PCT(h->headroom_ppm));
    if (want_ppm == 0)
        return 0;
    if (want_ppm > most) {
        if (most < cap)
            snprintf(why, size,
                     "domain %s asks for a reservation of %s, but its %u vCPU%s can be guaranteed at most %s (each "
                     "runs on one CPU, less the host's %s headroom); give at most %s",
                     name, SCHED_PCT(want_ppm), nvcpus, nvcpus == 1 ? "" : "s", SCHED_PCT(most),
                     SCHED_PCT(h->headroom_ppm), SCHED_PCT(most));
        else
            snprintf(why, size,
                     "domain %s asks for a reservation of %s, but this host can reserve at most %s in all; give at "
                     "most %s",
                     name, SCHED_PCT(want_ppm), host, SCHED_PCT(most));
        return -EINVAL;
    }
    if (want_ppm > free_ppm) {
        snprintf(why, size,
                 "domain %s asks for a reservation of %s, but only %s of this host's %s is free: running domains "
                 "hold %s (%s); give %s at most %s, or stop a domain that holds a reservation",
                 name, SCHED_PCT(want_ppm), SCHED_PCT(free_ppm), host, SCHED_PCT(held_ppm),
                 holders && *holders ? holders : "-", name, SCHED_PCT(free_ppm));
        return -ENOSPC;
    }
    return 0;
}
