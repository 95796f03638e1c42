/* The learning switch and its anti-spoofing (src/net/switch.c): every spoof a domain can
 * try is dropped with its reason and counted, what is legitimate goes where it should,
 * learning, aging, flooding and port changes. Time is a number the test chooses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "net/switch.h"
#include "net_frames.h"

#define SEC 1000000000ull

static const uint8_t MAC_A[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t MAC_B[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
static const uint8_t MAC_X[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99}; /* a host beyond the uplink */
static const uint8_t MAC_Y[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x98};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t MCAST6[6] = {0x33, 0x33, 0xff, 0x00, 0x00, 0x0b};
static const uint8_t ZERO_MAC[6];
#define IP_A 0x0a000002u
#define IP_B 0x0a000003u
#define IP_X 0x0a000001u
static const uint8_t IP6_B[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0b};
static const uint8_t IP6_OTHER[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0c};
static const uint8_t IP6_UNSPEC[16];
static const uint8_t IP6_ALLNODES[16] = {0xff, 0x02, [15] = 1};
/* B's EUI-64 link-local address: fe80::5054:ff:fe00:b */
static const uint8_t LL_B[16] = {0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x0b};

struct fixture {
    struct net_switch *sw;
    unsigned a, b, up; /* a: IPv4 only; b: IPv4 and IPv6; up: the uplink */
    uint8_t f[FRAME_MAX];
};

static int setup(void **state)
{
    struct fixture *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    assert_int_equal(net_switch_create(&(struct net_switch_config){.aging_ns = 10 * SEC}, &x->sw), 0);
    struct net_port_config up = {.kind = NET_PORT_UPLINK};
    struct net_port_config a = {.kind = NET_PORT_DOMAIN, .has_ipv4 = true, .ipv4 = IP_A};
    memcpy(a.mac, MAC_A, 6);
    struct net_port_config b = {.kind = NET_PORT_DOMAIN, .has_ipv4 = true, .ipv4 = IP_B, .ipv6_count = 1};
    memcpy(b.mac, MAC_B, 6);
    memcpy(b.ipv6[0], IP6_B, 16);
    assert_int_equal(net_switch_port_add(x->sw, &up, &x->up), 0);
    assert_int_equal(net_switch_port_add(x->sw, &a, &x->a), 0);
    assert_int_equal(net_switch_port_add(x->sw, &b, &x->b), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    net_switch_destroy(x->sw);
    free(x);
    return 0;
}

/* Routes frame[0..len) from port at time t from a heap copy of exactly len bytes. */
static struct net_route route_at(struct fixture *x, unsigned port, size_t len, uint64_t t)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, x->f, len);
    struct net_route r;
    assert_int_equal(net_switch_route(x->sw, port, copy, len, t, &r), 0);
    free(copy);
    return r;
}

static struct net_route route(struct fixture *x, unsigned port, size_t len)
{
    return route_at(x, port, len, SEC);
}

static uint64_t drops(struct fixture *x, unsigned port, enum net_drop_reason why)
{
    struct net_port_stats s;
    assert_int_equal(net_switch_port_stats(x->sw, port, &s), 0);
    return s.drops[NET_DIR_FROM_PORT][why];
}

/* The frame is dropped for `why`, and that drop (only) is counted on the input port. */
static void expect_drop(struct fixture *x, unsigned port, size_t len, enum net_drop_reason why)
{
    struct net_port_stats before, after;
    assert_int_equal(net_switch_port_stats(x->sw, port, &before), 0);
    struct net_route r = route(x, port, len);
    if (r.drop != why)
        fail_msg("port %u, %zu bytes: dropped for %s, expected %s", port, len, net_drop_reason_name(r.drop),
                 net_drop_reason_name(why));
    assert_true(net_port_set_empty(&r.ports));
    assert_int_equal(net_switch_port_stats(x->sw, port, &after), 0);
    assert_int_equal(after.drops[NET_DIR_FROM_PORT][why], before.drops[NET_DIR_FROM_PORT][why] + 1);
    assert_int_equal(after.packets[NET_DIR_FROM_PORT], before.packets[NET_DIR_FROM_PORT]);
}

/* The frame is forwarded to exactly the ports listed (a -1-terminated list). */
static void expect_to(struct fixture *x, unsigned port, size_t len, const int *want)
{
    struct net_route r = route(x, port, len);
    if (r.drop != NET_DROP_NONE)
        fail_msg("port %u, %zu bytes: dropped for %s", port, len, net_drop_reason_name(r.drop));
    struct net_port_set w = {{0}};
    for (; *want >= 0; want++)
        w.bits[*want / 64] |= 1ull << (*want % 64);
    assert_memory_equal(&r.ports, &w, sizeof(w));
}

#define TO(...) ((const int[]){__VA_ARGS__, -1})

/* --- anti-spoofing --- */

