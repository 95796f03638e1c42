/* What xenod does when a monitor ends (src/daemon/end_policy.c): which ends are crashes,
 * when on_crash restarts or preserves, and when a transient domain is forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/end_policy.h"

static const enum lifecycle_action actions[] = {ACTION_DESTROY, ACTION_RESTART, ACTION_PRESERVE};

/* poweroff and reboot: the monitor applied on_poweroff/on_reboot itself and exited because
 * the action said so; so did destroy/signal/save/migrate. Never a crash, never restarted
 * here; a transient domain is forgotten, whatever on_crash says. */
static void clean_ends_stop_for_good(void **state)
{
    (void)state;
    static const char *const clean[] = {"poweroff", "reboot", "destroyed", "signal", "saved", "migrated"};
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        for (size_t a = 0; a < 3; a++) {
            for (int persistent = 0; persistent <= 1; persistent++) {
                struct end_decision e = end_policy_decide(clean[i], 0, persistent, actions[a]);
                assert_int_equal(e.kind, END_STOPPED);
                assert_false(e.crashed);
                assert_false(e.restart);
                assert_int_equal(e.keep, persistent);
            }
        }
    }
}

static void guest_crash_applies_on_crash(void **state)
{
    (void)state;
    struct end_decision e = end_policy_decide("crash", 0, 0, ACTION_DESTROY);
    assert_int_equal(e.kind, END_CRASH);
    assert_true(e.crashed);
    assert_false(e.restart);
    assert_false(e.keep); /* transient, destroyed: forgotten */

    e = end_policy_decide("crash", 0, 1, ACTION_DESTROY);
    assert_true(e.crashed);
    assert_false(e.restart);
    assert_true(e.keep); /* persistent: kept, state crashed */

    e = end_policy_decide("crash", 0, 0, ACTION_RESTART);
    assert_true(e.crashed);
    assert_true(e.restart);
    assert_true(e.keep); /* restarted, so it must stay, even transient */

    e = end_policy_decide("crash", 0, 0, ACTION_PRESERVE);
    assert_true(e.crashed);
    assert_false(e.restart);
    assert_true(e.keep); /* preserved for inspection */

    /* Any outcome the monitor does not write on purpose counts as a crash. */
    e = end_policy_decide("internal-error", 0, 1, ACTION_RESTART);
    assert_int_equal(e.kind, END_CRASH);
    assert_true(e.restart);
    e = end_policy_decide("poweroffx", 0, 0, ACTION_DESTROY);
    assert_int_equal(e.kind, END_CRASH);
}

/* A monitor that left no outcome (SIGKILL, OOM, its own crash) could not apply on_crash:
 * xenod does. */
static void monitor_death_is_a_crash(void **state)
{
    (void)state;
    struct end_decision e = end_policy_decide(NULL, 0, 0, ACTION_DESTROY);
    assert_int_equal(e.kind, END_MONITOR_DIED);
    assert_true(e.crashed);
    assert_false(e.restart);
    assert_false(e.keep);

    e = end_policy_decide(NULL, 0, 0, ACTION_RESTART);
    assert_int_equal(e.kind, END_MONITOR_DIED);
    assert_true(e.restart);
    assert_true(e.keep);

    e = end_policy_decide(NULL, 0, 1, ACTION_PRESERVE);
    assert_true(e.crashed);
    assert_false(e.restart);
    assert_true(e.keep);
}

/* The operator's destroy is never a crash, even if the monitor had to be killed (no
 * outcome) or wrote a crash: no restart, a transient domain is forgotten. */
static void destroy_is_never_a_crash(void **state)
{
    (void)state;
    const char *outcomes[] = {NULL, "crash", "destroyed", "poweroff"};
    for (size_t i = 0; i < 4; i++) {
        for (size_t a = 0; a < 3; a++) {
            struct end_decision e = end_policy_decide(outcomes[i], 1, 0, actions[a]);
            assert_int_equal(e.kind, END_DESTROYED);
            assert_false(e.crashed);
            assert_false(e.restart);
            assert_false(e.keep);
            e = end_policy_decide(outcomes[i], 1, 1, actions[a]);
            assert_true(e.keep);
            assert_false(e.restart);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_ends_stop_for_good),
        cmocka_unit_test(guest_crash_applies_on_crash),
        cmocka_unit_test(monitor_death_is_a_crash),
        cmocka_unit_test(destroy_is_never_a_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
