/* xenod's membership in a fleet (docs/fleet.md): with --fleet, a thread registers this host at
 * /xeno/hosts/NAME under an etcd lease of --fleet-ttl seconds, keeps the lease alive, and
 * writes the host's capacity and the reservations it holds whenever they change. When the
 * lease is lost (etcd unreachable for longer than the TTL) the record is gone from the fleet;
 * the thread grants a new lease and registers again once etcd answers, after stopping the
 * copies of domains the fleet restarted elsewhere meanwhile (fencing, fleet_failover.h).
 * Domains keep running while etcd cannot be reached: the fleet only stops placing new ones
 * here. Each round it also gives back the claims of fleet domains that ended here
 * (fleet_claims.h) and restarts the domains of hosts whose lease expired (fleet_failover.h).
 *
 * Threads: fleet_member_start/stop from main() only; the thread takes reg->lock briefly to
 * read the reservations held and never calls etcd under it. */
#ifndef XENO_DAEMON_FLEET_MEMBER_H
#define XENO_DAEMON_FLEET_MEMBER_H

#include "daemon/fleet_gate.h"
#include "daemon/registry.h"
#include "fleet/etcd_client.h"

#define FLEET_TTL_DEFAULT_S 10

struct fleet_member_opts {
    const char *etcd;      /* http://HOST:PORT[,...] */
    const char *name;      /* --host-name */
    const char *advertise; /* --advertise: https://HOST:PORT or unix:/PATH */
    long ttl_s;
    const char *migrate;    /* --migrate-listen ADDR:PORT (NULL: none): written into the record for drain */
    const char *token_file; /* --fleet-token, --fleet-cacert (NULL: none): failover's requests to hosts */
    const char *cacert;
    struct fleet_gate *gate; /* opened while registered and etcd answers; may be NULL */
    struct etcd_tls tls;     /* --etcd-ca/cert/key (NULLs: none); the strings outlive the member */
};

struct fleet_member;

/* Checks the options and starts the thread (etcd need not answer yet). 0 or -errno. */
int fleet_member_start(struct fleet_member **out, struct registry *reg, const struct fleet_member_opts *o);
/* Stops the thread. The lease is left to expire rather than revoked: a restarted xenod (an
 * upgrade) registers again within the TTL and the fleet sees no gap. NULL: nothing. */
void fleet_member_stop(struct fleet_member *m);

#endif
