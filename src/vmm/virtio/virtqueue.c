/* Split virtqueues, device side (see virtqueue.h for what is validated and why).
 *
 * Memory ordering with the driver (virtio 1.x, 2.7.13): the driver writes descriptors,
 * then the avail ring entry, then (release) avail->idx; we load avail->idx with acquire
 * before reading entries. We write used entries, then used->idx with release; a full fence
 * separates that from reading the driver's interrupt suppression (flags / used_event), and
 * our avail_event write from re-reading avail->idx. */
#include "vmm/virtio/virtqueue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2 /* in uint16_t units */

void virtq_init(struct virtq *vq, const struct guest_mem *mem, unsigned index, virtq_error_fn on_error, void *opaque)
{
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    vq->index = index;
    vq->on_error = on_error;
    vq->error_opaque = opaque;
}

void virtq_reset(struct virtq *vq)
{
    virtq_init(vq, vq->mem, vq->index, vq->on_error, vq->error_opaque);
}

void virtq_fail(struct virtq *vq, const char *fmt, ...)
{
    if (vq->broken)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
    va_end(ap);
    vq->broken = true;
    vq->ready = false;
    if (vq->on_error)
        vq->on_error(vq->error_opaque, vq, vq->error);
}

static uint64_t avail_bytes(uint16_t size)
{
    return 6 + 2ULL * size; /* flags, idx, ring[size], used_event */
}

static uint64_t used_bytes(uint16_t size)
{
    return 6 + 8ULL * size; /* flags, idx, ring[size], avail_event */
}

int virtq_setup(struct virtq *vq, uint16_t size, uint16_t max_size, uint64_t desc_gpa, uint64_t avail_gpa,
                uint64_t used_gpa, bool indirect, bool event_idx)
{
    virtq_reset(vq);
    if (max_size > VIRTQ_MAX_SIZE)
        max_size = VIRTQ_MAX_SIZE;
    if (size == 0 || (size & (size - 1)) || size > max_size) {
        virtq_fail(vq, "queue size %u is not a power of two in 1..%u", size, max_size);
        return -EINVAL;
    }
    if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3)) {
        virtq_fail(vq, "misaligned ring (descriptors 0x%llx, driver area 0x%llx, device area 0x%llx)",
                   (unsigned long long)desc_gpa, (unsigned long long)avail_gpa, (unsigned long long)used_gpa);
        return -EINVAL;
    }
    void *d = guest_mem_ptr(vq->mem, desc_gpa, 16ULL * size);
    void *a = guest_mem_ptr(vq->mem, avail_gpa, avail_bytes(size));
    void *u = guest_mem_ptr(vq->mem, used_gpa, used_bytes(size));
    if (!d || !a || !u) {
        const char *what = !d ? "descriptor table" : !a ? "driver area (avail ring)" : "device area (used ring)";
        uint64_t gpa = !d ? desc_gpa : !a ? avail_gpa : used_gpa;
        uint64_t len = !d ? 16ULL * size : !a ? avail_bytes(size) : used_bytes(size);
        virtq_fail(vq, "%s at 0x%llx-0x%llx is not in RAM", what, (unsigned long long)gpa,
                   (unsigned long long)(gpa + len));
        return -EINVAL;
    }
    vq->size = size;
    vq->desc_gpa = desc_gpa;
    vq->avail_gpa = avail_gpa;
    vq->used_gpa = used_gpa;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->indirect = indirect;
    vq->event_idx = event_idx;
    /* The used ring starts where the driver expects it: idx 0 (the driver zeroed it, but
     * we do not rely on that). */
    __atomic_store_n(&vq->used[AVAIL_IDX], 0, __ATOMIC_RELEASE);
    vq->ready = true;
    return 0;
}

static uint16_t load_avail_idx(struct virtq *vq)
{
    return __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
}

