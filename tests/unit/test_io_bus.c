/* Port I/O and MMIO dispatch (src/vmm/core/io_bus.c): registration rules and routing of accesses,
 * including the addresses a guest may pick to land just outside or across a device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/err.h"
#include "vmm/core/io_bus.h"

/* What a device saw of its last access. */
struct dev {
    const char *name;
    unsigned calls;
    uint64_t offset;
    int is_write;
    unsigned size;
    uint8_t *data;
    uint8_t written[8];
};

static void dev_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct dev *d = opaque;
    d->calls++;
    d->offset = offset;
    d->is_write = is_write;
    d->size = size;
    d->data = data;
    if (is_write)
        memcpy(d->written, data, size < 8 ? size : 8);
    else
        for (unsigned i = 0; i < size; i++)
            data[i] = (uint8_t)(0xa0 + offset + i);
}

static void assert_msg_has(const char *needle)
{
    if (!strstr(err_msg(), needle))
        fail_msg("error message \"%s\" does not mention \"%s\"", err_msg(), needle);
}

static void dispatch_with_offset(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev uart = {.name = "COM1"}, kbd = {.name = "i8042"};
    assert_int_equal(io_bus_register(&bus, 0x3f8, 8, dev_io, &uart, "COM1"), 0);
    assert_int_equal(io_bus_register(&bus, 0x60, 5, dev_io, &kbd, "i8042"), 0);

    uint8_t d[4] = {0x11, 0x22, 0x33, 0x44};
    assert_int_equal(io_bus_access(&bus, 0x3fb, 1, d, 2), 0);
    assert_int_equal(uart.calls, 1);
    assert_int_equal(uart.offset, 3);
    assert_int_equal(uart.is_write, 1);
    assert_int_equal(uart.size, 2);
    assert_ptr_equal(uart.data, d); /* the caller's buffer, not a copy */
    assert_memory_equal(uart.written, d, 2);
    assert_int_equal(kbd.calls, 0);

    memset(d, 0, sizeof(d));
    assert_int_equal(io_bus_access(&bus, 0x64, 0, d, 1), 0);
    assert_int_equal(kbd.calls, 1);
    assert_int_equal(kbd.offset, 4);
    assert_int_equal(kbd.is_write, 0);
    assert_int_equal(d[0], 0xa4);

    /* First and last port of a range. */
    assert_int_equal(io_bus_access(&bus, 0x3f8, 0, d, 1), 0);
    assert_int_equal(uart.offset, 0);
    assert_int_equal(io_bus_access(&bus, 0x3ff, 0, d, 1), 0);
    assert_int_equal(uart.offset, 7);
    assert_int_equal(uart.calls, 3);
}

static void overlap_rejected(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev a = {0};
    assert_int_equal(io_bus_register(&bus, 0x3f8, 8, dev_io, &a, "COM1"), 0);
    static const struct {
        uint64_t base, len;
    } bad[] = {
        {0x3f8, 8},      /* identical */
        {0x3f0, 9},      /* covers the first port */
        {0x3ff, 1},      /* the last port */
        {0x3ff, 16},     /* from the last port on */
        {0x3fa, 2},      /* inside */
        {0x300, 0x200},  /* around */
        {0, UINT64_MAX}, /* everything */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(io_bus_register(&bus, bad[i].base, bad[i].len, dev_io, &a, "intruder"), -EEXIST);
        assert_msg_has("intruder");
        assert_msg_has("COM1");
    }
    assert_int_equal(bus.n, 1);
    /* Neighbours on both sides are fine. */
    assert_int_equal(io_bus_register(&bus, 0x3f0, 8, dev_io, &a, "below"), 0);
    assert_int_equal(io_bus_register(&bus, 0x400, 8, dev_io, &a, "above"), 0);
    assert_int_equal(bus.n, 3);
}

/* A range that ends exactly at the top of the 64-bit space (base + len == 2^64). MMIO is
 * 64-bit, so the bus has to handle it; an overlap check computing base + len wraps to 0 there
 * and sees no overlap at all. */
static void overlap_at_top_of_address_space(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev top = {0};
    assert_int_equal(io_bus_register(&bus, UINT64_MAX - 0xf, 0x10, dev_io, &top, "top"), 0);
    uint8_t d = 0;
    assert_int_equal(io_bus_access(&bus, UINT64_MAX, 0, &d, 1), 0);
    assert_int_equal(top.offset, 0xf);
    assert_int_equal(io_bus_register(&bus, UINT64_MAX - 7, 8, dev_io, &top, "overlapping"), -EEXIST);
}