static void ipv4_source_checks(void **state)
{
    struct fixture *x = *state;
    /* B has sent nothing yet, so the switch floods to B and the uplink. */
    size_t n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1000, 2000, 10);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
    n = build_tcp4(x->f, MAC_X, MAC_A, IP_A, IP_X, 1000, 80, NET_TCP_SYN, 0);
    expect_to(x, x->a, n, TO((int)x->up));
    /* Wrong source MAC (B's, a made-up one, the right one with the U/L bit flipped). */
    n = build_udp4(x->f, MAC_B, MAC_B, IP_A, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    n = build_udp4(x->f, MAC_B, MAC_Y, IP_A, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    uint8_t flipped[6];
    memcpy(flipped, MAC_A, 6);
    flipped[0] ^= 2;
    n = build_udp4(x->f, MAC_B, flipped, IP_A, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    /* Multicast, broadcast and zero source MACs. */
    n = build_udp4(x->f, MAC_B, BCAST, IP_A, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_SRC_MULTICAST);
    n = build_udp4(x->f, MAC_B, ZERO_MAC, IP_A, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_SRC_MULTICAST);
    /* Right MAC, wrong IP: B's, the gateway's, and one bit off. */
    n = build_udp4(x->f, MAC_B, MAC_A, IP_B, IP_B, 1000, 2000, 10);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    n = build_tcp4(x->f, MAC_X, MAC_A, IP_X, IP_X, 1000, 80, NET_TCP_SYN, 0);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    n = build_tcp4(x->f, MAC_X, MAC_A, IP_A ^ 0x100, IP_X, 1000, 80, NET_TCP_SYN, 0);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    /* A later fragment is checked on its IP source too. */
    size_t o = build_ip4_hdr(x->f, build_eth(x->f, MAC_X, MAC_A, NET_ETHERTYPE_IPV4), NET_IPPROTO_UDP, IP_B, IP_X, 8);
    put16(x->f + 20, 100);
    expect_drop(x, x->a, o + 8, NET_DROP_IPV4_SRC);
    build_ip4_hdr(x->f, 14, NET_IPPROTO_UDP, IP_A, IP_X, 8);
    put16(x->f + 20, 100);
    expect_to(x, x->a, o + 8, TO((int)x->up));
}

static void dhcp_client_allowed(void **state)
{
    struct fixture *x = *state;
    /* DISCOVER/REQUEST: 0.0.0.0:68 -> 255.255.255.255:67 to broadcast. */
    size_t n = build_udp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 68, 67, 300);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    /* Also before the domain has an IPv4 address configured. */
    struct net_port_config c;
    assert_int_equal(net_switch_port_config(x->sw, x->a, &c), 0);
    c.has_ipv4 = false;
    assert_int_equal(net_switch_port_update(x->sw, x->a, &c), 0);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    /* Not DHCP: other ports, or the server's port as source. */
    n = build_udp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 68, 68, 300);
    expect_drop(x, x->a, n, NET_DROP_IPV4_UNCONFIGURED);
    c.has_ipv4 = true;
    assert_int_equal(net_switch_port_update(x->sw, x->a, &c), 0);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    n = build_udp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 67, 67, 300);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    n = build_tcp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 68, 67, 0, 0);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
    /* DHCP from someone else's MAC is still a MAC spoof. */
    n = build_udp4(x->f, BCAST, MAC_Y, 0, 0xffffffff, 68, 67, 300);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    /* A later fragment from 0.0.0.0 cannot be shown to be DHCP. */
    n = build_udp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 68, 67, 300);
    put16(x->f + 20, 10);
    expect_drop(x, x->a, n, NET_DROP_IPV4_SRC);
}

static void arp_checks(void **state)
{
    struct fixture *x = *state;
    uint8_t zero[6] = {0};
    /* A request for the gateway and a reply to B: fine. */
    size_t n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, IP_A, zero, IP_X);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    n = build_arp(x->f, MAC_B, MAC_A, NET_ARP_REPLY, MAC_A, IP_A, MAC_B, IP_B);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
    /* Gratuitous ARP for its own address: fine. For B's or the gateway's: poisoning. */
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, IP_A, zero, IP_A);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, IP_B, zero, IP_B);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_IP);
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REPLY, MAC_A, IP_X, BCAST, IP_X);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_IP);
    /* Reply claiming the gateway's IP to B. */
    n = build_arp(x->f, MAC_B, MAC_A, NET_ARP_REPLY, MAC_A, IP_X, MAC_B, IP_B);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_IP);
    /* Sender MAC in the ARP body not the port's, with a correct Ethernet source. */
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_Y, IP_A, zero, IP_X);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_MAC);
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REPLY, MAC_B, IP_B, zero, IP_X);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_MAC);
    /* Both right in the body, wrong Ethernet source. */
    n = build_arp(x->f, BCAST, MAC_B, NET_ARP_REQUEST, MAC_A, IP_A, zero, IP_X);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    /* RFC 5227 probe (sender IP 0.0.0.0) for its own address: fine; with another MAC: not. */
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, 0, zero, IP_A);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_Y, 0, zero, IP_A);
    expect_drop(x, x->a, n, NET_DROP_ARP_SENDER_MAC);
    /* Malformed ARP (bad opcode) from a domain. */
    n = build_arp(x->f, BCAST, MAC_A, 9, MAC_A, IP_A, zero, IP_X);
    expect_drop(x, x->a, n, NET_DROP_MALFORMED);
    /* No IPv4 configured: ARP claiming any address is refused, probes still pass. */
    struct net_port_config c;
    assert_int_equal(net_switch_port_config(x->sw, x->a, &c), 0);
    c.has_ipv4 = false;
    assert_int_equal(net_switch_port_update(x->sw, x->a, &c), 0);
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, IP_A, zero, IP_X);
    expect_drop(x, x->a, n, NET_DROP_IPV4_UNCONFIGURED);
    n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_drop(x, x->a, n, NET_DROP_IPV4_UNCONFIGURED);
    n = build_arp(x->f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, 0, zero, IP_A);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
}

