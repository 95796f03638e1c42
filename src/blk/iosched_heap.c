/* The tournament tree of iosched_heap.h. */
#include "blk/iosched_heap.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && sizeof(struct blk_heap_entry) == 16 &&
                   offsetof(struct blk_heap_entry, key) == 8 && offsetof(struct blk_heap_entry, queue) == 4,
               "struct blk_heap_entry reads as (key, queue, id), most significant first");

/* Above every entry: a real one has a queue below UINT32_MAX. */
static const struct blk_heap_entry EMPTY = {.id = BLK_HEAP_NONE, .queue = UINT32_MAX, .key = UINT64_MAX};

typedef unsigned __int128 u128;

static inline u128 load(const struct blk_heap_entry *a)
{
    u128 x;
    memcpy(&x, a, sizeof(x));
    return x;
}

static inline void store(struct blk_heap_entry *a, u128 x)
{
    memcpy(a, &x, sizeof(x));
}

static uint32_t round_up_pow2(uint32_t x)
{
    return x <= 1 ? 1 : 1u << (32 - __builtin_clz(x - 1));
}

/* ceil(log2 n): the levels above the leaves that n members need. */
static uint8_t depth_for(uint32_t n)
{
    return n <= 1 ? 0 : (uint8_t)(32 - __builtin_clz(n - 1));
}

/* Index in t of level d's first node: the levels below hold cap + cap/2 + ... nodes. */
static uint32_t level_at(uint32_t cap, uint8_t d)
{
    return 2 * cap - (2 * cap >> d);
}

static void set_depth(struct blk_heap *h, uint8_t d)
{
    h->depth = d;
    h->top = level_at(h->cap, d);
}

static inline u128 min2(u128 a, u128 b)
{
    return a < b ? a : b;
}

/* Every node of levels 1..depth from the level below: O(cap). */
static void rebuild(struct blk_heap *h)
{
    uint32_t below = 0, width = h->cap;
    for (uint8_t d = 0; d < h->depth; d++) {
        uint32_t at = below + width;
        for (uint32_t k = 0; k < width / 2; k++)
            store(&h->t[at + k], min2(load(&h->t[below + 2 * k]), load(&h->t[below + 2 * k + 1])));
        below = at;
        width /= 2;
    }
}

static void fill_empty(struct blk_heap_entry *t, uint32_t from, uint32_t to)
{
    for (uint32_t k = from; k < to; k++)
        t[k] = EMPTY;
}

int blk_heap_init(struct blk_heap *h, uint32_t cap)
{
    memset(h, 0, sizeof(*h));
    h->pos = malloc((cap ? cap : 1) * sizeof(*h->pos));
    h->own_pos = true;
    if (!h->pos) {
        blk_heap_free(h);
        return err_set(ENOMEM, "I/O scheduler: no memory for a heap of %u queues", cap);
    }
    for (uint32_t i = 0; i < cap; i++)
        h->pos[i] = BLK_HEAP_NONE;
    int e = blk_heap_reserve(h, cap);
    if (e)
        blk_heap_free(h);
    return e;
}

int blk_heap_init_shared(struct blk_heap *h, uint32_t cap, uint32_t *pos)
{
    memset(h, 0, sizeof(*h));
    h->pos = pos;
    return blk_heap_reserve(h, cap);
}

void blk_heap_init_inline(struct blk_heap *h, struct blk_heap_entry *storage, uint32_t cap, uint32_t *pos)
{
    memset(h, 0, sizeof(*h));
    h->t = storage;
    h->cap = cap;
    h->pos = pos;
    h->inline_t = true;
    fill_empty(storage, 0, BLK_HEAP_NODES(cap));
}

