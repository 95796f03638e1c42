/* Split virtqueues (src/vmm/virtio/virtqueue.c) fed hostile rings directly: a guest_mem over a
 * plain buffer stands for guest RAM, the test writes descriptors and rings the way a
 * (malicious) driver would, and every violation must break the queue with a message and
 * never touch memory outside "RAM" (ASan watches the buffer's edges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/virtio/virtqueue.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000
#define TABLE 0x8000

struct fx {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtq vq;
    struct virtq_elem e;
    unsigned errors;
    char last[256];
};

static void on_error(void *opaque, struct virtq *vq, const char *msg)
{
    struct fx *f = opaque;
    (void)vq;
    f->errors++;
    snprintf(f->last, sizeof(f->last), "%s", msg);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, RAM);
    guest_mem_init_buffer(&f->mem, f->ram, RAM);
    virtq_init(&f->vq, &f->mem, 0, on_error, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static struct virtq_desc *desc(struct fx *f, uint64_t table, unsigned i)
{
    return (struct virtq_desc *)(f->ram + table + 16 * i);
}

static void set_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    struct virtq_desc d = {addr, len, flags, next};
    memcpy(desc(f, table, i), &d, sizeof(d));
}

static uint16_t *avail(struct fx *f)
{
    return (uint16_t *)(f->ram + AVAIL);
}

static uint16_t *used16(struct fx *f)
{
    return (uint16_t *)(f->ram + USED);
}

/* Makes `head` available as the next entry. */
static void offer(struct fx *f, uint16_t head)
{
    uint16_t idx = avail(f)[1];
    avail(f)[2 + (idx & (f->vq.size - 1))] = head;
    avail(f)[1] = (uint16_t)(idx + 1);
}

static void ready(struct fx *f, uint16_t size, bool indirect, bool event_idx)
{
    assert_int_equal(virtq_setup(&f->vq, size, VIRTQ_MAX_SIZE, DESC, AVAIL, USED, indirect, event_idx), 0);
    assert_true(f->vq.ready);
}

static void expect_broken(struct fx *f, const char *needle)
{
    assert_int_equal(virtq_pop(&f->vq, &f->e), -1);
    assert_true(f->vq.broken);
    assert_int_equal(f->errors, 1);
    if (!strstr(f->last, needle))
        fail_msg("error '%s' lacks '%s'", f->last, needle);
    /* Broken stays broken, and is reported once. */
    assert_int_equal(virtq_pop(&f->vq, &f->e), -1);
    assert_int_equal(f->errors, 1);
}

/* ---- setup ---- */

static void setup_rejects_bad_sizes(void **state)
{
    struct fx *f = *state;
    uint16_t bad[] = {0, 3, 6, 100};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->errors = 0;
        assert_int_equal(virtq_setup(&f->vq, bad[i], 256, DESC, AVAIL, USED, false, false), -22);
        assert_false(f->vq.ready);
        assert_int_equal(f->errors, 1);
        assert_non_null(strstr(f->last, "power of two"));
    }
    f->errors = 0;
    assert_int_equal(virtq_setup(&f->vq, 128, 64, DESC, AVAIL, USED, false, false), -22);   /* above the max */
    assert_int_equal(virtq_setup(&f->vq, 512, 1024, DESC, AVAIL, USED, false, false), -22); /* above 256 */
    assert_int_equal(virtq_setup(&f->vq, 64, 64, DESC, AVAIL, USED, false, false), 0);
}

static void setup_rejects_bad_rings(void **state)
{
    struct fx *f = *state;
    struct {
        uint64_t d, a, u;
        const char *why;
    } cases[] = {
        {DESC + 8, AVAIL, USED, "misaligned"},
        {DESC, AVAIL + 1, USED, "misaligned"},
        {DESC, AVAIL, USED + 2, "misaligned"},
        {RAM - 16 * 8, AVAIL, USED, "descriptor table"},     /* straddles the end of RAM */
        {0xd0000000ULL, AVAIL, USED, "descriptor table"},    /* the MMIO hole */
        {DESC, RAM - 16, USED, "driver area"},               /* avail ring with used_event past the end */
        {DESC, AVAIL, RAM - 8 * 16, "device area"},          /* used ring with avail_event past the end */
        {DESC, AVAIL, 0xfffffffffffffff0ULL, "device area"}, /* wraps past 2^64 */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f->errors = 0;
        assert_int_equal(virtq_setup(&f->vq, 16, 256, cases[i].d, cases[i].a, cases[i].u, false, false), -22);
        assert_false(f->vq.ready);
        assert_true(f->vq.broken);
        if (!strstr(f->last, cases[i].why))
            fail_msg("case %u: '%s' lacks '%s'", i, f->last, cases[i].why);
    }
    /* Rings that end exactly at the end of RAM are fine. */
    f->errors = 0;
    assert_int_equal(virtq_setup(&f->vq, 16, 256, RAM - 256, RAM - 512, RAM - 1024 - 8 * 16 - 6 - 2, false, false), 0);
    assert_int_equal(virtq_setup(&f->vq, 16, 256, DESC, AVAIL, RAM - (6 + 8 * 16) - 2, false, false), 0);
    assert_int_equal(f->errors, 0);
}

