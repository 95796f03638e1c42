/* Busy polling (docs/blkback.md, "I/O"): with one queue the guest's kick and our wake-up on it
 * are a cross-process round trip per batch; after a turn that found work, more is likely to
 * come within microseconds (the guest replaces what completed, the device completes what was
 * submitted), so the loop looks for it in shared memory for a short window before it sleeps
 * again. Idle disks never get here (nothing wakes the loop), so an idle backend costs nothing.
 *
 * Threads: the event loop's (main.c), like the rest of blkback. */
#include "blk/blkback.h"

/* A ring with requests to take and a slot for them. */
static bool ring_has_work(struct blk_disk *d, unsigned qi)
{
    struct vring *vr = &d->dev.vq[qi];
    const struct blk_queue *q = &d->q[qi];
    return vr->started && !vr->broken && q->num && blk_queue_can_take(q, vr) && (q->redo || vring_avail_pending(vr));
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void blkback_busy_poll(struct blkback *bb)
{
    if (!bb->poll_ns)
        return;
    uint64_t now = blk_now_ns(), until = now + bb->poll_ns, stop = now + BLK_POLL_TURN_MAX_NS;
    while (now < until && now < stop) {
        bool found = false;
        for (struct blk_queue *q = bb->live; q; q = q->live_next) /* the others' guests kick */
            if (q->disk->sock >= 0 && ring_has_work(q->disk, q->index)) {
                blk_queue_kick(q->disk, q->index);
                found = true;
            }
        /* Completions reach the CQ without a syscall: io_uring runs its task work when it
         * interrupts this task (the ring is not set up COOP_TASKRUN). */
        if (io_uring_cq_ready(&bb->ring) || bb->sq_prepared)
            found = true;
        if (found) {
            blk_io_run(bb, false);
            until = blk_now_ns() + bb->poll_ns;
        } else
            cpu_relax();
        now = blk_now_ns();
    }
}

bool blkback_kicks_on(struct blkback *bb)
{
    bool work = false;
    for (struct blk_queue *q = bb->live, *next; q; q = next) {
        next = q->live_next;
        struct blk_disk *d = q->disk;
        if (d->sock >= 0 && vring_kicks_on(&d->dev.vq[q->index]) && ring_has_work(d, q->index))
            work = true;
        else if (!q->inflight && !q->rekick && !q->redo) /* asleep: its next kick wakes the loop */
            blk_live_remove(bb, q);
    }
    return work;
}
