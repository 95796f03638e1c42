/* GET /metrics's text (src/lib/prom_text.c, src/daemon/metrics_format.c): the exposition
 * format's escaping, HELP and TYPE before the samples of each family, names checked, numbers
 * exact, and a counter that grows prints larger. The output of metrics_format is also read
 * back line by line here; tests/integration/metrics.sh runs promtool and a real Prometheus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"
#include "lib/prom_text.h"

static void label_values_are_escaped(void **state)
{
    (void)state;
    struct prom_text w;
    prom_text_init(&w);
    struct prom_label l[2] = {{"domain", "a\\b\"c\nd"}, {"sponsor", "x"}};
    assert_int_equal(prom_text_sample_u64(&w, "m", l, 2, 7), 0);
    assert_string_equal(w.buf, "m{domain=\"a\\\\b\\\"c\\nd\",sponsor=\"x\"} 7\n");
    prom_text_free(&w);

    /* Bytes that are not UTF-8 become U+FFFD; valid multi-byte characters stay. */
    prom_text_init(&w);
    struct prom_label bad = {"domain", "\xff\xc0\x80"
                                       "caf\xc3\xa9"
                                       "\xed\xa0\x80"};
    prom_text_sample_u64(&w, "m", &bad, 1, 0);
    assert_string_equal(w.buf, "m{domain=\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                               "caf\xc3\xa9"
                               "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"} 0\n");
    prom_text_free(&w);
}

static void help_and_type_lines(void **state)
{
    (void)state;
    struct prom_text w;
    prom_text_init(&w);
    prom_text_family(&w, "xeno_x_total", PROM_COUNTER, "a \\ b\nc \"q\"");
    prom_text_family(&w, "xeno_y", PROM_GAUGE, "y");
    /* HELP escapes backslash and newline, not quotes. */
    assert_string_equal(w.buf, "# HELP xeno_x_total a \\\\ b\\nc \"q\"\n# TYPE xeno_x_total counter\n"
                               "# HELP xeno_y y\n# TYPE xeno_y gauge\n");
    prom_text_free(&w);
}

static void names_are_checked(void **state)
{
    (void)state;
    assert_true(prom_metric_name_valid("xeno_a:b_total"));
    assert_false(prom_metric_name_valid("1abc"));
    assert_false(prom_metric_name_valid("a-b"));
    assert_false(prom_metric_name_valid(""));
    assert_true(prom_label_name_valid("domain"));
    assert_false(prom_label_name_valid("__name__"));
    assert_false(prom_label_name_valid("a:b"));
    struct prom_text w;
    prom_text_init(&w);
    struct prom_label l = {"bad-name", "v"};
    assert_int_equal(prom_text_sample_u64(&w, "m", &l, 1, 1), -EINVAL);
    /* The first error sticks: later calls write nothing. */
    assert_int_equal(prom_text_sample_u64(&w, "ok", NULL, 0, 1), -EINVAL);
    assert_int_equal(prom_text_error(&w), -EINVAL);
    assert_int_equal(w.len, 0);
    prom_text_free(&w);
}

static void numbers_are_exact(void **state)
{
    (void)state;
    struct prom_text w;
    prom_text_init(&w);
    prom_text_sample_u64(&w, "a", NULL, 0, UINT64_MAX);
    prom_text_sample_ns_s(&w, "b", NULL, 0, 1234567890123456789ull);
    prom_text_sample_ns_s(&w, "c", NULL, 0, 5);
    prom_text_sample_double(&w, "d", NULL, 0, 0.25);
    prom_text_sample_double(&w, "e", NULL, 0, 0.1);
    prom_text_sample_double(&w, "f", NULL, 0, -INFINITY);
    assert_string_equal(w.buf, "a 18446744073709551615\nb 1234567890.123456789\nc 0.000000005\nd 0.25\ne 0.1\n"
                               "f -Inf\n");
    prom_text_free(&w);
}

