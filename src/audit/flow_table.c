#include "audit/flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* How many entries the eviction clock (and a group's quota eviction) compares: enough to
 * avoid ending a busy flow, few enough to keep a full table's insert cheap. */
#define VICTIM_SCAN 8
#define GROUPS_MAX (1u << 20)

_Static_assert(sizeof(struct flow_key) == 40, "flow_key must have no padding: it is hashed as bytes");
_Static_assert(sizeof(struct flow_bucket) == 64, "a bucket is one cache line");

int flow_table_init(struct flow_table *t, uint32_t capacity, uint32_t groups)
{
    memset(t, 0, sizeof(*t));
    if (capacity < 16 || capacity > (1u << 26))
        return err_set(EINVAL, "flow table capacity %u out of range 16..%u", capacity, 1u << 26);
    if (groups < 1 || groups > GROUPS_MAX)
        return err_set(EINVAL, "flow table: %u groups, 1..%u", groups, GROUPS_MAX);
    int rc = siphash_random_key(t->key);
    if (rc < 0)
        return err_wrap(-rc, "flow table");
    /* At least three slots per entry: two choices of 8-slot buckets then leave both of a
     * key's buckets full only by rare chance even when every entry is in use. */
    uint64_t slots = FLOW_BUCKET_SLOTS * 2;
    while (slots < 3ull * capacity)
        slots <<= 1;
    uint32_t nb = (uint32_t)(slots / FLOW_BUCKET_SLOTS);
    t->entries = calloc(capacity, sizeof(*t->entries));
    /* calloc, not aligned_alloc and memset: the pages stay untouched until used. */
    t->bucket_mem = calloc((size_t)nb + 1, sizeof(*t->buckets));
    t->spilled = calloc(nb, sizeof(*t->spilled));
    t->groups = calloc(groups, sizeof(*t->groups));
    if (!t->entries || !t->bucket_mem || !t->spilled || !t->groups) {
        flow_table_free(t);
        return err_set(ENOMEM, "flow table of %u entries: out of memory", capacity);
    }
    t->buckets = (struct flow_bucket *)(((uintptr_t)t->bucket_mem + 63) & ~(uintptr_t)63);
    t->capacity = capacity;
    t->ngroups = groups;
    t->bmask = nb - 1;
    for (uint32_t i = 0; i < capacity; i++)
        t->entries[i].next_free = i + 1 < capacity ? i + 1 : FLOW_TABLE_NONE;
    for (uint32_t g = 0; g < groups; g++)
        t->groups[g].head = t->groups[g].tail = FLOW_TABLE_NONE;
    t->free_head = 0;
    return 0;
}

void flow_table_free(struct flow_table *t)
{
    free(t->entries);
    free(t->bucket_mem);
    free(t->spilled);
    free(t->groups);
    memset(t, 0, sizeof(*t));
}

uint64_t flow_table_hash(const struct flow_table *t, const struct flow_key *k)
{
    return siphash13(t->key, k, sizeof(*k));
}

static inline uint32_t tag_of(uint64_t hash)
{
    return (uint32_t)hash | 1u;
}

/* The key's two buckets, always different. The second comes from other bits of the hash than
 * the first (it overlaps the tag's, which only filters before the key compare). */
static inline void buckets_of(const struct flow_table *t, uint64_t hash, uint32_t *b1, uint32_t *b2)
{
    *b1 = (uint32_t)(hash >> 32) & t->bmask;
    uint32_t b = (uint32_t)(hash >> 7) & t->bmask;
    *b2 = b != *b1 ? b : b ^ 1;
}

static inline struct flow_entry *scan(struct flow_table *t, uint32_t b, uint32_t tag, const struct flow_key *k)
{
    const struct flow_slot *s = t->buckets[b].s;
    for (int i = 0; i < FLOW_BUCKET_SLOTS; i++) {
        if (s[i].tag == tag) {
            struct flow_entry *e = &t->entries[s[i].idx];
            if (memcmp(&e->rec.key, k, sizeof(*k)) == 0) {
                t->probes += (uint64_t)i + 1;
                return e;
            }
        }
    }
    t->probes += FLOW_BUCKET_SLOTS;
    return NULL;
}

struct flow_entry *flow_table_find(struct flow_table *t, const struct flow_key *k, uint64_t hash)
{
    uint32_t b1, b2, tag = tag_of(hash);
    buckets_of(t, hash, &b1, &b2);
    struct flow_entry *e = scan(t, b1, tag, k);
    if (e || t->spilled[b1] == 0)
        return e;
    return scan(t, b2, tag, k);
}

