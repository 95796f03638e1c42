/* The vhost-user front end: hands a virtio device's queues to a backend process
 * (xeno-netback, or any vhost-user backend) over a unix socket this monitor listens on.
 *
 * The monitor is the socket's server so that the backend can die and come back: the front
 * end keeps the listening socket for the device's life and takes the next connection. On
 * each connection it negotiates (GET_FEATURES, GET/SET_PROTOCOL_FEATURES, SET_OWNER) and,
 * while the driver runs the device, hands the rings over:
 *   SET_FEATURES, SET_MEM_TABLE (guest RAM: the memfd, one region per guest_mem range),
 *   GET_INFLIGHT_FD once per driver setup / SET_INFLIGHT_FD on every later connection (the
 *   front end keeps the region's fd, so a restarted backend finds the descriptors its
 *   predecessor had taken and not finished),
 *   per ring: SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE (the used index in guest RAM:
 *   everything before it is done, the inflight region covers the rest), SET_VRING_KICK (the
 *   transport's ioeventfd), SET_VRING_CALL (its irqfd), SET_VRING_ENABLE.
 * Kicks and interrupts then go between KVM and the backend without this process.
 * A driver reset stops the rings (GET_VRING_BASE) before the reset completes, and forgets
 * the inflight region (a reset driver starts from empty rings).
 *
 * Everything the backend sends is untrusted: reply sizes, request codes, flags and file
 * descriptor counts are checked, each exchange (negotiation, hand-over, stopping the rings)
 * has a deadline of VHOST_FRONT_REPLY_MS in all, and any
 * violation drops the connection (the device waits for the next one; the guest sees
 * nothing). The protocol's encoding is src/proto/vhost_user.h.
 *
 * Threads: the front end has one thread (accepting, connection set-up, noticing a
 * backend's death). vhost_front_driver_ok / vhost_front_reset are called by the device with
 * its lock held; the thread takes the device's lock (through ops->rings) only while holding
 * no lock of its own, so the order is always device lock -> front end's io lock. */
#ifndef XENO_VMM_VIRTIO_VHOST_USER_FRONT_H
#define XENO_VMM_VIRTIO_VHOST_USER_FRONT_H

#include <pthread.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/guest_mem.h"
#include "vmm/virtio/vhost_front_log.h"

/* A device's rings: virtio-net's two, or up to eight virtio-blk request queues (VIRTIO_MAX_QUEUES). */
#define VHOST_FRONT_MAX_RINGS 8
#define VHOST_FRONT_REPLY_MS 2000

/* One ring as the driver set it up, in guest-physical addresses. */
struct vhost_front_ring {
    uint16_t num;
    uint64_t desc, avail, used;
    int kick_fd, call_fd; /* the transport's, kept open by it */
};

/* What the device hands over while its driver runs it. */
struct vhost_front_rings {
    uint64_t features; /* negotiated with the driver (transport and device bits) */
    unsigned nrings;
    struct vhost_front_ring ring[VHOST_FRONT_MAX_RINGS];
};

struct vhost_front_ops {
    /* Takes the device's lock. Fills *out and returns true while the driver runs the
     * device (DRIVER_OK, not broken), false otherwise (nothing to hand over). */
    bool (*rings)(void *opaque, struct vhost_front_rings *out);
    /* Device feature bits the monitor serves itself (virtio-net's MAC and link status): the
     * backend need not offer them and is not told of them. */
    uint64_t own_features;
    /* Redoing what a dead backend had taken from the used index on is safe for this device
     * even without INFLIGHT_SHMFD (virtio-blk: xeno-blkback offers the region and then
     * publishes as requests complete; without it it publishes in order, docs/blkback.md
     * "Restarts"): a backend without the region is not warned about. */
    bool redo_from_used;
};

struct vhost_front_stats {
    uint64_t connects;        /* backend connections accepted */
    uint64_t disconnects;     /* connections lost or dropped */
    uint64_t handovers;       /* ring set-ups completed */
    uint64_t protocol_errors; /* connections dropped for a bad message or a missed deadline */
};

/* A range of guest-physical memory. */
struct vhost_front_range {
    uint64_t gpa, len;
};

struct vhost_front {
    char name[32];  /* "virtio-net": log lines */
    char path[108]; /* the socket */
    const struct guest_mem *mem;
    unsigned queue_size;
    unsigned mq_queues; /* >1: virtio multi-queue, the backend must serve that many (vhost_front_require_queues) */
    const struct vhost_front_ops *ops;
    void *opaque;

    bool initialized, listening; /* listening: path is the socket we bound (sock_dev/ino) */
    dev_t sock_dev;
    ino_t sock_ino;
    int listen_fd, wake_fd;
    pthread_t thread;
    int thread_started, stopping;
    bool want_setup;    /* atomic: the driver set DRIVER_OK since the thread last looked */
    uint64_t reset_gen; /* atomic, written under io_lock: driver resets so far */

