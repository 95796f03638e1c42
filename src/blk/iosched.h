/* The host's disk I/O scheduler (docs/blkback.md, "Scheduler"): mClock (Gulati, Merchant,
 * Varman, OSDI 2010) over the queues xeno-blkback serves (one per disk), each with
 *   reservation  cost units per second it gets whatever the others do (0: none);
 *   weight       1..BLK_IOSCHED_WEIGHT_MAX: its share of what is left;
 *   limits       libvirt's <iotune> in IOPS and bytes/s with _max bursts (iosched_limit.h);
 *   groups       up to BLK_IOSCHED_QUEUE_GROUPS limit sets it shares with other queues:
 *                libvirt's group_name (disks of a group share one limit, so splitting a disk
 *                into N does not give N quotas) and a per-sponsor group over all its disks.
 * Pure decision code: no I/O, no clock reads (times are ns on a monotonic clock, passed in),
 * no allocation per request (a group's heaps grow in blk_iosched_queue_set when a queue
 * joins it), O(log n) per decision in the number of queues: the queues sit in a tree of
 * heaps by group (iosched_tree.h), and a group over its limit waits whole, one move however
 * many members it holds. One thread at a time (blkback's scheduling thread); nothing here
 * blocks.
 *
 * Cost model: a request of S bytes costs 1 + S / ref_bytes units, as in mClock, with
 * ref_bytes the size at which the device spends as long moving data as it spends per
 * request (blk_capacity_derive in iosched_admit.h fits it to what --calibrate measured;
 * BLK_IOSCHED_REF_BYTES_DEFAULT without a measurement). Reservations, weights and the
 * device's capacity are in these units, so a reservation means the same share of the
 * device for small and large requests; the limits are libvirt's, in plain operations and
 * bytes.
 *
 * Tags (per queue, for its head request; mClock's R and P, L is the limits):
 *   R = max(R_prev + cost / reservation, arrival)   due time of the reservation, in ns;
 *   P = P_prev + cost x BLK_IOSCHED_P_SCALE / weight   the weight's virtual time, with
 *       P_prev raised to V when the queue becomes backlogged or its settings change.
 * A decision first serves, among queues within their limits, the smallest R tag <= now
 * (constraint-based phase), else the smallest P tag (weight-based phase, work-conserving).
 * Both phases advance P (so a queue gets the larger of its reservation and its weight's
 * share); a weight-phase pick leaves R_prev (mClock's R-tag adjustment), so service above
 * the reservation does not use it up. Re-synchronisation of an idle queue: R restarts at
 * its arrival time, P at V, the P tag of the last weight-phase pick less its cost (start-time
 * fair queueing's virtual time) — a queue that was idle has no credit to spend, and is not
 * penalised for what the others got meanwhile; a queue that stays backlogged (held by a
 * limit or not) keeps its tags, so disks sharing a group limit take turns. Limits are
 * hard: a queue over one of its own or its groups' limits is not served in either phase
 * until the limit allows it.
 *
 * The device: at most device_depth requests are dispatched and not yet completed, so the
 * queueing (and the ordering) happens here, not in the device.
 *
 * Usage in the backend:
 *     blk_iosched_create(&(struct blk_iosched_config){.queues = 64, .groups = 16,
 *                        .queue_depth = 256, .device_depth = 32, .ref_bytes = cap.ref_bytes}, now, &s);
 *     blk_iosched_queue_set(s, disk, &params, now);          // live, any time
 *     blk_iosched_enqueue(s, disk, &(struct blk_io){.cookie = req, .bytes = len, .dir = BLK_IO_READ}, now);
 *     struct blk_iosched_pick p;
 *     while (blk_iosched_dispatch(s, now, &p) == 0)
 *         submit(p.io.cookie);                              // io_uring
 *     // -EAGAIN: arm a timer for p.retry_at_ns (UINT64_MAX: nothing waits); -EBUSY: wait for a completion
 *     on completion: blk_iosched_complete(s, disk), then dispatch again.
 */
