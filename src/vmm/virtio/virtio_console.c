/* virtio-console, one port (see virtio_console.h for the input routing). */
#include "vmm/virtio/virtio_console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vmm/virtio/virtio_mmio.h"

/* Guest output: every chain's readable buffers go out whole; nothing is written back. */
static void transmit(struct virtio_console *c, struct virtq *vq)
{
    struct virtq_elem *e = c->elem;
    int r;
    while ((r = virtq_pop(vq, e)) > 0) {
        for (unsigned k = 0; k < e->n_out; k++) {
            if (e->out[k].iov_len && c->write)
                c->write(c->opaque, e->out[k].iov_base, e->out[k].iov_len);
        }
        __atomic_add_fetch(&c->out_bytes, e->out_len, __ATOMIC_RELAXED);
        virtq_push(vq, e, 0);
    }
    if (r == 0)
        virtio_notify(c->dev, vq);
}

static void queue_notify(struct virtio_dev *d, struct virtq *vq)
{
    struct virtio_console *c = virtio_dev_opaque(d);
    if (vq->index == VIRTIO_CONSOLE_TX) {
        transmit(c, vq);
    } else if (c->rx_waiting) {
        /* The driver posted receive buffers: let held-back input flow. */
        c->rx_waiting = false;
        if (c->space)
            c->space(c->opaque);
    }
}

static void reset(struct virtio_dev *d)
{
    struct virtio_console *c = virtio_dev_opaque(d);
    c->rx_waiting = false;
    /* Input routing falls back to COM1: wake whoever holds input back. */
    if (c->space)
        c->space(c->opaque);
}

/* The driver is up: if it listens on the receive queue, host input now comes here. */
static void driver_ok(struct virtio_dev *d)
{
    struct virtio_console *c = virtio_dev_opaque(d);
    if (c->space)
        c->space(c->opaque);
}

static void destroy(struct virtio_dev *d)
{
    struct virtio_console *c = virtio_dev_opaque(d);
    free(c->elem);
    free(c);
}

static const struct virtio_dev_ops console_ops = {
    .queue_notify = queue_notify,
    .reset = reset,
    .driver_ok = driver_ok,
    .destroy = destroy,
};

struct virtio_console *virtio_console_create(struct virtio_host *h, virtio_console_write_fn write,
                                             virtio_console_space_fn space, void *opaque)
{
    struct virtio_console *c = calloc(1, sizeof(*c));
    struct virtq_elem *e = malloc(sizeof(*e));
    if (!c || !e) {
        free(c);
        free(e);
        err_set(ENOMEM, "virtio-console: out of memory");
        return NULL;
    }
    c->write = write;
    c->space = space;
    c->opaque = opaque;
    c->elem = e;
    /* config: cols, rows, max_nr_ports, emerg_wr -- none offered, so all read as 0. */
    struct virtio_dev_info info = {.name = "virtio-console",
                                   .device_id = VIRTIO_ID_CONSOLE,
                                   .features = 0,
                                   .nqueues = 2,
                                   .queue_max = VIRTIO_CONSOLE_QUEUE_SIZE,
                                   .config_size = 12,
                                   .ops = &console_ops,
                                   .opaque = c};
    c->dev = virtio_mmio_add(h, &info);
    if (!c->dev) {
        free(e);
        free(c);
        return NULL;
    }
    return c;
}

static bool listening(struct virtio_console *c)
{
    return virtio_dev_running(c->dev) && virtio_dev_queue(c->dev, VIRTIO_CONSOLE_RX)->ready;
}

bool virtio_console_listening(struct virtio_console *c)
{
    virtio_dev_lock(c->dev);
    bool on = listening(c);
    virtio_dev_unlock(c->dev);
    return on;
}

size_t virtio_console_receive(struct virtio_console *c, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    virtio_dev_lock(c->dev);
    struct virtq *vq = virtio_dev_queue(c->dev, VIRTIO_CONSOLE_RX);
    if (listening(c)) {
        int r = 1;
        while (done < len && (r = virtq_pop(vq, c->elem)) > 0) {
            size_t n = virtq_elem_write(c->elem, 0, buf + done, len - done);
            virtq_push(vq, c->elem, (uint32_t)n);
            done += n;
        }
        if (done)
            virtio_notify(c->dev, vq);
        /* Out of buffers with input left: the next notification on the receive queue
         * (virtq_pop asked for one) calls `space`. */
        if (r == 0 && done < len)
            c->rx_waiting = true;
        __atomic_add_fetch(&c->in_bytes, done, __ATOMIC_RELAXED);
    }
    virtio_dev_unlock(c->dev);
    return done;
}
