/* Header parsing of untrusted frames (src/lib/eth.c): every field the switch and the
 * audit read, and every way a frame can be cut short or lie about its lengths. Frames are
 * copied into buffers of exactly their length, so ASan catches any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/eth.h"
#include "lib/mac_addr.h"
#include "net_frames.h"

static const uint8_t MAC_A[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t MAC_B[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t IP6_A[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0a};
static const uint8_t IP6_B[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0b};

/* Parses the first len bytes of frame from a heap copy of exactly len bytes. */
static enum net_parse_error parse_exact(const uint8_t *frame, size_t len, struct net_frame *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, frame, len);
    enum net_parse_error e = net_eth_parse(copy, len, out);
    assert_int_equal(e, out->error);
    /* The frame pointers must point into the copy; clear them before it goes. */
    if (out->dst)
        assert_true(out->dst >= copy && out->dst + 6 <= copy + len);
    free(copy);
    out->data = NULL;
    out->dst = out->src = out->arp_sha = out->arp_tha = NULL;
    return e;
}

static void tcp_ipv4_fields(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t n = build_tcp4(f, MAC_B, MAC_A, 0x0a000002, 0x0a000003, 40000, 80, NET_TCP_SYN | NET_TCP_ACK, 10);
    struct net_frame fr;
    assert_int_equal(net_eth_parse(f, n, &fr), NET_PARSE_OK);
    assert_memory_equal(fr.dst, MAC_B, 6);
    assert_memory_equal(fr.src, MAC_A, 6);
    assert_int_equal(fr.ethertype, NET_ETHERTYPE_IPV4);
    assert_int_equal(fr.l3, NET_L3_IPV4);
    assert_int_equal(fr.l3_off, 14);
    assert_int_equal(fr.ip4_src, 0x0a000002);
    assert_int_equal(fr.ip4_dst, 0x0a000003);
    assert_int_equal(fr.ip_proto, NET_IPPROTO_TCP);
    assert_int_equal(fr.ip_ttl, 64);
    assert_false(fr.ip_fragment);
    assert_true(fr.l4_present);
    assert_int_equal(fr.l4_off, 34);
    assert_int_equal(fr.l4_len, 30);
    assert_int_equal(fr.src_port, 40000);
    assert_int_equal(fr.dst_port, 80);
    assert_int_equal(fr.tcp_flags, NET_TCP_SYN | NET_TCP_ACK);
    assert_int_equal(fr.vlan_count, 0);
}

static void udp_and_padding(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t n = build_udp4(f, BCAST, MAC_A, 0, 0xffffffff, 68, 67, 4);
    /* Ethernet pads short frames to 60 bytes: bytes past the IP total length are ignored. */
    memset(f + n, 0xee, 60 - n);
    struct net_frame fr;
    assert_int_equal(parse_exact(f, 60, &fr), NET_PARSE_OK);
    assert_int_equal(fr.ip_proto, NET_IPPROTO_UDP);
    assert_int_equal(fr.src_port, 68);
    assert_int_equal(fr.dst_port, 67);
    assert_int_equal(fr.l4_len, 12);
    assert_true(fr.l4_present);
}

static void arp_fields(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t n = build_arp(f, BCAST, MAC_A, NET_ARP_REQUEST, MAC_A, 0x0a000002, (const uint8_t[6]){0}, 0x0a000001);
    assert_int_equal(n, 42);
    struct net_frame fr;
    assert_int_equal(net_eth_parse(f, n, &fr), NET_PARSE_OK);
    assert_int_equal(fr.l3, NET_L3_ARP);
    assert_int_equal(fr.arp_op, NET_ARP_REQUEST);
    assert_memory_equal(fr.arp_sha, MAC_A, 6);
    assert_int_equal(fr.arp_spa, 0x0a000002);
    assert_int_equal(fr.arp_tpa, 0x0a000001);
}

