/* The request path of xeno-blkback: requests taken from a ring (or redone after a restart),
 * parsed (blk_req.c), queued for dispatch, submitted to io_uring in one batch per turn of the
 * loop, completed, and published: as each completes with an inflight region, in the order
 * they were taken without one (blkback.h "Restarts": why). */
#include "blk/blkback.h"

#include "blk/image.h"
#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- publication ---- */

/* A migrating front end's dirty log (vu_log.h): the pages this request wrote into guest
 * memory through our own mapping (read data, the status byte), which the front end's own
 * dirty log cannot see. */
static void log_writes(const struct vring *vr, const struct blk_req *r)
{
    if (!vr->log)
        return;
    if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID)
        for (unsigned i = 0; i < r->ndata; i++)
            vring_log(vr, r->data[i].iov_base, r->data[i].iov_len);
    vring_log(vr, r->status, 1);
}

/* The used entry of a done slot (the status byte first), into the used ring. */
static void push_used(struct vring *vr, struct blk_slot *s)
{
    uint32_t len = 0; /* a chain without a status byte is given back empty */
    if (s->req.status) {
        blk_req_complete(&s->req, s->status);
        len = s->status == VIRTIO_BLK_S_OK ? s->req.used_len : 1;
        log_writes(vr, &s->req);
    }
    vring_push(vr, s->head, len);
}

/* Without a region: publishes the done slots at the front of the queue, in order. */
static void publish_in_order(struct blk_queue *q)
{
    struct vring *vr = &q->disk->dev.vq[q->index];
    while (q->inflight) {
        struct blk_slot *s = &q->slots[q->publish % q->num];
        if (!s->busy || !s->done)
            break;
        push_used(vr, s);
        s->busy = s->done = false;
        q->publish++;
        q->inflight--;
    }
}

/* With a region: publishes this slot now, one entry at a time in the order the spec's
 * recovery reads (inflight_split.h). */
static void publish_now(struct blk_queue *q, struct blk_slot *s)
{
    struct vring *vr = &q->disk->dev.vq[q->index];
    vu_inflight_publish_begin(&q->iq, s->head);
    push_used(vr, s);
    vu_inflight_publish_end(&q->iq, s->head, vr->used_idx);
    s->busy = s->done = false;
    q->inflight--;
}

/* A request of the queue completed: a barrier waiting for it to be alone starts, a barrier
 * that completed lets the queue take again. */
static void barrier_step(struct blk_queue *q, struct blk_slot *done)
{
    if (!q->barrier)
        return;
    if (done == q->barrier) {
        q->barrier = NULL;
        q->barrier_started = false;
        q->rekick = true;
    } else if (!q->barrier_started && q->running == 1) {
        q->barrier_started = true;
        blk_sched_enqueue(q->barrier);
    }
}

unsigned blk_lat_bucket(uint64_t ns)
{
    unsigned b = 0;
    for (uint64_t t = ns / BLK_LAT_BASE_NS; t && b < BLK_LAT_BUCKETS - 1; t >>= 1)
        b++;
    return b;
}

void blk_slot_done(struct blk_slot *s, uint8_t status)
{
    struct blk_stats *st = &s->q->disk->st;
    if (s->queued_ns) {
        uint64_t now = blk_now_ns();
        st->latency[blk_lat_bucket(now > s->queued_ns ? now - s->queued_ns : 0)]++;
    }
    if (status == VIRTIO_BLK_S_IOERR)
        st->ioerr++;
    else if (status == VIRTIO_BLK_S_UNSUPP)
        st->unsupp++;
    s->status = status;
    s->done = true;
    struct blk_queue *q = s->q;
    q->running--;
    barrier_step(q, s);
    if (q->iq.hdr)
        publish_now(q, s);
    else
        publish_in_order(q);
}

/* ---- taking requests ---- */

static void count(struct blk_stats *st, const struct blk_req *r)
{
    switch (r->type) {
    case VIRTIO_BLK_T_IN: st->reads++, st->bytes_read += r->len; break;
    case VIRTIO_BLK_T_OUT: st->writes++, st->bytes_written += r->len; break;
    case VIRTIO_BLK_T_FLUSH: st->flushes++; break;
    case VIRTIO_BLK_T_DISCARD: st->discards++; break;
    case VIRTIO_BLK_T_WRITE_ZEROES: st->write_zeroes++; break;
    case VIRTIO_BLK_T_GET_ID: st->get_ids++; break;
    default: break;
    }
}

void blk_fifo_push(struct blkback *bb, struct blk_slot *s)
{
    s->next = NULL;
    if (bb->fifo_tail)
        bb->fifo_tail->next = s;
    else
        bb->fifo_head = s;
    bb->fifo_tail = s;
}

