/* Billing in xenod (docs/billing.md): meters each running domain, posts its usage to the
 * ledger at least every minute and when its monitor ends, holds the price list and makes
 * bills. Ties meter.h, ledger.h, prices.h and invoice.h together.
 *
 * Threads: every function takes the billing lock itself; callers may hold the registry lock
 * (the order is registry lock, then billing lock; billing never calls the registry). SQLite
 * writes happen under the billing lock only. */
#ifndef XENO_DAEMON_BILLING_H
#define XENO_DAEMON_BILLING_H

#include <stdint.h>

#include "daemon/invoice.h"
#include "daemon/meter.h"

/* How often a running domain's usage is posted: at most a minute (--ledger-interval). */
#define BILLING_POST_INTERVAL_S 60

struct billing;

/* Opens STATE_DIR/ledger.db and, when prices_path is not NULL, the price list (an error in
 * it fails the start: -EINVAL with file:line). */
int billing_open(struct billing **out, const char *state_dir, const char *prices_path, double post_interval_s);
void billing_close(struct billing *b);

/* What xenod read of one domain: its monitor's stats page as a monitor reading, (if it has
 * a port) the network backend's counters and (per disk) the block backend's. */
struct billing_reading {
    char uuid[LEDGER_UUID_MAX], name[LEDGER_NAME_MAX], sponsor[LEDGER_SPONSOR_MAX];
    int has_monitor, has_net, has_overhead;
    /* overhead: the monitor process's CPU and memory beyond its guest's (meter.h), posted
     * to the account "overhead:xeno-vmm/domain:UUID", no sponsor's. */
    struct meter_reading monitor, net, overhead;
    /* disk[i]: the domain's i-th <disk> on xeno-blkback (source METER_SOURCE_DISK + i), when
     * has_disk[i] (the backend serves it and its page was read). */
    int has_disk[METER_DISKS_MAX];
    struct meter_reading disk[METER_DISKS_MAX];
};
/* Posts the usage since the domain's last posting when the posting interval has passed
 * since it (or always, when final: the monitor ended). Errors are logged, never returned:
 * domains run on whatever the ledger does. */
void billing_observe(struct billing *b, const struct billing_reading *r, int final);
/* Whether billing_observe() of this domain would post now (or first take note of it): the
 * ledger's pass reads only those pages, so an idle monitor is woken once a posting
 * interval, not at every pass. */
/* *hint: the caller's memo of where the domain is (0 at first): kept per domain, it makes
 * the check O(1). */
int billing_due(struct billing *b, const char *uuid, size_t *hint);
/* The host's own sources (docs/billing.md, "The host's bill"): source METER_SOURCE_OVERHEAD
 * for one of XenoServer's processes that is no monitor (id "xenod", "xeno-netback": the
 * account "overhead:ID"), METER_SOURCE_HOST for the host's idle CPU and available memory (id
 * "host", the account "host:idle"). Posted as billing_observe posts a domain: at most once a
 * posting interval unless final. */
void billing_observe_host(struct billing *b, const char *id, int source, const struct meter_reading *m, int final);
/* Tries to post what waits in the backlog (the supervisor's tick). */
void billing_flush(struct billing *b);

/* Reads the price list again (SIGHUP, POST /v1/prices): 0, or the error with file:line
 * and the old list kept. -ENOENT when xenod runs without --prices. */
int billing_reload_prices(struct billing *b);
/* The version of the list in force ("" without one) into buf. */
void billing_prices_version(struct billing *b, char *buf, size_t size);

/* A sponsor's bill over [from_us, to_us): *inv filled (invoice_free after). -ENOENT when the
 * ledger has no usage of that sponsor at all, -EINVAL for a bad period. */
int billing_bill(struct billing *b, const char *sponsor, int64_t from_us, int64_t to_us, int by, struct invoice *inv);

/* Explains line `line` (1-based, in the bill's order) of the bill billing_bill makes with
 * the same arguments: *inv is that bill again with inv->pieces the ledger transactions (or
 * their parts) the line was made of, *index the line's index in inv->lines. -EINVAL for a
 * line the bill does not have; the rest as billing_bill. */
int billing_explain(struct billing *b, const char *sponsor, int64_t from_us, int64_t to_us, int by, long line,
                    struct invoice *inv, long *index);

/* Calls fn with the ledger and the price list in force (NULL: none) under the billing lock,
 * for reports that read the ledger (host_bill.c); fn calls nothing of billing. fn's result. */
struct price_list;
int billing_with_ledger(struct billing *b, int (*fn)(void *ctx, struct ledger *l, const struct price_list *p),
                        void *ctx);

/* For /metrics (xeno_sponsor_charge_micros_total): each sponsor's charges since the ledger
 * began, priced by the list in force, in money micro-units; fn is called once per sponsor
 * with usage, under the billing lock (copy what it keeps, call nothing of billing). Reads
 * the whole ledger unless nothing was posted since the last call. 0 or -EIO. */
int billing_sponsor_charges(struct billing *b, void (*fn)(void *ctx, const char *sponsor, int64_t micros), void *ctx);

#endif
