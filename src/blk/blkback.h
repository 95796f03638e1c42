/* xeno-blkback's state: the disks it serves, each a vhost-user device on its own socket,
 * their requests on one io_uring (docs/blkback.md).
 *
 * Like xeno-netback, the backend is the socket's client: the monitor (the front end) listens
 * for the device's life and the backend connects, so either can restart. A disk's image is a
 * raw file under --image-dir (image.h).
 *
 * Restarts (docs/blkback.md "Restarts"). With the inflight region (PROTOCOL_F_INFLIGHT_SHMFD,
 * which the monitor and QEMU's vhost-user-blk negotiate; blk_inflight.c, the spec's split
 * layout, src/vhost/inflight_split.h): a request's head is flagged in the region when it is
 * taken and its used entry is published AS SOON AS it completes (one entry at a time:
 * last_batch_head, the used entry and used->idx, the flag cleared, the region's used_idx), so
 * the region always says which taken requests are not yet published. A new backend's queue
 * starts at the used index, clears the one request whose publication a crash interrupted,
 * redoes every other flagged head in counter order (each chain re-read and checked from guest
 * memory as a new request) and goes on from used index + their count. A region that is not
 * one this protocol leaves stops that queue (vring broken), never the backend.
 * Without the region (a front end that does not negotiate it: a native test client) a queue
 * publishes in the order the requests were taken, so the used index is "everything before
 * it is done, nothing after it is published"; the front end sets the base there and the
 * requests taken and not published are redone.
 * Either way discard and write-zeroes are barriers within their queue: they start once every
 * earlier request of the queue has completed, and nothing later is taken until they complete,
 * so a redone one can never land after a later write the guest saw completed. Reads and
 * writes redone are harmless (same data, same place); a flush redone is an fdatasync.
 *
 * Threads: one. Every call here comes from the event loop in main.c. */
#ifndef XENO_BLK_BLKBACK_H
#define XENO_BLK_BLKBACK_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/blk_qos.h"
#include "blk/blk_req.h"
#include "blk/iosched.h"
#include "blk/iosched_admit.h"
#include "blk/raw_file.h"
#include "vhost/inflight_split.h"
#include "vhost/vu_dev.h"

#define BLK_MAX_DISKS 256u /* as many as xeno-netback's ports (NET_SWITCH_MAX_PORTS) */
#define BLK_MAX_QUEUES 4u
#define BLK_URING_ENTRIES 256u
#define BLK_RECONNECT_MIN_MS 50u
#define BLK_RECONNECT_MAX_MS 1000u
#define BLK_SOCKET_TIMEOUT_MS 2000u
#define BLK_DEVICE_DEPTH_DEFAULT 32u          /* requests on the device at once (the scheduler's bound) */
#define BLK_SCHED_GROUPS (2u * BLK_MAX_DISKS) /* libvirt groups and sponsors, each at most one per disk */
#define BLK_OVL_OPS 512u                      /* overlay extents on io_uring at once, all disks together */
#define BLK_OVL_MAX_EXTENTS 64u               /* a request in more extents than this is served synchronously */
#define BLK_POLL_US_DEFAULT 0u                /* busy-poll window after a busy turn (blk_poll.c); 0: never */
#define BLK_POLL_US_MAX 1000u
#define BLK_POLL_TURN_MAX_NS 2000000ull /* one busy-poll phase at most: sockets and signals wait no longer */
/* SQEs handed to the kernel in one io_uring_enter at most (--submit-batch): a turn that takes
 * 32 requests submits them 4 at a time as it prepares them, not in one plugged batch at the
 * end. One batch of 32 reaches the device together, completes together, and keeps the ring
 * in lockstep with the guest's refills (one kick and one call per 32); small batches reach
 * it staggered and stay so. Measured: bench/README.md, "One queue at QD 32: submitting in
 * batches of 4". */
#define BLK_SUBMIT_BATCH_DEFAULT 4u

/* A disk as the operator configures it (--disk). */
struct blk_disk_config {
    char name[32];    /* [a-z0-9_-], for messages and stats */
    char socket[108]; /* the monitor's vhost-user socket */
    char file[256];   /* the image, relative to --image-dir */
    char serial[BLK_SERIAL_MAX + 1];
    bool readonly;
    unsigned queues; /* 1..BLK_MAX_QUEUES */
    struct blk_qos qos;
};

struct blk_queue;

/* One request taken from a ring, from the moment it is taken until its used entry is
 * published. Lives in its queue's slot table at its head (with an inflight region: a head is
 * in flight at most once) or at (avail position % queue size) (without: in-order publication). */
