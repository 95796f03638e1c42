/* CPU scheduling settings and admission control: the checks every front end shares
 * (src/lib/sched_params.h), the parsers of percentages and periods (src/lib/parse.c), and the
 * arithmetic xenod refuses a reservation with (src/sched/admit.c). A refusal must say
 * what would fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "sched/admit.h"
#include "sched/admit_cpus.h"
#include <stdlib.h>
#include "lib/sched_params.h"

static void percent_text(void **state)
{
    (void)state;
    assert_string_equal(SCHED_PCT(300000), "30%");
    assert_string_equal(SCHED_PCT(125000), "12.5%");
    assert_string_equal(SCHED_PCT(1), "0.0001%");
    assert_string_equal(SCHED_PCT(1800000), "180%");
    assert_string_equal(SCHED_PCT(0), "0%");
}

static void parse_percentages(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_percent_ppm("30%", 1000000, &v), 0);
    assert_int_equal(v, 300000);
    assert_int_equal(parse_percent_ppm("12.5%", 1000000, &v), 0);
    assert_int_equal(v, 125000);
    assert_int_equal(parse_percent_ppm("25", 1000000, &v), 0);
    assert_int_equal(v, 250000);
    assert_int_equal(parse_percent_ppm("0.0001%", 1000000, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(parse_percent_ppm("150%", 2000000, &v), 0);
    assert_int_equal(v, 1500000);
    assert_int_equal(parse_percent_ppm("150%", 1000000, &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "more than 100%"));
    assert_int_equal(parse_percent_ppm("0.00001%", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("30 %", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("%", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("-5%", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("5.%", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("30%%", 1000000, &v), -EINVAL);
    assert_int_equal(parse_percent_ppm("99999999999999999999%", 1000000, &v), -ERANGE);
}

static void parse_durations_us(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_duration_us("10ms", 1000000, &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(parse_duration_us("2.5ms", 1000000, &v), 0);
    assert_int_equal(v, 2500);
    assert_int_equal(parse_duration_us("500us", 1000000, &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(parse_duration_us("1s", 1000000, &v), 0);
    assert_int_equal(v, 1000000);
    assert_int_equal(parse_duration_us("20000", 1000000, &v), 0);
    assert_int_equal(v, 20000);
    assert_int_equal(parse_duration_us("2s", 1000000, &v), -ERANGE);
    assert_int_equal(parse_duration_us("10 ms", 1000000, &v), -EINVAL);
    assert_int_equal(parse_duration_us("1.5us", 1000000, &v), -EINVAL);
    assert_int_equal(parse_duration_us("10h", 1000000, &v), -EINVAL);
}

static void params_checks(void **state)
{
    (void)state;
    char why[256];
    struct sched_params p = sched_params_default();
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), 0);
    p.reservation_ppm = 300000;
    p.limit_ppm = 500000;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), 0);
    p.reservation_ppm = 600000;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "the reservation (60%) is above the limit (50%)"));
    p = sched_params_default();
    p.reservation_ppm = 1500000;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "more than 1 vCPU can use (100%)"));
    assert_int_equal(sched_params_check(&p, 2, why, sizeof(why)), 0);
    p = sched_params_default();
    p.limit_ppm = 5000;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "too small"));
    p = sched_params_default();
    p.weight = 1;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "weight 1 is out of range; give 2 to 262144"));
    p = sched_params_default();
    p.period_us = 999;
    assert_int_equal(sched_params_check(&p, 1, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "period 999 us"));
}

static void admission(void **state)
{
    (void)state;
    struct sched_host h = {2, SCHED_HEADROOM_DEFAULT_PPM};
    char why[512];
    assert_int_equal(sched_capacity_ppm(&h), 1800000);
    assert_int_equal(sched_domain_max_ppm(&h, 1), 900000);
    assert_int_equal(sched_domain_max_ppm(&h, 4), 1800000);
    /* Nothing asked, nothing refused. */
    assert_int_equal(sched_admit(&h, 1800000, "a 180%", "x", 0, 1, why, sizeof(why)), 0);
    assert_int_equal(sched_admit(&h, 0, "", "x", 300000, 1, why, sizeof(why)), 0);
    assert_int_equal(sched_admit(&h, 1500000, "a 90%, b 60%", "x", 300000, 1, why, sizeof(why)), 0);
    /* Exactly full is fine; one ppm more is not. */
    assert_int_equal(sched_admit(&h, 1500000, "a 90%, b 60%", "x", 300001, 1, why, sizeof(why)), -ENOSPC);
    assert_non_null(strstr(why, "domain x asks for a reservation of 30.0001%, but only 30% of this host's 180% "
                                "(2 CPUs less 10% headroom each) is free: running domains hold 150% (a 90%, b 60%); "
                                "give x at most 30%"));
    /* More than one vCPU can be guaranteed: never fits. */
    assert_int_equal(sched_admit(&h, 0, "", "x", 950000, 1, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "its 1 vCPU can be guaranteed at most 90%"));
    /* More than the host has at all. */
    assert_int_equal(sched_admit(&h, 0, "", "x", 2000000, 4, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "this host can reserve at most 180% (2 CPUs less 10% headroom each) in all"));
    /* Overbooked already (a smaller headroom earlier): nothing more fits. */
    assert_int_equal(sched_admit(&h, 1900000, "a 90%, b 100%", "x", 10000, 1, why, sizeof(why)), -ENOSPC);
    assert_non_null(strstr(why, "only 0% of"));
}

