/* The budget server (src/sched/server.c) on a simulated clock: exact decisions step by step,
 * then whole scenarios on a fluid model of one host CPU (the reserved band above everything,
 * the slack shared by CFS weight, throttled vCPUs off the CPU, enforcement some microseconds
 * late) that must meet what bench/sched measures on the real thing: a reservation kept
 * against four competitors, a limit never exceeded in any 1 s window, weights 1:3 splitting
 * 25/75, work conservation, halted vCPUs that keep their reservation without blocking
 * anyone, and live changes within two periods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sched/server.h"

#define US 1000ULL
#define MS 1000000ULL
#define SEC 1000000000ULL

static struct sched_params params(uint32_t res_pct, uint32_t lim_pct, uint32_t weight, uint32_t period_us)
{
    return (struct sched_params){res_pct * 10000, lim_pct * 10000, weight, period_us};
}

/* ---- decisions, one step at a time ---- */

static void no_controls_sleeps_forever(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = sched_params_default();
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
    cpu = 5 * MS;
    assert_true(sched_server_step(&s, 5 * MS, &cpu) == SCHED_NEVER);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
}

static void limit_throttles_when_the_budget_is_spent(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 20, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    /* Flat out, the 2 ms budget cannot run out before t = 2 ms. */
    assert_int_equal(sched_server_step(&s, 0, &cpu), 2 * MS);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
    /* Preempted for half of it: only 1 ms used, wake again when the other 1 ms could be gone. */
    cpu = 1 * MS;
    assert_int_equal(sched_server_step(&s, 2 * MS, &cpu), 3 * MS);
    cpu = 2 * MS;
    assert_int_equal(sched_server_step(&s, 3 * MS, &cpu), 10 * MS);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    assert_int_equal(s.c.throttles, 1);
    /* The next period refills it. */
    assert_int_equal(sched_server_step(&s, 10 * MS, &cpu), 12 * MS);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
    assert_int_equal(s.c.throttled_ns, 7 * MS);
    assert_int_equal(s.c.periods, 2);
}

static void limit_overrun_is_paid_back(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 20, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    cpu = 2 * MS;
    sched_server_step(&s, 2 * MS, &cpu);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    /* The vCPU stopped 300 us late. */
    cpu = 2 * MS + 300 * US;
    assert_int_equal(sched_server_step(&s, 10 * MS, &cpu), 10 * MS + 1700 * US);
    assert_int_equal(s.debt, 300 * US);
    assert_int_equal(s.lim_budget, 1700 * US);
    assert_int_equal(s.c.overrun_ns, 300 * US);
    /* Paid: the period after is a full one again. */
    cpu += 1700 * US;
    sched_server_step(&s, 11700 * US, &cpu);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    sched_server_step(&s, 20 * MS, &cpu);
    assert_int_equal(s.lim_budget, 2 * MS);
}

static void overrun_debt_is_capped(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 20, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    /* The server was not stepped for 5 periods while the vCPU ran flat out: 50 ms used
     * against 5 x 2 ms allowed. At most one period's limit is owed. */
    cpu = 50 * MS;
    sched_server_step(&s, 50 * MS, &cpu);
    assert_int_equal(s.period_start, 50 * MS);
    assert_int_equal(s.debt, 2 * MS);
    assert_int_equal(s.lim_budget, 0);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    assert_int_equal(s.c.periods, 6);
}