static void arp_bad_fields(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    /* htype, ptype, hlen, plen, opcode: each wrong value makes the ARP unusable. */
    const struct {
        size_t off;
        uint8_t val;
    } bad[] = {{14 + 1, 6}, {14 + 2, 0x86}, {14 + 4, 8}, {14 + 5, 16}, {14 + 7, 3}, {14 + 7, 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = build_arp(f, BCAST, MAC_A, NET_ARP_REPLY, MAC_A, 1, MAC_B, 2);
        f[bad[i].off] = bad[i].val;
        assert_int_equal(net_eth_parse(f, n, &fr), NET_PARSE_ARP_BAD);
    }
}

static void vlan_tags(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX], g[FRAME_MAX];
    size_t n = build_udp4(f, MAC_B, MAC_A, 1, 2, 1000, 2000, 0);
    /* One 802.1Q tag (VID 5), then 802.1ad + 802.1Q (QinQ), then three tags. */
    memcpy(g, f, 12);
    put16(g + 12, NET_ETHERTYPE_VLAN);
    put16(g + 14, 5);
    memcpy(g + 16, f + 12, n - 12);
    struct net_frame fr;
    assert_int_equal(net_eth_parse(g, n + 4, &fr), NET_PARSE_OK);
    assert_int_equal(fr.vlan_count, 1);
    assert_int_equal(fr.vlan_tci[0], 5);
    assert_int_equal(fr.l3_off, 18);
    assert_int_equal(fr.src_port, 1000);

    put16(g + 12, NET_ETHERTYPE_QINQ);
    put16(g + 14, 100);
    put16(g + 16, NET_ETHERTYPE_VLAN);
    put16(g + 18, 7);
    memcpy(g + 20, f + 12, n - 12);
    assert_int_equal(net_eth_parse(g, n + 8, &fr), NET_PARSE_OK);
    assert_int_equal(fr.vlan_count, 2);
    assert_int_equal(fr.vlan_tci[0], 100);
    assert_int_equal(fr.vlan_tci[1], 7);
    assert_int_equal(fr.ethertype, NET_ETHERTYPE_IPV4);

    put16(g + 20, NET_ETHERTYPE_VLAN);
    put16(g + 22, 9);
    memcpy(g + 24, f + 12, n - 12);
    assert_int_equal(net_eth_parse(g, n + 12, &fr), NET_PARSE_VLAN_TRUNCATED);

    /* A tag cut short: 14..17 bytes of a tagged frame. */
    for (size_t len = 14; len < 18; len++)
        assert_int_equal(parse_exact(g, len, &fr), NET_PARSE_VLAN_TRUNCATED);
}

static void other_ethertype_is_not_an_error(void **state)
{
    (void)state;
    uint8_t f[64] = {0};
    build_eth(f, MAC_B, MAC_A, 0x88cc); /* LLDP */
    struct net_frame fr;
    assert_int_equal(parse_exact(f, 14, &fr), NET_PARSE_OK);
    assert_int_equal(fr.l3, NET_L3_OTHER);
    assert_int_equal(fr.ethertype, 0x88cc);
    assert_false(fr.l4_present);
}

/* Every prefix of a well-formed frame: the error names the layer the cut falls in (the
 * IP length fields claim more than is left), and the full frame is fine. */
static void check_prefixes(const uint8_t *f, size_t n, size_t l3_end_hdr, enum net_parse_error l3_error)
{
    struct net_frame fr;
    for (size_t len = 0; len < n; len++) {
        enum net_parse_error want = len < 14 ? NET_PARSE_ETH_TRUNCATED : l3_error;
        enum net_parse_error got = parse_exact(f, len, &fr);
        if (got != want)
            fail_msg("prefix of %zu of %zu bytes: got %s, want %s", len, n, net_parse_error_name(got),
                     net_parse_error_name(want));
    }
    (void)l3_end_hdr;
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_OK);
}

