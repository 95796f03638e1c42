#include "vmm/core/guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/core/mem_populate.h"

static void layout(struct guest_mem *mem, uint64_t size)
{
    uint64_t low = size < GUEST_MMIO_HOLE_START ? size : GUEST_MMIO_HOLE_START;
    mem->size = size;
    mem->nranges = 1;
    mem->ranges[0] = (struct guest_range){.gpa = 0, .size = low, .offset = 0};
    if (size > low) {
        mem->ranges[1] = (struct guest_range){.gpa = GUEST_HIGH_RAM_START, .size = size - low, .offset = low};
        mem->nranges = 2;
    }
}

int guest_mem_create(struct guest_mem *mem, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    if (size == 0 || size % 4096)
        return err_set(EINVAL, "guest memory size %llu is not a positive multiple of 4 KiB", (unsigned long long)size);
    int fd = memfd_create("xeno-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return err_set(errno, "memfd_create for guest RAM: %s", strerror(errno));
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "sizing guest RAM memfd to %llu bytes: %s", (unsigned long long)size, strerror(e));
    }
    /* The vhost-user backend maps this fd and refuses one that could shrink under it (a
     * SIGBUS there would take down every domain's network). Punching holes (balloon, lazy
     * restore) is still allowed: it keeps the size. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "sealing the guest RAM memfd against shrinking: %s", strerror(e));
    }
    /* MAP_NORESERVE: the guest touches RAM lazily; a 4 GiB domain that uses 100 MiB costs 100 MiB. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return err_set(e, "mapping %llu bytes of guest RAM: %s", (unsigned long long)size, strerror(e));
    }
    mem->fd = fd;
    mem->host = p;
    layout(mem, size);
    return 0;
}

void guest_mem_init_buffer(struct guest_mem *mem, uint8_t *buf, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    mem->host = buf;
    layout(mem, size);
}

void guest_mem_destroy(struct guest_mem *mem)
{
    mem_populate_stop(mem->populate); /* its threads use the mapping */
    mem->populate = NULL;
    if (mem->fd >= 0) {
        munmap(mem->host, mem->size);
        close(mem->fd);
    }
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < mem->nranges; i++) {
        const struct guest_range *r = &mem->ranges[i];
        /* Written so that no sum can overflow, whatever the guest passes. */
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return mem->host + r->offset + (gpa - r->gpa);
    }
    return NULL;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *dst = guest_mem_ptr(mem, gpa, len);
    if (!dst)
        return err_set(EFAULT, "guest range 0x%llx-0x%llx is not RAM", (unsigned long long)gpa,
                       (unsigned long long)(gpa + len));
    memcpy(dst, src, len);
    return 0;
}

void guest_mem_mark_dirty(const struct guest_mem *mem, const void *host, uint64_t len)
{
    uint64_t *bits = __atomic_load_n(&mem->dirty, __ATOMIC_ACQUIRE);
    const uint8_t *p = host;
    if (!bits || !len || p < mem->host || (uint64_t)(p - mem->host) >= mem->size)
        return;
    uint64_t first = (uint64_t)(p - mem->host) / 4096, last = ((uint64_t)(p - mem->host) + len - 1) / 4096;
    if (last >= mem->size / 4096)
        last = mem->size / 4096 - 1;
    for (uint64_t pg = first; pg <= last; pg++)
        __atomic_fetch_or(&bits[pg / 64], 1ULL << (pg % 64), __ATOMIC_RELAXED);
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
    return mem->ranges[0].size;
}

int guest_mem_wait_populated(const struct guest_mem *mem, int timeout_ms)
{
    return mem->populate ? mem_populate_wait(mem->populate, timeout_ms) : 0;
}

void guest_mem_discarding(const struct guest_mem *mem, uint64_t offset, uint64_t len)
{
    if (mem->populate)
        mem_populate_discard(mem->populate, offset, len);
}
