/*
 * virtio-console driver, port 0 only: transmit buffers are copied into a small pool of
 * pages (each chain one buffer), receive buffers stay posted so the host can send input at
 * any time. Polled: the kernels that use it are single-threaded.
 */
#include "runtime.h"

#define VCON_BUFS 8
#define VCON_BUF_SIZE 4096
#define VCON_RX_BUFS 4
#define VCON_RX_SIZE 256

static struct virtio_device dev;
static struct virtqueue rxq, txq;
static bool present;
static uint8_t tx_pool[VCON_BUFS][VCON_BUF_SIZE] __attribute__((aligned(4096)));
static bool tx_busy[VCON_BUFS];
static int tx_slot_of_head[VIRTQ_GUEST_MAX];
static char rx_pool[VCON_RX_BUFS][VCON_RX_SIZE];
static int rx_slot_of_head[VIRTQ_GUEST_MAX];
/* Input taken from the device but not yet read. */
static char pending[VCON_RX_SIZE];
static size_t pending_off, pending_len;

static void post_rx(unsigned slot)
{
    struct virtq_buf b = {rx_pool[slot], VCON_RX_SIZE};
    int head = virtq_add(&rxq, &b, 0, 1);

    if (head >= 0)
        rx_slot_of_head[head] = (int)slot;
}

bool vcon_init(void)
{
    struct virtio_mmio_window w;

    present = false;
    if (!virtio_mmio_find(VIRTIO_ID_CONSOLE, &w))
        return false;
    if (!virtio_device_init(&dev, &w, 0) || !virtq_init(&rxq, &dev, 0, VIRTQ_GUEST_MAX) ||
        !virtq_init(&txq, &dev, 1, VIRTQ_GUEST_MAX))
        return false;
    for (unsigned i = 0; i < VCON_RX_BUFS; i++)
        post_rx(i);
    for (unsigned i = 0; i < VCON_BUFS; i++)
        tx_busy[i] = false;
    pending_off = pending_len = 0;
    virtio_driver_ok(&dev);
    virtq_kick(&rxq);
    present = true;
    return true;
}

bool vcon_present(void)
{
    return present;
}

struct virtio_device *vcon_device(void)
{
    return &dev;
}

static void reap_tx(void)
{
    int head;

    while ((head = virtq_get_used(&txq, NULL)) >= 0)
        tx_busy[tx_slot_of_head[head]] = false;
}

void vcon_write(const char *s, size_t len)
{
    while (len && present) {
        int slot = -1;

        while (slot < 0) {
            reap_tx();
            for (int i = 0; i < VCON_BUFS && slot < 0; i++)
                if (!tx_busy[i])
                    slot = i;
            if (slot < 0) {
                if (virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET) {
                    present = false;
                    return;
                }
                pause();
            }
        }
        size_t n = MIN(len, (size_t)VCON_BUF_SIZE);
        memcpy(tx_pool[slot], s, n);
        struct virtq_buf b = {tx_pool[slot], (uint32_t)n};
        int head = virtq_add(&txq, &b, 1, 0);
        if (head < 0)
            return; /* cannot happen: VCON_BUFS < queue size */
        tx_busy[slot] = true;
        tx_slot_of_head[head] = slot;
        virtq_kick(&txq);
        s += n;
        len -= n;
    }
}

bool vcon_flush(uint64_t timeout_us)
{
    uint64_t start = rdtsc(), limit = timeout_us * tsc_khz() / 1000;

    for (;;) {
        bool busy = false;

        reap_tx();
        for (int i = 0; i < VCON_BUFS; i++)
            busy |= tx_busy[i];
        if (!busy)
            return true;
        if (rdtsc() - start > limit)
            return false;
        pause();
    }
}

static int vcon_getc(uint64_t deadline)
{
    while (pending_off == pending_len) {
        uint32_t len;
        int head = virtq_get_used(&rxq, &len);

        if (head >= 0) {
            int slot = rx_slot_of_head[head];
            len = MIN(len, (uint32_t)VCON_RX_SIZE);
            memcpy(pending, rx_pool[slot], len);
            pending_off = 0;
            pending_len = len;
            post_rx((unsigned)slot);
            virtq_kick(&rxq);
            continue;
        }
        if (rdtsc() > deadline)
            return -1;
        pause();
    }
    return (unsigned char)pending[pending_off++];
}

int vcon_readline(char *buf, size_t size, uint64_t timeout_us)
{
    uint64_t deadline = rdtsc() + timeout_us * tsc_khz() / 1000;
    size_t n = 0;

    for (;;) {
        int c = vcon_getc(deadline);

        if (c < 0)
            return -1;
        if (c == '\r' || c == '\n') {
            if (n == 0)
                continue; /* the LF of a CRLF, or an empty line */
            break;
        }
        if (n + 1 < size)
            buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return (int)n;
}
