/* Split virtqueues (virtio 1.x, section 2.7), device side, with everything the guest
 * controls validated before it is used.
 *
 * The model is pure: it knows guest RAM (struct guest_mem) and nothing of KVM, MMIO or
 * threads, so unit tests feed it hostile rings over a plain buffer. The transport
 * (virtio_mmio.c) owns the queues, sets them up when the driver writes QueueReady and
 * hands them to the device's callbacks; devices only pop, push and notify.
 *
 * What is checked (any violation breaks the queue: virtq_pop/virtq_push do nothing more
 * and report once through `on_error`, which the transport turns into DEVICE_NEEDS_RESET):
 *   - at setup: size a power of two, 1..VIRTQ_MAX_SIZE (and <= the device's maximum);
 *     the descriptor table, avail ring (with used_event) and used ring (with avail_event)
 *     each wholly inside one RAM range (guest_mem_ptr over the whole ring, so never in
 *     the MMIO hole) and aligned as the spec requires (16, 2, 4 bytes);
 *   - avail idx moving more than `size` ahead of what the device has consumed;
 *   - head and `next` descriptor indices >= size (and >= the table length for indirect);
 *   - chains longer than the queue size (loops) or than VIRTQ_MAX_SEGS in total;
 *   - every buffer [addr, addr+len) inside RAM (no overflow; never the MMIO hole);
 *   - total chain length overflowing 32 bits;
 *   - a device-readable descriptor after a device-writable one;
 *   - indirect descriptors: only when VIRTIO_F_INDIRECT_DESC was negotiated, table length
 *     a non-zero multiple of 16 and at most VIRTQ_MAX_SEGS entries, not combined with
 *     NEXT, not nested.
 * virtq_push() trusts the device (it gives back what virtq_pop() gave it) but clamps the
 * written length to the chain's writable length.
 *
 * Every descriptor is copied out of guest RAM once and only the copy is used, so a guest
 * that rewrites its ring while the device walks it cannot make a checked value change.
 *
 * Locking: none here. The transport calls the device with the device's lock held; a
 * virtq is only ever touched under that lock. */
#ifndef XENO_VMM_VIRTIO_VIRTQUEUE_H
#define XENO_VMM_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/core/guest_mem.h"

#define VIRTQ_MAX_SIZE 256 /* the largest QueueNumMax a device may offer */
#define VIRTQ_MAX_SEGS 256 /* buffers in one chain, indirect tables included */

/* Descriptor flags, avail/used ring flags (the guest-visible layout). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Transport feature bits the queue code knows (bit numbers). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

/* One popped chain: `out` are the device-readable buffers (the driver's request), `in` the
 * device-writable ones (where the answer goes), both in chain order. Every iov_base is a
 * host pointer into guest RAM valid for iov_len bytes, checked at pop time. */
struct virtq_elem {
    uint16_t head; /* what virtq_push() gives back to the driver */
    unsigned n_out, n_in;
    uint64_t out_len, in_len; /* bytes in each direction */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
};

struct virtq;
typedef void (*virtq_error_fn)(void *opaque, struct virtq *vq, const char *msg);

struct virtq {
    /* Set up by the transport; read-only for devices. */
    const struct guest_mem *mem;
    unsigned index;           /* queue number within the device */
    uint16_t size;            /* entries, a power of two */
    bool ready;               /* set up and not broken */
    bool broken;              /* a violation was found; see `error` */
    bool indirect, event_idx; /* negotiated features */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* Host views of the three rings (inside guest RAM; checked once at setup). */
    volatile struct virtq_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint16_t *used;  /* flags, idx, then ring of virtq_used_elem, avail_event */
    uint16_t last_avail;      /* next avail entry the device will take */
    uint16_t used_idx;        /* the device's copy of used->idx */
    uint16_t signalled_used;  /* used idx at the last interrupt (event idx) */
    bool signalled_valid;
    uint16_t in_flight; /* popped and not yet pushed */
    char error[160];

    virtq_error_fn on_error;
    void *error_opaque;
    uint64_t popped, pushed; /* counters */
};

/* Prepares an empty, not ready queue. */
void virtq_init(struct virtq *vq, const struct guest_mem *mem, unsigned index, virtq_error_fn on_error, void *opaque);
/* Validates size and ring addresses and makes the queue ready, starting at index 0. 0, or
 * -EINVAL after reporting the reason through on_error (the queue is broken then). */
int virtq_setup(struct virtq *vq, uint16_t size, uint16_t max_size, uint64_t desc_gpa, uint64_t avail_gpa,
                uint64_t used_gpa, bool indirect, bool event_idx);
/* Back to the state of virtq_init (device reset). */
void virtq_reset(struct virtq *vq);

/* Takes the next available chain: 1 (filled *e), 0 (nothing available; with event idx
 * this also asks the driver to notify at the next buffer), -1 (the queue is broken, now
 * or before; on_error was called the first time). */
int virtq_pop(struct virtq *vq, struct virtq_elem *e);
/* Returns a chain to the driver as used, `written` bytes having been written into its
 * device-writable buffers. Does not interrupt: call virtio_notify() (virtio_mmio.h) after
 * a batch of pushes. */
void virtq_push(struct virtq *vq, const struct virtq_elem *e, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed since the last one:
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or with VIRTIO_F_EVENT_IDX the used_event index. Updates the
 * bookkeeping as if the interrupt was sent when it returns true. */
bool virtq_should_notify(struct virtq *vq);
/* Whether the driver has made buffers available that the device has not taken. */
bool virtq_has_avail(struct virtq *vq);

/* Marks the queue broken with a message and calls on_error (first time only). For
 * devices that find a request they cannot accept (e.g. a too-short header). */
void virtq_fail(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies up to `len` bytes from the readable buffers of `e` (from byte `skip`); returns
 * how many were copied. */
size_t virtq_elem_read(const struct virtq_elem *e, size_t skip, void *buf, size_t len);
/* Copies up to `len` bytes into the writable buffers of `e` (from byte `skip`); returns
 * how many fitted. */
size_t virtq_elem_write(const struct virtq_elem *e, size_t skip, const void *buf, size_t len);

#endif
