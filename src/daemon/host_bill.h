/* The operator's host bill (docs/billing.md, "The host's bill"): over a period, each sponsor's
 * charges, the host's overhead (XenoServer's own processes), its idle capacity and what is
 * left ("other": host processes that are not XenoServer's), against the host's capacity, in
 * CPU-seconds and memory GiB-seconds, so that
 *     sponsors + idle + overhead + other = capacity.
 * Idle is measured (the host meter: /proc/stat idle time, MemAvailable) less what sponsors
 * are charged without using it (reserved or allocated but unused), so the identity is a
 * check: "other" is what is left, and a negative or large one says a meter is wrong.
 *
 * Threads: host_bill_make takes the billing lock (billing_with_ledger); the result is the
 * caller's. */
#ifndef XENO_DAEMON_HOST_BILL_H
#define XENO_DAEMON_HOST_BILL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/billing.h"

/* CPU in micro cpu-seconds, memory in micro GiB-seconds, money in micro-units. */
struct host_bill_line {
    char name[LEDGER_SPONSOR_MAX];     /* the sponsor, or the process ("xenod", "xeno-netback", "xeno-vmm") */
    int64_t cpu, memory;               /* charged (sponsors) or consumed (overhead) */
    int64_t cpu_used, memory_resident; /* sponsors: what their domains used of it */
    int64_t amount;                    /* sponsors: their bill's total over the period */
};

struct host_bill {
    int64_t from_us, to_us;
    int cpus;
    uint64_t memory_bytes;
    struct host_bill_line *sponsors, *overhead;
    size_t nsponsors, noverhead;
    int64_t idle_measured_cpu, idle_measured_memory; /* the host meter over the period */
    int64_t idle_cpu, idle_memory;                   /* less the sponsors' charged-but-unused */
    int64_t other_cpu, other_memory;                 /* what is left: capacity - the rest */
    int64_t capacity_cpu, capacity_memory;           /* CPUs x seconds, MemTotal x seconds */
    int64_t covered_us;                              /* how much of the period the host meter saw */
    int64_t total;                                   /* the sponsors' amounts */
    int64_t transactions;
};

/* The host bill of [from_us, to_us): -EINVAL (message) for a bad period, -EIO. */
int host_bill_make(struct billing *b, int64_t from_us, int64_t to_us, struct host_bill *out);
void host_bill_free(struct host_bill *hb);
/* As JSON (GET /v1/host/bill; docs/api.md): integers of micro-units, as bills are. */
json_t *host_bill_json(const struct host_bill *hb, const char *price_version);

#endif