static bool is_barrier(const struct blk_req *r)
{
    return r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES;
}

/* The next chain to take: a request to redo after a restart first (its head's chain read
 * from the descriptor table as a new request), then the avail ring. 1, 0 (nothing), <0
 * (the ring broke). */
static int next_chain(struct blk_queue *q, struct vring *vr)
{
    struct vu_inflight_resubmit *r = q->redo;
    if (r && r->next < r->n) {
        uint16_t head = r->head[r->next++];
        if (r->next == r->n) {
            free(q->redo);
            q->redo = NULL;
        }
        return vring_take_head(vr, &q->disk->dev.mem, head, &q->chain);
    }
    return vring_pop(vr, &q->disk->dev.mem, &q->chain);
}

bool blk_queue_can_take(const struct blk_queue *q, const struct vring *vr)
{
    if (q->barrier || q->stopping)
        return false;
    if (q->iq.hdr)
        return q->inflight < q->num;
    return (uint16_t)(vr->last_avail - q->publish) < q->num;
}

/* The slot for the chain just taken; NULL when its head is in flight already (a guest that
 * made one chain available twice: the ring breaks). */
static struct blk_slot *slot_for(struct blk_queue *q, struct vring *vr)
{
    if (!q->iq.hdr)
        return &q->slots[q->chain.pos % q->num];
    struct blk_slot *s = &q->slots[q->chain.head];
    if (!s->busy)
        return s;
    vr->broken = true;
    vr->errors++;
    log_warn("disk %s queue %u: descriptor %u made available while in flight", q->disk->cfg.name, q->index,
             q->chain.head);
    return NULL;
}

/* Takes what the guest made available, up to the slots free. */
void blk_queue_kick(struct blk_disk *d, unsigned qi)
{
    struct blk_queue *q = &d->q[qi];
    struct vring *vr = &d->dev.vq[qi];
    if (!vr->started || vr->broken || !q->num)
        return;
    blk_live_add(d->bb, q);
    vring_kicks_off(vr); /* we are looking at the ring: no kick needed until blkback_kicks_on */
    while (blk_queue_can_take(q, vr)) {
        int r = next_chain(q, vr);
        if (r == 0)
            break;
        if (r < 0) {
            log_warn("disk %s: %s", d->cfg.name, err_msg());
            d->st.bad_chains++;
            break; /* the ring is broken until the front end sets it up again */
        }
        struct blk_slot *s = slot_for(q, vr);
        if (!s) {
            d->st.bad_chains++;
            break;
        }
        *s = (struct blk_slot){.q = q, .busy = true, .head = q->chain.head};
        if (q->iq.hdr)
            vu_inflight_take(&q->iq, s->head);
        q->inflight++;
        q->running++;
        int st = blk_req_parse(&q->chain, &d->info, &s->req);
        if (st < 0) {
            /* No status byte to say anything: given back empty. */
            d->st.bad_chains++;
            s->req.status = NULL;
            s->req.used_len = 0;
            blk_slot_done(s, VIRTIO_BLK_S_IOERR);
            continue;
        }
        if (st != VIRTIO_BLK_S_OK) {
            blk_slot_done(s, (uint8_t)st);
            continue;
        }
        count(&d->st, &s->req);
        if (s->req.type == VIRTIO_BLK_T_GET_ID) {
            blk_req_fill_id(&s->req, &d->info);
            blk_slot_done(s, VIRTIO_BLK_S_OK);
            continue;
        }
        s->queued_ns = blk_now_ns();
        if (is_barrier(&s->req)) {
            /* Taking stops here; it starts once the requests before it have completed. */
            q->barrier = s;
            q->barrier_started = q->running == 1;
            if (!q->barrier_started)
                continue;
        }
        blk_sched_enqueue(s);
    }
    vring_notify(vr);
}

/* ---- io_uring ---- */

/* Hands the prepared SQEs to the kernel. On -EAGAIN/-EBUSY (no room for completions yet)
 * they stay in the SQ, and the next submission takes them. */
static void submit(struct blkback *bb)
{
    int rc = io_uring_submit(&bb->ring);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
        log_warn("io_uring_submit: %s", strerror(-rc));
    else
        bb->sq_prepared = 0;
}

static bool aligned_for_direct(const struct blk_req *r)
{
    if (r->offset % BLK_DIRECT_ALIGN)
        return false;
    for (unsigned i = 0; i < r->ndata; i++)
        if ((uintptr_t)r->data[i].iov_base % BLK_DIRECT_ALIGN || r->data[i].iov_len % BLK_DIRECT_ALIGN)
            return false;
    return true;
}

