/* virtio-balloon (src/vmm/virtio/virtio_balloon.c) over a real guest RAM memfd (guest_mem_create
 * needs no KVM), driven through the MMIO bus as a driver would: PFN validation, hole
 * punching measured on the memfd, deflate accounting, statistics, free page reporting,
 * hostile requests. Then the memory-target rule (src/vmm/host/mem_target.c) on a fake clock,
 * the mem-set control request and the --memory-enforcement option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/host/control.h"
#include "vmm/host/mem_target.h"
#include "vmm/host/options.h"
#include "vmm/virtio/virtio_balloon.h"
#include "vmm/virtio/virtio_mmio.h"
#include "vmm/machine/vm.h"

#define MiB (1ULL << 20)
#define RAM (16 * MiB)
#define QBASE(q) (0x10000 + (uint64_t)(q)*0x4000) /* rings below 1 MiB: fine for rings */
#define DESC 0x0
#define AVAIL 0x1000
#define USED 0x2000
#define DATA 0x80000 /* request buffers */
#define QSIZE 16
#define PAGE 4096ULL

struct fx {
    struct vm vm;
    struct virtio_balloon *b;
    uint16_t avail_idx[VIRTIO_BALLOON_NQUEUES];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(guest_mem_create(&f->vm.mem, RAM), 0);
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    virtio_host_init(&f->vm.virtio, -1, &f->vm.mem, &f->vm.mmio, &f->vm.devices);
    f->b = virtio_balloon_create(&f->vm.virtio);
    assert_non_null(f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_host_destroy(&f->vm.virtio);
    guest_mem_destroy(&f->vm.mem);
    free(f);
    return 0;
}

static uint8_t *ram(struct fx *f, uint64_t gpa)
{
    return f->vm.mem.host + gpa;
}

static uint32_t rd(struct fx *f, unsigned reg)
{
    uint32_t v = 0xdeadbeef;
    assert_int_equal(io_bus_access(&f->vm.mmio, VIRTIO_MMIO_BASE + reg, 0, (uint8_t *)&v, 4), 0);
    return v;
}

static void wr(struct fx *f, unsigned reg, uint32_t v)
{
    assert_int_equal(io_bus_access(&f->vm.mmio, VIRTIO_MMIO_BASE + reg, 1, (uint8_t *)&v, 4), 0);
}

static void wr_n(struct fx *f, unsigned reg, uint32_t v, unsigned size)
{
    assert_int_equal(io_bus_access(&f->vm.mmio, VIRTIO_MMIO_BASE + reg, 1, (uint8_t *)&v, size), 0);
}

static uint64_t irqs(struct fx *f)
{
    uint64_t n = 0;
    if (read(f->b->dev->irq_fd, &n, sizeof(n)) < 0)
        return 0;
    return n;
}

static bool broken(struct fx *f)
{
    return rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Negotiates `features` (VERSION_1 added), sets up `nq` queues, DRIVER_OK. */
static void start(struct fx *f, uint64_t features, unsigned nq)
{
    features |= 1ULL << VIRTIO_F_VERSION_1;
    wr(f, VIRTIO_MMIO_STATUS, 0);
    memset(ram(f, QBASE(0)), 0, 0x4000 * VIRTIO_BALLOON_NQUEUES);
    memset(ram(f, DATA), 0, 0x10000); /* allocated from the start: tests count pages */
    memset(f->avail_idx, 0, sizeof(f->avail_idx));
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < nq; q++) {
        wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(QBASE(q) + DESC));
        wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
        wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(QBASE(q) + AVAIL));
        wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
        wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(QBASE(q) + USED));
        wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
        wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
    }
    wr(f, VIRTIO_MMIO_STATUS, rd(f, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
    irqs(f);
}

static void set_desc(struct fx *f, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    struct virtq_desc d = {addr, len, flags, next};
    memcpy(ram(f, QBASE(q) + DESC + 16 * i), &d, sizeof(d));
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    uint16_t v;
    memcpy(&v, ram(f, QBASE(q) + USED + 2), 2);
    return v;
}

/* Makes the chain at `head` available on queue q and notifies. */
static void kick(struct fx *f, unsigned q, uint16_t head)
{
    uint16_t idx = f->avail_idx[q];
    memcpy(ram(f, QBASE(q) + AVAIL + 4 + 2 * (idx % QSIZE)), &head, 2);
    idx++;
    memcpy(ram(f, QBASE(q) + AVAIL + 2), &idx, 2);
    f->avail_idx[q] = idx;
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Sends n PFNs (one buffer at DATA) on queue q (0 inflate, 1 deflate). */
static void send_pfns(struct fx *f, unsigned q, const uint32_t *pfns, unsigned n)
{
    memcpy(ram(f, DATA), pfns, n * 4);
    set_desc(f, q, 0, DATA, n * 4, 0, 0);
    kick(f, q, 0);
}

static uint64_t allocated(struct fx *f)
{
    return mem_resident_bytes(f->vm.mem.fd);
}

/* Writes every page of [gpa, gpa + len): the memfd allocates them. */
static void touch(struct fx *f, uint64_t gpa, uint64_t len)
{
    for (uint64_t a = gpa; a < gpa + len; a += PAGE)
        memset(ram(f, a), 0x5a, PAGE);
}

static struct virtio_balloon_state state_of(struct fx *f)
{
    struct virtio_balloon_state s;
    virtio_balloon_get(f->b, &s);
    return s;
}

/* ---- registers and config --------------------------------------------------------------- */

static void identity_and_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
    assert_string_equal(f->vm.virtio.descs[0].name, "virtio-balloon");
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t feat = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(feat & (1u << VIRTIO_BALLOON_F_STATS_VQ));
    assert_true(feat & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    assert_true(feat & (1u << VIRTIO_BALLOON_F_REPORTING));
    assert_false(feat & (1u << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
    assert_false(feat & (1u << VIRTIO_BALLOON_F_MUST_TELL_HOST));
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 3);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BALLOON_QUEUE_SIZE);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 4);
    assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);

    start(f, 0, 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), 0);     /* num_pages */
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0); /* actual */
    uint32_t gen = rd(f, VIRTIO_MMIO_CONFIG_GENERATION);
    virtio_balloon_set_target(f->b, 1000);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), 1000);
    assert_int_equal(irqs(f), 1);
    assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
    assert_int_not_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    virtio_balloon_set_target(f->b, 1000); /* no change: no interrupt */
    assert_int_equal(irqs(f), 0);
    virtio_balloon_set_target(f->b, UINT32_MAX); /* more than RAM: clamped */
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), RAM / PAGE);

    /* num_pages is the device's; actual the driver's, in any access size. */
    wr(f, VIRTIO_MMIO_CONFIG, 7);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), RAM / PAGE);
    wr(f, VIRTIO_MMIO_CONFIG + 4, 0x12345678);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0x12345678);
    wr_n(f, VIRTIO_MMIO_CONFIG + 5, 0xab, 1);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0x1234ab78);
    wr_n(f, VIRTIO_MMIO_CONFIG + 6, 0x0001, 2);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0x0001ab78);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 8), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 12), 0);
    /* The driver's claim is reported clamped to RAM. */
    assert_int_equal(state_of(f).actual, 0x0001ab78 > RAM / PAGE ? RAM / PAGE : 0x0001ab78);

    /* A reset forgets the driver's balloon, not the host's target. */
    wr(f, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 0);
    assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG), RAM / PAGE);
}