/* Per-CPU admission (src/sched/admit_cpus.c) on a 2-CPU host with 10% headroom: CPU 1 can
 * carry 90% of reservations. */
static void admission_per_cpu(void **state)
{
    (void)state;
    struct sched_host h = {2, SCHED_HEADROOM_DEFAULT_PPM};
    struct cpumask host = {{0}}, cpu0 = {{0}}, cpu1 = {{0}}, none = {{0}};
    cpumask_set(&host, 0);
    cpumask_set(&host, 1);
    cpumask_set(&cpu0, 0);
    cpumask_set(&cpu1, 1);
    struct sched_cpu_load *held = calloc(2, sizeof(*held)), *mine = held + 1;
    assert_non_null(held);
    const struct cpumask *on1[2] = {&cpu1, &cpu1}, *any[2] = {NULL, NULL}, *split[2] = {&cpu0, &cpu1};
    char why[1024];
    int cpu;

    /* A 1-vCPU domain pinned to CPU 1 with 60% holds 60% there and nothing on CPU 0. */
    sched_load_add(held, &host, 600000, 1, on1);
    assert_int_equal(held->ppm[1], 600000);
    assert_int_equal(held->ppm[0], 0);
    /* Another asking 40% on CPU 1 does not fit (host-wide it would: 100% of 180%)... */
    sched_load_add(mine, &host, 400000, 1, on1);
    assert_int_equal(sched_admit_cpus(&h, held, mine, &cpu1, "x", 400000, "a 60%", &cpu, why, sizeof(why)), -ENOSPC);
    assert_int_equal(cpu, 1);
    assert_non_null(strstr(why, "domain x asks for a reservation of 40%, 40% of it on CPU 1 where its vCPUs are "
                                "pinned, but only 30% of CPU 1's 90% (100% less 10% headroom) is free: running "
                                "domains hold 60% there (a 60%); give x at most 30% with these pins"));
    /* ... 30% does, exactly (the CPU is then full), and pinned to CPU 0 any 90% does. */
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 300000, 1, on1);
    assert_int_equal(sched_admit_cpus(&h, held, mine, &cpu1, "x", 300000, "", &cpu, why, sizeof(why)), 0);
    assert_int_equal(cpu, -1);
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 300001, 1, on1);
    assert_int_equal(sched_admit_cpus(&h, held, mine, &cpu1, "x", 300001, "", &cpu, why, sizeof(why)), -ENOSPC);
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 900000, 1, (const struct cpumask *[]){&cpu0});
    assert_int_equal(sched_admit_cpus(&h, held, mine, &cpu0, "x", 900000, "", &cpu, why, sizeof(why)), 0);

    /* An unpinned domain spreads over both CPUs: 40% is 20% on each, and it is checked
     * host-wide only (no pinned CPU to check). */
    sched_load_add(held, &host, 400000, 2, any);
    assert_int_equal(held->ppm[0], 200000);
    assert_int_equal(held->ppm[1], 800000);
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 500000, 1, any);
    assert_int_equal(sched_admit_cpus(&h, held, mine, &none, "x", 500000, "", &cpu, why, sizeof(why)), 0);

    /* Two vCPUs on CPUs 0 and 1 carry half each: 40% is 20% on CPU 1, which has 10% free;
     * with CPU 1 at 80% the most that fits is 20% (10% on CPU 1). */
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 400000, 2, split);
    assert_int_equal(mine->ppm[0], 200000);
    assert_int_equal(mine->ppm[1], 200000);
    struct cpumask both = host;
    assert_int_equal(sched_admit_cpus(&h, held, mine, &both, "x", 400000, "", &cpu, why, sizeof(why)), -ENOSPC);
    assert_int_equal(cpu, 1);
    assert_non_null(strstr(why, "give x at most 20% with these pins"));
    assert_non_null(strstr(why, "running domains hold 80% there (-)"));

    /* A pin outside the host counts as the whole host; no reservation adds nothing. */
    struct cpumask far = {{0}};
    cpumask_set(&far, 7);
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 400000, 1, (const struct cpumask *[]){&far});
    assert_int_equal(mine->ppm[0], 200000);
    assert_int_equal(mine->ppm[7], 0);
    memset(mine, 0, sizeof(*mine));
    sched_load_add(mine, &host, 0, 1, on1);
    assert_int_equal(mine->ppm[1], 0);
    free(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percent_text),  cmocka_unit_test(parse_percentages), cmocka_unit_test(parse_durations_us),
        cmocka_unit_test(params_checks), cmocka_unit_test(admission),         cmocka_unit_test(admission_per_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