struct blk_slot {
    struct blk_queue *q;
    bool busy, done;
    uint16_t head;
    uint8_t status;
    unsigned pending;      /* io_uring operations not completed */
    bool direct;           /* submitted on the O_DIRECT fd */
    bool scheduled;        /* went through the scheduler: its completion is reported there */
    uint64_t queued_ns;    /* when it was taken (for the latency histogram) */
    struct blk_slot *next; /* the dispatch FIFO */
    struct blk_req req;
};

/* One extent of an overlay's read or write on io_uring (blk_overlay_io.c): its own iovec,
 * which must live until the completion. user_data is its address | 1 (a slot's has bit 0
 * clear), so completions tell the two apart. Lives in bb->ovl_op, free ones on a list. */
struct blk_ovl_op {
    struct blk_slot *s;
    struct iovec iov;
    int fd; /* the buffered descriptor: the rest of a short read, a request O_DIRECT refused */
    uint64_t off;
    bool read, direct;
    struct blk_ovl_op *next_free;
};

struct blk_queue {
    struct blk_disk *disk;
    unsigned index;
    unsigned num;           /* the ring's size while started, 0 otherwise */
    struct blk_slot *slots; /* num of them */
    uint16_t publish;       /* without a region: the next avail position to publish */
    unsigned inflight;      /* slots busy */
    unsigned running;       /* requests taken and not completed */
    struct vring_chain chain;
    /* The queue's part of the inflight region (iq.hdr NULL: none), and after a restart the
     * requests to redo before taking new ones (blk_inflight.c; NULL: none). */
    struct vu_inflight_queue iq;
    struct vu_inflight_resubmit *redo;
    /* A discard or write-zeroes taken: it starts when it is the only request running, nothing
     * is taken until it completes (blkback.h "Restarts"). */
    struct blk_slot *barrier;
    bool barrier_started;
    bool rekick;   /* the barrier completed: take again (blk_io_run) */
    bool stopping; /* blk_queue_stop runs: nothing more is taken */
    /* On bb's live list (blk_queue_kick, until blkback_kicks_on finds it asleep: the guest
     * asked to kick, nothing to take, nothing in flight). What the loop does each turn it
     * does for the live queues only, so idle disks cost nothing per turn. */
    bool live;
    struct blk_queue *live_prev, *live_next;
};

/* Latency histogram: bucket i counts requests done in [2^(i-1), 2^i) x 16 us (bucket 0:
 * under 16 us, the last: everything from ~262 ms). */
#define BLK_LAT_BUCKETS 16u
#define BLK_LAT_BASE_NS 16000ull
unsigned blk_lat_bucket(uint64_t ns);

struct blk_stats {
    uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
    uint64_t bytes_read, bytes_written;
    uint64_t ioerr, unsupp, bad_chains; /* requests refused or failed */
    uint64_t direct_fallbacks;          /* O_DIRECT refused a request: redone buffered */
    uint64_t ovl_ring, ovl_sync;        /* overlay: extents on io_uring, requests done synchronously */
    uint64_t latency[BLK_LAT_BUCKETS];  /* requests by taken-to-done time (blk_lat_bucket) */
};

struct blkback;

struct blk_disk {
    struct blkback *bb;
    struct blk_disk_config cfg;
    struct blk_image img;
    struct blk_disk_info info; /* info.features: what the driver negotiated */
    struct vu_dev_class cls;   /* features depend on the disk (RO, MQ) */
    struct vu_dev dev;
    struct blk_queue q[BLK_MAX_QUEUES];
    /* The inflight region mapped (blk_inflight.c; NULL: none negotiated), inflight_nq queues
     * of inflight_qsize entries. Lives until the connection is reset or another replaces it. */
    void *inflight;
    size_t inflight_len;
    uint16_t inflight_nq, inflight_qsize;
    int sock; /* -1: not connected */
    uint64_t retry_at_ns;
    unsigned backoff_ms;
    uint64_t connects;
    uint64_t connected_at_ns;
    /* CLOCK_REALTIME when this disk was added: its counters (st) start at zero then, so it
     * names the counters' life to a meter (proto/blkback_stats.h, added_ns). */
    uint64_t added_ns;
    struct blk_stats st;
    unsigned ovl_ring;   /* an overlay's extents on io_uring: its table waits for them (blk_overlay_io.c) */
    uint32_t sched_q;    /* the disk's queue in bb->sched */
    uint32_t sched_g[2]; /* its group= and sponsor= groups (index + 1), 0: none */
};

