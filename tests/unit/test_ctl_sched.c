/* xenctl's CPU scheduling views (src/ctl/cmd_sched.c): the `sched` table and details and a
 * `top` frame, from API JSON to exact text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/sched_view.h"
#include "ctl/top_cost.h"

static char *render(int (*fn)(const json_t *, FILE *), const json_t *j)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(fn(j, f), 0);
    fclose(f);
    return buf;
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in the test: %s", e.text);
    return j;
}

static void sched_table(void **state)
{
    (void)state;
    json_t *doms = load("[{\"name\": \"web\", \"id\": 4, \"state\": \"running\", \"cpu_time_s\": 12.34,"
                        "  \"sched\": {\"reservation_percent\": 30, \"limit_percent\": 12.5, \"weight\": 512,"
                        "              \"period_us\": 10000}},"
                        " {\"name\": \"batch\", \"id\": null, \"state\": \"shutdown\", \"cpu_time_s\": 0,"
                        "  \"sched\": {\"reservation_percent\": 0, \"limit_percent\": null, \"weight\": 1024,"
                        "              \"period_us\": 2500}}]");
    char *out = render(ctl_render_sched_list, doms);
    assert_string_equal(out, "Name   ID  State     Reservation  Limit  Weight   Period  Time(s)\n"
                             "web     4  running           30%  12.5%     512    10 ms     12.3\n"
                             "batch   -  shutdown           0%   none    1024  2500 us      0.0\n");
    free(out);
    json_decref(doms);
}

static void render_info(const json_t *j, FILE *f, int *unused)
{
    (void)unused;
    ctl_render_sched_info(j, f);
}

static void sched_details(void **state)
{
    (void)state;
    json_t *o =
        load("{\"name\": \"web\","
             " \"sched\": {\"reservation_percent\": 30, \"limit_percent\": null, \"weight\": 1024,"
             "           \"period_us\": 10000},"
             " \"cpu\": {\"total_ns\": 3000000000, \"vcpu_ns\": [1000000000, 2000000000], \"band\": \"reserved\","
             "         \"reserved_ns\": 1500000000, \"throttled_ns\": 0, \"throttles\": 0, \"overrun_ns\": 0,"
             "         \"periods\": 300, \"sched_overhead_ns\": 2500000, \"sched_changes\": 1},"
             " \"host\": {\"cpus\": 2, \"headroom_percent\": 10, \"capacity_percent\": 180,"
             "          \"reserved_percent\": 30}}");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    render_info(o, f, NULL);
    fclose(f);
    assert_string_equal(buf, "Name:        web\n"
                             "Reservation: 30%\n"
                             "Limit:       none\n"
                             "Weight:      1024\n"
                             "Period:      10 ms\n"
                             "CPU time:    3.000000 s (vcpu0 1.000000, vcpu1 2.000000)\n"
                             "Band:        reserved\n"
                             "Reserved:    1.500000 s of CPU time\n"
                             "Throttled:   0.000 s, 0 times (overrun 0.000 ms, paid back)\n"
                             "Scheduler:   2.500 ms of CPU time in 300 periods\n"
                             "Host:        30% of 180% reserved (2 CPUs less 10% headroom each)\n");
    free(buf);
    json_decref(o);
}

static int top_first(const json_t *cur, FILE *f)
{
    return ctl_render_top(NULL, cur, NULL, 0, f);
}

static void top_frames(void **state)
{
    (void)state;
    json_t *a = load("{\"domains\": [{\"name\": \"web\", \"uuid\": \"u1\", \"id\": 1, \"state\": \"running\","
                     " \"sched\": {\"reservation_percent\": 0, \"limit_percent\": 20},"
                     " \"usage\": {\"cpu\": {\"total_ns\": 1000000000, \"throttled_ns\": 0}}},"
                     " {\"name\": \"off\", \"uuid\": \"u2\", \"id\": null, \"state\": \"shutdown\", \"cpu_time_s\": 0,"
                     " \"sched\": {\"reservation_percent\": 25, \"limit_percent\": null}}]}");
    json_t *b = load("{\"domains\": [{\"name\": \"web\", \"uuid\": \"u1\", \"id\": 1, \"state\": \"running\","
                     " \"sched\": {\"reservation_percent\": 0, \"limit_percent\": 20},"
                     " \"usage\": {\"cpu\": {\"total_ns\": 1200000000, \"throttled_ns\": 800000000}}},"
                     " {\"name\": \"off\", \"uuid\": \"u2\", \"id\": null, \"state\": \"shutdown\", \"cpu_time_s\": 0,"
                     " \"sched\": {\"reservation_percent\": 25, \"limit_percent\": null}}]}");
    char *out = render(top_first, a);
    assert_string_equal(out, "Name  ID  State     CPU%  Thr%  Res  Limit  Time(s)\n"
                             "web    1  running      -     -   0%    20%     1.00\n"
                             "off    -  shutdown     -     -  25%      -        0\n");
    free(out);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ctl_render_top(a, b, NULL, 1.0, f), 0);
    fclose(f);
    assert_string_equal(buf, "Name  ID  State     CPU%  Thr%  Res  Limit  Time(s)\n"
                             "web    1  running   20.0  80.0   0%    20%     1.20\n"
                             "off    -  shutdown     -     -  25%      -        0\n");
    free(buf);
    json_decref(a);
    json_decref(b);
}

/* The cost column: max(CPU rate, reservation) and max(resident, allocated) at the sponsor's
 * prices, an hour of it; then the sums per sponsor. */