#ifndef XENO_BLK_IOSCHED_H
#define XENO_BLK_IOSCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "blk/iosched_limit.h"

#define BLK_IOSCHED_REF_BYTES_DEFAULT 32768u
#define BLK_IOSCHED_REF_BYTES_MIN 4096u
#define BLK_IOSCHED_REF_BYTES_MAX (16u << 20)
#define BLK_IOSCHED_WEIGHT_DEFAULT 100u /* cgroup v2 io.weight's default */
#define BLK_IOSCHED_WEIGHT_MAX 10000u   /* cgroup v2 io.weight's range 1..10000 */
#define BLK_IOSCHED_COST_ONE 65536u     /* cost fixed point: one unit */
#define BLK_IOSCHED_P_SCALE (1ull << 20)
#define BLK_IOSCHED_MAX_RESERVE (1ull << 32) /* units per second */
#define BLK_IOSCHED_QUEUE_GROUPS 2           /* group_name, sponsor */
/* A queue or a group held by a limit comes back this long after the limit would let one
 * request pass, so that it is held and woken once per batch of requests rather than once
 * per request; the members a group holds come back at one time (with the group), to compete
 * by their tags. Below every bucket's tolerance (BLK_LIMIT_SLACK_NS, BLK_LIMIT_PEAK_SLACK_NS),
 * so the batch it lets through is not cut off and the rates are unchanged; only the pacing
 * is coarser. 3 ms (2 before 2026-12-08): a hold and a wake cost about 100 ns, and a group
 * of 2000 IOPS is held every 4 requests at 2 ms, every 6 at 3 (bench/README.md, "A 3 ms
 * batch"); Linux's blk-throttle dispatches from a timer of jiffy resolution, 4 ms at HZ=250. */
#define BLK_IOSCHED_WAKE_BATCH_NS 3000000ull
#define BLK_IOSCHED_NO_GROUP 0 /* groups are numbered 1..groups */
/* From this many queues (config.queues) up, the queues sit in heaps by group, a group over
 * its limit waiting whole (iosched_tree.h); below, all in the root's heaps, and a group over
 * its limit holds its members one by one as each is placed or picked (the structure before
 * the heaps by group). By default always by group: measured (bench/README.md, 2026-12-07
 * 18:39), this code's flat heaps were slower than the tree at 1 and 100 disks and the same
 * at 10; a larger tree_from is for the tests, which check that both follow the same
 * rules. */
#define BLK_IOSCHED_TREE_FROM_DEFAULT 1u

struct blk_io {
    uint64_t cookie;     /* the caller's request (returned by dispatch) */
    uint32_t bytes;      /* 0..BLK_IO_MAX_BYTES */
    enum blk_io_dir dir; /* read, or write (writes, discards, write-zeroes, flushes) */
};

struct blk_iosched_config {
    uint32_t queues;       /* queue numbers 0..queues-1 (disks) */
    uint32_t groups;       /* group numbers 1..groups (may be 0: no groups) */
    uint32_t queue_depth;  /* requests waiting per queue at most (the virtqueue size) */
    uint32_t device_depth; /* requests dispatched and not completed at most, >= 1 */
    uint32_t ref_bytes;    /* the cost model's reference size; 0: BLK_IOSCHED_REF_BYTES_DEFAULT */
    uint32_t tree_from;    /* heaps by group from this many queues up; 0: BLK_IOSCHED_TREE_FROM_DEFAULT (always) */
};

struct blk_iosched_params {
    uint64_t reservation; /* cost units per second; 0: none */
    uint32_t weight;      /* 0: BLK_IOSCHED_WEIGHT_DEFAULT */
    struct blk_iotune limits;
    uint32_t group[BLK_IOSCHED_QUEUE_GROUPS]; /* group numbers 1..groups, or BLK_IOSCHED_NO_GROUP (0) */
};

enum blk_iosched_phase {
    BLK_IOSCHED_RESERVATION = 0,
    BLK_IOSCHED_WEIGHT = 1,
};

