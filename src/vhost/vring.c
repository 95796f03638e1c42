#include "vhost/vring.h"

#include "lib/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

void vring_init(struct vring *vr)
{
    memset(vr, 0, sizeof(*vr));
    vr->kick_fd = -1;
    vr->call_fd = -1;
}

void vring_reset(struct vring *vr)
{
    if (vr->kick_fd >= 0)
        close(vr->kick_fd);
    if (vr->call_fd >= 0)
        close(vr->call_fd);
    uint64_t errors = vr->errors; /* a port's count, across connections */
    vring_init(vr);
    vr->errors = errors;
}

int vring_start(struct vring *vr, const struct mem_table *mem, uint16_t base, const char *what)
{
    if (!vr->num || !vr->addr_set)
        return err_set(EINVAL, "%s: ring started without its size or addresses", what);
    size_t ev = vr->event_idx ? 2 : 0; /* used_event after the avail ring, avail_event after the used */
    vr->desc = mem_table_uva(mem, vr->desc_uva, vu_desc_bytes(vr->num));
    vr->avail = mem_table_uva(mem, vr->avail_uva, vu_avail_bytes(vr->num) + ev);
    vr->used = mem_table_uva(mem, vr->used_uva, vu_used_bytes(vr->num) + ev);
    if (!vr->desc || !vr->avail || !vr->used)
        return err_set(EINVAL, "%s: ring %s at 0x%llx is outside the memory table", what,
                       !vr->desc    ? "descriptors"
                       : !vr->avail ? "avail ring"
                                    : "used ring",
                       (unsigned long long)(!vr->desc    ? vr->desc_uva
                                            : !vr->avail ? vr->avail_uva
                                                         : vr->used_uva));
    if (((uintptr_t)vr->desc & 15) || ((uintptr_t)vr->avail & 1) || ((uintptr_t)vr->used & 3))
        return err_set(EINVAL, "%s: misaligned ring addresses", what);
    vr->mem = mem;
    vr->last_avail = base;
    vr->used_idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
    vr->broken = false;
    vr->signalled_valid = false;
    vr->kicks_off = false;
    vr->started = true;
    return 0;
}

void vring_stop(struct vring *vr)
{
    /* A driver told not to kick would not wake the next backend: it looks at the ring when
     * it starts, but a front end that serves the queue itself relies on kicks. */
    if (vr->started && vr->kicks_off && !vr->event_idx) {
        __atomic_store_n(&vr->used->flags, (uint16_t)0, __ATOMIC_RELAXED);
        vring_log(vr, &vr->used->flags, sizeof(vr->used->flags));
    }
    vr->kicks_off = false;
    vr->started = false;
    vr->desc = NULL;
    vr->avail = NULL;
    vr->used = NULL;
}

static int broken(struct vring *vr, const char *fmt, unsigned a, unsigned b)
{
    vr->broken = true;
    vr->errors++;
    char msg[200];
    snprintf(msg, sizeof(msg), fmt, a, b);
    return err_set(EPROTO, "%s", msg);
}

/* Reads the chain from descriptor head (< num) into *c. 0, or -EPROTO (ring broken). */
static int read_chain(struct vring *vr, const struct mem_table *mem, uint16_t head, struct vring_chain *c)
{
    c->vr = vr;
    c->head = head;
    c->nrd = c->nwr = 0;
    c->rd_len = c->wr_len = 0;
    unsigned i = head;
    for (unsigned count = 0;; count++) {
        if (count >= vr->num || count >= VRING_MAX_SEGS)
            return broken(vr, "chain from descriptor %u is longer than %u (a loop?)", head, count);
        struct vu_desc d;
        memcpy(&d, (const void *)&vr->desc[i], sizeof(d)); /* one read of guest-shared memory */
        if (d.flags & VU_DESC_F_INDIRECT)
            return broken(vr, "descriptor %u is indirect (not negotiated; chain %u)", i, head);
        void *p = mem_table_gpa(mem, d.addr, d.len);
        if (!p)
            return broken(vr, "descriptor %u: buffer of %u bytes outside guest memory", i, d.len);
        if (d.flags & VU_DESC_F_WRITE) {
            c->wr[c->nwr++] = (struct iovec){.iov_base = p, .iov_len = d.len};
            c->wr_len += d.len;
        } else {
            if (c->nwr)
                return broken(vr, "descriptor %u: readable after writable (chain %u)", i, head);
            c->rd[c->nrd++] = (struct iovec){.iov_base = p, .iov_len = d.len};
            c->rd_len += d.len;
        }
        if (!(d.flags & VU_DESC_F_NEXT))
            return 0;
        i = d.next;
        if (i >= vr->num)
            return broken(vr, "descriptor next %u of %u", i, vr->num);
    }
}

