/*
 * virtio_hostile: programs garbage into virtio-rng's (and once virtio-console's) queues
 * and registers -- descriptor indices out of range, loops, buffers outside RAM or in the
 * MMIO hole, huge lengths, avail idx jumps, misordered and malformed indirect chains,
 * rings in the MMIO hole or past the end of RAM, bad queue sizes. After each case the
 * device must report DEVICE_NEEDS_RESET (status bit 0x40) with a configuration-change
 * interrupt status, and after a reset it must work again (a real read). PASS when every
 * case was reported and the device recovered each time; the host's log must name each
 * case too (tests/integration/virtio.sh counts the lines).
 */
#include "runtime.h"

const char test_title[] = "virtio_hostile: the monitor survives hostile virtqueues";

#define QSIZE 16

static struct virtio_mmio_window rng_w, con_w;
static struct virtio_device dev;
static struct virtqueue vq;
static uint8_t buf[256] __attribute__((aligned(64)));
static struct virtq_desc_g table[8] __attribute__((aligned(16)));
static struct virtq_desc_g table2[4] __attribute__((aligned(16)));
static uint8_t spare_ring[4096] __attribute__((aligned(4096)));
static unsigned cases, reported, recovered;

static bool wait_status(struct virtio_device *d, uint32_t bit, uint64_t us)
{
    uint64_t start = rdtsc(), limit = us * tsc_khz() / 1000;

    while (!(virtio_status(d) & bit)) {
        if (rdtsc() - start > limit)
            return false;
        pause();
    }
    return true;
}

/* A fresh, working device: reset, negotiate (optionally indirect), queue 0, DRIVER_OK. */
static bool setup(struct virtio_device *d, const struct virtio_mmio_window *w, bool indirect, unsigned q)
{
    d->vector = 0;
    if (!virtio_device_init(d, w, indirect ? 1ULL << VIRTIO_F_INDIRECT_DESC : 0))
        return false;
    if (!virtq_init(&vq, d, q, QSIZE))
        return false;
    virtio_driver_ok(d);
    return true;
}

/* Puts a chain head on the avail ring and notifies. */
static void submit(uint16_t head)
{
    vq.avail[2 + (vq.avail_idx & (vq.size - 1))] = head;
    vq.avail_idx++;
    __atomic_store_n(&vq.avail[1], vq.avail_idx, __ATOMIC_RELEASE);
    virtq_kick(&vq);
}

