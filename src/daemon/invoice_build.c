/* Reading a sponsor's ledger into an invoice (invoice.h, invoice_build): the whole hours of
 * the period from the hourly roll-ups, the edges and any hour with a price change inside it
 * from the raw postings. Either way the pieces are the same (ledger_rollup.h), so the lines
 * are: tests/unit/test_daemon_rollup.c compares the two on random ledgers. */
#include <errno.h>
#include <stdlib.h>

#include "daemon/invoice.h"
#include "daemon/ledger_rollup.h"
#include "lib/err.h"

/* Raw postings over [a, b) of the period. */
static int add_raw(struct invoice *inv, struct ledger *l, int64_t a, int64_t b)
{
    if (a >= b)
        return 0;
    inv->win_from_us = a;
    inv->win_to_us = b;
    int r = ledger_for_each(l, inv->sponsor, a, b, invoice_add_row, inv);
    inv->win_from_us = inv->from_us;
    inv->win_to_us = inv->to_us;
    return r;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int invoice_build(struct invoice *inv, struct ledger *l, int rollups)
{
    if (!rollups)
        return ledger_for_each(l, inv->sponsor, inv->from_us, inv->to_us, invoice_add_row, inv);
    /* The whole hours [h0, h1) of the period (none for a period of no whole hour). */
    int64_t h0 = inv->from_us <= 0 ? 0 : ledger_hour_of(inv->from_us - 1) + LEDGER_HOUR_US;
    int64_t h1 = ledger_hour_of(inv->to_us);
    if (h0 >= h1)
        return add_raw(inv, l, inv->from_us, inv->to_us);
    /* The hours that a price change cuts inside: from the raw postings. */
    int64_t cut[PRICES_MAX_PERIODS];
    size_t ncut = 0;
    const struct price_list *pl = inv->prices;
    for (size_t i = 0; pl && i < pl->n && i < PRICES_MAX_PERIODS; i++) {
        int64_t t = pl->periods[i].from_us;
        if (t > h0 && t < h1 && ledger_hour_of(t) != t)
            cut[ncut++] = ledger_hour_of(t);
    }
    qsort(cut, ncut, sizeof(*cut), cmp_i64);
    int r = add_raw(inv, l, inv->from_us, h0);
    int64_t at = h0;
    for (size_t i = 0; r == 0 && i < ncut; i++) {
        if (cut[i] < at)
            continue; /* two changes in one hour */
        if ((r = ledger_for_each_bucket(l, inv->sponsor, at, cut[i], invoice_add_bucket, inv)) == 0)
            r = add_raw(inv, l, cut[i], cut[i] + LEDGER_HOUR_US);
        at = cut[i] + LEDGER_HOUR_US;
    }
    if (r == 0)
        r = ledger_for_each_bucket(l, inv->sponsor, at, h1, invoice_add_bucket, inv);
    if (r == 0)
        r = add_raw(inv, l, h1, inv->to_us);
    return r;
}
