/* Header parsing of untrusted frames (see eth.h for what counts as malformed). Each layer
 * checks its own length against what is left before reading, so a frame cut anywhere
 * fails at the layer it was cut in. */
#include "lib/eth.h"

#include <errno.h>
#include <stdio.h>

#include "lib/err.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *const parse_error_names[NET_PARSE__COUNT] = {
    [NET_PARSE_OK] = "ok",
    [NET_PARSE_ETH_TRUNCATED] = "eth-truncated",
    [NET_PARSE_VLAN_TRUNCATED] = "vlan-bad",
    [NET_PARSE_ARP_BAD] = "arp-bad",
    [NET_PARSE_IPV4_BAD] = "ipv4-bad",
    [NET_PARSE_IPV6_BAD] = "ipv6-bad",
    [NET_PARSE_L4_BAD] = "l4-bad",
};

const char *net_parse_error_name(enum net_parse_error e)
{
    if ((unsigned)e >= NET_PARSE__COUNT)
        return "unknown";
    return parse_error_names[e];
}

static enum net_parse_error fail(struct net_frame *f, enum net_parse_error e)
{
    f->error = e;
    return e;
}

/* The transport header at f->l4_off, f->l4_len bytes of it and its payload. */
static enum net_parse_error parse_l4(struct net_frame *f)
{
    const uint8_t *p = f->data + f->l4_off;
    size_t n = f->l4_len;
    if (f->ip_later_fragment)
        return NET_PARSE_OK;
    switch (f->ip_proto) {
    case NET_IPPROTO_TCP: {
        if (n < 20)
            return fail(f, NET_PARSE_L4_BAD);
        size_t doff = (size_t)(p[12] >> 4) * 4;
        if (doff < 20 || doff > n)
            return fail(f, NET_PARSE_L4_BAD);
        f->src_port = rd16(p);
        f->dst_port = rd16(p + 2);
        f->tcp_flags = p[13] & 0x3f;
        break;
    }
    case NET_IPPROTO_UDP: {
        if (n < 8)
            return fail(f, NET_PARSE_L4_BAD);
        size_t ulen = rd16(p + 4);
        /* A fragment's UDP length covers the whole datagram, not this piece. Zero is a
         * jumbogram's (RFC 2675), which a frame this size cannot be. */
        if (ulen < 8 || (!f->ip_fragment && ulen != n))
            return fail(f, NET_PARSE_L4_BAD);
        f->src_port = rd16(p);
        f->dst_port = rd16(p + 2);
        break;
    }
    case NET_IPPROTO_ICMP:
    case NET_IPPROTO_ICMPV6:
        if (n < 4)
            return fail(f, NET_PARSE_L4_BAD);
        f->icmp_type = p[0];
        f->icmp_code = p[1];
        break;
    default: return NET_PARSE_OK; /* a protocol we do not look into */
    }
    f->l4_present = true;
    return NET_PARSE_OK;
}

static enum net_parse_error parse_arp(struct net_frame *f, const uint8_t *p, size_t n)
{
    if (n < 28)
        return fail(f, NET_PARSE_ARP_BAD);
    if (rd16(p) != 1 || rd16(p + 2) != NET_ETHERTYPE_IPV4 || p[4] != 6 || p[5] != 4)
        return fail(f, NET_PARSE_ARP_BAD);
    f->arp_op = rd16(p + 6);
    if (f->arp_op != NET_ARP_REQUEST && f->arp_op != NET_ARP_REPLY)
        return fail(f, NET_PARSE_ARP_BAD);
    f->arp_sha = p + 8;
    f->arp_spa = rd32(p + 14);
    f->arp_tha = p + 18;
    f->arp_tpa = rd32(p + 24);
    return NET_PARSE_OK;
}

static enum net_parse_error parse_ipv4(struct net_frame *f, const uint8_t *p, size_t n)
{
    if (n < 20 || p[0] >> 4 != 4)
        return fail(f, NET_PARSE_IPV4_BAD);
    size_t ihl = (size_t)(p[0] & 0xf) * 4;
    size_t total = rd16(p + 2);
    if (ihl < 20 || total < ihl || total > n)
        return fail(f, NET_PARSE_IPV4_BAD);
    uint16_t frag = rd16(p + 6);
    uint16_t offset = frag & 0x1fff;
    bool more = (frag & 0x2000) != 0;
    f->ip_fragment = more || offset != 0;
    f->ip_later_fragment = offset != 0;
    f->ip_ttl = p[8];
    f->ip_proto = p[9];
    f->ip4_src = rd32(p + 12);
    f->ip4_dst = rd32(p + 16);
    f->l4_off = f->l3_off + ihl;
    f->l4_len = total - ihl;
    return parse_l4(f);
}