/* ---- inflate: holes in the memfd -------------------------------------------------------- */

static void inflate_punches_holes(void **state)
{
    struct fx *f = *state;
    start(f, 0, 2);
    uint64_t base = allocated(f);
    touch(f, 2 * MiB, 8 * MiB); /* 2048 pages */
    assert_int_equal(allocated(f) - base, 8 * MiB);

    /* 1024 consecutive pages from 4 MiB, then 3 scattered ones and a duplicate. */
    static uint32_t pfns[1029];
    for (unsigned i = 0; i < 1024; i++)
        pfns[i] = (uint32_t)(4 * MiB / PAGE + i);
    pfns[1024] = (uint32_t)(2 * MiB / PAGE);
    pfns[1025] = (uint32_t)(3 * MiB / PAGE + 7);
    pfns[1026] = (uint32_t)(9 * MiB / PAGE + 255);
    pfns[1027] = (uint32_t)(2 * MiB / PAGE); /* again: a hole punched twice is still a hole */
    pfns[1028] = (uint32_t)(2 * MiB / PAGE + 1);
    send_pfns(f, 0, pfns, 1029);
    assert_false(broken(f));
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(allocated(f) - base, 8 * MiB - (1024 + 4) * PAGE);
    /* Released pages read as zeros; their neighbours kept their contents. */
    assert_int_equal(ram(f, 4 * MiB)[0], 0);
    assert_int_equal(ram(f, 8 * MiB - 1)[0], 0);
    assert_int_equal(ram(f, 8 * MiB)[0], 0x5a);
    assert_int_equal(ram(f, 4 * MiB - 1)[0], 0x5a);
    assert_int_equal(ram(f, 3 * MiB + 7 * PAGE)[100], 0);
    assert_int_equal(ram(f, 3 * MiB + 8 * PAGE)[0], 0x5a);
    struct virtio_balloon_state s = state_of(f);
    assert_int_equal(s.inflated_pages, 1029);
    assert_int_equal(s.released_bytes, 1029 * PAGE); /* the duplicate counts: it was asked */
    assert_int_equal(s.punch_errors, 0);
    assert_true(s.driver_ok);
    /* The three released pages read above came back (zero-filled): a fault on a hole of a
     * shared memfd mapping allocates, reading included. A guest that touches its ballooned
     * pages takes them back, which the host sees in the allocation. */
    assert_int_equal(allocated(f) - base, 8 * MiB - (1024 + 4 - 3) * PAGE);
}

