/* The power request register (src/vmm/dev/power_request.c): the host posts a request and
 * pulses the interrupt; the guest's read returns it once and clears it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm/dev/power_request.h"

static unsigned pulses;

static void pulse(void *opaque)
{
    (void)opaque;
    pulses++;
}

static uint8_t rd(struct power_request *p)
{
    uint8_t v = 0xaa;
    power_request_io(p, 0, 0, &v, 1);
    return v;
}

static void nothing_pending_reads_zero(void **state)
{
    (void)state;
    struct power_request p;
    power_request_init(&p, pulse, NULL);
    assert_int_equal(rd(&p), POWER_REQUEST_NONE);
    power_request_destroy(&p);
}

static void request_read_once_and_cleared(void **state)
{
    (void)state;
    struct power_request p;
    pulses = 0;
    power_request_init(&p, pulse, NULL);
    power_request_post(&p, POWER_REQUEST_OFF);
    assert_int_equal(pulses, 1);
    assert_int_equal(rd(&p), POWER_REQUEST_OFF);
    assert_int_equal(rd(&p), POWER_REQUEST_NONE);
    power_request_post(&p, POWER_REQUEST_REBOOT);
    assert_int_equal(pulses, 2);
    assert_int_equal(rd(&p), POWER_REQUEST_REBOOT);
    power_request_destroy(&p);
}

static void newer_request_replaces_unread(void **state)
{
    (void)state;
    struct power_request p;
    power_request_init(&p, pulse, NULL);
    power_request_post(&p, POWER_REQUEST_OFF);
    power_request_post(&p, POWER_REQUEST_REBOOT);
    assert_int_equal(rd(&p), POWER_REQUEST_REBOOT);
    assert_int_equal(rd(&p), POWER_REQUEST_NONE);
    power_request_destroy(&p);
}

static void writes_ignored_and_wide_reads(void **state)
{
    (void)state;
    struct power_request p;
    power_request_init(&p, pulse, NULL);
    uint8_t v = POWER_REQUEST_OFF;
    power_request_io(&p, 0, 1, &v, 1); /* the guest cannot post a request to itself */
    assert_int_equal(rd(&p), POWER_REQUEST_NONE);
    power_request_post(&p, POWER_REQUEST_OFF);
    uint8_t w[2] = {0, 0};
    power_request_io(&p, 0, 0, w, 2);
    assert_int_equal(w[0], POWER_REQUEST_OFF);
    assert_int_equal(w[1], 0xff); /* past the one-byte register */
    power_request_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_pending_reads_zero),
        cmocka_unit_test(request_read_once_and_cleared),
        cmocka_unit_test(newer_request_replaces_unread),
        cmocka_unit_test(writes_ignored_and_wide_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
