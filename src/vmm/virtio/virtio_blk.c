/* virtio-blk over vhost-user: the monitor's part is the config space and the hand-over of
 * the request queues (virtio_blk.h). */
#include "vmm/virtio/virtio_blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "proto/virtio_blk.h"
#include "vmm/virtio/virtio_mmio.h"

struct virtio_blk_config virtio_blk_config_space(const struct virtio_blk *b)
{
    /* num_queues counts only with VIRTIO_BLK_F_MQ (queues > 1); 1 is true otherwise too. */
    return virtio_blk_xeno_config(b->sectors, (uint16_t)b->queues);
}

static void config_read(struct virtio_dev *d, uint32_t offset, uint8_t *data, unsigned size)
{
    struct virtio_blk *b = virtio_dev_opaque(d);
    struct virtio_blk_config c = virtio_blk_config_space(b);
    memcpy(data, (uint8_t *)&c + offset, size); /* the transport checked offset + size */
}

/* Only reached when a notification missed the ioeventfd: pass it on to the backend. */
static void queue_notify(struct virtio_dev *d, struct virtq *vq)
{
    uint64_t one = 1;
    if (write(d->notify_fd[vq->index], &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("virtio-blk: kick queue %u: %s", vq->index, strerror(errno));
}

static void driver_ok(struct virtio_dev *d)
{
    struct virtio_blk *b = virtio_dev_opaque(d);
    vhost_front_driver_ok(&b->front);
}

static void reset(struct virtio_dev *d)
{
    struct virtio_blk *b = virtio_dev_opaque(d);
    vhost_front_reset(&b->front);
}

static void destroy(struct virtio_dev *d)
{
    struct virtio_blk *b = virtio_dev_opaque(d);
    vhost_front_destroy(&b->front);
    free(b);
}

/* The front end's view of the device (its thread; takes the device's lock). */
static bool rings(void *opaque, struct vhost_front_rings *out)
{
    struct virtio_blk *b = opaque;
    struct virtio_dev *d = b->dev;
    memset(out, 0, sizeof(*out));
    virtio_dev_lock(d);
    bool running = virtio_dev_running(d) && d->qregs[0].ready;
    if (running) {
        out->features = d->features;
        /* A driver may set up fewer queues than num_queues (Linux: one per CPU at most);
         * it uses the first ones, and only those are handed over. Without MQ negotiated
         * only queue 0 exists for it (virtio 5.2.2). */
        unsigned max = (d->features >> VIRTIO_BLK_F_MQ) & 1 ? b->queues : 1, n = 0;
        while (n < max && d->qregs[n].ready) {
            out->ring[n] = (struct vhost_front_ring){.num = d->qregs[n].num,
                                                     .desc = d->qregs[n].desc,
                                                     .avail = d->qregs[n].driver,
                                                     .used = d->qregs[n].device,
                                                     .kick_fd = d->notify_fd[n],
                                                     .call_fd = d->irq_fd};
            n++;
        }
        out->nrings = n;
    }
    virtio_dev_unlock(d);
    return running;
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = config_read,
    .queue_notify = queue_notify,
    .reset = reset,
    .driver_ok = driver_ok,
    .destroy = destroy,
};

static const struct vhost_front_ops front_ops = {.rings = rings, .redo_from_used = true};

struct virtio_blk *virtio_blk_create(struct virtio_host *h, const struct virtio_blk_config_host *cfg)
{
    if (cfg->capacity < VIRTIO_BLK_SECTOR || cfg->capacity % VIRTIO_BLK_SECTOR) {
        err_set(EINVAL, "virtio-blk: a capacity of %llu bytes (a non-zero multiple of 512)",
                (unsigned long long)cfg->capacity);
        return NULL;
    }
    unsigned queues = cfg->queues ? cfg->queues : 1;
    if (queues > VIRTIO_BLK_MAX_QUEUES || queues > VIRTIO_MAX_QUEUES) {
        err_set(EINVAL, "virtio-blk: %u queues (1..%d)", queues, VIRTIO_BLK_MAX_QUEUES);
        return NULL;
    }
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b) {
        err_set(ENOMEM, "virtio-blk: out of memory");
        return NULL;
    }
    b->queues = queues;
    b->sectors = cfg->capacity / VIRTIO_BLK_SECTOR;
    b->readonly = cfg->readonly;
    uint64_t features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
                        (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH);
    if (cfg->readonly)
        features |= 1ULL << VIRTIO_BLK_F_RO;
    else
        features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
    if (queues > 1)
        features |= 1ULL << VIRTIO_BLK_F_MQ;
    struct virtio_dev_info info = {.name = "virtio-blk",
                                   .device_id = VIRTIO_ID_BLOCK,
                                   .features = features,
                                   .nqueues = queues,
                                   .queue_max = VIRTIO_BLK_QUEUE_SIZE,
                                   .config_size = sizeof(struct virtio_blk_config),
                                   .ops = &blk_ops,
                                   .opaque = b,
                                   .external_queues = true};
    /* The front end first: once the device is added, vm_destroy owns b through ops->destroy. */
    /* Log lines name the disk: virtio-blk, virtio-blk1, ... in the order of --disk. */
    char name[32] = "virtio-blk";
    if (cfg->index)
        snprintf(name, sizeof(name), "virtio-blk%u", cfg->index);
    if (vhost_front_init(&b->front, name, cfg->socket_path, cfg->run_dir, h->mem, VIRTIO_BLK_QUEUE_SIZE, &front_ops,
                         b) < 0) {
        vhost_front_destroy(&b->front);
        free(b);
        return NULL;
    }
    if (queues > 1)
        vhost_front_require_queues(&b->front, queues);
    b->dev = virtio_mmio_add(h, &info);
    if (!b->dev) {
        vhost_front_destroy(&b->front);
        free(b);
        return NULL;
    }
    if (vhost_front_start(&b->front) < 0)
        return NULL;
    log_info("%s: %llu sectors, %u queue(s)%s, backend socket %s", name, (unsigned long long)b->sectors, queues,
             cfg->readonly ? ", read-only" : "", cfg->socket_path);
    return b;
}

void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out)
{
    memset(out, 0, sizeof(*out));
    vhost_front_get_stats(&b->front, &out->front, &out->backend_connected);
}
