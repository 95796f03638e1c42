/* The split ring's notifications in src/vhost/vring.c, with a real memfd as guest memory:
 * the event-index rule (vring_need_event) across the 16-bit wrap, when the backend calls the
 * driver (used_event, or VRING_AVAIL_F_NO_INTERRUPT without the event index), and how it asks
 * the driver not to kick while it polls and to kick again before it sleeps (avail_event, or
 * VRING_USED_F_NO_NOTIFY), including the look after re-arming that catches a skipped kick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost/mem_table.h"
#include "vhost/vring.h"

#define MEM 65536u
#define GPA 0x100000u
#define NUM 8u

struct guest {
    int fd;
    uint8_t *mem;
    struct mem_table mt;
    struct vring vr;
    struct vu_avail *avail;
    struct vu_used *used;
};

/* A ring of NUM entries; the used ring ends exactly at the region's end, so that its
 * avail_event field is the last 2 bytes of guest memory (event_idx) or beyond it (not). */
static void guest_setup(struct guest *g, bool event_idx, uint16_t used_start)
{
    memset(g, 0, sizeof(*g));
    g->fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(g->fd >= 0);
    assert_int_equal(ftruncate(g->fd, MEM), 0);
    assert_int_equal(fcntl(g->fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    g->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
    assert_true(g->mem != MAP_FAILED);
    struct vhost_user_mem_table t = {.nregions = 1};
    t.regions[0] =
        (struct vhost_user_mem_region){.guest_phys_addr = GPA, .memory_size = MEM, .userspace_addr = (uintptr_t)g->mem};
    int fds[1] = {dup(g->fd)};
    assert_int_equal(mem_table_map(&g->mt, &t, fds), 0);
    g->avail = (void *)(g->mem + 0x400);
    g->used = (void *)(g->mem + MEM - vu_used_bytes(NUM) - 4);
    g->used->idx = used_start; /* where a previous backend stopped */
    g->avail->idx = used_start;
    vring_init(&g->vr);
    g->vr.num = NUM;
    g->vr.desc_uva = (uintptr_t)g->mem;
    g->vr.avail_uva = (uintptr_t)g->avail;
    g->vr.used_uva = (uintptr_t)g->used;
    g->vr.addr_set = true;
    g->vr.event_idx = event_idx;
    g->vr.call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(g->vr.call_fd >= 0);
    assert_int_equal(vring_start(&g->vr, &g->mt, used_start, "test"), 0);
}

static void guest_teardown(struct guest *g)
{
    vring_stop(&g->vr);
    vring_reset(&g->vr);
    mem_table_unmap(&g->mt);
    munmap(g->mem, MEM);
    close(g->fd);
}

/* Calls the backend made since the last look (the eventfd's counter, reset). */
static uint64_t calls(struct guest *g)
{
    uint64_t v = 0;
    if (read(g->vr.call_fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static uint16_t *used_event(struct guest *g)
{
    return &g->avail->ring[NUM];
}
static uint16_t *avail_event(struct guest *g)
{
    return (uint16_t *)&g->used->ring[NUM];
}

static void test_need_event_rule(void **state)
{
    (void)state;
    /* event in [old, new) */
    assert_true(vring_need_event(0, 1, 0));
    assert_false(vring_need_event(1, 1, 0));
    assert_true(vring_need_event(4, 10, 4));
    assert_true(vring_need_event(9, 10, 4));
    assert_false(vring_need_event(10, 10, 4));
    assert_false(vring_need_event(3, 10, 4)); /* behind: the other side has not caught up */
    assert_false(vring_need_event(7, 7, 7));  /* nothing moved */
    /* across the 16-bit wrap */
    assert_true(vring_need_event(0xfffe, 0x0002, 0xfffe));
    assert_true(vring_need_event(0xffff, 0x0002, 0xfffe));
    assert_true(vring_need_event(0x0000, 0x0002, 0xfffe));
    assert_true(vring_need_event(0x0001, 0x0002, 0xfffe));
    assert_false(vring_need_event(0x0002, 0x0002, 0xfffe));
    assert_false(vring_need_event(0xfffd, 0x0002, 0xfffe));
    /* a full turn of the index: everything is crossed but new itself */
    assert_true(vring_need_event(0x8000, 0xffff, 0x0000));
}

/* With the event index: one call when the used index crosses used_event, none while the
 * driver has not caught up, whatever the number of notifies; starting just below the wrap. */
static void test_calls_follow_used_event(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g, true, 0xfffd);
    *used_event(&g) = 0xfffd;
    vring_push(&g.vr, 0, 1);
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 1);
    /* the driver has not taken it (used_event still 0xfffd): no more calls */
    vring_push(&g.vr, 1, 1);
    vring_notify(&g.vr);
    vring_push(&g.vr, 2, 1); /* the used index wraps to 0 */
    vring_notify(&g.vr);
    assert_int_equal(g.used->idx, 0);
    assert_int_equal(calls(&g), 0);
    /* the driver took all three and asks for the next one (used_event = 0) */
    *used_event(&g) = 0;
    vring_notify(&g.vr); /* nothing new published: no call */
    assert_int_equal(calls(&g), 0);
    vring_push(&g.vr, 3, 1);
    vring_push(&g.vr, 4, 1);
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 1);
    /* a driver that asks for a call only further on (used_event ahead) is not called early */
    *used_event(&g) = 5;
    vring_push(&g.vr, 5, 1); /* used 3: not yet */
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 0);
    vring_push(&g.vr, 6, 1);
    vring_push(&g.vr, 7, 1); /* used 5 -> 6 crosses 5 */
    vring_push(&g.vr, 0, 1);
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 1);
    guest_teardown(&g);
}

