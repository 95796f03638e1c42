/* xenctl's CPU scheduling views (src/ctl/cmd_sched.c): the `sched` table and details and a
 * `top` frame, from API JSON to exact text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/sched_view.h"

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
    return ctl_render_top(NULL, cur, 0, f);
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
    assert_int_equal(ctl_render_top(a, b, 1.0, f), 0);
    fclose(f);
    assert_string_equal(buf, "Name  ID  State     CPU%  Thr%  Res  Limit  Time(s)\n"
                             "web    1  running   20.0  80.0   0%    20%     1.20\n"
                             "off    -  shutdown     -     -  25%      -        0\n");
    free(buf);
    json_decref(a);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sched_table),
        cmocka_unit_test(sched_details),
        cmocka_unit_test(top_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