static void reservation_band_then_slack(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(30, 0, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    assert_int_equal(s.band, SCHED_BAND_RESERVED);
    assert_int_equal(sched_server_step(&s, 0, &cpu), 3 * MS);
    cpu = 3 * MS;
    assert_int_equal(sched_server_step(&s, 3 * MS, &cpu), 10 * MS); /* be back for the refill */
    assert_int_equal(s.band, SCHED_BAND_SLACK);
    cpu = 10 * MS;
    assert_int_equal(sched_server_step(&s, 10 * MS, &cpu), 13 * MS);
    assert_int_equal(s.band, SCHED_BAND_RESERVED);
    assert_int_equal(s.c.reserved_ns, 3 * MS);
    assert_int_equal(s.c.slack_ns, 7 * MS);
}

/* A halted vCPU uses no CPU time, so nothing is charged: the whole reservation is there
 * when it wakes, however late in the period. */
static void halted_vcpu_keeps_its_reservation(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(50, 0, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    for (uint64_t t = 0; t <= 8 * MS; t += MS)
        sched_server_step(&s, t, &cpu);
    assert_int_equal(s.band, SCHED_BAND_RESERVED);
    assert_int_equal(s.used, 0);
    /* Awake at 8 ms: 1 ms used by 9 ms, still reserved. */
    cpu = 1 * MS;
    sched_server_step(&s, 9 * MS, &cpu);
    assert_int_equal(s.band, SCHED_BAND_RESERVED);
    assert_int_equal(s.c.reserved_ns, 1 * MS);
}

static void budgets_are_pooled_across_vcpus(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 50, 1024, 10000);
    uint64_t cpu[2] = {0, 0};
    sched_server_init(&s, &p, 2, 0, cpu);
    /* Two vCPUs flat out spend 5 ms in 2.5 ms. */
    assert_int_equal(sched_server_step(&s, 0, cpu), 2500 * US);
    /* One idle vCPU leaves the other the whole budget. */
    cpu[0] = 2500 * US;
    assert_int_equal(sched_server_step(&s, 2500 * US, cpu), 2500 * US + 1250 * US);
    cpu[0] = 5 * MS;
    sched_server_step(&s, 5 * MS, cpu);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
}

static void live_change_applies_at_once(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 20, 1024, 10000);
    uint64_t cpu = 0;
    sched_server_init(&s, &p, 1, 0, &cpu);
    cpu = 2 * MS;
    sched_server_step(&s, 2 * MS, &cpu);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    /* Raised to 60% at 3 ms: runs again at once, until 6 ms are used. */
    p = params(0, 60, 1024, 10000);
    sched_server_set(&s, &p, 3 * MS);
    assert_int_equal(sched_server_step(&s, 3 * MS, &cpu), 7 * MS);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
    /* Lowered to 10% at 4 ms: 3 ms already used, so throttled at once. */
    cpu = 3 * MS;
    p = params(0, 10, 1024, 10000);
    sched_server_set(&s, &p, 4 * MS);
    assert_int_equal(sched_server_step(&s, 4 * MS, &cpu), 10 * MS);
    assert_int_equal(s.band, SCHED_BAND_THROTTLED);
    /* A shorter period: the period in progress ends at its new length. */
    p = params(0, 10, 1024, 2000);
    sched_server_set(&s, &p, 5 * MS);
    sched_server_step(&s, 5 * MS, &cpu);
    assert_int_equal(s.period_start, 4 * MS);
    assert_int_equal(s.period_end, 6 * MS);
    /* Limit removed: nothing left to decide. */
    p = params(0, 0, 1024, 2000);
    sched_server_set(&s, &p, 5 * MS);
    assert_true(sched_server_step(&s, 5 * MS, &cpu) == SCHED_NEVER);
    assert_int_equal(s.band, SCHED_BAND_SLACK);
}

static void clocks_going_backwards_charge_nothing(void **state)
{
    (void)state;
    struct sched_server s;
    struct sched_params p = params(0, 50, 1024, 10000);
    uint64_t cpu = 4 * MS;
    sched_server_init(&s, &p, 1, 0, &cpu);
    cpu = 1 * MS;
    sched_server_step(&s, 1 * MS, &cpu);
    assert_int_equal(s.used, 0);
    cpu = 2 * MS;
    sched_server_step(&s, 2 * MS, &cpu);
    assert_int_equal(s.used, 1 * MS);
}

static void weights_map_to_nice(void **state)
{
    (void)state;
    assert_int_equal(sched_weight_to_nice(1024, 1), 0);
    assert_int_equal(sched_weight_to_nice(2048, 2), 0);
    assert_int_equal(sched_weight_to_nice(256, 1), 6);
    assert_int_equal(sched_weight_to_nice(768, 1), 1);
    assert_int_equal(sched_weight_to_nice(SCHED_WEIGHT_MAX, 1), -20);
    assert_int_equal(sched_weight_to_nice(SCHED_WEIGHT_MIN, 1), 19);
    assert_int_equal(sched_weight_to_nice(3121, 1), -5);
    assert_int_equal(sched_nice_to_weight(0), 1024);
    assert_int_equal(sched_nice_to_weight(-30), 88761);
    assert_int_equal(sched_nice_to_weight(30), 15);
    assert_string_equal(sched_band_name(SCHED_BAND_THROTTLED), "throttled");
}

/* ---- scenarios on a fluid model of one CPU ---- */

#define TICK (10 * US)
#define MAXD 6