/* avail_event: the uint16 after the used ring. */
static void set_avail_event(struct virtq *vq, uint16_t v)
{
    __atomic_store_n(&vq->used[2 + 4 * (unsigned)vq->size], v, __ATOMIC_RELAXED);
    guest_mem_mark_dirty(vq->mem, (const void *)&vq->used[2 + 4 * (unsigned)vq->size], 2);
}

bool virtq_has_avail(struct virtq *vq)
{
    if (!vq->ready || vq->broken)
        return false;
    return load_avail_idx(vq) != vq->last_avail;
}

/* One descriptor, copied out of guest RAM (the table may be misaligned for indirect). */
static void read_desc(const volatile void *table, unsigned i, struct virtq_desc *out)
{
    memcpy(out, (const uint8_t *)table + 16 * (size_t)i, sizeof(*out));
}

int virtq_pop(struct virtq *vq, struct virtq_elem *e)
{
    if (vq->broken)
        return -1;
    if (!vq->ready)
        return 0;
    uint16_t avail_idx = load_avail_idx(vq);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0 && vq->event_idx) {
        /* Ask for a notification at the next buffer, then look again: one may have come
         * between our load and the driver reading avail_event. */
        set_avail_event(vq, vq->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail_idx = load_avail_idx(vq);
        pending = (uint16_t)(avail_idx - vq->last_avail);
    }
    if (pending == 0)
        return 0;
    if (pending > vq->size) {
        virtq_fail(vq, "avail idx jumped from %u to %u (queue size %u)", vq->last_avail, avail_idx, vq->size);
        return -1;
    }
    uint16_t head = __atomic_load_n(&vq->avail[AVAIL_RING + (vq->last_avail & (vq->size - 1))], __ATOMIC_RELAXED);
    if (head >= vq->size) {
        virtq_fail(vq, "avail ring entry %u: head descriptor %u >= queue size %u", vq->last_avail, head, vq->size);
        return -1;
    }

    e->head = head;
    e->n_out = e->n_in = 0;
    e->out_len = e->in_len = 0;
    const volatile void *table = vq->desc;
    unsigned tsize = vq->size, count = 0, i = head;
    bool in_indirect = false;
    for (;;) {
        struct virtq_desc d;
        if (++count > tsize) {
            virtq_fail(vq, "descriptor chain from head %u is longer than %s (%u): a loop?", head,
                       in_indirect ? "its indirect table" : "the queue", tsize);
            return -1;
        }
        read_desc(table, i, &d);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect) {
                virtq_fail(vq, "descriptor %u is indirect but VIRTIO_F_INDIRECT_DESC was not negotiated", i);
                return -1;
            }
            if (in_indirect) {
                virtq_fail(vq, "nested indirect descriptor (head %u)", head);
                return -1;
            }
            if (d.flags & VIRTQ_DESC_F_NEXT) {
                virtq_fail(vq, "descriptor %u has both INDIRECT and NEXT", i);
                return -1;
            }
            if (d.len == 0 || d.len % 16 || d.len / 16 > VIRTQ_MAX_SEGS) {
                virtq_fail(vq, "indirect table of %u bytes (descriptor %u): not a multiple of 16 in 16..%u", d.len, i,
                           16 * VIRTQ_MAX_SEGS);
                return -1;
            }
            const void *t = guest_mem_ptr(vq->mem, d.addr, d.len);
            if (!t) {
                virtq_fail(vq, "indirect table at 0x%llx+%u (descriptor %u) is not in RAM", (unsigned long long)d.addr,
                           d.len, i);
                return -1;
            }
            table = t;
            tsize = d.len / 16;
            count = 0;
            i = 0;
            in_indirect = true;
            continue;
        }
        void *p = guest_mem_ptr(vq->mem, d.addr, d.len);
        if (!p) {
            virtq_fail(vq, "descriptor %u%s: buffer 0x%llx+%u is not in RAM", i, in_indirect ? " (indirect)" : "",
                       (unsigned long long)d.addr, d.len);
            return -1;
        }
        if (e->n_out + e->n_in >= VIRTQ_MAX_SEGS) {
            virtq_fail(vq, "descriptor chain from head %u has more than %u buffers", head, VIRTQ_MAX_SEGS);
            return -1;
        }
        if (d.flags & VIRTQ_DESC_F_WRITE) {
            e->in[e->n_in++] = (struct iovec){p, d.len};
            e->in_len += d.len;
        } else {
            if (e->n_in) {
                virtq_fail(vq, "descriptor %u%s: device-readable buffer after a device-writable one (head %u)", i,
                           in_indirect ? " (indirect)" : "", head);
                return -1;
            }
            e->out[e->n_out++] = (struct iovec){p, d.len};
            e->out_len += d.len;
        }
        if (e->in_len > UINT32_MAX || e->out_len > UINT32_MAX) {
            virtq_fail(vq, "descriptor chain from head %u: total length overflows 32 bits", head);
            return -1;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= tsize) {
            virtq_fail(vq, "descriptor %u%s: next %u >= %s size %u", i, in_indirect ? " (indirect)" : "", d.next,
                       in_indirect ? "indirect table" : "queue", tsize);
            return -1;
        }
        i = d.next;
    }
    vq->last_avail++;
    vq->in_flight++;
    vq->popped++;
    return 1;
}