static void deflate_only_accounts(void **state)
{
    struct fx *f = *state;
    start(f, 0, 2);
    touch(f, 2 * MiB, 1 * MiB);
    uint64_t before = allocated(f);
    uint32_t pfns[4] = {2 * MiB / PAGE, 2 * MiB / PAGE + 1, 2 * MiB / PAGE + 2, 5 * MiB / PAGE};
    send_pfns(f, 1, pfns, 4);
    assert_false(broken(f));
    assert_int_equal(used_idx(f, 1), 1);
    assert_int_equal(allocated(f), before);
    assert_int_equal(ram(f, 2 * MiB)[0], 0x5a);
    assert_int_equal(state_of(f).deflated_pages, 4);
    assert_int_equal(state_of(f).inflated_pages, 0);
}

/* ---- hostile requests --------------------------------------------------------------------- */

/* Each bad request breaks the device and releases nothing, not even its good PFNs; after a
 * reset the device works again. */
static void bad_pfns_break_the_device(void **state)
{
    struct fx *f = *state;
    static const struct {
        uint32_t bad;
        const char *what;
    } cases[] = {
        {0, "page 0"},
        {0x6, "boot info"},
        {0xe0, "ACPI tables"},
        {0xff, "last page below 1 MiB"},
        {RAM / PAGE, "just past RAM"},
        {0xd0000, "virtio-mmio window"},
        {0xfee00, "LAPIC"},
        {0xffffffffu, "the largest PFN"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (unsigned q = 0; q < 2; q++) {
            start(f, 0, 2);
            touch(f, 2 * MiB, 64 * PAGE);
            uint64_t before = allocated(f);
            uint32_t pfns[3] = {2 * MiB / PAGE, cases[i].bad, 2 * MiB / PAGE + 1};
            send_pfns(f, q, pfns, 3);
            if (!broken(f))
                fail_msg("%s (PFN 0x%x) on queue %u was accepted", cases[i].what, cases[i].bad, q);
            assert_int_equal(used_idx(f, q), 0);
            assert_int_equal(allocated(f), before);
            assert_int_equal(ram(f, 2 * MiB)[0], 0x5a);
        }
    }
    /* Reset: a clean device again. */
    start(f, 0, 2);
    uint32_t good = 2 * MiB / PAGE;
    send_pfns(f, 0, &good, 1);
    assert_false(broken(f));
    assert_int_equal(ram(f, 2 * MiB)[0], 0);
    assert_int_equal(virtio_host_errors(&f->vm.virtio), 16);
}

static void bad_buffers_break_the_device(void **state)
{
    struct fx *f = *state;
    uint32_t pfn = 2 * MiB / PAGE;
    memcpy(ram(f, DATA), &pfn, 4);

    /* Not whole PFNs. */
    start(f, 0, 2);
    set_desc(f, 0, 0, DATA, 6, 0, 0);
    kick(f, 0, 0);
    assert_true(broken(f));

    /* A device-writable buffer in an inflate request. */
    start(f, 0, 2);
    set_desc(f, 0, 0, DATA, 4, VIRTQ_DESC_F_WRITE, 0);
    kick(f, 0, 0);
    assert_true(broken(f));

    /* More PFNs than one request may carry (the buffer itself is fine RAM). */
    start(f, 0, 2);
    memset(ram(f, 4 * MiB), 0, (VIRTIO_BALLOON_MAX_PFNS + 1) * 4);
    set_desc(f, 0, 0, 4 * MiB, (VIRTIO_BALLOON_MAX_PFNS + 1) * 4, 0, 0);
    kick(f, 0, 0);
    assert_true(broken(f));

    /* Exactly the most is fine (all the same good page). */
    start(f, 0, 2);
    for (unsigned i = 0; i < VIRTIO_BALLOON_MAX_PFNS; i++)
        memcpy(ram(f, 4 * MiB + 4 * i), &pfn, 4);
    set_desc(f, 0, 0, 4 * MiB, VIRTIO_BALLOON_MAX_PFNS * 4, 0, 0);
    kick(f, 0, 0);
    assert_false(broken(f));
    assert_int_equal(state_of(f).inflated_pages, VIRTIO_BALLOON_MAX_PFNS);

    /* A PFN array split over a chain of buffers, one PFN across the boundary. */
    start(f, 0, 2);
    touch(f, 3 * MiB, 2 * PAGE);
    uint32_t two[2] = {3 * MiB / PAGE, 3 * MiB / PAGE + 1};
    memcpy(ram(f, DATA), two, 8);
    set_desc(f, 0, 0, DATA, 3, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 0, 1, DATA + 3, 5, 0, 0);
    kick(f, 0, 0);
    assert_false(broken(f));
    assert_int_equal(ram(f, 3 * MiB)[0], 0);
    assert_int_equal(ram(f, 3 * MiB + PAGE)[0], 0);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    p[0] = (uint8_t)tag;
    p[1] = (uint8_t)(tag >> 8);
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(val >> (8 * i));
}

static void stats_are_kept_and_requested(void **state)
{
    struct fx *f = *state;
    start(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
    struct virtio_balloon_state s = state_of(f);
    assert_int_equal(s.stats_updates, 0);
    assert_int_equal(s.stats[VIRTIO_BALLOON_S_MEMFREE], VIRTIO_BALLOON_STAT_NONE);

    uint8_t *p = ram(f, DATA);
    put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 12 * MiB);
    put_stat(p + 10, VIRTIO_BALLOON_S_MEMTOT, 16 * MiB);
    put_stat(p + 20, 99, 42); /* unknown: ignored */
    put_stat(p + 30, VIRTIO_BALLOON_S_AVAIL, 0x0123456789abcdefULL);
    set_desc(f, 2, 0, DATA, 40, 0, 0);
    kick(f, 2, 0);
    assert_false(broken(f));
    s = state_of(f);
    assert_int_equal(s.stats_updates, 1);
    assert_true(s.stats_realtime_ns > 0);
    assert_int_equal(s.stats[VIRTIO_BALLOON_S_MEMFREE], 12 * MiB);
    assert_int_equal(s.stats[VIRTIO_BALLOON_S_MEMTOT], 16 * MiB);
    assert_int_equal(s.stats[VIRTIO_BALLOON_S_AVAIL], 0x0123456789abcdefULL);
    assert_int_equal(s.stats[VIRTIO_BALLOON_S_SWAP_IN], VIRTIO_BALLOON_STAT_NONE);
    /* The device holds the buffer until it wants new values. */
    assert_int_equal(used_idx(f, 2), 0);
    virtio_balloon_request_stats(f->b);
    assert_int_equal(used_idx(f, 2), 1);
    assert_true(irqs(f) >= 1);
    virtio_balloon_request_stats(f->b); /* nothing held now: nothing happens */
    assert_int_equal(used_idx(f, 2), 1);

    /* The driver answers with fresh values. */
    put_stat(p, VIRTIO_BALLOON_S_MEMFREE, 3 * MiB);
    set_desc(f, 2, 1, DATA, 10, 0, 0);
    kick(f, 2, 1);
    assert_int_equal(state_of(f).stats[VIRTIO_BALLOON_S_MEMFREE], 3 * MiB);
    assert_int_equal(state_of(f).stats_updates, 2);
    /* A driver that posts another buffer meanwhile gets the older one back at once. */
    set_desc(f, 2, 2, DATA, 0, 0, 0); /* an empty report is allowed */
    kick(f, 2, 2);
    assert_int_equal(used_idx(f, 2), 2);
    assert_false(broken(f));

    /* Not whole entries, too long, or device-writable: broken. */
    set_desc(f, 2, 3, DATA, 15, 0, 0);
    kick(f, 2, 3);
    assert_true(broken(f));
    start(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
    set_desc(f, 2, 0, DATA, 4010, 0, 0);
    kick(f, 2, 0);
    assert_true(broken(f));
    start(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
    set_desc(f, 2, 0, DATA, 10, VIRTQ_DESC_F_WRITE, 0);
    kick(f, 2, 0);
    assert_true(broken(f));
    /* After a reset the device holds nothing to give back. */
    start(f, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
    virtio_balloon_request_stats(f->b);
    assert_int_equal(used_idx(f, 2), 0);
}

/* ---- free page reporting ------------------------------------------------------------------ */

static void free_page_reports_are_punched(void **state)
{
    struct fx *f = *state;
    /* With statistics too, the reporting queue is 3. */
    start(f, (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING), 4);
    touch(f, 4 * MiB, 4 * MiB);
    uint64_t before = allocated(f);
    set_desc(f, 3, 0, 4 * MiB, (uint32_t)(2 * MiB), VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 3, 1, 7 * MiB, (uint32_t)(16 * PAGE), VIRTQ_DESC_F_WRITE, 0);
    kick(f, 3, 0);
    assert_false(broken(f));
    assert_int_equal(used_idx(f, 3), 1);
    assert_int_equal(before - allocated(f), 2 * MiB + 16 * PAGE);
    assert_int_equal(state_of(f).reported_bytes, 2 * MiB + 16 * PAGE);
    assert_int_equal(state_of(f).released_bytes, 2 * MiB + 16 * PAGE);

    /* Without statistics it is queue 2. */
    start(f, 1ULL << VIRTIO_BALLOON_F_REPORTING, 3);
    set_desc(f, 2, 0, 6 * MiB, (uint32_t)(4 * PAGE), VIRTQ_DESC_F_WRITE, 0);
    kick(f, 2, 0);
    assert_false(broken(f));
    assert_int_equal(used_idx(f, 2), 1);

    /* Unaligned, device-readable, below 1 MiB: broken, nothing released. */
    static const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
    } bad[] = {
        {6 * MiB + 8, (uint32_t)PAGE, VIRTQ_DESC_F_WRITE},
        {6 * MiB, (uint32_t)PAGE + 1, VIRTQ_DESC_F_WRITE},
        {6 * MiB, (uint32_t)PAGE, 0},
        {0xff000, (uint32_t)(2 * PAGE), VIRTQ_DESC_F_WRITE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        start(f, 1ULL << VIRTIO_BALLOON_F_REPORTING, 3);
        touch(f, 6 * MiB, 2 * PAGE);
        before = allocated(f);
        set_desc(f, 2, 0, bad[i].addr, bad[i].len, bad[i].flags, 0);
        kick(f, 2, 0);
        if (!broken(f))
            fail_msg("bad report %zu accepted", i);
        assert_int_equal(allocated(f), before);
    }
}

/* A queue that has no role under the negotiated features is not to be used. */
static void queue_without_role(void **state)
{
    struct fx *f = *state;
    start(f, 0, 3); /* no stats, no reporting: queue 2 is nothing */
    set_desc(f, 2, 0, DATA, 10, 0, 0);
    kick(f, 2, 0);
    assert_true(broken(f));
}

/* PFN checks on a RAM that crosses the MMIO hole (a sparse 4 GiB + 64 MiB memfd). */
static void pfn_offsets_around_the_hole(void **state)
{
    (void)state;
    struct guest_mem mem;
    uint64_t off;
    assert_int_equal(guest_mem_create(&mem, 4 * 1024 * MiB + 64 * MiB), 0);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0x100, &off), 0);
    assert_int_equal(off, 0x100000);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0xff, &off), -1);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0xbffff, &off), 0); /* last page below 3 GiB */
    assert_int_equal(off, 0xbffff000ULL);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0xc0000, &off), -1); /* the hole */
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0xfffff, &off), -1);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, 0x100000, &off), 0); /* 4 GiB: after 3 GiB of low RAM */
    assert_int_equal(off, 0xc0000000ULL);
    uint64_t last = 0x100000 + (1024 + 64) * MiB / PAGE - 1;
    assert_int_equal(virtio_balloon_pfn_offset(&mem, last, &off), 0);
    assert_int_equal(off, 4 * 1024 * MiB + 64 * MiB - PAGE);
    assert_int_equal(virtio_balloon_pfn_offset(&mem, last + 1, &off), -1);
    /* Punching in the high range releases exactly that page. */
    memset(mem.host + off, 1, PAGE);
    uint64_t before = mem_resident_bytes(mem.fd);
    assert_int_equal(virtio_balloon_punch(&mem, off, PAGE), 0);
    assert_int_equal(before - mem_resident_bytes(mem.fd), PAGE);
    guest_mem_destroy(&mem);
    assert_int_equal(mem_resident_bytes(-1), 0);
}

