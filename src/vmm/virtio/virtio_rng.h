/* virtio-rng (device id 4): one request queue; every device-writable buffer the driver
 * posts is filled from getrandom(2), at most VIRTIO_RNG_MAX_FILL bytes a request (the
 * used length says how many). No config space, no feature bits. */
#ifndef XENO_VMM_VIRTIO_VIRTIO_RNG_H
#define XENO_VMM_VIRTIO_VIRTIO_RNG_H

#include <stdint.h>

struct virtio_host;
struct virtio_dev;
struct virtq_elem;

#define VIRTIO_RNG_QUEUE_SIZE 64
#define VIRTIO_RNG_MAX_FILL 65536

struct virtio_rng {
    struct virtio_dev *dev;
    uint64_t bytes;
    struct virtq_elem *elem;
};

/* Adds the device to the VM (the next virtio-mmio window). NULL with err_msg(). */
struct virtio_rng *virtio_rng_create(struct virtio_host *h);

#endif
