/* The placement policy (docs/fleet.md "Placement"): which host gets a new domain. Pure: it
 * sees the hosts as read from etcd and decides; claiming is fleet_place.c's job.
 *
 * A host is eligible when it is active (draining hosts take nothing new), its admission
 * control would accept the reservation (sched_admit() on its CPUs and headroom, counting
 * fleet_host_used_ppm()) and the domain's memory fits what is not claimed. Among the
 * eligible, anti-affinity first: the hosts with the fewest domains of the same sponsor (a
 * preference, not a refusal: a sponsor's fifth domain still goes somewhere on three hosts).
 * Then the policy:
 *   binpack  the host with the least CPU left after the claim (fills hosts one by one)
 *   spread   the host with the largest share of its CPU left after the claim
 * Ties go to the host whose name sorts first, so a decision is reproducible. */
#ifndef XENO_FLEET_PLACEMENT_H
#define XENO_FLEET_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "fleet/fleet_model.h"

enum placement_policy { PLACEMENT_BINPACK, PLACEMENT_SPREAD };

struct placement_request {
    const char *name;    /* for messages */
    const char *sponsor; /* "" or NULL: none (no anti-affinity) */
    uint32_t reservation_ppm;
    unsigned vcpus;
    uint64_t mem_mib;
};

/* "binpack" or "spread" -> 0; else -EINVAL with err_set(). */
int placement_policy_parse(const char *text, enum placement_policy *out);

/* The index of the chosen host in hosts[0..n), with sponsor_domains[i] the number of the
 * sponsor's domains on hosts[i] (NULL: none anywhere). -ENOSPC when no host is eligible,
 * with err_set() saying why for each host (bounded). */
int placement_choose(const struct fleet_host *hosts, size_t n, const unsigned *sponsor_domains,
                     const struct placement_request *req, enum placement_policy policy);

#endif