/* Without the event index the flags rule: a call per notify with something new, none while the
 * driver set NO_INTERRUPT; the used_event slot is not read. */
static void test_calls_without_event_idx(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g, false, 0);
    *used_event(&g) = 0x1234; /* must not matter */
    vring_push(&g.vr, 0, 1);
    vring_notify(&g.vr);
    vring_push(&g.vr, 1, 1);
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 2);
    vring_notify(&g.vr); /* nothing new */
    assert_int_equal(calls(&g), 0);
    g.avail->flags = VU_AVAIL_F_NO_INTERRUPT;
    vring_push(&g.vr, 2, 1);
    vring_notify(&g.vr);
    assert_int_equal(calls(&g), 0);
    guest_teardown(&g);
}

/* Kick suppression with the event index: avail_event is left behind while we poll and set to
 * the next position we take before we sleep; a chain made available meanwhile is seen. */
static void test_kicks_event_idx(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g, true, 0xffff);
    vring_kicks_off(&g.vr);
    assert_int_equal(g.used->flags, 0); /* the event index uses its own field, not the flag */
    assert_false(vring_kicks_on(&g.vr));
    assert_int_equal(*avail_event(&g), 0xffff);
    /* the guest adds two chains (its index wraps); we poll, take them, do not re-arm */
    vring_kicks_off(&g.vr);
    g.avail->idx = 1;
    assert_int_equal(vring_avail_pending(&g.vr), 2);
    g.vr.last_avail = 1;                        /* as if popped */
    assert_int_equal(*avail_event(&g), 0xffff); /* behind: the guest's next add does not kick */
    assert_false(vring_need_event(*avail_event(&g), 2, 1));
    /* re-armed before sleeping: the guest's next add kicks */
    assert_false(vring_kicks_on(&g.vr));
    assert_int_equal(*avail_event(&g), 1);
    assert_true(vring_need_event(*avail_event(&g), 2, 1));
    /* a chain added just before the re-arm (its kick skipped) is reported */
    vring_kicks_off(&g.vr);
    g.avail->idx = 2;
    assert_true(vring_kicks_on(&g.vr));
    guest_teardown(&g);
}

/* Kick suppression without the event index: VRING_USED_F_NO_NOTIFY while polling, cleared
 * before sleeping and when the ring stops (the next server of the queue relies on kicks). */
static void test_kicks_flag(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g, false, 0);
    vring_kicks_off(&g.vr);
    assert_int_equal(g.used->flags, VU_USED_F_NO_NOTIFY);
    assert_false(vring_kicks_on(&g.vr));
    assert_int_equal(g.used->flags, 0);
    assert_int_equal(*avail_event(&g), 0);
    vring_kicks_off(&g.vr);
    g.avail->idx = 1;
    assert_true(vring_kicks_on(&g.vr));
    assert_int_equal(g.used->flags, 0);
    vring_kicks_off(&g.vr);
    vring_stop(&g.vr);
    assert_int_equal(g.used->flags, 0);
    guest_teardown(&g);
}

/* The event-index fields make both rings 2 bytes longer: a used ring whose avail_event would
 * fall outside guest memory is refused when the event index is negotiated, taken when not. */
static void test_event_fields_inside_memory(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g, false, 0);
    vring_stop(&g.vr);
    g.vr.used_uva = (uintptr_t)g.mem + MEM - vu_used_bytes(NUM); /* ends at the region's end */
    assert_int_equal(vring_start(&g.vr, &g.mt, 0, "q"), 0);
    vring_stop(&g.vr);
    g.vr.event_idx = true;
    assert_true(vring_start(&g.vr, &g.mt, 0, "q") < 0);
    guest_teardown(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_need_event_rule),
        cmocka_unit_test(test_calls_follow_used_event),
        cmocka_unit_test(test_calls_without_event_idx),
        cmocka_unit_test(test_kicks_event_idx),
        cmocka_unit_test(test_kicks_flag),
        cmocka_unit_test(test_event_fields_inside_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
