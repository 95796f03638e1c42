/* virtio-net over vhost-user: the monitor's part is the config space and the hand-over of
 * the rings (virtio_net.h). */
#include "vmm/virtio/virtio_net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/mac_addr.h"
#include "vmm/virtio/virtio_mmio.h"

#define NET_CONFIG_SIZE 8 /* mac[6], status (le16) */

static void config_read(struct virtio_dev *d, uint32_t offset, uint8_t *data, unsigned size)
{
    struct virtio_net *n = virtio_dev_opaque(d);
    uint8_t cfg[NET_CONFIG_SIZE];
    memcpy(cfg, n->mac, 6);
    cfg[6] = VIRTIO_NET_S_LINK_UP;
    cfg[7] = 0;
    memcpy(data, cfg + offset, size); /* the transport checked offset + size <= NET_CONFIG_SIZE */
}

/* Only reached when a notification missed the ioeventfd (no KVM_IOEVENTFD, or DRIVER_OK
 * with buffers already posted): pass it on through the kick fd the backend polls. */
static void queue_notify(struct virtio_dev *d, struct virtq *vq)
{
    uint64_t one = 1;
    if (write(d->notify_fd[vq->index], &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("virtio-net: kick queue %u: %s", vq->index, strerror(errno));
}

static void driver_ok(struct virtio_dev *d)
{
    struct virtio_net *n = virtio_dev_opaque(d);
    __atomic_add_fetch(&n->driver_inits, 1, __ATOMIC_RELAXED);
    n->was_running = true;
    vhost_front_driver_ok(&n->front);
}

static void reset(struct virtio_dev *d)
{
    struct virtio_net *n = virtio_dev_opaque(d);
    /* vm_destroy resets every device too (the host is stopping then): not the driver's doing. */
    bool destroying = d->host && __atomic_load_n(&d->host->stopping, __ATOMIC_ACQUIRE);
    if (n->was_running && !destroying) {
        uint64_t resets = __atomic_add_fetch(&n->driver_resets, 1, __ATOMIC_RELAXED);
        log_info("virtio-net: the driver reset the device (reset %llu)", (unsigned long long)resets);
    }
    n->was_running = false;
    vhost_front_reset(&n->front);
}

static void destroy(struct virtio_dev *d)
{
    struct virtio_net *n = virtio_dev_opaque(d);
    vhost_front_destroy(&n->front);
    free(n);
}

/* The front end's view of the device (its thread; takes the device's lock). */
static bool rings(void *opaque, struct vhost_front_rings *out)
{
    struct virtio_net *n = opaque;
    struct virtio_dev *d = n->dev;
    bool running;
    memset(out, 0, sizeof(*out));
    virtio_dev_lock(d);
    running = virtio_dev_running(d);
    if (running) {
        out->features = d->features;
        out->nrings = 2;
        for (unsigned q = 0; q < 2; q++) {
            if (!d->qregs[q].ready) {
                /* A driver may leave a queue unused (spec 4.2.3.2), but ours needs both. */
                running = false;
                break;
            }
            out->ring[q] = (struct vhost_front_ring){.num = d->qregs[q].num,
                                                     .desc = d->qregs[q].desc,
                                                     .avail = d->qregs[q].driver,
                                                     .used = d->qregs[q].device,
                                                     .kick_fd = d->notify_fd[q],
                                                     .call_fd = d->irq_fd};
        }
    }
    virtio_dev_unlock(d);
    return running;
}

static const struct virtio_dev_ops net_ops = {
    .config_read = config_read,
    .queue_notify = queue_notify,
    .reset = reset,
    .driver_ok = driver_ok,
    .destroy = destroy,
};

static const struct vhost_front_ops front_ops = {
    .rings = rings, .own_features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS)};

struct virtio_net *virtio_net_create(struct virtio_host *h, const struct virtio_net_config_host *cfg)
{
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n) {
        err_set(ENOMEM, "virtio-net: out of memory");
        return NULL;
    }
    memcpy(n->mac, cfg->mac, 6);
    struct virtio_dev_info info = {.name = "virtio-net",
                                   .device_id = VIRTIO_ID_NET,
                                   .features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS),
                                   .nqueues = 2,
                                   .queue_max = VIRTIO_NET_QUEUE_SIZE,
                                   .config_size = NET_CONFIG_SIZE,
                                   .ops = &net_ops,
                                   .opaque = n,
                                   .external_queues = true};
    /* The front end first: once the device is added, vm_destroy owns n through ops->destroy. */
    if (vhost_front_init(&n->front, "virtio-net", cfg->socket_path, cfg->run_dir, h->mem, VIRTIO_NET_QUEUE_SIZE,
                         &front_ops, n) < 0) {
        vhost_front_destroy(&n->front);
        free(n);
        return NULL;
    }
    n->dev = virtio_mmio_add(h, &info);
    if (!n->dev) {
        vhost_front_destroy(&n->front);
        free(n);
        return NULL;
    }
    /* From here vm_destroy frees n (ops->destroy), also when the thread cannot start. */
    if (vhost_front_start(&n->front) < 0)
        return NULL;
    char mac[MAC_ADDR_TEXT];
    mac_addr_format(n->mac, mac);
    log_info("virtio-net: %s, backend socket %s", mac, cfg->socket_path);
    return n;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
    memset(out, 0, sizeof(*out));
    vhost_front_get_stats(&n->front, &out->front, &out->backend_connected);
    out->driver_inits = __atomic_load_n(&n->driver_inits, __ATOMIC_RELAXED);
    out->driver_resets = __atomic_load_n(&n->driver_resets, __ATOMIC_RELAXED);
}
