/*
 * virtio-blk driver (guest/include/blk.h): every virtio-blk device in window order, each
 * with up to VBLK_MAX_QUEUES request queues (VIRTIO_BLK_F_MQ), one request in flight per
 * queue. The one-disk calls (vblk_init, vblk_request, ...) are disk 0's queue 0.
 */
#include "blk.h"

/* Per queue: the request in flight's header and status (the device writes status). */
struct vblk_slot {
    struct vblk_hdr hdr;
    volatile uint8_t status;
    bool busy;
};

struct vblk_disk {
    struct virtio_device dev;
    struct virtqueue vq[VBLK_MAX_QUEUES];
    struct vblk_slot slot[VBLK_MAX_QUEUES];
    unsigned nq;
    uint64_t sectors;
    uint32_t size_max, seg_max;
};

static struct vblk_disk disks[VBLK_MAX_DISKS];
static unsigned ndisks;

static uint32_t config32(const struct vblk_disk *k, unsigned off)
{
    return virtio_read(&k->dev, VIRTIO_REG_CONFIG + off);
}

/* Sets up one device: features, as many queues as it offers (up to VBLK_MAX_QUEUES). */
static bool disk_init(struct vblk_disk *k, const struct virtio_mmio_window *w, bool use_irq)
{
    uint64_t want = (1ull << VBLK_F_SIZE_MAX) | (1ull << VBLK_F_SEG_MAX) | (1ull << VBLK_F_RO) |
                    (1ull << VBLK_F_BLK_SIZE) | (1ull << VBLK_F_FLUSH) | (1ull << VBLK_F_DISCARD) |
                    (1ull << VBLK_F_WRITE_ZEROES) | (1ull << VBLK_F_MQ);
    memset(k->slot, 0, sizeof(k->slot));
    k->nq = 0;
    if (!virtio_device_init(&k->dev, w, want))
        return false;
    unsigned nq = 1;
    if ((k->dev.features >> VBLK_F_MQ) & 1) {
        /* num_queues: a 16-bit field at offset 34 (the 32-bit read at 32 holds it high). */
        nq = config32(k, 32) >> 16;
        if (nq == 0) {
            printf("virtio-blk: MQ with num_queues 0\n");
            return false;
        }
        nq = MIN(nq, VBLK_MAX_QUEUES);
    }
    for (unsigned q = 0; q < nq; q++)
        if (!virtq_init(&k->vq[q], &k->dev, q, VIRTQ_GUEST_MAX))
            return false;
    k->nq = nq;
    k->sectors = (uint64_t)config32(k, 0) | ((uint64_t)config32(k, 4) << 32);
    k->size_max = (k->dev.features >> VBLK_F_SIZE_MAX) & 1 ? config32(k, 8) : 0;
    k->seg_max = (k->dev.features >> VBLK_F_SEG_MAX) & 1 ? config32(k, 12) : 0;
    if (use_irq)
        virtio_enable_irq(&k->dev);
    virtio_driver_ok(&k->dev);
    return true;
}

unsigned vblk_init_all(bool use_irq)
{
    struct virtio_mmio_window w[VIRTIO_MMIO_MAX_DEVICES];
    unsigned n = virtio_mmio_scan(w, ARRAY_SIZE(w));
    ndisks = 0;
    for (unsigned i = 0; i < n && ndisks < VBLK_MAX_DISKS; i++) {
        if (w[i].device_id != VIRTIO_ID_BLOCK)
            continue;
        if (!disk_init(&disks[ndisks], &w[i], use_irq))
            return 0;
        ndisks++;
    }
    return ndisks;
}

bool vblk_init(bool use_irq)
{
    struct virtio_mmio_window w;
    ndisks = 0;
    if (!virtio_mmio_find(VIRTIO_ID_BLOCK, &w) || !disk_init(&disks[0], &w, use_irq))
        return false;
    ndisks = 1;
    return true;
}

static bool test_start(void)
{
    irq_init();
    if (!timer_init()) {
        test_skip("no clock");
        return false;
    }
    timer_start_periodic(100);
    return true;
}

bool vblk_test_start(bool use_irq)
{
    if (!test_start())
        return false;
    if (!vblk_init(use_irq)) {
        test_fail("no usable virtio-blk device");
        return false;
    }
    return true;
}

unsigned vblk_test_start_all(bool use_irq)
{
    if (!test_start())
        return 0;
    unsigned n = vblk_init_all(use_irq);
    if (n == 0)
        test_fail("no usable virtio-blk device");
    return n;
}

unsigned vblk_disk_count(void)
{
    return ndisks;
}
unsigned vblk_disk_queues(unsigned disk)
{
    return disk < ndisks ? disks[disk].nq : 0;
}
uint64_t vblk_disk_sectors(unsigned disk)
{
    return disk < ndisks ? disks[disk].sectors : 0;
}
bool vblk_disk_readonly(unsigned disk)
{
    return disk < ndisks && ((disks[disk].dev.features >> VBLK_F_RO) & 1);
}

uint64_t vblk_sectors(void)
{
    return vblk_disk_sectors(0);
}
bool vblk_readonly(void)
{
    return vblk_disk_readonly(0);
}
uint32_t vblk_seg_max(void)
{
    return ndisks ? disks[0].seg_max : 0;
}
uint32_t vblk_size_max(void)
{
    return ndisks ? disks[0].size_max : 0;
}
struct virtqueue *vblk_queue(void)
{
    return &disks[0].vq[0];
}

int vblk_post(const struct virtq_buf *bufs, unsigned n_out, unsigned n_in, uint32_t *used_len)
{
    struct virtqueue *vq = &disks[0].vq[0];
    if (!ndisks || virtq_add(vq, bufs, n_out, n_in) < 0)
        return -1;
    virtq_kick(vq);
    return virtq_wait_used(vq, used_len, VBLK_TIMEOUT_US) < 0 ? -1 : 0;
}

bool vblk_start(unsigned disk, unsigned queue, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    if (disk >= ndisks || queue >= disks[disk].nq || disks[disk].slot[queue].busy)
        return false;
    struct vblk_slot *s = &disks[disk].slot[queue];
    struct virtqueue *vq = &disks[disk].vq[queue];
    s->hdr = (struct vblk_hdr){.type = type, .sector = sector};
    s->status = 0xff;
    bool in = type == VBLK_T_IN || type == VBLK_T_GET_ID;
    struct virtq_buf b[3] = {{&s->hdr, sizeof(s->hdr)}, {buf, len}, {(void *)&s->status, 1}};
    int head;
    if (!len) {
        b[1] = b[2];
        head = virtq_add(vq, b, 1, 1);
    } else {
        head = virtq_add(vq, b, in ? 1 : 2, in ? 2 : 1);
    }
    if (head < 0)
        return false;
    s->busy = true;
    virtq_kick(vq);
    return true;
}

int vblk_finish(unsigned disk, unsigned queue)
{
    if (disk >= ndisks || queue >= disks[disk].nq || !disks[disk].slot[queue].busy)
        return -1;
    struct vblk_slot *s = &disks[disk].slot[queue];
    uint32_t used;
    if (virtq_wait_used(&disks[disk].vq[queue], &used, VBLK_TIMEOUT_US) < 0)
        return -1; /* the slot stays busy: the request may still complete */
    s->busy = false;
    return s->status;
}

int vblk_request_on(unsigned disk, unsigned queue, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    return vblk_start(disk, queue, type, sector, buf, len) ? vblk_finish(disk, queue) : -1;
}

int vblk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    return vblk_request_on(0, 0, type, sector, buf, len);
}
