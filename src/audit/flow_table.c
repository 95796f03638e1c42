#include "audit/flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* How many entries the eviction clock compares: enough to avoid ending a busy flow, few
 * enough to keep a full table's insert cheap. */
#define VICTIM_SCAN 8

_Static_assert(sizeof(struct flow_key) == 40, "flow_key must have no padding: it is hashed as bytes");

int flow_table_init(struct flow_table *t, uint32_t capacity)
{
    memset(t, 0, sizeof(*t));
    if (capacity < 16 || capacity > (1u << 26))
        return err_set(EINVAL, "flow table capacity %u out of range 16..%u", capacity, 1u << 26);
    uint32_t slots = 1;
    while (slots < capacity * 2u)
        slots <<= 1;
    t->entries = calloc(capacity, sizeof(*t->entries));
    t->slots = calloc(slots, sizeof(*t->slots));
    if (!t->entries || !t->slots) {
        flow_table_free(t);
        return err_set(ENOMEM, "flow table of %u entries: out of memory", capacity);
    }
    t->capacity = capacity;
    t->mask = slots - 1;
    for (uint32_t i = 0; i < capacity; i++)
        t->entries[i].next_free = i + 1 < capacity ? i + 1 : FLOW_TABLE_NONE;
    t->free_head = 0;
    return 0;
}

void flow_table_free(struct flow_table *t)
{
    free(t->entries);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t flow_key_hash(const struct flow_key *k)
{
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 5; i++) {
        h ^= rd64(p + 8 * i) * 0x9e3779b97f4a7c15ull;
        h = (h << 29 | h >> 35) * 0xbf58476d1ce4e5b9ull;
    }
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

static inline uint32_t tag_of(uint64_t hash)
{
    return (uint32_t)hash | 1u;
}

struct flow_entry *flow_table_find(struct flow_table *t, const struct flow_key *k, uint64_t hash)
{
    uint32_t tag = tag_of(hash);
    for (uint32_t i = (uint32_t)(hash >> 32) & t->mask;; i = (i + 1) & t->mask) {
        const struct flow_slot *s = &t->slots[i];
        if (s->tag == 0)
            return NULL;
        if (s->tag == tag) {
            struct flow_entry *e = &t->entries[s->idx];
            if (memcmp(&e->rec.key, k, sizeof(*k)) == 0)
                return e;
        }
    }
}

struct flow_entry *flow_table_insert(struct flow_table *t, const struct flow_key *k, uint64_t hash)
{
    if (t->free_head == FLOW_TABLE_NONE)
        return NULL;
    uint32_t idx = t->free_head;
    struct flow_entry *e = &t->entries[idx];
    t->free_head = e->next_free;
    memset(e, 0, sizeof(*e));
    e->rec.key = *k;
    e->hash = hash;
    e->in_use = 1;
    uint32_t i = (uint32_t)(hash >> 32) & t->mask;
    while (t->slots[i].tag != 0)
        i = (i + 1) & t->mask;
    t->slots[i].tag = tag_of(hash);
    t->slots[i].idx = idx;
    t->used++;
    return e;
}

void flow_table_remove(struct flow_table *t, struct flow_entry *e)
{
    uint32_t idx = flow_table_index(t, e);
    uint32_t i = (uint32_t)(e->hash >> 32) & t->mask;
    while (t->slots[i].idx != idx || t->slots[i].tag == 0)
        i = (i + 1) & t->mask;
    /* Backward shift: pull later members of the cluster into the hole when their home slot
     * allows it, so lookups never need tombstones. */
    uint32_t hole = i;
    for (uint32_t j = (hole + 1) & t->mask; t->slots[j].tag != 0; j = (j + 1) & t->mask) {
        uint32_t home = (uint32_t)(t->entries[t->slots[j].idx].hash >> 32) & t->mask;
        /* j may move to hole when home is not cyclically within (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].tag = 0;
    t->slots[hole].idx = 0;
    e->in_use = 0;
    e->next_free = t->free_head;
    t->free_head = idx;
    t->used--;
}

struct flow_entry *flow_table_victim(struct flow_table *t)
{
    if (t->used == 0)
        return NULL;
    struct flow_entry *best = NULL;
    unsigned seen = 0;
    for (uint32_t n = 0; n < t->capacity && seen < VICTIM_SCAN; n++) {
        struct flow_entry *e = &t->entries[t->hand];
        t->hand = t->hand + 1 < t->capacity ? t->hand + 1 : 0;
        if (!e->in_use)
            continue;
        seen++;
        if (!best || e->rec.end_ns < best->rec.end_ns)
            best = e;
    }
    return best;
}
