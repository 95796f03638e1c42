#include "vhost/inflight_split.h"

#include "lib/err.h"
#include "vhost/mem_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

size_t vu_inflight_queue_bytes(uint16_t qsize)
{
    size_t b =
        sizeof(struct vhost_user_inflight_split_queue) + (size_t)qsize * sizeof(struct vhost_user_inflight_desc_split);
    return (b + VU_INFLIGHT_ALIGN - 1) & ~(size_t)(VU_INFLIGHT_ALIGN - 1);
}

int vu_inflight_memfd(const char *what, size_t len, int *fd_out, void **map)
{
    int rc;
    int fd = memfd_create(what, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return err_set(errno, "%s: memfd_create: %s", what, strerror(errno));
    if (ftruncate(fd, (off_t)len) < 0) {
        rc = err_set(errno, "%s: ftruncate to %zu: %s", what, len, strerror(errno));
        close(fd);
        return rc;
    }
    /* The front end keeps this fd and hands it to every later backend, which maps it: its size
     * is fixed for good (no shrink, no grow, no seal removed or added). */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        rc = err_set(errno, "%s: sealing: %s", what, strerror(errno));
        close(fd);
        return rc;
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = err_set(errno, "%s: mmap: %s", what, strerror(errno));
        close(fd);
        return rc;
    }
    *map = p; /* a new memfd reads as zeroes */
    *fd_out = fd;
    return 0;
}

int vu_inflight_map(const char *what, int fd, size_t len, void **map)
{
    int rc = mem_fd_check(fd, len, what);
    void *p = MAP_FAILED;
    if (rc == 0) {
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            rc = err_set(errno, "%s: mmap: %s", what, strerror(errno));
    }
    close(fd);
    if (rc == 0)
        *map = p;
    return rc;
}

void vu_inflight_queue_at(struct vu_inflight_queue *iq, void *base, unsigned q, uint16_t qsize)
{
    uint8_t *p = (uint8_t *)base + (size_t)q * vu_inflight_queue_bytes(qsize);
    iq->hdr = (void *)p;
    iq->desc = (void *)(p + sizeof(struct vhost_user_inflight_split_queue));
    iq->desc_num = qsize;
    iq->counter = 0;
}

void vu_inflight_queue_init(struct vu_inflight_queue *iq)
{
    memset(iq->hdr, 0, vu_inflight_queue_bytes(iq->desc_num));
    iq->hdr->version = VU_INFLIGHT_VERSION;
    iq->hdr->desc_num = iq->desc_num;
}

/* The region is shared with a front end: every store is atomic (release), so that a crash
 * leaves them in program order and the compiler keeps them. */
void vu_inflight_take(struct vu_inflight_queue *iq, uint16_t head)
{
    __atomic_store_n(&iq->desc[head].counter, ++iq->counter, __ATOMIC_RELEASE);
    __atomic_store_n(&iq->desc[head].inflight, (uint8_t)1, __ATOMIC_RELEASE);
}

void vu_inflight_publish_begin(struct vu_inflight_queue *iq, uint16_t head)
{
    __atomic_store_n(&iq->hdr->last_batch_head, head, __ATOMIC_RELEASE);
}

void vu_inflight_publish_end(struct vu_inflight_queue *iq, uint16_t head, uint16_t used_idx)
{
    __atomic_store_n(&iq->desc[head].inflight, (uint8_t)0, __ATOMIC_RELEASE);
    __atomic_store_n(&iq->hdr->used_idx, used_idx, __ATOMIC_RELEASE);
}

static void sort_by_counter(struct vu_inflight_resubmit *r)
{
    /* Insertion sort: at most a queue's size, once per ring start. */
    for (unsigned i = 1; i < r->n; i++) {
        uint16_t h = r->head[i];
        unsigned j = i;
        for (; j > 0 && r->desc[r->head[j - 1]].counter > r->desc[h].counter; j--)
            r->head[j] = r->head[j - 1];
        r->head[j] = h;
    }
}

int vu_inflight_recover(struct vu_inflight_queue *iq, uint16_t ring_num, uint16_t used_idx, uint16_t avail_idx,
                        struct vu_inflight_resubmit *out)
{
    if (!iq->hdr || iq->desc_num > VRING_MAX_NUM || ring_num == 0 || ring_num > iq->desc_num)
        return err_set(EINVAL, "inflight region of %u entries for a ring of %u", iq->desc_num, ring_num);
    /* One copy of the shared memory; every check and use below is on the copy. */
    memcpy(&out->hdr, (const void *)iq->hdr, sizeof(out->hdr));
    memcpy(out->desc, (const void *)iq->desc, (size_t)iq->desc_num * sizeof(out->desc[0]));
    const struct vhost_user_inflight_split_queue *h = &out->hdr;
    out->n = out->next = 0;
    if (h->version == 0) {
        /* A fresh region (vu_inflight_memfd zeroes it): nothing was taken under it. */
        vu_inflight_queue_init(iq);
        __atomic_store_n(&iq->hdr->used_idx, used_idx, __ATOMIC_RELEASE);
        out->last_avail = used_idx;
        out->next_counter = 0;
        return 0;
    }
    if (h->version != VU_INFLIGHT_VERSION || h->desc_num != iq->desc_num)
        return err_set(EINVAL, "inflight region: version %u with %u entries (made: version %u, %u entries)", h->version,
                       h->desc_num, VU_INFLIGHT_VERSION, iq->desc_num);
    if (h->used_idx != used_idx) {
        /* Published (used->idx moved) and not cleared yet: not to be redone. Only the one
         * publication in progress can be in that state. */
        if ((uint16_t)(used_idx - h->used_idx) != 1 || h->last_batch_head >= ring_num)
            return err_set(EINVAL, "inflight region: used index %u against the ring's %u, last head %u of %u",
                           h->used_idx, used_idx, h->last_batch_head, ring_num);
        out->desc[h->last_batch_head].inflight = 0;
        __atomic_store_n(&iq->desc[h->last_batch_head].inflight, (uint8_t)0, __ATOMIC_RELEASE);
        __atomic_store_n(&iq->hdr->used_idx, used_idx, __ATOMIC_RELEASE);
    }
    uint64_t newest = 0;
    for (unsigned i = 0; i < iq->desc_num; i++) {
        const struct vhost_user_inflight_desc_split *e = &out->desc[i];
        if (!e->inflight)
            continue;
        if (e->inflight != 1 || i >= ring_num || e->counter == 0)
            return err_set(EINVAL, "inflight region: entry %u (flag %u, counter %llu) in a ring of %u", i, e->inflight,
                           (unsigned long long)e->counter, ring_num);
        out->head[out->n++] = (uint16_t)i;
        if (e->counter > newest)
            newest = e->counter;
    }
    uint16_t made = (uint16_t)(avail_idx - used_idx);
    if (out->n > made || made > ring_num)
        return err_set(EINVAL, "inflight region: %u requests in flight, the guest made %u available", out->n, made);
    sort_by_counter(out);
    for (unsigned i = 1; i < out->n; i++)
        if (out->desc[out->head[i]].counter == out->desc[out->head[i - 1]].counter)
            return err_set(EINVAL, "inflight region: entries %u and %u have the same counter", out->head[i - 1],
                           out->head[i]);
    out->last_avail = (uint16_t)(used_idx + out->n);
    out->next_counter = newest;
    iq->counter = newest;
    return 0;
}