static void truncated_every_length(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    size_t n = build_tcp4(f, MAC_B, MAC_A, 1, 2, 3, 4, NET_TCP_ACK, 10); /* 64 bytes */
    assert_int_equal(n, 64);
    check_prefixes(f, n, 34, NET_PARSE_IPV4_BAD);
    n = build_udp4(f, MAC_B, MAC_A, 1, 2, 3, 4, 22); /* 64 bytes */
    check_prefixes(f, n, 34, NET_PARSE_IPV4_BAD);
    n = build_arp(f, BCAST, MAC_A, 1, MAC_A, 1, MAC_B, 2);
    check_prefixes(f, n, 42, NET_PARSE_ARP_BAD);
    n = build_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 5, 6, 2); /* 64 bytes */
    assert_int_equal(n, 64);
    check_prefixes(f, n, 54, NET_PARSE_IPV6_BAD);
    n = build_nd(f, MAC_B, MAC_A, IP6_A, IP6_B, 136, IP6_A, MAC_A);
    check_prefixes(f, n, 54, NET_PARSE_IPV6_BAD);
}

/* Truncated transport headers inside consistent IP lengths: the transport layer fails. */
static void truncated_transport(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    const struct {
        uint8_t proto;
        size_t min;
    } l4[] = {{NET_IPPROTO_TCP, 20}, {NET_IPPROTO_UDP, 8}, {NET_IPPROTO_ICMP, 4}};
    for (size_t i = 0; i < 3; i++) {
        for (size_t have = 0; have < l4[i].min; have++) {
            size_t o = build_eth(f, MAC_B, MAC_A, NET_ETHERTYPE_IPV4);
            o = build_ip4_hdr(f, o, l4[i].proto, 1, 2, have);
            memset(f + o, 0, have);
            assert_int_equal(parse_exact(f, o + have, &fr), NET_PARSE_L4_BAD);
            assert_false(fr.l4_present);
            /* The same over IPv6. */
            uint8_t proto6 = l4[i].proto == NET_IPPROTO_ICMP ? NET_IPPROTO_ICMPV6 : l4[i].proto;
            o = build_ip6_hdr(f, MAC_B, MAC_A, IP6_A, IP6_B, proto6, have);
            memset(f + o, 0, have);
            assert_int_equal(parse_exact(f, o + have, &fr), NET_PARSE_L4_BAD);
        }
    }
    /* An unknown protocol with no payload is fine: nothing to check. */
    size_t o = build_ip4_hdr(f, build_eth(f, MAC_B, MAC_A, NET_ETHERTYPE_IPV4), 47 /* GRE */, 1, 2, 0);
    assert_int_equal(parse_exact(f, o, &fr), NET_PARSE_OK);
    assert_false(fr.l4_present);
    assert_int_equal(fr.ip_proto, 47);
}

static void tcp_data_offset(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    size_t n = build_tcp4(f, MAC_B, MAC_A, 1, 2, 3, 4, 0, 8);
    for (unsigned doff = 0; doff < 16; doff++) {
        f[34 + 12] = (uint8_t)(doff << 4);
        /* 28 bytes of TCP: offsets 5..7 (20..28 bytes) fit; below 5 or beyond do not. */
        enum net_parse_error want = doff >= 5 && doff * 4 <= 28 ? NET_PARSE_OK : NET_PARSE_L4_BAD;
        assert_int_equal(parse_exact(f, n, &fr), want);
    }
}

static void udp_length_must_match(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    size_t n = build_udp4(f, MAC_B, MAC_A, 1, 2, 3, 4, 10);
    put16(f + 34 + 4, 17); /* one short */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_L4_BAD);
    put16(f + 34 + 4, 19); /* one long */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_L4_BAD);
    put16(f + 34 + 4, 7); /* below its own header */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_L4_BAD);
    put16(f + 34 + 4, 18);
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_OK);
}

