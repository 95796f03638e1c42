/* virtio-rng: the smallest complete device on the transport; a template for others. */
#include "vmm/virtio/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/virtio/virtio_mmio.h"

/* Fills `len` bytes; getrandom() may return less than asked (signals, large requests). */
static size_t fill(uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("virtio-rng: getrandom: %s", strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static void queue_notify(struct virtio_dev *d, struct virtq *vq)
{
    struct virtio_rng *rng = virtio_dev_opaque(d);
    struct virtq_elem *e = rng->elem;
    int r;
    while ((r = virtq_pop(vq, e)) > 0) {
        size_t written = 0;
        for (unsigned k = 0; k < e->n_in && written < VIRTIO_RNG_MAX_FILL; k++) {
            size_t want = e->in[k].iov_len;
            if (want > VIRTIO_RNG_MAX_FILL - written)
                want = VIRTIO_RNG_MAX_FILL - written;
            size_t got = fill(e->in[k].iov_base, want);
            written += got;
            if (got < want)
                break;
        }
        __atomic_add_fetch(&rng->bytes, written, __ATOMIC_RELAXED);
        virtq_push(vq, e, (uint32_t)written);
    }
    if (r == 0)
        virtio_notify(d, vq);
}

static void destroy(struct virtio_dev *d)
{
    struct virtio_rng *rng = virtio_dev_opaque(d);
    free(rng->elem);
    free(rng);
}

static const struct virtio_dev_ops rng_ops = {
    .queue_notify = queue_notify,
    .destroy = destroy,
};

struct virtio_rng *virtio_rng_create(struct virtio_host *h)
{
    struct virtio_rng *rng = calloc(1, sizeof(*rng));
    struct virtq_elem *e = malloc(sizeof(*e));
    if (!rng || !e) {
        free(rng);
        free(e);
        err_set(ENOMEM, "virtio-rng: out of memory");
        return NULL;
    }
    rng->elem = e;
    struct virtio_dev_info info = {.name = "virtio-rng",
                                   .device_id = VIRTIO_ID_RNG,
                                   .nqueues = 1,
                                   .queue_max = VIRTIO_RNG_QUEUE_SIZE,
                                   .ops = &rng_ops,
                                   .opaque = rng};
    rng->dev = virtio_mmio_add(h, &info);
    if (!rng->dev) {
        free(e);
        free(rng);
        return NULL;
    }
    return rng;
}
