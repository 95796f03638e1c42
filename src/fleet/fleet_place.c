#include "fleet/fleet_place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct fleet_host *)a)->name, ((const struct fleet_host *)b)->name);
}

int fleet_read_hosts(struct etcd_client *c, struct fleet_host **hosts, size_t *n)
{
    struct etcd_range r;
    int rc = etcd_range(c, FLEET_HOSTS, 1, &r);
    *hosts = NULL;
    *n = 0;
    if (rc < 0)
        return rc;
    if (r.n > FLEET_HOSTS_MAX) {
        etcd_range_free(&r);
        return err_set(E2BIG, "the fleet holds more than %d hosts", FLEET_HOSTS_MAX);
    }
    struct fleet_host *h = calloc(r.n ? r.n : 1, sizeof(*h));
    if (!h) {
        etcd_range_free(&r);
        return err_set(ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r.n; i++) {
        if (fleet_host_parse(r.kvs[i].value, r.kvs[i].value_len, r.kvs[i].key, &h[*n]) < 0)
            continue; /* a record we cannot read is a host we cannot place on */
        h[*n].mod_revision = r.kvs[i].mod_revision;
        h[*n].lease = r.kvs[i].lease;
        (*n)++;
    }
    etcd_range_free(&r);
    qsort(h, *n, sizeof(*h), by_name);
    *hosts = h;
    return 0;
}

void fleet_domains_free(struct fleet_domain *domains, size_t n)
{
    for (size_t i = 0; domains && i < n; i++)
        fleet_domain_free(&domains[i]);
    free(domains);
}

int fleet_read_domains(struct etcd_client *c, struct fleet_domain **domains, size_t *n)
{
    struct etcd_range r;
    int rc = etcd_range(c, FLEET_DOMAINS, 1, &r);
    *domains = NULL;
    *n = 0;
    if (rc < 0)
        return rc;
    struct fleet_domain *d = calloc(r.n ? r.n : 1, sizeof(*d));
    if (!d) {
        etcd_range_free(&r);
        return err_set(ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r.n; i++)
        if (fleet_domain_parse(r.kvs[i].value, r.kvs[i].value_len, r.kvs[i].key, &d[*n]) == 0)
            d[*n].mod_revision = r.kvs[i].mod_revision, (*n)++;
    etcd_range_free(&r);
    *domains = d;
    return 0;
}

/* How many of the sponsor's domains each host runs, from the anti-affinity index's keys. */
int fleet_sponsor_counts(struct etcd_client *c, const char *sponsor, const struct fleet_host *hosts, size_t n,
                         unsigned *count)
{
    memset(count, 0, n * sizeof(*count));
    if (!sponsor || !*sponsor)
        return 0;
    char prefix[FLEET_INDEX_KEY_MAX];
    struct etcd_range r;
    fleet_sponsor_prefix(sponsor, prefix, sizeof(prefix));
    int rc = etcd_range_keys(c, prefix, &r);
    if (rc < 0)
        return rc;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < r.n; i++) {
        const char *host = r.kvs[i].key + plen, *slash = strchr(host, '/');
        if (strncmp(r.kvs[i].key, prefix, plen) != 0 || !slash)
            continue;
        for (size_t h = 0; h < n; h++)
            if (strlen(hosts[h].name) == (size_t)(slash - host) &&
                strncmp(hosts[h].name, host, (size_t)(slash - host)) == 0)
                count[h]++;
    }
    etcd_range_free(&r);
    return 0;
}

/* The claim transaction on host h as read; *won 0 when someone changed it meanwhile. */
static int claim(struct etcd_client *c, const struct fleet_host *h, const struct fleet_domain *d, int *won)
{
    char hkey[FLEET_KEY_MAX], dkey[FLEET_KEY_MAX], ikey[FLEET_INDEX_KEY_MAX];
    struct fleet_host after = *h;
    after.claimed_ppm += d->reservation_ppm;
    after.claimed_mib += d->mem_mib;
    after.claimed_domains++;
    fleet_host_key(h->name, hkey, sizeof(hkey));
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    char *hv = fleet_host_format(&after), *dv = fleet_domain_format(d);
    int rc = hv && dv ? 0 : err_set(ENOMEM, "out of memory");
    const struct etcd_cmp cmps[] = {{hkey, ETCD_CMP_MOD, h->mod_revision}, {dkey, ETCD_CMP_CREATE, 0}};
    fleet_sponsor_key(d->sponsor, h->name, d->uuid, ikey, sizeof(ikey));
    const struct etcd_op ops[] = {{hkey, hv, h->lease}, {dkey, dv, 0}, {ikey, "", 0}};
    if (rc == 0)
        rc = etcd_txn(c, cmps, 2, ops, d->sponsor[0] ? 3 : 2, won);
    free(hv);
    free(dv);
    return rc;
}

/* A short random pause after a lost race, so placers that collided do not collide again. */
void fleet_backoff(int attempt)
{
    struct timespec ts = {0, (long)(rand() % (1 + 5 * (attempt < 8 ? attempt : 8))) * 1000000L};
    nanosleep(&ts, NULL);
}

int fleet_place(struct etcd_client *c, struct fleet_domain *d, enum placement_policy policy, struct fleet_host *chosen,
                int *attempts)
{
    struct placement_request req = {d->name, d->sponsor, d->reservation_ppm, d->vcpus, d->mem_mib};
    for (*attempts = 1; *attempts <= FLEET_PLACE_TRIES; ++*attempts) {
        struct fleet_host *hosts;
        size_t n;
        int rc = fleet_read_hosts(c, &hosts, &n);
        if (rc < 0)
            return rc;
        unsigned *count = calloc(n ? n : 1, sizeof(*count));
        rc = count ? fleet_sponsor_counts(c, d->sponsor, hosts, n, count) : err_set(ENOMEM, "out of memory");
        int pick = rc < 0 ? rc : placement_choose(hosts, n, count, &req, policy);
        int won = 0;
        if (pick >= 0) {
            snprintf(d->host, sizeof(d->host), "%s", hosts[pick].name);
            rc = claim(c, &hosts[pick], d, &won);
            if (won) {
                *chosen = hosts[pick];
                chosen->claimed_ppm += d->reservation_ppm;
                chosen->claimed_mib += d->mem_mib;
                chosen->claimed_domains++;
            }
        }
        free(count);
        free(hosts);
        if (pick < 0)
            return pick;
        if (rc < 0)
            return rc;
        if (won)
            return 0;
        /* Lost: the host changed, or the domain exists already. */
        char dkey[FLEET_KEY_MAX];
        struct etcd_range r;
        fleet_domain_key(d->uuid, dkey, sizeof(dkey));
        if ((rc = etcd_range(c, dkey, 0, &r)) < 0)
            return rc;
        size_t exists = r.n;
        etcd_range_free(&r);
        if (exists)
            return err_set(EEXIST, "domain %s (uuid %s) is placed in the fleet already", d->name, d->uuid);
        fleet_backoff(*attempts);
    }
    return err_set(EAGAIN, "placing %s: lost the race for a host %d times; try again", d->name, FLEET_PLACE_TRIES);
}

/* 0 when the domain record is still at mod_revision, -ESTALE when it changed or is gone. */
static int domain_unchanged(struct etcd_client *c, const char *dkey, int64_t mod_revision)
{
    struct etcd_range r;
    int rc = etcd_range(c, dkey, 0, &r);
    if (rc < 0)
        return rc;
    int same = r.n == 1 && r.kvs[0].mod_revision == mod_revision;
    etcd_range_free(&r);
    return same ? 0 : err_set(ESTALE, "fleet record %s changed meanwhile", dkey);
}

int fleet_unplace(struct etcd_client *c, const struct fleet_domain *d)
{
    char hkey[FLEET_KEY_MAX], dkey[FLEET_KEY_MAX], ikey[FLEET_INDEX_KEY_MAX];
    size_t nops = d->sponsor[0] ? 3 : 2;
    fleet_host_key(d->host, hkey, sizeof(hkey));
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    const struct etcd_cmp dcmp[] = {{dkey, ETCD_CMP_MOD, d->mod_revision}};
    fleet_sponsor_key(d->sponsor, d->host, d->uuid, ikey, sizeof(ikey));
    for (int attempt = 1; attempt <= FLEET_PLACE_TRIES; attempt++) {
        struct etcd_range r;
        struct fleet_host h;
        int rc = d->mod_revision ? domain_unchanged(c, dkey, d->mod_revision) : 0, won = 0;
        if (rc < 0)
            return rc;
        if ((rc = etcd_range(c, hkey, 0, &r)) < 0)
            return rc;
        if (r.n == 0 || fleet_host_parse(r.kvs[0].value, r.kvs[0].value_len, hkey, &h) < 0) {
            /* The host left the fleet: its claims went with its record; drop the domain's. */
            etcd_range_free(&r);
            const struct etcd_op del[] = {{dkey, NULL, 0}, {ikey, NULL, 0}};
            return etcd_txn(c, dcmp, d->mod_revision ? 1 : 0, del, nops - 1, &won);
        }
        h.claimed_ppm -= h.claimed_ppm < d->reservation_ppm ? h.claimed_ppm : d->reservation_ppm;
        h.claimed_mib -= h.claimed_mib < d->mem_mib ? h.claimed_mib : d->mem_mib;
        h.claimed_domains -= h.claimed_domains ? 1 : 0;
        const struct etcd_cmp cmps[] = {{hkey, ETCD_CMP_MOD, r.kvs[0].mod_revision}, dcmp[0]};
        int64_t lease = r.kvs[0].lease;
        etcd_range_free(&r);
        char *hv = fleet_host_format(&h);
        if (!hv)
            return err_set(ENOMEM, "out of memory");
        const struct etcd_op ops[] = {{hkey, hv, lease}, {dkey, NULL, 0}, {ikey, NULL, 0}};
        rc = etcd_txn(c, cmps, d->mod_revision ? 2 : 1, ops, nops, &won);
        free(hv);
        if (rc < 0 || won)
            return rc;
        fleet_backoff(attempt);
    }
    return err_set(EAGAIN, "releasing the claim of %s on %s: the host record kept changing", d->name, d->host);
}
