/* The host's learning L2 switch with anti-spoofing (docs/network.md). Pure decision code:
 * net_switch_route() looks at one frame and says which ports it goes to, or why it is
 * dropped; it copies nothing, allocates nothing, takes no locks and reads no clock (the
 * caller passes the time in nanoseconds, any monotonic origin). One switch is used by one
 * thread at a time; the caller serialises.
 *
 * Ports: up to NET_SWITCH_MAX_PORTS, each a domain port (one domain's virtio-net device)
 * or the uplink (at most one; the tap to the host). A port's id is chosen by the switch at
 * net_switch_port_add() and stays valid until net_switch_port_remove().
 *
 * Forwarding:
 *   - the source MAC of every accepted frame is learnt for its input port (forgotten after
 *     cfg.aging_ns without a frame, default 300 s as in Linux bridges; a station that
 *     moves is learnt on its new port); a frame from the uplink that claims a domain
 *     port's configured MAC is dropped, so the outside cannot steal a domain's traffic;
 *   - unicast to a learnt MAC goes to that one port (dropped if it is the input port);
 *   - unicast to an unknown MAC floods to every other port that may receive it: the uplink
 *     and a domain port whose configured MAC it is (a domain port only ever receives
 *     frames addressed to its MAC, or broadcast/multicast);
 *   - broadcast and multicast go to every other port.
 *
 * Anti-spoofing on a domain port (every check in docs/network.md, with the drop reason):
 *   - the source MAC must be the port's MAC;
 *   - no VLAN tags; only IPv4, ARP and (if the port has an IPv6 address) IPv6;
 *   - IPv4 from the port's IPv4 address only, except DHCP client traffic (UDP from
 *     0.0.0.0 port 68 to port 67); no IPv4 at all (but DHCP) without a configured address;
 *   - ARP: sender MAC the port's MAC, sender IP the port's IPv4 or 0.0.0.0 (RFC 5227
 *     probe);
 *   - IPv6: source the port's address, its EUI-64 link-local address, or :: for duplicate
 *     address detection and MLD; neighbour advertisements only for those addresses and
 *     link-layer address options only with the port's MAC.
 *
 * Counters: per port and direction (NET_DIR_FROM_PORT: frames the port's domain sent into
 * the switch; NET_DIR_TO_PORT: frames delivered to it) packets, bytes and drops by
 * reason. net_switch_route() counts the input port's FROM_PORT side itself (packets and
 * bytes of frames accepted, drops of frames refused). What is delivered is counted by the
 * caller, who knows whether delivery succeeded: net_switch_count_delivered() and
 * net_switch_count_drop() (e.g. NET_DROP_QOS when a receiver's limit refuses the frame).
 *
 * Usage (the backend's forwarding path):
 *
 *     struct net_switch *sw;
 *     struct net_switch_config scfg = {.aging_ns = 0};   // 0: default aging
 *     if (net_switch_create(&scfg, &sw) < 0) die(err_msg());
 *     struct net_port_config pc = {.kind = NET_PORT_DOMAIN, .has_ipv4 = true, .ipv4 = 0x0a000002};
 *     net_mac_parse("52:54:00:00:00:02", pc.mac);
 *     unsigned web;
 *     if (net_switch_port_add(sw, &pc, &web) < 0) die(err_msg());
 *     ...
 *     struct net_route r;
 *     net_switch_route(sw, web, frame, len, now_ns, &r);
 *     if (r.drop != NET_DROP_NONE) { ... consume the descriptor, nothing else ... }
 *     for (int p = net_port_set_next(&r.ports, -1); p >= 0; p = net_port_set_next(&r.ports, p)) {
 *         if (deliver(p, frame, len) == 0) net_switch_count_delivered(sw, p, len);
 *         else net_switch_count_drop(sw, p, NET_DIR_TO_PORT, NET_DROP_NO_BUFFER);
 *     }
 */
#ifndef XENO_NET_SWITCH_H
#define XENO_NET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/eth.h"
#include "proto/netback_stats.h" /* enum net_drop_reason, enum net_dir */

#define NET_SWITCH_MAX_PORTS 256
#define NET_SWITCH_AGING_DEFAULT_NS (300ull * 1000000000ull) /* Linux bridge default */
/* The learning table: NET_SWITCH_MAC_SETS sets of NET_SWITCH_MAC_WAYS entries; a full
 * set replaces its least recently seen entry, so the table never grows and a flood of
 * invented source MACs from outside only costs the outside its own entries. */
#define NET_SWITCH_MAC_SETS 1024
#define NET_SWITCH_MAC_WAYS 4
#define NET_PORT_SET_WORDS (NET_SWITCH_MAX_PORTS / 64)

enum net_port_kind {
    NET_PORT_DOMAIN = 0,
    NET_PORT_UPLINK,
};

#define NET_PORT_MAX_IPV6 4

