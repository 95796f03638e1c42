/* Failover and fencing (docs/fleet.md "Failover", "Fencing"), run by xenod's membership
 * thread each round while it holds a lease:
 *
 * failover  a domain record whose host has no record (its lease expired: the host is dead to
 *           the fleet) is restarted from its definition on a host the placer chooses, by
 *           exactly one surviving xenod: the one whose transaction creates /xeno/failover/UUID
 *           (compare create_revision == 0 and the domain record's mod_revision as read; the
 *           key is under that xenod's lease, so a xenod that dies meanwhile frees it). It
 *           claims room on the target, moves the record there with lost_from = the dead host,
 *           asks the target's xenod to create and start it, then deletes the key; if the target
 *           refuses, the record goes back to the dead host's name (and the claim with it) for
 *           the next round. The target's xenod announces the restart with the event `failover`
 *           (the domain started from boot: memory and device state are lost) and clears
 *           lost_from.
 * fencing   when this xenod registers with a new lease (at start, or after its lease expired
 *           while it could not reach etcd) it first stops every domain it runs whose fleet
 *           record names another host: a stale copy another xenod has restarted meanwhile
 *           (event `fenced`).
 *
 * Threads: the membership thread only; reg functions take reg->lock themselves; no etcd call
 * is made under it. */
#ifndef XENO_DAEMON_FLEET_FAILOVER_H
#define XENO_DAEMON_FLEET_FAILOVER_H

#include <stdint.h>

#include "daemon/registry.h"
#include "fleet/etcd_client.h"

struct fleet_failover_opts {
    const char *me;         /* this host's name */
    int64_t lease;          /* this host's lease: the failover key lives under it */
    const char *token_file; /* --fleet-token (NULL: none; hosts advertised as unix: need none) */
    const char *cacert;     /* --fleet-cacert (NULL: the system's CAs) */
};

/* One pass: restarts the domains of dead hosts this xenod wins, announces those restarted
 * here. Returns how many it restarted, or -errno (etcd). */
int fleet_failover_round(struct registry *reg, struct etcd_client *e, const struct fleet_failover_opts *o);
/* Stops the local copies of domains whose fleet record names another host. Returns how many
 * it stopped, or -errno (etcd: nothing was stopped). */
int fleet_fence(struct registry *reg, struct etcd_client *e, const char *me);

#endif
