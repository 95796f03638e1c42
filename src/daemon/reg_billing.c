/* The registry's side of metering: readings of the running domains' counters (monitor stats
 * pages, the backend's port counters) handed to billing.c, which posts them to the ledger.
 * Readings are taken under the registry lock; the ledger is written without it, so API
 * requests never wait on a disk sync of the ledger. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/billing.h"
#include "daemon/host_meter.h"
#include "daemon/net_port.h"
#include "daemon/registry_priv.h"

void reg_billing_reading(struct registry *r, struct reg_domain *d, const struct stats_page *st,
                         struct billing_reading *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->uuid, sizeof(out->uuid), "%s", d->cfg.uuid);
    snprintf(out->name, sizeof(out->name), "%s", d->cfg.name);
    snprintf(out->sponsor, sizeof(out->sponsor), "%s", d->cfg.sponsor);
    /* The monitor bills while it holds the domain (docs/metering.md, "Migration: the
     * hand-over instant"): not before an incoming migration's GO, not after an outgoing
     * one's. */
    if (st && st->started_ns && st->updated_ns >= st->started_ns && !st->migrate_incoming_pending) {
        struct meter_reading *m = &out->monitor;
        out->has_monitor = 1;
        m->instance = st->started_ns;
        m->start_ns = st->held_from_ns > st->started_ns ? st->held_from_ns : st->started_ns;
        m->time_ns = st->held_until_ns && st->held_until_ns < st->updated_ns ? st->held_until_ns : st->updated_ns;
        m->counter[0] = st->cpu_ns;
        m->gauge[0] = st->sched_reservation_ppm;
        m->gauge[1] = st->guest_resident_bytes;
        m->gauge[2] = st->memory_target_bytes ? st->memory_target_bytes : st->memory_bytes;
    }
    /* The monitor process's own cost beyond its guest (docs/billing.md, "The host's bill"):
     * its CPU clock less the vCPUs', its resident set less guest RAM; one instance per
     * monitor process, whether or not it holds the domain. */
    struct proc_usage pu;
    if (st && st->started_ns && d->mon && host_proc_usage(d->mon->pid, &pu) == 0) {
        out->has_overhead = 1;
        pu.start_ns = st->started_ns;
        pu.rss_bytes = st->monitor_rss_bytes ? st->monitor_rss_bytes : pu.rss_bytes;
        /* Never ahead of the truth: a mark too high would hold back the next postings (time
         * counted in the wrong interval). A running monitor's page pairs its process CPU
         * time with its vCPUs' (exact as of the page). A monitor older than that pairing:
         * the page's vCPU time is as of updated_ns, the process's clock as of now, so the
         * vCPUs are allowed nvcpus x the gap since (which under-counts the overhead of
         * vCPUs that did not run all of it). An exited monitor's (a zombie's) figures are
         * final: its whole CPU time less its vCPUs'. The page is the monitor's word: what it
         * says of its process is bounded by the kernel's clock, and over its life the
         * overhead is the kernel's figure (the zombie's) whatever it said. */
        uint64_t guest_ns = st->cpu_ns;
        if (pu.state != 'Z' && st->process_cpu_ns) {
            /* The page's own pair (stats_page.h): the process's CPU time and its vCPUs',
             * read together by the monitor, as of the page. */
            pu.cpu_ns = st->process_cpu_ns < pu.cpu_ns ? st->process_cpu_ns : pu.cpu_ns; /* the kernel's bound */
            pu.read_ns = st->updated_ns < pu.read_ns ? st->updated_ns : pu.read_ns;
        } else if (pu.state != 'Z' && pu.read_ns > st->updated_ns) {
            guest_ns += (pu.read_ns - st->updated_ns) * (st->nvcpus ? st->nvcpus : 1);
        }
        host_overhead_reading(&pu, guest_ns, st->guest_resident_bytes, &out->overhead);
    }
    char port[NET_PORT_NAME_SIZE];
    struct nb_stats_port np;
    if (d->cfg.net.present && r->netback) {
        net_port_name(&d->cfg, port);
        if (netback_sup_port_stats(r->netback, port, &np) == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            out->has_net = 1;
            out->net.instance = np.id;
            out->net.time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            out->net.counter[0] = np.bytes[NET_DIR_FROM_PORT];
            out->net.counter[1] = np.bytes[NET_DIR_TO_PORT];
            out->net.counter[2] = np.packets[NET_DIR_FROM_PORT];
            out->net.counter[3] = np.packets[NET_DIR_TO_PORT];
        }
    }
    reg_disk_readings_locked(r, d, out);
}

/* The host's own sources: xenod, the network backend, and the host's idle CPU and memory
 * (billing_observe_host posts each once a posting interval). */
static void observe_host(struct billing *b, struct netback_sup *nb)
{
    struct proc_usage pu;
    struct meter_reading m;
    if (host_proc_usage(getpid(), &pu) == 0) {
        host_overhead_reading(&pu, 0, 0, &m);
        billing_observe_host(b, "xenod", METER_SOURCE_OVERHEAD, &m, 0);
    }
    int pid = 0;
    uint64_t restarts;
    if (nb)
        netback_sup_status(nb, &pid, &restarts);
    if (pid > 0 && host_proc_usage(pid, &pu) == 0) {
        host_overhead_reading(&pu, 0, 0, &m);
        billing_observe_host(b, "xeno-netback", METER_SOURCE_OVERHEAD, &m, 0);
    }
    if (host_idle_reading(&m) == 0)
        billing_observe_host(b, "host", METER_SOURCE_HOST, &m, 0);
}

void reg_billing_stop(struct billing *b)
{
    struct proc_usage pu;
    struct meter_reading m;
    if (!b)
        return;
    if (host_proc_usage(getpid(), &pu) == 0) {
        host_overhead_reading(&pu, 0, 0, &m);
        billing_observe_host(b, "xenod", METER_SOURCE_OVERHEAD, &m, 1);
    }
    billing_flush(b);
}

void reg_billing_tick(struct registry *r)
{
    /* The supervisor loops on every monitor event: reading every page each time would be
     * waste when postings fall due per minute. Supervisor thread only: the static is its. */
    static double last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    if (t - last < 1.0)
        return;
    last = t;
    pthread_mutex_lock(&r->lock);
    struct billing *b = r->billing;
    size_t n = 0, cap = 0;
    for (struct reg_domain *d = r->domains; d; d = d->next)
        cap += d->mon ? 1 : 0;
    struct billing_reading *rd = b && cap ? calloc(cap, sizeof(*rd)) : NULL;
    struct reg_domain **due = rd ? calloc(cap, sizeof(*due)) : NULL;
    size_t ndue = 0;
    /* Only the domains whose posting is due: each read wakes a sleeping monitor. All are
     * asked first, then read (one wake-up's wait in all). */
    for (struct reg_domain *d = r->domains; d && due; d = d->next)
        if (d->mon && billing_due(b, d->cfg.uuid, &d->bill_hint)) {
            monitor_ask_stats(d->mon);
            due[ndue++] = d;
        }
    for (size_t i = 0; i < ndue; i++) {
        struct stats_page st;
        if (monitor_read_stats(due[i]->mon, &st) == 0)
            reg_billing_reading(r, due[i], &st, &rd[n++]);
    }
    free(due);
    struct netback_sup *nb = r->netback;
    pthread_mutex_unlock(&r->lock);
    if (!b)
        return;
    for (size_t i = 0; i < n; i++)
        billing_observe(b, &rd[i], 0);
    free(rd);
    observe_host(b, nb);
    billing_flush(b);
}