static void ipv6_checks(void **state)
{
    struct fixture *x = *state;
    /* A has no IPv6 address: all IPv6 dropped, even from its link-local address. */
    const uint8_t ll_a[16] = {0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x0a};
    size_t n = build_udp6(x->f, MAC_B, MAC_A, ll_a, LL_B, 1, 2, 0);
    expect_drop(x, x->a, n, NET_DROP_IPV6_UNCONFIGURED);
    n = build_nd(x->f, MCAST6, MAC_A, IP6_UNSPEC, IP6_ALLNODES, 135, ll_a, NULL);
    expect_drop(x, x->a, n, NET_DROP_IPV6_UNCONFIGURED);
    /* B: from its address and its link-local one. */
    n = build_udp6(x->f, MAC_A, MAC_B, IP6_B, IP6_OTHER, 1, 2, 0);
    expect_to(x, x->b, n, TO((int)x->a, (int)x->up));
    n = build_udp6(x->f, MAC_X, MAC_B, LL_B, IP6_OTHER, 1, 2, 0);
    expect_to(x, x->b, n, TO((int)x->up));
    /* From anyone else's, from ::, from a multicast address. */
    n = build_udp6(x->f, MAC_X, MAC_B, IP6_OTHER, IP6_B, 1, 2, 0);
    expect_drop(x, x->b, n, NET_DROP_IPV6_SRC);
    n = build_udp6(x->f, MAC_X, MAC_B, IP6_UNSPEC, IP6_B, 1, 2, 0);
    expect_drop(x, x->b, n, NET_DROP_IPV6_SRC);
    n = build_udp6(x->f, MAC_X, MAC_B, IP6_ALLNODES, IP6_B, 1, 2, 0);
    expect_drop(x, x->b, n, NET_DROP_IPV6_SRC);
    /* Wrong source MAC first. */
    n = build_udp6(x->f, MAC_X, MAC_A, IP6_B, IP6_OTHER, 1, 2, 0);
    expect_drop(x, x->b, n, NET_DROP_SRC_MAC);
    /* Duplicate address detection from :: for its own address: fine; for another: a DoS. */
    n = build_nd(x->f, MCAST6, MAC_B, IP6_UNSPEC, IP6_ALLNODES, 135, IP6_B, NULL);
    expect_to(x, x->b, n, TO((int)x->up, (int)x->a));
    n = build_nd(x->f, MCAST6, MAC_B, IP6_UNSPEC, IP6_ALLNODES, 135, IP6_OTHER, NULL);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    /* Solicitation for another host (normal), with its own MAC as source LLA: fine. */
    n = build_nd(x->f, MCAST6, MAC_B, IP6_B, IP6_ALLNODES, 135, IP6_OTHER, MAC_B);
    expect_to(x, x->b, n, TO((int)x->up, (int)x->a));
    /* ... with someone else's MAC as source LLA: poisoning. */
    n = build_nd(x->f, MCAST6, MAC_B, IP6_B, IP6_ALLNODES, 135, IP6_OTHER, MAC_Y);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    /* Advertisements: for its own addresses with its MAC; not for others, not another MAC. */
    n = build_nd(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 136, IP6_B, MAC_B);
    expect_to(x, x->b, n, TO((int)x->up));
    n = build_nd(x->f, MAC_X, MAC_B, LL_B, IP6_OTHER, 136, LL_B, NULL);
    expect_to(x, x->b, n, TO((int)x->up));
    n = build_nd(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 136, IP6_OTHER, MAC_B);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    n = build_nd(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 136, IP6_B, MAC_Y);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    /* An option of length 0 (RFC 4861: invalid) or running past the message. */
    n = build_nd(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 136, IP6_B, MAC_B);
    x->f[n - 8 + 1] = 0;
    expect_drop(x, x->b, n, NET_DROP_MALFORMED);
    x->f[n - 8 + 1] = 2;
    expect_drop(x, x->b, n, NET_DROP_MALFORMED);
    /* An advertisement too short for its target. */
    n = build_icmp6(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 136, 8);
    expect_drop(x, x->b, n, NET_DROP_MALFORMED);
    /* Router advertisements and redirects: a domain is not a router. */
    n = build_icmp6(x->f, MCAST6, MAC_B, LL_B, IP6_ALLNODES, 134, 12);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    n = build_icmp6(x->f, MAC_X, MAC_B, LL_B, IP6_OTHER, 137, 36);
    expect_drop(x, x->b, n, NET_DROP_ND_SPOOF);
    /* Router solicitation and MLD report from ::, echo from its address: fine. */
    n = build_icmp6(x->f, MCAST6, MAC_B, IP6_UNSPEC, IP6_ALLNODES, 133, 4);
    expect_to(x, x->b, n, TO((int)x->up, (int)x->a));
    n = build_icmp6(x->f, MCAST6, MAC_B, IP6_UNSPEC, IP6_ALLNODES, 143, 4);
    expect_to(x, x->b, n, TO((int)x->up, (int)x->a));
    n = build_icmp6(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 128, 8);
    expect_to(x, x->b, n, TO((int)x->up));
    /* An echo from :: is not DAD. */
    n = build_icmp6(x->f, MAC_X, MAC_B, IP6_UNSPEC, IP6_OTHER, 128, 8);
    expect_drop(x, x->b, n, NET_DROP_IPV6_SRC);
    /* Malformed IPv6 from a configured port. */
    n = build_udp6(x->f, MAC_X, MAC_B, IP6_B, IP6_OTHER, 1, 2, 0);
    x->f[14] = 0x40;
    expect_drop(x, x->b, n, NET_DROP_MALFORMED);
}