static bool ipv6_is_ext(uint8_t nh)
{
    return nh == 0 /* hop-by-hop */ || nh == 43 /* routing */ || nh == 44 /* fragment */ ||
           nh == 60 /* destination options */;
}

static enum net_parse_error parse_ipv6(struct net_frame *f, const uint8_t *p, size_t n)
{
    if (n < 40 || p[0] >> 4 != 6)
        return fail(f, NET_PARSE_IPV6_BAD);
    size_t payload = rd16(p + 4);
    if (payload > n - 40)
        return fail(f, NET_PARSE_IPV6_BAD);
    f->ip_ttl = p[7];
    memcpy(f->ip6_src, p + 8, 16);
    memcpy(f->ip6_dst, p + 24, 16);
    uint8_t nh = p[6];
    size_t off = 40, end = 40 + payload;
    unsigned count = 0;
    while (ipv6_is_ext(nh)) {
        if (++count > NET_IPV6_MAX_EXT || end - off < 8)
            return fail(f, NET_PARSE_IPV6_BAD);
        const uint8_t *e = p + off;
        size_t elen;
        if (nh == 44) {
            uint16_t frag = rd16(e + 2);
            f->ip_fragment = true;
            f->ip_later_fragment = (frag >> 3) != 0;
            elen = 8;
        } else {
            elen = ((size_t)e[1] + 1) * 8;
            if (elen > end - off)
                return fail(f, NET_PARSE_IPV6_BAD);
        }
        nh = e[0];
        off += elen;
        if (nh == 44 && f->ip_fragment) /* two fragment headers: nonsense */
            return fail(f, NET_PARSE_IPV6_BAD);
    }
    f->ip_proto = nh;
    f->l4_off = f->l3_off + off;
    f->l4_len = end - off;
    return parse_l4(f);
}

enum net_parse_error net_eth_parse(const void *frame, size_t len, struct net_frame *out)
{
    memset(out, 0, sizeof(*out));
    out->data = frame;
    out->len = len;
    const uint8_t *p = frame;
    if (len < NET_ETH_HLEN)
        return fail(out, NET_PARSE_ETH_TRUNCATED);
    out->dst = p;
    out->src = p + 6;
    size_t off = 12;
    uint16_t type = rd16(p + off);
    while (type == NET_ETHERTYPE_VLAN || type == NET_ETHERTYPE_QINQ) {
        if (out->vlan_count == NET_VLAN_MAX_TAGS || len - off < 6)
            return fail(out, NET_PARSE_VLAN_TRUNCATED);
        out->vlan_tci[out->vlan_count++] = rd16(p + off + 2);
        off += 4;
        type = rd16(p + off);
    }
    off += 2;
    out->ethertype = type;
    out->l3_off = off;
    const uint8_t *l3 = p + off;
    size_t n = len - off;
    switch (type) {
    case NET_ETHERTYPE_ARP: out->l3 = NET_L3_ARP; return parse_arp(out, l3, n);
    case NET_ETHERTYPE_IPV4: out->l3 = NET_L3_IPV4; return parse_ipv4(out, l3, n);
    case NET_ETHERTYPE_IPV6: out->l3 = NET_L3_IPV6; return parse_ipv6(out, l3, n);
    default: out->l3 = NET_L3_OTHER; return NET_PARSE_OK;
    }
}

int net_ipv4_parse(const char *text, uint32_t *addr)
{
    uint32_t a = 0;
    const char *s = text;
    for (int i = 0; i < 4; i++) {
        unsigned v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        /* No leading zeros: "010" is octal to inet_aton and decimal to others. */
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[-(int)digits] == '0') ||
            *s != (i == 3 ? '\0' : '.'))
            return err_set(EINVAL, "IPv4 address '%s': expected four numbers 0-255 like 10.0.0.2", text);
        a = a << 8 | v;
        s++;
    }
    *addr = a;
    return 0;
}
