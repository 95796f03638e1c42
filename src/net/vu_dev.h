/* The backend's side of one vhost-user connection: the device state a front end sets up
 * with its messages (features, memory table, two rings, the inflight region) and the replies.
 * It knows nothing of switching: rings that become ready or stop are reported through the
 * hooks, and the owner (netback.c) decides what to do with frames. */
#ifndef XENO_NET_VU_DEV_H
#define XENO_NET_VU_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/vhost_user.h"
#include "net/inflight.h"
#include "net/mem_table.h"
#include "net/vring.h"

struct vu_dev;

struct vu_dev_hooks {
    /* Ring q now serves (translated, base applied): recover, then process. */
    void (*ring_started)(struct vu_dev *d, unsigned q);
    /* Ring q is about to stop (GET_VRING_BASE, a new memory table, disable, disconnect): give
     * back any chain held but not published. */
    void (*ring_stopping)(struct vu_dev *d, unsigned q);
};

struct vu_dev {
    const char *name; /* the port's name, for messages */
    uint64_t owner_id;
    const struct vu_dev_hooks *hooks;
    uint64_t features, protocol_features;
    struct mem_table mem;
    struct vring vq[VHOST_USER_NET_NQUEUES];
    uint16_t base[VHOST_USER_NET_NQUEUES];
    struct inflight_map inflight;
    uint64_t protocol_errors; /* messages refused */
};

/* A device with nothing set up (inflight: a private ext until the front end gives a region). */
int vu_dev_init(struct vu_dev *d, const char *name, uint64_t owner_id, const struct vu_dev_hooks *hooks);
/* Forgets the connection's state (rings stopped through the hooks, memory unmapped, region
 * detached) and starts again as from vu_dev_init. */
void vu_dev_reset(struct vu_dev *d);

/* Handles one validated request from the front end and sends its reply (if any) on sock.
 * Takes the message's fds. 0, or -errno when the connection should be dropped (message in
 * err_msg); a request the device refuses but can survive is answered (REPLY_ACK) or logged
 * and counted, and returns 0. Memory the front end could shrink under our mappings (an fd
 * without F_SEAL_SHRINK in SET_MEM_TABLE or SET_INFLIGHT_FD) is refused and always drops the
 * connection (-EPERM): that front end is hostile, not wrong. */
int vu_dev_handle(struct vu_dev *d, int sock, struct vhost_user_msg *m);

#endif
