/* xeno-blkback's inflight region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): the vhost-user spec's
 * split-ring layout and nothing else (src/vhost/inflight_split.h), one part per queue, so any
 * front end that keeps the region (the monitor, QEMU's vhost-user-blk) works with it.
 * docs/blkback.md "Restarts". */
#include "blk/blkback.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t region_bytes(uint16_t nq, uint16_t qsize)
{
    return ((size_t)nq * vu_inflight_queue_bytes(qsize) + 4095) & ~(size_t)4095;
}

static int check_shape(const struct blk_disk *d, uint16_t nq, uint16_t qsize)
{
    if (nq == 0 || nq > d->cfg.queues || qsize == 0 || qsize > VRING_MAX_NUM)
        return err_set(EINVAL, "inflight region for %u queues of %u entries (disk %s: 1..%u queues of at most %u)", nq,
                       qsize, d->cfg.name, d->cfg.queues, VRING_MAX_NUM);
    return 0;
}

void blk_inflight_detach(struct blk_disk *d)
{
    if (d->inflight)
        munmap(d->inflight, d->inflight_len);
    d->inflight = NULL;
    d->inflight_len = 0;
    d->inflight_nq = d->inflight_qsize = 0;
}

static void attach(struct blk_disk *d, void *p, size_t len, uint16_t nq, uint16_t qsize)
{
    blk_inflight_detach(d);
    d->inflight = p;
    d->inflight_len = len;
    d->inflight_nq = nq;
    d->inflight_qsize = qsize;
}

int blk_inflight_get(struct vu_dev *dev, const struct vhost_user_inflight *want, struct vhost_user_inflight *out,
                     int *fd_out)
{
    struct blk_disk *d = blk_disk_of_dev(dev);
    /* A running ring writes the current region: it is not replaced under it (a front end that
     * asks now is wrong or hostile; SET_INFLIGHT_FD is refused likewise by vu_dev). */
    for (unsigned q = 0; q < d->cfg.queues; q++)
        if (d->q[q].iq.hdr)
            return err_set(EBUSY, "GET_INFLIGHT_FD while queue %u runs", q);
    int rc = check_shape(d, want->num_queues, want->queue_size);
    if (rc < 0)
        return rc;
    size_t len = region_bytes(want->num_queues, want->queue_size);
    void *p;
    /* Zeroed: each queue's part is set up at its first recovery (version 0: fresh). */
    if ((rc = vu_inflight_memfd("xeno-blkback-inflight", len, fd_out, &p)) < 0)
        return rc;
    attach(d, p, len, want->num_queues, want->queue_size);
    *out = (struct vhost_user_inflight){
        .mmap_size = len, .mmap_offset = 0, .num_queues = want->num_queues, .queue_size = want->queue_size};
    return 0;
}

int blk_inflight_set(struct vu_dev *dev, int fd, const struct vhost_user_inflight *f)
{
    struct blk_disk *d = blk_disk_of_dev(dev);
    int rc = check_shape(d, f->num_queues, f->queue_size);
    size_t len = rc < 0 ? 0 : region_bytes(f->num_queues, f->queue_size);
    if (rc == 0 && (f->mmap_offset != 0 || f->mmap_size != len))
        rc = err_set(EINVAL, "inflight region: %llu bytes at offset %llu, this layout needs %zu at 0",
                     (unsigned long long)f->mmap_size, (unsigned long long)f->mmap_offset, len);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    void *p;
    if ((rc = vu_inflight_map("inflight region", fd, len, &p)) < 0)
        return rc;
    /* Its contents are the front end's to write too: read only by recovery, through a checked
     * private copy (vu_inflight_recover). */
    attach(d, p, len, f->num_queues, f->queue_size);
    log_info("disk %s: inflight region of %u queue(s) of %u entries: requests published as they complete", d->cfg.name,
             f->num_queues, f->queue_size);
    return 0;
}

int blk_inflight_queue_start(struct blk_disk *d, unsigned qi)
{
    struct blk_queue *q = &d->q[qi];
    struct vring *vr = &d->dev.vq[qi];
    free(q->redo);
    q->redo = NULL;
    q->iq = (struct vu_inflight_queue){0};
    if (!d->inflight || qi >= d->inflight_nq) /* no region for this ring: in-order publication */
        return 0;
    vu_inflight_queue_at(&q->iq, d->inflight, qi, d->inflight_qsize);
    q->redo = calloc(1, sizeof(*q->redo));
    if (!q->redo)
        return err_set(ENOMEM, "out of memory");
    uint16_t avail = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
    int rc = vu_inflight_recover(&q->iq, (uint16_t)vr->num, vr->used_idx, avail, q->redo);
    if (rc < 0) {
        q->iq = (struct vu_inflight_queue){0};
        free(q->redo);
        q->redo = NULL;
        return rc;
    }
    vr->last_avail = q->redo->last_avail;
    if (q->redo->n) {
        log_info("disk %s queue %u: %u request(s) taken and not completed before the restart: redone", d->cfg.name, qi,
                 q->redo->n);
    } else { /* NULL: nothing to redo (the loop keeps a queue with requests to redo awake) */
        free(q->redo);
        q->redo = NULL;
    }
    return 0;
}