    pthread_mutex_t io_lock; /* the connection and everything below */
    int conn_fd;
    uint64_t exchange_deadline_ms; /* CLOCK_MONOTONIC: the current exchange must end by then */
    uint64_t backend_features, protocol_features;
    bool started;           /* the rings are the backend's */
    bool held;              /* vhost_front_hold: no hand-over until vhost_front_release */
    unsigned started_rings; /* how many (the device's: net 2, blk 1) */
    int inflight_fd;        /* -1: none yet for this driver setup */
    uint64_t inflight_size, inflight_offset;
    uint16_t inflight_queues, inflight_queue_size;
    uint64_t hand_features; /* the last SET_FEATURES but LOG_ALL */
    /* The dirty log (vhost_front_log_start .. _stop): the backend marks the guest pages it
     * writes. While it is on, rings go only to a backend that logs. */
    struct vhost_front_log log;
    bool logging;
    /* The used rings of the last hand-over (guest-physical): marked in the log when a
     * backend is lost while it logs. */
    struct vhost_front_range log_used[VHOST_FRONT_MAX_RINGS];
    unsigned log_rings;

    struct vhost_front_stats stats; /* under io_lock; read with relaxed atomics */
};

/* Listens on `path` (created 0600). Something already at `path` is refused (-EEXIST),
 * unless it is a socket directly in `own_dir`, the monitor's locked 0700 run directory (NULL:
 * none), left there by an earlier monitor of the same domain: that one is replaced.
 * 0 or -errno with err_msg(); vhost_front_destroy() is safe after a failure. */
int vhost_front_init(struct vhost_front *f, const char *name, const char *path, const char *own_dir,
                     const struct guest_mem *mem, unsigned queue_size, const struct vhost_front_ops *ops, void *opaque);
/* Before vhost_front_start: the device's `n` queues are virtio multi-queue (virtio-blk's
 * VIRTIO_BLK_F_MQ), not net's fixed pair: a backend is then taken only if it offers
 * VHOST_USER_PROTOCOL_F_MQ and GET_QUEUE_NUM says it serves at least `n` (the spec's rule);
 * otherwise the connection is dropped as a protocol error, since the driver may use every
 * queue the config space announces. */
void vhost_front_require_queues(struct vhost_front *f, unsigned n);
/* Starts the thread (once the device exists: it may call ops->rings at once). */
int vhost_front_start(struct vhost_front *f);
/* Stops the thread, stops the rings on the backend, closes everything, unlinks the socket
 * (only if the file at the path is still the one it bound). */
void vhost_front_destroy(struct vhost_front *f);
/* Device lock held: the driver set DRIVER_OK; the thread hands the rings over as soon as a
 * backend is there. Does not block. */
void vhost_front_driver_ok(struct vhost_front *f);
/* Device lock held: the driver reset the device. Stops the rings on the backend (bounded by
 * the reply deadline) and forgets the inflight region. */
void vhost_front_reset(struct vhost_front *f);
/* Any thread but the front end's: takes the rings back from the backend and keeps them until
 * vhost_front_release, for a save or a migration (the domain's state must not change under
 * it). GET_VRING_BASE on each ring: the backend completes and publishes every request it took
 * (xeno-blkback also flushes the image) before it answers, so afterwards nothing but the
 * guest writes its memory and the used index in guest RAM says exactly what is done. With no
 * backend connected nothing is in flight (a dead backend's unpublished requests are redone
 * by the next one). 0, or -ETIMEDOUT/-EPROTO when the backend did not answer in time (the
 * connection is dropped: it may still be writing, so a save must not go on); held either
 * way. */
int vhost_front_hold(struct vhost_front *f);
/* Ends a hold: the rings go to the backend again (now, if one is connected and the driver
 * runs the device). */
void vhost_front_release(struct vhost_front *f);
/* Any thread but the front end's, with no hold: a migration's pre-copy begins. The backend
 * logs every guest page it writes from now on (SET_LOG_BASE with the log's memfd,
 * SET_FEATURES with LOG_ALL, both confirmed before this returns), and so does every backend
 * that takes the rings until vhost_front_log_stop. -EOPNOTSUPP when the connected backend
 * cannot log (no LOG_ALL or PROTOCOL_F_LOG_SHMFD): nothing changed, the caller holds the
 * rings instead (vhost_front_hold); -ETIMEDOUT/-EPROTO when it failed to confirm (the
 * connection is dropped). With no backend connected: 0, the next one is asked at hand-over. */
int vhost_front_log_start(struct vhost_front *f);
/* The migration's thread: the pages the backend wrote since the last call, into `out` (one
 * bit per RAM page, vhost_front_log_collect). A backend's write is in a collect that starts
 * after the write's used entry was published. */
uint64_t vhost_front_log_take(struct vhost_front *f, uint64_t *out, uint64_t npages);
/* The migration is over: LOG_ALL off (a backend that does not confirm is dropped). */
void vhost_front_log_stop(struct vhost_front *f);
/* Any thread: a copy of the counters, and whether a backend is connected now. */
void vhost_front_get_stats(struct vhost_front *f, struct vhost_front_stats *out, bool *connected);

#endif
