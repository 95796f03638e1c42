/* One virtio-blk request taken from a ring, parsed and checked before any I/O: the pure part
 * of xeno-blkback (no file, no io_uring), so that everything a guest can put in a chain is
 * decided here and tested without a disk (tests/unit/test_blkback_req.c).
 *
 * The chain (src/vhost/vring.h) already holds the descriptors copied once from guest memory
 * and checked (in range, no loop, readable before writable). The request header and the
 * DISCARD/WRITE_ZEROES ranges are copied once more here, into struct blk_req, and checked in
 * that copy: the guest can rewrite its buffers while we look at them. Only the data buffers
 * themselves stay in guest memory (the I/O reads or writes them in place). */
#ifndef XENO_BLK_BLK_REQ_H
#define XENO_BLK_BLK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto/virtio_blk.h"
#include "vhost/vring.h"

#define BLK_MAX_REQ_BYTES (4u << 20)       /* largest read/write (size_max * seg_max): bigger is IOERR */
#define BLK_SEG_MAX (VRING_MAX_SEGS - 2)   /* data segments: the chain less header and status */
#define BLK_MAX_RANGES 16u                 /* DISCARD/WRITE_ZEROES ranges in one request */
#define BLK_MAX_RANGE_SECTORS (1u << 22)   /* sectors in one range (2 GiB) */
#define BLK_SERIAL_MAX VIRTIO_BLK_ID_BYTES /* a serial's bytes (GET_ID) */

/* What the request parser needs to know of a disk. */
struct blk_disk_info {
    uint64_t sectors;  /* capacity in 512-byte sectors */
    bool readonly;     /* writes, discards and write-zeroes are IOERR */
    uint64_t features; /* negotiated with the driver: FLUSH, DISCARD, WRITE_ZEROES gate those */
    char serial[BLK_SERIAL_MAX + 1];
};

struct blk_req {
    uint32_t type;
    uint64_t offset; /* bytes into the image (sector * 512) */
    size_t len;      /* bytes of data (IN/OUT), of the id (GET_ID) */
    unsigned ndata;
    struct iovec data[VRING_MAX_SEGS]; /* the guest's data buffers, in place */
    unsigned nranges;
    struct virtio_blk_discard_wz ranges[BLK_MAX_RANGES]; /* copied and checked */
    uint8_t *status;                                     /* the status byte, in guest memory */
    uint32_t used_len;                                   /* bytes written to the guest when done */
};

/* Parses chain c for disk. Returns VIRTIO_BLK_S_OK when r must be executed, or the status
 * the request completes with at once (VIRTIO_BLK_S_IOERR: out of range, too big, misshapen,
 * a write to a read-only disk; VIRTIO_BLK_S_UNSUPP: an unknown or not negotiated type);
 * in both cases r->status and r->used_len are set. -EPROTO (with a message) when the chain
 * has no writable byte for a status: it can only be given back with used length 0. */
int blk_req_parse(const struct vring_chain *c, const struct blk_disk_info *disk, struct blk_req *r);

/* GET_ID: copies the serial into the request's buffer (NUL-padded to its length). */
void blk_req_fill_id(const struct blk_req *r, const struct blk_disk_info *disk);

/* Writes the status byte. */
static inline void blk_req_complete(const struct blk_req *r, uint8_t status)
{
    __atomic_store_n(r->status, status, __ATOMIC_RELAXED);
}

#endif
