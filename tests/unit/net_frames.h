/* Builders of test frames for the network unit tests (test_net_eth.c, test_net_switch.c):
 * each writes a well-formed frame into a caller's buffer and returns its length, so a
 * test can then cut or corrupt exactly one field. Checksums are left zero: nothing in
 * the switch reads them (virtio-net guests offload them). */
#ifndef XENO_TESTS_NET_FRAMES_H
#define XENO_TESTS_NET_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/eth.h"

#define FRAME_MAX 2048

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static inline size_t build_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, type);
    return 14;
}

/* ARP over Ethernet: op, sender MAC/IP, target MAC/IP. 42 bytes. */
static inline size_t build_arp(uint8_t *f, const uint8_t *eth_dst, const uint8_t *eth_src, uint16_t op,
                               const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    size_t o = build_eth(f, eth_dst, eth_src, NET_ETHERTYPE_ARP);
    uint8_t *a = f + o;
    put16(a, 1);
    put16(a + 2, NET_ETHERTYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    put32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    return o + 28;
}

/* IPv4 header (20 bytes, no options) at f+o carrying l4_len bytes of protocol proto. */
static inline size_t build_ip4_hdr(uint8_t *f, size_t o, uint8_t proto, uint32_t src, uint32_t dst, size_t l4_len)
{
    uint8_t *ip = f + o;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4_len));
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    return o + 20;
}

/* Ethernet + IPv4 + UDP with payload bytes of zeros. */
static inline size_t build_udp4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
                                uint16_t sport, uint16_t dport, size_t payload)
{
    size_t o = build_eth(f, dmac, smac, NET_ETHERTYPE_IPV4);
    o = build_ip4_hdr(f, o, NET_IPPROTO_UDP, src, dst, 8 + payload);
    put16(f + o, sport);
    put16(f + o + 2, dport);
    put16(f + o + 4, (uint16_t)(8 + payload));
    put16(f + o + 6, 0);
    memset(f + o + 8, 0, payload);
    return o + 8 + payload;
}

/* Ethernet + IPv4 + TCP (20-byte header) with flags and payload bytes. */
static inline size_t build_tcp4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
                                uint16_t sport, uint16_t dport, uint8_t flags, size_t payload)
{
    size_t o = build_eth(f, dmac, smac, NET_ETHERTYPE_IPV4);
    o = build_ip4_hdr(f, o, NET_IPPROTO_TCP, src, dst, 20 + payload);
    uint8_t *t = f + o;
    memset(t, 0, 20 + payload);
    put16(t, sport);
    put16(t + 2, dport);
    t[12] = 5 << 4;
    t[13] = flags;
    return o + 20 + payload;
}

/* Ethernet + IPv6 header with next header nh and payload_len bytes after it (not written). */
static inline size_t build_ip6_hdr(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, const uint8_t *src,
                                   const uint8_t *dst, uint8_t nh, size_t payload_len)
{
    size_t o = build_eth(f, dmac, smac, NET_ETHERTYPE_IPV6);
    uint8_t *ip = f + o;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)payload_len);
    ip[6] = nh;
    ip[7] = 255;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    return o + 40;
}

static inline size_t build_udp6(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, const uint8_t *src,
                                const uint8_t *dst, uint16_t sport, uint16_t dport, size_t payload)
{
    size_t o = build_ip6_hdr(f, dmac, smac, src, dst, NET_IPPROTO_UDP, 8 + payload);
    put16(f + o, sport);
    put16(f + o + 2, dport);
    put16(f + o + 4, (uint16_t)(8 + payload));
    put16(f + o + 6, 0);
    memset(f + o + 8, 0, payload);
    return o + 8 + payload;
}

/* ICMPv6 neighbour solicitation (135) or advertisement (136) for target, with a
 * source/target link-layer address option carrying lla (NULL: no option). */
static inline size_t build_nd(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, const uint8_t *src,
                              const uint8_t *dst, uint8_t type, const uint8_t *target, const uint8_t *lla)
{
    size_t icmp_len = 24 + (lla ? 8 : 0);
    size_t o = build_ip6_hdr(f, dmac, smac, src, dst, NET_IPPROTO_ICMPV6, icmp_len);
    uint8_t *m = f + o;
    memset(m, 0, icmp_len);
    m[0] = type;
    memcpy(m + 8, target, 16);
    if (lla) {
        m[24] = type == 135 ? 1 : 2;
        m[25] = 1;
        memcpy(m + 26, lla, 6);
    }
    return o + icmp_len;
}

/* ICMPv6 message of the given type with a 4-byte body of zeros (RS, RA, MLD, echo...). */
static inline size_t build_icmp6(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, const uint8_t *src,
                                 const uint8_t *dst, uint8_t type, size_t body)
{
    size_t o = build_ip6_hdr(f, dmac, smac, src, dst, NET_IPPROTO_ICMPV6, 4 + body);
    memset(f + o, 0, 4 + body);
    f[o] = type;
    return o + 4 + body;
}

#endif
