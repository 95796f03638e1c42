/* Header parsing of one Ethernet frame that a guest (or the outside world) wrote: every
 * length is checked before a byte is read, nothing is copied but a few header fields, and
 * the result names the layer that was bad. Enough for the switch's anti-spoofing
 * (src/net/switch.h) and for flow accounting and audit (5-tuple, TCP flags).
 *
 * Layers parsed: Ethernet II, up to two 802.1Q/802.1ad tags, ARP (Ethernet/IPv4 only),
 * IPv4 (options skipped), IPv6 (hop-by-hop, routing, destination options and fragment
 * extension headers followed), TCP, UDP, ICMP and ICMPv6 (type and code). Other
 * ethertypes and IP protocols are not errors: they parse as NET_L3_OTHER / the bare
 * protocol number with no ports.
 *
 * What counts as malformed (the frame is unusable for the switch):
 *   - fewer than 14 bytes, or a VLAN tag cut short;
 *   - ARP shorter than 28 bytes, or not Ethernet/IPv4 (htype 1, ptype 0x0800, 6/4), or an
 *     opcode other than request (1) or reply (2);
 *   - IPv4 with version != 4, IHL < 5, total length < IHL x 4 or beyond the frame; bytes
 *     after the total length are Ethernet padding and ignored;
 *   - IPv6 with version != 6, a payload length beyond the frame, an extension header cut
 *     short, or more than NET_IPV6_MAX_EXT extension headers;
 *   - in an unfragmented packet or a first fragment: a TCP header shorter than 20 bytes or
 *     than its data offset, a UDP header shorter than 8 bytes or a UDP length that
 *     disagrees with the IP payload, an ICMP/ICMPv6 header shorter than 4 bytes (a
 *     first fragment too short to hold its transport header is the "tiny fragment" attack
 *     of RFC 1858 and is refused like a truncated one).
 * Later fragments (offset != 0) carry no transport header: they parse with l4_present
 * false and are not malformed.
 *
 * Byte order: MAC addresses as on the wire; IPv4 addresses, ports and ethertypes in host
 * order (0x0a000002 is 10.0.0.2); IPv6 addresses as on the wire (16 bytes). */
#ifndef XENO_LIB_ETH_H
#define XENO_LIB_ETH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define NET_ETH_HLEN 14
#define NET_ETH_ALEN 6
#define NET_ETHERTYPE_IPV4 0x0800
#define NET_ETHERTYPE_ARP 0x0806
#define NET_ETHERTYPE_IPV6 0x86dd
#define NET_ETHERTYPE_VLAN 0x8100 /* 802.1Q */
#define NET_ETHERTYPE_QINQ 0x88a8 /* 802.1ad */
#define NET_VLAN_MAX_TAGS 2
#define NET_IPV6_MAX_EXT 8

#define NET_IPPROTO_ICMP 1
#define NET_IPPROTO_TCP 6
#define NET_IPPROTO_UDP 17
#define NET_IPPROTO_ICMPV6 58

#define NET_TCP_FIN 0x01
#define NET_TCP_SYN 0x02
#define NET_TCP_RST 0x04
#define NET_TCP_PSH 0x08
#define NET_TCP_ACK 0x10
#define NET_TCP_URG 0x20

#define NET_ARP_REQUEST 1
#define NET_ARP_REPLY 2

/* Where a frame stopped making sense. NET_PARSE_OK: every layer present was well formed. */
enum net_parse_error {
    NET_PARSE_OK = 0,
    NET_PARSE_ETH_TRUNCATED,  /* shorter than the 14-byte Ethernet header */
    NET_PARSE_VLAN_TRUNCATED, /* a VLAN tag cut short, or more than NET_VLAN_MAX_TAGS */
    NET_PARSE_ARP_BAD,        /* short, not Ethernet/IPv4, or an unknown opcode */
    NET_PARSE_IPV4_BAD,       /* version, header length or total length wrong */
    NET_PARSE_IPV6_BAD,       /* version, payload length or an extension header wrong */
    NET_PARSE_L4_BAD,         /* TCP/UDP/ICMP header truncated or inconsistent */
    NET_PARSE__COUNT
};

enum net_l3 {
    NET_L3_NONE = 0, /* nothing parsed yet (or the Ethernet header was bad) */
    NET_L3_ARP,
    NET_L3_IPV4,
    NET_L3_IPV6,
    NET_L3_OTHER, /* an ethertype this parser does not look into */
};

/* What net_eth_parse found. Offsets are from the start of the frame. */
struct net_frame {
    const uint8_t *data; /* the frame parsed (not copied) */
    size_t len;
    enum net_parse_error error;

    /* Ethernet */
    const uint8_t *dst; /* 6 bytes, into data */
    const uint8_t *src; /* 6 bytes, into data */
    uint16_t ethertype; /* after any VLAN tags */
    unsigned vlan_count;
    uint16_t vlan_tci[NET_VLAN_MAX_TAGS];
    size_t l3_off;
    enum net_l3 l3;

    /* ARP (l3 == NET_L3_ARP) */
    uint16_t arp_op;
    const uint8_t *arp_sha; /* sender hardware address, 6 bytes */
    uint32_t arp_spa;       /* sender protocol address */
    const uint8_t *arp_tha;
    uint32_t arp_tpa;

    /* IPv4 / IPv6 */
    uint32_t ip4_src, ip4_dst;        /* IPv4 */
    uint8_t ip6_src[16], ip6_dst[16]; /* IPv6 */
    uint8_t ip_proto;                 /* transport protocol (IPv6: after the extension headers) */
    uint8_t ip_ttl;                   /* TTL / hop limit */
    bool ip_fragment;                 /* part of a fragmented packet (first or later) */
    bool ip_later_fragment;           /* a fragment other than the first: no transport header */
    size_t l4_off;                    /* where the transport header starts */
    size_t l4_len;                    /* bytes of transport header and payload (IP padding excluded) */

    /* Transport (l4_present: a TCP/UDP/ICMP/ICMPv6 header was found and checked) */
    bool l4_present;
    uint16_t src_port, dst_port;  /* TCP/UDP */
    uint8_t tcp_flags;            /* NET_TCP_* */
    uint8_t icmp_type, icmp_code; /* ICMP / ICMPv6 */
};

/* Parses frame[0..len). Always fills *out as far as the frame was good and returns
 * out->error (NET_PARSE_OK or the first bad layer). Never reads outside frame[0..len). */
enum net_parse_error net_eth_parse(const void *frame, size_t len, struct net_frame *out);

/* A short, fixed name for display ("ok", "eth-truncated", ...). Never NULL. */
const char *net_parse_error_name(enum net_parse_error e);

static inline bool net_mac_is_multicast(const uint8_t *mac)
{
    return (mac[0] & 1) != 0; /* the I/G bit; broadcast is multicast too */
}

static inline bool net_mac_is_broadcast(const uint8_t *mac)
{
    static const uint8_t bcast[NET_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    return memcmp(mac, bcast, NET_ETH_ALEN) == 0;
}

static inline bool net_mac_is_zero(const uint8_t *mac)
{
    static const uint8_t zero[NET_ETH_ALEN];
    return memcmp(mac, zero, NET_ETH_ALEN) == 0;
}

static inline bool net_mac_equal(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, NET_ETH_ALEN) == 0;
}

/* MAC addresses as text: mac_addr_parse() / mac_addr_format() in lib/mac_addr.h. */
/* Parses dotted IPv4 "10.0.0.2" into host order. 0 or -EINVAL with a message. */
int net_ipv4_parse(const char *text, uint32_t *addr);

#endif
