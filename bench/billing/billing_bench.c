/* bench/billing: the ledger and invoices of xenod (src/daemon/ledger.c, invoice.c) compiled
 * in with the benchmark's flags, on a real SQLite file (bench/README.md, "bench/billing").
 *
 *   1. postings per second: ledger_submit of one domain's monitor usage (cpu used and
 *      reserved, memory resident and allocated: 8 posting lines), each its own SQL
 *      transaction with SQLite's default durability (fsync per commit), as xenod posts.
 *   2. ledger bytes per domain-day: DOMAINS domains x DAYS days posted at the given posting
 *      interval (synthesised usage, fsync off to make it quickly: the size is the same),
 *      the file's size over domain-days, scaled to the 60 s interval xenod uses by default.
 *   3. invoice time: the bill of the sponsor of all those domains over the whole period, priced
 *      by a list with a change on the hour and one inside an hour
 *      (by resource and by domain), as billing_bill makes it (invoice_build from the hourly
 *      roll-ups), and the same from the raw postings alone (as --explain reads, and as every
 *      bill did before roll-ups). The totals printed must agree.
 *
 * usage: billing-bench DIR [DOMAINS DAYS INTERVAL_S [POSTINGS]]  (default 1000 30 3600 2000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/invoice.h"
#include "daemon/ledger.h"
#include "daemon/ledger_rollup.h"
#include "lib/log.h"

#define SEC 1000000LL
#define T0 (1764547200LL * SEC) /* 2025-12-01T00:00:00Z */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One domain's monitor usage over [start, end): a busy-ish vCPU under a 25% reservation and
 * 256 MiB, in micro-units of each meter. */
static void synth(struct ledger_tx *tx, int dom, int64_t start, int64_t end)
{
    memset(tx, 0, sizeof(*tx));
    snprintf(tx->domain, sizeof(tx->domain), "00000000-0000-4000-8000-%012d", dom);
    snprintf(tx->name, sizeof(tx->name), "dom%d", dom);
    snprintf(tx->sponsor, sizeof(tx->sponsor), "acme");
    snprintf(tx->key, sizeof(tx->key), "%s/monitor/1/%lld", tx->domain, (long long)end * 1000);
    tx->start_us = start;
    tx->end_us = end;
    int64_t len = end - start;
    tx->q[METER_VCPU_USED] = len * (dom % 7) / 10;
    tx->q[METER_VCPU_RESERVED] = len / 4;
    tx->q[METER_MEMORY_RESIDENT] = len / 5;
    tx->q[METER_MEMORY_ALLOCATED] = len / 4;
    tx->cursor.source = METER_SOURCE_MONITOR;
    tx->cursor.instance = 1;
    tx->cursor.time_ns = (uint64_t)end * 1000;
    tx->has_cursor = 1;
}

static int open_fresh(struct ledger *l, const char *path)
{
    unlink(path);
    if (ledger_open(l, path) < 0) {
        fprintf(stderr, "billing-bench: cannot open %s\n", path);
        return -1;
    }
    return 0;
}

static int bench_postings(const char *dir, int n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/postings.db", dir);
    struct ledger l;
    if (open_fresh(&l, path) < 0)
        return -1;
    struct ledger_tx tx;
    int queued;
    double t = now_s();
    for (int i = 0; i < n; i++) {
        synth(&tx, i % 20, T0 + (int64_t)i * 60 * SEC, T0 + (int64_t)(i + 1) * 60 * SEC);
        if (ledger_submit(&l, &tx, &queued) != 0 || queued) {
            fprintf(stderr, "billing-bench: posting %d failed\n", i);
            ledger_close(&l);
            return -1;
        }
    }
    t = now_s() - t;
    printf("postings: %d transactions (8 lines each) in %.3f s: %.0f per second (fsync per commit)\n", n, t, n / t);
    ledger_close(&l);
    unlink(path);
    return 0;
}

/* A price list with a change on the hour (day 10) and one inside an hour (day 20, 00:30),
 * so bills have two price periods and read one hour raw. */
static const char price_text[] = "version bench\n"
                                 "effective 2025-12-01T00:00:00Z\n"
                                 "price cpu 20 per vcpu-second\n"
                                 "price memory 3 per GiB-second\n"
                                 "effective 2025-12-11T00:00:00Z\n"
                                 "price cpu 25 per vcpu-second\n"
                                 "effective 2025-12-21T00:30:00Z\n"
                                 "rule cpu used\n";
static struct price_list *prices;

