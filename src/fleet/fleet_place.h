/* Plan and claim (docs/fleet.md "The placement transaction"), the Nova/Placement and Nomad
 * pattern: read every host with its mod_revision, choose one with the policy (placement.h),
 * then in one etcd transaction
 *     if  hosts/H.mod_revision == what was read  and  domains/UUID does not exist
 *     then  put hosts/H with the claim added (under H's lease)  and  put domains/UUID
 * so two placers that chose the same host cannot both claim from the same reading: the loser
 * sees the transaction fail, reads again and plans again, at most FLEET_PLACE_TRIES times.
 * The domain's definition is recorded in the same transaction. */
#ifndef XENO_FLEET_FLEET_PLACE_H
#define XENO_FLEET_FLEET_PLACE_H

#include <stddef.h>

#include "fleet/etcd_client.h"
#include "fleet/fleet_model.h"
#include "fleet/placement.h"

#define FLEET_PLACE_TRIES 32
#define FLEET_HOSTS_MAX 4096

/* Every host record (invalid ones skipped) into *hosts (malloc'd, *n of them), name order. */
int fleet_read_hosts(struct etcd_client *c, struct fleet_host **hosts, size_t *n);
/* Every domain record (invalid ones skipped); free with fleet_domains_free. */
int fleet_read_domains(struct etcd_client *c, struct fleet_domain **domains, size_t *n);
void fleet_domains_free(struct fleet_domain *domains, size_t n);

/* How many of the sponsor's domains each of hosts[0..n) runs (the anti-affinity index) into
 * count[0..n). */
int fleet_sponsor_counts(struct etcd_client *c, const char *sponsor, const struct fleet_host *hosts, size_t n,
                         unsigned *count);
/* A short random pause after a lost race, so placers that collided do not collide again. */
void fleet_backoff(int attempt);

/* Places d (uuid, name, sponsor, reservation, vcpus, memory, definition given; d->host
 * filled in). 0 with *chosen the host as claimed and *attempts the transactions it took;
 * -ENOSPC (no host can take it), -EEXIST (the UUID is placed already), -EAGAIN (every try
 * lost a race), or an etcd error; err_set() says which. */
int fleet_place(struct etcd_client *c, struct fleet_domain *d, enum placement_policy policy, struct fleet_host *chosen,
                int *attempts);

/* Undoes a claim (the host refused to start the domain, or the domain ended): deletes the
 * domain record and takes its reservation off the host's claims, in one transaction (retried
 * on conflicts). With d->mod_revision set (a record as read) the transaction also requires
 * the record unchanged: -ESTALE when it changed (moved by a drain or a failover). */
int fleet_unplace(struct etcd_client *c, const struct fleet_domain *d);

#endif