int blk_heap_reserve(struct blk_heap *h, uint32_t cap)
{
    if (cap <= h->cap && h->t)
        return 0;
    if (cap > (1u << 30))
        return err_set(ENOMEM, "I/O scheduler: a heap of %u entries is too large", cap);
    cap = round_up_pow2(cap);
    size_t bytes = ((size_t)BLK_HEAP_NODES(cap) * sizeof(struct blk_heap_entry) + 63) & ~(size_t)63;
    struct blk_heap_entry *t = aligned_alloc(64, bytes); /* a level's nodes from a line's start */
    if (!t)
        return err_set(ENOMEM, "I/O scheduler: no memory for a heap of %u entries", cap);
    if (h->n)
        memcpy(t, h->t, h->n * sizeof(*t)); /* the leaves keep their slots */
    fill_empty(t, h->n, BLK_HEAP_NODES(cap));
    if (!h->inline_t)
        free(h->t);
    h->inline_t = false;
    h->t = t;
    h->cap = cap;
    set_depth(h, h->depth);
    rebuild(h);
    return 0;
}

void blk_heap_free(struct blk_heap *h)
{
    if (!h->inline_t)
        free(h->t);
    if (h->own_pos)
        free(h->pos);
    memset(h, 0, sizeof(*h));
}

/* Slot s's leaf is now x: the nodes on its path to the top follow. A fixed number of
 * levels and no branch on the data: each level's sibling is at an address known in
 * advance, so the loads issue together and only the compares form a chain. */
static inline void replay(struct blk_heap *h, uint32_t s, u128 x)
{
    struct blk_heap_entry *t = h->t;
    uint32_t at = 0, width = h->cap;
    store(&t[s], x);
    for (uint8_t d = h->depth; d; d--) {
        x = min2(x, load(&t[at + (s ^ 1)]));
        at += width;
        width >>= 1;
        s >>= 1;
        store(&t[at + s], x);
    }
}

/* replay of two slots at once (a removal: the last member's new slot, and the slot it left):
 * the two chains run side by side and meet where the paths do, where both compute the
 * same node. */
static inline void replay_two(struct blk_heap *h, uint32_t s, u128 x, uint32_t l, u128 y)
{
    struct blk_heap_entry *t = h->t;
    uint32_t at = 0, width = h->cap;
    store(&t[s], x);
    store(&t[l], y);
    for (uint8_t d = h->depth; d; d--) {
        x = min2(x, load(&t[at + (s ^ 1)]));
        y = min2(y, load(&t[at + (l ^ 1)]));
        at += width;
        width >>= 1;
        s >>= 1;
        l >>= 1;
        store(&t[at + s], x);
        store(&t[at + l], y);
    }
}

static inline u128 entry_number(uint32_t id, uint64_t key, uint32_t queue)
{
    struct blk_heap_entry v = {.key = key, .queue = queue, .id = id};
    return load(&v);
}

void blk_heap_set_as(struct blk_heap *h, uint32_t id, uint64_t key, uint32_t queue)
{
    uint32_t s = h->pos[id];
    if (s == BLK_HEAP_NONE) {
        s = h->n++;
        h->pos[id] = s;
        if (h->n > 1u << h->depth) /* one level more: the new top is rebuilt by the replay */
            set_depth(h, h->depth + 1);
    }
    replay(h, s, entry_number(id, key, queue));
}

void blk_heap_remove(struct blk_heap *h, uint32_t id)
{
    uint32_t s = h->pos[id];
    if (s == BLK_HEAP_NONE)
        return;
    h->pos[id] = BLK_HEAP_NONE;
    uint32_t last = --h->n;
    if (s != last) { /* the last member fills the hole, its old slot empties */
        u128 moved = load(&h->t[last]);
        h->pos[(uint32_t)moved] = s; /* the low 32 bits: id */
        replay_two(h, s, moved, last, load(&EMPTY));
    } else {
        replay(h, last, load(&EMPTY));
    } /* both at the old depth: the nodes over empty slots read EMPTY */
    set_depth(h, depth_for(h->n));
}

void blk_heap_rebase(struct blk_heap *h, uint64_t delta)
{
    if (!h->n)
        return;
    if (delta > blk_heap_top(h)->key)
        delta = blk_heap_top(h)->key; /* clipping to 0 would make ties the order does not know */
    for (uint32_t k = 0; k < h->n; k++)
        h->t[k].key -= delta;
    rebuild(h);
}

void blk_heap_heapify(struct blk_heap *h)
{
    rebuild(h);
}
