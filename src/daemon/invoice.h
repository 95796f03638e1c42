/* Invoices (docs/billing.md, "Invoices"): a sponsor's ledger transactions over a period,
 * priced by the price list, grouped into lines. Pure: the rows come from ledger_for_each;
 * unit-tested in tests/unit/test_daemon_invoice.c.
 *
 * A transaction that straddles the period's ends, a price change or an hour boundary UTC
 * (so also midnight) is split there in proportion to time, with integer arithmetic that
 * telescopes: the pieces of a transaction always add up to exactly its quantity. The cut at
 * every hour is what lets a bill read the ledger's hourly roll-ups (ledger_rollup.h) for
 * whole hours and get exactly what the raw postings give (invoice_build). CPU and memory quantities follow the
 * price period's rules (max(used, reserved) per transaction unless a `rule` says otherwise).
 * Amounts are per line: quantity x unit price / per, rounded down to a micro-unit. */
#ifndef XENO_DAEMON_INVOICE_H
#define XENO_DAEMON_INVOICE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/ledger.h"
#include "daemon/ledger_rollup.h"
#include "daemon/prices.h"

enum invoice_by { INVOICE_BY_RESOURCE = 0, INVOICE_BY_DOMAIN, INVOICE_BY_DAY };
/* "resource", "domain", "day" -> the enum; -EINVAL with a message otherwise. */
int invoice_by_parse(const char *text, int *out);

struct invoice_line {
    char group[LEDGER_NAME_MAX];    /* by domain: its name; by day: YYYY-MM-DD; by resource: "" */
    char group_id[LEDGER_UUID_MAX]; /* by domain: its UUID */
    int resource;                   /* enum bill_resource */
    int period;                     /* index of the price period (-1: before the first: free) */
    int64_t from_us, to_us;         /* the part of the invoice period it covers */
    int64_t quantity;               /* micro-units of bill_resource_unit[resource] */
    int64_t unit_price, per;        /* money micro-units per `per` units (0, 1: no price) */
    int64_t amount;                 /* money micro-units */
    int64_t first_tx, last_tx, txs; /* the lowest and highest id of the ledger transactions it
                                     * was made of, and its pieces (a roll-up bucket's pieces:
                                     * all of them, for a network line too) */
};

/* One piece of a ledger transaction that went into a line (--explain): the transaction's
 * whole quantities of the line's meters (invoice_line_meters), their share over the piece's
 * [from_us, to_us), and what the rule made of the shares. */
struct invoice_piece {
    int64_t tx_id;
    char key[LEDGER_KEY_MAX];
    char domain[LEDGER_UUID_MAX];
    int64_t tx_start_us, tx_end_us; /* the transaction's interval */
    int64_t from_us, to_us;         /* the piece of it in this line */
    int64_t raw[2], part[2];        /* per meter of the line (the second 0 for one-meter lines) */
    int rule;                       /* enum bill_rule for cpu and memory, -1 for one meter */
    int64_t billable;               /* the rule applied to part[]: what the line adds up */
};

struct invoice {
    char sponsor[LEDGER_SPONSOR_MAX];
    int64_t from_us, to_us;
    int by;
    const struct price_list *prices; /* borrowed while it is built */
    int64_t win_from_us, win_to_us;  /* invoice_add_row takes the pieces in here (invoice_build) */
    size_t n, cap;
    struct invoice_line *lines;
    uint32_t *slots; /* lines by (group, group_id, resource, period): index + 1, 0 empty */
    size_t nslots;   /* a power of two, at least twice n */
    uint8_t hash_key[16];
    int64_t total;
    int64_t txs;     /* raw transactions read */
    int64_t buckets; /* roll-up buckets read */
    /* Explaining: the pieces of the line with want's (group, group_id, resource, period). */
    int explaining;
    struct invoice_line want;
    struct invoice_piece *pieces;
    size_t npieces, cappieces;
};

/* Starts an empty invoice. -EINVAL (message) for an inverted or empty period, or one longer
 * than INVOICE_MAX_DAYS. */
#define INVOICE_MAX_DAYS 3700
int invoice_init(struct invoice *inv, const char *sponsor, int64_t from_us, int64_t to_us, int by,
                 const struct price_list *prices);
/* Adds the pieces of one ledger transaction in [win_from_us, win_to_us) (ledger_for_each's
 * callback; ctx: the invoice). */
void invoice_add_row(void *ctx, const struct ledger_row *row);
/* Adds one hourly roll-up bucket (ledger_for_each_bucket's callback; ctx: the invoice): the
 * same as adding the pieces it sums, when its hour is in the period and no price change falls
 * inside it (invoice_build sees to both). */
void invoice_add_bucket(void *ctx, const struct ledger_bucket *b);
/* Reads the sponsor's ledger into inv (after invoice_init, before invoice_finish): with
 * `rollups`, whole hours of the period with no price change inside from the roll-ups and the
 * rest from the raw postings; without (explaining), all of it from the raw postings. The
 * lines are the same either way. 0 or -EIO. */
int invoice_build(struct invoice *inv, struct ledger *l, int rollups);
/* Prices the lines, sorts them (group, resource, time) and sums the total. -ENOMEM if a line
 * could not be added earlier. */
int invoice_finish(struct invoice *inv);
void invoice_free(struct invoice *inv);

/* The meters a resource's lines are made of, into m[] (cpu: used, reserved; memory:
 * resident, allocated; a network resource: its one meter). Returns how many (1 or 2). */
int invoice_line_meters(int resource, int m[2]);
/* Makes inv explain lines like `line` on its next build (after invoice_init): every piece that
 * adds to such a line is kept in inv->pieces, so the sum of their billable is its quantity. */
void invoice_explain(struct invoice *inv, const struct invoice_line *line);
/* The index of the line inv->want names after invoice_finish, or -1. */
long invoice_find_wanted(const struct invoice *inv);

#endif
