/* Guest RAM: one memfd mapped once into the monitor, split into the guest-physical ranges of
 * docs/machine.md (below the 3 GiB MMIO hole, and the rest from 4 GiB up).
 *
 * A memfd rather than anonymous memory because other processes need the same pages: device
 * backends (vhost-user) map it, snapshots write it, ballooning punches holes in it.
 * Every guest-physical access from the monitor goes through guest_mem_ptr(), which bounds-checks
 * the whole range: guest-supplied addresses are never trusted. */
#ifndef XENO_VMM_CORE_GUEST_MEM_H
#define XENO_VMM_CORE_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MMIO_HOLE_START 0xC0000000ULL /* 3 GiB */
#define GUEST_HIGH_RAM_START 0x100000000ULL /* 4 GiB */
#define GUEST_MAX_RANGES 2

struct guest_range {
    uint64_t gpa;    /* guest-physical start */
    uint64_t size;   /* bytes */
    uint64_t offset; /* offset in the memfd and in host mapping */
};

struct guest_mem {
    int fd;        /* memfd holding all guest RAM */
    uint8_t *host; /* MAP_SHARED mapping of the whole memfd */
    uint64_t size; /* total RAM bytes */
    unsigned nranges;
    struct guest_range ranges[GUEST_MAX_RANGES];
    /* While a live migration runs: one bit per page the monitor itself wrote (devices
     * writing used rings and buffers), which KVM's dirty log does not see; else NULL.
     * Set and taken by dirty_log.c; bits are set with atomic ORs from any thread. */
    uint64_t *dirty;
    /* While a lazy restore fills RAM from a snapshot (mem_populate.h), else NULL. */
    struct mem_populate *populate;
};

/* Creates RAM of `size` bytes (a multiple of 4 KiB) laid out around the MMIO hole. */
int guest_mem_create(struct guest_mem *mem, uint64_t size);
/* Wraps an existing buffer (unit tests, no memfd). */
void guest_mem_init_buffer(struct guest_mem *mem, uint8_t *buf, uint64_t size);
void guest_mem_destroy(struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) if that whole range is RAM of one range, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copies into guest RAM; -EFAULT with a message if the range is not all RAM. */
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/* Marks [host, host+len) (a pointer into this RAM) written, if dirty tracking is on. */
void guest_mem_mark_dirty(const struct guest_mem *mem, const void *host, uint64_t len);

/* After a lazy restore, pages not yet filled from the snapshot are holes in the memfd:
 * another process mapping it (a vhost-user backend) would read zeroes there. Any device
 * that shares guest memory with another process must wait for this before handing the
 * memfd over. 0 once RAM holds everything (at once without a lazy restore), -ETIMEDOUT
 * after timeout_ms (< 0: no limit), -EIO if the snapshot was damaged (the domain stops). */
int guest_mem_wait_populated(const struct guest_mem *mem, int timeout_ms);
/* The balloon is about to punch [offset, offset+len): a lazy restore must not fill it again. */
void guest_mem_discarding(const struct guest_mem *mem, uint64_t offset, uint64_t len);

/* End of RAM below the MMIO hole (the low range's size). */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

#endif
