/*
 * Disks for test kernels: the virtio-blk driver (runtime/virtio_blk.c). Polled (or
 * interrupt-driven when asked). The one-disk calls (vblk_init, vblk_request, vblk_post) use
 * the first disk's first queue, one request at a time; its queue is public so hostile tests
 * can post chains of their own making. vblk_init_all finds every disk (up to VBLK_MAX_DISKS)
 * with up to VBLK_MAX_QUEUES queues each (VIRTIO_BLK_F_MQ), one request in flight per
 * queue: vblk_start on several queues, then vblk_finish on each. The device is virtio-blk
 * (id 2), served by the host's vhost-user backend xeno-blkback (docs/blkback.md).
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
#define VBLK_F_MQ 12
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
#define VBLK_MAX_DISKS 8
#define VBLK_MAX_QUEUES 4

struct vblk_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

bool vblk_init(bool use_irq);
/* Every virtio-blk device, in window order (the host's --disk order); how many were set up
 * (0: none, or one failed: the test fails). */
unsigned vblk_init_all(bool use_irq);
/* vblk_test_start for every disk: how many (0 after reporting the skip or failure). */
unsigned vblk_test_start_all(bool use_irq);
unsigned vblk_disk_count(void);
unsigned vblk_disk_queues(unsigned disk); /* the queues set up: min(num_queues, VBLK_MAX_QUEUES) */
uint64_t vblk_disk_sectors(unsigned disk);
bool vblk_disk_readonly(unsigned disk);
/* Posts one request on (disk, queue) and kicks that queue; false if the queue has one in
 * flight or no room. vblk_finish waits for it: its status byte, or -1 on timeout. */
bool vblk_start(unsigned disk, unsigned queue, uint32_t type, uint64_t sector, void *buf, uint32_t len);
int vblk_finish(unsigned disk, unsigned queue);
int vblk_request_on(unsigned disk, unsigned queue, uint32_t type, uint64_t sector, void *buf, uint32_t len);
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