/* ---- good chains ---- */

static void pop_empty_and_simple_chain(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 0);
    assert_false(virtq_has_avail(&f->vq));
    memcpy(f->ram + DATA, "hello", 5);
    set_desc(f, DESC, 3, DATA, 5, VIRTQ_DESC_F_NEXT, 7);
    set_desc(f, DESC, 7, DATA + 100, 3, VIRTQ_DESC_F_NEXT, 9);
    set_desc(f, DESC, 9, DATA + 200, 64, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 3);
    assert_true(virtq_has_avail(&f->vq));
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.head, 3);
    assert_int_equal(f->e.n_out, 2);
    assert_int_equal(f->e.n_in, 1);
    assert_int_equal(f->e.out_len, 8);
    assert_int_equal(f->e.in_len, 64);
    assert_ptr_equal(f->e.out[0].iov_base, f->ram + DATA);
    assert_ptr_equal(f->e.in[0].iov_base, f->ram + DATA + 200);
    char got[8];
    assert_int_equal(virtq_elem_read(&f->e, 0, got, sizeof(got)), 8);
    assert_memory_equal(got, "hello", 5);
    assert_int_equal(virtq_elem_read(&f->e, 4, got, 2), 2);
    assert_int_equal(got[0], 'o');
    assert_int_equal(virtq_elem_write(&f->e, 60, "abcdefgh", 8), 4); /* only 4 bytes left */
    assert_memory_equal(f->ram + DATA + 260, "abcd", 4);
    virtq_push(&f->vq, &f->e, 1000); /* more than was writable: clamped */
    assert_int_equal(used16(f)[1], 1);
    uint32_t *u = (uint32_t *)(f->ram + USED + 4);
    assert_int_equal(u[0], 3);
    assert_int_equal(u[1], 64);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 0);
    assert_int_equal(f->errors, 0);
}

static void ring_wraps(void **state)
{
    struct fx *f = *state;
    ready(f, 4, false, false);
    set_desc(f, DESC, 0, DATA, 16, VIRTQ_DESC_F_WRITE, 0);
    avail(f)[1] = 65534;      /* the driver may start anywhere... */
    f->vq.last_avail = 65534; /* ...as long as the device agrees (it does after a reset) */
    for (unsigned i = 0; i < 10; i++) {
        offer(f, 0);
        assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
        virtq_push(&f->vq, &f->e, 16);
    }
    assert_int_equal(used16(f)[1], 10);
    /* A full ring (exactly size entries) is fine. */
    for (unsigned i = 0; i < 4; i++)
        offer(f, 0);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->errors, 0);
}

static void indirect_chain(void **state)
{
    struct fx *f = *state;
    ready(f, 8, true, false);
    set_desc(f, TABLE, 0, DATA, 10, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, TABLE, 2, DATA + 32, 20, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, TABLE, 1, DATA + 64, 30, VIRTQ_DESC_F_WRITE, 0);
    set_desc(f, DESC, 5, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0); /* WRITE ignored */
    offer(f, 5);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.head, 5);
    assert_int_equal(f->e.n_out, 1);
    assert_int_equal(f->e.n_in, 2);
    assert_int_equal(f->e.in_len, 50);
    /* A direct descriptor may lead to the indirect one (it cannot have NEXT itself). */
    set_desc(f, TABLE, 0, DATA, 10, 0, 0);
    set_desc(f, DESC, 1, DATA + 500, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, DESC, 2, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 1);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.n_out, 2);
    /* Indirect tables need no alignment. */
    memmove(f->ram + TABLE + 4, f->ram + TABLE, 16);
    set_desc(f, DESC, 2, TABLE + 4, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 2);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_ptr_equal(f->e.out[0].iov_base, f->ram + DATA);
    assert_int_equal(f->errors, 0);
}

