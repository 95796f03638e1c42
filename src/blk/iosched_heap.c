#include "blk/iosched_heap.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

int blk_heap_init(struct blk_heap *h, uint32_t cap)
{
    memset(h, 0, sizeof(*h));
    h->e = calloc(cap ? cap : 1, sizeof(*h->e));
    h->pos = malloc((cap ? cap : 1) * sizeof(*h->pos));
    h->own_pos = true;
    if (!h->e || !h->pos) {
        blk_heap_free(h);
        return err_set(ENOMEM, "I/O scheduler: no memory for a heap of %u queues", cap);
    }
    for (uint32_t i = 0; i < cap; i++)
        h->pos[i] = BLK_HEAP_NONE;
    h->cap = cap;
    return 0;
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
    h->e = storage;
    h->cap = cap;
    h->pos = pos;
    h->inline_e = true;
}

int blk_heap_reserve(struct blk_heap *h, uint32_t cap)
{
    if (cap <= h->cap && h->e)
        return 0;
    struct blk_heap_entry *e =
        h->inline_e ? malloc((cap ? cap : 1) * sizeof(*h->e)) : realloc(h->e, (cap ? cap : 1) * sizeof(*h->e));
    if (!e)
        return err_set(ENOMEM, "I/O scheduler: no memory for a heap of %u entries", cap);
    if (h->inline_e && h->n)
        memcpy(e, h->e, h->n * sizeof(*h->e));
    h->inline_e = false;
    h->e = e;
    h->cap = cap;
    return 0;
}

void blk_heap_free(struct blk_heap *h)
{
    if (!h->inline_e)
        free(h->e);
    if (h->own_pos)
        free(h->pos);
    memset(h, 0, sizeof(*h));
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && sizeof(struct blk_heap_entry) == 16 &&
                   offsetof(struct blk_heap_entry, key) == 8 && offsetof(struct blk_heap_entry, queue) == 4,
               "struct blk_heap_entry reads as (key, queue, id), most significant first");

static unsigned __int128 as_number(const struct blk_heap_entry *a)
{
    unsigned __int128 x;
    memcpy(&x, a, sizeof(x));
    return x;
}

/* (key, queue) as one number: one compare without a branch (the choice between two
 * children in sift_down is a coin toss the branch predictor loses half the time). */
static bool less(const struct blk_heap_entry *a, const struct blk_heap_entry *b)
{
    return as_number(a) < as_number(b);
}

/* The sifts take the entry to place in the hole at i by value: reading it back from e[i]
 * just after writing it would stall on store forwarding (two 8-byte stores, one 16-byte
 * load). */
static void sift_up(struct blk_heap *h, uint32_t i, struct blk_heap_entry v)
{
    struct blk_heap_entry *e = h->e;
    uint32_t *pos = h->pos; /* locals: the stores to pos cannot change h's fields then */
    unsigned __int128 vx = as_number(&v);
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        unsigned __int128 px = as_number(&e[parent]);
        if (!(vx < px))
            break;
        memcpy(&e[i], &px, sizeof(px));
        pos[(uint32_t)px] = i; /* the low 32 bits: id */
        i = parent;
    }
    e[i] = v;
    pos[v.id] = i;
}

static void sift_down(struct blk_heap *h, uint32_t i, struct blk_heap_entry v)
{
    struct blk_heap_entry *e = h->e;
    uint32_t *pos = h->pos;
    uint32_t n = h->n;
    unsigned __int128 vx = as_number(&v);
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        unsigned __int128 cx = as_number(&e[c]);
        if (c + 1 < n) {
            unsigned __int128 dx = as_number(&e[c + 1]);
            bool right = dx < cx;
            c += right;
            cx = right ? dx : cx;
        }
        if (!(cx < vx))
            break;
        memcpy(&e[i], &cx, sizeof(cx));
        pos[(uint32_t)cx] = i;
        i = c;
    }
    e[i] = v;
    pos[v.id] = i;
}

void blk_heap_set_as(struct blk_heap *h, uint32_t id, uint64_t key, uint32_t queue)
{
    struct blk_heap_entry v = {.key = key, .queue = queue, .id = id};
    uint32_t i = h->pos[id];
    if (i == BLK_HEAP_NONE) {
        sift_up(h, h->n++, v);
        return;
    }
    if (h->n == 1) { /* alone (a group with one child): nothing to compare with */
        h->e[0] = v;
        return;
    }
    if (less(&v, &h->e[i]))
        sift_up(h, i, v);
    else
        sift_down(h, i, v);
}

void blk_heap_remove(struct blk_heap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    if (i == BLK_HEAP_NONE)
        return;
    h->pos[id] = BLK_HEAP_NONE;
    if (--h->n == i)
        return;
    struct blk_heap_entry last = h->e[h->n];
    if (i > 0 && less(&last, &h->e[(i - 1) / 2]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

void blk_heap_rebase(struct blk_heap *h, uint64_t delta)
{
    if (h->n && delta > h->e[0].key)
        delta = h->e[0].key; /* clipping to 0 would make ties the order does not know */
    for (uint32_t i = 0; i < h->n; i++)
        h->e[i].key -= delta;
}

void blk_heap_heapify(struct blk_heap *h)
{
    for (uint32_t i = 0; i < h->n; i++)
        h->pos[h->e[i].id] = i;
    for (uint32_t i = h->n / 2; i-- > 0;)
        sift_down(h, i, h->e[i]);
}
