/* period_tick and period_wait_ms (src/lib/deadline.h): xenod's usage sampler runs on a fixed
 * grid, so its pace is the period and not the period plus each pass's time; a pass that
 * overran by more than a period does not make it run in a burst; a clock that went back does
 * not stop it for as long as the clock was moved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/deadline.h"

static void keeps_the_grid_when_woken_late(void **state)
{
    (void)state;
    double due = 1.0, period = 1.0, now = 0.0;
    int runs = 0;
    /* The loop sleeps until due (period_wait_ms) but wakes 30 ms late each time (the poll's
     * lateness, the other work of its turn): 100 s of time. */
    while (now < 100.0) {
        now += period_wait_ms(due, now, 1000) / 1000.0 + 0.03;
        runs += period_tick(&due, period, now);
    }
    /* Counted from each late wake (the old pace) this was 100 / 1.03 = 97. */
    assert_int_equal(runs, 100);
}

static void waits_less_than_the_cap_for_a_short_period(void **state)
{
    (void)state;
    double due = 0.25, period = 0.25, now = 0.0;
    int runs = 0;
    while (now < 4.0) {
        now += period_wait_ms(due, now, 1000) / 1000.0;
        runs += period_tick(&due, period, now);
    }
    /* A fixed 1 s poll made a 250 ms interval one sample a second: 4 here. */
    assert_int_equal(runs, 16);
}

static void starts_again_after_falling_behind(void **state)
{
    (void)state;
    double due = 10.0, period = 1.0;
    assert_true(period_tick(&due, period, 10.0));
    assert_true(due == 11.0);
    /* A 5 s stall: one run, then the grid continues from now, not four catch-up runs. */
    assert_true(period_tick(&due, period, 16.5));
    assert_true(due == 17.5);
    assert_false(period_tick(&due, period, 17.0));
    assert_true(period_tick(&due, period, 17.5));
    assert_true(due == 18.5);
}

static void survives_the_clock_going_back(void **state)
{
    (void)state;
    double due = 1000.0, period = 2.0;
    /* The clock went back an hour: the grid starts again from now. */
    assert_false(period_tick(&due, period, 1000.0 - 3600.0));
    assert_true(due == 1000.0 - 3600.0 + 2.0);
    assert_true(period_tick(&due, period, 1000.0 - 3600.0 + 2.0));
    /* Within a period ahead is just "not yet". */
    assert_false(period_tick(&due, period, due - 1.5));
}

static void waits_until_due_rounded_up(void **state)
{
    (void)state;
    assert_int_equal(period_wait_ms(10.0, 9.0, 1000), 1000);
    assert_int_equal(period_wait_ms(10.0, 5.0, 1000), 1000);
    assert_int_equal(period_wait_ms(10.0, 9.75, 1000), 250);
    assert_int_equal(period_wait_ms(10.0, 9.9995, 1000), 1);
    assert_int_equal(period_wait_ms(10.0, 10.0, 1000), 0);
    assert_int_equal(period_wait_ms(10.0, 11.0, 1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_the_grid_when_woken_late),
        cmocka_unit_test(waits_less_than_the_cap_for_a_short_period),
        cmocka_unit_test(starts_again_after_falling_behind),
        cmocka_unit_test(survives_the_clock_going_back),
        cmocka_unit_test(waits_until_due_rounded_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
