/* The flow table: fixed memory chosen at init, no allocation per packet. Entries live in a
 * pool with stable indices (detectors and the expiry sweep refer to them by index); a separate
 * index maps a key's hash to its entry.
 *
 * Guests choose most of a flow key (remote addresses and ports), so the index is built to stay
 * cheap when they aim at it (issue 14, docs/security.md "Audit flow table"):
 * - the hash is SipHash-1-3 under a 16-byte key drawn from getrandom(2) when the table is
 *   made: without the key nobody can choose keys that share a bucket;
 * - the index is bucketed with two choices: each key may sit in one of two buckets of 8
 *   slots (one 64-byte cache line each), so a lookup examines at most FLOW_TABLE_MAX_PROBES
 *   slots whatever the keys, even if the hash key leaked. A key goes to its first bucket when
 *   that has room, else to its second; a per-bucket count of such spilled keys lets a lookup
 *   that misses in the first bucket skip the second when none spilled. The index has at least
 *   three slots per entry, so both buckets are full only by rare chance (then the caller ends
 *   one of the 16 flows there: flow_table_victim);
 * - entries belong to groups (the audit engine's domains) with a count and an oldest-first
 *   list each, so a group over its quota ends its own flows (flow_table_group_victim).
 *
 * One thread at a time (the audit engine's). */
#ifndef XENO_AUDIT_FLOW_TABLE_H
#define XENO_AUDIT_FLOW_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/ack_symmetry.h"
#include "audit/flow_record.h"
#include "lib/siphash.h"

/* flow_entry.state: what the TCP state machine and the detectors know of a flow. */
#define FLOW_S_SYN_OUT 0x0001   /* the domain sent a SYN (without ACK) */
#define FLOW_S_SYNACK_IN 0x0002 /* the remote answered with SYN+ACK */
#define FLOW_S_FIN_OUT 0x0004
#define FLOW_S_FIN_IN 0x0008
#define FLOW_S_RST 0x0010
#define FLOW_S_HALF_OPEN 0x0020   /* counted in its owner's half-open connections */
#define FLOW_S_TRW_PENDING 0x0040 /* a first contact whose outcome the scan detector awaits */
#define FLOW_S_UNADMITTED 0x0080  /* a new flow held back (throttled): checked again */
#define FLOW_S_DENIED 0x0100      /* refused by a rule: every packet is dropped */
#define FLOW_S_ANY_IN 0x0200      /* the remote sent something */

struct flow_entry {
    struct flow_record rec;
    uint64_t hash;
    uint64_t slice_start_ns; /* for the active timeout */
    struct ack_sym_state ack;
    uint32_t next_free;              /* free-list link while unused */
    uint32_t group;                  /* as given to flow_table_insert */
    uint32_t group_prev, group_next; /* the group's list, oldest first (FLOW_TABLE_NONE ends) */
    uint16_t state;                  /* FLOW_S_* */
    uint8_t in_use;
    uint8_t rule_index; /* 1 + the rule that refused it, 0 none */
};

#define FLOW_BUCKET_SLOTS 8
#define FLOW_TABLE_MAX_PROBES (2 * FLOW_BUCKET_SLOTS)

struct flow_slot {
    uint32_t tag; /* 0: empty; else the hash's low 32 bits with bit 0 set */
    uint32_t idx;
};

struct flow_bucket {
    struct flow_slot s[FLOW_BUCKET_SLOTS];
};

struct flow_group {
    uint32_t count, head, tail; /* head: the oldest */
};

struct flow_table {
    struct flow_entry *entries;
    struct flow_bucket *buckets; /* 64-byte aligned, inside bucket_mem */
    void *bucket_mem;
    uint32_t *spilled; /* per bucket: keys whose first bucket this is, in their second */
    struct flow_group *groups;
    uint32_t capacity; /* entries */
    uint32_t ngroups;
    uint32_t bmask; /* buckets - 1 */
    uint32_t used;
    uint32_t free_head;
    uint32_t hand;   /* where the eviction clock looks next */
    uint64_t probes; /* slots examined by lookups: for tests and benchmarks, never for decisions */
    uint8_t key[SIPHASH_KEY_LEN];
};

#define FLOW_TABLE_NONE UINT32_MAX

/* capacity: 16 .. 2^26 entries; groups: 1 .. 2^20 (group ids are below it). The hash key is
 * drawn from getrandom(2). 0 or -EINVAL/-ENOMEM/-errno with a message. */
int flow_table_init(struct flow_table *t, uint32_t capacity, uint32_t groups);
void flow_table_free(struct flow_table *t);

/* The table's keyed hash of k (SipHash-1-3 under the table's key). */
uint64_t flow_table_hash(const struct flow_table *t, const struct flow_key *k);

/* The entry with this key, or NULL. Examines at most FLOW_TABLE_MAX_PROBES slots. */
struct flow_entry *flow_table_find(struct flow_table *t, const struct flow_key *k, uint64_t hash);
/* A new zeroed entry with this key (which must not be present) in `group`, last in the
 * group's list; NULL when the pool is full or both of the key's buckets are (the caller ends
 * flow_table_victim and retries). */
struct flow_entry *flow_table_insert(struct flow_table *t, const struct flow_key *k, uint64_t hash, uint32_t group);
void flow_table_remove(struct flow_table *t, struct flow_entry *e);
/* What to end so that an insert of a key with this hash for `group` succeeds: when both of its
 * buckets are full, the least recently seen of the group's own flows there, else (a rare
 * chance unless the hash key is known) of all 16; when the pool is full, the least recently
 * seen of the next few entries under the clock hand. NULL only when the table is empty. */
struct flow_entry *flow_table_victim(struct flow_table *t, uint64_t hash, uint32_t group);
/* The least recently seen of the group's few oldest flows (its quota is reached), or NULL
 * when it has none. */
struct flow_entry *flow_table_group_victim(struct flow_table *t, uint32_t group);

static inline uint32_t flow_table_group_count(const struct flow_table *t, uint32_t group)
{
    return t->groups[group].count;
}

static inline uint32_t flow_table_index(const struct flow_table *t, const struct flow_entry *e)
{
    return (uint32_t)(e - t->entries);
}

#endif
