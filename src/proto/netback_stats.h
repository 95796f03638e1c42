/* xeno-netback's counters page (the `stats` file of its state directory, src/net/state_dir.h):
 * the backend writes it, xenod maps it read-only to bill traffic per domain and to watch the
 * backend's heartbeat. The layout and the drop reasons' numbers are the contract between the
 * two programs; the names are what the API and xenctl show. */
#ifndef XENO_PROTO_NETBACK_STATS_H
#define XENO_PROTO_NETBACK_STATS_H

#include <stdint.h>

/* Why a frame was not forwarded (or not delivered). Stable numbers: they are counters. */
enum net_drop_reason {
    NET_DROP_NONE = 0,
    NET_DROP_MALFORMED,         /* a header cut short or inconsistent (net_frame.error) */
    NET_DROP_SRC_MAC,           /* domain: source MAC not the port's MAC */
    NET_DROP_SRC_MULTICAST,     /* source MAC multicast/broadcast or all-zero */
    NET_DROP_VLAN,              /* domain: VLAN-tagged frame */
    NET_DROP_ETHERTYPE,         /* domain: ethertype not IPv4, ARP or IPv6 */
    NET_DROP_IPV4_SRC,          /* domain: IPv4 source not the port's address */
    NET_DROP_IPV4_UNCONFIGURED, /* domain: IPv4 (not DHCP) or ARP but no IPv4 address set */
    NET_DROP_ARP_SENDER_MAC,    /* domain: ARP sender MAC not the port's MAC */
    NET_DROP_ARP_SENDER_IP,     /* domain: ARP sender IP not the port's (or 0.0.0.0) */
    NET_DROP_IPV6_UNCONFIGURED, /* domain: IPv6 but no IPv6 address set */
    NET_DROP_IPV6_SRC,          /* domain: IPv6 source not the port's addresses */
    NET_DROP_ND_SPOOF,          /* domain: neighbour discovery for another address or MAC */
    NET_DROP_UPLINK_LOCAL_SRC,  /* uplink: source MAC is a domain port's MAC */
    NET_DROP_NO_DESTINATION,    /* nowhere to go (to itself, or no other port) */
    NET_DROP_QOS,               /* caller: a bandwidth limit refused the frame */
    NET_DROP_NO_BUFFER,         /* caller: the receiver had no room */
    NET_DROP_AUDIT,             /* caller: the audit engine refused the flow (docs/audit.md) */
    NET_DROP__COUNT
};

/* A short, fixed name for display and counters ("src-mac", ...). Never NULL. */
const char *net_drop_reason_name(enum net_drop_reason r);

enum net_dir {
    NET_DIR_FROM_PORT = 0, /* sent by the port (a domain's transmit) */
    NET_DIR_TO_PORT = 1,   /* delivered to the port (a domain's receive) */
};

#define NB_STATS_MAGIC 0x5342454eu /* "NEBS" little-endian */
#define NB_STATS_VERSION 1
#define NB_STATS_MAX_PORTS 256

struct nb_stats_port {
    char name[32];
    char domain[64]; /* port-add's domain= and sponsor=: who the traffic is billed to */
    char sponsor[64];
    uint64_t id;
    uint32_t connected;
    uint32_t pad;
    uint64_t connects;
    /* [enum net_dir]: FROM_PORT = what the domain sent, TO_PORT = what it received */
    uint64_t packets[2];
    uint64_t bytes[2];
    uint64_t drops[2][NET_DROP__COUNT]; /* by enum net_drop_reason */
    uint64_t ring_errors;
    uint64_t recovered_resent, recovered_skipped, recovery_timeouts;
};

/* Sequence lock as in src/lib/stats_page.h: seq odd while the backend writes. */
struct nb_stats_page {
    uint32_t magic;
    uint32_t version;
    volatile uint32_t seq;
    uint32_t pid;
    uint64_t started_ns; /* CLOCK_REALTIME */
    uint64_t updated_ns; /* CLOCK_REALTIME of the last update */
    uint64_t heartbeat;  /* +1 per update: on counter changes (at most every 100 ms) and on SIGUSR2 */
    uint32_t nports;
    uint32_t pad;
    uint64_t uplink_tx_frames, uplink_rx_frames, uplink_errors;
    struct nb_stats_port ports[NB_STATS_MAX_PORTS];
};

#endif
