/*
 * Disks for test kernels: the virtio-blk driver (runtime/virtio_blk.c). Polled (or
 * interrupt-driven when asked), one request at a time; the queue is public so hostile tests
 * can post chains of their own making. The device is virtio-blk (id 2), served by the host's
 * vhost-user backend xeno-blkback (docs/blkback.md).
 */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include "runtime.h"

#define VIRTIO_ID_BLOCK 2
#define VBLK_F_SIZE_MAX 1
#define VBLK_F_SEG_MAX 2
#define VBLK_F_RO 5
#define VBLK_F_BLK_SIZE 6
#define VBLK_F_FLUSH 9
#define VBLK_F_DISCARD 13
#define VBLK_F_WRITE_ZEROES 14

#define VBLK_T_IN 0
#define VBLK_T_OUT 1
#define VBLK_T_FLUSH 4
#define VBLK_T_GET_ID 8
#define VBLK_T_DISCARD 11
#define VBLK_T_WRITE_ZEROES 13
#define VBLK_S_OK 0
#define VBLK_S_IOERR 1
#define VBLK_S_UNSUPP 2
#define VBLK_SECTOR 512u
#define VBLK_TIMEOUT_US 10000000ull /* one request; a backend restart fits in it */

struct vblk_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

bool vblk_init(bool use_irq);
/* A test kernel's start: interrupts, the clock (a periodic tick bounds every wait), the
 * driver. False after reporting the test skipped (no clock) or failed (no disk). */
bool vblk_test_start(bool use_irq);
uint64_t vblk_sectors(void);
bool vblk_readonly(void);
uint32_t vblk_seg_max(void);
uint32_t vblk_size_max(void);
struct virtqueue *vblk_queue(void);
/* One request: header, `len` bytes of data at buf (device-readable for OUT, device-writable
 * for IN and GET_ID; none when len is 0), status. Returns the status byte, or -1 on timeout. */
int vblk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len);
/* Posts a chain the caller made (n_out readable then n_in writable buffers) and waits for
 * it: 0 and *used_len, or -1 on timeout. */
int vblk_post(const struct virtq_buf *bufs, unsigned n_out, unsigned n_in, uint32_t *used_len);

#endif
