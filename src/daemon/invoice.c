/* Invoice lines from ledger rows (invoice.h). */
#include "daemon/invoice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define DAY_US (86400LL * 1000000)

int invoice_by_parse(const char *text, int *out)
{
    static const char *const names[] = {"resource", "domain", "day"};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return err_set(EINVAL, "by '%.40s': resource, domain or day", text);
}

int invoice_init(struct invoice *inv, const char *sponsor, int64_t from_us, int64_t to_us, int by,
                 const struct price_list *prices)
{
    memset(inv, 0, sizeof(*inv));
    if (to_us <= from_us)
        return err_set(EINVAL, "the period is empty or inverted: --to must be after --from");
    if ((to_us - from_us) / DAY_US > INVOICE_MAX_DAYS)
        return err_set(EINVAL, "the period is longer than %d days", INVOICE_MAX_DAYS);
    snprintf(inv->sponsor, sizeof(inv->sponsor), "%s", sponsor);
    inv->from_us = from_us;
    inv->to_us = to_us;
    inv->by = by;
    inv->prices = prices;
    return 0;
}

static int same_line(const struct invoice_line *x, const char *group, const char *group_id, int resource, int period)
{
    return x->resource == resource && x->period == period && strcmp(x->group_id, group_id) == 0 &&
           strcmp(x->group, group) == 0;
}

/* The line of (group, resource, period), made if new. Lines of one group arrive together
 * more often than not: the search runs from the end. NULL when out of memory. */
static struct invoice_line *line_for(struct invoice *inv, const char *group, const char *group_id, int resource,
                                     int period)
{
    for (size_t i = inv->n; i-- > 0;)
        if (same_line(&inv->lines[i], group, group_id, resource, period))
            return &inv->lines[i];
    if (inv->n == inv->cap) {
        size_t cap = inv->cap ? inv->cap * 2 : 16;
        struct invoice_line *nl = realloc(inv->lines, cap * sizeof(*nl));
        if (!nl)
            return NULL;
        inv->lines = nl;
        inv->cap = cap;
    }
    struct invoice_line *l = &inv->lines[inv->n++];
    memset(l, 0, sizeof(*l));
    snprintf(l->group, sizeof(l->group), "%s", group);
    snprintf(l->group_id, sizeof(l->group_id), "%s", group_id);
    l->resource = resource;
    l->period = period;
    l->from_us = INT64_MAX;
    l->to_us = INT64_MIN;
    return l;
}

static int64_t pick(int rule, int64_t used, int64_t reserved)
{
    return rule == RULE_USED ? used : rule == RULE_RESERVED ? reserved : used > reserved ? used : reserved;
}

/* The share of q that falls in [0, x) of a transaction `len` long: truncated, so that the
 * pieces telescope to exactly q. */
static int64_t share(int64_t q, int64_t x, int64_t len)
{
    return len ? (int64_t)((__int128)q * x / len) : q;
}

int invoice_line_meters(int resource, int m[2])
{
    static const int single[RES__COUNT] = {
        0, 0, METER_NET_TX_BYTES, METER_NET_RX_BYTES, METER_NET_TX_PACKETS, METER_NET_RX_PACKETS};
    m[1] = -1;
    if (resource == RES_CPU) {
        m[0] = METER_VCPU_USED;
        m[1] = METER_VCPU_RESERVED;
    } else if (resource == RES_MEMORY) {
        m[0] = METER_MEMORY_RESIDENT;
        m[1] = METER_MEMORY_ALLOCATED;
    } else {
        m[0] = single[resource];
    }
    return m[1] < 0 ? 1 : 2;
}

void invoice_explain(struct invoice *inv, const struct invoice_line *line)
{
    inv->explaining = 1;
    inv->want = *line;
}

long invoice_find_wanted(const struct invoice *inv)
{
    for (size_t i = 0; i < inv->n; i++)
        if (same_line(&inv->lines[i], inv->want.group, inv->want.group_id, inv->want.resource, inv->want.period))
            return (long)i;
    return -1;
}

/* Keeps one piece of the wanted line (explaining). 0, or -1 out of memory. */
static int keep_piece(struct invoice *inv, const struct ledger_row *row, int64_t a, int64_t b,
                      const int64_t q[METER__COUNT], int rule, int64_t billable)
{
    if (inv->npieces == inv->cappieces) {
        size_t cap = inv->cappieces ? inv->cappieces * 2 : 16;
        struct invoice_piece *n = realloc(inv->pieces, cap * sizeof(*n));
        if (!n)
            return -1;
        inv->pieces = n;
        inv->cappieces = cap;
    }
    struct invoice_piece *p = &inv->pieces[inv->npieces++];
    memset(p, 0, sizeof(*p));
    p->tx_id = row->id;
    snprintf(p->key, sizeof(p->key), "%s", row->key ? row->key : "");
    snprintf(p->domain, sizeof(p->domain), "%s", row->domain);
    p->tx_start_us = row->start_us;
    p->tx_end_us = row->end_us;
    p->from_us = a;
    p->to_us = b;
    int m[2];
    for (int k = 0; k < invoice_line_meters(inv->want.resource, m); k++) {
        p->raw[k] = row->q[m[k]];
        p->part[k] = q[m[k]];
    }
    p->rule = rule;
    p->billable = billable;
    return 0;
}