/* ---- the memory-target rule ---------------------------------------------------------------- */

#define MS 1000000ULL

static void target_within(void **state)
{
    (void)state;
    assert_true(mem_target_within(105, 100));
    assert_false(mem_target_within(106, 100));
    assert_true(mem_target_within(0, 0));
    assert_true(mem_target_within(32 * MiB + 32 * MiB / 20, 32 * MiB));
    assert_false(mem_target_within(32 * MiB + 32 * MiB / 20 + 1, 32 * MiB));
}

static void target_reached_in_time(void **state)
{
    (void)state;
    struct mem_target t;
    mem_target_clear(&t);
    assert_int_equal(mem_target_check(&t, 1, 5), MEM_NOTHING);
    assert_int_equal(mem_target_due(&t), 0);
    mem_target_set(&t, 100 * MiB, 1000, 10 * MS);
    assert_int_equal(t.state, STATS_MEMTARGET_PENDING);
    assert_int_equal(mem_target_due(&t), 1010 * MS);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 500 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 106 * MiB, 1009 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 105 * MiB, 1009 * MS), MEM_REACHED);
    assert_int_equal(mem_target_elapsed_ms(&t, 1009 * MS), 999);
    assert_int_equal(t.state, STATS_MEMTARGET_MET);
    assert_int_equal(mem_target_due(&t), 0);
    /* Once: more measurements within say nothing more. */
    assert_int_equal(mem_target_check(&t, 10 * MiB, 2000 * MS), MEM_NOTHING);
}

