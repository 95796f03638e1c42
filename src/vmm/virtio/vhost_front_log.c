#include "vmm/virtio/vhost_front_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"

#define LOG_PAGE 4096u

int vhost_front_log_init(struct vhost_front_log *l, const struct guest_mem *mem)
{
    l->fd = -1;
    l->bits = NULL;
    l->size = 0;
    uint64_t end = 0;
    for (unsigned i = 0; i < mem->nranges; i++)
        if (mem->ranges[i].gpa + mem->ranges[i].size > end)
            end = mem->ranges[i].gpa + mem->ranges[i].size;
    uint64_t pages = (end + LOG_PAGE - 1) / LOG_PAGE;
    uint64_t size = (pages + 63) / 64 * 8;
    if (size == 0)
        size = 8;
    l->fd = memfd_create("vhost-dirty-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (l->fd < 0)
        return err_set(errno, "dirty log: memfd_create: %s", strerror(errno));
    if (ftruncate(l->fd, (off_t)size) < 0 || fcntl(l->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return err_set(errno, "dirty log of %llu bytes: %s", (unsigned long long)size, strerror(errno));
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
    if (p == MAP_FAILED)
        return err_set(errno, "dirty log: mmap of %llu bytes: %s", (unsigned long long)size, strerror(errno));
    l->bits = p;
    l->size = size;
    return 0;
}

void vhost_front_log_destroy(struct vhost_front_log *l)
{
    if (l->bits)
        munmap(l->bits, l->size);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->bits = NULL;
    l->size = 0;
}

void vhost_front_log_mark(struct vhost_front_log *l, uint64_t gpa, uint64_t len)
{
    if (!l->bits || len == 0 || gpa + len < gpa)
        return;
    uint64_t words = l->size / 8;
    for (uint64_t p = gpa / LOG_PAGE; p <= (gpa + len - 1) / LOG_PAGE && p / 64 < words; p++)
        __atomic_or_fetch(&l->bits[p / 64], 1ull << (p % 64), __ATOMIC_RELEASE);
}

/* The RAM page (memfd offset / 4096) of guest-physical page p, or UINT64_MAX. */
static uint64_t ram_page(const struct guest_mem *mem, uint64_t p)
{
    uint64_t gpa = p * LOG_PAGE;
    for (unsigned i = 0; i < mem->nranges; i++) {
        const struct guest_range *g = &mem->ranges[i];
        if (gpa >= g->gpa && gpa - g->gpa < g->size)
            return (g->offset + (gpa - g->gpa)) / LOG_PAGE;
    }
    return UINT64_MAX;
}

uint64_t vhost_front_log_collect(struct vhost_front_log *l, const struct guest_mem *mem, uint64_t *out, uint64_t npages)
{
    uint64_t n = 0;
    for (uint64_t w = 0; l->bits && w < l->size / 8; w++) {
        if (!__atomic_load_n(&l->bits[w], __ATOMIC_RELAXED))
            continue;
        uint64_t v = __atomic_exchange_n(&l->bits[w], 0, __ATOMIC_ACQ_REL);
        while (v) {
            uint64_t r = ram_page(mem, w * 64 + (uint64_t)__builtin_ctzll(v));
            v &= v - 1;
            if (r < npages) {
                out[r / 64] |= 1ull << (r % 64);
                n++;
            }
        }
    }
    return n;
}
