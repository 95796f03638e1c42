/*
 * virtio-mmio driver core: discovery, feature negotiation, split virtqueues.
 *
 * Discovery reads the ACPI DSDT (acpi.c: the LNRO0005 devices with their window and GSI),
 * as stock kernels do; without a DSDT it probes the twelve windows at 0xd0000000 +
 * i * 0x1000 for the magic value, where docs/machine.md puts device i on pin 16 + i (the
 * last four on ISA pins 5, 6, 7, 10).
 */
#include "runtime.h"

#define RING_AVAIL_OFF 1024
#define RING_USED_OFF 2048

static struct virtio_device *irq_devs[VIRTIO_MMIO_MAX_DEVICES];
static const char *discovery = "none yet";

const char *virtio_mmio_discovery(void)
{
    return discovery;
}

static bool probe(uint64_t base, unsigned index, unsigned gsi, struct virtio_mmio_window *out)
{
    if (mmio_read32(base + VIRTIO_REG_MAGIC) != VIRTIO_MMIO_MAGIC)
        return false;
    uint32_t id = mmio_read32(base + VIRTIO_REG_DEVICE_ID);
    if (id == 0)
        return false; /* a placeholder window */
    *out = (struct virtio_mmio_window){.base = base, .index = index, .gsi = gsi, .device_id = id};
    return true;
}

unsigned virtio_mmio_scan(struct virtio_mmio_window *out, unsigned max)
{
    struct acpi_mmio_dev acpi[VIRTIO_MMIO_MAX_DEVICES];
    int na = acpi_virtio_mmio_devices(acpi, VIRTIO_MMIO_MAX_DEVICES);
    unsigned n = 0;

    discovery = na >= 0 ? "ACPI DSDT" : "probing the windows";
    if (na >= 0) {
        /* `index` is the position in the DSDT: it picks the interrupt vector. */
        for (int i = 0; i < na && n < max; i++)
            n += probe(acpi[i].base, (unsigned)i, acpi[i].gsi, &out[n]);
        return n;
    }
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_DEVICES && n < max; i++)
        n += probe(VIRTIO_MMIO_WINDOWS_BASE + i * VIRTIO_MMIO_WINDOW_SIZE, i, virtio_mmio_window_gsi(i), &out[n]);
    return n;
}

bool virtio_mmio_find(uint32_t device_id, struct virtio_mmio_window *out)
{
    struct virtio_mmio_window w[VIRTIO_MMIO_MAX_DEVICES];
    unsigned n = virtio_mmio_scan(w, ARRAY_SIZE(w));

    for (unsigned i = 0; i < n; i++) {
        if (w[i].device_id == device_id) {
            *out = w[i];
            return true;
        }
    }
    return false;
}

uint32_t virtio_status(const struct virtio_device *d)
{
    return virtio_read(d, VIRTIO_REG_STATUS);
}

void virtio_reset(struct virtio_device *d)
{
    virtio_write(d, VIRTIO_REG_STATUS, 0);
    /* A reset is done once Status reads 0 (4.2.3.1). */
    for (unsigned i = 0; i < 1000 && virtio_status(d) != 0; i++)
        pause();
    d->isr_seen = 0;
}

