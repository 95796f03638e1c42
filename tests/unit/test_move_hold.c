/* When a domain's vhost-user devices are held (src/vmm/state/move_hold.c): a backend that
 * keeps the dirty log runs through a migration's pre-copy rounds; every other case holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/state/move_hold.h"

/* Pre-copy: served while its backend logs, held for the whole move when it cannot. */
static void test_precopy(void **state)
{
    (void)state;
    assert_false(move_device_held(MOVE_PRECOPY, true));
    assert_true(move_device_held(MOVE_PRECOPY, false));
}

/* A save, the final stop and a restore hold whatever the backend can do: a log would not make
 * RAM final, nor flush the image whose identity the state records. */
static void test_always_held(void **state)
{
    (void)state;
    const enum move_phase held[] = {MOVE_SAVE, MOVE_FINAL_STOP, MOVE_RESTORE};
    for (unsigned i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        assert_true(move_device_held(held[i], true));
        assert_true(move_device_held(held[i], false));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precopy),
        cmocka_unit_test(test_always_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