static void other_ethertypes_and_vlans(void **state)
{
    struct fixture *x = *state;
    const uint16_t types[] = {0x88cc /* LLDP */, 0x8035 /* RARP */, 0x8863 /* PPPoE */, 0x0842 /* WoL */, 0x0000};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        memset(x->f, 0, 60);
        build_eth(x->f, BCAST, MAC_A, types[i]);
        expect_drop(x, x->a, 60, NET_DROP_ETHERTYPE);
    }
    /* A tagged frame from a domain (the domain's source MAC right, the payload fine). */
    uint8_t g[FRAME_MAX];
    size_t n = build_udp4(g, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    memcpy(x->f, g, 12);
    put16(x->f + 12, NET_ETHERTYPE_VLAN);
    put16(x->f + 14, 5);
    memcpy(x->f + 16, g + 12, n - 12);
    expect_drop(x, x->a, n + 4, NET_DROP_VLAN);
    expect_drop(x, x->a, 15, NET_DROP_VLAN); /* cut inside the tag */
    /* From the uplink, tags are not forwarded either: the domains are untagged. */
    memcpy(x->f + 6, MAC_X, 6);
    expect_drop(x, x->up, n + 4, NET_DROP_VLAN);
    /* Other ethertypes from the uplink go through (the host network's business). */
    memset(x->f, 0, 60);
    build_eth(x->f, MAC_A, MAC_X, 0x88cc);
    expect_to(x, x->up, 60, TO((int)x->a));
}

/* Every length 0..64 of frames cut short (and of random bytes), from a domain and from
 * the uplink: never read outside (ASan), never forwarded unless the cut frame is whole. */
static void malformed_every_length(void **state)
{
    struct fixture *x = *state;
    uint8_t zero[6] = {0};
    uint8_t good[FRAME_MAX];
    size_t lens[4];
    uint8_t frames[4][FRAME_MAX];
    lens[0] = build_udp4(frames[0], MAC_B, MAC_A, IP_A, IP_B, 1, 2, 22);
    lens[1] = build_tcp4(frames[1], MAC_B, MAC_A, IP_A, IP_B, 1, 2, NET_TCP_ACK, 10);
    lens[2] = build_arp(frames[2], BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, IP_A, zero, IP_B);
    lens[3] = build_udp6(frames[3], MAC_B, MAC_A, IP6_B, IP6_OTHER, 1, 2, 2);
    (void)good;
    for (int k = 0; k < 4; k++) {
        for (size_t len = 0; len <= 64; len++) {
            memset(x->f, 0, sizeof(x->f));
            memcpy(x->f, frames[k], len < lens[k] ? len : lens[k]);
            struct net_route r = route(x, x->a, len);
            if (len < lens[k]) {
                assert_true(net_port_set_empty(&r.ports));
                /* A's IPv6 is unconfigured: that is the first thing wrong with it. */
                enum net_drop_reason want = len < 14 ? NET_DROP_MALFORMED
                                            : k == 3 ? NET_DROP_IPV6_UNCONFIGURED
                                                     : NET_DROP_MALFORMED;
                if (r.drop != want)
                    fail_msg("frame %d cut to %zu: %s", k, len, net_drop_reason_name(r.drop));
            } else if (k != 3) {
                /* Whole, with zero padding after it. */
                if (r.drop != NET_DROP_NONE)
                    fail_msg("frame %d of %zu padded to %zu: %s", k, lens[k], len, net_drop_reason_name(r.drop));
            }
            /* The same from the uplink (source rewritten to an outside host). */
            if (len >= 12)
                memcpy(x->f + 6, MAC_X, 6);
            r = route(x, x->up, len);
            if (len < lens[k])
                assert_int_equal(r.drop, NET_DROP_MALFORMED);
        }
    }
    srand(42);
    for (size_t len = 0; len <= 64; len++)
        for (int iter = 0; iter < 500; iter++) {
            for (size_t i = 0; i < len; i++)
                x->f[i] = (uint8_t)rand();
            if (len >= 12 && iter % 2)
                memcpy(x->f + 6, MAC_A, 6);
            struct net_route r = route(x, x->a, len);
            assert_true((unsigned)r.drop < NET_DROP__COUNT);
            if (r.drop != NET_DROP_NONE)
                assert_true(net_port_set_empty(&r.ports));
            r = route(x, x->up, len);
            assert_true((unsigned)r.drop < NET_DROP__COUNT);
        }
}

/* --- forwarding --- */