static void ipv4_header_fields(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    size_t n = build_udp4(f, MAC_B, MAC_A, 1, 2, 3, 4, 8);
    f[14] = 0x55; /* version 5 */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV4_BAD);
    for (unsigned ihl = 0; ihl < 5; ihl++) {
        f[14] = (uint8_t)(0x40 | ihl);
        assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV4_BAD);
    }
    f[14] = 0x45;
    put16(f + 16, 19); /* total length below the header */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV4_BAD);
    put16(f + 16, (uint16_t)(n - 14 + 1)); /* beyond the frame */
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV4_BAD);

    /* Options: IHL 6 moves the transport header by 4 bytes. */
    size_t o = build_eth(f, MAC_B, MAC_A, NET_ETHERTYPE_IPV4);
    build_ip4_hdr(f, o, NET_IPPROTO_UDP, 1, 2, 4 + 8);
    f[14] = 0x46;
    memset(f + 34, 1, 4); /* NOP options */
    put16(f + 38, 5);
    put16(f + 40, 6);
    put16(f + 42, 8);
    put16(f + 44, 0);
    assert_int_equal(parse_exact(f, 46, &fr), NET_PARSE_OK);
    assert_int_equal(fr.l4_off, 38);
    assert_int_equal(fr.src_port, 5);
    assert_int_equal(fr.dst_port, 6);
    /* IHL 15 (60 bytes) in a 46-byte frame. */
    f[14] = 0x4f;
    assert_int_equal(parse_exact(f, 46, &fr), NET_PARSE_IPV4_BAD);
}

static void ipv4_fragments(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    /* A later fragment carries no transport header: 3 bytes of "TCP" are fine there. */
    size_t o = build_ip4_hdr(f, build_eth(f, MAC_B, MAC_A, NET_ETHERTYPE_IPV4), NET_IPPROTO_TCP, 1, 2, 3);
    put16(f + 20, 185); /* offset 185 x 8 */
    assert_int_equal(parse_exact(f, o + 3, &fr), NET_PARSE_OK);
    assert_true(fr.ip_fragment);
    assert_true(fr.ip_later_fragment);
    assert_false(fr.l4_present);
    /* A first fragment (MF, offset 0) too short for its TCP header: RFC 1858's tiny fragment. */
    put16(f + 20, 0x2000);
    assert_int_equal(parse_exact(f, o + 3, &fr), NET_PARSE_L4_BAD);
    /* A first fragment of UDP: the UDP length covers the whole datagram. */
    size_t n = build_udp4(f, MAC_B, MAC_A, 1, 2, 3, 4, 16);
    put16(f + 20, 0x2000);
    put16(f + 34 + 4, 3000);
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_OK);
    assert_true(fr.ip_fragment);
    assert_false(fr.ip_later_fragment);
    assert_int_equal(fr.dst_port, 4);
}

