/* xenod's billing: meter cursors per domain, postings, the price list, bills (billing.h). */
#include "daemon/billing.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"

/* One domain's meter cursors as last posted (or waiting in the backlog). */
struct billing_domain {
    char uuid[LEDGER_UUID_MAX];
    struct meter_cursor cur[METER_SOURCE__COUNT]; /* [enum meter_source] */
    int loaded[METER_SOURCE__COUNT];              /* cur[] read from the ledger (or found absent) */
    double last_post;                             /* CLOCK_MONOTONIC seconds */
};

struct sponsor_charge {
    char sponsor[LEDGER_SPONSOR_MAX];
    int64_t micros;
};

struct billing {
    pthread_mutex_t lock;
    struct ledger ledger;
    struct price_list *prices; /* NULL: no --prices (everything is free) */
    char prices_path[PATH_MAX];
    struct billing_domain *doms;
    size_t ndoms, capdoms;
    /* billing_sponsor_charges' answer, valid until the next posting or price change */
    struct sponsor_charge *charges;
    size_t ncharges;
    int charges_valid;
    double post_interval_s;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int billing_open(struct billing **out, const char *state_dir, const char *prices_path, double post_interval_s)
{
    struct billing *b = calloc(1, sizeof(*b));
    if (!b)
        return err_set(ENOMEM, "billing: out of memory");
    b->post_interval_s = post_interval_s;
    pthread_mutex_init(&b->lock, NULL);
    if (prices_path) {
        snprintf(b->prices_path, sizeof(b->prices_path), "%s", prices_path);
        b->prices = calloc(1, sizeof(*b->prices));
        int r = b->prices ? prices_load(prices_path, b->prices) : err_set(ENOMEM, "billing: out of memory");
        if (r < 0) {
            free(b->prices);
            free(b);
            return r;
        }
        log_info("price list %s: version %s, %zu effective blocks", prices_path, b->prices->version, b->prices->n);
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/ledger.db", state_dir);
    int r = ledger_open(&b->ledger, path);
    if (r < 0) {
        free(b->prices);
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

void billing_close(struct billing *b)
{
    if (!b)
        return;
    if (b->ledger.backlog_n)
        log_error("ledger: %zu transactions still waiting are lost (the database refused them)",
                  ledger_flush(&b->ledger));
    ledger_close(&b->ledger);
    free(b->prices);
    free(b->doms);
    free(b->charges);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static struct billing_domain *domain_of(struct billing *b, const char *uuid)
{
    for (size_t i = 0; i < b->ndoms; i++)
        if (strcmp(b->doms[i].uuid, uuid) == 0)
            return &b->doms[i];
    if (b->ndoms == b->capdoms) {
        size_t cap = b->capdoms ? b->capdoms * 2 : 16;
        struct billing_domain *n = realloc(b->doms, cap * sizeof(*n));
        if (!n)
            return NULL;
        b->doms = n;
        b->capdoms = cap;
    }
    struct billing_domain *d = &b->doms[b->ndoms++];
    memset(d, 0, sizeof(*d));
    snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
    d->last_post = mono_s();
    return d;
}

/* Posts one source's usage since its cursor. */
static void post_source(struct billing *b, struct billing_domain *d, const struct billing_reading *r, int source,
                        const struct meter_reading *m)
{
    if (!d->loaded[source]) {
        if (ledger_get_cursor(&b->ledger, d->uuid, source, &d->cur[source]) < 0)
            memset(&d->cur[source], 0, sizeof(d->cur[source]));
        d->cur[source].source = source;
        d->loaded[source] = 1;
    }
    struct ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.cursor = d->cur[source];
    if (meter_advance(&tx.cursor, m, tx.q) < 0)
        return; /* older than what was posted: already counted */
    int any = 0;
    for (int k = 0; k < METER__COUNT; k++)
        any |= tx.q[k] != 0;
    if (!any) {
        d->cur[source] = tx.cursor;
        return;
    }
    static const char *const source_name[METER_SOURCE_DISK] = {"monitor", "net", "overhead", "idle"};
    char src[16];
    if (meter_source_is_disk(source))
        snprintf(src, sizeof(src), "disk%d", source - METER_SOURCE_DISK);
    else
        snprintf(src, sizeof(src), "%s", source_name[source]);
    snprintf(tx.key, sizeof(tx.key), "%s/%s/%llu/%llu", r->uuid, src, (unsigned long long)m->instance,
             (unsigned long long)m->time_ns);
    snprintf(tx.domain, sizeof(tx.domain), "%s", r->uuid);
    if (source == METER_SOURCE_OVERHEAD || source == METER_SOURCE_HOST) {
        /* The host's own: no sponsor pays it (docs/billing.md, "The host's bill"). */
        snprintf(tx.name, sizeof(tx.name), "%s%.70s", r->sponsor[0] ? "xeno-vmm:" : "", r->name);
        if (source == METER_SOURCE_HOST)
            snprintf(tx.account, sizeof(tx.account), "host:idle");
        else if (r->sponsor[0])
            snprintf(tx.account, sizeof(tx.account), "overhead:xeno-vmm/domain:%s", r->uuid);
        else
            snprintf(tx.account, sizeof(tx.account), "overhead:%s", r->name);
    } else {
        snprintf(tx.name, sizeof(tx.name), "%s", r->name);
        snprintf(tx.sponsor, sizeof(tx.sponsor), "%s", r->sponsor);
    }
    tx.start_us = (int64_t)(tx.cursor.from_ns / 1000);
    tx.end_us = (int64_t)(m->time_ns / 1000);
    tx.has_cursor = 1;
    int queued;
    if (ledger_submit(&b->ledger, &tx, &queued) < 0)
        log_error("%s", err_msg());
    /* Posted, waiting, a duplicate (already posted) or lost (logged): the cursor moves on. */
    d->cur[source] = tx.cursor;
    b->charges_valid = 0;
}

void billing_observe(struct billing *b, const struct billing_reading *r, int final)
{
    pthread_mutex_lock(&b->lock);
    struct billing_domain *d = domain_of(b, r->uuid);
    double now = mono_s();
    if (d && (final || now - d->last_post >= b->post_interval_s)) {
        d->last_post = now;
        if (r->has_monitor)
            post_source(b, d, r, METER_SOURCE_MONITOR, &r->monitor);
        if (r->has_net)
            post_source(b, d, r, METER_SOURCE_NET, &r->net);
        if (r->has_overhead)
            post_source(b, d, r, METER_SOURCE_OVERHEAD, &r->overhead);
        for (int i = 0; i < METER_DISKS_MAX; i++)
            if (r->has_disk[i])
                post_source(b, d, r, METER_SOURCE_DISK + i, &r->disk[i]);
    }
    pthread_mutex_unlock(&b->lock);
}

void billing_observe_host(struct billing *b, const char *id, int source, const struct meter_reading *m, int final)
{
    struct billing_reading r;
    memset(&r, 0, sizeof(r));
    snprintf(r.uuid, sizeof(r.uuid), "%s", id);
    snprintf(r.name, sizeof(r.name), "%s", source == METER_SOURCE_HOST ? "idle" : id);
    pthread_mutex_lock(&b->lock);
    struct billing_domain *d = domain_of(b, id);
    double now = mono_s();
    if (d && (final || now - d->last_post >= b->post_interval_s || !d->loaded[source])) {
        d->last_post = now;
        post_source(b, d, &r, source, m);
    }
    pthread_mutex_unlock(&b->lock);
}

int billing_with_ledger(struct billing *b, int (*fn)(void *ctx, struct ledger *l, const struct price_list *p),
                        void *ctx)
{
    pthread_mutex_lock(&b->lock);
    int r = fn(ctx, &b->ledger, b->prices);
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* Entries of b->doms are never removed or moved (realloc keeps indices), so a caller's hint
 * stays right once found: the pass over N domains each second is O(N), not O(N^2). */
int billing_due(struct billing *b, const char *uuid, size_t *hint)
{
    pthread_mutex_lock(&b->lock);
    int due = 1;
    size_t i = *hint;
    if (!(i > 0 && i <= b->ndoms && strcmp(b->doms[i - 1].uuid, uuid) == 0))
        for (i = b->ndoms; i > 0 && strcmp(b->doms[i - 1].uuid, uuid) != 0; i--)
            ;
    if (i > 0)
        due = mono_s() - b->doms[i - 1].last_post >= b->post_interval_s;
    *hint = i;
    pthread_mutex_unlock(&b->lock);
    return due;
}

void billing_flush(struct billing *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->ledger.backlog_n)
        ledger_flush(&b->ledger);
    pthread_mutex_unlock(&b->lock);
}

int billing_reload_prices(struct billing *b)
{
    if (!b->prices_path[0])
        return err_set(ENOENT, "xenod runs without a price list (start it with --prices FILE)");
    struct price_list *n = calloc(1, sizeof(*n));
    if (!n)
        return err_set(ENOMEM, "billing: out of memory");
    int r = prices_load(b->prices_path, n);
    if (r < 0) {
        free(n);
        log_error("%s (the price list in force stays)", err_msg());
        return r;
    }
    pthread_mutex_lock(&b->lock);
    free(b->prices);
    b->prices = n;
    b->charges_valid = 0;
    pthread_mutex_unlock(&b->lock);
    log_info("price list %s reloaded: version %s", b->prices_path, n->version);
    return 0;
}

void billing_prices_version(struct billing *b, char *buf, size_t size)
{
    pthread_mutex_lock(&b->lock);
    snprintf(buf, size, "%s", b->prices ? b->prices->version : "");
    pthread_mutex_unlock(&b->lock);
}

static int bill_locked(struct billing *b, const char *sponsor, int64_t from_us, int64_t to_us, int by,
                       struct invoice *inv)
{
    int r = invoice_init(inv, sponsor, from_us, to_us, by, b->prices);
    if (r < 0)
        return r;
    if (!sponsor[0] || !ledger_has_sponsor(&b->ledger, sponsor)) /* "": the host's own (host_bill.h) */
        return err_set(ENOENT, "no usage of sponsor '%s' in the ledger", sponsor);
    if ((r = invoice_build(inv, &b->ledger, 1)) < 0 || (r = invoice_finish(inv)) < 0) {
        invoice_free(inv);
        return r;
    }
    inv->prices = NULL; /* the lines hold their prices; the list may change after */
    return 0;
}

int billing_bill(struct billing *b, const char *sponsor, int64_t from_us, int64_t to_us, int by, struct invoice *inv)
{
    pthread_mutex_lock(&b->lock);
    int r = bill_locked(b, sponsor, from_us, to_us, by, inv);
    pthread_mutex_unlock(&b->lock);
    return r;
}

int billing_explain(struct billing *b, const char *sponsor, int64_t from_us, int64_t to_us, int by, long line,
                    struct invoice *inv, long *index)
{
    pthread_mutex_lock(&b->lock);
    int r = bill_locked(b, sponsor, from_us, to_us, by, inv);
    if (r == 0 && (line < 1 || (size_t)line > inv->n)) {
        r = err_set(EINVAL, "the bill has %zu lines: LINE must be 1 to %zu", inv->n, inv->n);
        invoice_free(inv);
    }
    if (r == 0) {
        /* Made again, keeping the pieces of that line: the same rows give the same lines. */
        struct invoice_line want = inv->lines[line - 1];
        invoice_free(inv);
        if ((r = invoice_init(inv, sponsor, from_us, to_us, by, b->prices)) == 0) {
            invoice_explain(inv, &want);
            r = invoice_build(inv, &b->ledger, 0); /* the pieces come from the raw postings */
            if (r == 0)
                r = invoice_finish(inv);
            *index = invoice_find_wanted(inv);
            if (r == 0 && *index < 0)
                r = err_set(EAGAIN, "the ledger changed while the line was explained: ask again");
            if (r < 0)
                invoice_free(inv);
            inv->prices = NULL;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

static void collect_sponsor(void *ctx, const char *sponsor)
{
    struct billing *b = ctx;
    if (!sponsor[0])
        return; /* the host's own meters (overhead, idle): no sponsor's */
    struct sponsor_charge *n = realloc(b->charges, (b->ncharges + 1) * sizeof(*n));
    if (!n)
        return;
    b->charges = n;
    memset(&n[b->ncharges], 0, sizeof(*n));
    snprintf(n[b->ncharges++].sponsor, sizeof(n->sponsor), "%s", sponsor);
}

static int recompute_charges(struct billing *b)
{
    b->ncharges = 0;
    int r = ledger_for_each_sponsor(&b->ledger, collect_sponsor, b);
    for (size_t i = 0; r == 0 && i < b->ncharges; i++) {
        struct invoice inv;
        memset(&inv, 0, sizeof(inv));
        snprintf(inv.sponsor, sizeof(inv.sponsor), "%s", b->charges[i].sponsor);
        inv.from_us = inv.win_from_us = INT64_MIN;
        inv.to_us = inv.win_to_us = INT64_MAX;
        inv.prices = b->prices;
        if ((r = invoice_build(&inv, &b->ledger, 1)) == 0 && (r = invoice_finish(&inv)) == 0)
            b->charges[i].micros = inv.total;
        invoice_free(&inv);
    }
    b->charges_valid = r == 0;
    return r;
}

int billing_sponsor_charges(struct billing *b, void (*fn)(void *ctx, const char *sponsor, int64_t micros), void *ctx)
{
    pthread_mutex_lock(&b->lock);
    int r = b->charges_valid ? 0 : recompute_charges(b);
    for (size_t i = 0; r == 0 && i < b->ncharges; i++)
        fn(ctx, b->charges[i].sponsor, b->charges[i].micros);
    pthread_mutex_unlock(&b->lock);
    return r;
}