struct sim_dom {
    int used;       /* slot in use */
    int controlled; /* has a server (else plain CFS at its weight) */
    struct sched_params p;
    struct sched_server s;
    uint64_t next;
    enum sched_band applied, pending;
    uint64_t apply_at;
    int busy; /* the guest wants the CPU (else halted) */
    uint64_t cpu;
    uint64_t samples[1000]; /* CPU time at every 10 ms */
};

struct sim {
    struct sim_dom d[MAXD];
    int hog; /* a host thread at nice 0 wants the CPU too */
    uint64_t hog_cpu;
    uint64_t latency; /* how late a band change takes effect */
    uint64_t now;
    unsigned nsamples;
};

static struct sim_dom *sim_add(struct sim *m, int controlled, struct sched_params p)
{
    for (int i = 0; i < MAXD; i++) {
        struct sim_dom *d = &m->d[i];
        if (d->used)
            continue;
        memset(d, 0, sizeof(*d));
        d->used = 1;
        d->controlled = controlled;
        d->p = p;
        d->busy = 1;
        if (controlled) {
            sched_server_init(&d->s, &p, 1, m->now, &d->cpu);
            d->applied = d->pending = d->s.band;
            d->next = m->now;
        }
        return d;
    }
    fail_msg("too many domains");
    return NULL;
}

static void sim_run(struct sim *m, uint64_t duration)
{
    uint64_t end = m->now + duration;
    for (; m->now < end; m->now += TICK) {
        struct sim_dom *run[MAXD + 1];
        int n = 0, reserved = 0;
        /* Band changes land `latency` after the decision. */
        for (int i = 0; i < MAXD; i++) {
            struct sim_dom *d = &m->d[i];
            if (d->used && d->controlled && d->pending != d->applied && m->now >= d->apply_at)
                d->applied = d->pending;
        }
        for (int i = 0; i < MAXD; i++) {
            struct sim_dom *d = &m->d[i];
            if (!d->used || !d->busy || (d->controlled && d->applied == SCHED_BAND_THROTTLED))
                continue;
            if (d->controlled && d->applied == SCHED_BAND_RESERVED)
                reserved = 1;
            run[n++] = d;
        }
        if (reserved) {
            int k = 0;
            for (int i = 0; i < n; i++)
                if (run[i]->applied == SCHED_BAND_RESERVED)
                    run[k++] = run[i];
            for (int i = 0; i < k; i++)
                run[i]->cpu += TICK / (uint64_t)k;
        } else {
            double total = m->hog ? 1024 : 0;
            for (int i = 0; i < n; i++)
                total += sched_nice_to_weight(sched_weight_to_nice(run[i]->p.weight, 1));
            for (int i = 0; i < n; i++)
                run[i]->cpu +=
                    (uint64_t)(TICK * sched_nice_to_weight(sched_weight_to_nice(run[i]->p.weight, 1)) / total);
            if (m->hog)
                m->hog_cpu += (uint64_t)(TICK * 1024 / total);
        }
        for (int i = 0; i < MAXD; i++) {
            struct sim_dom *d = &m->d[i];
            if (!d->used || !d->controlled || m->now + TICK < d->next)
                continue;
            d->next = sched_server_step(&d->s, m->now + TICK, &d->cpu);
            if (d->s.band != d->pending) {
                d->pending = d->s.band;
                d->apply_at = m->now + TICK + m->latency;
            }
        }
        if ((m->now + TICK) % (10 * MS) == 0 && m->nsamples < 1000) {
            for (int i = 0; i < MAXD; i++)
                m->d[i].samples[m->nsamples] = m->d[i].cpu;
            m->nsamples++;
        }
    }
}

/* The least and the most CPU share (percent of one CPU) of d over every 1 s window that
 * starts at a 10 ms sample from `from` on. */
static void windows(const struct sim *m, const struct sim_dom *d, unsigned from, double *lo, double *hi)
{
    *lo = 1e9;
    *hi = 0;
    for (unsigned i = from; i + 100 < m->nsamples; i++) {
        double pct = (double)(d->samples[i + 100] - d->samples[i]) * 100.0 / SEC;
        *lo = pct < *lo ? pct : *lo;
        *hi = pct > *hi ? pct : *hi;
    }
}

