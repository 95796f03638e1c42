/* The virtio-mmio transport (src/vmm/virtio/virtio_mmio.c) and its first devices (virtio-console,
 * virtio-rng), driven through the MMIO bus as a guest driver would, without KVM: a VM with
 * only RAM (a plain buffer) and the bus. With no KVM fd there are no ioeventfds, so
 * QueueNotify writes reach the handler and are serviced inline, and interrupts are counted
 * on the device's eventfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/virtio/virtio_console.h"
#include "vmm/virtio/virtio_mmio.h"
#include "vmm/virtio/virtio_rng.h"
#include "vmm/machine/vm.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000

struct fx {
    uint8_t *ram;
    struct vm vm;
    struct virtio_console *con;
    struct virtio_rng *rng;
    char out[8192];
    size_t out_len;
    unsigned spaces;
};

static void con_write(void *opaque, const uint8_t *buf, size_t len)
{
    struct fx *f = opaque;
    if (len > sizeof(f->out) - f->out_len)
        len = sizeof(f->out) - f->out_len;
    memcpy(f->out + f->out_len, buf, len);
    f->out_len += len;
}

static void con_space(void *opaque)
{
    ((struct fx *)opaque)->spaces++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, RAM);
    guest_mem_init_buffer(&f->vm.mem, f->ram, RAM);
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    virtio_host_init(&f->vm.virtio, -1, &f->vm.mem, &f->vm.mmio, &f->vm.devices);
    f->con = virtio_console_create(&f->vm.virtio, con_write, con_space, f);
    f->rng = virtio_rng_create(&f->vm.virtio);
    assert_non_null(f->con);
    assert_non_null(f->rng);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_host_destroy(&f->vm.virtio);
    free(f->ram);
    free(f);
    return 0;
}

static uint64_t win(unsigned i)
{
    return VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_STRIDE;
}

static uint32_t rd(struct fx *f, unsigned dev, unsigned reg)
{
    uint32_t v = 0xdeadbeef;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(dev) + reg, 0, (uint8_t *)&v, 4), 0);
    return v;
}

static void wr(struct fx *f, unsigned dev, unsigned reg, uint32_t v)
{
    assert_int_equal(io_bus_access(&f->vm.mmio, win(dev) + reg, 1, (uint8_t *)&v, 4), 0);
}

/* Interrupts raised since the last call (the irq eventfd's counter). */
static uint64_t irqs(struct fx *f, unsigned dev)
{
    uint64_t n = 0;
    if (read(f->vm.virtio.devs[dev]->irq_fd, &n, sizeof(n)) < 0)
        return 0;
    return n;
}

