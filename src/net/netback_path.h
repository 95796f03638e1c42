/* Private to xeno-netback's datapath (src/net/netback*.c): what the port and connection
 * half (netback.c: ports, vhost-user connections, exactly-once holds, the public calls) and
 * the forwarding half (netback_forward.c: frames between ports and the uplink, QoS, audit,
 * netback_pump) call in each other. Single-threaded like the rest of struct netback. */
#ifndef XENO_NET_NETBACK_PATH_H
#define XENO_NET_NETBACK_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "net/netback.h"

#define RXQ VHOST_USER_NET_RXQ
#define TXQ VHOST_USER_NET_TXQ

/* The audit engine's clock for a datapath time. */
static inline uint64_t audit_time(const struct netback *nb, uint64_t now)
{
    return now + nb->audit.clock_offset;
}

/* The port with the control-plane id `id`, or NULL. */
struct nb_port *nb_port_by_id(struct netback *nb, uint64_t id);

/* Whether d's RX queue can take frames now (connected, started, not broken). Inline: the
 * forwarding path asks it for every frame. */
static inline bool nb_rx_ready(const struct nb_port *d)
{
    const struct vring *rx = &d->dev.vq[RXQ];
    return d->sock >= 0 && rx->started && !rx->broken;
}

/* A receiver stays held while some sender may still have to resend into it after a restart:
 * its hold table names a port whose TX queue has not been resolved yet. */
void nb_rx_hold_eval(struct netback *nb, struct nb_port *d, uint64_t now);

/* nb_rx_hold_eval() for every port. */
void nb_rx_hold_eval_all(struct netback *nb, uint64_t now);

/* Tries to connect a port to its socket now; on failure schedules the next try (back-off). */
void nb_port_try_connect(struct nb_port *p, uint64_t now);

/* Frames from the tap uplink, towards the domains: a bounded batch per call. */
void nb_tap_rx(struct netback *nb, uint64_t now);

#endif