static void target_missed_at_the_deadline(void **state)
{
    (void)state;
    struct mem_target t;
    mem_target_set(&t, 100 * MiB, 1000, 0);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 999 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 1000 * MS - 1), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 1000 * MS), MEM_MISSED);
    assert_int_equal(t.state, STATS_MEMTARGET_MISSED);
    assert_int_equal(mem_target_due(&t), 0);
    /* No event per measurement, or per deadline, while it stays over. */
    assert_int_equal(mem_target_check(&t, 200 * MiB, 2000 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 9000 * MS), MEM_NOTHING);
    /* Late compliance is news. */
    assert_int_equal(mem_target_check(&t, 90 * MiB, 9100 * MS), MEM_REACHED);
    assert_int_equal(t.state, STATS_MEMTARGET_MET);
}

static void target_regrowth(void **state)
{
    (void)state;
    struct mem_target t;
    mem_target_set(&t, 100 * MiB, 1000, 0);
    assert_int_equal(mem_target_check(&t, 100 * MiB, 100 * MS), MEM_REACHED);
    /* Over for less than a deadline, then back: forgiven. */
    assert_int_equal(mem_target_check(&t, 150 * MiB, 2000 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_due(&t), 3000 * MS);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 2999 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 100 * MiB, 2999 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_due(&t), 0);
    /* Over again: the clock starts afresh; a whole deadline over it is a miss. */
    assert_int_equal(mem_target_check(&t, 150 * MiB, 4000 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 4999 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 5000 * MS), MEM_MISSED_REGROWN);
    assert_int_equal(t.state, STATS_MEMTARGET_MISSED);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 7000 * MS), MEM_NOTHING);
    /* Back within: reached; and it can be caught again after that. */
    assert_int_equal(mem_target_check(&t, 50 * MiB, 8000 * MS), MEM_REACHED);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 8100 * MS), MEM_NOTHING);
    assert_int_equal(mem_target_check(&t, 150 * MiB, 9100 * MS), MEM_MISSED_REGROWN);
    assert_string_equal(mem_verdict_name(MEM_MISSED_REGROWN), "regrown");
    assert_string_equal(mem_verdict_name(MEM_REACHED), "reached");
}

