#include "fleet/fleet_move.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_place.h"
#include "lib/err.h"

/* Reads host's record: 1 with *h and its key's lease/mod_revision, 0 when it is gone. */
static int read_host(struct etcd_client *c, const char *host, struct fleet_host *h)
{
    char key[FLEET_KEY_MAX];
    struct etcd_range r;
    fleet_host_key(host, key, sizeof(key));
    int rc = etcd_range(c, key, 0, &r);
    if (rc < 0)
        return rc;
    int found = r.n == 1 && fleet_host_parse(r.kvs[0].value, r.kvs[0].value_len, key, h) == 0;
    if (found) {
        h->mod_revision = r.kvs[0].mod_revision;
        h->lease = r.kvs[0].lease;
    }
    etcd_range_free(&r);
    return found;
}

/* h with d's claim added (sign 1) or taken off (-1). */
static void adjust(struct fleet_host *h, const struct fleet_domain *d, int sign)
{
    if (sign > 0) {
        h->claimed_ppm += d->reservation_ppm;
        h->claimed_mib += d->mem_mib;
        h->claimed_domains++;
        return;
    }
    h->claimed_ppm -= h->claimed_ppm < d->reservation_ppm ? h->claimed_ppm : d->reservation_ppm;
    h->claimed_mib -= h->claimed_mib < d->mem_mib ? h->claimed_mib : d->mem_mib;
    h->claimed_domains -= h->claimed_domains ? 1 : 0;
}

/* One transaction: h (as read, then changed) written back on its mod_revision. */
static int put_host_txn(struct etcd_client *c, const struct fleet_host *h, int *won)
{
    char key[FLEET_KEY_MAX];
    fleet_host_key(h->name, key, sizeof(key));
    char *v = fleet_host_format(h);
    if (!v)
        return err_set(ENOMEM, "out of memory");
    const struct etcd_cmp cmp = {key, ETCD_CMP_MOD, h->mod_revision};
    const struct etcd_op op = {key, v, h->lease};
    int rc = etcd_txn(c, &cmp, 1, &op, 1, won);
    free(v);
    return rc;
}

int fleet_claim_elsewhere(struct etcd_client *c, const struct fleet_domain *d, enum placement_policy policy,
                          int need_migrate, struct fleet_host *target)
{
    struct placement_request req = {d->name, d->sponsor, d->reservation_ppm, d->vcpus, d->mem_mib};
    for (int attempt = 1; attempt <= FLEET_PLACE_TRIES; attempt++) {
        struct fleet_host *hosts;
        size_t n, k = 0;
        int rc = fleet_read_hosts(c, &hosts, &n), won = 0;
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) /* the others, that can take it the way it must come */
            if (strcmp(hosts[i].name, d->host) != 0 && (!need_migrate || hosts[i].migrate[0]))
                hosts[k++] = hosts[i];
        unsigned *count = calloc(k ? k : 1, sizeof(*count));
        rc = count ? fleet_sponsor_counts(c, d->sponsor, hosts, k, count) : err_set(ENOMEM, "out of memory");
        int pick = rc < 0   ? rc
                   : k == 0 ? err_set(ENOSPC, "no other host%s is in the fleet",
                                      need_migrate ? " that accepts live migrations (--migrate-listen)" : "")
                            : placement_choose(hosts, k, count, &req, policy);
        if (pick >= 0) {
            *target = hosts[pick];
            adjust(target, d, 1);
            rc = put_host_txn(c, target, &won);
        }
        free(count);
        free(hosts);
        if (pick < 0)
            return pick;
        if (rc < 0 || won)
            return rc;
        fleet_backoff(attempt);
    }
    return err_set(EAGAIN, "claiming room for %s: lost the race for a host %d times", d->name, FLEET_PLACE_TRIES);
}