static void learning_flooding_aging(void **state)
{
    struct fixture *x = *state;
    /* B has not sent anything yet: unicast to B floods to B and the uplink. */
    size_t n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
    assert_int_equal(net_switch_lookup(x->sw, MAC_A, SEC), (int)x->a); /* A was learnt */
    assert_int_equal(net_switch_lookup(x->sw, MAC_B, SEC), -ENOENT);
    /* Once B has sent, only to B. */
    n = build_udp4(x->f, MAC_A, MAC_B, IP_B, IP_A, 2, 1, 0);
    expect_to(x, x->b, n, TO((int)x->a));
    n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->b));
    /* An outside host: unknown -> only the uplink (no domain is X); learnt -> the uplink. */
    n = build_udp4(x->f, MAC_X, MAC_A, IP_A, IP_X, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->up));
    n = build_udp4(x->f, MAC_A, MAC_X, IP_X, IP_A, 2, 1, 0);
    expect_to(x, x->up, n, TO((int)x->a));
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, SEC), (int)x->up);
    /* Unknown unicast from the uplink: no domain takes it. */
    n = build_udp4(x->f, MAC_Y, MAC_X, IP_X, IP_A, 2, 1, 0);
    expect_drop(x, x->up, n, NET_DROP_NO_DESTINATION);
    /* The uplink sending to a host it is itself the way to (X -> X's neighbour on it). */
    n = build_udp4(x->f, MAC_X, MAC_Y, IP_X, IP_X, 2, 1, 0);
    expect_drop(x, x->up, n, NET_DROP_NO_DESTINATION);
    /* A sending to itself. */
    n = build_udp4(x->f, MAC_A, MAC_A, IP_A, IP_A, 2, 1, 0);
    expect_drop(x, x->a, n, NET_DROP_NO_DESTINATION);
    /* Broadcast and multicast: every other port. */
    n = build_udp4(x->f, BCAST, MAC_A, IP_A, 0xffffffff, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->up, (int)x->b));
    n = build_udp4(x->f, MCAST6, MAC_X, IP_X, 0xe0000001, 1, 2, 0);
    expect_to(x, x->up, n, TO((int)x->a, (int)x->b));

    /* Aging (10 s here): X learnt at 1 s is there at 10.9 s, gone at 11 s. */
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, 11 * SEC - 1), (int)x->up);
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, 11 * SEC), -ENOENT);
    /* A frame refreshes: seen again at 5 s, it lives to 15 s. */
    n = build_udp4(x->f, MAC_A, MAC_X, IP_X, IP_A, 2, 1, 0);
    route_at(x, x->up, n, 5 * SEC);
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, 15 * SEC - 1), (int)x->up);
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, 15 * SEC), -ENOENT);
    /* An aged entry for B: unicast to B floods again. */
    n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    struct net_route r = route_at(x, x->a, n, 20 * SEC);
    assert_true(net_port_set_has(&r.ports, x->b));
    assert_true(net_port_set_has(&r.ports, x->up));
    /* net_switch_expire frees what aged: at 25 s B and Y (seen at 1 s) and X (5 s), not A
     * (seen at 20 s); at 40 s A too. */
    assert_int_equal(net_switch_expire(x->sw, 25 * SEC), 3);
    assert_int_equal(net_switch_lookup(x->sw, MAC_A, 25 * SEC), (int)x->a);
    assert_int_equal(net_switch_expire(x->sw, 40 * SEC), 1);
    assert_int_equal(net_switch_expire(x->sw, 40 * SEC), 0);
}

static void station_move_and_uplink_claims(void **state)
{
    struct fixture *x = *state;
    /* A frame from the uplink claiming A's MAC: dropped, A's entry untouched. */
    size_t n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
    expect_drop(x, x->up, n, NET_DROP_UPLINK_LOCAL_SRC);
    assert_int_equal(net_switch_lookup(x->sw, MAC_A, SEC), (int)x->a);
    /* An outside MAC A once sent to (learnt on the uplink) stays there. */
    n = build_udp4(x->f, MAC_A, MAC_Y, IP_X, IP_A, 2, 1, 0);
    expect_to(x, x->up, n, TO((int)x->a));
    assert_int_equal(net_switch_lookup(x->sw, MAC_Y, SEC), (int)x->up);
    /* A domain reconfigured to take that MAC: the station moved. */
    struct net_port_config c;
    assert_int_equal(net_switch_port_config(x->sw, x->a, &c), 0);
    memcpy(c.mac, MAC_Y, 6);
    assert_int_equal(net_switch_port_update(x->sw, x->a, &c), 0);
    n = build_udp4(x->f, MAC_B, MAC_Y, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
    assert_int_equal(net_switch_lookup(x->sw, MAC_Y, SEC), (int)x->a);
    /* The old MAC is now a spoof, and forgotten. */
    n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_drop(x, x->a, n, NET_DROP_SRC_MAC);
    assert_int_equal(net_switch_lookup(x->sw, MAC_A, SEC), -ENOENT);
    /* And the outside may use it again. */
    n = build_udp4(x->f, MAC_Y, MAC_A, IP_X, IP_A, 2, 1, 0);
    expect_to(x, x->up, n, TO((int)x->a));
}

static void port_removal_forgets(void **state)
{
    struct fixture *x = *state;
    size_t n = build_udp4(x->f, MAC_A, MAC_B, IP_B, IP_A, 1, 2, 0);
    expect_to(x, x->b, n, TO((int)x->a, (int)x->up));
    assert_int_equal(net_switch_lookup(x->sw, MAC_B, SEC), (int)x->b);
    /* Two outside hosts learnt on the uplink. */
    n = build_udp4(x->f, BCAST, MAC_X, IP_X, 0xffffffff, 1, 2, 0);
    route(x, x->up, n);
    n = build_udp4(x->f, BCAST, MAC_Y, IP_X, 0xffffffff, 1, 2, 0);
    route(x, x->up, n);
    assert_int_equal(net_switch_lookup(x->sw, MAC_Y, SEC), (int)x->up);

    assert_int_equal(net_switch_port_remove(x->sw, x->b), 0);
    assert_int_equal(net_switch_lookup(x->sw, MAC_B, SEC), -ENOENT);
    assert_int_equal(net_switch_port_remove(x->sw, x->b), -ENOENT);
    struct net_port_stats s;
    assert_int_equal(net_switch_port_stats(x->sw, x->b, &s), -ENOENT);
    struct net_route r;
    assert_int_equal(net_switch_route(x->sw, x->b, x->f, n, SEC, &r), -ENOENT);
    assert_non_null(strstr(err_msg(), "does not exist"));
    /* Traffic to B's MAC now only goes out of the uplink; broadcasts skip B. */
    n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->up));
    n = build_udp4(x->f, BCAST, MAC_A, IP_A, 0xffffffff, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->up));

    /* Removing the uplink forgets everything learnt on it; a new uplink may be added. */
    assert_int_equal(net_switch_port_remove(x->sw, x->up), 0);
    assert_int_equal(net_switch_lookup(x->sw, MAC_X, SEC), -ENOENT);
    assert_int_equal(net_switch_lookup(x->sw, MAC_Y, SEC), -ENOENT);
    n = build_udp4(x->f, MAC_X, MAC_A, IP_A, IP_X, 1, 2, 0);
    expect_drop(x, x->a, n, NET_DROP_NO_DESTINATION);
    unsigned up2;
    assert_int_equal(net_switch_port_add(x->sw, &(struct net_port_config){.kind = NET_PORT_UPLINK}, &up2), 0);
    assert_int_equal(up2, x->up); /* lowest free id */
    expect_to(x, x->a, n, TO((int)up2));
    /* A fresh port in a removed one's place starts with zero counters. */
    struct net_port_config c = {.kind = NET_PORT_DOMAIN, .has_ipv4 = true, .ipv4 = IP_B};
    memcpy(c.mac, MAC_B, 6);
    unsigned b2;
    assert_int_equal(net_switch_port_add(x->sw, &c, &b2), 0);
    assert_int_equal(b2, x->b);
    assert_int_equal(net_switch_port_stats(x->sw, b2, &s), 0);
    assert_int_equal(s.packets[NET_DIR_FROM_PORT], 0);
}