static void scenario_reservation_against_four_competitors(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    m.hog = 1;
    m.latency = 100 * US;
    struct sim_dom *r = sim_add(&m, 1, params(30, 0, 1024, 10000));
    for (int i = 0; i < 3; i++)
        sim_add(&m, 1, sched_params_default());
    sim_run(&m, 5 * SEC);
    double lo, hi;
    windows(&m, r, 0, &lo, &hi);
    print_message("reserved 30%%: %.2f%% .. %.2f%% of a CPU in 1 s windows (hog %.1f%%)\n", lo, hi,
                  (double)m.hog_cpu * 100 / (5 * SEC));
    assert_true(lo >= 29.0);
    /* It also competes for the slack: 30% + 70%/5. */
    assert_true(hi <= 46.0);
}

static void scenario_limit_never_exceeded(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    m.latency = 300 * US; /* far worse than the real thing */
    struct sim_dom *l = sim_add(&m, 1, params(0, 20, 1024, 10000));
    sim_run(&m, 5 * SEC);
    double lo, hi;
    windows(&m, l, 0, &lo, &hi);
    print_message("limit 20%%: %.2f%% .. %.2f%% in 1 s windows, %llu throttles\n", lo, hi,
                  (unsigned long long)l->s.c.throttles);
    assert_true(hi <= 21.0);
    assert_true(lo >= 19.0);
}

static void scenario_weights_split_the_slack(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    struct sim_dom *a = sim_add(&m, 1, params(0, 0, 256, 10000));
    struct sim_dom *b = sim_add(&m, 1, params(0, 0, 768, 10000));
    sim_run(&m, 2 * SEC);
    double share = (double)a->cpu * 100 / (double)(a->cpu + b->cpu);
    print_message("weights 1:3: %.1f%% / %.1f%%\n", share, 100 - share);
    assert_true(share >= 22 && share <= 28);
}

static void scenario_work_conserving(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    struct sim_dom *w = sim_add(&m, 1, params(30, 0, 1024, 10000));
    sim_run(&m, 2 * SEC);
    assert_true(w->cpu * 100 > 95 * 2 * SEC);
}

static void scenario_halted_reserved_domain_blocks_nobody(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    struct sim_dom *h = sim_add(&m, 1, params(60, 0, 1024, 10000));
    struct sim_dom *o = sim_add(&m, 1, sched_params_default());
    h->busy = 0;
    sim_run(&m, 1 * SEC);
    assert_int_equal(h->cpu, 0);
    assert_true(o->cpu * 100 > 99 * SEC);
    /* Awake: it gets its 60% at once (and half the slack). */
    h->busy = 1;
    sim_run(&m, 1 * SEC);
    assert_true(h->cpu * 100 >= 60 * SEC);
}

static void scenario_live_change_within_two_periods(void **state)
{
    (void)state;
    static struct sim m;
    memset(&m, 0, sizeof(m));
    m.latency = 100 * US;
    struct sim_dom *l = sim_add(&m, 1, params(0, 20, 1024, 10000));
    sim_run(&m, 1 * SEC + 5 * MS); /* mid-period */
    struct sched_params p = params(0, 50, 1024, 10000);
    sched_server_set(&l->s, &p, m.now);
    l->next = m.now; /* the controller is woken by the change */
    uint64_t before = l->cpu;
    sim_run(&m, 20 * MS);
    uint64_t after = l->cpu;
    sim_run(&m, SEC);
    double pct = (double)(l->cpu - after) * 100 / SEC;
    print_message("20%% -> 50%%: %.2f%% in the second after, %.2f ms in the first two periods\n", pct,
                  (double)(after - before) / MS);
    assert_true(pct >= 49 && pct <= 51);
    /* In the two periods after the change it already had more than the old 2 x 2 ms. */
    assert_true(after - before > 6 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_controls_sleeps_forever),
        cmocka_unit_test(limit_throttles_when_the_budget_is_spent),
        cmocka_unit_test(limit_overrun_is_paid_back),
        cmocka_unit_test(overrun_debt_is_capped),
        cmocka_unit_test(reservation_band_then_slack),
        cmocka_unit_test(halted_vcpu_keeps_its_reservation),
        cmocka_unit_test(budgets_are_pooled_across_vcpus),
        cmocka_unit_test(live_change_applies_at_once),
        cmocka_unit_test(clocks_going_backwards_charge_nothing),
        cmocka_unit_test(weights_map_to_nice),
        cmocka_unit_test(scenario_reservation_against_four_competitors),
        cmocka_unit_test(scenario_limit_never_exceeded),
        cmocka_unit_test(scenario_weights_split_the_slack),
        cmocka_unit_test(scenario_work_conserving),
        cmocka_unit_test(scenario_halted_reserved_domain_blocks_nobody),
        cmocka_unit_test(scenario_live_change_within_two_periods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