int fleet_release_claim(struct etcd_client *c, const char *host, const struct fleet_domain *d)
{
    for (int attempt = 1; attempt <= FLEET_PLACE_TRIES; attempt++) {
        struct fleet_host h;
        int rc = read_host(c, host, &h), won = 0;
        if (rc <= 0)
            return rc; /* gone: its claims went with its record */
        adjust(&h, d, -1);
        if ((rc = put_host_txn(c, &h, &won)) < 0 || won)
            return rc;
        fleet_backoff(attempt);
    }
    return err_set(EAGAIN, "releasing the claim of %s on %s: the host record kept changing", d->name, host);
}

int fleet_move_record(struct etcd_client *c, struct fleet_domain *d, const char *to)
{
    char dkey[FLEET_KEY_MAX], hkey[FLEET_KEY_MAX], oldi[FLEET_INDEX_KEY_MAX], newi[FLEET_INDEX_KEY_MAX];
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    fleet_host_key(d->host, hkey, sizeof(hkey));
    fleet_sponsor_key(d->sponsor, d->host, d->uuid, oldi, sizeof(oldi));
    fleet_sponsor_key(d->sponsor, to, d->uuid, newi, sizeof(newi));
    struct fleet_domain moved = *d;
    snprintf(moved.host, sizeof(moved.host), "%s", to);
    char *dv = fleet_domain_format(&moved);
    if (!dv)
        return err_set(ENOMEM, "out of memory");
    int rc = 0;
    for (int attempt = 1; attempt <= FLEET_PLACE_TRIES; attempt++) {
        struct fleet_host old = {0};
        int found = read_host(c, d->host, &old), won = 0;
        if (found < 0) {
            rc = found;
            break;
        }
        char *hv = NULL;
        if (found) {
            adjust(&old, d, -1);
            if (!(hv = fleet_host_format(&old))) {
                rc = err_set(ENOMEM, "out of memory");
                break;
            }
        }
        const struct etcd_cmp cmps[] = {{dkey, ETCD_CMP_MOD, d->mod_revision}, {hkey, ETCD_CMP_MOD, old.mod_revision}};
        /* Without a sponsor the index ops are left out (the last two). */
        const struct etcd_op ops[] = {{dkey, dv, 0}, {hkey, hv, old.lease}, {oldi, NULL, 0}, {newi, "", 0}};
        const struct etcd_op ops_gone[] = {{dkey, dv, 0}, {oldi, NULL, 0}, {newi, "", 0}};
        size_t nidx = d->sponsor[0] ? 2 : 0;
        rc = found ? etcd_txn(c, cmps, 2, ops, 2 + nidx, &won) : etcd_txn(c, cmps, 1, ops_gone, 1 + nidx, &won);
        free(hv);
        if (rc < 0)
            break;
        if (won) {
            snprintf(d->host, sizeof(d->host), "%s", to);
            d->mod_revision = 0;
            break;
        }
        struct etcd_range r;
        if ((rc = etcd_range(c, dkey, 0, &r)) < 0)
            break;
        int same = r.n == 1 && r.kvs[0].mod_revision == d->mod_revision;
        etcd_range_free(&r);
        if (!same) {
            rc = err_set(ESTALE, "the fleet record of %s changed meanwhile", d->name);
            break;
        }
        rc = err_set(EAGAIN, "moving the record of %s: the old host's record kept changing", d->name);
        fleet_backoff(attempt);
    }
    free(dv);
    return rc;
}

int fleet_set_state(struct etcd_client *c, const char *host, enum fleet_host_state state)
{
    for (int attempt = 1; attempt <= FLEET_PLACE_TRIES; attempt++) {
        struct fleet_host h;
        int rc = read_host(c, host, &h), won = 0;
        if (rc < 0)
            return rc;
        if (rc == 0)
            return err_set(ENOENT, "host %s is not in the fleet (no record: unknown, or its lease expired)", host);
        h.state = state;
        if ((rc = put_host_txn(c, &h, &won)) < 0 || won)
            return rc;
        fleet_backoff(attempt);
    }
    return err_set(EAGAIN, "setting the state of %s: its record kept changing", host);
}
