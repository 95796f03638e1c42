/* The live-counters page a monitor shares with xenod: a file in the domain's run directory,
 * written only by the monitor and mapped read-only by xenod, so `xenctl list` and metering
 * read counters without a round trip to the monitor.
 *
 * Consistency is a sequence lock: the writer makes `seq` odd, writes, makes it even again;
 * a reader copies the page and retries while seq was odd or changed under it. */
#ifndef XENO_LIB_STATS_PAGE_H
#define XENO_LIB_STATS_PAGE_H

#include <stdint.h>

#define STATS_PAGE_MAGIC 0x58535441u /* "ATSX" little-endian: XenoServer sTAts */
#define STATS_PAGE_VERSION 1
#define STATS_PAGE_MAX_VCPUS 32
#define STATS_PAGE_SIZE 4096

enum dom_state {
    DOM_STATE_NONE = 0,
    DOM_STATE_RUNNING,  /* some vCPU used CPU time in the last interval */
    DOM_STATE_BLOCKED,  /* every vCPU halted, waiting for an interrupt */
    DOM_STATE_PAUSED,   /* vCPUs stopped by the operator */
    DOM_STATE_SHUTDOWN, /* powered off (kept by on_poweroff=preserve) */
    DOM_STATE_CRASHED,  /* crashed (kept by on_crash=preserve) */
};

struct stats_page {
    uint32_t magic;
    uint32_t version;
    volatile uint32_t seq;
    uint32_t state; /* enum dom_state */
    uint32_t nvcpus;
    uint32_t pid;
    uint64_t started_ns;  /* CLOCK_REALTIME when the monitor started */
    uint64_t updated_ns;  /* CLOCK_REALTIME of the last update */
    uint64_t cpu_ns;      /* all vCPU threads' CPU time */
    uint64_t vcpu_ns[STATS_PAGE_MAX_VCPUS];
    uint64_t exits_io, exits_mmio;
    uint64_t console_out_bytes, console_in_bytes;
    uint64_t memory_bytes;
    uint64_t boots; /* 1 + restarts after a guest reboot */
};

_Static_assert(sizeof(struct stats_page) <= STATS_PAGE_SIZE, "stats page must fit one page");

/* "running", "blocked", "paused", "shutdown", "crashed"; "none" for DOM_STATE_NONE and
 * anything unknown. These are the words of the control channel's `event state`. */
const char *dom_state_name(enum dom_state s);

/* The sequence lock (stats_page.c). The writer brackets every update with begin/end. A
 * reader copies a consistent snapshot into *out: 0; -EAGAIN when the writer kept the page
 * busy through every retry (try again later); -EPROTO when the page is not a valid stats
 * page (wrong magic or version, e.g. a monitor still initialising it). */
void stats_page_write_begin(struct stats_page *p);
void stats_page_write_end(struct stats_page *p);
int stats_page_read(const struct stats_page *shared, struct stats_page *out);

#endif