static void add_piece(struct invoice *inv, const struct ledger_row *row, int64_t a, int64_t b)
{
    const struct price_list *pl = inv->prices;
    const struct price_period *pp = prices_period_at(pl, a);
    int period = pp ? (int)(pp - pl->periods) : -1;
    int64_t len = row->end_us - row->start_us, q[METER__COUNT];
    for (int m = 0; m < METER__COUNT; m++)
        q[m] = share(row->q[m], b - row->start_us, len) - share(row->q[m], a - row->start_us, len);
    if (len == 0)
        memcpy(q, row->q, sizeof(q));
    const int rules[2] = {pp ? pp->rule_cpu : RULE_MAX, pp ? pp->rule_memory : RULE_MAX};
    int64_t billable[RES__COUNT] = {pick(rules[0], q[METER_VCPU_USED], q[METER_VCPU_RESERVED]),
                                    pick(rules[1], q[METER_MEMORY_RESIDENT], q[METER_MEMORY_ALLOCATED]),
                                    q[METER_NET_TX_BYTES],
                                    q[METER_NET_RX_BYTES],
                                    q[METER_NET_TX_PACKETS],
                                    q[METER_NET_RX_PACKETS]};
    char group[LEDGER_NAME_MAX] = "", id[LEDGER_UUID_MAX] = "";
    if (inv->by == INVOICE_BY_DOMAIN) {
        snprintf(group, sizeof(group), "%s", row->name);
        snprintf(id, sizeof(id), "%s", row->domain);
    } else if (inv->by == INVOICE_BY_DAY) {
        prices_format_time(a - a % DAY_US, group, sizeof(group));
        group[10] = 0; /* YYYY-MM-DD */
    }
    for (int res = 0; res < RES__COUNT; res++) {
        if (!billable[res] && res >= RES_NET_TX_BYTES)
            continue;
        struct invoice_line *l = line_for(inv, group, id, res, period);
        if (!l) {
            inv->total = -1;
            return;
        }
        l->quantity += billable[res];
        if (inv->explaining && same_line(&inv->want, group, id, res, period) &&
            keep_piece(inv, row, a, b, q,
                       res == RES_CPU      ? rules[0]
                       : res == RES_MEMORY ? rules[1]
                                           : -1,
                       billable[res]) < 0)
            inv->total = -1;
        l->from_us = a < l->from_us ? a : l->from_us;
        l->to_us = b > l->to_us ? b : l->to_us;
        if (!l->first_tx)
            l->first_tx = row->id;
        l->last_tx = row->id;
        l->txs++;
    }
}

void invoice_add_row(void *ctx, const struct ledger_row *row)
{
    struct invoice *inv = ctx;
    inv->txs++;
    if (row->end_us == row->start_us) {
        if (row->start_us >= inv->from_us && row->start_us < inv->to_us)
            add_piece(inv, row, row->start_us, row->end_us);
        return;
    }
    int64_t a = row->start_us > inv->from_us ? row->start_us : inv->from_us;
    int64_t end = row->end_us < inv->to_us ? row->end_us : inv->to_us;
    while (a < end) {
        int64_t b = end;
        const struct price_list *pl = inv->prices;
        for (size_t i = 0; pl && i < pl->n; i++)
            if (pl->periods[i].from_us > a && pl->periods[i].from_us < b)
                b = pl->periods[i].from_us;
        if (inv->by == INVOICE_BY_DAY && a - a % DAY_US + DAY_US < b)
            b = a - a % DAY_US + DAY_US;
        add_piece(inv, row, a, b);
        a = b;
    }
}

static int cmp_line(const void *x, const void *y)
{
    const struct invoice_line *a = x, *b = y;
    int c = strcmp(a->group, b->group);
    if (!c)
        c = strcmp(a->group_id, b->group_id);
    if (!c)
        c = a->resource - b->resource;
    if (!c)
        c = a->period - b->period;
    return c;
}

int invoice_finish(struct invoice *inv)
{
    if (inv->total < 0)
        return err_set(ENOMEM, "invoice: out of memory");
    qsort(inv->lines, inv->n, sizeof(*inv->lines), cmp_line);
    inv->total = 0;
    for (size_t i = 0; i < inv->n; i++) {
        struct invoice_line *l = &inv->lines[i];
        const struct price_period *pp = l->period >= 0 ? &inv->prices->periods[l->period] : NULL;
        const struct price_entry *e = prices_entry(pp, l->resource, inv->sponsor);
        l->unit_price = e ? e->micros : 0;
        l->per = e ? e->per : 1;
        l->amount = prices_amount(e, l->quantity);
        inv->total += l->amount;
    }
    return 0;
}

void invoice_free(struct invoice *inv)
{
    free(inv->lines);
    inv->lines = NULL;
    inv->n = inv->cap = 0;
    free(inv->pieces);
    inv->pieces = NULL;
    inv->npieces = inv->cappieces = 0;
}
