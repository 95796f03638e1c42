/* One flow as the audit engine keeps and logs it: a connection (or UDP/ICMP conversation)
 * seen from one backend port, both directions in one record. "Local" is the domain's end,
 * "remote" the other; index 0 of the per-direction arrays is what the domain sent
 * (AUDIT_DIR_OUT), index 1 what it received. */
#ifndef XENO_AUDIT_FLOW_RECORD_H
#define XENO_AUDIT_FLOW_RECORD_H

#include <stdint.h>

/* Why a flow's record was written. */
enum flow_end_reason {
    FLOW_END_IDLE = 0,     /* no packet for the protocol's idle timeout */
    FLOW_END_TCP = 1,      /* FIN both ways, or RST */
    FLOW_END_ACTIVE = 2,   /* still running after the active timeout: this is one slice */
    FLOW_END_EVICTED = 3,  /* the table was full and this was the least recently seen */
    FLOW_END_SHUTDOWN = 4, /* the engine was flushed (port unbound, backend stopping) */
    FLOW_END__COUNT
};

/* flow_record.flags */
#define FLOW_F_DROPPED 0x01   /* at least one packet was dropped by a rule or detector */
#define FLOW_F_THROTTLED 0x02 /* at least one packet got a throttle verdict */

/* Addresses: IPv4 in the first 4 bytes in network order, the rest zero; IPv6 as on the wire.
 * ICMP/ICMPv6: rport holds type << 8 | code (as nfdump shows it), lport 0. 40 bytes, no
 * padding, so it hashes and compares as bytes. */
struct flow_key {
    uint8_t local[16];
    uint8_t remote[16];
    uint16_t lport, rport;
    uint16_t port; /* the backend's port (one per domain interface) */
    uint8_t proto;
    uint8_t family; /* 4 or 6 */
};

struct flow_record {
    struct flow_key key;
    uint8_t dir;        /* who sent the first packet: 0 the domain, 1 the remote */
    uint8_t end_reason; /* enum flow_end_reason */
    uint8_t flags;      /* FLOW_F_* */
    uint8_t tcp_flags[2];
    uint32_t owner; /* the audit engine's owner id (domain + sponsor) */
    uint64_t packets[2];
    uint64_t bytes[2];
    uint64_t start_ns, end_ns; /* first and last packet, ns since the epoch */
};

#endif
