#include "fleet/placement.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "sched/admit.h"

#define WHY_MAX 1024

int placement_policy_parse(const char *text, enum placement_policy *out)
{
    if (strcmp(text, "binpack") == 0)
        *out = PLACEMENT_BINPACK;
    else if (strcmp(text, "spread") == 0)
        *out = PLACEMENT_SPREAD;
    else
        return err_set(EINVAL, "placement policy '%.40s': binpack or spread", text);
    return 0;
}

/* 0 if hosts[i] may take the request; else the reason in why. */
static int eligible(const struct fleet_host *h, const struct placement_request *req, char *why, size_t size)
{
    if (h->state != FLEET_ACTIVE) {
        snprintf(why, size, "draining");
        return -1;
    }
    if (req->mem_mib > h->mem_mib || h->claimed_mib > h->mem_mib - req->mem_mib) {
        snprintf(why, size, "%llu MiB of memory free, %llu wanted",
                 (unsigned long long)(h->mem_mib > h->claimed_mib ? h->mem_mib - h->claimed_mib : 0),
                 (unsigned long long)req->mem_mib);
        return -1;
    }
    struct sched_host sh = {.cpus = h->cpus, .headroom_ppm = h->headroom_ppm};
    if (sched_admit(&sh, fleet_host_used_ppm(h), "", req->name ? req->name : "domain", req->reservation_ppm,
                    req->vcpus ? req->vcpus : 1, why, size) < 0)
        return -1;
    return 0;
}

/* Whether candidate a is better than b (both eligible) under the policy. */
static int better(const struct fleet_host *a, unsigned sa, const struct fleet_host *b, unsigned sb,
                  const struct placement_request *req, enum placement_policy policy)
{
    if (sa != sb)
        return sa < sb;
    struct sched_host ha = {.cpus = a->cpus, .headroom_ppm = a->headroom_ppm};
    struct sched_host hb = {.cpus = b->cpus, .headroom_ppm = b->headroom_ppm};
    uint64_t ca = sched_capacity_ppm(&ha), cb = sched_capacity_ppm(&hb);
    uint64_t ua = fleet_host_used_ppm(a) + req->reservation_ppm, ub = fleet_host_used_ppm(b) + req->reservation_ppm;
    uint64_t fa = ca > ua ? ca - ua : 0, fb = cb > ub ? cb - ub : 0; /* CPU left after the claim */
    if (policy == PLACEMENT_BINPACK) {
        if (fa != fb)
            return fa < fb;
    } else if (ca && cb) {
        /* fa/ca > fb/cb without division; both below 2^32 x 4096 so the products fit. */
        unsigned __int128 l = (unsigned __int128)fa * cb, r = (unsigned __int128)fb * ca;
        if (l != r)
            return l > r;
        /* Equal shares: fewer domains first, so empty hosts of any size fill evenly. */
        if (a->claimed_domains != b->claimed_domains)
            return a->claimed_domains < b->claimed_domains;
    }
    return strcmp(a->name, b->name) < 0;
}

int placement_choose(const struct fleet_host *hosts, size_t n, const unsigned *sponsor_domains,
                     const struct placement_request *req, enum placement_policy policy)
{
    char why[WHY_MAX], one[256];
    size_t used = 0;
    int best = -1;
    why[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (eligible(&hosts[i], req, one, sizeof(one)) < 0) {
            if (used < sizeof(why))
                used +=
                    (size_t)snprintf(why + used, sizeof(why) - used, "%s%s: %s", used ? "; " : "", hosts[i].name, one);
            continue;
        }
        unsigned si = sponsor_domains ? sponsor_domains[i] : 0;
        unsigned sb = best >= 0 && sponsor_domains ? sponsor_domains[best] : 0;
        if (best < 0 || better(&hosts[i], si, &hosts[best], sb, req, policy))
            best = (int)i;
    }
    if (best >= 0)
        return best;
    if (!n)
        return err_set(ENOSPC, "no host in the fleet (none registered, or every lease expired)");
    return err_set(ENOSPC, "no host can take %s: %s", req->name ? req->name : "the domain", why);
}
