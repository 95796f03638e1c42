/* The vhost-user spec's inflight I/O tracking for split rings (protocol feature
 * INFLIGHT_SHMFD), the parts every backend shares: the region's memfd and mapping, the per
 * queue format (struct vhost_user_inflight_split_queue then desc_num entries, each queue
 * VU_INFLIGHT_ALIGN-aligned), the backend's writes as it takes and publishes requests, and
 * the recovery after a restart (as libvhost-user does it).
 *
 * The region is a memfd the backend creates (GET_INFLIGHT_FD), the front end keeps for the
 * device's life and hands to every later backend (SET_INFLIGHT_FD): the backend's memory that
 * survives its kill -9. The front end can WRITE it (it serves one sponsor, the backend all of
 * them): recovery copies the region once into private memory and checks every value there
 * before anything is used (vu_inflight_recover).
 *
 * Per request, in this order (each store a release, so a crash between two of them leaves a
 * state recovery reads right):
 *   taken:     desc[head].counter = ++counter; desc[head].inflight = 1
 *   published: last_batch_head = head; the used entry and used->idx (vring_push);
 *              desc[head].inflight = 0; used_idx = used->idx
 * A crash after used->idx moved and before used_idx did shows as used_idx != used->idx: that
 * request (last_batch_head) was published and is not redone. Every other flagged head was
 * taken and not published: it is redone, in counter order.
 *
 * Threads: the owner's one; nothing here locks. */
#ifndef XENO_VHOST_INFLIGHT_SPLIT_H
#define XENO_VHOST_INFLIGHT_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/vhost_user.h"
#include "vhost/vring.h"

#define VU_INFLIGHT_ALIGN 64u
#define VU_INFLIGHT_VERSION 1u

/* Bytes of one queue's part of the region (header and entries, aligned). */
size_t vu_inflight_queue_bytes(uint16_t qsize);

/* A new region of len bytes: a memfd sealed against shrinking, growing and new seals (a later
 * backend checks F_SEAL_SHRINK before it maps it), zeroed and mapped shared into *map. *fd_out
 * goes to the front end. `what` names it in messages. 0 or -errno with a message. */
int vu_inflight_memfd(const char *what, size_t len, int *fd_out, void **map);
/* Maps a region a front end handed back (SET_INFLIGHT_FD): its fd must hold len bytes and
 * carry F_SEAL_SHRINK (mem_fd_check). fd is closed in every case. 0 or -errno with a message. */
int vu_inflight_map(const char *what, int fd, size_t len, void **map);

/* One queue's part of a mapped region, as the backend uses it while the ring runs. */
struct vu_inflight_queue {
    struct vhost_user_inflight_split_queue *hdr; /* NULL: the queue has no region */
    struct vhost_user_inflight_desc_split *desc; /* desc_num of them */
    uint16_t desc_num;                           /* the queue size the region was made for (private) */
    uint64_t counter;                            /* the last counter given */
};

/* Queue q of a region of queues of qsize entries mapped at base. */
void vu_inflight_queue_at(struct vu_inflight_queue *iq, void *base, unsigned q, uint16_t qsize);
/* Writes this queue's header (version, desc_num) and zeroes its entries: a fresh region
 * (all zero, version 0) is set up so at its first recovery. */
void vu_inflight_queue_init(struct vu_inflight_queue *iq);

/* The request with that head (< desc_num: the caller took it from the ring) was taken. */
void vu_inflight_take(struct vu_inflight_queue *iq, uint16_t head);
/* Around vring_push of head's used entry: before it, and after it with the ring's new used
 * index. */
void vu_inflight_publish_begin(struct vu_inflight_queue *iq, uint16_t head);
void vu_inflight_publish_end(struct vu_inflight_queue *iq, uint16_t head, uint16_t used_idx);

/* What a restarted backend redoes on one queue: the heads to take again (from the descriptor
 * table, as new requests), oldest first, and where to go on in the avail ring. */
struct vu_inflight_resubmit {
    uint16_t n, next;      /* heads to redo; the next one to take */
    uint16_t last_avail;   /* the avail position to take after them: used_idx + n */
    uint64_t next_counter; /* the counter after the newest one redone */
    uint16_t head[VRING_MAX_NUM];
    /* Scratch: the region's queue copied once into private memory. */
    struct vhost_user_inflight_split_queue hdr;
    struct vhost_user_inflight_desc_split desc[VRING_MAX_NUM];
};

/* Recovery of queue iq as the ring starts: ring_num is the ring's size, used_idx the used
 * index in guest memory, avail_idx the avail index (what the guest made available). Copies
 * the region once into out and checks it there. A fresh region (version 0: nothing taken under
 * it yet) is set up and has nothing to redo. Otherwise: version and desc_num as made, at most one
 * request published and not yet cleared (last_batch_head, cleared in the region too), every
 * flagged head below ring_num with a non-zero counter, no two counters equal, no more heads
 * than the guest has made available beyond used_idx. 0 and *out, or -EINVAL with a message
 * (the region is not one this protocol leaves: the queue must not run). */
int vu_inflight_recover(struct vu_inflight_queue *iq, uint16_t ring_num, uint16_t used_idx, uint16_t avail_idx,
                        struct vu_inflight_resubmit *out);

#endif