/* ---- hostile chains ---- */

static void head_out_of_range(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    offer(f, 16);
    expect_broken(f, "head descriptor 16 >= queue size 16");
}

static void next_out_of_range(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, DESC, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 0xffff);
    offer(f, 0);
    expect_broken(f, "next 65535 >= queue size 16");
}

static void loops(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, DESC, 4, DATA, 8, VIRTQ_DESC_F_NEXT, 4); /* itself */
    offer(f, 4);
    expect_broken(f, "a loop?");
}

static void long_loop(void **state)
{
    struct fx *f = *state;
    ready(f, 256, false, false);
    for (unsigned i = 0; i < 256; i++)
        set_desc(f, DESC, i, DATA, 8, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % 256));
    offer(f, 0);
    expect_broken(f, "longer than the queue (256)");
}

static void avail_idx_jump(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    avail(f)[1] = 17;
    expect_broken(f, "avail idx jumped from 0 to 17");
}

static void avail_idx_backwards(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    avail(f)[1] = 0xffff; /* "65535 entries ahead" */
    expect_broken(f, "jumped");
}

static void buffers_outside_ram(void **state)
{
    struct {
        uint64_t addr;
        uint32_t len;
    } cases[] = {
        {RAM, 1},                      /* just past the end */
        {RAM - 4, 8},                  /* straddles the end */
        {DATA, 0xffffffff},            /* huge length */
        {0xfffffffffffffff0ULL, 0x20}, /* addr + len wraps */
        {0xfec00000ULL, 16},           /* the MMIO hole */
        {0x100000000ULL, 16},          /* where high RAM would be */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx *f = *state;
        f->errors = 0;
        virtq_reset(&f->vq);
        memset(f->ram + AVAIL, 0, 0x2000);
        ready(f, 16, false, false);
        set_desc(f, DESC, 0, cases[i].addr, cases[i].len, VIRTQ_DESC_F_WRITE, 0);
        offer(f, 0);
        expect_broken(f, "is not in RAM");
    }
}

static void zero_length_at_end_is_fine(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, DESC, 0, RAM, 0, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.in_len, 0);
}

static void readable_after_writable(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, DESC, 0, DATA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, DESC, 1, DATA, 8, 0, 0);
    offer(f, 0);
    expect_broken(f, "device-readable buffer after a device-writable one");
}

static void indirect_not_negotiated(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, TABLE, 0, DATA, 8, 0, 0);
    set_desc(f, DESC, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "VIRTIO_F_INDIRECT_DESC was not negotiated");
}

static void indirect_bad(void **state)
{
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        const char *why;
    } cases[] = {
        {TABLE, 0, VIRTQ_DESC_F_INDIRECT, "not a multiple of 16"},
        {TABLE, 20, VIRTQ_DESC_F_INDIRECT, "not a multiple of 16"},
        {TABLE, 16 * 257, VIRTQ_DESC_F_INDIRECT, "not a multiple of 16"},
        {RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, "is not in RAM"},
        {0xd0000000ULL, 64, VIRTQ_DESC_F_INDIRECT, "is not in RAM"},
        {TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, "both INDIRECT and NEXT"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx *f = *state;
        f->errors = 0;
        virtq_reset(&f->vq);
        memset(f->ram + AVAIL, 0, 0x2000);
        ready(f, 16, true, false);
        set_desc(f, TABLE, 0, DATA, 8, 0, 0);
        set_desc(f, DESC, 0, cases[i].addr, cases[i].len, cases[i].flags, 1);
        set_desc(f, DESC, 1, DATA, 8, 0, 0);
        offer(f, 0);
        expect_broken(f, cases[i].why);
    }
}

