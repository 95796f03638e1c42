/* Whether this xenod takes fleet placements now (docs/fleet.md "Partitions"): open while it
 * holds a lease and its last round reached etcd. A host that cannot reach etcd keeps its
 * domains running but refuses what placers send it (POST /v1/domains with "fleet": true),
 * since the fleet may already count it dead and restart its domains elsewhere.
 *
 * Threads: written by the membership thread, read by API threads (atomics, no lock). */
#ifndef XENO_DAEMON_FLEET_GATE_H
#define XENO_DAEMON_FLEET_GATE_H

#include <stddef.h>

struct fleet_gate {
    int open;
};

static inline void fleet_gate_set(struct fleet_gate *g, int open)
{
    if (g)
        __atomic_store_n(&g->open, open, __ATOMIC_RELEASE);
}

/* 0 for NULL (a xenod not in a fleet takes no fleet placements). */
static inline int fleet_gate_open(const struct fleet_gate *g)
{
    return g && __atomic_load_n(&g->open, __ATOMIC_ACQUIRE);
}

/* NULL when open, else why a placement is refused (for the API's 503). */
static inline const char *fleet_gate_refusal(const struct fleet_gate *g)
{
    if (fleet_gate_open(g))
        return NULL;
    return g ? "this host cannot reach the fleet's etcd now (or has not registered yet): it keeps its domains "
               "running but takes no fleet placements until it can"
             : "this xenod is not in a fleet (start it with --fleet)";
}

#endif