bool virtio_device_init(struct virtio_device *d, const struct virtio_mmio_window *w, uint64_t wanted)
{
    unsigned vector = d->vector;

    memset(d, 0, sizeof(*d));
    d->base = w->base;
    d->index = w->index;
    d->gsi = w->gsi;
    d->device_id = w->device_id;
    d->vector = vector;
    if (virtio_read(d, VIRTIO_REG_MAGIC) != VIRTIO_MMIO_MAGIC || virtio_read(d, VIRTIO_REG_VERSION) != 2) {
        printf("virtio: window %#lx holds no modern virtio-mmio device\n", (unsigned long)d->base);
        return false;
    }
    virtio_reset(d);
    virtio_write(d, VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_write(d, VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_write(d, VIRTIO_REG_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = virtio_read(d, VIRTIO_REG_DEVICE_FEATURES);
    virtio_write(d, VIRTIO_REG_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)virtio_read(d, VIRTIO_REG_DEVICE_FEATURES) << 32;
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
        printf("virtio: device %u does not offer VIRTIO_F_VERSION_1\n", d->device_id);
        virtio_write(d, VIRTIO_REG_STATUS, VIRTIO_STATUS_FAILED);
        return false;
    }
    d->features = (offered & wanted) | (1ULL << VIRTIO_F_VERSION_1);
    virtio_write(d, VIRTIO_REG_DRIVER_FEATURES_SEL, 0);
    virtio_write(d, VIRTIO_REG_DRIVER_FEATURES, (uint32_t)d->features);
    virtio_write(d, VIRTIO_REG_DRIVER_FEATURES_SEL, 1);
    virtio_write(d, VIRTIO_REG_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    virtio_write(d, VIRTIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
        printf("virtio: device %u refused features %#lx\n", d->device_id, (unsigned long)d->features);
        virtio_write(d, VIRTIO_REG_STATUS, VIRTIO_STATUS_FAILED);
        return false;
    }
    return true;
}

void virtio_driver_ok(struct virtio_device *d)
{
    virtio_write(d, VIRTIO_REG_STATUS, virtio_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

static void virtio_irq(struct cpu_regs *regs)
{
    unsigned i = regs->vector - VEC_VIRTIO_BASE;
    struct virtio_device *d = i < VIRTIO_MMIO_MAX_DEVICES ? irq_devs[i] : NULL;

    if (!d)
        return;
    uint32_t isr = virtio_read(d, VIRTIO_REG_INTERRUPT_STATUS);
    virtio_write(d, VIRTIO_REG_INTERRUPT_ACK, isr);
    __atomic_fetch_or(&d->isr_seen, isr, __ATOMIC_SEQ_CST);
    d->irqs++;
}

void virtio_enable_irq(struct virtio_device *d)
{
    d->vector = VEC_VIRTIO_BASE + d->index;
    irq_devs[d->index] = d;
    irq_register(d->vector, virtio_irq);
    /* Pins 16-23 (and ISA pins 5, 6, 7, 10 for windows 8-11) are programmed like the ISA
     * ones: edge, active high, fixed delivery. */
    ioapic_route_isa(d->gsi, d->vector, lapic_id());
}

bool virtq_init(struct virtqueue *vq, struct virtio_device *d, unsigned index, uint16_t max_size)
{
    virtio_write(d, VIRTIO_REG_QUEUE_SEL, index);
    if (virtio_read(d, VIRTIO_REG_QUEUE_READY)) {
        printf("virtio: device %u queue %u is already live\n", d->device_id, index);
        return false;
    }
    uint32_t max = virtio_read(d, VIRTIO_REG_QUEUE_NUM_MAX);
    if (max == 0) {
        printf("virtio: device %u has no queue %u\n", d->device_id, index);
        return false;
    }
    uint16_t size = VIRTQ_GUEST_MAX;
    while (size > max || size > max_size)
        size /= 2;
    memset(vq->ring, 0, sizeof(vq->ring));
    vq->dev = d;
    vq->index = index;
    vq->size = size;
    vq->desc = (volatile struct virtq_desc_g *)vq->ring;
    vq->avail = (volatile uint16_t *)(vq->ring + RING_AVAIL_OFF);
    vq->used = (volatile uint16_t *)(vq->ring + RING_USED_OFF);
    vq->avail_idx = vq->last_used = 0;
    vq->free_head = 0;
    vq->num_free = size;
    for (uint16_t i = 0; i < size; i++)
        vq->desc[i].next = (uint16_t)(i + 1);
    /* Identity-mapped: the kernel's addresses are physical. */
    uint64_t desc = (uint64_t)vq->desc, avail = (uint64_t)vq->avail, used = (uint64_t)vq->used;
    virtio_write(d, VIRTIO_REG_QUEUE_NUM, size);
    virtio_write(d, VIRTIO_REG_QUEUE_DESC_LOW, (uint32_t)desc);
    virtio_write(d, VIRTIO_REG_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_DRIVER_LOW, (uint32_t)avail);
    virtio_write(d, VIRTIO_REG_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_DEVICE_LOW, (uint32_t)used);
    virtio_write(d, VIRTIO_REG_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    virtio_write(d, VIRTIO_REG_QUEUE_READY, 1);
    return virtio_read(d, VIRTIO_REG_QUEUE_READY) == 1;
}

int virtq_add(struct virtqueue *vq, const struct virtq_buf *bufs, unsigned n_out, unsigned n_in)
{
    unsigned n = n_out + n_in;

    if (n == 0 || n > vq->num_free)
        return -1;
    uint16_t head = vq->free_head, i = head, last = head;
    for (unsigned k = 0; k < n; k++) {
        vq->desc[i].addr = (uint64_t)bufs[k].addr;
        vq->desc[i].len = bufs[k].len;
        vq->desc[i].flags = (uint16_t)((k >= n_out ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        last = i;
        i = vq->desc[i].next;
    }
    vq->free_head = vq->desc[last].next;
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->chain_len[head] = (uint16_t)n;
    vq->avail[2 + (vq->avail_idx & (vq->size - 1))] = head;
    vq->avail_idx++;
    /* Descriptors and the ring entry before the index (x86 keeps stores in order; this
     * keeps the compiler from reordering them). */
    __atomic_store_n(&vq->avail[1], vq->avail_idx, __ATOMIC_RELEASE);
    return head;
}

void virtq_kick(struct virtqueue *vq)
{
    /* The index store must be visible before we read the device's flags. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(vq->used[0] & VIRTQ_USED_F_NO_NOTIFY))
        virtio_write(vq->dev, VIRTIO_REG_QUEUE_NOTIFY, vq->index);
}

int virtq_get_used(struct virtqueue *vq, uint32_t *len)
{
    uint16_t idx = __atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE);

    if (idx == vq->last_used)
        return -1;
    volatile uint32_t *elem = (volatile uint32_t *)(vq->used + 2) + 2 * (vq->last_used & (vq->size - 1));
    uint32_t id = elem[0];
    if (len)
        *len = elem[1];
    vq->last_used++;
    if (id >= vq->size)
        return -1;
    /* Return the chain to the free list. */
    uint16_t n = vq->chain_len[id], last = (uint16_t)id;
    for (uint16_t k = 1; k < n; k++)
        last = vq->desc[last].next;
    vq->desc[last].next = vq->free_head;
    vq->free_head = (uint16_t)id;
    vq->num_free = (uint16_t)(vq->num_free + n);
    return (int)id;
}

int virtq_wait_used(struct virtqueue *vq, uint32_t *len, uint64_t timeout_us)
{
    uint64_t start = rdtsc(), limit = timeout_us * (tsc_khz() ? tsc_khz() : 1000000) / 1000;

    for (;;) {
        int id = virtq_get_used(vq, len);
        if (id >= 0)
            return id;
        if (rdtsc() - start > limit)
            return -1;
        if (vq->dev->vector && timer_hz()) {
            /* Sleep until the next interrupt; check again with interrupts off first so
             * that one arriving in between is not slept through. */
            cli();
            if (__atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE) == vq->last_used)
                sti_hlt(); /* the device or the periodic tick (bounds the wait) wakes us */
            else
                sti();
        } else {
            pause();
        }
    }
}