static void indirect_nested_and_loops(void **state)
{
    struct fx *f = *state;
    ready(f, 16, true, false);
    set_desc(f, TABLE + 0x100, 0, DATA, 8, 0, 0);
    set_desc(f, TABLE, 0, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(f, DESC, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "nested indirect");

    f->errors = 0;
    virtq_reset(&f->vq);
    memset(f->ram + AVAIL, 0, 0x2000);
    ready(f, 16, true, false);
    set_desc(f, TABLE, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, TABLE, 1, DATA, 8, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f, DESC, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "longer than its indirect table (2)");

    f->errors = 0;
    virtq_reset(&f->vq);
    memset(f->ram + AVAIL, 0, 0x2000);
    ready(f, 16, true, false);
    set_desc(f, TABLE, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 2); /* the table has 2 entries */
    set_desc(f, DESC, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    expect_broken(f, "next 2 >= indirect table size 2");
}

static void too_many_segments(void **state)
{
    struct fx *f = *state;
    ready(f, 256, true, false);
    /* 200 direct descriptors, then an indirect table of 100: 300 buffers > VIRTQ_MAX_SEGS. */
    for (unsigned i = 0; i < 199; i++)
        set_desc(f, DESC, i, DATA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    set_desc(f, DESC, 199, TABLE, 100 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < 100; i++)
        set_desc(f, TABLE, i, DATA, 1, i + 1 < 100 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(f, 0);
    expect_broken(f, "more than 256 buffers");
}

static void total_length_overflow(void **state)
{
    (void)state;
    /* Two 3 GiB buffers (low RAM and high RAM): 6 GiB does not fit a used length. */
    uint64_t size = 6ULL << 30;
    uint8_t *big = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(big != MAP_FAILED);
    struct fx f = {0};
    guest_mem_init_buffer(&f.mem, big, size);
    virtq_init(&f.vq, &f.mem, 0, on_error, &f);
    f.ram = big;
    assert_int_equal(virtq_setup(&f.vq, 4, 256, DESC, AVAIL, USED, false, false), 0);
    set_desc(&f, DESC, 0, 0, 0xc0000000u, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(&f, DESC, 1, 0x100000000ULL, 0xc0000000u, VIRTQ_DESC_F_WRITE, 0);
    offer(&f, 0);
    expect_broken(&f, "overflows 32 bits");
    munmap(big, size);
}

static void fail_and_reset(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    virtq_fail(&f->vq, "device says %d", 42);
    assert_true(f->vq.broken);
    assert_string_equal(f->last, "device says 42");
    virtq_push(&f->vq, &f->e, 0); /* ignored */
    assert_int_equal(used16(f)[1], 0);
    virtq_reset(&f->vq);
    assert_false(f->vq.broken);
    assert_false(f->vq.ready);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 0); /* not ready: nothing, no error */
    ready(f, 16, false, false);
    assert_int_equal(f->errors, 1);
}

/* ---- interrupt suppression ---- */

static void no_interrupt_flag(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, false);
    set_desc(f, DESC, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    virtq_push(&f->vq, &f->e, 8);
    assert_true(virtq_should_notify(&f->vq));
    avail(f)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
    offer(f, 0);
    assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
    virtq_push(&f->vq, &f->e, 8);
    assert_false(virtq_should_notify(&f->vq));
}

static void event_idx(void **state)
{
    struct fx *f = *state;
    ready(f, 16, false, true);
    uint16_t *used_event = &avail(f)[2 + 16];
    uint16_t *avail_event = &used16(f)[2 + 4 * 16];
    set_desc(f, DESC, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    /* An empty pop asks for a notification at the next entry. */
    *avail_event = 999;
    assert_int_equal(virtq_pop(&f->vq, &f->e), 0);
    assert_int_equal(*avail_event, 0);
    avail(f)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT; /* ignored with event idx */
    *used_event = 2;                          /* interrupt once used idx passes 2 */
    for (unsigned i = 0; i < 4; i++) {
        offer(f, 0);
        assert_int_equal(virtq_pop(&f->vq, &f->e), 1);
        virtq_push(&f->vq, &f->e, 8);
        bool want = virtq_should_notify(&f->vq);
        /* First ever: yes (nothing signalled yet); used idx 2: no; 3 (passed 2): yes; 4: no. */
        assert_int_equal(want, i == 0 || i == 2);
    }
    assert_int_equal(virtq_pop(&f->vq, &f->e), 0);
    assert_int_equal(*avail_event, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(setup_rejects_bad_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(setup_rejects_bad_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(pop_empty_and_simple_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(ring_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(head_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(next_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(loops, setup, teardown),
        cmocka_unit_test_setup_teardown(long_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(avail_idx_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(avail_idx_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(buffers_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_length_at_end_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(readable_after_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_not_negotiated, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(indirect_nested_and_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_segments, setup, teardown),
        cmocka_unit_test(total_length_overflow),
        cmocka_unit_test_setup_teardown(fail_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(no_interrupt_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(event_idx, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
