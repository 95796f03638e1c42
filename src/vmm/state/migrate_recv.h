/* The destination side of a live migration (docs/migration.md), in xeno-vmm
 * --migrate-incoming. Two steps, because the VM can only be made once the config is known:
 *   1. migrate_recv_accept: listen, take one connection, check the source holds the key
 *      (and prove we do), receive and check the config. No VM exists yet; a failure here
 *      leaves nothing behind.
 *   2. migrate_recv_load, with the VM created from that config and its vCPUs parked:
 *      memory rounds, then the device and vCPU state, then READY, then wait for GO.
 *      Returns 0 only once GO has arrived: then (and never otherwise) the caller runs the
 *      vCPUs and calls migrate_recv_started. Any failure (source gone, link cut, timeout,
 *      a bad message) returns an error and the vCPUs must never run. */
#ifndef XENO_VMM_STATE_MIGRATE_RECV_H
#define XENO_VMM_STATE_MIGRATE_RECV_H

#include <stdint.h>

#include "proto/migrate_proto.h"
#include "proto/snapshot.h"
#include "vmm/state/migrate_apply.h" /* MIGRATE_MAX_MEMORY */
#include "vmm/machine/vm.h"

struct migrate_recv {
    struct mig_conn c;
    struct snap_config cfg;
    /* The CPU features the guest may rely on, from the config message (absent from a source
     * older than the record: have_cpu 0); checked against this host by migrate_recv_load. */
    int have_cpu;
    unsigned cpu_unknown;
    struct cpu_features cpu;
    uint64_t pages, rounds;
    uint64_t apply_us; /* loading the device and vCPU state (part of the downtime) */
    uint8_t *buf;      /* MIG_MAX_PAYLOAD */
};

/* addr: ADDR:PORT, PORT 0 for any free port. run_dir (NULL: none): once listening, the
 * port is written to RUN_DIR/migrate-port (created 0700 if needed; the file atomically),
 * for xenod to hand to the source. 0, or a negative errno with err_set() (-EACCES: the key
 * did not match). */
int migrate_recv_accept(struct migrate_recv *r, const char *addr, const char *key_path, const char *run_dir);
/* Takes on the CPU features the source says its guest may rely on (vm_cpu_adopt), before the
 * VM runs or any page is loaded; the caller aborts the migration on failure, so the source
 * keeps the domain. 0, or a negative errno with err_set() naming the missing features. */
int migrate_recv_adopt_cpu(struct migrate_recv *r, struct vm *vm);
int migrate_recv_load(struct migrate_recv *r, struct vm *vm);
/* Tells the source the vCPUs run, and closes the connection. */
void migrate_recv_started(struct migrate_recv *r);
/* Tells the source why we give up (if connected) and closes. */
void migrate_recv_abort(struct migrate_recv *r, const char *why);
void migrate_recv_close(struct migrate_recv *r);

#endif