static void learning_table_is_bounded(void **state)
{
    struct fixture *x = *state;
    /* 20000 invented sources from the uplink: far more than the table holds. */
    const unsigned total = 20000;
    uint8_t mac[6] = {0x02, 0xaa, 0, 0, 0, 0};
    for (unsigned i = 0; i < total; i++) {
        mac[3] = (uint8_t)(i >> 16);
        mac[4] = (uint8_t)(i >> 8);
        mac[5] = (uint8_t)i;
        size_t n = build_udp4(x->f, BCAST, mac, IP_X, 0xffffffff, 1, 2, 0);
        route_at(x, x->up, n, SEC + i);
    }
    /* The table holds at most its size, and what it forgot were the oldest. */
    unsigned known = 0, recent_known = 0;
    for (unsigned i = 0; i < total; i++) {
        mac[3] = (uint8_t)(i >> 16);
        mac[4] = (uint8_t)(i >> 8);
        mac[5] = (uint8_t)i;
        if (net_switch_lookup(x->sw, mac, SEC + total) >= 0) {
            known++;
            if (i >= total - 1000)
                recent_known++;
        }
    }
    assert_true(known <= NET_SWITCH_MAC_SETS * NET_SWITCH_MAC_WAYS);
    assert_true(known >= NET_SWITCH_MAC_SETS * NET_SWITCH_MAC_WAYS * 9 / 10);
    /* Of the last 1000 (a quarter of the table), almost all are still there. */
    assert_true(recent_known >= 990);
    /* The domains still work. */
    size_t n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 0);
    expect_to(x, x->a, n, TO((int)x->b, (int)x->up));
}

static void counters(void **state)
{
    struct fixture *x = *state;
    size_t n = build_udp4(x->f, MAC_B, MAC_A, IP_A, IP_B, 1, 2, 100);
    for (int i = 0; i < 3; i++)
        route(x, x->a, n);
    size_t m = build_udp4(x->f, MAC_B, MAC_A, IP_B, IP_B, 1, 2, 10);
    route(x, x->a, m);
    route(x, x->a, m);
    net_switch_count_delivered(x->sw, x->b, n);
    net_switch_count_delivered(x->sw, x->b, n);
    net_switch_count_drop(x->sw, x->b, NET_DIR_TO_PORT, NET_DROP_QOS);
    net_switch_count_drop(x->sw, x->b, NET_DIR_TO_PORT, NET_DROP_NO_BUFFER);
    net_switch_count_drop(x->sw, x->b, NET_DIR_TO_PORT, NET_DROP__COUNT); /* ignored */
    net_switch_count_delivered(x->sw, 200, n);                            /* no such port: ignored */
    struct net_port_stats s;
    assert_int_equal(net_switch_port_stats(x->sw, x->a, &s), 0);
    assert_int_equal(s.packets[NET_DIR_FROM_PORT], 3);
    assert_int_equal(s.bytes[NET_DIR_FROM_PORT], 3 * n);
    assert_int_equal(s.drops[NET_DIR_FROM_PORT][NET_DROP_IPV4_SRC], 2);
    assert_int_equal(s.packets[NET_DIR_TO_PORT], 0);
    assert_int_equal(net_switch_port_stats(x->sw, x->b, &s), 0);
    assert_int_equal(s.packets[NET_DIR_TO_PORT], 2);
    assert_int_equal(s.bytes[NET_DIR_TO_PORT], 2 * n);
    assert_int_equal(s.drops[NET_DIR_TO_PORT][NET_DROP_QOS], 1);
    assert_int_equal(s.drops[NET_DIR_TO_PORT][NET_DROP_NO_BUFFER], 1);
    assert_int_equal(s.packets[NET_DIR_FROM_PORT], 0);
    assert_int_equal(drops(x, x->b, NET_DROP_IPV4_SRC), 0);
    /* The drop reasons have distinct names for display. */
    for (int r = 0; r < NET_DROP__COUNT; r++) {
        assert_string_not_equal(net_drop_reason_name(r), "unknown");
        for (int q = 0; q < r; q++)
            assert_string_not_equal(net_drop_reason_name(r), net_drop_reason_name(q));
    }
    assert_string_equal(net_drop_reason_name(NET_DROP__COUNT), "unknown");
}

