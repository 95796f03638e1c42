/* virtio-blk (device id 2) whose queue runs in a vhost-user backend (xeno-blkback): the
 * monitor serves the transport registers and the config space (capacity, limits, read-only)
 * and hands the request queue to whatever backend connects to the device's socket
 * (vhost_user_front.h), again after a backend restart. The monitor never touches a sector.
 *
 * Up to VIRTIO_BLK_MAX_DISKS disks per domain, each its own device at the next virtio-mmio
 * windows after the network interface's (docs/machine.md), with its own socket and its own
 * backend connection (a backend restart redoes the setup of each disk on its own).
 * Features offered: SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, and DISCARD + WRITE_ZEROES on a
 * writable disk or RO on a read-only one; with queues > 1 also MQ (num_queues in the config
 * space). The backend must offer each feature the driver takes (the front end checks) and,
 * for MQ, serve at least that many queues (vhost_front_require_queues). */
#ifndef XENO_VMM_VIRTIO_VIRTIO_BLK_H
#define XENO_VMM_VIRTIO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/virtio_blk.h"
#include "vmm/virtio/vhost_user_front.h"

struct virtio_host;
struct virtio_dev;

#define VIRTIO_BLK_QUEUE_SIZE 128
/* What the domain XML allows (src/lib/domain_disk.h); the machine has windows for that many
 * beside the fixed devices and an interface (VM_MAX_MMIO_DEVS). */
#define VIRTIO_BLK_MAX_DISKS 8
/* Request queues per disk (VIRTIO_MAX_QUEUES of the transport). */
#define VIRTIO_BLK_MAX_QUEUES 8

struct virtio_blk_config_host {
    const char *socket_path; /* where the monitor listens for the backend */
    const char *run_dir;     /* the monitor's run directory, or NULL (vhost_front_init) */
    uint64_t capacity;       /* bytes: the image's size (a multiple of 512) */
    bool readonly;
    unsigned queues; /* request queues, 1..VIRTIO_BLK_MAX_QUEUES (0 is taken as 1) */
    unsigned index;  /* the disk's place among the domain's disks: names it in log lines */
};

struct virtio_blk_stats {
    struct vhost_front_stats front;
    bool backend_connected;
};

struct virtio_blk {
    struct virtio_dev *dev;
    uint64_t sectors;
    bool readonly;
    unsigned queues;
    struct vhost_front front;
};

/* Adds the device to the VM (the next virtio-mmio window) and listens on cfg->socket_path.
 * NULL with err_msg(). */
struct virtio_blk *virtio_blk_create(struct virtio_host *h, const struct virtio_blk_config_host *cfg);
/* The config space the driver reads (lock held or not: nothing in it changes). */
struct virtio_blk_config virtio_blk_config_space(const struct virtio_blk *b);
/* Any thread. */
void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out);

#endif
