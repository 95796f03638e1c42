/*
 * virtio-rng driver: one request queue; each read posts one device-writable buffer and
 * waits for it (interrupt-driven when asked, else polled).
 */
#include "runtime.h"

static struct virtio_device dev;
static struct virtqueue vq;
static bool ready;

bool vrng_init(bool use_irq)
{
    struct virtio_mmio_window w;

    ready = false;
    if (!virtio_mmio_find(VIRTIO_ID_RNG, &w))
        return false;
    dev.vector = 0;
    if (!virtio_device_init(&dev, &w, 0) || !virtq_init(&vq, &dev, 0, VIRTQ_GUEST_MAX))
        return false;
    if (use_irq)
        virtio_enable_irq(&dev);
    virtio_driver_ok(&dev);
    ready = true;
    return true;
}

struct virtio_device *vrng_device(void)
{
    return &dev;
}

size_t vrng_read(void *buf, size_t len)
{
    struct virtq_buf b = {buf, (uint32_t)MIN(len, (size_t)0xffffffffu)};
    uint32_t got = 0;

    if (!ready || virtq_add(&vq, &b, 0, 1) < 0)
        return 0;
    virtq_kick(&vq);
    if (virtq_wait_used(&vq, &got, 1000000) < 0)
        return 0;
    return MIN((size_t)got, len);
}
