/* A vhost-user front end's memory table, mapped into the backend: the only way xeno-netback
 * touches guest memory. Every address a ring or a descriptor names is translated here and
 * must lie entirely inside one region; anything else is refused (NULL), never clamped. */
#ifndef XENO_VHOST_MEM_TABLE_H
#define XENO_VHOST_MEM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/vhost_user.h"

struct mem_region {
    uint64_t gpa; /* guest-physical start (descriptor addresses) */
    uint64_t uva; /* front end's virtual start (ring addresses of SET_VRING_ADDR) */
    uint64_t size;
    uint8_t *host; /* our mapping of gpa */
    void *map;     /* what mmap returned (host - mmap_offset) */
    size_t map_len;
};

struct mem_table {
    unsigned n;
    struct mem_region r[VHOST_USER_MAX_REGIONS];
};

/* Checks an fd of memory a front end shares with us (a memory region, the inflight region)
 * before it is mapped: it must carry F_SEAL_SHRINK (F_GET_SEALS), else the front end could
 * shrink the file under our mapping and kill the backend, shared by every domain, with SIGBUS
 * on the next access; then it must hold `need` bytes (fstat, after the seal check: the size
 * can no longer go down). 0; -EPERM (not a sealable file, or not sealed against shrinking:
 * the caller drops the front end) or -EINVAL (too small), with a message naming `what`. */
int mem_fd_check(int fd, uint64_t need, const char *what);

/* Maps the regions of a SET_MEM_TABLE message; fds[i] belongs to region i. Each region must
 * be non-empty, sealed and fit its fd (mem_fd_check) and not overlap another one in
 * guest-physical or front-end space. The fds are closed in
 * every case (the mappings keep the memory). On success the old table is replaced; on
 * failure (-EPERM for an fd without F_SEAL_SHRINK, -EINVAL/-ENOMEM, with a message) `m` is
 * unchanged. */
int mem_table_map(struct mem_table *m, const struct vhost_user_mem_table *t, const int *fds);
void mem_table_unmap(struct mem_table *m);

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL. len 0 is allowed
 * (an empty buffer still needs a valid address). */
static inline void *mem_table_gpa(const struct mem_table *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->n; i++) {
        const struct mem_region *r = &m->r[i];
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

/* Same for a front-end virtual address (the rings). */
void *mem_table_uva(const struct mem_table *m, uint64_t uva, uint64_t len);

#endif
