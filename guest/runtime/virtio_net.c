/*
 * virtio-net driver, polled: receive queue 0 kept full of frame-sized buffers, transmit
 * queue 1 with one buffer per frame (header and frame together). The device never resets
 * under us: a host backend restart is invisible here (docs/machine.md), and nothing in this
 * driver resets the device after vnet_init.
 */
#include "net.h"

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VNET_HDR_LEN 12
#define VNET_BUF 1536 /* header + the largest frame, rounded */

static struct virtio_device dev;
static struct virtqueue rxq, txq;
static uint8_t rx_bufs[VIRTQ_GUEST_MAX][VNET_BUF] __attribute__((aligned(64)));
static uint8_t tx_bufs[VIRTQ_GUEST_MAX][VNET_BUF] __attribute__((aligned(64)));
static bool tx_busy[VIRTQ_GUEST_MAX];
static int rx_of_head[VIRTQ_GUEST_MAX], tx_of_head[VIRTQ_GUEST_MAX];
static unsigned tx_pending;
static uint8_t mac[ETH_ALEN];
static struct vnet_stats stats;
static bool ready;

static void post_rx(unsigned i)
{
    struct virtq_buf b = {rx_bufs[i], VNET_BUF};
    int head = virtq_add(&rxq, &b, 0, 1);
    if (head >= 0)
        rx_of_head[head] = (int)i;
}

bool vnet_init(void)
{
    struct virtio_mmio_window w;

    ready = false;
    if (!virtio_mmio_find(1, &w)) {
        printf("virtio-net: no device\n");
        return false;
    }
    dev.vector = 0;
    if (!virtio_device_init(&dev, &w, (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS)))
        return false;
    if (!(dev.features & (1ULL << VIRTIO_NET_F_MAC))) {
        printf("virtio-net: the device has no MAC address\n");
        return false;
    }
    for (unsigned i = 0; i < ETH_ALEN; i++)
        mac[i] = *(volatile uint8_t *)(dev.base + VIRTIO_REG_CONFIG + i);
    if (!virtq_init(&rxq, &dev, 0, VIRTQ_GUEST_MAX) || !virtq_init(&txq, &dev, 1, VIRTQ_GUEST_MAX)) {
        printf("virtio-net: queues refused\n");
        return false;
    }
    for (unsigned i = 0; i < rxq.size; i++)
        post_rx(i);
    virtio_driver_ok(&dev);
    virtq_kick(&rxq);
    stats.inits++;
    ready = true;
    return true;
}

const uint8_t *vnet_mac(void)
{
    return mac;
}

bool vnet_link_up(void)
{
    if (!(dev.features & (1ULL << VIRTIO_NET_F_STATUS)))
        return true;
    return *(volatile uint16_t *)(dev.base + VIRTIO_REG_CONFIG + 6) & 1;
}

unsigned vnet_poll_tx(void)
{
    int head;
    while ((head = virtq_get_used(&txq, NULL)) >= 0) {
        tx_busy[tx_of_head[head]] = false;
        tx_pending--;
    }
    return tx_pending;
}

bool vnet_send(const void *frame, size_t len)
{
    if (!ready || len > ETH_MAX_FRAME)
        return false;
    vnet_poll_tx();
    unsigned slot = 0;
    while (slot < txq.size && tx_busy[slot])
        slot++;
    if (slot == txq.size) {
        stats.tx_full++;
        return false;
    }
    uint8_t *b = tx_bufs[slot];
    memset(b, 0, VNET_HDR_LEN);
    memcpy(b + VNET_HDR_LEN, frame, len);
    if (len < ETH_MIN_FRAME) {
        memset(b + VNET_HDR_LEN + len, 0, ETH_MIN_FRAME - len);
        len = ETH_MIN_FRAME;
    }
    struct virtq_buf vb = {b, (uint32_t)(VNET_HDR_LEN + len)};
    int head = virtq_add(&txq, &vb, 1, 0);
    if (head < 0) {
        stats.tx_full++;
        return false;
    }
    tx_busy[slot] = true;
    tx_of_head[head] = (int)slot;
    tx_pending++;
    stats.tx_frames++;
    virtq_kick(&txq);
    return true;
}

size_t vnet_recv(void *buf, size_t size, uint64_t timeout_us)
{
    uint32_t got = 0;
    int head;

    if (!ready)
        return 0;
    head = timeout_us ? virtq_wait_used(&rxq, &got, timeout_us) : virtq_get_used(&rxq, &got);
    if (head < 0)
        return 0;
    unsigned i = (unsigned)rx_of_head[head];
    /* The used length is the device's word: never trust it beyond the buffer. */
    size_t len = got > VNET_HDR_LEN ? MIN((size_t)got, (size_t)VNET_BUF) - VNET_HDR_LEN : 0;
    len = MIN(len, size);
    memcpy(buf, rx_bufs[i] + VNET_HDR_LEN, len);
    post_rx(i);
    virtq_kick(&rxq);
    stats.rx_frames++;
    return len;
}

uint32_t vnet_status(void)
{
    return virtio_status(&dev);
}

const struct vnet_stats *vnet_stats(void)
{
    return &stats;
}