static void ipv6_fields_and_extensions(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    size_t n = build_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 546, 547, 4);
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_OK);
    assert_int_equal(fr.l3, NET_L3_IPV6);
    assert_memory_equal(fr.ip6_src, IP6_A, 16);
    assert_memory_equal(fr.ip6_dst, IP6_B, 16);
    assert_int_equal(fr.src_port, 546);
    assert_int_equal(fr.l4_off, 54);

    /* Hop-by-hop (8 bytes), destination options (16 bytes), then TCP. */
    size_t o = build_ip6_hdr(f, MAC_B, MAC_A, IP6_A, IP6_B, 0, 8 + 16 + 20);
    memset(f + o, 0, 8 + 16 + 20);
    f[o] = 60;
    f[o + 1] = 0;
    f[o + 8] = NET_IPPROTO_TCP;
    f[o + 9] = 1;
    put16(f + o + 24, 22);
    put16(f + o + 26, 5555);
    f[o + 24 + 12] = 5 << 4;
    f[o + 24 + 13] = NET_TCP_RST;
    assert_int_equal(parse_exact(f, o + 44, &fr), NET_PARSE_OK);
    assert_int_equal(fr.ip_proto, NET_IPPROTO_TCP);
    assert_int_equal(fr.l4_off, o + 24);
    assert_int_equal(fr.src_port, 22);
    assert_int_equal(fr.tcp_flags, NET_TCP_RST);
    /* The destination options claim 48 bytes: past the payload. */
    f[o + 9] = 5;
    assert_int_equal(parse_exact(f, o + 44, &fr), NET_PARSE_IPV6_BAD);
    /* An extension header cut short by the payload length. */
    f[o + 9] = 1;
    put16(f + 18, 12);
    assert_int_equal(parse_exact(f, o + 12, &fr), NET_PARSE_IPV6_BAD);

    /* Fragment header: a later fragment has no transport header; two are nonsense. */
    o = build_ip6_hdr(f, MAC_B, MAC_A, IP6_A, IP6_B, 44, 8 + 4);
    memset(f + o, 0, 12);
    f[o] = NET_IPPROTO_TCP;
    put16(f + o + 2, 100 << 3);
    assert_int_equal(parse_exact(f, o + 12, &fr), NET_PARSE_OK);
    assert_true(fr.ip_later_fragment);
    assert_false(fr.l4_present);
    f[o] = 44;
    put16(f + 18, 16 + 4);
    memset(f + o + 8, 0, 12);
    f[o + 8] = NET_IPPROTO_TCP;
    assert_int_equal(parse_exact(f, o + 20, &fr), NET_PARSE_IPV6_BAD);

    /* More than NET_IPV6_MAX_EXT extension headers. */
    size_t count = NET_IPV6_MAX_EXT + 1;
    o = build_ip6_hdr(f, MAC_B, MAC_A, IP6_A, IP6_B, 60, count * 8);
    memset(f + o, 0, count * 8);
    for (size_t i = 0; i < count; i++)
        f[o + i * 8] = i + 1 < count ? 60 : 59 /* no next header */;
    assert_int_equal(parse_exact(f, o + count * 8, &fr), NET_PARSE_IPV6_BAD);
    f[o + (count - 2) * 8] = 59; /* one fewer: fine */
    assert_int_equal(parse_exact(f, o + count * 8, &fr), NET_PARSE_OK);

    /* Version and payload length. */
    n = build_udp6(f, MAC_B, MAC_A, IP6_A, IP6_B, 1, 2, 0);
    f[14] = 0x40;
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV6_BAD);
    f[14] = 0x60;
    put16(f + 18, 9);
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_IPV6_BAD);
}

static void icmp_type_code(void **state)
{
    (void)state;
    uint8_t f[FRAME_MAX];
    struct net_frame fr;
    size_t n = build_nd(f, MAC_B, MAC_A, IP6_A, IP6_B, 135, IP6_B, MAC_A);
    assert_int_equal(parse_exact(f, n, &fr), NET_PARSE_OK);
    assert_int_equal(fr.ip_proto, NET_IPPROTO_ICMPV6);
    assert_int_equal(fr.icmp_type, 135);
    assert_true(fr.l4_present);
    size_t o = build_ip4_hdr(f, build_eth(f, MAC_B, MAC_A, NET_ETHERTYPE_IPV4), NET_IPPROTO_ICMP, 1, 2, 8);
    memset(f + o, 0, 8);
    f[o] = 8;
    f[o + 1] = 0;
    assert_int_equal(parse_exact(f, o + 8, &fr), NET_PARSE_OK);
    assert_int_equal(fr.icmp_type, 8);
}

/* Random bytes of every length 0..64 (and random ethertypes that matter): the parser
 * must stay inside the buffer (ASan) and be consistent: OK means every offset it gives
 * lies inside the frame. */