static inline struct flow_slot *free_slot(struct flow_table *t, uint32_t b)
{
    for (int i = 0; i < FLOW_BUCKET_SLOTS; i++)
        if (t->buckets[b].s[i].tag == 0)
            return &t->buckets[b].s[i];
    return NULL;
}

struct flow_entry *flow_table_insert(struct flow_table *t, const struct flow_key *k, uint64_t hash, uint32_t group)
{
    if (t->free_head == FLOW_TABLE_NONE || group >= t->ngroups)
        return NULL;
    uint32_t b1, b2;
    buckets_of(t, hash, &b1, &b2);
    struct flow_slot *s = free_slot(t, b1);
    if (!s) {
        s = free_slot(t, b2);
        if (!s)
            return NULL;
        t->spilled[b1]++;
    }
    uint32_t idx = t->free_head;
    struct flow_entry *e = &t->entries[idx];
    t->free_head = e->next_free;
    memset(e, 0, sizeof(*e));
    e->rec.key = *k;
    e->hash = hash;
    e->in_use = 1;
    s->tag = tag_of(hash);
    s->idx = idx;
    struct flow_group *g = &t->groups[group];
    e->group = group;
    e->group_prev = g->tail;
    e->group_next = FLOW_TABLE_NONE;
    if (g->tail != FLOW_TABLE_NONE)
        t->entries[g->tail].group_next = idx;
    else
        g->head = idx;
    g->tail = idx;
    g->count++;
    t->used++;
    return e;
}

static struct flow_slot *slot_in(struct flow_table *t, uint32_t b, uint32_t idx)
{
    for (int i = 0; i < FLOW_BUCKET_SLOTS; i++)
        if (t->buckets[b].s[i].tag != 0 && t->buckets[b].s[i].idx == idx)
            return &t->buckets[b].s[i];
    return NULL;
}

void flow_table_remove(struct flow_table *t, struct flow_entry *e)
{
    uint32_t idx = flow_table_index(t, e), b1, b2;
    buckets_of(t, e->hash, &b1, &b2);
    struct flow_slot *s = slot_in(t, b1, idx);
    if (!s) {
        s = slot_in(t, b2, idx);
        t->spilled[b1]--;
    }
    s->tag = 0;
    s->idx = 0;
    struct flow_group *g = &t->groups[e->group];
    if (e->group_prev != FLOW_TABLE_NONE)
        t->entries[e->group_prev].group_next = e->group_next;
    else
        g->head = e->group_next;
    if (e->group_next != FLOW_TABLE_NONE)
        t->entries[e->group_next].group_prev = e->group_prev;
    else
        g->tail = e->group_prev;
    g->count--;
    e->in_use = 0;
    e->next_free = t->free_head;
    t->free_head = idx;
    t->used--;
}

/* Both of a key's buckets are full: the group's own least recently seen flow there, else
 * anyone's. */
static struct flow_entry *bucket_victim(struct flow_table *t, uint32_t b1, uint32_t b2, uint32_t group)
{
    struct flow_entry *own = NULL, *any = NULL;
    uint32_t bs[2] = {b1, b2};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < FLOW_BUCKET_SLOTS; i++) {
            struct flow_entry *e = &t->entries[t->buckets[bs[j]].s[i].idx];
            if (!any || e->rec.end_ns < any->rec.end_ns)
                any = e;
            if (e->group == group && (!own || e->rec.end_ns < own->rec.end_ns))
                own = e;
        }
    return own ? own : any;
}

struct flow_entry *flow_table_victim(struct flow_table *t, uint64_t hash, uint32_t group)
{
    if (t->used == 0)
        return NULL;
    uint32_t b1, b2;
    buckets_of(t, hash, &b1, &b2);
    if (!free_slot(t, b1) && !free_slot(t, b2))
        return bucket_victim(t, b1, b2, group);
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

struct flow_entry *flow_table_group_victim(struct flow_table *t, uint32_t group)
{
    if (group >= t->ngroups)
        return NULL;
    struct flow_entry *best = NULL;
    uint32_t i = t->groups[group].head;
    for (unsigned n = 0; n < VICTIM_SCAN && i != FLOW_TABLE_NONE; n++) {
        struct flow_entry *e = &t->entries[i];
        if (!best || e->rec.end_ns < best->rec.end_ns)
            best = e;
        i = e->group_next;
    }
    return best;
}
