/* Invoice lines from ledger rows (invoice.h). */
#include "daemon/invoice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/siphash.h"

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
    inv->win_from_us = from_us;
    inv->win_to_us = to_us;
    return siphash_random_key(inv->hash_key);
}

static int same_line(const struct invoice_line *x, const char *group, const char *group_id, int resource, int period)
{
    return x->resource == resource && x->period == period && strcmp(x->group_id, group_id) == 0 &&
           strcmp(x->group, group) == 0;
}

/* The hash of a line's identity, keyed per invoice (a sponsor names its domains). */
static uint64_t line_hash(const struct invoice *inv, const char *group, const char *group_id, int resource, int period)
{
    char buf[LEDGER_NAME_MAX + LEDGER_UUID_MAX + 16];
    size_t g = strnlen(group, LEDGER_NAME_MAX - 1), d = strnlen(group_id, LEDGER_UUID_MAX - 1);
    memcpy(buf, group, g);
    buf[g] = 0;
    memcpy(buf + g + 1, group_id, d);
    int32_t rp[2] = {resource, period};
    memcpy(buf + g + 1 + d, rp, sizeof(rp));
    return siphash13(inv->hash_key, buf, g + 1 + d + sizeof(rp));
}

/* The slot of that line, or of the empty slot where it would go. */
static size_t slot_of(const struct invoice *inv, const char *group, const char *group_id, int resource, int period)
{
    size_t mask = inv->nslots - 1, i = (size_t)line_hash(inv, group, group_id, resource, period) & mask;
    while (inv->slots[i] && !same_line(&inv->lines[inv->slots[i] - 1], group, group_id, resource, period))
        i = (i + 1) & mask;
    return i;
}

/* Doubles the slots (and the lines' room). 0, or -1 out of memory. */
static int grow(struct invoice *inv)
{
    size_t cap = inv->cap ? inv->cap * 2 : 16;
    struct invoice_line *nl = realloc(inv->lines, cap * sizeof(*nl));
    if (!nl)
        return -1;
    inv->lines = nl;
    inv->cap = cap;
    uint32_t *slots = calloc(cap * 2, sizeof(*slots));
    if (!slots || cap * 2 > UINT32_MAX) {
        free(slots);
        return -1;
    }
    free(inv->slots);
    inv->slots = slots;
    inv->nslots = cap * 2;
    for (size_t k = 0; k < inv->n; k++) {
        const struct invoice_line *l = &inv->lines[k];
        inv->slots[slot_of(inv, l->group, l->group_id, l->resource, l->period)] = (uint32_t)k + 1;
    }
    return 0;
}

