#include "sched/admit_cpus.h"

#include <errno.h>
#include <stdio.h>

#include "lib/sched_params.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

void sched_load_add(struct sched_cpu_load *l, const struct cpumask *host, uint32_t reservation_ppm, unsigned nvcpus,
                    const struct cpumask *const masks[])
{
    if (!reservation_ppm || !nvcpus)
        return;
    uint64_t per_vcpu = div_up(reservation_ppm, nvcpus);
    for (unsigned i = 0; i < nvcpus; i++) {
        struct cpumask on = *host;
        if (masks[i]) {
            for (size_t w = 0; w < CPUMASK_MAX / 64; w++)
                on.bits[w] &= masks[i]->bits[w];
            if (!cpumask_count(&on))
                on = *host;
        }
        unsigned n = cpumask_count(&on);
        if (!n)
            return; /* no host CPU at all: nothing to spread over */
        uint64_t share = div_up(per_vcpu, n);
        for (unsigned c = 0; c < CPUMASK_MAX; c++)
            if (cpumask_has(&on, c))
                l->ppm[c] += share;
    }
}

int sched_admit_cpus(const struct sched_host *h, const struct sched_cpu_load *held, const struct sched_cpu_load *mine,
                     const struct cpumask *pinned, const char *name, uint32_t want_ppm, const char *holders, int *cpu,
                     char *why, size_t size)
{
    uint64_t cap = SCHED_PPM - (h->headroom_ppm < SCHED_PPM ? h->headroom_ppm : SCHED_PPM);
    int over = -1;
    /* The most `name` could reserve with these pins: its load grows in proportion to its
     * reservation, so each pinned CPU allows free x want / mine. */
    uint64_t most = want_ppm;
    for (unsigned c = 0; c < CPUMASK_MAX; c++) {
        if (!cpumask_has(pinned, c) || !mine->ppm[c])
            continue;
        uint64_t free_ppm = held->ppm[c] < cap ? cap - held->ppm[c] : 0;
        if (mine->ppm[c] > free_ppm) {
            if (over < 0)
                over = (int)c;
            uint64_t fits = free_ppm * want_ppm / mine->ppm[c];
            most = fits < most ? fits : most;
        }
    }
    *cpu = over;
    if (over < 0)
        return 0;
    uint64_t held_c = held->ppm[over], free_c = held_c < cap ? cap - held_c : 0;
    snprintf(why, size,
             "domain %s asks for a reservation of %s, %s of it on CPU %d where its vCPUs are pinned, but only %s of "
             "CPU %d's %s (100%% less %s headroom) is free: running domains hold %s there (%s); give %s at most "
             "%s with these pins, pin it to other CPUs, or stop a domain that holds a reservation there",
             name, SCHED_PCT(want_ppm), SCHED_PCT(mine->ppm[over]), over, SCHED_PCT(free_c), over, SCHED_PCT(cap),
             SCHED_PCT(h->headroom_ppm), SCHED_PCT(held_c), holders && *holders ? holders : "-", name, SCHED_PCT(most));
    return -ENOSPC;
}