struct blk_iosched_pick {
    uint32_t queue;
    struct blk_io io;
    enum blk_iosched_phase phase;
    uint64_t retry_at_ns; /* with -EAGAIN: when a request may become eligible (UINT64_MAX: none waits) */
};

struct blk_iosched_stats {
    uint64_t dispatched, by_reservation; /* requests */
    uint64_t bytes, cost_units;          /* cost_units: in BLK_IOSCHED_COST_ONE fixed point */
    uint64_t throttled_ns;               /* time with requests waiting but over a limit */
    uint32_t queued, inflight;
};

struct blk_iosched;

/* 0 and *out, or -EINVAL (bad sizes) / -ENOMEM with a message. Everything the scheduler will
 * use is allocated here. */
int blk_iosched_create(const struct blk_iosched_config *cfg, uint64_t now_ns, struct blk_iosched **out);
void blk_iosched_destroy(struct blk_iosched *s);

/* Sets (first time: adds) a group's limits, live. -EINVAL with a message for a bad value or
 * group number. A group without limits limits nothing. */
int blk_iosched_group_set(struct blk_iosched *s, uint32_t group, const struct blk_iotune *t, uint64_t now_ns);

/* Sets (first time: adds) a queue's parameters, live: the new values apply from the next
 * decision, tags and debts are kept (a changed limit as in blk_limits_set), and a queue whose
 * groups change moves to its new groups' heaps. -EINVAL with a message naming the value, or
 * -ENOMEM (a group's heaps could not grow; nothing changed). */
int blk_iosched_queue_set(struct blk_iosched *s, uint32_t queue, const struct blk_iosched_params *p, uint64_t now_ns);
/* The queue's parameters. -ENOENT if unset. */
int blk_iosched_queue_get(const struct blk_iosched *s, uint32_t queue, struct blk_iosched_params *out);
/* Forgets a queue. -EBUSY while it has requests waiting or in flight, -ENOENT if unset. */
int blk_iosched_queue_remove(struct blk_iosched *s, uint32_t queue);

/* Queues a request. -ENOENT (queue unset), -ENOSPC (queue_depth requests already wait), -E2BIG
 * (more than BLK_IO_MAX_BYTES: the backend splits or refuses those), each with a message. */
int blk_iosched_enqueue(struct blk_iosched *s, uint32_t queue, const struct blk_io *io, uint64_t now_ns);
/* The next request to send to the device: 0 with out->queue, out->io, out->phase; -EAGAIN
 * when none may go now (out->retry_at_ns: when to ask again, UINT64_MAX when nothing waits);
 * -EBUSY when device_depth requests are in flight (ask again after a completion). */
int blk_iosched_dispatch(struct blk_iosched *s, uint64_t now_ns, struct blk_iosched_pick *out);
/* The head request of queue now, whatever the limits and the device depth (charged as
 * usual, so limits catch up afterwards): for a queue whose requests must finish at once (a
 * ring that stops). 0 with *out, -EAGAIN when the queue holds none (or is unset): then *out
 * is left as it was, out->retry_at_ns included: unlike blk_iosched_dispatch's -EAGAIN this
 * one has no time to ask again (nothing waits in that queue; its caller drains it until
 * -EAGAIN and then goes back to blk_iosched_dispatch). Kept so: test_blk_iosched_order's
 * hashes include the untouched field. */
int blk_iosched_dispatch_queue(struct blk_iosched *s, uint32_t queue, uint64_t now_ns, struct blk_iosched_pick *out);
/* A request of queue that dispatch returned has completed. */
void blk_iosched_complete(struct blk_iosched *s, uint32_t queue);

/* The cost of a request of bytes, in BLK_IOSCHED_COST_ONE fixed point. */
uint64_t blk_iosched_cost(const struct blk_iosched *s, uint32_t bytes);
/* Counters of queue since it was set. -ENOENT if unset. */
int blk_iosched_queue_stats(const struct blk_iosched *s, uint32_t queue, uint64_t now_ns,
                            struct blk_iosched_stats *out);

#endif
