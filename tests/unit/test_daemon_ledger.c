/* The ledger (src/daemon/ledger.c) on an in-memory SQLite database and the invoices made
 * from it (src/daemon/invoice.c): double entry, idempotency keys, reversals, the backlog
 * while the database refuses writes, and price changes that split a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/invoice.h"
#include "daemon/ledger.h"
#include "lib/err.h"

#define SEC 1000000LL           /* microseconds */
#define T0 (1764547200LL * SEC) /* 2025-12-01T00:00:00Z */

static int setup(void **state)
{
    struct ledger *l = calloc(1, sizeof(*l));
    if (!l || ledger_open(l, ":memory:") < 0)
        return -1;
    *state = l;
    return 0;
}

static int teardown(void **state)
{
    ledger_close(*state);
    free(*state);
    return 0;
}

static struct ledger_tx usage(const char *sponsor, const char *dom, int64_t start, int64_t end, int64_t used,
                              int64_t reserved)
{
    struct ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    snprintf(tx.key, sizeof(tx.key), "%s/0/1/%lld", dom, (long long)end);
    snprintf(tx.domain, sizeof(tx.domain), "%s", dom);
    snprintf(tx.name, sizeof(tx.name), "name-%s", dom);
    snprintf(tx.sponsor, sizeof(tx.sponsor), "%s", sponsor);
    tx.start_us = start;
    tx.end_us = end;
    tx.q[METER_VCPU_USED] = used;
    tx.q[METER_VCPU_RESERVED] = reserved;
    return tx;
}

struct sum {
    int n;
    int64_t q[METER__COUNT];
};

static void add(void *ctx, const struct ledger_row *row)
{
    struct sum *s = ctx;
    s->n++;
    for (int m = 0; m < METER__COUNT; m++)
        s->q[m] += row->q[m];
}

