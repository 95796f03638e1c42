/* The destination's checks of what a migration source sends after the handshake, apart from
 * the connection (src/vmm/state/migrate_recv.c receives, these check and apply): the domain's
 * config (MIG_CONFIG) and the memory messages (MIG_PAGES). Every value comes from the peer:
 * each message is checked whole before a byte reaches guest RAM or the config is used.
 * Pure functions over the caller's buffers, no locks: the fuzz harness fuzz/migrate_recv.c
 * drives them over a fake guest RAM of exact size. */
#ifndef XENO_VMM_STATE_MIGRATE_APPLY_H
#define XENO_VMM_STATE_MIGRATE_APPLY_H

#include <stdint.h>

#include "proto/cpu_features.h"
#include "proto/snapshot.h"

#define MIGRATE_MAX_MEMORY (1ULL << 40) /* a config asking for more is refused */

/* The MIG_CONFIG payload (len bytes) into *cfg, checked: a struct snap_config (strings
 * terminated, vCPUs, memory size and actions in range), then the guest's CPU features as a
 * struct snap_cpu_features into *cpu and *cpu_unknown (*have_cpu 1), or nothing more from a
 * source older than that record (*have_cpu 0). peer names the source in messages.
 * 0, or -EPROTO with err_set(). */
int migrate_apply_config(struct snap_config *cfg, struct cpu_features *cpu, int *have_cpu, unsigned *cpu_unknown,
                         const uint8_t *buf, uint32_t len, const char *peer);

/* One MIG_PAGES payload (len bytes) into guest RAM (ram, ram_size bytes): every entry a page
 * inside RAM, the length exactly the entries plus the data they announce, all checked before
 * the first write. *pages grows by the entries applied. 0, or -EPROTO with err_set(). */
int migrate_apply_pages(uint8_t *ram, uint64_t ram_size, const uint8_t *buf, uint32_t len, const char *peer,
                        uint64_t *pages);

#endif