/* The line of (group, resource, period), made if new. NULL when out of memory. */
static struct invoice_line *line_for(struct invoice *inv, const char *group, const char *group_id, int resource,
                                     int period)
{
    if (inv->n == inv->cap && grow(inv) < 0)
        return NULL;
    size_t i = slot_of(inv, group, group_id, resource, period);
    if (inv->slots[i])
        return &inv->lines[inv->slots[i] - 1];
    struct invoice_line *l = &inv->lines[inv->n++];
    inv->slots[i] = (uint32_t)inv->n;
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

int invoice_line_meters(int resource, int m[2])
{
    static const int single[RES__COUNT] = {0,
                                           0,
                                           METER_NET_TX_BYTES,
                                           METER_NET_RX_BYTES,
                                           METER_NET_TX_PACKETS,
                                           METER_NET_RX_PACKETS,
                                           METER_DISK_OPS,
                                           METER_DISK_BYTES,
                                           METER_DISK_PROVISIONED,
                                           METER_DISK_RESERVED};
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

/* What one piece (or bucket) adds to its lines: per resource, the billable quantity, whether
 * it makes the line (CPU and memory always; a network resource when non-zero) and how many
 * pieces it counts for. */
struct contribution {
    const char *name, *domain;
    int64_t from_us, to_us, first_tx, last_tx;
    int64_t billable[RES__COUNT], pieces[RES__COUNT];
};

/* The group of a piece starting at a. */
static void group_of(const struct invoice *inv, const char *name, const char *domain, int64_t a,
                     char group[LEDGER_NAME_MAX], char id[LEDGER_UUID_MAX])
{
    group[0] = id[0] = 0;
    if (inv->by == INVOICE_BY_DOMAIN) {
        snprintf(group, LEDGER_NAME_MAX, "%s", name);
        snprintf(id, LEDGER_UUID_MAX, "%s", domain);
    } else if (inv->by == INVOICE_BY_DAY) {
        prices_format_time(a - a % DAY_US, group, LEDGER_NAME_MAX);
        group[10] = 0; /* YYYY-MM-DD */
    }
}

/* Adds c to the lines of its group in price period `period`. *wanted: whether the line of
 * resource want_res is the one being explained. */
static void contribute(struct invoice *inv, const struct contribution *c, int period, int want_res, int *wanted)
{
    char group[LEDGER_NAME_MAX], id[LEDGER_UUID_MAX];
    group_of(inv, c->name, c->domain, c->from_us, group, id);
    *wanted = 0;
    for (int res = 0; res < RES__COUNT; res++) {
        if (!c->pieces[res])
            continue;
        struct invoice_line *l = line_for(inv, group, id, res, period);
        if (!l) {
            inv->total = -1;
            return;
        }
        l->quantity += c->billable[res];
        if (inv->explaining && res == want_res && same_line(&inv->want, group, id, res, period))
            *wanted = 1;
        l->from_us = c->from_us < l->from_us ? c->from_us : l->from_us;
        l->to_us = c->to_us > l->to_us ? c->to_us : l->to_us;
        if (!l->first_tx || c->first_tx < l->first_tx)
            l->first_tx = c->first_tx;
        l->last_tx = c->last_tx > l->last_tx ? c->last_tx : l->last_tx;
        l->txs += c->pieces[res];
    }
}

static int period_index(const struct invoice *inv, int64_t t, const struct price_period **pp)
{
    *pp = prices_period_at(inv->prices, t);
    return *pp ? (int)(*pp - inv->prices->periods) : -1;
}

static void add_piece(struct invoice *inv, const struct ledger_row *row, int64_t a, int64_t b)
{
    const struct price_period *pp;
    int period = period_index(inv, a, &pp);
    int64_t q[METER__COUNT];
    ledger_piece_shares(row->q, row->start_us, row->end_us, a, b, q);
    const int rules[2] = {pp ? pp->rule_cpu : RULE_MAX, pp ? pp->rule_memory : RULE_MAX};
    struct contribution c = {row->name, row->domain, a, b, row->id, row->id, {0}, {0}};
    c.billable[RES_CPU] = pick(rules[0], q[METER_VCPU_USED], q[METER_VCPU_RESERVED]);
    c.billable[RES_MEMORY] = pick(rules[1], q[METER_MEMORY_RESIDENT], q[METER_MEMORY_ALLOCATED]);
    c.pieces[RES_CPU] = c.pieces[RES_MEMORY] = 1;
    for (int res = RES_NET_TX_BYTES, m[2]; res < RES__COUNT; res++) {
        invoice_line_meters(res, m);
        c.billable[res] = q[m[0]];
        c.pieces[res] = c.billable[res] != 0;
    }
    int want_res = inv->explaining ? inv->want.resource : -1, wanted;
    contribute(inv, &c, period, want_res, &wanted);
    if (wanted && keep_piece(inv, row, a, b, q,
                             want_res == RES_CPU      ? rules[0]
                             : want_res == RES_MEMORY ? rules[1]
                                                      : -1,
                             c.billable[want_res]) < 0)
        inv->total = -1;
}

void invoice_add_row(void *ctx, const struct ledger_row *row)
{
    struct invoice *inv = ctx;
    inv->txs++;
    if (row->end_us == row->start_us) {
        if (row->start_us >= inv->win_from_us && row->start_us < inv->win_to_us)
            add_piece(inv, row, row->start_us, row->end_us);
        return;
    }
    int64_t a = row->start_us > inv->win_from_us ? row->start_us : inv->win_from_us;
    int64_t end = row->end_us < inv->win_to_us ? row->end_us : inv->win_to_us;
    while (a < end) {
        /* Cut at the next hour (so at midnight too) and at a price change before it. */
        int64_t b = ledger_hour_of(a) + LEDGER_HOUR_US;
        b = b < end ? b : end;
        const struct price_list *pl = inv->prices;
        for (size_t i = 0; pl && i < pl->n; i++)
            if (pl->periods[i].from_us > a && pl->periods[i].from_us < b)
                b = pl->periods[i].from_us;
        add_piece(inv, row, a, b);
        a = b;
    }
}

void invoice_add_bucket(void *ctx, const struct ledger_bucket *bk)
{
    struct invoice *inv = ctx;
    inv->buckets++;
    const struct price_period *pp;
    int period = period_index(inv, bk->hour_us, &pp);
    const int rules[2] = {pp ? pp->rule_cpu : RULE_MAX, pp ? pp->rule_memory : RULE_MAX};
    const int64_t rule_cpu[3] = {
        [RULE_MAX] = bk->cpu_max, [RULE_USED] = bk->q[METER_VCPU_USED], [RULE_RESERVED] = bk->q[METER_VCPU_RESERVED]};
    const int64_t rule_mem[3] = {[RULE_MAX] = bk->mem_max,
                                 [RULE_USED] = bk->q[METER_MEMORY_RESIDENT],
                                 [RULE_RESERVED] = bk->q[METER_MEMORY_ALLOCATED]};
    struct contribution c = {bk->name, bk->domain, bk->from_us, bk->to_us, bk->first_tx, bk->last_tx, {0}, {0}};
    c.billable[RES_CPU] = rule_cpu[rules[0]];
    c.billable[RES_MEMORY] = rule_mem[rules[1]];
    c.pieces[RES_CPU] = c.pieces[RES_MEMORY] = bk->pieces;
    for (int res = RES_NET_TX_BYTES, m[2]; res < RES__COUNT; res++) {
        invoice_line_meters(res, m);
        c.billable[res] = bk->q[m[0]];
        c.pieces[res] = bk->meter_pieces[m[0]];
    }
    int wanted;
    contribute(inv, &c, period, -1, &wanted);
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
    if (inv->n) {
        qsort(inv->lines, inv->n, sizeof(*inv->lines), cmp_line);
        memset(inv->slots, 0, inv->nslots * sizeof(*inv->slots)); /* the lines moved */
        for (size_t k = 0; k < inv->n; k++) {
            const struct invoice_line *l = &inv->lines[k];
            inv->slots[slot_of(inv, l->group, l->group_id, l->resource, l->period)] = (uint32_t)k + 1;
        }
    }
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
    free(inv->slots);
    inv->slots = NULL;
    inv->nslots = 0;
    inv->npieces = inv->cappieces = 0;
}
