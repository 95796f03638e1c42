#include "net/inflight.h"

#include "lib/err.h"
#include "vhost/inflight_split.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t queue_bytes(uint16_t qsize)
{
    return vu_inflight_queue_bytes(qsize);
}

size_t inflight_region_size(uint16_t nq, uint16_t qsize)
{
    return ((size_t)nq * queue_bytes(qsize) + sizeof(struct inflight_ext) + 4095) & ~(size_t)4095;
}

static void layout(struct inflight_map *m)
{
    uint8_t *p = m->base;
    for (unsigned q = 0; q < VHOST_USER_NET_NQUEUES; q++) {
        m->q[q] = (void *)(p + q * queue_bytes(m->qsize));
        m->desc[q] = (void *)((uint8_t *)m->q[q] + sizeof(struct vhost_user_inflight_split_queue));
    }
    m->ext = (void *)(p + (size_t)m->nq * queue_bytes(m->qsize));
}

static void reset_contents(struct inflight_map *m, uint64_t owner_id)
{
    memset(m->base, 0, m->len);
    for (unsigned q = 0; q < m->nq && q < VHOST_USER_NET_NQUEUES; q++) {
        m->q[q]->version = 1;
        m->q[q]->desc_num = m->qsize;
    }
    m->ext->magic = INFLIGHT_MAGIC;
    m->ext->version = INFLIGHT_VERSION;
    m->ext->owner_id = owner_id;
}

static int check_shape(uint16_t nq, uint16_t qsize)
{
    if (nq != VHOST_USER_NET_NQUEUES || qsize == 0 || qsize > VRING_INFLIGHT_MAX_QSIZE)
        return err_set(EINVAL, "inflight region for %u queues of %u entries (a net device has %u queues of at most %u)",
                       nq, qsize, VHOST_USER_NET_NQUEUES, VRING_INFLIGHT_MAX_QSIZE);
    return 0;
}

int inflight_create(struct inflight_map *m, uint16_t nq, uint16_t qsize, uint64_t owner_id, int *fd_out)
{
    int rc = check_shape(nq, qsize);
    if (rc < 0)
        return rc;
    size_t len = inflight_region_size(nq, qsize);
    void *p;
    int fd;
    /* Sealed for good: a later backend checks F_SEAL_SHRINK before mapping it (inflight_attach). */
    if ((rc = vu_inflight_memfd("xeno-netback-inflight", len, &fd, &p)) < 0)
        return rc;
    inflight_detach(m);
    *m = (struct inflight_map){.base = p, .len = len, .nq = nq, .qsize = qsize};
    layout(m);
    reset_contents(m, owner_id);
    *fd_out = fd;
    return 0;
}

int inflight_attach(struct inflight_map *m, int fd, const struct vhost_user_inflight *d, uint64_t owner_id)
{
    int rc = check_shape(d->num_queues, d->queue_size);
    size_t len = inflight_region_size(d->num_queues, d->queue_size);
    if (rc == 0 && (d->mmap_offset != 0 || d->mmap_size != len))
        rc = err_set(EINVAL, "inflight region: %llu bytes at offset %llu, this layout needs %zu at 0",
                     (unsigned long long)d->mmap_size, (unsigned long long)d->mmap_offset, len);
    void *p = NULL;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if ((rc = vu_inflight_map("inflight region", fd, len, &p)) < 0)
        return rc;
    inflight_detach(m);
    *m = (struct inflight_map){.base = p, .len = len, .nq = d->num_queues, .qsize = d->queue_size};
    layout(m);
    if (m->ext->magic != INFLIGHT_MAGIC || m->ext->version != INFLIGHT_VERSION || m->ext->owner_id != owner_id)
        reset_contents(m, owner_id);
    /* The front end can write the region at any time: whoever reads the commit takes a private
     * copy first and checks that (inflight_commit_snapshot), never the shared one. */
    return 0;
}

int inflight_private(struct inflight_map *m, uint64_t owner_id)
{
    inflight_detach(m);
    struct inflight_ext *e = calloc(1, sizeof(*e));
    if (!e)
        return err_set(ENOMEM, "inflight: out of memory");
    *m = (struct inflight_map){.ext = e, .private_ext = true};
    e->magic = INFLIGHT_MAGIC;
    e->version = INFLIGHT_VERSION;
    e->owner_id = owner_id;
    return 0;
}

void inflight_detach(struct inflight_map *m)
{
    if (m->base)
        munmap(m->base, m->len);
    else if (m->private_ext)
        free(m->ext);
    *m = (struct inflight_map){0};
}

bool inflight_commit_snapshot(const struct inflight_map *m, struct inflight_commit *out)
{
    const struct inflight_commit *c = &m->ext->commit;
    if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != INFLIGHT_COMMIT_LIVE)
        return false;
    /* One copy of shared memory; every check and use below is on the copy. */
    memcpy(out, (const void *)c, sizeof(*out));
    out->state = INFLIGHT_COMMIT_LIVE;
    return out->ndest <= INFLIGHT_MAX_DEST;
}
