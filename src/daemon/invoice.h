/* Invoices (docs/billing.md, "Invoices"): a sponsor's ledger transactions over a period,
 * priced by the price list, grouped into lines. Pure: the rows come from ledger_for_each;
 * unit-tested in tests/unit/test_daemon_invoice.c.
 *
 * A transaction that straddles the period's ends, a price change or (by day) midnight UTC is
 * split there in proportion to time, with integer arithmetic that telescopes: the pieces of
 * a transaction always add up to exactly its quantity. CPU and memory quantities follow the
 * price period's rules (max(used, reserved) per transaction unless a `rule` says otherwise).
 * Amounts are per line: quantity x unit price / per, rounded down to a micro-unit. */
#ifndef XENO_DAEMON_INVOICE_H
#define XENO_DAEMON_INVOICE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/ledger.h"
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
    int64_t first_tx, last_tx, txs; /* the ledger transactions it was made of */
};

struct invoice {
    char sponsor[LEDGER_SPONSOR_MAX];
    int64_t from_us, to_us;
    int by;
    const struct price_list *prices; /* borrowed while it is built */
    size_t n, cap;
    struct invoice_line *lines;
    int64_t total;
    int64_t txs; /* transactions read */
};

/* Starts an empty invoice. -EINVAL (message) for an inverted or empty period, or one longer
 * than INVOICE_MAX_DAYS. */
#define INVOICE_MAX_DAYS 3700
int invoice_init(struct invoice *inv, const char *sponsor, int64_t from_us, int64_t to_us, int by,
                 const struct price_list *prices);
/* Adds one ledger transaction (ledger_for_each's callback; ctx: the invoice). */
void invoice_add_row(void *ctx, const struct ledger_row *row);
/* Prices the lines, sorts them (group, resource, time) and sums the total. -ENOMEM if a line
 * could not be added earlier. */
int invoice_finish(struct invoice *inv);
void invoice_free(struct invoice *inv);

#endif