static void target_replaced_and_zero_deadline(void **state)
{
    (void)state;
    struct mem_target t;
    mem_target_set(&t, 100 * MiB, 1000, 0);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 1000 * MS), MEM_MISSED);
    /* A new target starts afresh, whatever the old one came to. */
    mem_target_set(&t, 300 * MiB, 500, 2000 * MS);
    assert_int_equal(t.state, STATS_MEMTARGET_PENDING);
    assert_int_equal(mem_target_due(&t), 2500 * MS);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 2000 * MS), MEM_REACHED);
    /* Deadline 0: decided by the first measurement. */
    mem_target_set(&t, 100 * MiB, 0, 3000 * MS);
    assert_int_equal(mem_target_due(&t), 3000 * MS);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 3000 * MS), MEM_MISSED);
    mem_target_set(&t, 100 * MiB, 0, 3000 * MS);
    assert_int_equal(mem_target_check(&t, 100 * MiB, 3000 * MS), MEM_REACHED);
    /* A fake clock may start at 0: over at time 0 still counts as over. */
    mem_target_set(&t, 100 * MiB, 10, 0);
    assert_int_equal(mem_target_check(&t, 1, 0), MEM_REACHED);
    assert_int_equal(mem_target_check(&t, 200 * MiB, 0), MEM_NOTHING);
    assert_true(mem_target_due(&t) > 0);
}

