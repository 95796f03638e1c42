/* The ledger's hourly roll-ups (src/daemon/ledger_rollup.c) and the invoices made from them
 * (src/daemon/invoice_build.c): on random ledgers (transactions of every length, some of no
 * length, reversals, renamed domains, network meters that are often zero), random price lists
 * (changes on and off the hour, every rule) and random periods, the bill from the roll-ups
 * equals the bill from the raw postings exactly, line by line, in micro-units. Also: a
 * ledger of schema 1 (before roll-ups and ids) is migrated when opened, losing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/invoice.h"
#include "daemon/ledger.h"
#include "daemon/ledger_rollup.h"

#define SEC 1000000LL
#define HOUR (3600 * SEC)
#define T0 (1764547200LL * SEC) /* 2025-12-01T00:00:00Z */

static uint64_t rng_state;
static uint64_t rnd(void) /* xorshift64*: reproducible from the seed printed on failure */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static int64_t rnd_in(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static const char *const sponsors[] = {"acme", "beta"};
static const char *const rules_cpu[] = {"max", "used", "reserved"};
static const char *const rules_mem[] = {"max", "resident", "allocated"};

/* A random price list of 1..4 blocks over the ledger's three days, half of the changes on
 * an hour boundary. */
static void random_prices(struct price_list *pl)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "version r\n");
    int blocks = (int)rnd_in(1, 4);
    int64_t t = T0 - HOUR * rnd_in(0, 2);
    for (int b = 0; b < blocks; b++) {
        n +=
            (size_t)snprintf(text + n, sizeof(text) - n,
                             "effective %lld\nrule cpu %s\nrule memory %s\nprice cpu %lld per vcpu-second\n"
                             "price memory %lld per GiB-second\nprice net_tx_bytes %lld per 1000 bytes\n"
                             "price net_rx_packets 7 per packet\nprice cpu %lld per vcpu-second sponsor beta\n"
                             "price disk_ops 3 per 1000 ops\nprice disk_bytes 11 per 1000000 bytes\n"
                             "price disk_provisioned 2 per GiB-second\nprice disk_reserved 5 per iops-second\n",
                             (long long)(t / SEC), rules_cpu[rnd() % 3], rules_mem[rnd() % 3], (long long)rnd_in(1, 50),
                             (long long)rnd_in(1, 9), (long long)rnd_in(1, 90), (long long)rnd_in(1, 50));
        t += rnd() % 2 ? HOUR * rnd_in(1, 30) : SEC * rnd_in(1, 40 * 3600);
    }
    assert_int_equal(prices_parse(text, n, "random", pl), 0);
}

static void random_ledger(struct ledger *l, int ntx)
{
    int64_t at[6];
    for (int d = 0; d < 6; d++)
        at[d] = T0 + SEC * rnd_in(0, 7200);
    for (int i = 0; i < ntx; i++) {
        int d = (int)(rnd() % 6);
        struct ledger_tx tx;
        memset(&tx, 0, sizeof(tx));
        snprintf(tx.domain, sizeof(tx.domain), "dom-%d", d);
        snprintf(tx.name, sizeof(tx.name), "name-%d%s", d, rnd() % 10 ? "" : "-renamed");
        snprintf(tx.sponsor, sizeof(tx.sponsor), "%s", sponsors[d % 2]);
        snprintf(tx.key, sizeof(tx.key), "k%d", i);
        int kind = (int)(rnd() % 20);
        int64_t len = kind == 0 ? 0 : kind == 1 ? SEC * rnd_in(3600, 3 * 3600) : SEC * rnd_in(1, 90) + rnd_in(0, 999);
        tx.start_us = at[d];
        tx.end_us = at[d] + len;
        at[d] = tx.end_us + (rnd() % 4 ? 0 : SEC * rnd_in(1, 600));
        for (int k = 0; k < LEDGER_ROLLUP_METERS; k++) {
            int m = ledger_rollup_meter[k];
            tx.q[m] = m >= METER_NET_TX_BYTES && rnd() % 3 ? 0 : rnd_in(0, len / 2 + 5000);
        }
        if (rnd() % 8 == 0) { /* the host's own (overhead, idle): in no bucket, in no bill */
            memset(tx.q, 0, sizeof(tx.q));
            tx.sponsor[0] = 0;
            snprintf(tx.account, sizeof(tx.account), "%s", d % 2 ? "host:idle" : "overhead:xenod");
            for (int m = METER_OVERHEAD_CPU; m < METER__COUNT; m++)
                tx.q[m] = ledger_meter_is_sponsors(m) ? 0 : rnd_in(0, len / 2 + 5000);
        }
        if (rnd() % 30 == 0)
            memset(tx.q, 0, sizeof(tx.q)); /* only a cursor moves: no lines */
        int queued;
        assert_true(ledger_submit(l, &tx, &queued) >= 0); /* 1: a key posted before */
        assert_int_equal(queued, 0);
        if (rnd() % 25 == 0) { /* -ENOENT: a transaction of no lines has nothing to reverse */
            int r = ledger_reverse(l, rnd_in(1, i + 1));
            assert_true(r == 0 || r == 1 || r == -ENOENT);
        }
    }
}

