#include "vhost/vu_log.h"

#include "lib/err.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int vu_log_map(struct vu_log *l, int fd, uint64_t size, uint64_t offset)
{
    int rc;
    if (size == 0 || size > VU_LOG_MAX_BYTES || offset > VU_LOG_MAX_BYTES) {
        rc = err_set(EINVAL, "dirty log of %llu bytes at offset %llu (1 to %llu bytes)", (unsigned long long)size,
                     (unsigned long long)offset, (unsigned long long)VU_LOG_MAX_BYTES);
        goto out;
    }
    if ((rc = mem_fd_check(fd, offset + size, "dirty log")) < 0)
        goto out;
    void *p = mmap(NULL, offset + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = err_set(errno, "dirty log: mmap of %llu bytes: %s", (unsigned long long)(offset + size), strerror(errno));
        goto out;
    }
    vu_log_unmap(l);
    *l = (struct vu_log){.bits = (uint8_t *)p + offset, .size = size, .map = p, .map_len = offset + size};
out:
    close(fd);
    return rc;
}

void vu_log_unmap(struct vu_log *l)
{
    if (l->map)
        munmap(l->map, l->map_len);
    memset(l, 0, sizeof(*l));
}

void vu_log_mark(const struct vu_log *l, uint64_t gpa, uint64_t len)
{
    if (!l || !l->bits || !len)
        return;
    uint64_t first = gpa / VHOST_LOG_PAGE, end = l->size * 8;
    /* The last byte's page; an end past 2^64 is cut at the top (no real range is that big). */
    uint64_t last = (gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1) / VHOST_LOG_PAGE;
    if (last >= end)
        last = end - 1;
    for (uint64_t p = first; p <= last && p < end; p++)
        __atomic_fetch_or(&l->bits[p / 8], (uint8_t)(1u << (p % 8)), __ATOMIC_RELEASE);
}

void vu_log_mark_host(const struct vu_log *l, const struct mem_table *m, const void *p, uint64_t len)
{
    if (!l || !l->bits || !len)
        return;
    const uint8_t *b = p;
    for (unsigned i = 0; i < m->n; i++) {
        const struct mem_region *r = &m->r[i];
        if (b >= r->host && (uint64_t)(b - r->host) < r->size && len <= r->size - (uint64_t)(b - r->host)) {
            vu_log_mark(l, r->gpa + (uint64_t)(b - r->host), len);
            return;
        }
    }
}