/* ---- the control request and the option ----------------------------------------------------- */

static void mem_set_request(void **state)
{
    (void)state;
    enum control_req req;
    struct control_args a;
    char why[256];
    assert_int_equal(control_parse_args("mem-set 41943040 1000", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_MEM_SET);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.v[0], 41943040);
    assert_int_equal(a.v[1], 1000);
    assert_int_equal(control_parse_args("  mem-set\t4096   0 \r", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.v[0], 4096);
    assert_int_equal(a.v[1], 0);
    assert_string_equal(control_req_name(CONTROL_MEM_SET), "mem-set");
    /* Other requests still take no arguments, and get none. */
    assert_int_equal(control_parse_args("status", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.n, 0);
    static const char *const bad[] = {
        "mem-set",
        "mem-set 4096",
        "mem-set 4096 1000 5",
        "mem-set -4096 1000",
        "mem-set +4096 1000",
        "mem-set 4k 1000",
        "mem-set 0x1000 1000",
        "mem-set 4096 1e3",
        "mem-set 99999999999999999999 1",
        "mem-set 4611686018427387905 1", /* 2^62 + 1 */
        "mem-set 4096 31536000001",      /* over a year */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (control_parse_args(bad[i], &req, &a, why, sizeof(why)) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(why, "mem-set takes TARGET_BYTES DEADLINE_MS"));
    }
    assert_int_equal(control_parse("mem-set 4096 1", &req, why, sizeof(why)), 0);
    assert_int_equal(control_parse("mem-sets 1 1", &req, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "mem-set or cpu)"));
}

static void enforcement_option(void **state)
{
    (void)state;
    struct options o;
    char *base[] = {"xeno-vmm", "--kernel", "k.elf", NULL, NULL};
    assert_int_equal(options_parse(3, base, &o), 0);
    assert_int_equal(o.memory_enforcement, MEMORY_ENFORCE_REPORT);
    static const struct {
        const char *word;
        enum memory_enforcement e;
    } ok[] = {{"pause", MEMORY_ENFORCE_PAUSE}, {"destroy", MEMORY_ENFORCE_DESTROY}, {"report", MEMORY_ENFORCE_REPORT}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char opt[64];
        snprintf(opt, sizeof(opt), "--memory-enforcement=%s", ok[i].word);
        base[3] = opt;
        assert_int_equal(options_parse(4, base, &o), 0);
        assert_int_equal(o.memory_enforcement, ok[i].e);
        assert_string_equal(memory_enforcement_name(o.memory_enforcement), ok[i].word);
    }
    base[3] = "--memory-enforcement=kill";
    assert_int_equal(options_parse(4, base, &o), -1);
    base[3] = "--memory-enforcement=";
    assert_int_equal(options_parse(4, base, &o), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(identity_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(inflate_punches_holes, setup, teardown),
        cmocka_unit_test_setup_teardown(deflate_only_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_pfns_break_the_device, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_buffers_break_the_device, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_are_kept_and_requested, setup, teardown),
        cmocka_unit_test_setup_teardown(free_page_reports_are_punched, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_without_role, setup, teardown),
        cmocka_unit_test(pfn_offsets_around_the_hole),
        cmocka_unit_test(target_within),
        cmocka_unit_test(target_reached_in_time),
        cmocka_unit_test(target_missed_at_the_deadline),
        cmocka_unit_test(target_regrowth),
        cmocka_unit_test(target_replaced_and_zero_deadline),
        cmocka_unit_test(mem_set_request),
        cmocka_unit_test(enforcement_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
