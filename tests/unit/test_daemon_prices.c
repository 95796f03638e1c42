/* The price list (src/daemon/prices.c): the documented format, every error with FILE:LINE,
 * inheritance between effective blocks, per-sponsor overrides, integer amounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/prices.h"
#include "lib/err.h"

static const char good[] = "# test prices\n"
                           "version 2026-12\n"
                           "effective 2026-12-01T00:00:00Z\n"
                           "price cpu 20 per vcpu-second\n"
                           "price memory 3 per GiB-second\n"
                           "price net_tx_bytes 50000 per 1000000000 bytes   # 5 cents a GB\n"
                           "price cpu 10 per vcpu-second sponsor acme\n"
                           "\n"
                           "effective 2026-12-15T12:00:00Z\n"
                           "rule cpu used\n"
                           "price cpu 40 per vcpu-second\n";

static int parse(const char *text, struct price_list *l)
{
    return prices_parse(text, strlen(text), "p.list", l);
}

static void parses_the_documented_format(void **state)
{
    (void)state;
    struct price_list *l = calloc(1, sizeof(*l));
    assert_int_equal(parse(good, l), 0);
    assert_string_equal(l->version, "2026-12");
    assert_int_equal(l->n, 2);
    int64_t t;
    assert_int_equal(prices_parse_time("2026-12-10T00:00:00Z", &t), 0);
    const struct price_period *p = prices_period_at(l, t);
    assert_ptr_equal(p, &l->periods[0]);
    assert_int_equal(prices_entry(p, RES_CPU, "other")->micros, 20);
    assert_int_equal(prices_entry(p, RES_CPU, "acme")->micros, 10);
    assert_int_equal(prices_entry(p, RES_NET_TX_BYTES, NULL)->per, 1000000000);
    assert_null(prices_entry(p, RES_NET_RX_BYTES, NULL));
    assert_int_equal(p->rule_cpu, RULE_MAX);
    /* the second block inherits memory and the acme override, replaces cpu */
    const struct price_period *q = prices_period_at(l, t + 10LL * 86400 * 1000000);
    assert_ptr_equal(q, &l->periods[1]);
    assert_int_equal(prices_entry(q, RES_CPU, "other")->micros, 40);
    assert_int_equal(prices_entry(q, RES_CPU, "acme")->micros, 10);
    assert_int_equal(prices_entry(q, RES_MEMORY, NULL)->micros, 3);
    assert_int_equal(q->rule_cpu, RULE_USED);
    assert_null(prices_period_at(l, 0));
    free(l);
}

static void amounts_are_integer_and_round_down(void **state)
{
    (void)state;
    struct price_entry e = {.resource = RES_NET_TX_BYTES, .micros = 50000, .per = 1000000000};
    /* 3 GB + 1 byte, in micro-bytes */
    assert_int_equal(prices_amount(&e, 3000000001LL * 1000000), 150000);
    struct price_entry c = {.resource = RES_CPU, .micros = 7, .per = 3};
    assert_int_equal(prices_amount(&c, 1000000), 2); /* 7/3 micro -> 2 */
    assert_int_equal(prices_amount(NULL, 1000000), 0);
}

/* Each bad list and the start of the message it must give. */
static void errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"version 1\neffective 2026-12-01T00:00:00Z\nprice cpu 20 per GiB-second\n", "p.list:3: cpu is priced per"},
        {"version 1\nprice cpu 20 per vcpu-second\n", "p.list:2: 'price' before any"},
        {"version 1\neffective 2026-13-01T00:00:00Z\n", "p.list:2: time"},
        {"version 1\neffective 2026-12-02T00:00:00Z\neffective 2026-12-01T00:00:00Z\n", "p.list:3: effective"},
        {"version 1\neffective 0\nprice disk 1 per byte\n", "p.list:3: unknown resource 'disk'"},
        {"version 1\neffective 0\nprice cpu 1.5 per vcpu-second\n", "p.list:3: price '1.5'"},
        {"version 1\neffective 0\nprice cpu -1 per vcpu-second\n", "p.list:3: price '-1'"},
        {"version 1\neffective 0\nprice cpu 99999999999999999999 per vcpu-second\n", "p.list:3: price"},
        {"version 1\neffective 0\nprice cpu 1 per 0 vcpu-second\n", "p.list:3: 'per 0'"},
        {"version 1\neffective 0\nprice cpu 1 per vcpu-second sponsor a/b\n", "p.list:3: sponsor name"},
        {"version 1\neffective 0\nprice cpu 1 per vcpu-second for acme\n", "p.list:3: unexpected 'for'"},
        {"version 1\neffective 0\nprice cpu 1 per vcpu-second\nprice cpu 2 per vcpu-second\n",
         "p.list:4: cpu is priced twice"},
        {"version 1\neffective 0\nrule cpu min\n", "p.list:3: expected 'rule cpu"},
        {"version 1\neffective 0\nprise cpu 1 per vcpu-second\n", "p.list:3: unknown keyword 'prise'"},
        {"version 1\neffective 0\nprice cpu 1 per vcpu-second\x01\n", "p.list:3: control character"},
        {"effective 0\n", "p.list:1: no 'version"},
        {"version 1\n", "p.list:1: no 'effective"},
    };
    struct price_list *l = calloc(1, sizeof(*l));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].text, l), -EINVAL);
        if (strncmp(err_msg(), bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("case %zu: got '%s', want '%s...'", i, err_msg(), bad[i].msg);
    }
    free(l);
}

static void times_parse_both_ways(void **state)
{
    (void)state;
    int64_t t;
    char buf[32];
    assert_int_equal(prices_parse_time("1700000000", &t), 0);
    assert_int_equal(t, 1700000000LL * 1000000);
    assert_string_equal(prices_format_time(t, buf, sizeof(buf)), "2023-11-14T22:13:20Z");
    assert_int_equal(prices_parse_time("2023-11-14T22:13:20Z", &t), 0);
    assert_int_equal(t, 1700000000LL * 1000000);
    assert_int_equal(prices_parse_time("yesterday", &t), -EINVAL);
    assert_int_equal(prices_parse_time("-5", &t), -EINVAL);
    assert_int_equal(prices_parse_time("", &t), -EINVAL);
}

/* The example list (examples/prices.txt; run from the repository root, as tests/run.sh does)
 * parses and prices every resource, the disk resources among them. */
static void example_list_parses(void **state)
{
    (void)state;
    struct price_list *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    assert_int_equal(prices_load("examples/prices.txt", l), 0);
    assert_int_equal(l->n, 2);
    for (int res = 0; res < RES__COUNT; res++)
        assert_non_null(prices_entry(&l->periods[0], res, "beta"));
    const struct price_entry *e = prices_entry(&l->periods[1], RES_DISK_PROVISIONED, "beta");
    assert_int_equal(e->micros, 2);
    assert_int_equal(e->per, 1000);
    e = prices_entry(&l->periods[1], RES_DISK_OPS, "beta");
    assert_int_equal(e->micros, 4);
    assert_int_equal(prices_amount(e, 2500 * 1000000LL), 10); /* 2500 ops at 4 per 1000 */
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_documented_format), cmocka_unit_test(amounts_are_integer_and_round_down),
        cmocka_unit_test(errors_name_file_and_line),    cmocka_unit_test(times_parse_both_ways),
        cmocka_unit_test(example_list_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
