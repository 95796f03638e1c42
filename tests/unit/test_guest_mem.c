/* Guest RAM layout and bounds checks (src/vmm/core/guest_mem.c). guest_mem_ptr() is the one gate
 * between guest-supplied physical addresses and host memory, so it is fed every shape of bad
 * range: off the end, into the MMIO hole, across ranges, and sums that wrap past 2^64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/core/guest_mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define SMALL (8 * MiB)
#define BIG (3 * GiB + 512 * MiB)

/* Anonymous MAP_NORESERVE memory: a 3.5 GiB "domain" costs only the pages a test touches. */
static uint8_t *map_anon(uint64_t size)
{
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

/* The lowest free descriptor number: equal before and after means no descriptor leaked. */
static int lowest_free_fd(void)
{
    int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    return fd;
}

static void ptr_small_ram(void **state)
{
    (void)state;
    uint8_t *buf = map_anon(SMALL);
    struct guest_mem m;
    guest_mem_init_buffer(&m, buf, SMALL);
    assert_int_equal(m.nranges, 1);
    assert_int_equal(guest_mem_low_end(&m), SMALL);

    /* Inside. */
    assert_ptr_equal(guest_mem_ptr(&m, 0, 1), buf);
    assert_ptr_equal(guest_mem_ptr(&m, 0, SMALL), buf);
    assert_ptr_equal(guest_mem_ptr(&m, 0x1234, 0x100), buf + 0x1234);
    assert_ptr_equal(guest_mem_ptr(&m, SMALL - 1, 1), buf + SMALL - 1);
    assert_ptr_equal(guest_mem_ptr(&m, SMALL - 8, 8), buf + SMALL - 8);

    /* Crossing or past the end. */
    assert_null(guest_mem_ptr(&m, SMALL - 1, 2));
    assert_null(guest_mem_ptr(&m, SMALL - 8, 9));
    assert_null(guest_mem_ptr(&m, 0, SMALL + 1));
    assert_null(guest_mem_ptr(&m, SMALL, 1));
    assert_null(guest_mem_ptr(&m, SMALL + 1, 0));
    assert_null(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START, 1));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, 1)); /* no high range exists */

    /* Zero length: at the end is the empty range just past the last byte (still in RAM),
     * past it is not. */
    assert_ptr_equal(guest_mem_ptr(&m, SMALL, 0), buf + SMALL);
    assert_ptr_equal(guest_mem_ptr(&m, 0, 0), buf);

    /* Sums that wrap past 2^64 must not come back around into RAM. */
    assert_null(guest_mem_ptr(&m, UINT64_MAX, 1));
    assert_null(guest_mem_ptr(&m, UINT64_MAX, 2));
    assert_null(guest_mem_ptr(&m, UINT64_MAX, UINT64_MAX));
    assert_null(guest_mem_ptr(&m, 1, UINT64_MAX));
    assert_null(guest_mem_ptr(&m, 0, UINT64_MAX));
    assert_null(guest_mem_ptr(&m, 0x1000, UINT64_MAX - 0xfff)); /* gpa + len == 0 */
    assert_null(guest_mem_ptr(&m, 0x1000, UINT64_MAX - 0x7ff)); /* gpa + len == 0x800 */
    assert_null(guest_mem_ptr(&m, UINT64_MAX - 0xfff, 0x2000));
    assert_null(guest_mem_ptr(&m, 1ULL << 63, 1ULL << 63));
    munmap(buf, SMALL);
}