static void random_frames_every_length(void **state)
{
    (void)state;
    static const uint16_t types[] = {NET_ETHERTYPE_IPV4, NET_ETHERTYPE_IPV6, NET_ETHERTYPE_ARP,
                                     NET_ETHERTYPE_VLAN, NET_ETHERTYPE_QINQ, 0x1234};
    srand(8);
    uint8_t f[128];
    for (size_t len = 0; len <= 64; len++) {
        for (int iter = 0; iter < 2000; iter++) {
            for (size_t i = 0; i < sizeof(f); i++)
                f[i] = (uint8_t)rand();
            if (len >= 14)
                put16(f + 12, types[iter % 6]);
            if (len >= 15 && iter % 3 == 0)
                f[14] = (uint8_t)((types[iter % 6] == NET_ETHERTYPE_IPV6 ? 0x60 : 0x45));
            struct net_frame fr;
            enum net_parse_error e = parse_exact(f, len, &fr);
            assert_true((unsigned)e < NET_PARSE__COUNT);
            if (e == NET_PARSE_OK && (fr.l3 == NET_L3_IPV4 || fr.l3 == NET_L3_IPV6)) {
                assert_true(fr.l4_off <= len);
                assert_true(fr.l4_off + fr.l4_len <= len);
            }
            if (len < 14)
                assert_int_equal(e, NET_PARSE_ETH_TRUNCATED);
        }
    }
}

static void names_and_address_parsing(void **state)
{
    (void)state;
    for (int e = 0; e < NET_PARSE__COUNT; e++) {
        assert_string_not_equal(net_parse_error_name(e), "unknown");
        for (int g = 0; g < e; g++)
            assert_string_not_equal(net_parse_error_name(e), net_parse_error_name(g));
    }
    assert_string_equal(net_parse_error_name(NET_PARSE__COUNT), "unknown");

    uint8_t mac[6];
    assert_int_equal(mac_addr_parse("52:54:00:Ab:cD:0f", mac), 0);
    assert_memory_equal(mac, ((uint8_t[]){0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}), 6);
    const char *bad_macs[] = {"",
                              "52:54:00:ab:cd",
                              "52:54:00:ab:cd:0f:",
                              "52-54-00-ab-cd-0f",
                              "5:54:00:ab:cd:0f",
                              "52:54:00:ab:cd:0g",
                              "52:54:00:ab:cd:0f0",
                              "01:00:5e:00:00:01", /* multicast: never a port's own address */
                              "00:00:00:00:00:00"};
    for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
        assert_int_equal(mac_addr_parse(bad_macs[i], mac), -EINVAL);
        assert_non_null(strstr(err_msg(), "MAC address"));
    }
    uint32_t ip;
    assert_int_equal(net_ipv4_parse("10.0.0.2", &ip), 0);
    assert_int_equal(ip, 0x0a000002);
    assert_int_equal(net_ipv4_parse("255.255.255.255", &ip), 0);
    assert_int_equal(ip, 0xffffffffu);
    const char *bad_ips[] = {"",        "10.0.0",    "10.0.0.2.",  "10.0.0.256", "010.0.0.2",
                             "10..0.2", "10.0.0.2x", "1234.0.0.1", " 10.0.0.2"};
    for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
        assert_int_equal(net_ipv4_parse(bad_ips[i], &ip), -EINVAL);
        assert_non_null(strstr(err_msg(), bad_ips[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tcp_ipv4_fields),
        cmocka_unit_test(udp_and_padding),
        cmocka_unit_test(arp_fields),
        cmocka_unit_test(arp_bad_fields),
        cmocka_unit_test(vlan_tags),
        cmocka_unit_test(other_ethertype_is_not_an_error),
        cmocka_unit_test(truncated_every_length),
        cmocka_unit_test(truncated_transport),
        cmocka_unit_test(tcp_data_offset),
        cmocka_unit_test(udp_length_must_match),
        cmocka_unit_test(ipv4_header_fields),
        cmocka_unit_test(ipv4_fragments),
        cmocka_unit_test(ipv6_fields_and_extensions),
        cmocka_unit_test(icmp_type_code),
        cmocka_unit_test(random_frames_every_length),
        cmocka_unit_test(names_and_address_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
