/* The flow table: fixed memory chosen at init, no allocation per packet. Entries live in a
 * pool with stable indices (detectors and the expiry sweep refer to them by index); a separate
 * open-addressing index (linear probing, at most half full, backward-shift deletion) maps a
 * key's hash to its entry, so a lookup touches one 8-byte slot per probe and one entry. */
#ifndef XENO_AUDIT_FLOW_TABLE_H
#define XENO_AUDIT_FLOW_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/ack_symmetry.h"
#include "audit/flow_record.h"

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
    uint32_t next_free; /* free-list link while unused */
    uint16_t state;     /* FLOW_S_* */
    uint8_t in_use;
    uint8_t rule_index; /* 1 + the rule that refused it, 0 none */
};

struct flow_slot {
    uint32_t tag; /* 0: empty; else the hash's low 32 bits with bit 0 set */
    uint32_t idx;
};

struct flow_table {
    struct flow_entry *entries;
    struct flow_slot *slots;
    uint32_t capacity; /* entries */
    uint32_t mask;     /* slots - 1 */
    uint32_t used;
    uint32_t free_head;
    uint32_t hand; /* where the eviction clock looks next */
};

#define FLOW_TABLE_NONE UINT32_MAX

/* capacity: 16 .. 2^26 entries. 0 or -EINVAL/-ENOMEM with a message. */
int flow_table_init(struct flow_table *t, uint32_t capacity);
void flow_table_free(struct flow_table *t);

uint64_t flow_key_hash(const struct flow_key *k);

/* The entry with this key, or NULL. */
struct flow_entry *flow_table_find(struct flow_table *t, const struct flow_key *k, uint64_t hash);
/* A new zeroed entry with this key (which must not be present), or NULL when the pool is full
 * (the caller ends a victim, flow_table_victim, and retries). */
struct flow_entry *flow_table_insert(struct flow_table *t, const struct flow_key *k, uint64_t hash);
void flow_table_remove(struct flow_table *t, struct flow_entry *e);
/* The least recently seen of the next few entries under the clock hand: the one to end when
 * the table is full. NULL only when the table is empty. */
struct flow_entry *flow_table_victim(struct flow_table *t);

static inline uint32_t flow_table_index(const struct flow_table *t, const struct flow_entry *e)
{
    return (uint32_t)(e - t->entries);
}

#endif
