/* An indexed binary min-heap keyed by a 64-bit tag, for the disk I/O scheduler
 * (src/blk/iosched.c): each member (an id) is in a heap at most once and its position is
 * kept in pos[id], so changing or removing it is O(log n) and nothing is allocated after
 * the heap's last blk_heap_init / blk_heap_reserve. An entry stands for a queue: a queue
 * itself, or a group of queues (src/blk/iosched_tree.c) standing for its best member, and
 * ties go to the lower queue number, so a decision never depends on the order of earlier
 * operations (the simulated-clock tests rely on that). Heaps of one scheduler may share one
 * pos array when no id is in two of them at once. Not thread-safe: the scheduler's one
 * caller owns it. */
#ifndef XENO_BLK_IOSCHED_HEAP_H
#define XENO_BLK_IOSCHED_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_HEAP_NONE UINT32_MAX

/* Laid out so that the entry read as one little-endian 128-bit number is (key, queue, id)
 * from the most significant end: the heap compares entries in one compare. id never
 * decides (two entries of one heap never stand for the same queue). */
struct blk_heap_entry {
    uint32_t id;    /* what is in the heap (pos[id]): the queue itself in a plain heap */
    uint32_t queue; /* the queue the entry stands for: ties go to the lower */
    uint64_t key;
};

struct blk_heap {
    struct blk_heap_entry *e; /* e[0..n-1], a min-heap on (key, queue) */
    uint32_t *pos;            /* pos[id]: index in e, or BLK_HEAP_NONE when not in the heap */
    uint32_t n, cap;
    bool own_pos;  /* pos is this heap's (blk_heap_init), not shared */
    bool inline_e; /* e is the caller's storage (blk_heap_init_inline) until it grows past it */
};

/* Room for queues 0..cap-1 (ids are the queues). 0 or -ENOMEM (with a message). */
int blk_heap_init(struct blk_heap *h, uint32_t cap);
/* Room for cap entries (grown by blk_heap_reserve) whose positions go to pos[id], which the
 * caller owns, sized for every id, and fills with BLK_HEAP_NONE. 0 or -ENOMEM. */
int blk_heap_init_shared(struct blk_heap *h, uint32_t cap, uint32_t *pos);
/* The same in cap entries of the caller's storage (e.g. in the cache lines of the structure
 * that owns the heap), which must outlive the heap; growing past them moves the entries to
 * an allocation of their own. */
void blk_heap_init_inline(struct blk_heap *h, struct blk_heap_entry *storage, uint32_t cap, uint32_t *pos);
/* Room for at least cap entries. 0 or -ENOMEM (with a message); the heap is unchanged then. */
int blk_heap_reserve(struct blk_heap *h, uint32_t cap);
void blk_heap_free(struct blk_heap *h);

static inline bool blk_heap_has(const struct blk_heap *h, uint32_t id)
{
    return h->pos[id] != BLK_HEAP_NONE;
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

/* Inserts id with (key, queue), or moves it there if it is in the heap already. Room for one
 * more entry must have been reserved. */
void blk_heap_set_as(struct blk_heap *h, uint32_t id, uint64_t key, uint32_t queue);
/* Inserts queue with key, or moves it to key if it is there already (id = queue). */
static inline void blk_heap_set(struct blk_heap *h, uint32_t queue, uint64_t key)
{
    blk_heap_set_as(h, queue, key, queue);
}
/* Takes id out if it is there. */
void blk_heap_remove(struct blk_heap *h, uint32_t id);
/* Subtracts delta, at most the smallest key, from every key: keeps the order (ties too),
 * for rebasing tags. */
void blk_heap_rebase(struct blk_heap *h, uint64_t delta);
/* Restores the order after the caller changed the keys of e[0..n-1] in place: O(n). */
void blk_heap_heapify(struct blk_heap *h);

#endif
