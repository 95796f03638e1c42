/*
 * Frame helpers for the network test kernels (net.h): Ethernet, ARP and IPv4/UDP headers,
 * and key=value arguments from the kernel command line.
 */
#include "net.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool mac_parse(const char *s, uint8_t out[ETH_ALEN])
{
    for (unsigned i = 0; i < ETH_ALEN; i++, s += 3) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0 || s[2] != (i + 1 < ETH_ALEN ? ':' : '\0'))
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool ipv4_parse(const char *s, uint32_t *ip)
{
    uint32_t v = 0;
    for (unsigned part = 0; part < 4; part++) {
        unsigned n = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            n = n * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (!digits || n > 255 || *s != (part < 3 ? '.' : '\0'))
            return false;
        s++;
        v = v << 8 | n;
    }
    *ip = v;
    return true;
}

bool cmdline_arg(const char *key, char *out, size_t size)
{
    const char *p = boot_info.cmdline;
    size_t klen = strlen(key);

    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        if ((size_t)(end - p) > klen && !memcmp(p, key, klen) && p[klen] == '=') {
            size_t n = MIN((size_t)(end - p) - klen - 1, size - 1);
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
    char buf[24];
    uint64_t v = 0;

    if (!cmdline_arg(key, buf, sizeof(buf)) || !buf[0])
        return def;
    for (const char *p = buf; *p; p++) {
        if (*p < '0' || *p > '9')
            return def;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

void *eth_build(void *frame, const uint8_t dst[ETH_ALEN], uint16_t type)
{
    struct eth_hdr *h = frame;
    memcpy(h->dst, dst, ETH_ALEN);
    memcpy(h->src, vnet_mac(), ETH_ALEN);
    h->type = htons(type);
    return h + 1;
}

uint16_t ip_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

struct arp_ipv4 {
    uint16_t htype, ptype;
    uint8_t hlen, plen;
    uint16_t op;
    uint8_t sha[ETH_ALEN];
    uint8_t spa[4];
    uint8_t tha[ETH_ALEN];
    uint8_t tpa[4];
} __attribute__((packed));

static void put_ip(uint8_t *p, uint32_t ip)
{
    p[0] = (uint8_t)(ip >> 24), p[1] = (uint8_t)(ip >> 16), p[2] = (uint8_t)(ip >> 8), p[3] = (uint8_t)ip;
}

static uint32_t get_ip(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t arp_build(void *frame, const uint8_t dst[ETH_ALEN], uint16_t op, uint32_t our_ip,
                        const uint8_t tha[ETH_ALEN], uint32_t tpa)
{
    struct arp_ipv4 *a = eth_build(frame, dst, ETH_P_ARP);
    a->htype = htons(1);
    a->ptype = htons(ETH_P_IP);
    a->hlen = ETH_ALEN;
    a->plen = 4;
    a->op = htons(op);
    memcpy(a->sha, vnet_mac(), ETH_ALEN);
    put_ip(a->spa, our_ip);
    memcpy(a->tha, tha, ETH_ALEN);
    put_ip(a->tpa, tpa);
    return ARP_FRAME_LEN;
}

size_t arp_request(void *frame, uint32_t our_ip, uint32_t target)
{
    static const uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[ETH_ALEN] = {0};
    return arp_build(frame, bcast, 1, our_ip, zero, target);
}

static const struct arp_ipv4 *arp_of(const void *frame, size_t len)
{
    const struct eth_hdr *h = frame;
    if (len < ARP_FRAME_LEN || h->type != htons(ETH_P_ARP))
        return NULL;
    const struct arp_ipv4 *a = (const void *)(h + 1);
    if (a->htype != htons(1) || a->ptype != htons(ETH_P_IP) || a->hlen != ETH_ALEN || a->plen != 4)
        return NULL;
    return a;
}

bool arp_is_reply(const void *frame, size_t len, uint32_t target, uint8_t mac[ETH_ALEN])
{
    const struct arp_ipv4 *a = arp_of(frame, len);
    if (!a || a->op != htons(2) || get_ip(a->spa) != target)
        return false;
    memcpy(mac, a->sha, ETH_ALEN);
    return true;
}

size_t arp_answer(const void *frame, size_t len, uint32_t our_ip, void *reply)
{
    const struct arp_ipv4 *a = arp_of(frame, len);
    if (!a || a->op != htons(1) || get_ip(a->tpa) != our_ip)
        return 0;
    uint8_t sha[ETH_ALEN];
    memcpy(sha, a->sha, ETH_ALEN);
    return arp_build(reply, sha, 2, our_ip, sha, get_ip(a->spa));
}

size_t udp_build(void *frame, const uint8_t dst_mac[ETH_ALEN], uint32_t src_ip, uint32_t dst_ip,
                 uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    uint8_t *ip = eth_build(frame, dst_mac, ETH_P_IP);
    uint8_t *udp = ip + 20;
    size_t total = 20 + 8 + len;

    ip[0] = 0x45; /* version 4, 5-word header */
    ip[1] = 0;
    ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
    ip[4] = ip[5] = 0;           /* identification */
    ip[6] = 0x40, ip[7] = 0;     /* don't fragment */
    ip[8] = 64;                  /* TTL */
    ip[9] = 17;                  /* UDP */
    ip[10] = ip[11] = 0;
    put_ip(ip + 12, src_ip);
    put_ip(ip + 16, dst_ip);
    uint16_t sum = ip_checksum(ip, 20);
    memcpy(ip + 10, &sum, 2);
    udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)((8 + len) >> 8), udp[5] = (uint8_t)(8 + len);
    udp[6] = udp[7] = 0; /* no checksum */
    memcpy(udp + 8, data, len);
    return ETH_HLEN + total;
}
