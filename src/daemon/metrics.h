/* GET /metrics (docs/metrics.md): the host's and every domain's figures in the Prometheus
 * text format. In two steps so the registry lock is held only to copy numbers:
 * reg_metrics_snapshot() copies them out under r->lock (one pread of each running monitor's
 * stats page, no formatting, no allocation per domain), then reads the network backend's
 * counters page once, after the lock, for every port,
 * metrics_format() writes the text afterwards with no lock (pure: unit-tested).
 *
 * Label cardinality is bounded by the number of domains: the only labels are a domain's
 * name, UUID and sponsor (and `state`, one of five words); the sponsor charges by the
 * sponsors with usage in the ledger. */
#ifndef XENO_DAEMON_METRICS_H
#define XENO_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/net_port.h"
#include "lib/domain_config.h"
#include "lib/prom_text.h"

/* One domain's figures at the time of the snapshot. */
struct metrics_domain {
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_LEN + 1];
    char sponsor[DOMAIN_SPONSOR_MAX + 1];
    char state[16];                /* running, blocked, paused, shutdown, crashed */
    uint64_t vcpus;                /* configured */
    uint64_t memory_max_bytes;     /* <memory>: the most it may have */
    uint64_t memory_target_bytes;  /* the live target (mem-set) if one was set, else <currentMemory> */
    uint32_t cpu_reservation_ppm;  /* in force; 0: none */
    int have_stats;                /* a monitor runs and its stats page was read: the figures below */
    uint64_t cpu_ns;               /* all vCPU threads' CPU time, this monitor (thread CPU clocks) */
    uint64_t resident_bytes;       /* guest RAM allocated on the host */
    char port[NET_PORT_NAME_SIZE]; /* its port on the network backend while it runs, else "" */
    int have_net;                  /* the backend has its port: the four below */
    uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets; /* received/sent by the domain */
    int have_disk; /* xeno-blkback serves at least one of its disks: the figures below, summed */
    uint64_t disk_read_ops, disk_write_ops, disk_read_bytes, disk_write_bytes, disk_throttled_ns, disk_size_bytes;
};

struct metrics_host {
    unsigned cpus;         /* the CPUs xenod schedules domains on */
    uint64_t reserved_ppm; /* CPU reservations held by running domains, ppm of one CPU */
    unsigned domains;      /* defined */
    unsigned running;      /* with a monitor */
    uint64_t netback_restarts;
};

/* A sponsor's charges since the ledger began (billing_sponsor_charges), money micro-units. */
struct metrics_sponsor {
    char sponsor[DOMAIN_SPONSOR_MAX + 1];
    int64_t micros;
};

struct metrics_snapshot {
    struct metrics_host host;
    struct metrics_domain *domains;   /* host.domains entries, definition order */
    struct metrics_sponsor *sponsors; /* nsponsors entries: those with usage in the ledger */
    unsigned nsponsors;
    int have_charges; /* billing runs and the ledger was read: the family has samples */
};

struct registry;

#define XENOD_VERSION "0.1" /* as GET /v1/host says */

/* Copies the figures out of the registry (takes r->lock). Free with metrics_snapshot_free. */
int reg_metrics_snapshot(struct registry *r, struct metrics_snapshot *out);
void metrics_snapshot_free(struct metrics_snapshot *s);

/* Writes the exposition text of `s` into w: every family with HELP and TYPE, even when it
 * has no samples. version: xenod's, for xeno_build_info. 0 or the writer's error. */
int metrics_format(const struct metrics_snapshot *s, const char *version, struct prom_text *w);

#endif
