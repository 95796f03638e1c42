/* Moving a placed domain to another host (docs/fleet.md "Drain" and "Failover"): the claim on
 * the target comes first, the record follows the domain, and a claim is given back when the
 * move fails, each one etcd transaction on the records as read:
 *
 *   fleet_claim_elsewhere  plan (placement.h) among active hosts other than the domain's and
 *                          claim its reservation on the chosen one (hosts/T's mod_revision);
 *                          the domain record still names the old host
 *   fleet_move_record      domains/UUID.host := T (on the record's mod_revision), the sponsor
 *                          index key moved, and the old host's claim taken off (on its
 *                          mod_revision) when its record still exists
 *   fleet_release_claim    the claim on T taken off again (the move failed)
 *   fleet_set_state        a host's state (active, draining), its claims kept
 *
 * Pure etcd work (no xenod is called here). Every function retries on a lost race at most
 * FLEET_PLACE_TRIES times; -ESTALE when the domain record itself changed meanwhile. */
#ifndef XENO_FLEET_FLEET_MOVE_H
#define XENO_FLEET_FLEET_MOVE_H

#include "fleet/etcd_client.h"
#include "fleet/fleet_model.h"
#include "fleet/placement.h"

/* need_migrate: only hosts that accept live migrations (a "migrate" address). *target gets
 * the chosen host as claimed. -ENOSPC (nobody can take it), or an etcd error. */
int fleet_claim_elsewhere(struct etcd_client *c, const struct fleet_domain *d, enum placement_policy policy,
                          int need_migrate, struct fleet_host *target);
int fleet_release_claim(struct etcd_client *c, const char *host, const struct fleet_domain *d);
/* d as read (mod_revision set); on success d->host is to and d->mod_revision is unknown (0). */
int fleet_move_record(struct etcd_client *c, struct fleet_domain *d, const char *to);
int fleet_set_state(struct etcd_client *c, const char *host, enum fleet_host_state state);

#endif
