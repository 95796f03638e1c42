/* `save PATH shrink` (docs/snapshot-format.md, "Guest help before a save"): before the vCPUs
 * are paused, the guest is asked through its balloon to give back the memory it reports as
 * free, minus a margin; the balloon's pages are holes in guest RAM, so the save leaves them
 * out. Afterwards the old target comes back: at once if the domain runs on, on restore (the
 * file carries the old target) if it stops. */
#ifndef XENO_VMM_STATE_SAVE_SHRINK_H
#define XENO_VMM_STATE_SAVE_SHRINK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/virtio_balloon.h"

/* How long the guest gets: for a fresh statistics report, and to inflate. An inflation that
 * makes no progress for SAVE_SHRINK_STALL_MS ends the wait early. */
#define SAVE_SHRINK_STATS_MS 1000
#define SAVE_SHRINK_WAIT_MS 5000
#define SAVE_SHRINK_STALL_MS 500
/* Left to the guest: the larger of 8 MiB and 1/32 of its RAM. */
#define SAVE_SHRINK_MARGIN_MIN (8ULL << 20)
#define SAVE_SHRINK_MARGIN_DIV 32

struct save_shrink {
    bool asked;          /* the target was raised (and must come back) */
    uint32_t old_target; /* the balloon target before */
    uint32_t new_target;
    uint64_t free_bytes;  /* what the guest reported free */
    uint64_t given_bytes; /* what the balloon grew by */
    char why_not[160];    /* when nothing was asked: why */
};

/* Asks and waits (blocking the caller, the main loop, at most SAVE_SHRINK_STATS_MS +
 * SAVE_SHRINK_WAIT_MS). b may be NULL (no balloon: nothing asked, why_not says so). */
void save_shrink_begin(struct virtio_balloon *b, uint64_t mem_size, struct save_shrink *s);
/* Sets the old target again (the guest deflates and takes its memory back). */
void save_shrink_end(struct virtio_balloon *b, const struct save_shrink *s);

#endif