static void ptr_high_ram(void **state)
{
    (void)state;
    uint8_t *buf = map_anon(BIG);
    struct guest_mem m;
    guest_mem_init_buffer(&m, buf, BIG);
    assert_int_equal(m.nranges, 2);
    assert_int_equal(guest_mem_low_end(&m), GUEST_MMIO_HOLE_START);
    assert_int_equal(m.ranges[0].gpa, 0);
    assert_int_equal(m.ranges[0].size, 3 * GiB);
    assert_int_equal(m.ranges[1].gpa, GUEST_HIGH_RAM_START);
    assert_int_equal(m.ranges[1].size, 512 * MiB);
    assert_int_equal(m.ranges[1].offset, 3 * GiB);

    /* Low range up to the hole. */
    assert_ptr_equal(guest_mem_ptr(&m, 3 * GiB - 1, 1), buf + 3 * GiB - 1);
    assert_null(guest_mem_ptr(&m, 3 * GiB - 1, 2));

    /* The hole: IOAPIC, LAPIC, anything in 3-4 GiB. */
    assert_null(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START, 1));
    assert_null(guest_mem_ptr(&m, 0xfec00000, 4));
    assert_null(guest_mem_ptr(&m, 0xfee00000, 0x1000));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START - 1, 1));
    assert_null(guest_mem_ptr(&m, 0xd0000000, 0));
    /* Across the hole from one range into the other: the host mapping is contiguous there, so
     * a check that only looked at total size would wrongly allow it. */
    assert_null(guest_mem_ptr(&m, 3 * GiB - 1, GiB + 2));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START - 1, 2));
    assert_null(guest_mem_ptr(&m, 0, BIG));

    /* High range: 4 GiB maps to the memfd/host offset 3 GiB. */
    assert_ptr_equal(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, 1), buf + 3 * GiB);
    assert_ptr_equal(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, 512 * MiB), buf + 3 * GiB);
    assert_ptr_equal(guest_mem_ptr(&m, GUEST_HIGH_RAM_START + 512 * MiB - 1, 1), buf + BIG - 1);
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START + 512 * MiB - 1, 2));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START + 512 * MiB, 1));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START + 512 * MiB + 1, 0));
    /* Addresses that equal a high address modulo 2^32 are not it. */
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START + (1ULL << 32), 1));
    assert_null(guest_mem_ptr(&m, UINT64_MAX - 3, 4));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, UINT64_MAX));

    /* Writes through the high range land at the right host offset. */
    uint32_t v = 0xfeedface;
    assert_int_equal(guest_mem_write(&m, GUEST_HIGH_RAM_START + 0x10, &v, 4), 0);
    assert_memory_equal(buf + 3 * GiB + 0x10, &v, 4);
    munmap(buf, BIG);
}

/* Exactly 3 GiB fills the low range: no empty high range appears. */
static void layout_exactly_3g(void **state)
{
    (void)state;
    uint8_t *buf = map_anon(3 * GiB);
    struct guest_mem m;
    guest_mem_init_buffer(&m, buf, 3 * GiB);
    assert_int_equal(m.nranges, 1);
    assert_int_equal(guest_mem_low_end(&m), 3 * GiB);
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, 0));
    assert_null(guest_mem_ptr(&m, GUEST_HIGH_RAM_START, 1));
    munmap(buf, 3 * GiB);
}

static void create_rejects_bad_sizes(void **state)
{
    (void)state;
    static const uint64_t bad[] = {0, 1, 4095, 4097, 8 * MiB + 1, 8 * MiB - 512};
    int fd0 = lowest_free_fd();
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct guest_mem m;
        memset(&m, 0x5a, sizeof(m));
        assert_int_equal(guest_mem_create(&m, bad[i]), -EINVAL);
        assert_non_null(strstr(err_msg(), "4 KiB"));
        assert_int_equal(m.fd, -1);
        assert_null(m.host);
        /* Destroying a failed one is harmless. */
        guest_mem_destroy(&m);
    }
    assert_int_equal(lowest_free_fd(), fd0);
}

/* Sizes the host cannot map fail with an error and leak no descriptor. */
static void create_impossible_size(void **state)
{
    (void)state;
    int fd0 = lowest_free_fd();
    static const uint64_t huge[] = {1ULL << 62, UINT64_MAX & ~4095ULL, 1ULL << 63};
    for (unsigned i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        struct guest_mem m;
        assert_true(guest_mem_create(&m, huge[i]) < 0);
        assert_int_equal(m.fd, -1);
        assert_null(m.host);
        assert_true(strlen(err_msg()) > 0);
    }
    assert_int_equal(lowest_free_fd(), fd0);
}

