/* A memory target with a deadline (docs/control-interface.md): `mem-set TARGET DEADLINE_MS`
 * asks the guest to get down to (or may grow up to) TARGET bytes of RAM; the host measures
 * whether it did, it does not take the guest's word for it.
 *
 * The rule: the guest's RAM actually allocated on the host (the guest RAM memfd's blocks)
 * must be at most TARGET + 5% once DEADLINE_MS has passed since the request. Then:
 *   - reached in time: one "reached" verdict (as soon as a measurement sees it);
 *   - deadline passed unmet: one "missed" verdict (measured at the deadline itself);
 *   - after a reach, a guest that stays above the limit for a whole DEADLINE_MS again is
 *     "missed" again (it grew back: e.g. it deflated its balloon on its own);
 *   - after a miss nothing more is said until the guest gets within the limit, which is a
 *     (late) "reached"; only then can growing back be caught again. So a guest that never
 *     complies costs one event, not one per deadline.
 * A new target replaces the old one and starts afresh.
 *
 * This file is the rule alone, pure: a state and measurements with their times (a
 * monotonic clock in ns, given by the caller), so unit tests run it on a fake clock.
 * domain.c measures (mem_resident_bytes), keeps a timer at mem_target_due() and turns
 * verdicts into events and the enforcement (pause, destroy or report). */
#ifndef XENO_VMM_HOST_MEM_TARGET_H
#define XENO_VMM_HOST_MEM_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/stats_page.h" /* enum stats_memory_target_state */

/* Within the target: resident <= target + target / MEM_TARGET_SLACK_DIV (5%). */
#define MEM_TARGET_SLACK_DIV 20

struct mem_target {
    enum stats_memory_target_state state; /* NONE, PENDING, MET, MISSED */
    uint64_t target_bytes;
    uint64_t deadline_ms;
    uint64_t set_ns;        /* when the target was set */
    bool over;              /* MET: the guest is over the limit ... */
    uint64_t over_since_ns; /* ... since then */
};

enum mem_verdict {
    MEM_NOTHING = 0,
    MEM_REACHED,        /* within the limit (first time since set, or again after a miss) */
    MEM_MISSED,         /* the deadline passed with the guest over the limit */
    MEM_MISSED_REGROWN, /* after a reach, over the limit for a whole deadline */
};

/* Whether `resident` bytes meet `target` (5% slack). */
bool mem_target_within(uint64_t resident, uint64_t target);
/* Sets (or replaces) the target at time now_ns. */
void mem_target_set(struct mem_target *t, uint64_t target_bytes, uint64_t deadline_ms, uint64_t now_ns);
/* Forgets the target (state NONE). */
void mem_target_clear(struct mem_target *t);
/* Feeds one measurement taken at now_ns; returns what it means (and moves the state). */
enum mem_verdict mem_target_check(struct mem_target *t, uint64_t resident_bytes, uint64_t now_ns);
/* The time (ns, same clock) by which the next measurement must be fed for the verdict to
 * be on time: the deadline while PENDING, the end of a regrowth while MET and over; 0 when
 * nothing is due (periodic measurements are enough). */
uint64_t mem_target_due(const struct mem_target *t);
/* Milliseconds since the target was set. */
uint64_t mem_target_elapsed_ms(const struct mem_target *t, uint64_t now_ns);
const char *mem_verdict_name(enum mem_verdict v); /* "reached", "missed", "regrown", "nothing" */

/* The bytes of guest RAM allocated on the host: the memfd's blocks (holes punched by the
 * balloon are not counted; pages never touched are holes too). 0 if fd < 0. */
uint64_t mem_resident_bytes(int memfd);
/* This process's resident set in bytes (/proc/self/statm), 0 if unreadable. */
uint64_t mem_self_rss_bytes(void);
/* Opens /proc/self/statm once, kept for the process's life (main thread, before the sandbox). */
void mem_self_rss_open(void);

#endif
