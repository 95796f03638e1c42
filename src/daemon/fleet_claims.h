/* Claims follow domains (docs/fleet.md "When a domain ends"): a fleet domain record that names
 * this host but whose domain this xenod no longer has (destroyed, undefined, a transient one
 * that stopped, or gone while xenod was down) gives its claim back: one transaction deletes
 * the record and its sponsor index key and takes the reservation off this host's claims
 * (fleet_unplace). Run by the membership thread each round, so also at xenod start.
 *
 * A record is released only after it has been missing here for FLEET_RELEASE_GRACE_S with the
 * same mod_revision: a placer claims before it asks the host to create the domain, and a drain
 * moves the record to the target just after the migration ends here, so a record briefly
 * without its domain is normal.
 *
 * Threads: the membership thread only; takes reg->lock through reg_lookup, never calls etcd
 * under it. */
#ifndef XENO_DAEMON_FLEET_CLAIMS_H
#define XENO_DAEMON_FLEET_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/registry.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_model.h"

#define FLEET_RELEASE_GRACE_S 5
#define FLEET_MISSING_MAX 1024 /* records tracked at once; more wait for a later round */

struct fleet_missing {
    char uuid[FLEET_UUID_LEN + 1];
    int64_t mod_revision;
    double since; /* CLOCK_MONOTONIC seconds */
};

struct fleet_claims {
    struct fleet_missing *missing; /* malloc'd, FLEET_MISSING_MAX */
    size_t n;
};

/* One pass over the domain records naming host. Returns the number of claims released (a
 * log line each) or -errno (etcd). */
int fleet_claims_reconcile(struct fleet_claims *st, struct registry *reg, struct etcd_client *e, const char *host);
void fleet_claims_free(struct fleet_claims *st);

#endif
