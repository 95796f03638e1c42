/* Lazy restore: guest RAM filled from a snapshot file while the guest already runs
 * (docs/snapshot-format.md, "Lazy restore").
 *
 * The guest-RAM memfd stays what it is (the balloon punches holes in it, vhost-user backends
 * map it); a userfaultfd is registered on the monitor's mapping of it in MISSING mode. A
 * fault-handling thread answers each first touch of a page (by a vCPU, by KVM itself from
 * the kernel, e.g. kvmclock and the APIC page, or by a device thread of the monitor) with
 * UFFDIO_COPY of its whole run, read from the snapshot file into private memory and checked
 * there, or UFFDIO_ZEROPAGE for a page the file does not hold; a background thread copies
 * the saved runs in RAM order the same way. The file is never mapped (it may shrink or
 * change under us): pread, with every read's length checked. When every saved page is in,
 * the userfaultfd is unregistered and closed and the file closed: from then on guest RAM is
 * an ordinary memfd again.
 *
 * Until then another process mapping the memfd sees holes (zeroes) where pages are not yet
 * filled: a device that shares guest memory with another process must wait for
 * mem_populate_wait() (guest_mem_wait_populated()) before handing the memory over.
 *
 * Integrity: each saved run's CRC is checked, on the private copy the pages are then copied
 * from, before any page of it reaches the guest; a mismatch or a short read stops the domain
 * (on_error) and the guest never sees the damaged bytes. */
#ifndef XENO_VMM_CORE_MEM_POPULATE_H
#define XENO_VMM_CORE_MEM_POPULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/snapshot.h"

struct mem_populate;

struct mem_populate_stats {
    uint64_t faults;       /* page faults answered */
    uint64_t copied_pages; /* from the file, by either thread */
    uint64_t zero_pages;   /* UFFDIO_ZEROPAGE answers */
    uint64_t populate_ns;  /* start to fully populated (0 while not yet) */
};

/* Called once, from a populate thread, when the file turns out damaged (msg says where). */
typedef void (*mem_populate_error_fn)(void *opaque, const char *msg);

/* Starts filling `size` bytes of RAM (memfd, mapped at host; every page must be a hole) from
 * the saved runs of img (copied here, with img->src.size; file_fd: the snapshot file,
 * duplicated here: the caller may close its own descriptor and free img afterwards). 0, or a
 * negative errno with err_set() (no userfaultfd here: -ENOSYS, -EPERM ...; a run over
 * SNAP_RUN_MAX_PAGES: -ENOTSUP; nothing was changed, the caller can copy eagerly instead). */
int mem_populate_start(struct mem_populate **out, uint8_t *host, uint64_t size, int memfd, int file_fd,
                       const struct snap_image *img, mem_populate_error_fn on_error, void *opaque);
/* The balloon gives [offset, offset+len) of RAM back: never fill it from the file again.
 * Call before punching the hole. Any thread. */
void mem_populate_discard(struct mem_populate *p, uint64_t offset, uint64_t len);
/* Whether every saved page is in (or the fill ended on an error). */
bool mem_populate_done(struct mem_populate *p);
/* Waits until done: 0, -ETIMEDOUT after timeout_ms (< 0: no limit), or -EIO if the file was
 * damaged (the domain is being stopped). */
int mem_populate_wait(struct mem_populate *p, int timeout_ms);
void mem_populate_get_stats(struct mem_populate *p, struct mem_populate_stats *st);
/* Ends the threads (the fill need not be complete), unregisters, frees. */
void mem_populate_stop(struct mem_populate *p);

#endif