/* A libvirt group (group=) or a sponsor (sponsor=) as the scheduler's group number index+1. */
struct blk_sched_group {
    char name[BLK_QOS_NAME_MAX + 1];
    bool sponsor;
    unsigned members;
    struct blk_iotune tune;
};

struct blkback {
    struct io_uring ring;
    int dirfd; /* --image-dir */
    /* What the loop waits for, in one epoll set (the loop polls its descriptor): the ring's
     * completions, each connected disk's socket, each started queue's kick eventfd; an event
     * names its disk or queue (blkback.c), so a turn costs the disks that woke it, not all. */
    int epfd;
    struct blk_disk *disk[BLK_MAX_DISKS];
    unsigned ndisks;
    uint64_t next_retry_ns; /* the earliest reconnect of a disk not connected (UINT64_MAX: none) */
    struct blk_queue *live; /* the live queues (struct blk_queue.live) */
    /* The dispatch queue: requests parsed and waiting for io_uring. A FIFO today; the disk
     * scheduler (mClock, src/blk/iosched) will decide the order and the pace here. */
    struct blk_slot *fifo_head, *fifo_tail;
    unsigned sq_prepared;  /* SQEs prepared since the last submit */
    unsigned submit_batch; /* submit once this many are prepared (BLK_SUBMIT_BATCH_DEFAULT, --submit-batch) */
    /* The disk scheduler (blk_sched.c): one queue per disk, groups from group= and sponsor=,
     * at most device_depth requests on the device. The FIFO above holds only what it picked
     * and the SQ had no room for yet. */
    struct blk_iosched *sched;
    unsigned device_depth;
    uint64_t sched_retry_at_ns; /* a throttled request may go then (UINT64_MAX: none waits) */
    struct blk_capacity cap;    /* --calibrate's record; cap.units_per_sec 0: none (no reservations) */
    struct blk_sched_group group[BLK_SCHED_GROUPS];
    uint64_t queue_used[BLK_MAX_DISKS / 64]; /* bit i: scheduler queue i belongs to a disk */
    struct blk_ovl_op ovl_op[BLK_OVL_OPS];
    struct blk_ovl_op *ovl_free; /* the free ones (blkback_init links them all) */
    uint64_t poll_ns;            /* --poll-us: how long blkback_busy_poll waits for more work; 0: off */
};

uint64_t blk_now_ns(void);

/* io_uring and the image directory (taken: closed by blkback_fini). 0 or -errno. */
int blkback_init(struct blkback *bb, int image_dirfd);
void blkback_fini(struct blkback *bb);
/* Opens the disk's image and starts connecting to its socket. 0 or -errno with a message. */
int blkback_disk_add(struct blkback *bb, const struct blk_disk_config *cfg);

/* The disk of that name, or NULL. */
struct blk_disk *blkback_disk_find(struct blkback *bb, const char *name);
/* An add of a disk that exists (same name, socket and file): applies what may change while
 * the disk is served. readonly, serial and queues cannot (the guest negotiated them): -EBUSY
 * when they differ; another socket or file under the name: -EEXIST; no such disk: -ENOENT.
 * 0 when everything asked is in force. (The QoS keys join here: they change live.) */
int blkback_update_disk(struct blkback *bb, const struct blk_disk_config *cfg);
/* Stops serving the disk (its rings drain first), closes its image. 0 or -ENOENT. */
int blkback_disk_remove(struct blkback *bb, const char *name);

/* The event loop's view: fills pfd (at most max) with what to wait for (the epoll set's
 * descriptor) and returns how many; connects the disks whose reconnect is due, and lowers
 * *timeout_ms to the next one and to a throttled request's time. */
struct pollfd;
unsigned blkback_poll_fds(struct blkback *bb, struct pollfd *pfd, unsigned max, int *timeout_ms);
/* Handles what poll reported (the epoll set's events: kicks, vhost-user messages), then
 * submits and reaps the I/O. */
void blkback_dispatch(struct blkback *bb, const struct pollfd *pfd, unsigned n);
/* blk_sched.c. Before any disk: the device's capacity (NULL: none, so no reservation is
 * admitted) and depth (0: BLK_DEVICE_DEPTH_DEFAULT); recreates the scheduler. 0 or -errno. */
int blkback_set_device(struct blkback *bb, const struct blk_capacity *cap, unsigned depth);
/* Changes disk `name`'s QoS live (xenctl disk-qos through the control socket): checked,
 * admitted against the capacity and its group, then applied from the next decision; a
 * group's limits change for every member (libvirt). 0, or -ENOENT / -EINVAL / -ENOSPC with a
 * message that says why (admission: what fits). On failure nothing changed. */
