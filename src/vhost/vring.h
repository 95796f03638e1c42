/* The backend's side of one split virtqueue living in a front end's memory (mem_table.h).
 * The guest writes the descriptor table and the avail ring; the backend reads them once per
 * field into locals (the guest may change them under us) and writes only the used ring.
 *
 * A ring whose guest breaks the rules (an avail index running more than `num` ahead, a head
 * or next index out of range, a descriptor outside guest memory, a loop, an indirect
 * descriptor that was not negotiated, a readable buffer after a writable one) is marked
 * broken: it is not touched again until the front end sets it up anew. Only that ring
 * stops; the error is counted and logged once. */
#ifndef XENO_VHOST_VRING_H
#define XENO_VHOST_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto/vhost_user.h"
#include "vhost/mem_table.h"
#include "vhost/vu_log.h"

#define VRING_MAX_NUM 1024u /* largest queue size the backend accepts */
#define VRING_MAX_SEGS 64u  /* buffers in one chain */

struct vring {
    unsigned num; /* 0: not set */
    uint64_t desc_uva, avail_uva, used_uva;
    bool addr_set;
    struct vu_desc *desc; /* translated at start */
    struct vu_avail *avail;
    struct vu_used *used;
    uint16_t last_avail; /* next avail position to take */
    uint16_t used_idx;   /* what the used ring's idx says (only the backend writes it) */
    int kick_fd, call_fd;
    bool enabled; /* SET_VRING_ENABLE (or implied without protocol features) */
    bool started; /* translated and serving */
    bool broken;
    bool need_call; /* used entries published since the last call */
    /* VIRTIO_RING_F_EVENT_IDX (set before vring_start when the front end negotiated it): the
     * driver's used_event says when it wants a call, our avail_event when we want a kick. */
    bool event_idx;
    uint16_t signalled_used; /* used index at the last vring_notify (event index) */
    bool signalled_valid;    /* false until the first vring_notify after vring_start */
    bool kicks_off;          /* vring_kicks_off: asked the driver not to kick (polling) */
    uint64_t errors;         /* times a guest broke this ring (kept across vring_reset) */
    /* The dirty log while the front end asks for one (vu_dev sets it; NULL: not logging),
     * and the table the ring was translated with: every write into guest memory through
     * this ring (used entries and flags, avail_event, chain buffers: vring_push,
     * vring_kicks_off/on, vring_chain_write, vring_log)
     * marks its pages, after the write. */
    const struct vu_log *log;
    const struct mem_table *mem;
};

struct vring_chain {
    const struct vring *vr; /* the ring it was taken from (its log) */
    uint16_t head;
    uint16_t pos; /* its position in the avail ring */
    unsigned nrd, nwr;
    size_t rd_len, wr_len;
    struct iovec rd[VRING_MAX_SEGS]; /* device-readable buffers, in order */
    struct iovec wr[VRING_MAX_SEGS]; /* device-writable buffers, in order */
};

void vring_init(struct vring *vr);
/* Closes the eventfds and forgets everything but the error count (a new connection starts
 * from scratch). */
void vring_reset(struct vring *vr);

/* Translates the ring addresses with mem; `base` is the avail position to start from
 * (SET_VRING_BASE). The used index is read back from guest memory: after a backend restart
 * that is where the previous backend stopped. -EINVAL with a message if an address is not
 * in the table. */
int vring_start(struct vring *vr, const struct mem_table *mem, uint16_t base, const char *what);
void vring_stop(struct vring *vr);

/* Takes the next chain: 1 and *c, 0 when the guest has made nothing available, -EPROTO when
 * the guest broke the ring (now broken; err_msg says how). */
int vring_pop(struct vring *vr, const struct mem_table *mem, struct vring_chain *c);
/* The chain from descriptor `head` (a request an inflight region says to redo after a restart:
 * taken from the avail ring by the previous backend), read and checked as vring_pop does:
 * 1 and *c, 0 (the ring is not running), -EPROTO (the ring is now broken). */
int vring_take_head(struct vring *vr, const struct mem_table *mem, uint16_t head, struct vring_chain *c);
/* Gives back the chain taken last, unused (nothing was published for it). */
static inline void vring_unpop(struct vring *vr)
{
    vr->last_avail--;
}
/* Chains the guest has made available and the backend has not taken. */
static inline uint16_t vring_avail_pending(const struct vring *vr)
{
    return (uint16_t)(__atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE) - vr->last_avail);
}

/* The split ring's event-index rule (virtio 1.x, 2.7.10): with the index moved from `old`
 * to `new` (mod 2^16), was `event` crossed, i.e. event in [old, new)? Both sides use it: the
 * backend to decide a call (event = the driver's used_event), the driver a kick. */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Asks the driver not to kick while we poll the ring anyway: VRING_USED_F_NO_NOTIFY in the
 * used flags; with the event index nothing is written (avail_event stays where it was, behind
 * what the driver adds, so it does not kick). Only a hint: a driver may kick regardless. */
void vring_kicks_off(struct vring *vr);
/* Before sleeping on the kick eventfd: asks for kicks again (clears NO_NOTIFY, or sets
 * avail_event to the next position we take), then, after a full barrier, looks once more:
 * true when the guest made a chain available meanwhile (take it instead of sleeping: its
 * kick may have been skipped). */
bool vring_kicks_on(struct vring *vr);

/* Publishes one used entry: the entry first, then the index (one release store: the commit
 * point the exactly-once protocol relies on, docs/netback.md). */
void vring_push(struct vring *vr, uint16_t head, uint32_t len);
/* Signals the call eventfd if anything was published and the guest wants interrupts:
 * without the event index unless it set VRING_AVAIL_F_NO_INTERRUPT, with it when the used
 * index crossed the driver's used_event since the last notify. */
void vring_notify(struct vring *vr);

/* A write the owner made into guest memory itself (a buffer of a chain, through its own
 * pointer: xeno-blkback's read data and status byte): marks its pages in the dirty log, if
 * one is on. Call after the write, before the used entry is published. */
static inline void vring_log(const struct vring *vr, const void *p, size_t len)
{
    if (vr->log)
        vu_log_mark_host(vr->log, vr->mem, p, len);
}

/* Copies the chain's readable bytes from offset `off` into buf (at most len); returns bytes. */
size_t vring_chain_read(const struct vring_chain *c, size_t off, void *buf, size_t len);
/* Writes bufs into the chain's writable part from its start; returns bytes written (short when
 * the chain is too small). The pages written are logged (vring_log). */
size_t vring_chain_write(const struct vring_chain *c, const struct iovec *src, unsigned nsrc);

#endif