static void port_config_errors(void **state)
{
    struct fixture *x = *state;
    unsigned p;
    struct net_port_config c = {.kind = NET_PORT_DOMAIN};
    memcpy(c.mac, MAC_Y, 6);
    assert_int_equal(net_switch_port_add(x->sw, &(struct net_port_config){.kind = NET_PORT_UPLINK}, &p), -EEXIST);
    assert_non_null(strstr(err_msg(), "already the uplink"));
    struct net_port_config dup = c;
    memcpy(dup.mac, MAC_A, 6);
    assert_int_equal(net_switch_port_add(x->sw, &dup, &p), -EEXIST);
    assert_non_null(strstr(err_msg(), "52:54:00:00:00:0a"));
    struct net_port_config bad = c;
    memcpy(bad.mac, BCAST, 6);
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    assert_non_null(strstr(err_msg(), "multicast"));
    memcpy(bad.mac, ZERO_MAC, 6);
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    assert_non_null(strstr(err_msg(), "zero"));
    const uint32_t bad_ips[] = {0, 0xffffffffu, 0xe0000001u, 0x7f000001u};
    for (size_t i = 0; i < 4; i++) {
        bad = c;
        bad.has_ipv4 = true;
        bad.ipv4 = bad_ips[i];
        assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
        assert_non_null(strstr(err_msg(), "IPv4"));
    }
    bad = c;
    bad.ipv6_count = NET_PORT_MAX_IPV6 + 1;
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    bad.ipv6_count = 1;
    memcpy(bad.ipv6[0], IP6_ALLNODES, 16);
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    memcpy(bad.ipv6[0], IP6_UNSPEC, 16);
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    bad.kind = (enum net_port_kind)7;
    assert_int_equal(net_switch_port_add(x->sw, &bad, &p), -EINVAL);
    /* Update: no such port, kind change, taking another port's MAC. */
    assert_int_equal(net_switch_port_update(x->sw, 77, &c), -ENOENT);
    assert_int_equal(net_switch_port_update(x->sw, x->up, &c), -EINVAL);
    assert_int_equal(net_switch_port_update(x->sw, x->a, &dup), 0); /* its own MAC: fine */
    memcpy(dup.mac, MAC_B, 6);
    assert_int_equal(net_switch_port_update(x->sw, x->a, &dup), -EEXIST);
    assert_int_equal(net_switch_port_config(x->sw, 999, &c), -ENOENT);
    /* Fill every port: the next one does not fit. */
    unsigned added = 0;
    for (unsigned i = 0; i < NET_SWITCH_MAX_PORTS; i++) {
        struct net_port_config d = {.kind = NET_PORT_DOMAIN, .mac = {0x02, 0x11, 0, 0, (uint8_t)(i >> 8), (uint8_t)i}};
        int rc = net_switch_port_add(x->sw, &d, &p);
        if (rc == -ENOSPC) {
            assert_non_null(strstr(err_msg(), "in use"));
            break;
        }
        assert_int_equal(rc, 0);
        added++;
    }
    assert_int_equal(added, NET_SWITCH_MAX_PORTS - 3);
    /* With 256 ports, a broadcast from A goes to all 255 others. */
    size_t n = build_udp4(x->f, BCAST, MAC_A, 0, 0xffffffff, 68, 67, 0);
    struct net_route r = route(x, x->a, n);
    assert_int_equal(net_port_set_count(&r.ports), NET_SWITCH_MAX_PORTS - 1);
    assert_false(net_port_set_has(&r.ports, x->a));
    int last = -1, count = 0;
    for (int q = net_port_set_next(&r.ports, -1); q >= 0; q = net_port_set_next(&r.ports, q)) {
        assert_true(q > last);
        last = q;
        count++;
    }
    assert_int_equal(count, NET_SWITCH_MAX_PORTS - 1);
    assert_int_equal(last, NET_SWITCH_MAX_PORTS - 1);
    /* A unicast to the highest port, once learnt. */
    uint8_t hi[6] = {0x02, 0x11, 0, 0, 0, (uint8_t)(NET_SWITCH_MAX_PORTS - 4)};
    hi[4] = (uint8_t)((NET_SWITCH_MAX_PORTS - 4) >> 8);
    n = build_udp4(x->f, MAC_A, hi, 0, 0xffffffff, 68, 67, 0);
    expect_to(x, NET_SWITCH_MAX_PORTS - 1, n, TO((int)x->a));
}

