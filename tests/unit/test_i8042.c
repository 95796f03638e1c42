/* PS/2 controller stub (src/vmm/i8042.c): the reset command, and the few controller commands
 * a probing guest sends before it decides there is no keyboard. Offsets are from port 0x60:
 * 0 is the data port, 4 the command/status port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/dev/i8042.h"

#define DATA 0
#define CMD 4
#define STATUS 4
#define OBF 0x01

struct fixture {
    struct i8042 k;
    unsigned calls;
    enum vm_outcome outcome;
    const char *why;
    int lock_free; /* the controller's lock was not held during the callback */
};

static void power(void *opaque, enum vm_outcome outcome, const char *why)
{
    struct fixture *f = opaque;
    f->calls++;
    f->outcome = outcome;
    f->why = why;
    /* The callback stops the VM, which may take other locks and join threads: it must run
     * without the device lock, or a vCPU touching the i8042 meanwhile would deadlock. */
    f->lock_free = pthread_mutex_trylock(&f->k.lock) == 0;
    if (f->lock_free)
        pthread_mutex_unlock(&f->k.lock);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    i8042_init(&f->k, power, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    i8042_destroy(&f->k);
    free(f);
    return 0;
}

static void wr(struct fixture *f, unsigned off, uint8_t v)
{
    i8042_io(&f->k, off, 1, &v, 1);
}

static uint8_t rd(struct fixture *f, unsigned off)
{
    uint8_t v = 0x5a;
    i8042_io(&f->k, off, 0, &v, 1);
    return v;
}

static void reset_command_reboots(void **state)
{
    struct fixture *f = *state;
    wr(f, CMD, 0xfe);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->outcome, VM_REBOOT);
    assert_non_null(f->why);
    assert_true(strlen(f->why) > 0);
    assert_true(f->lock_free);
}

/* 0xfe as data, or any other command, is not a reset. */
static void only_reset_command_reboots(void **state)
{
    struct fixture *f = *state;
    wr(f, DATA, 0xfe);
    for (unsigned c = 0; c < 0x100; c++)
        if (c != 0xfe && c != 0x60) /* 0x60 would take the next byte as CTR; tested apart */
            wr(f, CMD, (uint8_t)c);
    assert_int_equal(f->calls, 0);
    /* 0xfe written to the ports between 0x60 and 0x64, which the controller does not decode. */
    uint8_t w[1] = {0xfe};
    i8042_io(&f->k, 1, 1, w, 1);
    i8042_io(&f->k, 2, 1, w, 1);
    i8042_io(&f->k, 3, 1, w, 1);
    assert_int_equal(f->calls, 0);
}

static void status_initially_empty(void **state)
{
    struct fixture *f = *state;
    uint8_t s = rd(f, STATUS);
    assert_int_equal(s & OBF, 0);
    assert_int_equal(s & 0x04, 0x04); /* system flag: POST passed */
}

static void read_ctr(void **state)
{
    struct fixture *f = *state;
    wr(f, CMD, 0x20);
    assert_int_equal(rd(f, STATUS) & OBF, OBF);
    assert_int_equal(rd(f, DATA), 0x30); /* both ports disabled: nothing plugged in */
    assert_int_equal(rd(f, STATUS) & OBF, 0);
    assert_int_equal(f->calls, 0);
}

static void write_ctr(void **state)
{
    struct fixture *f = *state;
    wr(f, CMD, 0x60);
    assert_int_equal(rd(f, STATUS) & OBF, 0);
    wr(f, DATA, 0x47);
    wr(f, CMD, 0x20);
    assert_int_equal(rd(f, DATA), 0x47);
    /* A data byte with no command waiting for it changes nothing. */
    wr(f, DATA, 0x00);
    wr(f, CMD, 0x20);
    assert_int_equal(rd(f, DATA), 0x47);
    /* The data byte goes to the command in front of it only once. */
    wr(f, CMD, 0x60);
    wr(f, DATA, 0x11);
    wr(f, DATA, 0x22);
    wr(f, CMD, 0x20);
    assert_int_equal(rd(f, DATA), 0x11);
    /* A new command cancels a pending write-CTR. */
    wr(f, CMD, 0x60);
    wr(f, CMD, 0xad);
    wr(f, DATA, 0x33);
    wr(f, CMD, 0x20);
    assert_int_equal(rd(f, DATA), 0x11);
    /* Data 0xfe as CTR is just a value. */
    wr(f, CMD, 0x60);
    wr(f, DATA, 0xfe);
    assert_int_equal(f->calls, 0);
    /* And reset still works after all that. */
    wr(f, CMD, 0xfe);
    assert_int_equal(f->calls, 1);
}

static void self_test(void **state)
{
    struct fixture *f = *state;
    wr(f, CMD, 0xaa);
    assert_int_equal(rd(f, STATUS) & OBF, OBF);
    assert_int_equal(rd(f, DATA), 0x55);
    assert_int_equal(rd(f, STATUS) & OBF, 0);
}

static void undecoded_accesses_read_ones(void **state)
{
    struct fixture *f = *state;
    for (unsigned off = 1; off <= 3; off++)
        assert_int_equal(rd(f, off), 0xff);
    /* A wide access reaches the register with its low byte only; the rest reads as no device. */
    uint8_t w[4] = {0, 0, 0, 0};
    i8042_io(&f->k, DATA, 0, w, 2);
    assert_int_equal(w[0], 0x00); /* the (empty) output buffer */
    assert_int_equal(w[1], 0xff);
    i8042_io(&f->k, STATUS, 0, w, 4);
    static const uint8_t status_then_ones[4] = {0x04, 0xff, 0xff, 0xff}; /* SYS flag only */
    assert_memory_equal(w, status_then_ones, 4);
    uint8_t reset[2] = {0xfe, 0x00};
    i8042_io(&f->k, STATUS, 1, reset, 2);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->outcome, VM_REBOOT);
    /* Reading the data port with nothing in the buffer leaves status alone. */
    (void)rd(f, DATA);
    assert_int_equal(rd(f, STATUS) & OBF, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(reset_command_reboots),
        T(only_reset_command_reboots),
        T(status_initially_empty),
        T(read_ctr),
        T(write_ctr),
        T(self_test),
        T(undecoded_accesses_read_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