static void negotiate(struct fx *f, unsigned dev, uint64_t features)
{
    wr(f, dev, VIRTIO_MMIO_STATUS, 0);
    wr(f, dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    wr(f, dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    wr(f, dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

/* Queue q at DESC/AVAIL/USED + q * 0x100 * ... (each queue its own 12 KiB). */
static uint64_t qbase(unsigned q)
{
    return (uint64_t)q * 0x4000;
}

static void queue(struct fx *f, unsigned dev, unsigned q, uint32_t num)
{
    wr(f, dev, VIRTIO_MMIO_QUEUE_SEL, q);
    wr(f, dev, VIRTIO_MMIO_QUEUE_NUM, num);
    wr(f, dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(qbase(q) + DESC));
    wr(f, dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(f, dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(qbase(q) + AVAIL));
    wr(f, dev, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    wr(f, dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(qbase(q) + USED));
    wr(f, dev, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    wr(f, dev, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void start(struct fx *f, unsigned dev, unsigned nq, uint32_t num)
{
    negotiate(f, dev, 1ULL << VIRTIO_F_VERSION_1);
    assert_true(rd(f, dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < nq; q++)
        queue(f, dev, q, num);
    wr(f, dev, VIRTIO_MMIO_STATUS, rd(f, dev, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static void set_desc(struct fx *f, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    struct virtq_desc d = {addr, len, flags, next};
    memcpy(f->ram + qbase(q) + DESC + 16 * i, &d, sizeof(d));
}

static uint16_t *avail(struct fx *f, unsigned q)
{
    return (uint16_t *)(f->ram + qbase(q) + AVAIL);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    return ((uint16_t *)(f->ram + qbase(q) + USED))[1];
}

static uint32_t used_len(struct fx *f, unsigned q, unsigned slot)
{
    return ((uint32_t *)(f->ram + qbase(q) + USED + 4))[2 * slot + 1];
}

static void offer(struct fx *f, unsigned q, uint16_t head, uint16_t size)
{
    uint16_t idx = avail(f, q)[1];
    avail(f, q)[2 + (idx & (size - 1))] = head;
    avail(f, q)[1] = (uint16_t)(idx + 1);
}

/* ---- registers ---- */

static void identity_and_layout(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->vm.virtio.ndescs, 2);
    assert_int_equal(f->vm.virtio.descs[0].base, VIRTIO_MMIO_BASE);
    assert_int_equal(f->vm.virtio.descs[0].gsi, VIRTIO_GSI_BASE);
    assert_string_equal(f->vm.virtio.descs[0].name, "virtio-console");
    assert_int_equal(f->vm.virtio.descs[1].base, VIRTIO_MMIO_BASE + VIRTIO_MMIO_STRIDE);
    assert_int_equal(f->vm.virtio.descs[1].gsi, VIRTIO_GSI_BASE + 1);
    assert_int_equal(f->vm.virtio.descs[1].size, 0x1000);
    assert_string_equal(f->vm.virtio.descs[1].name, "virtio-rng");
    for (unsigned d = 0; d < 2; d++) {
        assert_int_equal(rd(f, d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
        assert_int_equal(rd(f, d, VIRTIO_MMIO_VERSION_REG), 2);
        assert_int_equal(rd(f, d, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
        wr(f, d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        assert_int_equal(rd(f, d, VIRTIO_MMIO_DEVICE_FEATURES) & 1, 1); /* VERSION_1 */
        wr(f, d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_true(rd(f, d, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_F_INDIRECT_DESC));
        wr(f, d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
        assert_int_equal(rd(f, d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    }
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    wr(f, 0, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_CONSOLE_QUEUE_SIZE);
    wr(f, 0, VIRTIO_MMIO_QUEUE_SEL, 2); /* no such queue */
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    /* Past the windows: nobody answers. */
    uint32_t v;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(2), 0, (uint8_t *)&v, 4), -2);
}

static void odd_accesses(void **state)
{
    struct fx *f = *state;
    uint8_t b[4] = {1, 2, 3, 4};
    /* Narrow or misaligned register accesses are ignored and read as 0. */
    assert_int_equal(io_bus_access(&f->vm.mmio, win(0) + VIRTIO_MMIO_MAGIC_VALUE, 0, b, 2), 0);
    assert_int_equal(b[0] | b[1], 0);
    assert_int_equal(io_bus_access(&f->vm.mmio, win(0) + 1, 0, b, 4), 0);
    assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
    uint8_t s = 0;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(0) + VIRTIO_MMIO_STATUS, 1, &s + 0, 1), 0);
    /* Config space: console has 12 bytes (all 0); beyond it and for rng (none) reads are 0. */
    uint32_t v = 0xffffffff;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(0) + 0x100 + 8, 0, (uint8_t *)&v, 4), 0);
    assert_int_equal(v, 0);
    v = 0xffffffff;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(0) + 0x100 + 10, 0, (uint8_t *)&v, 4), 0); /* crosses the end */
    assert_int_equal(v, 0);
    v = 0x12345678;
    assert_int_equal(io_bus_access(&f->vm.mmio, win(1) + 0xffc, 1, (uint8_t *)&v, 4), 0);
    assert_int_equal(io_bus_access(&f->vm.mmio, win(1) + 0xffc, 0, (uint8_t *)&v, 4), 0);
    assert_int_equal(v, 0);
    /* The driver cannot set NEEDS_RESET. */
    wr(f, 1, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void features_ok_needs_version_1(void **state)
{
    struct fx *f = *state;
    negotiate(f, 1, 0); /* a legacy driver */
    assert_false(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    negotiate(f, 1, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40)); /* a bit never offered */
    assert_false(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    negotiate(f, 1, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX));
    assert_true(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_true(virtio_dev_has_feature(f->vm.virtio.devs[1], VIRTIO_F_EVENT_IDX));
    /* Features are frozen once FEATURES_OK is set. */
    wr(f, 1, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, 1, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    assert_true(virtio_dev_has_feature(f->vm.virtio.devs[1], VIRTIO_F_EVENT_IDX));
    assert_int_equal(f->vm.virtio.errors, 0);
}

/* ---- rng ---- */

static void rng_fills_buffers_and_interrupts(void **state)
{
    struct fx *f = *state;
    start(f, 1, 1, 16);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_QUEUE_READY), 1);
    irqs(f, 1);
    set_desc(f, 0, 0, DATA, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 0, 1, DATA + 200, 28, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), 128);
    assert_int_equal(irqs(f, 1), 1);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED);
    wr(f, 1, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    int zeros = 0;
    for (unsigned i = 0; i < 100; i++)
        zeros += f->ram[DATA + i] == 0;
    assert_true(zeros < 10);
    assert_int_equal(f->ram[DATA + 150], 0); /* between the buffers: untouched */

    /* The driver asks for no interrupts: none. */
    avail(f, 0)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 2);
    assert_int_equal(irqs(f, 1), 0);
    /* Queue registers are frozen while the queue is ready. */
    wr(f, 1, VIRTIO_MMIO_QUEUE_NUM, 4);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_QUEUE_NUM), 16);
    /* A notify for a queue that does not exist is ignored. */
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 5);
    assert_int_equal(f->vm.virtio.errors, 0);
}

static void rng_caps_huge_requests(void **state)
{
    struct fx *f = *state;
    start(f, 1, 1, 16);
    set_desc(f, 0, 0, 0x20000, RAM - 0x20000, VIRTQ_DESC_F_WRITE, 0); /* 896 KiB */
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_len(f, 0, 0), VIRTIO_RNG_MAX_FILL);
}

static void notify_before_driver_ok_runs_at_driver_ok(void **state)
{
    struct fx *f = *state;
    negotiate(f, 1, 1ULL << VIRTIO_F_VERSION_1);
    queue(f, 1, 0, 16);
    set_desc(f, 0, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0);
    wr(f, 1, VIRTIO_MMIO_STATUS, rd(f, 1, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(used_idx(f, 0), 1);
}

/* ---- hostile guests ---- */

static void broken_device_needs_reset(void **state)
{
    struct fx *f = *state;
    start(f, 1, 1, 16);
    irqs(f, 1);
    uint32_t gen = rd(f, 1, VIRTIO_MMIO_CONFIG_GENERATION);
    set_desc(f, 0, 0, 0xfec00000ULL, 16, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(rd(f, 1, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
    assert_int_equal(irqs(f, 1), 1);
    assert_int_equal(virtio_host_errors(&f->vm.virtio), 1);
    assert_int_equal(used_idx(f, 0), 0);
    /* Broken: good requests are ignored until reset, and no second error is counted. */
    set_desc(f, 0, 1, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 1, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 0);
    assert_int_equal(virtio_host_errors(&f->vm.virtio), 1);
    /* Setting status bits keeps NEEDS_RESET. */
    wr(f, 1, VIRTIO_MMIO_STATUS, rd(f, 1, VIRTIO_MMIO_STATUS) & ~VIRTIO_STATUS_NEEDS_RESET);
    assert_true(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    /* Reset restores a clean device. */
    wr(f, 1, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    wr(f, 1, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_QUEUE_READY), 0);
    memset(f->ram + qbase(0), 0, 0x4000);
    start(f, 1, 1, 16);
    set_desc(f, 0, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    wr(f, 1, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_len(f, 0, 0), 8);
}

static void bad_queue_setup(void **state)
{
    struct {
        uint32_t num;
        uint64_t desc;
        int features_ok;
    } cases[] = {
        {128, DESC, 1},         /* above QueueNumMax (64) */
        {0x10010, DESC, 1},     /* above 16 bits */
        {0, DESC, 1},           /* zero */
        {12, DESC, 1},          /* not a power of two */
        {16, 0xd0000000ULL, 1}, /* descriptor table in the MMIO windows */
        {16, RAM - 64, 1},      /* past the end of RAM */
        {16, DESC, 0},          /* before FEATURES_OK */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fx *f = *state;
        uint64_t before = virtio_host_errors(&f->vm.virtio);
        if (cases[i].features_ok) {
            negotiate(f, 1, 1ULL << VIRTIO_F_VERSION_1);
        } else {
            wr(f, 1, VIRTIO_MMIO_STATUS, 0);
            wr(f, 1, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        }
        wr(f, 1, VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(f, 1, VIRTIO_MMIO_QUEUE_NUM, cases[i].num);
        wr(f, 1, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)cases[i].desc);
        wr(f, 1, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(cases[i].desc >> 32));
        wr(f, 1, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
        wr(f, 1, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
        wr(f, 1, VIRTIO_MMIO_QUEUE_READY, 1);
        if (!(rd(f, 1, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET))
            fail_msg("case %u: no NEEDS_RESET", i);
        assert_int_equal(rd(f, 1, VIRTIO_MMIO_QUEUE_READY), 0);
        assert_int_equal(virtio_host_errors(&f->vm.virtio), before + 1);
    }
}

/* ---- console ---- */

static void console_output(void **state)
{
    struct fx *f = *state;
    start(f, 0, 2, 8);
    memcpy(f->ram + DATA, "hello, ", 7);
    memcpy(f->ram + DATA + 100, "world\n", 6);
    set_desc(f, 1, 0, DATA, 7, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, 1, DATA + 100, 6, 0, 0);
    offer(f, 1, 0, 8);
    wr(f, 0, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TX);
    assert_int_equal(f->out_len, 13);
    assert_memory_equal(f->out, "hello, world\n", 13);
    assert_int_equal(used_idx(f, 1), 1);
    assert_int_equal(f->con->out_bytes, 13);
}

static void console_input(void **state)
{
    struct fx *f = *state;
    /* Not listening before the driver is up: input goes elsewhere (COM1). */
    assert_false(virtio_console_listening(f->con));
    assert_int_equal(virtio_console_receive(f->con, (const uint8_t *)"x", 1), 0);
    unsigned spaces = f->spaces;
    start(f, 0, 2, 8);
    assert_true(virtio_console_listening(f->con));
    assert_true(f->spaces > spaces); /* DRIVER_OK wakes held-back input */
    /* No receive buffers posted yet: nothing taken, `space` once buffers come. */
    assert_int_equal(virtio_console_receive(f->con, (const uint8_t *)"abcdef", 6), 0);
    spaces = f->spaces;
    set_desc(f, 0, 0, DATA, 4, VIRTQ_DESC_F_WRITE, 0);
    set_desc(f, 0, 1, DATA + 16, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 8);
    offer(f, 0, 1, 8);
    wr(f, 0, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RX);
    assert_int_equal(f->spaces, spaces + 1);
    irqs(f, 0);
    assert_int_equal(virtio_console_receive(f->con, (const uint8_t *)"abcdefghij", 10), 8);
    assert_memory_equal(f->ram + DATA, "abcd", 4);
    assert_memory_equal(f->ram + DATA + 16, "efgh", 4);
    assert_int_equal(used_idx(f, 0), 2);
    assert_int_equal(used_len(f, 0, 0), 4);
    assert_int_equal(irqs(f, 0), 1);
    /* A reset sends input back to COM1 (and wakes the feeder). */
    spaces = f->spaces;
    wr(f, 0, VIRTIO_MMIO_STATUS, 0);
    assert_false(virtio_console_listening(f->con));
    assert_true(f->spaces > spaces);
}

static void console_hostile_tx(void **state)
{
    struct fx *f = *state;
    start(f, 0, 2, 8);
    set_desc(f, 1, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 0); /* a loop */
    offer(f, 1, 0, 8);
    wr(f, 0, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TX);
    assert_true(rd(f, 0, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->out_len, 0);
    /* The receive queue stops too: input goes back to COM1. */
    assert_false(virtio_console_listening(f->con));
    assert_int_equal(virtio_console_receive(f->con, (const uint8_t *)"abc", 3), 0);
}

static void kick_without_thread_runs_inline(void **state)
{
    struct fx *f = *state;
    start(f, 1, 1, 16);
    set_desc(f, 0, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    virtio_dev_kick(f->rng->dev, 0);
    assert_int_equal(used_idx(f, 0), 1);
}

/* A queue served by another process (a vhost-user backend: external_queues) has its used
 * index only in guest RAM; a restore sets the queue up again and must leave that index as
 * the backend left it (the next backend starts from it), not at 0 as for a fresh driver. */
static void restore_keeps_external_used_index(void **state)
{
    struct fx *f = *state;
    static const struct virtio_dev_ops ext_ops = {0};
    struct virtio_dev_info info = {
        .name = "ext", .device_id = 2, .nqueues = 1, .queue_max = 64, .ops = &ext_ops, .external_queues = true};
    struct virtio_dev *d = virtio_mmio_add(&f->vm.virtio, &info);
    assert_non_null(d);
    start(f, 2, 1, 16);
    uint16_t *ram_used = (uint16_t *)(f->ram + qbase(0) + USED + 2);
    *ram_used = 41; /* what a backend published */
    struct virtio_dev_snap s;
    virtio_dev_save(d, &s);
    assert_int_equal(virtio_dev_restore(d, &s), 0);
    assert_int_equal(*ram_used, 41);
    /* A queue the monitor serves itself starts from the index it saved. */
    start(f, 1, 1, 16);
    set_desc(f, 0, 0, DATA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0, 0, 16);
    virtio_dev_kick(f->rng->dev, 0);
    assert_int_equal(used_idx(f, 0), 1);
    virtio_dev_save(f->rng->dev, &s);
    assert_int_equal(virtio_dev_restore(f->rng->dev, &s), 0);
    assert_int_equal(f->rng->dev->vq[0].used_idx, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(identity_and_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(odd_accesses, setup, teardown),
        cmocka_unit_test_setup_teardown(features_ok_needs_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(rng_fills_buffers_and_interrupts, setup, teardown),
        cmocka_unit_test_setup_teardown(rng_caps_huge_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_before_driver_ok_runs_at_driver_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_device_needs_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_queue_setup, setup, teardown),
        cmocka_unit_test_setup_teardown(console_output, setup, teardown),
        cmocka_unit_test_setup_teardown(console_input, setup, teardown),
        cmocka_unit_test_setup_teardown(console_hostile_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(kick_without_thread_runs_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_keeps_external_used_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