static struct metrics_domain dom(const char *name, const char *sponsor, uint64_t cpu_ns)
{
    struct metrics_domain d = {.vcpus = 2, .memory_max_bytes = 64 << 20, .memory_target_bytes = 32 << 20};
    snprintf(d.name, sizeof(d.name), "%s", name);
    snprintf(d.uuid, sizeof(d.uuid), "%s", "0b2a4c1e-96a1-4d47-8a2b-6c7d8e9f0a1b");
    snprintf(d.sponsor, sizeof(d.sponsor), "%s", sponsor);
    snprintf(d.state, sizeof(d.state), "running");
    d.have_stats = 1;
    d.cpu_ns = cpu_ns;
    d.resident_bytes = 4096;
    return d;
}

/* The value of the first sample line that starts with `series` (name and labels), or -1. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *format(struct metrics_domain *d, unsigned n)
{
    struct metrics_snapshot s = {.host = {.cpus = 4, .reserved_ppm = 500000, .domains = n, .running = n}, .domains = d};
    struct prom_text w;
    prom_text_init(&w);
    assert_int_equal(metrics_format(&s, "0.1", &w), 0);
    return w.buf;
}

/* Every family's HELP and TYPE come once and before its first sample; every sample line's
 * name is a family's. */
static void families_come_before_their_samples(void **state)
{
    (void)state;
    struct metrics_domain d[2] = {dom("web", "acme", 1), dom("db\"x", "ac\\me", 2)};
    d[1].have_stats = 0;
    char *text = format(d, 2);
    char typed[64][80];
    int ntyped = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[80];
        if (sscanf(line, "# TYPE %79s", name) == 1) {
            for (int i = 0; i < ntyped; i++)
                if (strcmp(typed[i], name) == 0)
                    fail_msg("TYPE of %s twice", name);
            snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
        } else if (line[0] != '#') {
            size_t len = strcspn(line, "{ ");
            if (ntyped == 0 || strlen(typed[ntyped - 1]) != len || strncmp(typed[ntyped - 1], line, len) != 0)
                fail_msg("sample not under its own TYPE: %s", line);
        }
    }
    free(text);
}

static void domain_figures_and_state(void **state)
{
    (void)state;
    struct metrics_domain d[2] = {dom("web", "acme", 1500000000ull), dom("db", "acme", 0)};
    d[1].have_stats = 0;
    snprintf(d[1].state, sizeof(d[1].state), "shutdown");
    d[0].have_net = 1;
    d[0].rx_bytes = 100, d[0].tx_packets = 3;
    d[0].cpu_reservation_ppm = 250000;
    d[0].have_disk = 1;
    d[0].disk_read_ops = 7, d[0].disk_write_bytes = 4096, d[0].disk_throttled_ns = 2500000000ull;
    d[0].disk_size_bytes = 1ull << 30;
    char *t = format(d, 2);
#define L(name) "{domain=\"" name "\",uuid=\"0b2a4c1e-96a1-4d47-8a2b-6c7d8e9f0a1b\",sponsor=\"acme\"}"
    assert_true(value_of(t, "xeno_domain_cpu_seconds_total" L("web")) == 1.5);
    assert_true(value_of(t, "xeno_domain_cpu_seconds_total" L("db")) == -1); /* not running: no sample */
    assert_true(value_of(t, "xeno_domain_vcpus" L("db")) == 2);
    assert_true(value_of(t, "xeno_domain_memory_target_bytes" L("web")) == 32 << 20);
    assert_true(value_of(t, "xeno_domain_network_receive_bytes_total" L("web")) == 100);
    assert_true(value_of(t, "xeno_domain_network_transmit_packets_total" L("web")) == 3);
    assert_true(value_of(t, "xeno_domain_network_receive_bytes_total" L("db")) == -1);
    assert_true(value_of(t, "xeno_domain_cpu_reserved_ratio" L("web")) == 0.25);
    assert_true(value_of(t, "xeno_domain_disk_read_ops_total" L("web")) == 7);
    assert_true(value_of(t, "xeno_domain_disk_write_ops_total" L("web")) == 0);
    assert_true(value_of(t, "xeno_domain_disk_write_bytes_total" L("web")) == 4096);
    assert_true(value_of(t, "xeno_domain_disk_throttled_seconds_total" L("web")) == 2.5);
    assert_true(value_of(t, "xeno_domain_disk_provisioned_bytes" L("web")) == 1 << 30);
    assert_true(value_of(t, "xeno_domain_disk_read_ops_total" L("db")) == -1); /* no disk served: no sample */
    assert_true(value_of(t, "xeno_host_cpu_reserved_ratio") == 0.125);
    assert_true(value_of(t, "xeno_build_info{version=\"0.1\"}") == 1);
#define S(name, st)                                                                                                    \
    "{domain=\"" name "\",uuid=\"0b2a4c1e-96a1-4d47-8a2b-6c7d8e9f0a1b\",sponsor=\"acme\",state=\"" st "\"}"
    assert_true(value_of(t, "xeno_domain_state" S("web", "running")) == 1);
    assert_true(value_of(t, "xeno_domain_state" S("web", "shutdown")) == 0);
    assert_true(value_of(t, "xeno_domain_state" S("db", "shutdown")) == 1);
    assert_true(value_of(t, "xeno_domain_state" S("db", "running")) == 0);
    free(t);
}

