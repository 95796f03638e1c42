/* virtio-balloon (device id 5, virtio 1.x section 5.5): the guest-facing half of memory
 * targets. The host sets num_pages (how many 4 KiB pages it wants the guest to hand over);
 * the guest's driver inflates (gives pages: their PFNs on the inflate queue) or deflates
 * (takes them back, on the deflate queue) and writes `actual`.
 *
 * What the device does with them:
 *   - inflate: every PFN is checked (inside guest RAM, not the MMIO hole, not below 1 MiB
 *     where boot info, the SMP trampoline and the ACPI tables live) and the page is
 *     released for real: fallocate(PUNCH_HOLE) on its offset in the guest RAM memfd, runs
 *     of consecutive pages in one call. The host's allocation (and the monitor's RSS, which
 *     maps the memfd) drops; the guest reading the page later gets zeros.
 *   - deflate: checked the same way, counted; nothing to do (a hole fills on next touch).
 *   - statsq (VIRTIO_BALLOON_F_STATS_VQ): the driver posts a buffer of {le16 tag, le64 val}
 *     entries; the device keeps the values and holds the buffer; virtio_balloon_request_stats
 *     gives it back (used), which asks the driver for fresh values.
 *   - reporting_vq (VIRTIO_BALLOON_F_REPORTING): free page reporting. Each device-writable
 *     buffer is a run of free guest pages: page-aligned, checked like PFNs, punched.
 *   - VIRTIO_BALLOON_F_DEFLATE_ON_OOM is offered: the driver may deflate under memory
 *     pressure. The host does not rely on the driver's honesty anyway (mem_target.h).
 * Queues: 0 inflateq, 1 deflateq, then statsq if STATS_VQ was negotiated, then reporting_vq
 * if REPORTING was (so reporting_vq is 3 with both, 2 without stats: the numbering the
 * Linux driver uses; no free page hinting is offered).
 *
 * Anything malformed breaks the device (DEVICE_NEEDS_RESET, virtio_dev_fail): a PFN outside
 * RAM or below 1 MiB, an inflate/deflate buffer that is not whole le32 PFNs or is
 * device-writable, more than VIRTIO_BALLOON_MAX_PFNS PFNs in one request, a stats buffer
 * that is not whole entries or longer than VIRTIO_BALLOON_STATS_MAX bytes, a report buffer
 * that is device-readable or not page-aligned, a queue with no role under the negotiated
 * features. The monitor logs it and carries on.
 *
 * Config space (le32): 0 num_pages (device -> driver), 4 actual (driver -> device), 8
 * free_page_hint_cmd_id and 12 poison_val (read 0: those features are not offered).
 *
 * Locking: the device's lock (virtio_mmio.h) guards everything below; the functions here
 * take it themselves (main loop), callbacks run with it held (virtio thread, vCPUs). */
#ifndef XENO_VMM_VIRTIO_VIRTIO_BALLOON_H
#define XENO_VMM_VIRTIO_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/guest_mem.h"

struct virtio_host;
struct virtio_dev;
struct virtq_elem;

/* Feature bits (section 5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

#define VIRTIO_BALLOON_PAGE_SIZE 4096u /* PFNs are always in 4 KiB pages */
#define VIRTIO_BALLOON_QUEUE_SIZE 128
#define VIRTIO_BALLOON_NQUEUES 4
#define VIRTIO_BALLOON_CONFIG_SIZE 16
/* The most PFNs one inflate or deflate request may carry (256 KiB of PFNs, 256 MiB of RAM):
 * bounds the work one notification makes the device do. */
#define VIRTIO_BALLOON_MAX_PFNS 65536
#define VIRTIO_BALLOON_STATS_MAX 4000 /* bytes of one stats buffer (400 entries) */
/* Guest-physical memory the balloon never takes: the first MiB (boot info at 0x6000-0x7fff,
 * the guest's SMP trampoline, the legacy BIOS area with the ACPI tables). */
