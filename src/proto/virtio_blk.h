/* virtio-blk as the virtio 1.x spec defines it (section 5.2): the feature bits, the config
 * space and the request format. Shared by the monitor's front end (src/vmm/virtio/virtio_blk.c,
 * which owns the config space), the backend (src/blk) and the guest driver. All fields are
 * little-endian on the wire; every supported host is little-endian. */
#ifndef XENO_PROTO_VIRTIO_BLK_H
#define XENO_PROTO_VIRTIO_BLK_H

#include <stdint.h>

#define VIRTIO_ID_BLOCK 2

/* Feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte, the last device-writable byte of a request. */
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_ID_BYTES 20 /* GET_ID: the serial, NUL-padded, not necessarily terminated */
#define VIRTIO_BLK_WRITE_ZEROES_UNMAP 1u

/* The device-readable header of every request. */
struct virtio_blk_req_hdr {
    uint32_t type;
    uint32_t reserved; /* ioprio in legacy devices; ignored */
    uint64_t sector;
};

/* One range of a DISCARD or WRITE_ZEROES request (the data part is an array of them). */
struct virtio_blk_discard_wz {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

/* The config space (the fields this platform sets; offsets are the spec's). */
struct virtio_blk_config {
    uint64_t capacity; /* in 512-byte sectors */
    uint32_t size_max;
    uint32_t seg_max;
    struct {
        uint16_t cylinders;
        uint8_t heads, sectors;
    } geometry;
    uint32_t blk_size;
    struct {
        uint8_t physical_block_exp, alignment_offset;
        uint16_t min_io_size;
        uint32_t opt_io_size;
    } topology;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio-blk request header");
_Static_assert(sizeof(struct virtio_blk_discard_wz) == 16, "virtio-blk discard range");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, num_queues) == 34, "virtio-blk config layout");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio-blk config size");

/* The config space a XenoServer disk has, whoever serves it: the monitor's front end
 * (src/vmm/virtio/virtio_blk.c) and xeno-blkback's GET_CONFIG for other front ends such as
 * QEMU's vhost-user-blk (src/blk/blk_config.c). The limits are the ones xeno-blkback accepts
 * (src/blk/blk_req.h): a request of at most seg_max segments of size_max bytes stays under
 * its 4 MiB, discard/write-zeroes ranges under its counts. Writeback stays 0: the cache mode
 * is not offered (flush is always honoured). */
#define VIRTIO_BLK_XENO_SIZE_MAX (64u << 10)
#define VIRTIO_BLK_XENO_SEG_MAX 62u
#define VIRTIO_BLK_XENO_MAX_RANGE_SECTORS (1u << 22)
#define VIRTIO_BLK_XENO_MAX_RANGES 16u

static inline struct virtio_blk_config virtio_blk_xeno_config(uint64_t sectors, uint16_t num_queues)
{
    return (struct virtio_blk_config){.capacity = sectors,
                                      .size_max = VIRTIO_BLK_XENO_SIZE_MAX,
                                      .seg_max = VIRTIO_BLK_XENO_SEG_MAX,
                                      .blk_size = VIRTIO_BLK_SECTOR,
                                      .num_queues = num_queues,
                                      .max_discard_sectors = VIRTIO_BLK_XENO_MAX_RANGE_SECTORS,
                                      .max_discard_seg = VIRTIO_BLK_XENO_MAX_RANGES,
                                      .discard_sector_alignment = 1,
                                      .max_write_zeroes_sectors = VIRTIO_BLK_XENO_MAX_RANGE_SECTORS,
                                      .max_write_zeroes_seg = VIRTIO_BLK_XENO_MAX_RANGES,
                                      .write_zeroes_may_unmap = 1};
}

#endif
