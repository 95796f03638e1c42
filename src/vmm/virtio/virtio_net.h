/* virtio-net (device id 1) whose queues run in a vhost-user backend (xeno-netback): the
 * monitor serves the transport registers and the config space (MAC, link status) and hands
 * the receive (0) and transmit (1) queues to whatever backend connects to the device's
 * socket (vhost_user_front.h). The monitor never touches a frame.
 *
 * One interface per domain: virtio-mmio window 3 (docs/machine.md).
 *
 * Features offered: VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS (the link is always up: while no
 * backend is there, or while one restarts, frames wait in the rings) and the transport's
 * VERSION_1, INDIRECT_DESC, EVENT_IDX, which the backend must implement. With VERSION_1 every
 * buffer starts with the 12-byte struct virtio_net_hdr. */
#ifndef XENO_VMM_VIRTIO_VIRTIO_NET_H
#define XENO_VMM_VIRTIO_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/vhost_user_front.h"

struct virtio_host;
struct virtio_dev;

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

struct virtio_net_config_host {
    const char *socket_path; /* where the monitor listens for the backend */
    const char *run_dir;     /* the monitor's run directory, or NULL (vhost_front_init) */
    uint8_t mac[6];
};

struct virtio_net_stats {
    struct vhost_front_stats front;
    bool backend_connected;
    uint64_t driver_inits;  /* DRIVER_OK set by the driver (1 for a driver that never reset) */
    uint64_t driver_resets; /* the driver reset the device after running it */
};

struct virtio_net {
    struct virtio_dev *dev;
    uint8_t mac[6];
    uint64_t driver_inits, driver_resets; /* under the device lock; read relaxed */
    bool was_running;
    struct vhost_front front;
};

/* Adds the device to the VM (the next virtio-mmio window) and listens on cfg->socket_path.
 * NULL with err_msg(). */
struct virtio_net *virtio_net_create(struct virtio_host *h, const struct virtio_net_config_host *cfg);
/* Any thread. */
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);

#endif
