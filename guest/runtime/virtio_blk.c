/*
 * virtio-blk driver (guest/include/blk.h): one request queue, one request at a time.
 */
#include "blk.h"

static struct virtio_device dev;
static struct virtqueue vq;
static bool ready;
static uint64_t sectors;
static uint32_t size_max, seg_max;

static uint32_t config32(unsigned off)
{
    return virtio_read(&dev, VIRTIO_REG_CONFIG + off);
}

bool vblk_init(bool use_irq)
{
    struct virtio_mmio_window w;
    ready = false;
    if (!virtio_mmio_find(VIRTIO_ID_BLOCK, &w))
        return false;
    uint64_t want = (1ull << VBLK_F_SIZE_MAX) | (1ull << VBLK_F_SEG_MAX) | (1ull << VBLK_F_RO) |
                    (1ull << VBLK_F_BLK_SIZE) | (1ull << VBLK_F_FLUSH) | (1ull << VBLK_F_DISCARD) |
                    (1ull << VBLK_F_WRITE_ZEROES);
    if (!virtio_device_init(&dev, &w, want) || !virtq_init(&vq, &dev, 0, VIRTQ_GUEST_MAX))
        return false;
    sectors = (uint64_t)config32(0) | ((uint64_t)config32(4) << 32);
    size_max = (dev.features >> VBLK_F_SIZE_MAX) & 1 ? config32(8) : 0;
    seg_max = (dev.features >> VBLK_F_SEG_MAX) & 1 ? config32(12) : 0;
    if (use_irq)
        virtio_enable_irq(&dev);
    virtio_driver_ok(&dev);
    ready = true;
    return true;
}

bool vblk_test_start(bool use_irq)
{
    irq_init();
    if (!timer_init()) {
        test_skip("no clock");
        return false;
    }
    timer_start_periodic(100);
    if (!vblk_init(use_irq)) {
        test_fail("no usable virtio-blk device");
        return false;
    }
    return true;
}

uint64_t vblk_sectors(void)
{
    return sectors;
}
bool vblk_readonly(void)
{
    return (dev.features >> VBLK_F_RO) & 1;
}
uint32_t vblk_seg_max(void)
{
    return seg_max;
}
uint32_t vblk_size_max(void)
{
    return size_max;
}
struct virtqueue *vblk_queue(void)
{
    return &vq;
}

int vblk_post(const struct virtq_buf *bufs, unsigned n_out, unsigned n_in, uint32_t *used_len)
{
    if (!ready || virtq_add(&vq, bufs, n_out, n_in) < 0)
        return -1;
    virtq_kick(&vq);
    return virtq_wait_used(&vq, used_len, VBLK_TIMEOUT_US) < 0 ? -1 : 0;
}

int vblk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    static struct vblk_hdr hdr;
    static volatile uint8_t status;
    hdr = (struct vblk_hdr){.type = type, .sector = sector};
    status = 0xff;
    bool in = type == VBLK_T_IN || type == VBLK_T_GET_ID;
    struct virtq_buf b[3] = {{&hdr, sizeof(hdr)}, {buf, len}, {(void *)&status, 1}};
    uint32_t used;
    int rc;
    if (!len) {
        b[1] = b[2];
        rc = vblk_post(b, 1, 1, &used);
    } else {
        rc = vblk_post(b, in ? 1 : 2, in ? 2 : 1, &used);
    }
    return rc < 0 ? -1 : status;
}
