/* virtio-console (device id 3): one port, no MULTIPORT, no size or emergency write. It is
 * the domain's second, faster console channel: what the guest sends on the transmit queue
 * goes where COM1's output goes (the console hub in --run-dir mode, stdout standalone),
 * whole buffers at a time instead of one exit per byte.
 *
 * Host input (docs/machine.md): it goes to virtio-console while the guest's driver is
 * listening there -- DRIVER_OK and the receive queue set up -- and to COM1 otherwise
 * (before the driver starts, and again after the device is reset). A guest that runs a
 * virtio-console driver gets all its input there, so it should read it there. */
#ifndef XENO_VMM_VIRTIO_VIRTIO_CONSOLE_H
#define XENO_VMM_VIRTIO_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct virtio_host;
struct virtio_dev;

#define VIRTIO_CONSOLE_RX 0 /* receiveq (port 0): host -> guest */
#define VIRTIO_CONSOLE_TX 1 /* transmitq (port 0): guest -> host */
#define VIRTIO_CONSOLE_QUEUE_SIZE 128

/* Where output goes: write(opaque, buf, len), on the virtio thread with the device's
 * lock held (it must not block for long). */
typedef void (*virtio_console_write_fn)(void *opaque, const uint8_t *buf, size_t len);
/* Called (device lock held) when the driver posts receive buffers after
 * virtio_console_receive() found none: host input may flow again. */
typedef void (*virtio_console_space_fn)(void *opaque);

struct virtio_console {
    struct virtio_dev *dev;
    virtio_console_write_fn write;
    virtio_console_space_fn space;
    void *opaque;
    bool rx_waiting; /* input is held back for lack of receive buffers */
    uint64_t out_bytes, in_bytes;
    struct virtq_elem *elem;
};

/* Adds the device to the VM (the next virtio-mmio window). NULL with err_msg(). */
struct virtio_console *virtio_console_create(struct virtio_host *h, virtio_console_write_fn write,
                                             virtio_console_space_fn space, void *opaque);
/* Whether the guest's driver listens (input goes here rather than COM1). Any thread. */
bool virtio_console_listening(struct virtio_console *c);
/* Host input into the receive queue: returns how many bytes the guest's posted buffers
 * took (0 if none are posted; `space` fires when some are). Any thread but the virtio
 * thread (takes the device lock). */
size_t virtio_console_receive(struct virtio_console *c, const uint8_t *buf, size_t len);

#endif
