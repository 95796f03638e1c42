/* The registry side of GET /metrics: the figures copied out under the lock (metrics.h). */
#include "daemon/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/billing.h"
#include "daemon/blk_meter.h"
#include "daemon/net_port.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"

/* Its disks' counters on xeno-blkback, summed (the page is read under the lock: it is small,
 * and read again only when it moved). Caller holds r->lock. */
static void copy_disks(struct registry *r, struct reg_domain *d, struct metrics_domain *m)
{
    for (unsigned i = 0; i < d->cfg.ndisks; i++) {
        const struct bb_stats_disk *k = reg_disk_stats_locked(r, d, i);
        if (!k)
            continue;
        m->have_disk = 1;
        m->disk_read_ops += k->reads;
        m->disk_write_ops += k->writes;
        m->disk_read_bytes += k->bytes_read;
        m->disk_write_bytes += k->bytes_written;
        m->disk_throttled_ns += k->throttled_ns;
        m->disk_size_bytes += k->size_bytes;
    }
}

/* Caller holds r->lock. */
static void copy_domain(struct registry *r, struct reg_domain *d, struct metrics_domain *m)
{
    struct stats_page st;
    int have_stats;
    snprintf(m->name, sizeof(m->name), "%s", d->cfg.name);
    snprintf(m->uuid, sizeof(m->uuid), "%s", d->cfg.uuid);
    snprintf(m->sponsor, sizeof(m->sponsor), "%s", d->cfg.sponsor);
    snprintf(m->state, sizeof(m->state), "%s", reg_live_state(d, &st, &have_stats, 0));
    m->vcpus = d->cfg.vcpus;
    m->memory_max_bytes = d->cfg.memory_bytes;
    m->memory_target_bytes = d->cfg.current_memory_bytes;
    m->cpu_reservation_ppm = d->sched.reservation_ppm;
    m->have_stats = have_stats;
    if (have_stats) {
        m->cpu_ns = st.cpu_ns;
        m->resident_bytes = st.guest_resident_bytes;
        if (st.memory_target_bytes)
            m->memory_target_bytes = st.memory_target_bytes;
    }
    if (d->mon && d->cfg.net.present)
        net_port_name(&d->cfg, m->port);
    copy_disks(r, d, m);
}

/* The backend's counters for every domain with a port: its page read once, without the
 * registry lock (about 100 KiB; once per domain, as GET /v1/domains does, would hold the
 * lock for a page per domain). A domain whose port the backend lacks has no network figures. */
static void copy_net(struct netback_sup *nb, struct metrics_snapshot *out)
{
    struct nb_stats_page *pg = malloc(sizeof(*pg));
    if (!pg || netback_sup_read_stats(nb, pg) < 0) {
        free(pg);
        return;
    }
    for (unsigned i = 0; i < out->host.domains; i++) {
        struct metrics_domain *m = &out->domains[i];
        for (uint32_t p = 0; m->port[0] && p < pg->nports; p++) {
            const struct nb_stats_port *np = &pg->ports[p];
            if (strncmp(np->name, m->port, sizeof(np->name)) != 0)
                continue;
            m->have_net = 1;
            m->tx_bytes = np->bytes[NET_DIR_FROM_PORT]; /* what the domain sent */
            m->tx_packets = np->packets[NET_DIR_FROM_PORT];
            m->rx_bytes = np->bytes[NET_DIR_TO_PORT];
            m->rx_packets = np->packets[NET_DIR_TO_PORT];
            break;
        }
    }
    free(pg);
}

/* billing_sponsor_charges' callback: one sponsor into the snapshot (under the billing lock;
 * an allocation failure drops the family rather than show a partial one). */
static void copy_charge(void *ctx, const char *sponsor, int64_t micros)
{
    struct metrics_snapshot *s = ctx;
    if (!s->have_charges)
        return;
    struct metrics_sponsor *n = realloc(s->sponsors, (s->nsponsors + 1) * sizeof(*n));
    if (!n) {
        s->have_charges = 0;
        return;
    }
    s->sponsors = n;
    snprintf(n[s->nsponsors].sponsor, sizeof(n[s->nsponsors].sponsor), "%s", sponsor);
    n[s->nsponsors++].micros = micros;
}

static void copy_charges(struct billing *b, struct metrics_snapshot *out)
{
    if (!b)
        return;
    out->have_charges = 1;
    if (billing_sponsor_charges(b, copy_charge, out) < 0)
        out->have_charges = 0;
    if (!out->have_charges) {
        free(out->sponsors);
        out->sponsors = NULL;
        out->nsponsors = 0;
    }
}

int reg_metrics_snapshot(struct registry *r, struct metrics_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    reg_ask_stats_locked(r);
    unsigned n = 0;
    for (struct reg_domain *d = r->domains; d; d = d->next)
        n++;
    /* One allocation for all: calloc under the lock is cheaper than a second walk. */
    out->domains = n ? calloc(n, sizeof(*out->domains)) : NULL;
    if (n && !out->domains) {
        pthread_mutex_unlock(&r->lock);
        return err_set(ENOMEM, "metrics: out of memory for %u domains", n);
    }
    unsigned i = 0;
    for (struct reg_domain *d = r->domains; d; d = d->next, i++) {
        copy_domain(r, d, &out->domains[i]);
        out->host.running += d->mon != NULL;
    }
    char holders[16];
    out->host.domains = n;
    out->host.cpus = r->cpu.cpus;
    out->host.reserved_ppm = adm_reservations_held(r, NULL, holders, sizeof(holders));
    /* Set once the first domain with an interface starts, freed only by reg_close (after the
     * API has stopped): safe to use after the lock. */
    struct netback_sup *nb = r->netback;
    struct billing *b = r->billing; /* set once by main(), before the API serves */
    pthread_mutex_unlock(&r->lock);
    if (nb) {
        int pid;
        netback_sup_status(nb, &pid, &out->host.netback_restarts);
        copy_net(nb, out);
    }
    copy_charges(b, out);
    return 0;
}

void metrics_snapshot_free(struct metrics_snapshot *s)
{
    free(s->domains);
    free(s->sponsors);
    memset(s, 0, sizeof(*s));
}