static int bench_invoice(struct ledger *l, int by, const char *what, int64_t to_us, int rollups, int64_t *total)
{
    struct invoice inv;
    double t = now_s();
    if (invoice_init(&inv, "acme", T0, to_us, by, prices) < 0 || invoice_build(&inv, l, rollups) < 0 ||
        invoice_finish(&inv) < 0) {
        fprintf(stderr, "billing-bench: the invoice failed\n");
        return -1;
    }
    t = now_s() - t;
    printf("invoice by %s from %s: %lld buckets + %lld transactions, %zu lines in %.3f s (total %lld micro-units)\n",
           what, rollups ? "roll-ups" : "raw postings", (long long)inv.buckets, (long long)inv.txs, inv.n, t,
           (long long)inv.total);
    *total = inv.total;
    invoice_free(&inv);
    return 0;
}

/* Bytes of one table or index (SQLite's dbstat; 0 where it is not built in). */
static int64_t table_bytes(struct ledger *l, const char *name)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    if (sqlite3_prepare_v2(l->db, "SELECT SUM(pgsize) FROM dbstat WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Bytes per table and index (SQLite's dbstat, where it is built in). */
static void print_tables(struct ledger *l)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    printf("  by table/index:");
    while (sqlite3_step(st) == SQLITE_ROW)
        printf(" %s %.1f MB;", (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1) / 1e6);
    printf("\n");
    sqlite3_finalize(st);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 5 && argc != 6) {
        fprintf(stderr, "usage: billing-bench DIR [DOMAINS DAYS INTERVAL_S [POSTINGS]]\n");
        return 2;
    }
    const char *dir = argv[1];
    int domains = argc > 2 ? atoi(argv[2]) : 1000, days = argc > 3 ? atoi(argv[3]) : 30;
    int interval = argc > 4 ? atoi(argv[4]) : 3600, postings = argc > 5 ? atoi(argv[5]) : 2000;
    if (domains < 1 || days < 1 || interval < 1 || postings < 1 || 86400 % interval) {
        fprintf(stderr, "billing-bench: DOMAINS, DAYS, POSTINGS >= 1; INTERVAL_S divides a day\n");
        return 2;
    }
    log_init("billing-bench", LOG_WARN);
    prices = calloc(1, sizeof(*prices));
    if (!prices || prices_parse(price_text, strlen(price_text), "bench", prices) < 0)
        return 1;
    if (bench_postings(dir, postings) < 0)
        return 1;

    char path[512];
    snprintf(path, sizeof(path), "%s/month.db", dir);
    struct ledger l;
    if (open_fresh(&l, path) < 0)
        return 1;
    sqlite3_exec(l.db, "PRAGMA synchronous=OFF", NULL, NULL, NULL); /* the size does not change */
    int64_t per_day = 86400 / interval, n = (int64_t)domains * days * per_day;
    struct ledger_tx tx;
    int queued;
    double t = now_s();
    for (int64_t k = 0; k < days * per_day; k++)
        for (int d = 0; d < domains; d++) {
            synth(&tx, d, T0 + k * interval * SEC, T0 + (k + 1) * interval * SEC);
            if (ledger_submit(&l, &tx, &queued) != 0 || queued) {
                fprintf(stderr, "billing-bench: synthesising failed\n");
                return 1;
            }
        }
    t = now_s() - t;
    struct stat st;
    if (stat(path, &st) < 0)
        return 1;
    /* The roll-ups grow with domain-hours, the rest with transactions: scaled apart. */
    double rollup = (double)table_bytes(&l, "ledger_rollup");
    double per_tx = ((double)st.st_size - rollup) / (double)n, per_dd = rollup / ((double)domains * days);
    printf("synthesised: %d domains x %d days at %d s = %lld transactions in %.1f s (fsync off)\n", domains, days,
           interval, (long long)n, t);
    printf("ledger size: %lld bytes (roll-ups %.0f): %.0f bytes per transaction + %.0f of roll-ups per domain-day;"
           " %.0f bytes per domain-day at %d s; %.0f bytes (%.3f MiB) per domain-day at xenod's 60 s\n",
           (long long)st.st_size, rollup, per_tx, per_dd, per_tx * (double)per_day + per_dd, interval,
           per_tx * 1440 + per_dd, (per_tx * 1440 + per_dd) / 1048576.0);
    print_tables(&l);
    int64_t to = T0 + (int64_t)days * 86400 * SEC;
    int64_t totals[2][2];
    for (int rollups = 1; rollups >= 0; rollups--)
        if (bench_invoice(&l, INVOICE_BY_RESOURCE, "resource", to, rollups, &totals[rollups][0]) < 0 ||
            bench_invoice(&l, INVOICE_BY_DOMAIN, "domain", to, rollups, &totals[rollups][1]) < 0)
            return 1;
    if (totals[0][0] != totals[1][0] || totals[0][1] != totals[1][1] || totals[0][0] != totals[0][1]) {
        fprintf(stderr, "billing-bench: the bills from roll-ups and from raw postings differ\n");
        return 1;
    }
    ledger_close(&l);
    unlink(path);
    free(prices);
    return 0;
}
