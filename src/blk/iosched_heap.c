#include "blk/iosched_heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

int blk_heap_init(struct blk_heap *h, uint32_t cap)
{
    memset(h, 0, sizeof(*h));
    h->e = calloc(cap ? cap : 1, sizeof(*h->e));
    h->pos = malloc((cap ? cap : 1) * sizeof(*h->pos));
    if (!h->e || !h->pos) {
        blk_heap_free(h);
        return err_set(ENOMEM, "I/O scheduler: no memory for a heap of %u queues", cap);
    }
    for (uint32_t i = 0; i < cap; i++)
        h->pos[i] = BLK_HEAP_NONE;
    h->cap = cap;
    return 0;
}

void blk_heap_free(struct blk_heap *h)
{
    free(h->e);
    free(h->pos);
    memset(h, 0, sizeof(*h));
}

/* (key, queue) as one 96-bit number: one compare without a branch (the choice between two
 * children in sift_down is a coin toss the branch predictor loses half the time). */
static bool less(const struct blk_heap_entry *a, const struct blk_heap_entry *b)
{
    return ((unsigned __int128)a->key << 32 | a->queue) < ((unsigned __int128)b->key << 32 | b->queue);
}

static void place(struct blk_heap *h, uint32_t i, struct blk_heap_entry v)
{
    h->e[i] = v;
    h->pos[v.queue] = i;
}

static void sift_up(struct blk_heap *h, uint32_t i)
{
    struct blk_heap_entry v = h->e[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!less(&v, &h->e[parent]))
            break;
        place(h, i, h->e[parent]);
        i = parent;
    }
    place(h, i, v);
}

static void sift_down(struct blk_heap *h, uint32_t i)
{
    struct blk_heap_entry v = h->e[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n)
            c += less(&h->e[c + 1], &h->e[c]);
        if (!less(&h->e[c], &v))
            break;
        place(h, i, h->e[c]);
        i = c;
    }
    place(h, i, v);
}

void blk_heap_set(struct blk_heap *h, uint32_t queue, uint64_t key)
{
    uint32_t i = h->pos[queue];
    if (i == BLK_HEAP_NONE) {
        i = h->n++;
        place(h, i, (struct blk_heap_entry){.key = key, .queue = queue});
        sift_up(h, i);
        return;
    }
    uint64_t old = h->e[i].key;
    h->e[i].key = key;
    if (key < old)
        sift_up(h, i);
    else
        sift_down(h, i);
}

void blk_heap_remove(struct blk_heap *h, uint32_t queue)
{
    uint32_t i = h->pos[queue];
    if (i == BLK_HEAP_NONE)
        return;
    h->pos[queue] = BLK_HEAP_NONE;
    if (--h->n == i)
        return;
    uint32_t moved = h->e[h->n].queue;
    place(h, i, h->e[h->n]);
    sift_down(h, i);
    if (h->pos[moved] == i) /* it did not go down: it may have to go up */
        sift_up(h, i);
}

void blk_heap_rebase(struct blk_heap *h, uint64_t delta)
{
    if (h->n && delta > h->e[0].key)
        delta = h->e[0].key; /* clipping to 0 would make ties the order does not know */
    for (uint32_t i = 0; i < h->n; i++)
        h->e[i].key -= delta;
}
