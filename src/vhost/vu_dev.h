/* The backend's side of one vhost-user connection, shared by xeno-netback and xeno-blkback:
 * the device state a front end sets up with its messages (features, memory table, rings) and
 * the replies. It knows nothing of frames or sectors: what a device offers (features, queue
 * count, an inflight region) is its class, and rings that become ready or stop are reported
 * through the class's hooks; the owner (src/net/netback.c, src/blk/blkback.c) decides what to
 * do with the buffers. */
#ifndef XENO_VHOST_VU_DEV_H
#define XENO_VHOST_VU_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/vhost_user.h"
#include "vhost/mem_table.h"
#include "vhost/vring.h"
#include "vhost/vu_log.h"

#define VU_DEV_MAX_QUEUES 8u /* rings one device may have (a class serves up to its nq) */

struct vu_dev;

/* What kind of device a connection serves; one constant per backend, never changed. */
struct vu_dev_class {
    const char *kind;           /* "port", "disk": names the device in messages */
    uint64_t features;          /* virtio + vhost-user feature bits offered (VERSION_1 required) */
    uint64_t protocol_features; /* INFLIGHT_SHMFD only with the two inflight hooks; CONFIG is
                                   added when get_config is set (and only then) */
    unsigned nq;                /* queues served, 1..VU_DEV_MAX_QUEUES (GET_QUEUE_NUM) */
    /* Ring q now serves (translated, base applied): recover, then process. */
    void (*ring_started)(struct vu_dev *d, unsigned q);
    /* Ring q is about to stop (GET_VRING_BASE, a new memory table, disable, disconnect): give
     * back any chain held but not published. */
    void (*ring_stopping)(struct vu_dev *d, unsigned q);
    /* GET_INFLIGHT_FD: create the region for `want` (num_queues, queue_size), fill *out and
     * give its fd in *fd_out (the caller sends then closes it). SET_INFLIGHT_FD: map the region
     * a front end gives back (takes fd; no ring runs). 0 or -errno with a message. */
    int (*inflight_get)(struct vu_dev *d, const struct vhost_user_inflight *want, struct vhost_user_inflight *out,
                        int *fd_out);
    int (*inflight_set)(struct vu_dev *d, int fd, const struct vhost_user_inflight *f);
    /* GET_CONFIG: writes the device's whole config space (config_size bytes, at most
     * VHOST_USER_MAX_CONFIG_SIZE) into buf. NULL: the device has none to serve, and
     * PROTOCOL_F_CONFIG is not offered. The space is read-only: SET_CONFIG is refused. */
    void (*get_config)(struct vu_dev *d, uint8_t *buf);
    unsigned config_size;
    /* After vu_dev_reset: forget the connection's own state (NULL: nothing to forget). */
    void (*reset)(struct vu_dev *d);
};

struct vu_dev {
    const char *name; /* the port's or disk's name, for messages */
    const struct vu_dev_class *cls;
    uint64_t features, protocol_features;
    struct mem_table mem;
    struct vring vq[VU_DEV_MAX_QUEUES];
    uint16_t base[VU_DEV_MAX_QUEUES];
    /* The dirty log (SET_LOG_BASE): in use by every ring while VU_F_LOG_ALL is negotiated.
     * Every device offers it (VU_F_LOG_ALL, PROTOCOL_F_LOG_SHMFD besides its class's bits):
     * all its guest-memory writes go through vring_push, vring_chain_write or vring_log. */
    struct vu_log log;
    uint64_t protocol_errors; /* messages refused */
};

/* A device of class cls with nothing set up. */
void vu_dev_init(struct vu_dev *d, const char *name, const struct vu_dev_class *cls);
/* Forgets the connection's state (rings stopped through the hooks, memory unmapped, then the
 * class's reset hook) and starts again as from vu_dev_init. */
void vu_dev_reset(struct vu_dev *d);

/* Handles one validated request from the front end and sends its reply (if any) on sock.
 * Takes the message's fds. 0, or -errno when the connection should be dropped (message in
 * err_msg); a request the device refuses but can survive is answered (REPLY_ACK) or logged
 * and counted, and returns 0. Memory the front end could shrink under our mappings (an fd
 * without F_SEAL_SHRINK in SET_MEM_TABLE or SET_INFLIGHT_FD) is refused and always drops the
 * connection (-EPERM): that front end is hostile, not wrong. GET_CONFIG is always answered:
 * with the window asked for, or (not negotiated, a window outside the config space, a size
 * that does not match the message) with an empty reply, the spec's refusal. */
int vu_dev_handle(struct vu_dev *d, int sock, struct vhost_user_msg *m);

#endif