static void bill(struct ledger *l, const struct price_list *pl, const char *sponsor, int64_t from, int64_t to, int by,
                 int rollups, struct invoice *inv)
{
    if (from == INT64_MIN) { /* all time, as billing.c's charges for /metrics */
        memset(inv, 0, sizeof(*inv));
        snprintf(inv->sponsor, sizeof(inv->sponsor), "%s", sponsor);
        inv->from_us = inv->win_from_us = INT64_MIN;
        inv->to_us = inv->win_to_us = INT64_MAX;
        inv->by = by;
        inv->prices = pl;
    } else {
        assert_int_equal(invoice_init(inv, sponsor, from, to, by, pl), 0);
    }
    assert_int_equal(invoice_build(inv, l, rollups), 0);
    assert_int_equal(invoice_finish(inv), 0);
}

/* invoice_add_row for the invoice's sponsor's rows only. */
static void add_sponsors_row(void *ctx, const struct ledger_row *row)
{
    struct invoice *inv = ctx;
    if (strcmp(row->sponsor, inv->sponsor) == 0)
        invoice_add_row(ctx, row);
}

static void assert_same_bill(const struct invoice *a, const struct invoice *b, uint64_t seed)
{
    if (a->n != b->n || a->total != b->total)
        fail_msg("seed %llu: %zu lines, total %lld (raw) vs %zu, %lld (roll-ups)", (unsigned long long)seed, a->n,
                 (long long)a->total, b->n, (long long)b->total);
    for (size_t i = 0; i < a->n; i++) {
        const struct invoice_line *x = &a->lines[i], *y = &b->lines[i];
        int same = strcmp(x->group, y->group) == 0 && strcmp(x->group_id, y->group_id) == 0 &&
                   x->resource == y->resource && x->period == y->period && x->quantity == y->quantity &&
                   x->unit_price == y->unit_price && x->per == y->per && x->amount == y->amount;
        /* What a CPU or memory line was made of is the same too (a bucket counts all its
         * pieces, also those whose network meters are zero: network lines differ there). */
        if (same && x->resource <= RES_MEMORY)
            same = x->from_us == y->from_us && x->to_us == y->to_us && x->first_tx == y->first_tx &&
                   x->last_tx == y->last_tx && x->txs == y->txs;
        if (!same)
            fail_msg("seed %llu line %zu: %s/%d/%d q %lld amount %lld (raw) vs %s/%d/%d q %lld amount %lld",
                     (unsigned long long)seed, i, x->group, x->resource, x->period, (long long)x->quantity,
                     (long long)x->amount, y->group, y->resource, y->period, (long long)y->quantity,
                     (long long)y->amount);
    }
}

