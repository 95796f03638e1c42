/* The inflight region of one vhost-user device (protocol feature INFLIGHT_SHMFD): a memfd the
 * backend creates on GET_INFLIGHT_FD, the front end keeps for the device's life and hands to
 * every later backend with SET_INFLIGHT_FD. It is the backend's memory that survives a
 * kill -9 without any file of its own; the front end never looks inside. The memfd is sealed
 * (shrink, grow, seal) when created, and a region handed back must carry F_SEAL_SHRINK.
 * The front end can still WRITE it: values read from it are copied once and checked in
 * private memory (inflight_commit_snapshot).
 *
 * Layout (owned by xeno-netback, version INFLIGHT_VERSION):
 *   for each queue, 64-byte aligned: the spec's split-ring format
 *       (struct vhost_user_inflight_split_queue, then desc_num inflight_desc_split entries);
 *   then struct inflight_ext: the exactly-once state of docs/netback.md:
 *       commit: the frame this port's TX queue is delivering (at most one at a time), with
 *               each destination's RX used index at the moment of the copy;
 *       hold:   on the receiving side, the ports that have a live commit towards this one
 *               (a receiver with a hold takes no new frames until they are resolved). */
#ifndef XENO_NET_INFLIGHT_H
#define XENO_NET_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/vhost_user.h"
#include "net/switch.h"

#define INFLIGHT_MAGIC 0x5846494eu /* "NIFX" little-endian */
#define INFLIGHT_VERSION 1
#define INFLIGHT_MAX_DEST NET_SWITCH_MAX_PORTS
#define VRING_INFLIGHT_MAX_QSIZE 1024 /* = VRING_MAX_NUM */

enum inflight_commit_state {
    INFLIGHT_COMMIT_NONE = 0,
    INFLIGHT_COMMIT_LIVE = 1, /* the destinations below may have the frame: see docs/netback.md */
};

/* Destination id of the uplink (domain ports have ids from 1). */
#define INFLIGHT_UPLINK_ID UINT64_MAX

struct inflight_dest {
    uint64_t port_id;     /* the destination's persistent id (ports file), not its switch slot */
    uint16_t used_target; /* its RX used index before our copy: delivered iff it moved */
    uint16_t pad[3];
};

struct inflight_commit {
    uint32_t state;     /* enum inflight_commit_state, written last (release) */
    uint16_t avail_pos; /* the TX chain's position in the avail ring */
    uint16_t head;
    uint32_t ndest;
    uint32_t pad;
    struct inflight_dest dest[INFLIGHT_MAX_DEST];
};

struct inflight_ext {
    uint32_t magic;
    uint32_t version;
    uint64_t owner_id; /* the port that uses this region */
    struct inflight_commit commit;
    uint64_t hold[INFLIGHT_MAX_DEST]; /* indexed by the source's switch slot: its id, or 0 */
};

struct inflight_map {
    void *base; /* NULL: no region (a front end without INFLIGHT_SHMFD): ext is private */
    size_t len;
    uint16_t nq, qsize;
    struct vhost_user_inflight_split_queue *q[VHOST_USER_NET_NQUEUES];
    struct vhost_user_inflight_desc_split *desc[VHOST_USER_NET_NQUEUES];
    struct inflight_ext *ext; /* never NULL after inflight_private/create/attach */
    bool private_ext;
};

/* Bytes of the region for nq queues of qsize entries. */
size_t inflight_region_size(uint16_t nq, uint16_t qsize);

/* A fresh region: memfd of inflight_region_size, headers initialised, owned by owner_id.
 * *fd_out goes to the front end (GET_INFLIGHT_FD's reply); the caller closes it after
 * sending. 0 or -errno with a message. */
int inflight_create(struct inflight_map *m, uint16_t nq, uint16_t qsize, uint64_t owner_id, int *fd_out);
/* Maps a region a front end gave back (SET_INFLIGHT_FD); `fd` is closed. Its size must be the
 * one this layout needs for d's queues, and its headers must be ours; a region of another
 * owner (a port deleted and added again) is reset. 0 or -EINVAL with a message. */
int inflight_attach(struct inflight_map *m, int fd, const struct vhost_user_inflight *d, uint64_t owner_id);
/* The live commit of the region, copied ONCE into *out (private memory) and checked there:
 * the front end may rewrite the shared region at any time (a count checked in the region and
 * used again later could have grown in between). true: a live commit whose ndest is within
 * INFLIGHT_MAX_DEST; false: none, or one not worth resolving (the caller clears it). Only
 * *out may be used afterwards. */
bool inflight_commit_snapshot(const struct inflight_map *m, struct inflight_commit *out);
/* No region: a private, zeroed ext (exactly-once across restarts is then not available). */
int inflight_private(struct inflight_map *m, uint64_t owner_id);
void inflight_detach(struct inflight_map *m);

#endif
