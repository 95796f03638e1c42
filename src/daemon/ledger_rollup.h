/* Hourly roll-ups of the ledger (docs/billing.md, "Roll-ups"): for each sponsor, domain (UUID
 * and the name it was posted under) and hour UTC, the sums an invoice would make of the
 * pieces of the transactions in that hour. They make a month's bill read one row per domain
 * and hour instead of sixty transactions.
 *
 * Exactness: an invoice cuts every transaction at every hour boundary (invoice.h), so the
 * pieces of a transaction inside one hour are the same whatever the invoice's period, day
 * grouping or prices, as long as no price change falls strictly inside that hour (the
 * invoice reads such an hour from the raw postings). A bucket keeps, per meter, the sum of
 * the pieces' shares (ledger_piece_shares: the very arithmetic the invoice uses), and for CPU
 * and memory also the sum of max(used, reserved) per piece: every rule (used, reserved, max)
 * is then a sum the bucket holds.
 *
 * Buckets are added to in the same SQL transaction as the posting (ledger.c's post_one),
 * reversals included (negative), so they are never behind the raw postings and a posting
 * that arrives late (the backlog, a restarted xenod) lands in its hour's bucket like any
 * other. A ledger made before roll-ups is rolled up once when it is opened (ledger_schema.c). */
#ifndef XENO_DAEMON_LEDGER_ROLLUP_H
#define XENO_DAEMON_LEDGER_ROLLUP_H

#include <sqlite3.h>
#include <stdint.h>

#include "daemon/ledger.h"

#define LEDGER_HOUR_US (3600LL * 1000000)
/* The sponsors' meters, the roll-up's columns: METER_VCPU_USED .. METER_NET_RX_PACKETS and
 * METER_DISK_OPS .. METER_DISK_RESERVED (schema 4 added the disk columns). The host's own
 * transactions (sponsor "": overhead and idle, meter.h) have no buckets: the host bill
 * (host_bill.c) reads them raw, which is O(transactions of the period). */
#define LEDGER_ROLLUP_METERS 12
extern const int ledger_rollup_meter[LEDGER_ROLLUP_METERS];
/* Whether meter m is one of a sponsor's (has a roll-up column). */
int ledger_meter_is_sponsors(int m);

/* The hour that holds t: t rounded down to a multiple of LEDGER_HOUR_US (negative too). */
static inline int64_t ledger_hour_of(int64_t t_us)
{
    int64_t r = t_us % LEDGER_HOUR_US;
    return t_us - (r < 0 ? r + LEDGER_HOUR_US : r);
}

/* The share of each of q[] (a transaction over [start, end)) that falls in [a, b): truncated
 * proportions whose pieces add up to exactly q. A transaction of no length (start == end)
 * gives all of q. */
void ledger_piece_shares(const int64_t q[METER__COUNT], int64_t start, int64_t end, int64_t a, int64_t b,
                         int64_t out[METER__COUNT]);

struct ledger_bucket {
    const char *sponsor, *domain, *name;
    int64_t hour_us;
    int64_t q[METER__COUNT];            /* the sum of the pieces' shares (0 for the host's meters) */
    int64_t cpu_max, mem_max;           /* the sum of max(used, reserved), max(resident, allocated) */
    int64_t pieces;                     /* how many pieces */
    int64_t meter_pieces[METER__COUNT]; /* how many of them have that meter non-zero (the
                                         * one-meter resources: network, disk) */
    int64_t first_tx, last_tx;          /* the lowest and highest transaction id of its pieces */
    int64_t from_us, to_us;             /* the earliest piece start, the latest piece end */
};

/* The table, created if missing (in ledger.c's schema step). SQLITE_OK or the error. */
int ledger_rollup_schema(sqlite3 *db);
/* Adds transaction `id` (tx) to the buckets of its hours. Inside the caller's SQL
 * transaction. *upsert: the statement, prepared on first use and kept (the caller finalizes
 * it). SQLITE_DONE or the error. */
int ledger_rollup_add(sqlite3 *db, sqlite3_stmt **upsert, int64_t id, const struct ledger_tx *tx);
/* Rebuilds every bucket from the raw postings, in one SQL transaction (the migration of a
 * ledger made before roll-ups, and the unit test's check). 0 or -EIO. */
int ledger_rollup_rebuild(struct ledger *l);
/* The same inside the caller's SQL transaction (the migration). */
int ledger_rollup_rebuild_locked(struct ledger *l);
/* One call per bucket of `sponsor` with from_hour <= hour < to_hour (both multiples of an
 * hour), in hour order. 0 or -EIO. */
int ledger_for_each_bucket(struct ledger *l, const char *sponsor, int64_t from_hour, int64_t to_hour,
                           void (*fn)(void *ctx, const struct ledger_bucket *b), void *ctx);

#endif