/* Prepares the SQEs of one request; false when the SQ is full (nothing was prepared). */
static bool prepare(struct blkback *bb, struct blk_slot *s)
{
    const struct blk_req *r = &s->req;
    const struct blk_image *img = &s->q->disk->img;
    if (img->ovl)
        return blk_ovl_prepare(bb, s);
    unsigned need = r->nranges ? r->nranges : 1;
    if (io_uring_sq_space_left(&bb->ring) < need)
        return false;
    if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) {
        s->direct = img->direct_fd >= 0 && aligned_for_direct(r);
        int fd = s->direct ? img->direct_fd : img->fd;
        struct io_uring_sqe *e = io_uring_get_sqe(&bb->ring);
        if (r->type == VIRTIO_BLK_T_IN)
            io_uring_prep_readv(e, fd, r->data, r->ndata, r->offset);
        else
            io_uring_prep_writev(e, fd, r->data, r->ndata, r->offset);
        io_uring_sqe_set_data(e, s);
    } else if (r->type == VIRTIO_BLK_T_FLUSH) {
        struct io_uring_sqe *e = io_uring_get_sqe(&bb->ring);
        io_uring_prep_fsync(e, img->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(e, s);
    } else {
        for (unsigned i = 0; i < r->nranges; i++) {
            const struct virtio_blk_discard_wz *w = &r->ranges[i];
            int mode = FALLOC_FL_KEEP_SIZE;
            if (r->type == VIRTIO_BLK_T_DISCARD || (w->flags & VIRTIO_BLK_WRITE_ZEROES_UNMAP))
                mode |= FALLOC_FL_PUNCH_HOLE;
            else
                mode |= FALLOC_FL_ZERO_RANGE;
            struct io_uring_sqe *e = io_uring_get_sqe(&bb->ring);
            io_uring_prep_fallocate(e, img->fd, mode, w->sector * VIRTIO_BLK_SECTOR,
                                    (uint64_t)w->num_sectors * VIRTIO_BLK_SECTOR);
            io_uring_sqe_set_data(e, s);
        }
    }
    s->pending = need;
    s->status = VIRTIO_BLK_S_OK;
    bb->sq_prepared += need;
    if (bb->sq_prepared >= bb->submit_batch) /* the first ones start while the rest are prepared */
        submit(bb);
    return true;
}

/* Moves requests from the dispatch queue to the SQ while it has room. */
static void drain_fifo(struct blkback *bb)
{
    while (bb->fifo_head && prepare(bb, bb->fifo_head)) {
        bb->fifo_head = bb->fifo_head->next;
        if (!bb->fifo_head)
            bb->fifo_tail = NULL;
    }
}

/* What the scheduler lets go now, to the SQ; the FIFO holds what did not fit in it yet, and
 * nothing more is picked until it has gone. */
static void dispatch(struct blkback *bb)
{
    drain_fifo(bb);
    if (bb->fifo_head)
        return;
    blk_sched_pick(bb, NULL);
    drain_fifo(bb);
}

static void complete_cqe(struct blkback *bb, struct blk_slot *s, int res)
{
    const struct blk_req *r = &s->req;
    bool rw = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;
    if (rw && s->direct && res == -EINVAL) {
        /* The file system took the O_DIRECT open but not this request: redo it buffered. */
        s->q->disk->st.direct_fallbacks++;
        struct io_uring_sqe *e = io_uring_get_sqe(&bb->ring);
        if (e) {
            s->direct = false;
            if (r->type == VIRTIO_BLK_T_IN)
                io_uring_prep_readv(e, s->q->disk->img.fd, r->data, r->ndata, r->offset);
            else
                io_uring_prep_writev(e, s->q->disk->img.fd, r->data, r->ndata, r->offset);
            io_uring_sqe_set_data(e, s);
            bb->sq_prepared++;
            return;
        }
    }
    if (res < 0 || (rw && (size_t)res != r->len)) {
        if (s->status == VIRTIO_BLK_S_OK)
            log_warn("disk %s: request type %u at byte %llu: %s", s->q->disk->cfg.name, r->type,
                     (unsigned long long)r->offset, res < 0 ? strerror(-res) : "short transfer");
        s->status = VIRTIO_BLK_S_IOERR;
    }
    if (--s->pending == 0) {
        blk_sched_done(s);
        blk_slot_done(s, s->status);
    }
}

void blk_live_add(struct blkback *bb, struct blk_queue *q)
{
    if (q->live)
        return;
    q->live = true;
    q->live_prev = NULL;
    q->live_next = bb->live;
    if (bb->live)
        bb->live->live_prev = q;
    bb->live = q;
}