static void same_key_is_posted_once(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct ledger_tx tx = usage("acme", "d1", T0, T0 + 60 * SEC, 30 * SEC, 15 * SEC);
    tx.has_cursor = 1;
    tx.cursor.instance = 77;
    tx.cursor.time_ns = 123;
    assert_int_equal(ledger_submit(l, &tx, &queued), 0);
    assert_int_equal(queued, 0);
    assert_int_equal(ledger_submit(l, &tx, &queued), 1); /* a restarted xenod posting it again */
    struct sum s = {0};
    assert_int_equal(ledger_for_each(l, "acme", T0, T0 + 3600 * SEC, add, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.q[METER_VCPU_USED], 30 * SEC);
    assert_int_equal(ledger_check_balance(l), 0);
    struct meter_cursor c;
    assert_int_equal(ledger_get_cursor(l, "d1", METER_SOURCE_MONITOR, &c), 0);
    assert_int_equal(c.instance, 77);
    assert_int_equal(ledger_get_cursor(l, "d1", METER_SOURCE_NET, &c), -ENOENT);
    /* another sponsor's rows are not read */
    memset(&s, 0, sizeof(s));
    ledger_for_each(l, "other", T0, T0 + 3600 * SEC, add, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(ledger_has_sponsor(l, "acme"), 1);
    assert_int_equal(ledger_has_sponsor(l, "other"), 0);
}

static void reversal_cancels_and_balances(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct ledger_tx tx = usage("acme", "d1", T0, T0 + 60 * SEC, 30 * SEC, 0);
    ledger_submit(l, &tx, &queued);
    assert_int_equal(ledger_reverse(l, 1), 0);
    assert_int_equal(ledger_reverse(l, 1), 1);
    assert_int_equal(ledger_reverse(l, 99), -ENOENT);
    struct sum s = {0};
    ledger_for_each(l, "acme", T0, T0 + 60 * SEC, add, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.q[METER_VCPU_USED], 0);
    assert_int_equal(ledger_check_balance(l), 0);
}

static void refused_writes_wait_in_order_then_post(void **state)
{
    struct ledger *l = *state;
    int queued;
    sqlite3_exec(l->db, "PRAGMA query_only=1", NULL, NULL, NULL); /* what a read-only file does */
    for (int i = 0; i < 3; i++) {
        struct ledger_tx tx = usage("acme", "d1", T0 + i * 60 * SEC, T0 + (i + 1) * 60 * SEC, SEC, 0);
        assert_int_equal(ledger_submit(l, &tx, &queued), 0);
        assert_int_equal(queued, 1);
    }
    assert_int_equal(l->backlog_n, 3);
    assert_int_equal(ledger_flush(l), 3);
    sqlite3_exec(l->db, "PRAGMA query_only=0", NULL, NULL, NULL);
    assert_int_equal(ledger_flush(l), 0);
    struct sum s = {0};
    ledger_for_each(l, "acme", T0, T0 + 3600 * SEC, add, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.q[METER_VCPU_USED], 3 * SEC);
}

static void full_backlog_merges_instead_of_losing(void **state)
{
    struct ledger *l = *state;
    int queued;
    sqlite3_exec(l->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    for (int i = 0; i < LEDGER_BACKLOG_MAX + 10; i++) {
        struct ledger_tx tx = usage("acme", i % 2 ? "d1" : "d2", T0 + i * SEC, T0 + (i + 1) * SEC, SEC, 0);
        assert_int_equal(ledger_submit(l, &tx, &queued), 0);
    }
    assert_int_equal(l->backlog_n, LEDGER_BACKLOG_MAX);
    assert_int_equal(l->merged, 10);
    struct ledger_tx other = usage("acme", "d3", T0, T0 + SEC, SEC, 0);
    assert_int_equal(ledger_submit(l, &other, &queued), -ENOSPC);
    sqlite3_exec(l->db, "PRAGMA query_only=0", NULL, NULL, NULL);
    assert_int_equal(ledger_flush(l), 0);
    struct sum s = {0};
    ledger_for_each(l, "acme", T0, T0 + 86400 * SEC, add, &s);
    assert_int_equal(s.q[METER_VCPU_USED], (LEDGER_BACKLOG_MAX + 10) * SEC);
}

static const char prices[] = "version t\n"
                             "effective 2025-12-01T00:00:00Z\n"
                             "price cpu 10 per vcpu-second\n"
                             "price cpu 5 per vcpu-second sponsor cheap\n"
                             "effective 2025-12-01T00:01:00Z\n"
                             "price cpu 20 per vcpu-second\n";

static void price_change_splits_the_line(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct price_list *pl = calloc(1, sizeof(*pl));
    assert_int_equal(prices_parse(prices, strlen(prices), "t", pl), 0);
    /* 0..120 s: used 40 s, reserved 60 s: max = reserved; the price doubles at 60 s */
    struct ledger_tx tx = usage("acme", "d1", T0, T0 + 120 * SEC, 40 * SEC, 60 * SEC);
    ledger_submit(l, &tx, &queued);
    struct ledger_tx tx2 = usage("cheap", "d2", T0, T0 + 120 * SEC, 120 * SEC, 0);
    ledger_submit(l, &tx2, &queued);
    struct invoice inv;
    assert_int_equal(invoice_init(&inv, "acme", T0, T0 + 3600 * SEC, INVOICE_BY_RESOURCE, pl), 0);
    ledger_for_each(l, "acme", inv.from_us, inv.to_us, invoice_add_row, &inv);
    assert_int_equal(invoice_finish(&inv), 0);
    assert_int_equal(inv.n, 4); /* cpu and memory, before and after the change */
    assert_int_equal(inv.lines[0].resource, RES_CPU);
    assert_int_equal(inv.lines[0].quantity, 30 * SEC);
    assert_int_equal(inv.lines[0].amount, 300);
    assert_int_equal(inv.lines[0].to_us, T0 + 60 * SEC);
    assert_int_equal(inv.lines[1].quantity, 30 * SEC);
    assert_int_equal(inv.lines[1].amount, 600);
    assert_int_equal(inv.total, 900);
    invoice_free(&inv);
    /* the override applies to its sponsor only, and the next block inherits it */
    invoice_init(&inv, "cheap", T0, T0 + 3600 * SEC, INVOICE_BY_RESOURCE, pl);
    ledger_for_each(l, "cheap", inv.from_us, inv.to_us, invoice_add_row, &inv);
    invoice_finish(&inv);
    assert_int_equal(inv.total, 120 * 5);
    invoice_free(&inv);
    /* a period that cuts a transaction takes its share */
    invoice_init(&inv, "acme", T0 + 90 * SEC, T0 + 3600 * SEC, INVOICE_BY_DOMAIN, pl);
    ledger_for_each(l, "acme", inv.from_us, inv.to_us, invoice_add_row, &inv);
    invoice_finish(&inv);
    assert_string_equal(inv.lines[0].group, "name-d1");
    assert_int_equal(inv.lines[0].quantity, 15 * SEC);
    invoice_free(&inv);
    free(pl);
}

static void bad_periods_are_refused(void **state)
{
    (void)state;
    struct invoice inv;
    assert_int_equal(invoice_init(&inv, "acme", T0, T0, INVOICE_BY_DAY, NULL), -EINVAL);
    assert_int_equal(invoice_init(&inv, "acme", T0 + SEC, T0, INVOICE_BY_DAY, NULL), -EINVAL);
    assert_int_equal(invoice_init(&inv, "acme", 0, 400LL * 365 * 86400 * SEC, INVOICE_BY_DAY, NULL), -EINVAL);
    int by;
    assert_int_equal(invoice_by_parse("week", &by), -EINVAL);
    assert_int_equal(invoice_by_parse("day", &by), 0);
    assert_int_equal(by, INVOICE_BY_DAY);
}

static void by_day_splits_at_midnight(void **state)
{
    struct ledger *l = *state;
    int queued;
    /* 23:59:00 .. 00:01:00: half each day */
    struct ledger_tx tx = usage("acme", "d1", T0 - 60 * SEC, T0 + 60 * SEC, 7, 0);
    ledger_submit(l, &tx, &queued);
    struct invoice inv;
    invoice_init(&inv, "acme", T0 - 86400 * SEC, T0 + 86400 * SEC, INVOICE_BY_DAY, NULL);
    ledger_for_each(l, "acme", inv.from_us, inv.to_us, invoice_add_row, &inv);
    invoice_finish(&inv);
    int64_t total = 0;
    for (size_t i = 0; i < inv.n; i++)
        if (inv.lines[i].resource == RES_CPU)
            total += inv.lines[i].quantity;
    assert_int_equal(total, 7); /* the pieces add up exactly */
    assert_string_equal(inv.lines[0].group, "2025-11-30");
    assert_string_equal(inv.lines[inv.n - 1].group, "2025-12-01");
    invoice_free(&inv);
}

/* --explain: for every line of a bill split by a price change, a cut period and two domains,
 * the kept pieces' billable add up to exactly the line's quantity, and each piece is the
 * rule applied to its shares of the transaction's own postings. */
static void explained_pieces_sum_to_the_line(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct price_list *pl = calloc(1, sizeof(*pl));
    assert_int_equal(prices_parse(prices, strlen(prices), "t", pl), 0);
    const int64_t used[] = {40 * SEC + 7, 3 * SEC, 59 * SEC + 1, 11};
    for (int i = 0; i < 4; i++) {
        struct ledger_tx tx =
            usage("acme", i % 2 ? "d2" : "d1", T0 + i * 37 * SEC, T0 + (i + 1) * 37 * SEC + 3, used[i], 20 * SEC + i);
        assert_int_equal(ledger_submit(l, &tx, &queued), 0);
    }
    struct invoice bill;
    assert_int_equal(invoice_init(&bill, "acme", T0 + 5 * SEC, T0 + 3600 * SEC, INVOICE_BY_DOMAIN, pl), 0);
    ledger_for_each(l, "acme", bill.from_us, bill.to_us, invoice_add_row, &bill);
    assert_int_equal(invoice_finish(&bill), 0);
    assert_true(bill.n >= 4);
    for (size_t i = 0; i < bill.n; i++) {
        struct invoice inv;
        assert_int_equal(invoice_init(&inv, "acme", bill.from_us, bill.to_us, INVOICE_BY_DOMAIN, pl), 0);
        invoice_explain(&inv, &bill.lines[i]);
        ledger_for_each(l, "acme", inv.from_us, inv.to_us, invoice_add_row, &inv);
        assert_int_equal(invoice_finish(&inv), 0);
        assert_int_equal(invoice_find_wanted(&inv), (long)i);
        int64_t sum = 0;
        for (size_t k = 0; k < inv.npieces; k++) {
            const struct invoice_piece *p = &inv.pieces[k];
            if (bill.lines[i].resource == RES_CPU) {
                assert_int_equal(p->billable, p->part[0] > p->part[1] ? p->part[0] : p->part[1]);
                assert_true(p->raw[0] >= p->part[0] && p->raw[1] >= p->part[1]);
            }
            assert_true(p->from_us >= p->tx_start_us && p->to_us <= p->tx_end_us && p->key[0]);
            sum += p->billable;
        }
        assert_true(inv.npieces > 0);
        assert_int_equal(sum, bill.lines[i].quantity);
        invoice_free(&inv);
    }
    invoice_free(&bill);
    free(pl);
}

/* The host's own transactions (overhead, idle): their own account, kind "host", no sponsor:
 * no sponsor's bill reads them, ledger_for_each_host does, and they balance. */
static void host_transactions_are_nobody_s(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct ledger_tx u = usage("acme", "d1", T0, T0 + 60 * SEC, 30 * SEC, 0);
    struct ledger_tx o;
    memset(&o, 0, sizeof(o));
    snprintf(o.key, sizeof(o.key), "xenod/overhead/1/2");
    snprintf(o.domain, sizeof(o.domain), "xenod");
    snprintf(o.name, sizeof(o.name), "xenod");
    snprintf(o.account, sizeof(o.account), "overhead:xenod");
    o.start_us = T0;
    o.end_us = T0 + 60 * SEC;
    o.q[METER_OVERHEAD_CPU] = 2 * SEC;
    assert_int_equal(ledger_submit(l, &u, &queued), 0);
    assert_int_equal(ledger_submit(l, &o, &queued), 0);
    struct sum s = {0};
    ledger_for_each(l, "acme", T0, T0 + 3600 * SEC, add, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.q[METER_OVERHEAD_CPU], 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ledger_for_each_host(l, T0, T0 + 3600 * SEC, add, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.q[METER_OVERHEAD_CPU], 2 * SEC);
    assert_int_equal(s.q[METER_VCPU_USED], 0);
    assert_int_equal(ledger_check_balance(l), 0);
}

/* A host transaction's reversal credits the very account it debited (not a sponsor's domain
 * account): the host's rows net to zero, it is a host row itself, and no sponsor sees it. */
static void host_reversal_credits_its_own_account(void **state)
{
    struct ledger *l = *state;
    int queued;
    struct ledger_tx u = usage("acme", "d1", T0, T0 + 60 * SEC, 30 * SEC, 0);
    struct ledger_tx o;
    memset(&o, 0, sizeof(o));
    snprintf(o.key, sizeof(o.key), "d1/overhead/1/2");
    snprintf(o.domain, sizeof(o.domain), "d1");
    snprintf(o.name, sizeof(o.name), "xeno-vmm:name-d1");
    snprintf(o.account, sizeof(o.account), "overhead:xeno-vmm/domain:d1");
    o.start_us = T0;
    o.end_us = T0 + 60 * SEC;
    o.q[METER_OVERHEAD_CPU] = 2 * SEC;
    o.q[METER_OVERHEAD_MEMORY] = 5 * SEC;
    assert_int_equal(ledger_submit(l, &u, &queued), 0);
    assert_int_equal(ledger_submit(l, &o, &queued), 0);
    assert_int_equal(ledger_reverse(l, 2), 0);
    assert_int_equal(ledger_reverse(l, 2), 1);
    struct sum s = {0};
    assert_int_equal(ledger_for_each_host(l, T0, T0 + 3600 * SEC, add, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.q[METER_OVERHEAD_CPU], 0);
    assert_int_equal(s.q[METER_OVERHEAD_MEMORY], 0);
    memset(&s, 0, sizeof(s));
    ledger_for_each(l, "acme", T0, T0 + 3600 * SEC, add, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.q[METER_VCPU_USED], 30 * SEC);
    memset(&s, 0, sizeof(s));
    ledger_for_each(l, NULL, T0, T0 + 3600 * SEC, add, &s); /* every sponsor: still not the host */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.q[METER_OVERHEAD_CPU], 0);
    /* The reversal's lines: the overhead account credited, the host debited, nothing else. */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(l->db,
                                        "SELECT COUNT(*), SUM(CASE WHEN account = 'overhead:xeno-vmm/domain:d1'"
                                        " THEN quantity ELSE 0 END) FROM ledger_posting WHERE tx_id = 3",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 4);
    assert_int_equal(sqlite3_column_int64(st, 1), -7 * SEC);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(l->db,
                                        "SELECT COUNT(*) FROM ledger_tx WHERE sponsor = '' AND kind = 'reversal'", -1,
                                        &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(ledger_check_balance(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_key_is_posted_once, setup, teardown),
        cmocka_unit_test_setup_teardown(reversal_cancels_and_balances, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_writes_wait_in_order_then_post, setup, teardown),
        cmocka_unit_test_setup_teardown(full_backlog_merges_instead_of_losing, setup, teardown),
        cmocka_unit_test_setup_teardown(price_change_splits_the_line, setup, teardown),
        cmocka_unit_test(bad_periods_are_refused),
        cmocka_unit_test_setup_teardown(by_day_splits_at_midnight, setup, teardown),
        cmocka_unit_test_setup_teardown(explained_pieces_sum_to_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(host_transactions_are_nobody_s, setup, teardown),
        cmocka_unit_test_setup_teardown(host_reversal_credits_its_own_account, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