int blkback_set_qos(struct blkback *bb, const char *name, const struct blk_qos *qos);
/* The disk's queue in the scheduler (blkback_disk_add calls attach; whoever removes a disk
 * calls detach once its rings are stopped). */
int blk_sched_attach(struct blk_disk *d);
void blk_sched_detach(struct blk_disk *d);
/* A request parsed and ready: into the disk's scheduler queue. */
void blk_sched_enqueue(struct blk_slot *s);
/* Moves what the scheduler lets go now into bb's FIFO (force: every request of disk d,
 * whatever the limits: a ring that stops must finish what it took). */
void blk_sched_pick(struct blkback *bb, struct blk_disk *force);
/* A request that went through the scheduler completed. */
void blk_sched_done(struct blk_slot *s);
/* blk_queue.c: a request into the dispatch FIFO (what goes to io_uring next). */
void blk_fifo_push(struct blkback *bb, struct blk_slot *s);

/* One line of counters per disk, into buf. */
void blkback_stats(const struct blkback *bb, char *buf, size_t len);

/* blk_queue.c: the request path. */
void blk_queue_start(struct blk_disk *d, unsigned q);
void blk_queue_stop(struct blk_disk *d, unsigned q);
void blk_queue_kick(struct blk_disk *d, unsigned q);
/* The live list (struct blk_queue.live): joins / leaves it. */
void blk_watch_kick(struct blk_queue *q, bool on); /* blkback.c: the ring's kick fd into bb's epoll set, or out */
void blk_live_add(struct blkback *bb, struct blk_queue *q);
void blk_live_remove(struct blkback *bb, struct blk_queue *q);
/* Room for one more request: with a region a free slot (at most the ring's size in flight),
 * without one the slot of the next avail position (never more than the ring's size between
 * the oldest unpublished request and the newest). Never while a barrier runs or the ring stops. */
bool blk_queue_can_take(const struct blk_queue *q, const struct vring *vr);
/* A request is done with that status: published now (with an inflight region), or in order
 * (its slot's place in the queue) without one. */
void blk_slot_done(struct blk_slot *s, uint8_t status);

/* blk_inflight.c: the class's inflight hooks (vu_dev.h), the region forgotten (the
 * connection's reset), and a ring's recovery as it starts (before anything is taken: sets
 * its last_avail and the requests to redo). 0 or -errno with a message (the ring must not run). */
int blk_inflight_get(struct vu_dev *dev, const struct vhost_user_inflight *want, struct vhost_user_inflight *out,
                     int *fd_out);
int blk_inflight_set(struct vu_dev *dev, int fd, const struct vhost_user_inflight *f);
void blk_inflight_detach(struct blk_disk *d);
int blk_inflight_queue_start(struct blk_disk *d, unsigned q);

static inline struct blk_disk *blk_disk_of_dev(struct vu_dev *dev)
{
    return (struct blk_disk *)((char *)dev - offsetof(struct blk_disk, dev));
}

/* blk_overlay_io.c: an overlay's request (img.ovl set) instead of the raw path. Reads and
 * writes whose every cluster is mapped go to io_uring, one READV/WRITEV per extent; the rest
 * (copy-on-write, flush, discard, write-zeroes, more than BLK_OVL_MAX_EXTENTS extents) waits
 * until the disk has nothing on the ring and is done synchronously through image.h. False:
 * not now (SQ or extents full, or waiting for the ring), nothing was done. */
bool blk_ovl_prepare(struct blkback *bb, struct blk_slot *s);
/* The completion of an op blk_ovl_prepare submitted (user_data with bit 0 set). */
void blk_ovl_complete(struct blkback *bb, struct blk_ovl_op *op, int res);

/* blk_poll.c: after a turn that found work, looks for more in the rings' avail indexes and
 * io_uring's completion queue without sleeping, for bb->poll_ns after the last work found
 * (and never longer than BLK_POLL_TURN_MAX_NS in all); the guest is asked not to kick
 * meanwhile. Does nothing when poll_ns is 0. */
void blkback_busy_poll(struct blkback *bb);
/* Before the loop sleeps: asks every live ring's guest to kick again and looks at the rings
 * once more; true when one has requests to take (do not sleep: their kicks may have been
 * skipped). A live queue found asleep (nothing to take, nothing in flight) leaves the list. */
bool blkback_kicks_on(struct blkback *bb);

/* Submits what is in the dispatch queue and reaps completions (wait: block until at least
 * one completes). Publishes and notifies. */
void blk_io_run(struct blkback *bb, bool wait);

#endif
