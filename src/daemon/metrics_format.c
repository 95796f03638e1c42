/* The exposition text of a metrics snapshot (metrics.h, docs/metrics.md). Pure. */
#include "daemon/metrics.h"

#include <stddef.h>
#include <string.h>

/* Which domains have a figure: every one, those whose monitor's stats page was read, those
 * whose port the network backend has, those with a disk the block backend serves. */
enum needs { ALWAYS, STATS, NET, DISK };
enum value_kind { U64, NS_AS_S };

/* The per-domain families that are one uint64_t field of struct metrics_domain each. */
static const struct {
    const char *name;
    enum prom_type type;
    enum needs needs;
    enum value_kind kind;
    size_t off;
    const char *help;
} domain_families[] = {
    {"xeno_domain_vcpus", PROM_GAUGE, ALWAYS, U64, offsetof(struct metrics_domain, vcpus),
     "Virtual CPUs the domain is configured with."},
    {"xeno_domain_memory_max_bytes", PROM_GAUGE, ALWAYS, U64, offsetof(struct metrics_domain, memory_max_bytes),
     "Memory the domain may have at most (<memory>)."},
    {"xeno_domain_memory_target_bytes", PROM_GAUGE, ALWAYS, U64, offsetof(struct metrics_domain, memory_target_bytes),
     "Memory the domain is asked to hold: the live target (mem-set) if set, else <currentMemory>."},
    {"xeno_domain_cpu_seconds_total", PROM_COUNTER, STATS, NS_AS_S, offsetof(struct metrics_domain, cpu_ns),
     "CPU time used by all the domain's vCPU threads (thread CPU clocks of its monitor); "
     "starts again at 0 when a new monitor starts."},
    {"xeno_domain_memory_resident_bytes", PROM_GAUGE, STATS, U64, offsetof(struct metrics_domain, resident_bytes),
     "Guest RAM allocated on the host (the monitor's memory blocks), measured by the host."},
    {"xeno_domain_network_receive_bytes_total", PROM_COUNTER, NET, U64, offsetof(struct metrics_domain, rx_bytes),
     "Bytes the network backend delivered to the domain."},
    {"xeno_domain_network_receive_packets_total", PROM_COUNTER, NET, U64, offsetof(struct metrics_domain, rx_packets),
     "Frames the network backend delivered to the domain."},
    {"xeno_domain_network_transmit_bytes_total", PROM_COUNTER, NET, U64, offsetof(struct metrics_domain, tx_bytes),
     "Bytes the domain sent that the network backend received."},
    {"xeno_domain_network_transmit_packets_total", PROM_COUNTER, NET, U64, offsetof(struct metrics_domain, tx_packets),
     "Frames the domain sent that the network backend received."},
    {"xeno_domain_disk_read_ops_total", PROM_COUNTER, DISK, U64, offsetof(struct metrics_domain, disk_read_ops),
     "Read requests xeno-blkback took from the domain's disks (all its disks; a disk added again starts at 0)."},
    {"xeno_domain_disk_write_ops_total", PROM_COUNTER, DISK, U64, offsetof(struct metrics_domain, disk_write_ops),
     "Write requests xeno-blkback took from the domain's disks."},
    {"xeno_domain_disk_read_bytes_total", PROM_COUNTER, DISK, U64, offsetof(struct metrics_domain, disk_read_bytes),
     "Bytes the domain read from its disks."},
    {"xeno_domain_disk_write_bytes_total", PROM_COUNTER, DISK, U64, offsetof(struct metrics_domain, disk_write_bytes),
     "Bytes the domain wrote to its disks."},
    {"xeno_domain_disk_throttled_seconds_total", PROM_COUNTER, DISK, NS_AS_S,
     offsetof(struct metrics_domain, disk_throttled_ns),
     "Time the domain's disk requests waited over a limit in xeno-blkback's scheduler."},
    {"xeno_domain_disk_provisioned_bytes", PROM_GAUGE, DISK, U64, offsetof(struct metrics_domain, disk_size_bytes),
     "The size of the domain's disks the block backend serves, summed."},
};

/* The values xeno_domain_state's `state` label takes: dom_state_name()'s words, as in
 * `xenctl list`. */
static const char *const states[] = {"running", "blocked", "paused", "shutdown", "crashed"};

static void domain_labels(const struct metrics_domain *d, struct prom_label l[3])
{
    l[0] = (struct prom_label){"domain", d->name};
    l[1] = (struct prom_label){"uuid", d->uuid};
    l[2] = (struct prom_label){"sponsor", d->sponsor};
}

static int has(const struct metrics_domain *d, enum needs n)
{
    return n == ALWAYS || (n == STATS && d->have_stats) || (n == NET && d->have_net) || (n == DISK && d->have_disk);
}