static void create_small_and_destroy(void **state)
{
    (void)state;
    int fd0 = lowest_free_fd();
    struct guest_mem m;
    assert_int_equal(guest_mem_create(&m, 4 * MiB), 0);
    assert_true(m.fd >= 0);
    assert_non_null(m.host);
    assert_int_equal(m.size, 4 * MiB);
    assert_int_equal(m.nranges, 1);
    /* Fresh RAM reads zero, and is shared with the memfd (what vhost-user and snapshots see). */
    const uint8_t *p = guest_mem_ptr(&m, 0x3000, 16);
    assert_non_null(p);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(p[i], 0);
    assert_int_equal(guest_mem_write(&m, 0x3000, "through the map", 16), 0);
    char back[16];
    assert_int_equal(pread(m.fd, back, 16, 0x3000), 16);
    assert_memory_equal(back, "through the map", 16);
    /* Sealed against shrinking (a vhost-user backend maps it and requires the seal); holes
     * can still be punched (balloon, lazy restore). */
    int seals = fcntl(m.fd, F_GET_SEALS);
    assert_true(seals >= 0 && (seals & F_SEAL_SHRINK));
    assert_int_equal(ftruncate(m.fd, MiB), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(fallocate(m.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
    guest_mem_destroy(&m);
    assert_int_equal(m.fd, -1);
    assert_null(m.host);
    guest_mem_destroy(&m); /* twice is safe */
    assert_int_equal(lowest_free_fd(), fd0);
}

/* More than 3 GiB through a real memfd: sparse, so only what is touched costs memory. */
static void create_high_ram(void **state)
{
    (void)state;
    struct guest_mem m;
    assert_int_equal(guest_mem_create(&m, BIG), 0);
    assert_int_equal(m.nranges, 2);
    assert_int_equal(guest_mem_low_end(&m), 3 * GiB);
    assert_int_equal(guest_mem_write(&m, GUEST_HIGH_RAM_START, "high", 4), 0);
    char back[4];
    assert_int_equal(pread(m.fd, back, 4, (off_t)(3 * GiB)), 4);
    assert_memory_equal(back, "high", 4);
    assert_int_equal(guest_mem_write(&m, GUEST_MMIO_HOLE_START - 4, "low!", 4), 0);
    assert_int_equal(pread(m.fd, back, 4, (off_t)(3 * GiB - 4)), 4);
    assert_memory_equal(back, "low!", 4);
    guest_mem_destroy(&m);
}

static void write_rejects_non_ram(void **state)
{
    (void)state;
    uint8_t *buf = map_anon(SMALL);
    struct guest_mem m;
    guest_mem_init_buffer(&m, buf, SMALL);
    uint8_t src[64];
    memset(src, 0xab, sizeof(src));

    assert_int_equal(guest_mem_write(&m, 0x1000, src, sizeof(src)), 0);
    assert_memory_equal(buf + 0x1000, src, sizeof(src));

    /* Crossing the end: -EFAULT and not even the part that was RAM is written. */
    assert_int_equal(guest_mem_write(&m, SMALL - 32, src, sizeof(src)), -EFAULT);
    assert_non_null(strstr(err_msg(), "not RAM"));
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(buf[SMALL - 32 + i], 0);

    assert_int_equal(guest_mem_write(&m, GUEST_MMIO_HOLE_START, src, 1), -EFAULT);
    assert_int_equal(guest_mem_write(&m, 0xfee00000, src, 4), -EFAULT);
    assert_int_equal(guest_mem_write(&m, UINT64_MAX, src, 2), -EFAULT);
    assert_int_equal(guest_mem_write(&m, 0x1000, src, UINT64_MAX), -EFAULT);
    /* A zero-length write anywhere inside, or at the end, is a no-op that succeeds. */
    assert_int_equal(guest_mem_write(&m, SMALL, src, 0), 0);
    munmap(buf, SMALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ptr_small_ram),          cmocka_unit_test(ptr_high_ram),
        cmocka_unit_test(layout_exactly_3g),      cmocka_unit_test(create_rejects_bad_sizes),
        cmocka_unit_test(create_impossible_size), cmocka_unit_test(create_small_and_destroy),
        cmocka_unit_test(create_high_ram),        cmocka_unit_test(write_rejects_non_ram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