void blk_live_remove(struct blkback *bb, struct blk_queue *q)
{
    if (!q->live)
        return;
    if (q->live_prev)
        q->live_prev->live_next = q->live_next;
    else
        bb->live = q->live_next;
    if (q->live_next)
        q->live_next->live_prev = q->live_prev;
    q->live = false;
    q->live_prev = q->live_next = NULL;
}

/* Queues whose barrier completed take again (their guests kicked while they waited). A
 * barrier runs on a queue with requests in flight: a live one. */
static unsigned rekick(struct blkback *bb)
{
    unsigned n = 0;
    for (struct blk_queue *q = bb->live; q; q = q->live_next)
        if (q->rekick) {
            q->rekick = false;
            blk_queue_kick(q->disk, q->index);
            n++;
        }
    return n;
}

void blk_io_run(struct blkback *bb, bool wait)
{
    for (;;) {
        dispatch(bb);
        if (bb->sq_prepared)
            submit(bb);
        struct io_uring_cqe *cqe;
        unsigned seen = 0;
        if (wait && io_uring_wait_cqe(&bb->ring, &cqe) < 0)
            return;
        while (io_uring_peek_cqe(&bb->ring, &cqe) == 0) {
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int res = cqe->res;
            io_uring_cqe_seen(&bb->ring, cqe);
            if (data & 1) /* an overlay's extent (blk_overlay_io.c) */
                blk_ovl_complete(bb, (struct blk_ovl_op *)(uintptr_t)(data & ~1ull), res);
            else
                complete_cqe(bb, (struct blk_slot *)(uintptr_t)data, res);
            seen++;
        }
        seen += rekick(bb);
        if (!seen) /* completions may let the scheduler pick more: once more round */
            break;
        wait = false;
    }
    for (struct blk_queue *q = bb->live; q; q = q->live_next) /* only a live queue publishes */
        vring_notify(&q->disk->dev.vq[q->index]);
}

/* ---- ring start and stop ---- */

void blk_queue_start(struct blk_disk *d, unsigned qi)
{
    struct blk_queue *q = &d->q[qi];
    struct vring *vr = &d->dev.vq[qi];
    blk_watch_kick(q, true);
    free(q->slots);
    q->slots = calloc(vr->num, sizeof(*q->slots));
    if (!q->slots) {
        log_warn("disk %s queue %u: out of memory for %u slots", d->cfg.name, qi, vr->num);
        vr->broken = true;
        q->num = 0;
        return;
    }
    q->inflight = q->running = 0;
    q->barrier = NULL;
    q->barrier_started = q->rekick = q->stopping = false;
    if (blk_inflight_queue_start(d, qi) < 0) {
        log_warn("disk %s queue %u: %s", d->cfg.name, qi, err_msg());
        vr->broken = true;
        vr->errors++;
        free(q->slots);
        q->slots = NULL;
        q->num = 0;
        return;
    }
    q->num = vr->num;
    q->publish = vr->last_avail; /* without a region: the used index the front end gave as base */
    d->info.features = d->dev.features;
    blk_queue_kick(d, qi);
}

/* Before the ring stops (its memory may go away next) every request taken from it must be
 * done: the kernel may still be writing into guest memory. Waits for them, then publishes. */
void blk_queue_stop(struct blk_disk *d, unsigned qi)
{
    struct blk_queue *q = &d->q[qi];
    struct blkback *bb = d->bb;
    blk_watch_kick(q, false);
    q->stopping = true; /* completions do not take more (a barrier's rekick) */
    /* Requests not yet submitted are done now, whatever the disk's limits (charged all the
     * same): dropping them would lose writes, holding them would hold the front end. */
    while (q->inflight) {
        blk_sched_pick(bb, d);
        blk_io_run(bb, true);
    }
    /* What was written is on the device before the front end hears that the ring stopped: a
     * save or a migration takes the image's identity next (docs/snapshot-format.md, "Disks"),
     * and another host may open the image after it. */
    if (q->num && !d->img.readonly) {
        int rc = d->img.ovl ? image_flush(d->img.ovl) : (fdatasync(d->img.fd) < 0 ? -errno : 0);
        if (rc < 0)
            log_warn("disk %s: flushing the image as ring %u stops: %s", d->cfg.name, qi, strerror(-rc));
    }
    free(q->slots);
    q->slots = NULL;
    q->num = 0;
    /* Requests still to redo stay flagged in the region: the next connection redoes them. */
    free(q->redo);
    q->redo = NULL;
    q->iq = (struct vu_inflight_queue){0};
    q->barrier = NULL;
    q->rekick = false;
    blk_live_remove(bb, q);
}