struct net_port_config {
    enum net_port_kind kind;
    /* Domain ports only (ignored for the uplink): */
    uint8_t mac[NET_ETH_ALEN]; /* unicast, not zero */
    bool has_ipv4;
    uint32_t ipv4;                       /* host order; not 0.0.0.0, not multicast or broadcast */
    unsigned ipv6_count;                 /* 0: IPv6 is dropped */
    uint8_t ipv6[NET_PORT_MAX_IPV6][16]; /* global or unique-local addresses */
};

struct net_port_set {
    uint64_t bits[NET_PORT_SET_WORDS];
};

struct net_route {
    struct net_port_set ports; /* where to deliver; empty when drop != NET_DROP_NONE */
    enum net_drop_reason drop;
    struct net_frame frame; /* the parsed headers (for QoS, accounting, audit) */
};

struct net_port_stats {
    uint64_t packets[2]; /* [enum net_dir] */
    uint64_t bytes[2];
    uint64_t drops[2][NET_DROP__COUNT];
};

struct net_switch_config {
    uint64_t aging_ns; /* learnt MAC lifetime; 0: NET_SWITCH_AGING_DEFAULT_NS */
};

struct net_switch;

/* 0 and *out, or -EINVAL/-ENOMEM with a message. */
int net_switch_create(const struct net_switch_config *cfg, struct net_switch **out);
void net_switch_destroy(struct net_switch *sw);

/* Adds a port; *port_out is its id (lowest free). -EINVAL (bad config: multicast or zero
 * MAC, bad address), -EEXIST (a second uplink, or a MAC another port has), -ENOSPC (all
 * ports in use); each with a message. */
int net_switch_port_add(struct net_switch *sw, const struct net_port_config *cfg, unsigned *port_out);
/* Changes a port's addresses live (kind cannot change). Same errors, plus -ENOENT. The
 * counters stay; the old MAC's static entry goes. */
int net_switch_port_update(struct net_switch *sw, unsigned port, const struct net_port_config *cfg);
/* Removes a port and every MAC learnt on it. -ENOENT if there is no such port. */
int net_switch_port_remove(struct net_switch *sw, unsigned port);
/* The port's current configuration. -ENOENT if there is no such port. */
int net_switch_port_config(const struct net_switch *sw, unsigned port, struct net_port_config *out);

/* Decides where frame[0..len), received on in_port at now_ns, goes. Fills *out (also
 * parsed headers) and returns 0; out->drop says whether and why it is dropped, and the
 * drop is already counted on in_port. -ENOENT (no such port) is the only error: a bad
 * frame is a drop, not an error. */
int net_switch_route(struct net_switch *sw, unsigned in_port, const void *frame, size_t len, uint64_t now_ns,
                     struct net_route *out);

/* Counts a frame of len bytes delivered to port (NET_DIR_TO_PORT). Unknown ports ignored. */
void net_switch_count_delivered(struct net_switch *sw, unsigned port, size_t len);
/* Counts a drop the caller decided (QoS, no buffer) on port in direction dir. */
void net_switch_count_drop(struct net_switch *sw, unsigned port, enum net_dir dir, enum net_drop_reason why);
/* A copy of the port's counters. -ENOENT if there is no such port. */
int net_switch_port_stats(const struct net_switch *sw, unsigned port, struct net_port_stats *out);

/* The port a MAC is known on at now_ns (static or learnt and not aged), or -ENOENT. */
int net_switch_lookup(const struct net_switch *sw, const uint8_t mac[NET_ETH_ALEN], uint64_t now_ns);
/* Forgets learnt entries older than the aging time (the table also ages lazily on lookup;
 * this only frees slots early). Returns how many were forgotten. */
unsigned net_switch_expire(struct net_switch *sw, uint64_t now_ns);

static inline bool net_port_set_has(const struct net_port_set *s, unsigned port)
{
    return port < NET_SWITCH_MAX_PORTS && (s->bits[port / 64] >> (port % 64)) & 1;
}

static inline bool net_port_set_empty(const struct net_port_set *s)
{
    for (unsigned i = 0; i < NET_PORT_SET_WORDS; i++)
        if (s->bits[i])
            return false;
    return true;
}

/* The lowest port in s above `after` (-1 to start), or -1 when none is left. */
static inline int net_port_set_next(const struct net_port_set *s, int after)
{
    unsigned start = (unsigned)(after + 1);
    for (unsigned w = start / 64; w < NET_PORT_SET_WORDS; w++) {
        uint64_t bits = s->bits[w];
        if (w == start / 64)
            bits &= start % 64 ? ~0ull << (start % 64) : ~0ull;
        if (bits)
            return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
    }
    return -1;
}

static inline unsigned net_port_set_count(const struct net_port_set *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < NET_PORT_SET_WORDS; i++)
        n += (unsigned)__builtin_popcountll(s->bits[i]);
    return n;
}

#endif