void virtq_push(struct virtq *vq, const struct virtq_elem *e, uint32_t written)
{
    if (!vq->ready || vq->broken)
        return;
    if (written > e->in_len)
        written = (uint32_t)e->in_len;
    unsigned slot = vq->used_idx & (vq->size - 1);
    volatile uint32_t *elem = (volatile uint32_t *)(vq->used + 2) + 2 * slot;
    elem[0] = e->head;
    elem[1] = written;
    vq->used_idx++;
    __atomic_store_n(&vq->used[AVAIL_IDX], vq->used_idx, __ATOMIC_RELEASE);
    /* A live migration must resend what the device wrote: KVM logs only guest writes. */
    guest_mem_mark_dirty(vq->mem, (const void *)elem, 8);
    guest_mem_mark_dirty(vq->mem, (const void *)vq->used, 4);
    for (unsigned k = 0, left = written; k < e->n_in && left; k++) {
        uint32_t n = e->in[k].iov_len < left ? (uint32_t)e->in[k].iov_len : left;
        guest_mem_mark_dirty(vq->mem, e->in[k].iov_base, n);
        left -= n;
    }
    if (vq->in_flight)
        vq->in_flight--;
    vq->pushed++;
}

bool virtq_should_notify(struct virtq *vq)
{
    if (!vq->ready || vq->broken)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vq->event_idx) {
        uint16_t old = vq->signalled_used, now = vq->used_idx;
        uint16_t event = __atomic_load_n(&vq->avail[AVAIL_RING + vq->size], __ATOMIC_RELAXED);
        bool valid = vq->signalled_valid;
        vq->signalled_used = now;
        vq->signalled_valid = true;
        /* vring_need_event: did used idx step past used_event since the last interrupt? */
        return !valid || (uint16_t)(now - event - 1) < (uint16_t)(now - old);
    }
    return !(__atomic_load_n(&vq->avail[AVAIL_FLAGS], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t virtq_elem_read(const struct virtq_elem *e, size_t skip, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned k = 0; k < e->n_out && done < len; k++) {
        size_t l = e->out[k].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t n = l - skip < len - done ? l - skip : len - done;
        memcpy((uint8_t *)buf + done, (const uint8_t *)e->out[k].iov_base + skip, n);
        done += n;
        skip = 0;
    }
    return done;
}

size_t virtq_elem_write(const struct virtq_elem *e, size_t skip, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned k = 0; k < e->n_in && done < len; k++) {
        size_t l = e->in[k].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t n = l - skip < len - done ? l - skip : len - done;
        memcpy((uint8_t *)e->in[k].iov_base + skip, (const uint8_t *)buf + done, n);
        done += n;
        skip = 0;
    }
    return done;
}