static void table_full(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev d = {0};
    for (unsigned i = 0; i < IO_BUS_MAX; i++)
        assert_int_equal(io_bus_register(&bus, 0x1000 + 0x10 * i, 0x10, dev_io, &d, "dev"), 0);
    assert_int_equal(io_bus_register(&bus, 0x8000, 1, dev_io, &d, "one too many"), -ENOSPC);
    assert_msg_has("one too many");
    assert_int_equal(bus.n, IO_BUS_MAX);
    /* Still routes to every registered device. */
    uint8_t b;
    for (unsigned i = 0; i < IO_BUS_MAX; i++)
        assert_int_equal(io_bus_access(&bus, 0x1000 + 0x10 * i + 3, 0, &b, 1), 0);
    assert_int_equal(d.calls, IO_BUS_MAX);
    assert_int_equal(io_bus_access(&bus, 0x8000, 0, &b, 1), -ENOENT);
}

static void unclaimed_read_is_all_ones(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev uart = {0};
    assert_int_equal(io_bus_register(&bus, 0x3f8, 8, dev_io, &uart, "COM1"), 0);
    static const uint64_t addrs[] = {0, 0x3f7, 0x400, 0x80, 0xffff, 0x10000, UINT64_MAX};
    for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        assert_int_equal(io_bus_access(&bus, addrs[i], 0, d, 4), -ENOENT);
        static const uint8_t want[8] = {0xff, 0xff, 0xff, 0xff, 5, 6, 7, 8};
        assert_memory_equal(d, want, 8); /* exactly `size` bytes filled */
    }
    assert_int_equal(uart.calls, 0);
    /* Empty bus. */
    struct io_bus empty = {0};
    uint8_t d = 0;
    assert_int_equal(io_bus_access(&empty, 0x3f8, 0, &d, 1), -ENOENT);
    assert_int_equal(d, 0xff);
}

static void unclaimed_write_dropped(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev uart = {0};
    assert_int_equal(io_bus_register(&bus, 0x3f8, 8, dev_io, &uart, "COM1"), 0);
    uint8_t d[4] = {9, 8, 7, 6};
    assert_int_equal(io_bus_access(&bus, 0x3f7, 1, d, 4), -ENOENT);
    assert_int_equal(io_bus_access(&bus, 0x400, 1, d, 1), -ENOENT);
    assert_int_equal(io_bus_access(&bus, UINT64_MAX, 1, d, 4), -ENOENT);
    static const uint8_t same[4] = {9, 8, 7, 6};
    assert_memory_equal(d, same, 4); /* a write's buffer is the guest's data: left alone */
    assert_int_equal(uart.calls, 0);
}

/* Addresses far below a device must not reach it through unsigned wrap-around. */
static void no_wraparound_dispatch(void **state)
{
    (void)state;
    struct io_bus bus = {0};
    struct dev mmio = {0};
    assert_int_equal(io_bus_register(&bus, 0xfec00000, 0x1000, dev_io, &mmio, "ioapic"), 0);
    uint8_t d[4];
    assert_int_equal(io_bus_access(&bus, 0xfec00000 - 1, 0, d, 4), -ENOENT);
    assert_int_equal(io_bus_access(&bus, 0, 0, d, 4), -ENOENT);
    assert_int_equal(io_bus_access(&bus, 0xfec00000ULL + (1ULL << 32), 0, d, 4), -ENOENT);
    assert_int_equal(io_bus_access(&bus, 0xfec01000, 0, d, 4), -ENOENT);
    assert_int_equal(mmio.calls, 0);
    assert_int_equal(io_bus_access(&bus, 0xfec00ffc, 0, d, 4), 0);
    assert_int_equal(mmio.offset, 0xffc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dispatch_with_offset),
        cmocka_unit_test(overlap_rejected),
        cmocka_unit_test(overlap_at_top_of_address_space),
        cmocka_unit_test(table_full),
        cmocka_unit_test(unclaimed_read_is_all_ones),
        cmocka_unit_test(unclaimed_write_dropped),
        cmocka_unit_test(no_wraparound_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
