/* An indexed binary min-heap of queue numbers keyed by a 64-bit tag, for the disk I/O
 * scheduler (src/blk/iosched.c): each queue is in a heap at most once and knows its own
 * position, so changing or removing it is O(log n) and nothing is allocated after
 * blk_heap_init(). Ties go to the lower queue number, so a decision never depends on the
 * order of earlier operations (the simulated-clock tests rely on that). Not thread-safe:
 * the scheduler's one caller owns it. */
#ifndef XENO_BLK_IOSCHED_HEAP_H
#define XENO_BLK_IOSCHED_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_HEAP_NONE UINT32_MAX

struct blk_heap_entry {
    uint64_t key;
    uint32_t queue;
};

struct blk_heap {
    struct blk_heap_entry *e; /* e[0..n-1], a min-heap on (key, queue) */
    uint32_t *pos;            /* pos[queue]: index in e, or BLK_HEAP_NONE when not in the heap */
    uint32_t n, cap;
};

/* Room for queues 0..cap-1. 0 or -ENOMEM (with a message). */
int blk_heap_init(struct blk_heap *h, uint32_t cap);
void blk_heap_free(struct blk_heap *h);

static inline bool blk_heap_has(const struct blk_heap *h, uint32_t queue)
{
    return h->pos[queue] != BLK_HEAP_NONE;
}
static inline bool blk_heap_empty(const struct blk_heap *h)
{
    return h->n == 0;
}
/* The smallest entry; the heap must not be empty. */
static inline const struct blk_heap_entry *blk_heap_top(const struct blk_heap *h)
{
    return &h->e[0];
}

/* Inserts queue with key, or moves it to key if it is there already. */
void blk_heap_set(struct blk_heap *h, uint32_t queue, uint64_t key);
/* Takes queue out if it is there. */
void blk_heap_remove(struct blk_heap *h, uint32_t queue);
/* Subtracts delta, at most the smallest key, from every key: keeps the order (ties too),
 * for rebasing tags. */
void blk_heap_rebase(struct blk_heap *h, uint64_t delta);

#endif
