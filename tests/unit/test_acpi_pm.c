/* ACPI hardware-reduced sleep control register (src/vmm/dev/acpi_pm.c): only SLP_EN with
 * SLP_TYP 5 (S5) written to the control register (offset 0) powers the domain off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vmm/dev/acpi_pm.h"

#define SLP_EN 0x20
#define SLP_TYP(t) ((uint8_t)((t) << 2))

struct rec {
    unsigned calls;
    enum vm_outcome outcome;
    const char *why;
};

static void power(void *opaque, enum vm_outcome outcome, const char *why)
{
    struct rec *r = opaque;
    r->calls++;
    r->outcome = outcome;
    r->why = why;
}

static void wr(struct acpi_pm *pm, uint64_t off, uint8_t v)
{
    acpi_pm_io(pm, off, 1, &v, 1);
}

static void s5_powers_off(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    wr(&pm, 0, 0x34);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.outcome, VM_POWEROFF);
    assert_non_null(r.why);
    assert_true(strlen(r.why) > 0);
    assert_int_equal(SLP_EN | SLP_TYP(ACPI_SLP_TYP_S5), 0x34);
}

static void other_sleep_states_ignored(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    for (unsigned typ = 0; typ < 8; typ++)
        if (typ != ACPI_SLP_TYP_S5)
            wr(&pm, 0, SLP_EN | SLP_TYP(typ));
    assert_int_equal(r.calls, 0);
    /* S5 without SLP_EN only selects the state; nothing happens until SLP_EN. */
    wr(&pm, 0, SLP_TYP(ACPI_SLP_TYP_S5));
    wr(&pm, 0, 0x00);
    wr(&pm, 0, 0xff & ~SLP_EN);
    assert_int_equal(r.calls, 0);
}

/* The status register (offset 1) is not the control register. */
static void status_register_writes_ignored(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    wr(&pm, 1, 0x34);
    wr(&pm, 1, 0xff);
    wr(&pm, 2, 0x34);
    wr(&pm, UINT64_MAX, 0x34);
    assert_int_equal(r.calls, 0);
}

static void reads_are_zero(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    uint8_t d[4] = {0xaa, 0xbb, 0xcc, 0xdd};
    acpi_pm_io(&pm, 0, 0, d, 1);
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 0xbb); /* only `size` bytes */
    acpi_pm_io(&pm, 1, 0, d, 1);
    assert_int_equal(d[0], 0); /* no wake status */
    acpi_pm_io(&pm, 0, 0, d, 2);
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 0);
    /* A read whose data happens to look like S5 is not a write. */
    d[0] = 0x34;
    acpi_pm_io(&pm, 0, 0, d, 1);
    assert_int_equal(r.calls, 0);
}

/* A 16-bit write at the control register carries the control byte in its low byte. */
static void wide_write(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    uint8_t w[2] = {0x00, 0x34}; /* S5 in the status byte: not a sleep request */
    acpi_pm_io(&pm, 0, 1, w, 2);
    assert_int_equal(r.calls, 0);
    w[0] = 0x34;
    w[1] = 0x00;
    acpi_pm_io(&pm, 0, 1, w, 2);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.outcome, VM_POWEROFF);
}

/* Each request is reported; deciding that the first one wins is the VM's job. */
static void repeated_s5(void **state)
{
    (void)state;
    struct rec r = {0};
    struct acpi_pm pm;
    acpi_pm_init(&pm, power, &r);
    wr(&pm, 0, 0x34);
    wr(&pm, 0, 0x34);
    assert_int_equal(r.calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s5_powers_off),
        cmocka_unit_test(other_sleep_states_ignored),
        cmocka_unit_test(status_register_writes_ignored),
        cmocka_unit_test(reads_are_zero),
        cmocka_unit_test(wide_write),
        cmocka_unit_test(repeated_s5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