int vring_pop(struct vring *vr, const struct mem_table *mem, struct vring_chain *c)
{
    if (!vr->started || vr->broken)
        return 0;
    uint16_t avail_idx = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(avail_idx - vr->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vr->num)
        return broken(vr, "avail index %u runs more than the queue size %u ahead", avail_idx, vr->num);
    uint16_t head = __atomic_load_n(&vr->avail->ring[vr->last_avail % vr->num], __ATOMIC_RELAXED);
    if (head >= vr->num)
        return broken(vr, "avail entry names descriptor %u of %u", head, vr->num);
    c->pos = vr->last_avail;
    int rc = read_chain(vr, mem, head, c);
    if (rc < 0)
        return rc;
    vr->last_avail++;
    return 1;
}

int vring_take_head(struct vring *vr, const struct mem_table *mem, uint16_t head, struct vring_chain *c)
{
    if (!vr->started || vr->broken)
        return 0;
    if (head >= vr->num)
        return broken(vr, "descriptor %u to redo in a ring of %u", head, vr->num);
    c->pos = 0; /* not taken from the avail ring now */
    int rc = read_chain(vr, mem, head, c);
    return rc < 0 ? rc : 1;
}

/* The event-index fields: the driver's used_event after the avail ring's entries, ours
 * (avail_event) after the used ring's. */
static uint16_t *used_event(const struct vring *vr)
{
    return &vr->avail->ring[vr->num];
}
static uint16_t *avail_event(const struct vring *vr)
{
    return (uint16_t *)&vr->used->ring[vr->num];
}

void vring_kicks_off(struct vring *vr)
{
    if (!vr->started || vr->kicks_off)
        return;
    vr->kicks_off = true;
    if (!vr->event_idx) {
        __atomic_store_n(&vr->used->flags, (uint16_t)VU_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
        vring_log(vr, &vr->used->flags, sizeof(vr->used->flags)); /* our writes, in the log too */
    }
}

bool vring_kicks_on(struct vring *vr)
{
    if (!vr->started || vr->broken)
        return false;
    if (vr->event_idx) {
        __atomic_store_n(avail_event(vr), vr->last_avail, __ATOMIC_RELAXED);
        vring_log(vr, avail_event(vr), sizeof(uint16_t));
    } else if (vr->kicks_off) {
        __atomic_store_n(&vr->used->flags, (uint16_t)0, __ATOMIC_RELAXED);
        vring_log(vr, &vr->used->flags, sizeof(vr->used->flags));
    }
    vr->kicks_off = false;
    /* Full barrier: our store must be visible before we read the avail index, as the
     * driver's avail index store is before its read of our field (else both miss). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return vring_avail_pending(vr) != 0;
}

void vring_push(struct vring *vr, uint16_t head, uint32_t len)
{
    struct vu_used_elem *e = &vr->used->ring[vr->used_idx % vr->num];
    e->id = head;
    e->len = len;
    vring_log(vr, e, sizeof(*e));
    vr->used_idx++;
    __atomic_store_n(&vr->used->idx, vr->used_idx, __ATOMIC_RELEASE);
    vring_log(vr, &vr->used->idx, sizeof(vr->used->idx));
    vr->need_call = true;
}

void vring_notify(struct vring *vr)
{
    if (!vr->need_call || !vr->started)
        return;
    vr->need_call = false;
    /* Full barrier: the used idx store must be visible before we read the guest's flag. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vr->event_idx) {
        uint16_t old = vr->signalled_used;
        bool valid = vr->signalled_valid;
        vr->signalled_used = vr->used_idx;
        vr->signalled_valid = true;
        /* The first notify after a start always calls: old is unknown (the driver may wait). */
        if (valid && !vring_need_event(__atomic_load_n(used_event(vr), __ATOMIC_RELAXED), vr->used_idx, old))
            return;
    } else if (__atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED) & VU_AVAIL_F_NO_INTERRUPT)
        return;
    if (vr->call_fd >= 0) {
        uint64_t one = 1;
        if (write(vr->call_fd, &one, sizeof(one)) < 0) {
            /* EAGAIN: the counter is saturated, the guest will see the ring anyway. */
        }
    }
}

size_t vring_chain_read(const struct vring_chain *c, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < c->nrd && done < len; i++) {
        size_t l = c->rd[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off;
        if (n > len - done)
            n = len - done;
        memcpy((uint8_t *)buf + done, (uint8_t *)c->rd[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t vring_chain_write(const struct vring_chain *c, const struct iovec *src, unsigned nsrc)
{
    size_t done = 0;
    unsigned di = 0;
    size_t doff = 0;
    for (unsigned s = 0; s < nsrc; s++) {
        const uint8_t *p = src[s].iov_base;
        size_t left = src[s].iov_len;
        while (left) {
            if (di >= c->nwr)
                return done;
            size_t room = c->wr[di].iov_len - doff;
            size_t n = left < room ? left : room;
            memcpy((uint8_t *)c->wr[di].iov_base + doff, p, n);
            if (c->vr)
                vring_log(c->vr, (uint8_t *)c->wr[di].iov_base + doff, n);
            p += n;
            left -= n;
            doff += n;
            done += n;
            if (doff == c->wr[di].iov_len) {
                di++;
                doff = 0;
            }
        }
    }
    return done;
}