static void top_cost_column(void **state)
{
    (void)state;
    const char *dom = "{\"name\": \"%s\", \"uuid\": \"%s\", \"sponsor\": \"%s\", \"id\": 1, \"state\": \"running\","
                      " \"sched\": {\"reservation_percent\": 30, \"limit_percent\": null},"
                      " \"usage\": {\"cpu\": {\"total_ns\": %s, \"throttled_ns\": 0}, \"memory_bytes\": 134217728,"
                      " \"memory_target_bytes\": 0, \"guest_resident_bytes\": 67108864}}";
    char a_txt[1600], b_txt[1600], d1[500], d2[500], d3[500], e1[500], e2[500], e3[500];
    snprintf(d1, sizeof(d1), dom, "web", "u1", "acme", "1000000000");
    snprintf(d2, sizeof(d2), dom, "db", "u2", "beta", "0");
    snprintf(d3, sizeof(d3), dom, "job", "u3", "beta", "0");
    snprintf(e1, sizeof(e1), dom, "web", "u1", "acme", "1200000000"); /* 20%: the reservation counts */
    snprintf(e2, sizeof(e2), dom, "db", "u2", "beta", "500000000");   /* 50%: the use counts */
    snprintf(e3, sizeof(e3), dom, "job", "u3", "beta", "0");
    snprintf(a_txt, sizeof(a_txt), "{\"domains\": [%s, %s, %s]}", d1, d2, d3);
    snprintf(b_txt, sizeof(b_txt), "{\"domains\": [%s, %s, %s]}", e1, e2, e3);
    json_t *a = load(a_txt), *b = load(b_txt);
    json_t *prices = load("{\"version\": \"v1\", \"rules\": {\"cpu\": \"max\", \"memory\": \"max\"}, \"prices\": ["
                          "{\"resource\": \"cpu\", \"unit_price_micros\": 100, \"per\": 1, \"sponsor\": null},"
                          "{\"resource\": \"memory\", \"unit_price_micros\": 80, \"per\": 10, \"sponsor\": null},"
                          "{\"resource\": \"cpu\", \"unit_price_micros\": 50, \"per\": 1, \"sponsor\": \"beta\"}]}");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ctl_render_top(a, b, prices, 1.0, f), 0);
    fclose(f);
    /* web: (0.3 x 100 + 0.125 GiB x 8) x 3600 / 10^6 = 0.111600; db: (0.5 x 50 + 1) x 3600 = 0.093600;
     * job: (0.3 x 50 + 1) x 3600 = 0.057600. */
    assert_string_equal(buf, "Name  ID  State    CPU%  Thr%  Res  Limit  Time(s)    Cost/h\n"
                             "web    1  running  20.0   0.0  30%      -     1.20  0.111600\n"
                             "db     1  running  50.0   0.0  30%      -     0.50  0.093600\n"
                             "job    1  running   0.0   0.0  30%      -     0.00  0.057600\n"
                             "\n"
                             "Sponsor  Domains    Cost/h\n"
                             "acme           1  0.111600\n"
                             "beta           2  0.151200\n");
    free(buf);
    json_decref(a);
    json_decref(b);
    json_decref(prices);
}

/* The disks' part of the cost: size and reservation of each served disk, and the rate of its
 * requests and bytes between two frames (none when the disk was added again in between). */
static void top_disk_cost(void **state)
{
    (void)state;
    const char *dom = "{\"name\": \"web\", \"sponsor\": \"acme\", \"disks\": [{\"target\": \"vda\", \"stats\": {"
                      "\"size_bytes\": 2147483648, \"reservation\": 100, \"ops\": {\"read\": %d, \"write\": 0,"
                      " \"flush\": 0, \"discard\": 0, \"write_zeroes\": 0}, \"bytes_read\": %d,"
                      " \"bytes_written\": 0}}, {\"target\": \"vdb\", \"stats\": null}]}";
    char t1[600], t2[600], t3[600];
    snprintf(t1, sizeof(t1), dom, 100, 409600);
    snprintf(t2, sizeof(t2), dom, 300, 1228800); /* +200 ops, +800 KiB in 2 s */
    snprintf(t3, sizeof(t3), dom, 5, 4096);      /* fewer: the disk was added again */
    json_t *a = load(t1), *b = load(t2), *c = load(t3);
    json_t *prices =
        load("{\"prices\": [{\"resource\": \"disk_provisioned\", \"unit_price_micros\": 10, \"per\": 1},"
             "{\"resource\": \"disk_reserved\", \"unit_price_micros\": 1, \"per\": 100},"
             "{\"resource\": \"disk_ops\", \"unit_price_micros\": 5, \"per\": 1000},"
             "{\"resource\": \"disk_bytes\", \"unit_price_micros\": 1, \"per\": 4096},"
             "{\"resource\": \"disk_ops\", \"unit_price_micros\": 1, \"per\": 1, \"sponsor\": \"beta\"}]}");
    /* Per second: 2 GiB x 10 + 100 x 0.01 = 21; rates: 100 ops/s x 0.005 + 409600 B/s / 4096 = 100.5. */
    assert_true(fabs(ctl_top_disk_cost_per_hour(prices, b, NULL, 2.0) - 21 * 3600 / 1e6) < 1e-9);
    assert_true(fabs(ctl_top_disk_cost_per_hour(prices, b, a, 2.0) - 121.5 * 3600 / 1e6) < 1e-9);
    assert_true(fabs(ctl_top_disk_cost_per_hour(prices, c, b, 2.0) - 21 * 3600 / 1e6) < 1e-9);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(prices);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sched_table),     cmocka_unit_test(sched_details), cmocka_unit_test(top_frames),
        cmocka_unit_test(top_cost_column), cmocka_unit_test(top_disk_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
