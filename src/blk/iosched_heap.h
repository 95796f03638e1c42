/* An indexed priority queue keyed by a 64-bit tag, for the disk I/O scheduler
 * (src/blk/iosched.c), which calls its queues "heaps" (the R and P heaps, the wait heaps):
 * here a tournament tree (a winner tree over fixed leaf slots), since 2026-12-07 (a binary
 * heap before; bench/README.md, "A tournament tree for every heap"). Each member
 * (an id) is in it at most once, in the leaf slot pos[id]; every node above the leaves holds
 * the smaller of its two children, so the top is the smallest entry. Changing an entry
 * writes its leaf and recomputes the nodes on its path to the top: always the same number
 * of levels (ceil(log2 n)), one compare each, and every level's sibling is at an address
 * known before the compares, so the loads issue together and only the compares form a
 * chain (a binary heap's sift waits for each level's compare before its next load, and
 * leaves its loop at a level the branch predictor cannot guess). Nothing is allocated after
 * the last blk_heap_init / blk_heap_reserve.
 *
 * An entry stands for a queue: a queue itself, or a group of queues
 * (src/blk/iosched_tree.c) standing for its best member, and ties go to the lower queue
 * number, so a decision never depends on the order of earlier operations (the
 * simulated-clock tests rely on that). Structures of one scheduler may share one pos array
 * when no id is in two of them at once. Not thread-safe: the scheduler's one caller owns it.
 *
 * Layout: the members fill leaf slots 0..n-1 (a removal moves the last one into the hole);
 * t[0..cap) are the leaves, then each level above in turn, half as wide, so that the nodes
 * over slots 0..2^d-1 are the first of each level whatever cap is. Slots n..cap-1 hold
 * an empty entry (above every real one), and so does every node over empty slots only;
 * the top is level d's first node, d = ceil(log2 n), and the nodes above it are rebuilt as
 * d grows. */
#ifndef XENO_BLK_IOSCHED_HEAP_H
#define XENO_BLK_IOSCHED_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_HEAP_NONE UINT32_MAX

/* Laid out so that the entry read as one little-endian 128-bit number is (key, queue, id)
 * from the most significant end: one compare orders two entries. id never decides (two
 * entries of one structure never stand for the same queue). */
struct blk_heap_entry {
    uint32_t id;    /* what is in it (pos[id]): the queue itself in a plain one */
    uint32_t queue; /* the queue the entry stands for: ties go to the lower */
    uint64_t key;
};

struct blk_heap {
    struct blk_heap_entry *t; /* 2 x cap - 1 nodes: the leaves, then each level above */
    uint32_t *pos;            /* pos[id]: its leaf slot, or BLK_HEAP_NONE when not in it */
    uint32_t n, cap;          /* members in slots 0..n-1; cap leaf slots, a power of two */
    uint32_t top;             /* index in t of the top: level ceil(log2 n)'s first node */
    uint8_t depth;            /* ceil(log2 n): levels from a leaf to the top */
    bool own_pos;             /* pos is this one's (blk_heap_init), not shared */
    bool inline_t;            /* t is the caller's storage (blk_heap_init_inline) until it grows past it */
};

/* Nodes for cap leaf slots (cap a power of two): what blk_heap_init_inline's storage holds. */
#define BLK_HEAP_NODES(cap) (2 * (cap)-1)

/* Room for queues 0..cap-1 (ids are the queues). 0 or -ENOMEM (with a message). */
int blk_heap_init(struct blk_heap *h, uint32_t cap);
/* Room for cap entries (grown by blk_heap_reserve) whose slots go to pos[id], which the
 * caller owns, sized for every id, and fills with BLK_HEAP_NONE. 0 or -ENOMEM. */
int blk_heap_init_shared(struct blk_heap *h, uint32_t cap, uint32_t *pos);
/* The same for cap entries (a power of two) in BLK_HEAP_NODES(cap) nodes of the caller's
 * storage (e.g. in the cache lines of the structure that owns it), which must outlive it;
 * growing past them moves the nodes to an allocation of their own. */
void blk_heap_init_inline(struct blk_heap *h, struct blk_heap_entry *storage, uint32_t cap, uint32_t *pos);
/* Room for at least cap entries. 0 or -ENOMEM (with a message); it is unchanged then. */
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
/* The smallest entry; it must not be empty. */
static inline const struct blk_heap_entry *blk_heap_top(const struct blk_heap *h)
{
    return &h->t[h->top];
}
/* The entry in leaf slot k < n (pos[id] names id's). */
static inline struct blk_heap_entry *blk_heap_slot(const struct blk_heap *h, uint32_t k)
{
    return &h->t[k];
}

/* Inserts id with (key, queue), or moves it there if it is in already. Room for one more
 * entry must have been reserved. */
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
/* Restores the order after the caller changed the keys of the slots 0..n-1 in place: O(cap). */
void blk_heap_heapify(struct blk_heap *h);

#endif