/* Random port changes and random (mostly plausible) frames, checked against the rules
 * themselves: a domain's frame is forwarded only from its configured MAC (and, for IPv4
 * other than DHCP, from its address); never back to its input port; a domain port only
 * receives frames addressed to its MAC or to a group; removed ports never appear. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void random_ports_and_frames(void **state)
{
    struct fixture *x = *state;
    uint32_t seed = 12345;
    bool used[NET_SWITCH_MAX_PORTS] = {0};
    struct net_port_config cfg[NET_SWITCH_MAX_PORTS];
    used[x->a] = used[x->b] = used[x->up] = true;
    assert_int_equal(net_switch_port_config(x->sw, x->a, &cfg[x->a]), 0);
    assert_int_equal(net_switch_port_config(x->sw, x->b, &cfg[x->b]), 0);
    assert_int_equal(net_switch_port_config(x->sw, x->up, &cfg[x->up]), 0);
    /* MACs and addresses come from small pools, so that collisions, moves and spoofs of
     * real neighbours happen often. */
    for (int step = 0; step < 200000; step++) {
        uint32_t r = lcg(&seed);
        uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, (uint8_t)(lcg(&seed) % 24)};
        uint32_t ip = 0x0a000000u | (lcg(&seed) % 24);
        if (r % 100 == 0) { /* add a domain */
            struct net_port_config c = {.kind = NET_PORT_DOMAIN, .has_ipv4 = lcg(&seed) % 4 != 0, .ipv4 = ip | 1};
            memcpy(c.mac, mac, 6);
            unsigned p;
            if (net_switch_port_add(x->sw, &c, &p) == 0) {
                assert_false(used[p]);
                used[p] = true;
                cfg[p] = c;
            }
            continue;
        }
        if (r % 100 == 1 || r % 100 == 2) { /* remove or update a random port */
            unsigned p = lcg(&seed) % 16;
            if (r % 100 == 1) {
                assert_int_equal(net_switch_port_remove(x->sw, p), used[p] ? 0 : -ENOENT);
                used[p] = false;
            } else if (used[p] && cfg[p].kind == NET_PORT_DOMAIN) {
                struct net_port_config c = cfg[p];
                memcpy(c.mac, mac, 6);
                if (net_switch_port_update(x->sw, p, &c) == 0)
                    cfg[p] = c;
            }
            continue;
        }
        /* A frame from a random port (maybe a removed one). */
        unsigned in = lcg(&seed) % 16;
        uint8_t dst[6] = {0x52, 0x54, 0, 0, 0, (uint8_t)(lcg(&seed) % 24)};
        if (lcg(&seed) % 8 == 0)
            memset(dst, 0xff, 6);
        if (lcg(&seed) % 2 && used[in] && cfg[in].kind == NET_PORT_DOMAIN)
            memcpy(mac, cfg[in].mac, 6); /* mostly its own MAC */
        uint32_t src_ip = lcg(&seed) % 2 && used[in] ? cfg[in].ipv4 : ip;
        size_t n;
        switch (lcg(&seed) % 4) {
        case 0:
            n = build_arp(x->f, dst, mac, NET_ARP_REQUEST, lcg(&seed) % 4 ? mac : MAC_X, src_ip, ZERO_MAC, ip);
            break;
        case 1:
            n = build_udp4(x->f, dst, mac, lcg(&seed) % 8 ? src_ip : 0, ip, 68, lcg(&seed) % 2 ? 67 : 53, 10);
            break;
        case 2: n = build_tcp4(x->f, dst, mac, src_ip, ip, 1, 2, NET_TCP_SYN, 0); break;
        default:
            n = lcg(&seed) % 80;
            for (size_t i = 12; i < n; i++)
                x->f[i] = (uint8_t)lcg(&seed);
            memcpy(x->f, dst, 6);
            memcpy(x->f + 6, mac, 6);
            break;
        }
        if (n > 14 && lcg(&seed) % 16 == 0)
            n = 14 + lcg(&seed) % (n - 14); /* cut somewhere */
        struct net_route rt;
        int rc = net_switch_route(x->sw, in, x->f, n, SEC + (uint64_t)step * 1000000, &rt);
        if (!used[in]) {
            assert_int_equal(rc, -ENOENT);
            continue;
        }
        assert_int_equal(rc, 0);
        if (rt.drop != NET_DROP_NONE) {
            assert_true(net_port_set_empty(&rt.ports));
            continue;
        }
        assert_false(net_port_set_empty(&rt.ports));
        assert_false(net_port_set_has(&rt.ports, in));
        const struct net_frame *f = &rt.frame;
        assert_int_equal(f->error, NET_PARSE_OK);
        if (cfg[in].kind == NET_PORT_DOMAIN) {
            assert_memory_equal(f->src, cfg[in].mac, 6);
            assert_true(f->l3 == NET_L3_IPV4 || f->l3 == NET_L3_ARP);
            if (f->l3 == NET_L3_ARP) {
                assert_memory_equal(f->arp_sha, cfg[in].mac, 6);
                assert_true(f->arp_spa == 0 || (cfg[in].has_ipv4 && f->arp_spa == cfg[in].ipv4));
            } else if (f->ip4_src == 0) {
                assert_true(f->ip_proto == NET_IPPROTO_UDP && f->src_port == 68 && f->dst_port == 67);
            } else {
                assert_true(cfg[in].has_ipv4 && f->ip4_src == cfg[in].ipv4);
            }
        }
        for (int p = net_port_set_next(&rt.ports, -1); p >= 0; p = net_port_set_next(&rt.ports, p)) {
            assert_true(used[p]);
            if (cfg[p].kind == NET_PORT_DOMAIN)
                assert_true(net_mac_is_multicast(f->dst) || net_mac_equal(f->dst, cfg[p].mac));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipv4_source_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(dhcp_client_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(arp_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv6_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(other_ethertypes_and_vlans, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_every_length, setup, teardown),
        cmocka_unit_test_setup_teardown(learning_flooding_aging, setup, teardown),
        cmocka_unit_test_setup_teardown(station_move_and_uplink_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(port_removal_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(learning_table_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(counters, setup, teardown),
        cmocka_unit_test_setup_teardown(port_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(random_ports_and_frames, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