static void rollups_bill_exactly_like_raw_postings(void **state)
{
    (void)state;
    struct price_list *pl = calloc(1, sizeof(*pl));
    assert_non_null(pl);
    for (uint64_t seed = 1; seed <= 6; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ULL;
        struct ledger l;
        assert_int_equal(ledger_open(&l, ":memory:"), 0);
        random_ledger(&l, 1500);
        random_prices(pl);
        for (int k = 0; k < 16; k++) {
            int64_t from = k == 0 ? INT64_MIN : T0 + rnd_in(-2, 60) * HOUR + (rnd() % 2 ? rnd_in(0, HOUR) : 0);
            int64_t to = k == 0 ? INT64_MAX : from + rnd_in(1, 70) * HOUR + (rnd() % 2 ? rnd_in(-HOUR / 2, HOUR) : 0);
            for (int by = INVOICE_BY_RESOURCE; by <= INVOICE_BY_DAY; by++)
                for (int s = 0; s < 2; s++) {
                    struct invoice raw, rolled, all;
                    bill(&l, pl, sponsors[s], from, to, by, 0, &raw);
                    bill(&l, pl, sponsors[s], from, to, by, 1, &rolled);
                    assert_same_bill(&raw, &rolled, seed);
                    if (from != INT64_MIN) {
                        /* Against every transaction of the ledger, clipped to the period: the
                         * bounded reads of ledger_for_each miss none. */
                        assert_int_equal(invoice_init(&all, sponsors[s], from, to, by, pl), 0);
                        assert_int_equal(ledger_for_each(&l, NULL, INT64_MIN, INT64_MAX, add_sponsors_row, &all), 0);
                        assert_int_equal(invoice_finish(&all), 0);
                        assert_same_bill(&all, &raw, seed);
                        invoice_free(&all);
                    }
                    invoice_free(&raw);
                    invoice_free(&rolled);
                }
        }
        /* The buckets made with each posting are those a rebuild from the raw postings makes. */
        struct invoice before, after;
        bill(&l, pl, "acme", T0, T0 + 80 * HOUR, INVOICE_BY_DOMAIN, 1, &before);
        assert_int_equal(ledger_rollup_rebuild(&l), 0);
        bill(&l, pl, "acme", T0, T0 + 80 * HOUR, INVOICE_BY_DOMAIN, 1, &after);
        assert_same_bill(&before, &after, seed);
        assert_true(before.n > 0);
        sqlite3_stmt *st; /* the host's rows were posted, and rolled up nowhere */
        assert_int_equal(sqlite3_prepare_v2(l.db,
                                            "SELECT (SELECT COUNT(*) FROM ledger_rollup WHERE sponsor = ''),"
                                            " (SELECT COUNT(*) FROM ledger_tx WHERE sponsor = '')",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 0);
        assert_true(sqlite3_column_int(st, 1) > 50);
        sqlite3_finalize(st);
        invoice_free(&before);
        invoice_free(&after);
        ledger_close(&l);
    }
    free(pl);
}

/* The tables of schema 1, as xenod wrote them before roll-ups (commit 792523a). */
static const char schema_1[] =
    "CREATE TABLE old.ledger_tx("
    "  id BIGINT PRIMARY KEY, idem_key VARCHAR(160) NOT NULL UNIQUE, kind VARCHAR(16) NOT NULL,"
    "  domain_uuid VARCHAR(40) NOT NULL, domain_name VARCHAR(80) NOT NULL, sponsor VARCHAR(136) NOT NULL,"
    "  period_start_us BIGINT NOT NULL, period_end_us BIGINT NOT NULL, posted_us BIGINT NOT NULL,"
    "  reverses BIGINT REFERENCES ledger_tx(id));"
    "CREATE INDEX old.ledger_tx_sponsor ON ledger_tx(sponsor, period_end_us);"
    "CREATE TABLE old.ledger_posting("
    "  tx_id BIGINT NOT NULL REFERENCES ledger_tx(id), line INTEGER NOT NULL,"
    "  account VARCHAR(200) NOT NULL, meter VARCHAR(40) NOT NULL, quantity BIGINT NOT NULL,"
    "  PRIMARY KEY(tx_id, line));"
    "CREATE TABLE old.meter_cursor("
    "  domain_uuid VARCHAR(40) NOT NULL, source INTEGER NOT NULL, instance BIGINT NOT NULL,"
    "  time_ns BIGINT NOT NULL, c0 BIGINT NOT NULL, c1 BIGINT NOT NULL, c2 BIGINT NOT NULL,"
    "  c3 BIGINT NOT NULL, r0 BIGINT NOT NULL, r1 BIGINT NOT NULL, r2 BIGINT NOT NULL, r3 BIGINT NOT NULL,"
    "  PRIMARY KEY(domain_uuid, source));"
    "INSERT INTO old.ledger_tx SELECT * FROM main.ledger_tx;"
    "INSERT INTO old.ledger_posting SELECT * FROM main.ledger_posting;"
    "INSERT INTO old.meter_cursor SELECT * FROM main.meter_cursor;";

static int64_t count(struct ledger *l, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(l->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A ledger of schema 1 (names in every row, no roll-ups, no version) is migrated when opened:
 * every transaction, line and cursor is there as it was (the views show the old tables'
 * rows, compared with EXCEPT both ways against the ledger it was copied from), it balances,
 * its bills are those of the original, and new postings go on from it. */
static void schema_1_ledger_is_migrated(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_daemon_rollup.XXXXXX", cur[64], old[64], sql[256];
    assert_non_null(mkdtemp(dir));
    snprintf(cur, sizeof(cur), "%s/cur.db", dir);
    snprintf(old, sizeof(old), "%s/old.db", dir);
    rng_state = 77;
    struct ledger l, m;
    assert_int_equal(ledger_open(&l, cur), 0);
    random_ledger(&l, 400);
    struct meter_cursor c = {.source = METER_SOURCE_MONITOR, .instance = 3, .time_ns = 99, .counter = {1, 2, 3, 4}};
    struct ledger_tx tx = {.key = "cursor",
                           .domain = "dom-1",
                           .name = "n",
                           .sponsor = "acme",
                           .start_us = T0,
                           .end_us = T0 + SEC,
                           .cursor = c,
                           .has_cursor = 1};
    int queued;
    assert_int_equal(ledger_submit(&l, &tx, &queued), 0);
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS old", old);
    assert_int_equal(sqlite3_exec(l.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(l.db, schema_1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(l.db, "DETACH old", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(ledger_open(&m, old), 0);
    assert_int_equal(count(&m, "SELECT MAX(version) FROM ledger_schema"), LEDGER_SCHEMA_VERSION);
    assert_int_equal(count(&m, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'view' AND name = 'ledger_tx'"), 1);
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS cur", cur);
    assert_int_equal(sqlite3_exec(m.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_true(count(&m, "SELECT COUNT(*) FROM ledger_posting") > 1000);
    static const char *const same[] = {
        "SELECT COUNT(*) FROM (SELECT * FROM main.ledger_tx EXCEPT SELECT * FROM cur.ledger_tx) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM cur.ledger_tx EXCEPT SELECT * FROM main.ledger_tx) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM main.ledger_posting EXCEPT SELECT * FROM cur.ledger_posting) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM cur.ledger_posting EXCEPT SELECT * FROM main.ledger_posting) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM main.meter_cursor EXCEPT SELECT * FROM cur.meter_cursor) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM cur.meter_cursor EXCEPT SELECT * FROM main.meter_cursor) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM main.ledger_rollup EXCEPT SELECT * FROM cur.ledger_rollup) AS x",
        "SELECT COUNT(*) FROM (SELECT * FROM cur.ledger_rollup EXCEPT SELECT * FROM main.ledger_rollup) AS x",
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        if (count(&m, same[i]) != 0)
            fail_msg("not the same after the migration (%s, %s): %s", cur, old, same[i]);
    assert_int_equal(count(&m, "SELECT COUNT(*) FROM cur.ledger_tx"), count(&m, "SELECT COUNT(*) FROM ledger_tx"));
    assert_int_equal(sqlite3_exec(m.db, "DETACH cur", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ledger_check_balance(&m), 0);
    struct meter_cursor back;
    assert_int_equal(ledger_get_cursor(&m, "dom-1", METER_SOURCE_MONITOR, &back), 0);
    assert_int_equal(back.instance, 3);
    assert_int_equal(back.counter[3], 4);

    struct price_list *pl = calloc(1, sizeof(*pl));
    assert_non_null(pl);
    random_prices(pl);
    for (int by = INVOICE_BY_RESOURCE; by <= INVOICE_BY_DAY; by++) {
        struct invoice raw, rolled, orig;
        bill(&l, pl, "beta", T0, T0 + 100 * HOUR, by, 0, &orig);
        bill(&m, pl, "beta", T0, T0 + 100 * HOUR, by, 0, &raw);
        bill(&m, pl, "beta", T0, T0 + 100 * HOUR, by, 1, &rolled);
        assert_true(raw.n > 0);
        assert_same_bill(&orig, &raw, 77);
        assert_same_bill(&raw, &rolled, 77);
        invoice_free(&raw);
        invoice_free(&rolled);
        invoice_free(&orig);
    }
    /* It goes on: new postings (keys k0.. again are refused as duplicates). */
    int64_t n = count(&m, "SELECT COUNT(*) FROM ledger_tx");
    random_ledger(&m, 450);
    assert_true(count(&m, "SELECT COUNT(*) FROM ledger_tx") > n);
    struct invoice raw, rolled;
    bill(&m, pl, "acme", T0, T0 + 100 * HOUR, INVOICE_BY_DOMAIN, 0, &raw);
    bill(&m, pl, "acme", T0, T0 + 100 * HOUR, INVOICE_BY_DOMAIN, 1, &rolled);
    assert_same_bill(&raw, &rolled, 78);
    invoice_free(&raw);
    invoice_free(&rolled);
    ledger_close(&m);
    /* Opened again: nothing to migrate, nothing changes. */
    assert_int_equal(ledger_open(&m, old), 0);
    assert_int_equal(count(&m, "SELECT COUNT(*) FROM ledger_tx"), count(&m, "SELECT COUNT(*) FROM ledger_txn"));
    ledger_close(&m);
    /* A newer xenod's ledger (schema 99) is read, never written: postings wait in memory. */
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS o; UPDATE o.ledger_schema SET version = 99; DETACH o", old);
    assert_int_equal(sqlite3_exec(l.db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ledger_open(&m, old), 0);
    assert_true(ledger_has_sponsor(&m, "acme"));
    struct ledger_tx late = {.key = "late",
                             .domain = "dom-9",
                             .name = "n",
                             .sponsor = "acme",
                             .start_us = T0,
                             .end_us = T0 + SEC,
                             .q = {SEC}};
    assert_int_equal(ledger_submit(&m, &late, &queued), 0);
    assert_int_equal(queued, 1);
    ledger_close(&m);
    ledger_close(&l);
    free(pl);
    unlink(cur);
    unlink(old);
    rmdir(dir);
}

/* A ledger of schema 3 (its roll-ups without the disk columns, no disk usage) is brought to
 * schema 4 when opened: the columns are added (zero in the buckets it had), its bills are what
 * they were, and disk usage posted from then on bills the same from roll-ups as raw. */
static void schema_3_ledger_gains_disk_columns(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_daemon_rollup.XXXXXX", path[64], sql[160];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/v3.db", dir);
    rng_state = 91;
    struct ledger l;
    assert_int_equal(ledger_open(&l, path), 0);
    random_ledger(&l, 300);
    /* Schema 3 as it was: no disk lines, no disk columns. */
    assert_int_equal(sqlite3_exec(l.db, "DELETE FROM ledger_line WHERE meter_id >= 12", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ledger_rollup_rebuild(&l), 0);
    for (int k = 8; k < LEDGER_ROLLUP_METERS; k++) {
        const char *name = meter_info[ledger_rollup_meter[k]].name;
        snprintf(sql, sizeof(sql),
                 "ALTER TABLE ledger_rollup DROP COLUMN %s; ALTER TABLE ledger_rollup DROP COLUMN pieces_%s", name,
                 name);
        assert_int_equal(sqlite3_exec(l.db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(l.db, "UPDATE ledger_schema SET version = 3", NULL, NULL, NULL), SQLITE_OK);
    struct price_list *pl = calloc(1, sizeof(*pl));
    assert_non_null(pl);
    random_prices(pl);
    struct invoice before, raw, rolled;
    bill(&l, pl, "acme", T0, T0 + 100 * HOUR, INVOICE_BY_DOMAIN, 0, &before);
    ledger_close(&l);

    assert_int_equal(ledger_open(&l, path), 0);
    assert_int_equal(count(&l, "SELECT MAX(version) FROM ledger_schema"), 4);
    assert_int_equal(count(&l, "SELECT COUNT(*) FROM ledger_rollup WHERE disk_ops <> 0 OR pieces_disk_bytes <> 0"), 0);
    bill(&l, pl, "acme", T0, T0 + 100 * HOUR, INVOICE_BY_DOMAIN, 1, &rolled);
    assert_same_bill(&before, &rolled, 91);
    invoice_free(&rolled);
    random_ledger(&l, 600); /* disk usage from now on (keys k0..k299 again: duplicates) */
    assert_true(count(&l, "SELECT COUNT(*) FROM ledger_rollup WHERE disk_ops <> 0") > 0);
    for (int by = INVOICE_BY_RESOURCE; by <= INVOICE_BY_DAY; by++) {
        bill(&l, pl, "acme", T0, T0 + 100 * HOUR, by, 0, &raw);
        bill(&l, pl, "acme", T0, T0 + 100 * HOUR, by, 1, &rolled);
        int disk_lines = 0;
        for (size_t i = 0; i < raw.n; i++)
            disk_lines += raw.lines[i].resource >= RES_DISK_OPS && raw.lines[i].amount > 0;
        assert_true(disk_lines > 0);
        assert_same_bill(&raw, &rolled, 92);
        invoice_free(&raw);
        invoice_free(&rolled);
    }
    invoice_free(&before);
    ledger_close(&l);
    free(pl);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rollups_bill_exactly_like_raw_postings),
        cmocka_unit_test(schema_1_ledger_is_migrated),
        cmocka_unit_test(schema_3_ledger_gains_disk_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