/* Each sponsor's charges, exact integer micro-units (above 2^53, where a double would round);
 * without billing the family is there with no samples. */
static void sponsor_charges(void **state)
{
    (void)state;
    struct metrics_sponsor sp[2] = {{"acme", 9007199254740993LL}, {"b\"o\nb", 250}};
    struct metrics_snapshot s = {.host = {.cpus = 1}, .sponsors = sp, .nsponsors = 2, .have_charges = 1};
    struct prom_text w;
    prom_text_init(&w);
    assert_int_equal(metrics_format(&s, "0.1", &w), 0);
    assert_non_null(strstr(w.buf, "# TYPE xeno_sponsor_charge_micros_total counter\n"));
    assert_non_null(strstr(w.buf, "xeno_sponsor_charge_micros_total{sponsor=\"acme\"} 9007199254740993\n"));
    assert_non_null(strstr(w.buf, "xeno_sponsor_charge_micros_total{sponsor=\"b\\\"o\\nb\"} 250\n"));
    prom_text_free(&w);
    s.have_charges = 0;
    prom_text_init(&w);
    assert_int_equal(metrics_format(&s, "0.1", &w), 0);
    assert_non_null(strstr(w.buf, "# TYPE xeno_sponsor_charge_micros_total counter\n"));
    assert_null(strstr(w.buf, "xeno_sponsor_charge_micros_total{"));
    prom_text_free(&w);
}

/* A counter that grows, by as little as a nanosecond, prints as a larger number: the text
 * is exact, so no rounding makes a scraper see a counter go back (and count a reset). */
static void counters_never_print_smaller(void **state)
{
    (void)state;
    uint64_t steps[] = {0, 1, 999999999, 1000000000, 1000000001, 9007199254740993ull, 18446744073709551614ull};
    char prev[64] = "";
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct metrics_domain d = dom("web", "acme", steps[i]);
        char *t = format(&d, 1);
        const char *series = "xeno_domain_cpu_seconds_total" L("web") " ";
        const char *p = strstr(t, series);
        assert_non_null(p);
        char now[64];
        snprintf(now, sizeof(now), "%.*s", (int)strcspn(p + strlen(series), "\n"), p + strlen(series));
        if (i) {
            /* Same-format decimals: longer integer part, or same length and lexically larger. */
            size_t a = strcspn(prev, "."), b = strcspn(now, ".");
            if (!(b > a || (b == a && strcmp(now, prev) > 0)))
                fail_msg("%s then %s", prev, now);
        }
        snprintf(prev, sizeof(prev), "%s", now);
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(help_and_type_lines),
        cmocka_unit_test(names_are_checked),
        cmocka_unit_test(numbers_are_exact),
        cmocka_unit_test(families_come_before_their_samples),
        cmocka_unit_test(domain_figures_and_state),
        cmocka_unit_test(counters_never_print_smaller),
        cmocka_unit_test(sponsor_charges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
