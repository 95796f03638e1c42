/* The usage ledger (docs/billing.md, "Ledger"): append-only, double-entry, in its own SQLite
 * file (STATE_DIR/ledger.db) with portable SQL (BIGINT, VARCHAR: the schema moves to
 * PostgreSQL unchanged). A transaction is one domain's usage over one interval: for every
 * meter with a quantity, a line debiting the sponsor's domain account and a line crediting
 * the host, so the lines of a transaction sum to zero. Quantities are integer micro-units of
 * the meter's unit; money is never stored (the price list prices the ledger when a bill is
 * made). Every transaction has a UNIQUE idempotency key: a reading posted twice (a restarted
 * xenod) is refused by the database, not counted twice. Corrections are reversing
 * transactions, never edits.
 *
 * With each transaction the meter cursor of its source (meter.h) is saved in the same SQL
 * transaction, so a restarted xenod continues from exactly what was posted.
 * Its hourly roll-up buckets (ledger_rollup.h) are added to in that same SQL transaction.
 *
 * When the database cannot be written (read-only, full, locked), transactions wait in a
 * bounded backlog in memory and go in, in order, at the next ledger_submit or ledger_flush;
 * a full backlog merges a domain's new usage into its last waiting transaction (nothing is
 * lost while xenod runs). Not thread-safe: the caller serialises (billing.c's lock). */
#ifndef XENO_DAEMON_LEDGER_H
#define XENO_DAEMON_LEDGER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/meter.h"

#define LEDGER_KEY_MAX 160
#define LEDGER_UUID_MAX 40
#define LEDGER_NAME_MAX 80
#define LEDGER_SPONSOR_MAX 136 /* DOMAIN_SPONSOR_MAX + 1, rounded up */
#define LEDGER_BACKLOG_MAX 4096
#define LEDGER_ACCOUNT_MAX 200
#define LEDGER_STMTS 10
#define LEDGER_HOST_ACCOUNT 1   /* ledger_account's id of "host" */
#define LEDGER_SCHEMA_VERSION 4 /* ledger_schema.c: 1 the first, 2 roll-ups, 3 ids for names, 4 disk roll-ups */

struct ledger_tx {
    char key[LEDGER_KEY_MAX]; /* idempotency key */
    char domain[LEDGER_UUID_MAX];
    char name[LEDGER_NAME_MAX]; /* the domain's name when posted, for bills */
    char sponsor[LEDGER_SPONSOR_MAX];
    int64_t start_us, end_us;   /* the interval it covers (CLOCK_REALTIME microseconds) */
    int64_t q[METER__COUNT];    /* micro-units; negative only in a reversal */
    int64_t reverses;           /* 0, or the id of the transaction this one reverses */
    struct meter_cursor cursor; /* saved with it (source in cursor.source) */
    int has_cursor;
    /* The debited account of the host's own meters ("overhead:xenod", "host:idle"...): such
     * a transaction is of kind "host" with an empty sponsor, so no sponsor's bill reads it.
     * Empty: a domain's usage, debiting "sponsor:SPONSOR/domain:UUID". */
    char account[LEDGER_ACCOUNT_MAX];
};

struct ledger {
    sqlite3 *db;
    char path[256];
    int failing; /* the last write failed: said once in the log until one succeeds */
    size_t backlog_n, backlog_head;
    struct ledger_tx *backlog; /* ring of LEDGER_BACKLOG_MAX */
    uint64_t posted, duplicates, merged, dropped;
    sqlite3_stmt *stmt[LEDGER_STMTS]; /* a posting's statements, prepared once (ledger.c) */
    int64_t longest_us;               /* the longest transaction posted (ledger_span) */
};

/* Opens (creating) the ledger. A database that cannot be written is no error here: posts
 * wait in the backlog (ledger_submit). -EIO when it cannot even be opened or read. */
int ledger_open(struct ledger *l, const char *path);
void ledger_close(struct ledger *l);
/* Creates the tables, or brings a ledger of an older schema to this one in one SQL
 * transaction, keeping every transaction, line and cursor (ledger_schema.c). 0, -EPROTO for a
 * schema newer than this code, -EIO. */
int ledger_schema_open(struct ledger *l);

/* Posts tx (after anything waiting). 0 posted (or waiting in the backlog: *queued set),
 * 1 the key was already posted (nothing changed). The first failure of a run of them is
 * logged; err_set says why. */
int ledger_submit(struct ledger *l, const struct ledger_tx *tx, int *queued);
/* Tries to post what waits. Returns how many still wait. */
size_t ledger_flush(struct ledger *l);

/* The saved cursor of a domain's source: 0, or -ENOENT. */
int ledger_get_cursor(struct ledger *l, const char *domain, int source, struct meter_cursor *out);

/* Posts the reversal of transaction `id` (key "reversal/ID"): 0, 1 if already reversed,
 * -ENOENT if there is no such transaction. */
int ledger_reverse(struct ledger *l, int64_t id);

/* What a bill reads: one call per transaction of `sponsor` (NULL: every sponsor) that
 * overlaps [from_us, to_us) or ends at from_us (so that one of no length at from_us is
 * there), oldest first, with the quantities of its sponsor-side lines. */
struct ledger_row {
    int64_t id;
    const char *key;     /* its idempotency key */
    const char *account; /* the debited account ("sponsor:S/domain:UUID", "overhead:xenod"...) */
    const char *domain, *name, *sponsor;
    int64_t start_us, end_us;
    int64_t q[METER__COUNT];
};
int ledger_for_each(struct ledger *l, const char *sponsor, int64_t from_us, int64_t to_us,
                    void (*fn)(void *ctx, const struct ledger_row *row), void *ctx);
/* One call per sponsor the ledger has transactions of (from its domains, not its rows). */
int ledger_for_each_sponsor(struct ledger *l, void (*fn)(void *ctx, const char *sponsor), void *ctx);
/* The same for the host's own transactions (kind "host": overhead and idle) overlapping
 * [from_us, to_us); row->sponsor is "" and row->name the process ("xenod", "xeno-netback",
 * "xeno-vmm:DOMAIN") or "idle". */
int ledger_for_each_host(struct ledger *l, int64_t from_us, int64_t to_us,
                         void (*fn)(void *ctx, const struct ledger_row *row), void *ctx);
/* 1 when any transaction of `sponsor` exists, 0 when none. */
int ledger_has_sponsor(struct ledger *l, const char *sponsor);

/* Checks the double entry: every transaction's lines sum to zero per meter. Returns the
 * number of transactions that do not (0: the ledger balances), or -EIO. */
int ledger_check_balance(struct ledger *l);

#endif