static void format_host(const struct metrics_snapshot *s, const char *version, struct prom_text *w)
{
    const struct metrics_host *h = &s->host;
    struct prom_label v = {"version", version};
    prom_text_family(w, "xeno_build_info", PROM_GAUGE, "Always 1; the version of xenod as a label.");
    prom_text_sample_u64(w, "xeno_build_info", &v, 1, 1);
    prom_text_family(w, "xeno_host_cpus", PROM_GAUGE, "CPUs xenod runs domains on.");
    prom_text_sample_u64(w, "xeno_host_cpus", NULL, 0, h->cpus);
    prom_text_family(w, "xeno_host_cpu_reserved_ratio", PROM_GAUGE,
                     "CPU reserved by running domains, as a fraction of the host's CPUs (xeno_host_cpus).");
    prom_text_sample_double(w, "xeno_host_cpu_reserved_ratio", NULL, 0,
                            h->cpus ? (double)h->reserved_ppm / (1e6 * (double)h->cpus) : 0.0);
    prom_text_family(w, "xeno_host_domains", PROM_GAUGE, "Domains defined on this host, running or not.");
    prom_text_sample_u64(w, "xeno_host_domains", NULL, 0, h->domains);
    prom_text_family(w, "xeno_host_domains_running", PROM_GAUGE, "Domains with a monitor (running, paused, ...).");
    prom_text_sample_u64(w, "xeno_host_domains_running", NULL, 0, h->running);
    prom_text_family(w, "xeno_netback_restarts_total", PROM_COUNTER,
                     "Times xenod restarted the network backend (crash or hang) since xenod started.");
    prom_text_sample_u64(w, "xeno_netback_restarts_total", NULL, 0, h->netback_restarts);
}

static void format_state(const struct metrics_snapshot *s, struct prom_text *w)
{
    prom_text_family(w, "xeno_domain_state", PROM_GAUGE,
                     "1 for the state the domain is in, 0 for the others (running, blocked, paused, shutdown, "
                     "crashed).");
    for (unsigned i = 0; i < s->host.domains; i++) {
        const struct metrics_domain *d = &s->domains[i];
        struct prom_label l[4];
        domain_labels(d, l);
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            l[3] = (struct prom_label){"state", states[k]};
            prom_text_sample_u64(w, "xeno_domain_state", l, 4, strcmp(d->state, states[k]) == 0);
        }
    }
}

/* Money as an integer counter: micro-units are exact, and a float of them would round above
 * 2^53. A price list reloaded with other past prices can make it go down: a counter reset to
 * Prometheus, as documented (docs/metrics.md). */
static void format_charges(const struct metrics_snapshot *s, struct prom_text *w)
{
    prom_text_family(w, "xeno_sponsor_charge_micros_total", PROM_COUNTER,
                     "A sponsor's charges since the ledger began, priced as its bills are, in micro-units of money.");
    for (unsigned i = 0; s->have_charges && i < s->nsponsors; i++) {
        struct prom_label l[1] = {{"sponsor", s->sponsors[i].sponsor}};
        int64_t v = s->sponsors[i].micros;
        prom_text_sample_u64(w, "xeno_sponsor_charge_micros_total", l, 1, v < 0 ? 0 : (uint64_t)v);
    }
}

int metrics_format(const struct metrics_snapshot *s, const char *version, struct prom_text *w)
{
    format_host(s, version, w);
    for (size_t f = 0; f < sizeof(domain_families) / sizeof(domain_families[0]); f++) {
        prom_text_family(w, domain_families[f].name, domain_families[f].type, domain_families[f].help);
        for (unsigned i = 0; i < s->host.domains; i++) {
            const struct metrics_domain *d = &s->domains[i];
            if (!has(d, domain_families[f].needs))
                continue;
            struct prom_label l[3];
            domain_labels(d, l);
            uint64_t v;
            memcpy(&v, (const char *)d + domain_families[f].off, sizeof(v));
            if (domain_families[f].kind == NS_AS_S)
                prom_text_sample_ns_s(w, domain_families[f].name, l, 3, v);
            else
                prom_text_sample_u64(w, domain_families[f].name, l, 3, v);
        }
    }
    prom_text_family(w, "xeno_domain_cpu_reserved_ratio", PROM_GAUGE,
                     "CPU reservation in force, as a fraction of one CPU for all the domain's vCPUs together.");
    for (unsigned i = 0; i < s->host.domains; i++) {
        struct prom_label l[3];
        domain_labels(&s->domains[i], l);
        prom_text_sample_double(w, "xeno_domain_cpu_reserved_ratio", l, 3,
                                (double)s->domains[i].cpu_reservation_ppm / 1e6);
    }
    format_state(s, w);
    format_charges(s, w);
    return prom_text_error(w);
}