static void set_desc(volatile struct virtq_desc_g *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    t[i].addr = addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

/* The device must be in NEEDS_RESET with a config-change interrupt pending; then a reset
 * and a real request must work. */
static void verify(const char *name, struct virtio_device *d, const struct virtio_mmio_window *w)
{
    cases++;
    bool needs_reset = wait_status(d, VIRTIO_STATUS_NEEDS_RESET, 2000000);
    uint32_t isr = virtio_read(d, VIRTIO_REG_INTERRUPT_STATUS);
    if (!needs_reset)
        test_fail("%s: device did not report NEEDS_RESET (status %#x)", name, virtio_status(d));
    else if (!(isr & VIRTIO_INT_CONFIG))
        test_fail("%s: NEEDS_RESET without a configuration-change interrupt (isr %#x)", name, isr);
    else
        reported++;
    virtio_write(d, VIRTIO_REG_INTERRUPT_ACK, isr);

    virtio_reset(d);
    if (virtio_status(d) != 0) {
        test_fail("%s: status %#x after reset", name, virtio_status(d));
        return;
    }
    bool ok;
    if (d->device_id == VIRTIO_ID_RNG) {
        ok = setup(d, w, false, 0);
        struct virtq_buf b = {buf, 32};
        uint32_t len = 0;
        memset(buf, 0, sizeof(buf));
        ok = ok && virtq_add(&vq, &b, 0, 1) >= 0;
        if (ok) {
            virtq_kick(&vq);
            ok = virtq_wait_used(&vq, &len, 2000000) >= 0 && len == 32;
        }
    } else {
        ok = setup(d, w, false, 1);
        static const char msg[] = "virtio_hostile: virtio-console works again\n";
        struct virtq_buf b = {(void *)msg, sizeof(msg) - 1};
        ok = ok && virtq_add(&vq, &b, 1, 0) >= 0;
        if (ok) {
            virtq_kick(&vq);
            ok = virtq_wait_used(&vq, NULL, 2000000) >= 0;
        }
    }
    if (ok && !(virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET)) {
        recovered++;
        printf("virtio_hostile: %s: reported, recovered\n", name);
    } else {
        test_fail("%s: device does not work after reset (status %#x)", name, virtio_status(d));
    }
    virtio_reset(d);
}

/* Writes queue 0's registers by hand and sets QueueReady. */
static void raw_queue(struct virtio_device *d, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    virtio_write(d, VIRTIO_REG_QUEUE_SEL, 0);
    virtio_write(d, VIRTIO_REG_QUEUE_NUM, num);
    virtio_write(d, VIRTIO_REG_QUEUE_DESC_LOW, (uint32_t)desc);
    virtio_write(d, VIRTIO_REG_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_DRIVER_LOW, (uint32_t)avail);
    virtio_write(d, VIRTIO_REG_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_DEVICE_LOW, (uint32_t)used);
    virtio_write(d, VIRTIO_REG_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_READY, 1);
}

/* Negotiated (VERSION_1 only) but no queue yet. */
static bool negotiated(struct virtio_device *d, const struct virtio_mmio_window *w)
{
    d->vector = 0;
    return virtio_device_init(d, w, 0);
}

void test_main(void)
{
    uint64_t ram_top = pvh_ram_top(), b = (uint64_t)buf;

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!virtio_mmio_find(VIRTIO_ID_RNG, &rng_w) || !virtio_mmio_find(VIRTIO_ID_CONSOLE, &con_w)) {
        test_fail("virtio-rng or virtio-console missing");
        return;
    }
    printf("virtio_hostile: RAM ends at %#lx\n", (unsigned long)ram_top);

    /* --- Chains --- */
    setup(&dev, &rng_w, false, 0);
    submit(200); /* head >= queue size */
    verify("head index out of range", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, b, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 100);
    submit(0);
    verify("next index out of range", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, b, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(vq.desc, 1, b + 16, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    submit(0);
    verify("descriptor loop", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, 0x100000000000ULL, 16, VIRTQ_DESC_F_WRITE, 0);
    submit(0);
    verify("buffer far outside RAM", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, 0xfec00000ULL, 16, VIRTQ_DESC_F_WRITE, 0); /* the IOAPIC */
    submit(0);
    verify("buffer in the MMIO hole", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, b, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
    submit(0);
    verify("huge length", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, ram_top - 8, 64, VIRTQ_DESC_F_WRITE, 0);
    submit(0);
    verify("buffer runs past the end of RAM", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, b, 16, VIRTQ_DESC_F_WRITE, 0);
    vq.avail[2] = 0;
    vq.avail_idx = (uint16_t)(vq.avail_idx + 1000);
    __atomic_store_n(&vq.avail[1], vq.avail_idx, __ATOMIC_RELEASE);
    virtq_kick(&vq);
    verify("avail idx jump", &dev, &rng_w);

    setup(&dev, &rng_w, false, 0);
    set_desc(vq.desc, 0, b, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(vq.desc, 1, b + 16, 16, 0, 0); /* device-readable after writable */
    submit(0);
    verify("readable after writable", &dev, &rng_w);

    /* --- Indirect --- */
    setup(&dev, &rng_w, false, 0); /* VIRTIO_F_INDIRECT_DESC not negotiated */
    set_desc(table, 0, b, 16, VIRTQ_DESC_F_WRITE, 0);
    set_desc(vq.desc, 0, (uint64_t)table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    submit(0);
    verify("indirect without the feature", &dev, &rng_w);

    setup(&dev, &rng_w, true, 0);
    set_desc(vq.desc, 0, (uint64_t)table, 20, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
    submit(0);
    verify("indirect table length", &dev, &rng_w);

    setup(&dev, &rng_w, true, 0);
    set_desc(table2, 0, b, 16, VIRTQ_DESC_F_WRITE, 0);
    set_desc(table, 0, (uint64_t)table2, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc(vq.desc, 0, (uint64_t)table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    submit(0);
    verify("nested indirect", &dev, &rng_w);

    setup(&dev, &rng_w, true, 0);
    set_desc(table, 0, b, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(table, 1, b + 16, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    set_desc(vq.desc, 0, (uint64_t)table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    submit(0);
    verify("loop inside an indirect table", &dev, &rng_w);

    setup(&dev, &rng_w, true, 0);
    set_desc(vq.desc, 0, 0xd0000000ULL, 64, VIRTQ_DESC_F_INDIRECT, 0);
    submit(0);
    verify("indirect table in the MMIO hole", &dev, &rng_w);

    /* --- Queue setup --- */
    negotiated(&dev, &rng_w);
    raw_queue(&dev, QSIZE, 0xd0000000ULL, (uint64_t)spare_ring + 1024, (uint64_t)spare_ring + 2048);
    verify("descriptor table in the MMIO hole", &dev, &rng_w);

    negotiated(&dev, &rng_w);
    raw_queue(&dev, QSIZE, (uint64_t)spare_ring, (uint64_t)spare_ring + 1024, ram_top - 16);
    verify("used ring past the end of RAM", &dev, &rng_w);

    negotiated(&dev, &rng_w);
    raw_queue(&dev, QSIZE, (uint64_t)spare_ring, 0xfee00000ULL, (uint64_t)spare_ring + 2048); /* LAPIC */
    verify("avail ring in the MMIO hole", &dev, &rng_w);

    negotiated(&dev, &rng_w);
    raw_queue(&dev, 3, (uint64_t)spare_ring, (uint64_t)spare_ring + 1024, (uint64_t)spare_ring + 2048);
    verify("queue size not a power of two", &dev, &rng_w);

    negotiated(&dev, &rng_w);
    raw_queue(&dev, 32768, (uint64_t)spare_ring, (uint64_t)spare_ring + 1024, (uint64_t)spare_ring + 2048);
    verify("queue size above QueueNumMax", &dev, &rng_w);

    virtio_reset(&dev);
    virtio_write(&dev, VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    raw_queue(&dev, QSIZE, (uint64_t)spare_ring, (uint64_t)spare_ring + 1024, (uint64_t)spare_ring + 2048);
    verify("QueueReady before FEATURES_OK", &dev, &rng_w);

    /* --- The console's transmit queue --- */
    static struct virtio_device con;
    setup(&con, &con_w, false, 1);
    set_desc(vq.desc, 0, 0xfee00000ULL, 64, 0, 0);
    submit(0);
    verify("console buffer in the MMIO hole", &con, &con_w);

    /* --- Not NEEDS_RESET: a legacy driver's negotiation is refused --- */
    virtio_reset(&dev);
    virtio_write(&dev, VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_write(&dev, VIRTIO_REG_DRIVER_FEATURES_SEL, 1);
    virtio_write(&dev, VIRTIO_REG_DRIVER_FEATURES, 0); /* no VIRTIO_F_VERSION_1 */
    virtio_write(&dev, VIRTIO_REG_STATUS,
                 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (virtio_status(&dev) & VIRTIO_STATUS_FEATURES_OK)
        test_fail("FEATURES_OK accepted without VIRTIO_F_VERSION_1");
    else
        printf("virtio_hostile: FEATURES_OK without VIRTIO_F_VERSION_1: refused\n");
    virtio_reset(&dev);

    printf("virtio_hostile: %u cases, %u reported, %u recovered\n", cases, reported, recovered);
    if (reported == cases && recovered == cases)
        test_pass();
}