#define VIRTIO_BALLOON_PROTECTED_END 0x100000ULL

/* Statistics tags (5.5.6.3). */
enum {
    VIRTIO_BALLOON_S_SWAP_IN = 0,
    VIRTIO_BALLOON_S_SWAP_OUT = 1,
    VIRTIO_BALLOON_S_MAJFLT = 2,
    VIRTIO_BALLOON_S_MINFLT = 3,
    VIRTIO_BALLOON_S_MEMFREE = 4,
    VIRTIO_BALLOON_S_MEMTOT = 5,
    VIRTIO_BALLOON_S_AVAIL = 6,
    VIRTIO_BALLOON_S_CACHES = 7,
    VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
    VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
    VIRTIO_BALLOON_S_NR = 10,
};
#define VIRTIO_BALLOON_STAT_NONE UINT64_MAX /* a tag the guest never reported */

/* What the device knows, copied out under its lock (virtio_balloon_get). */
struct virtio_balloon_state {
    bool driver_ok;                          /* DRIVER_OK and not broken */
    uint32_t num_pages;                      /* the target, in pages */
    uint32_t actual;                         /* the driver's claim, in pages (clamped to RAM) */
    uint64_t stats[VIRTIO_BALLOON_S_NR];     /* VIRTIO_BALLOON_STAT_NONE until reported */
    uint64_t stats_updates;                  /* stats buffers received */
    uint64_t stats_realtime_ns;              /* CLOCK_REALTIME of the last one; 0: never */
    uint64_t inflated_pages, deflated_pages; /* PFNs received, all time */
    uint64_t released_bytes;                 /* punched (inflate and reports) */
    uint64_t reported_bytes;                 /* of which free page reports */
    uint64_t punch_errors;                   /* fallocate failures (logged) */
};

struct virtio_balloon {
    struct virtio_dev *dev;
    const struct guest_mem *mem;
    struct virtq_elem *elem; /* scratch for popping */
    struct virtq_elem *held; /* the stats buffer the device holds */
    bool stats_held;
    uint64_t mem_pages; /* guest RAM in 4 KiB pages */
    struct virtio_balloon_state st;
    uint32_t pfns[1024]; /* a chunk of a request, read out of the ring */
    /* The target a snapshot records instead of num_pages (virtio_balloon_record_target). */
    bool record_target_set;
    uint32_t record_target;
};

/* Adds the device to the VM (the next virtio-mmio window: index 2 after console and rng).
 * NULL with err_msg(). */
struct virtio_balloon *virtio_balloon_create(struct virtio_host *h);

/* Main loop. Sets num_pages (clamped to the guest's RAM) and, when it changed, raises a
 * configuration-change interrupt. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t num_pages);
/* Main loop. Gives the held stats buffer back (if the driver runs the stats queue and
 * posted one): the driver answers with fresh values. */
void virtio_balloon_request_stats(struct virtio_balloon *b);
/* Main loop, around a save: the target the snapshot records instead of the device's
 * (`save ... shrink` records the target from before the shrink, so the guest gets its memory
 * back after the resume). set = 0 forgets it. */
void virtio_balloon_record_target(struct virtio_balloon *b, int set, uint32_t num_pages);
/* Any thread: a consistent copy of the device's state. */
void virtio_balloon_get(struct virtio_balloon *b, struct virtio_balloon_state *out);

/* For the device and unit tests: releases `len` bytes at `offset` in the guest RAM memfd
 * (page-aligned); a RAM without a memfd (unit tests over a buffer) is zeroed instead.
 * 0, or -errno (logged by the caller). */
int virtio_balloon_punch(const struct guest_mem *mem, uint64_t offset, uint64_t len);
/* The memfd offset of guest page `pfn`, if the balloon may take it (RAM, at or above
 * VIRTIO_BALLOON_PROTECTED_END): 0 and *offset, else -1. */
int virtio_balloon_pfn_offset(const struct guest_mem *mem, uint64_t pfn, uint64_t *offset);

#endif
