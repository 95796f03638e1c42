#include "vhost/mem_table.h"

#include "lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A region larger than this is refused: it bounds what a front end can make us map. */
#define MEM_REGION_MAX (1ull << 40)

int mem_fd_check(int fd, uint64_t need, const char *what)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return err_set(EPERM, "%s: the fd cannot be sealed (%s): only a memfd sealed with F_SEAL_SHRINK is mapped",
                       what, strerror(errno));
    if (!(seals & F_SEAL_SHRINK))
        return err_set(EPERM, "%s: the memfd is not sealed against shrinking (seals 0x%x, F_SEAL_SHRINK needed)", what,
                       (unsigned)seals);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_set(errno, "%s: fstat: %s", what, strerror(errno));
    if ((uint64_t)st.st_size < need)
        return err_set(EINVAL, "%s needs %llu bytes of its fd, which has %lld", what, (unsigned long long)need,
                       (long long)st.st_size);
    return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int mem_table_map(struct mem_table *m, const struct vhost_user_mem_table *t, const int *fds)
{
    struct mem_table nt = {0};
    int rc = 0;
    unsigned n = t->nregions;
    if (n == 0 || n > VHOST_USER_MAX_REGIONS) {
        rc = err_set(EINVAL, "memory table: %u regions (1 to %u)", n, VHOST_USER_MAX_REGIONS);
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct vhost_user_mem_region *src = &t->regions[i];
        if (src->memory_size == 0 || src->memory_size > MEM_REGION_MAX ||
            src->guest_phys_addr + src->memory_size < src->guest_phys_addr ||
            src->userspace_addr + src->memory_size < src->userspace_addr || src->mmap_offset > MEM_REGION_MAX) {
            rc = err_set(EINVAL, "memory table: region %u (gpa 0x%llx size 0x%llx offset 0x%llx) is out of range", i,
                         (unsigned long long)src->guest_phys_addr, (unsigned long long)src->memory_size,
                         (unsigned long long)src->mmap_offset);
            goto out;
        }
        for (unsigned j = 0; j < i; j++) {
            const struct vhost_user_mem_region *o = &t->regions[j];
            if (overlaps(src->guest_phys_addr, src->memory_size, o->guest_phys_addr, o->memory_size) ||
                overlaps(src->userspace_addr, src->memory_size, o->userspace_addr, o->memory_size)) {
                rc = err_set(EINVAL, "memory table: regions %u and %u overlap", j, i);
                goto out;
            }
        }
        uint64_t need = src->mmap_offset + src->memory_size;
        char what[48];
        snprintf(what, sizeof(what), "memory table: region %u", i);
        rc = mem_fd_check(fds[i], need, what);
        if (rc < 0)
            goto out;
        /* Map from offset 0 so an unaligned mmap_offset needs no special case. */
        void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
        if (p == MAP_FAILED) {
            rc = err_set(errno, "memory table: region %u: mmap of %llu bytes: %s", i, (unsigned long long)need,
                         strerror(errno));
            goto out;
        }
        nt.r[i] = (struct mem_region){.gpa = src->guest_phys_addr,
                                      .uva = src->userspace_addr,
                                      .size = src->memory_size,
                                      .host = (uint8_t *)p + src->mmap_offset,
                                      .map = p,
                                      .map_len = need};
        nt.n = i + 1;
    }
out:
    for (unsigned i = 0; i < n && i < VHOST_USER_MAX_REGIONS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (rc < 0) {
        mem_table_unmap(&nt);
        return rc;
    }
    mem_table_unmap(m);
    *m = nt;
    return 0;
}

void mem_table_unmap(struct mem_table *m)
{
    for (unsigned i = 0; i < m->n; i++)
        munmap(m->r[i].map, m->r[i].map_len);
    m->n = 0;
}

void *mem_table_uva(const struct mem_table *m, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < m->n; i++) {
        const struct mem_region *r = &m->r[i];
        if (uva >= r->uva && uva - r->uva <= r->size && len <= r->size - (uva - r->uva))
            return r->host + (uva - r->uva);
    }
    return NULL;
}
