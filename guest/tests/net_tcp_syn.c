/*
 * net_tcp_syn: TCP connection attempts, as a traffic generator for the audit tests
 * (tests/integration/net_audit.sh). From ip=ADDRESS, ARP for dst=ADDRESS (answering ARP
 * requests for ip meanwhile), then one SYN per entry of ports=P1,P2,... (at most 16), each
 * from its own source port (sport=N, default 41000, plus the entry's index), waiting up to
 * wait=MS (default 3000) for the answer: a SYN+ACK (the connection is then reset, so the
 * listener keeps nothing half-open), a RST, or none. One line per attempt,
 * `net_tcp_syn: port P: synack|rst|none`. PASS once every attempt is done: whether an answer
 * was right is the host's to say (a refused connection is "none": the backend dropped the SYN).
 * No retransmission: one SYN per attempt, so each attempt is exactly one flow.
 */
#include "net.h"

const char test_title[] = "net_tcp_syn: TCP SYNs to a host over the uplink";

#define MAX_PORTS 16

static uint8_t buf[ETH_MAX_FRAME], out[ETH_MAX_FRAME];

static uint64_t now_us(void)
{
    return tsc_to_us(rdtsc());
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv4/TCP segment without options or payload into out; returns the frame's length. */
static size_t tcp_build(const uint8_t mac[ETH_ALEN], uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        uint32_t seq, uint32_t ack, uint8_t flags)
{
    /* udp_build gives the Ethernet and IPv4 headers; protocol and lengths are fixed after. */
    size_t n = udp_build(out, mac, src, dst, sport, dport, "", 0);
    uint8_t *ip = out + ETH_HLEN, *tcp = ip + 20;
    ip[2] = 0, ip[3] = 40;
    ip[9] = 6;
    ip[10] = ip[11] = 0;
    uint16_t sum = ip_checksum(ip, 20);
    memcpy(ip + 10, &sum, 2);
    memset(tcp, 0, 20);
    tcp[0] = (uint8_t)(sport >> 8), tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dport >> 8), tcp[3] = (uint8_t)dport;
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14] = 0xff, tcp[15] = 0xff; /* window */
    /* Checksum over the pseudo header (addresses, protocol, length) and the segment. */
    uint8_t ph[12 + 20];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0, ph[9] = 6, ph[10] = 0, ph[11] = 20;
    memcpy(ph + 12, tcp, 20);
    sum = ip_checksum(ph, sizeof(ph));
    memcpy(tcp + 16, &sum, 2);
    (void)n;
    return ETH_HLEN + 40;
}

/* If buf is a TCP segment from dst:dport to ip:sport, its flags (and seq, ack); else -1. */
static int tcp_reply(size_t len, uint32_t ip, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t *seq,
                     uint32_t *ack)
{
    if (len < ETH_HLEN + 40 || buf[12] != 0x08 || buf[13] != 0x00)
        return -1;
    const uint8_t *iph = buf + ETH_HLEN;
    size_t ihl = (size_t)(iph[0] & 0x0f) * 4;
    if ((iph[0] >> 4) != 4 || ihl < 20 || iph[9] != 6 || len < ETH_HLEN + ihl + 20)
        return -1;
    const uint8_t *tcp = iph + ihl;
    if (get32(iph + 12) != dst || get32(iph + 16) != ip || (tcp[0] << 8 | tcp[1]) != dport ||
        (tcp[2] << 8 | tcp[3]) != sport)
        return -1;
    *seq = get32(tcp + 4);
    *ack = get32(tcp + 8);
    return tcp[13];
}

void test_main(void)
{
    char arg[96];
    uint32_t ip, dst;
    uint8_t gw[ETH_ALEN];
    unsigned ports[MAX_PORTS], n = 0, asked = 0;
    unsigned sport0 = (unsigned)cmdline_u64("sport", 41000), wait_ms = (unsigned)cmdline_u64("wait", 3000);

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!cmdline_arg("ip", arg, sizeof(arg)) || !ipv4_parse(arg, &ip) || !cmdline_arg("dst", arg, sizeof(arg)) ||
        !ipv4_parse(arg, &dst)) {
        test_fail("ip=ADDRESS dst=ADDRESS ports=P1,P2,... are needed on the command line");
        return;
    }
    if (cmdline_arg("ports", arg, sizeof(arg))) {
        unsigned v = 0;
        bool digit = false;
        for (const char *c = arg;; c++) {
            if (*c >= '0' && *c <= '9') {
                v = v * 10 + (unsigned)(*c - '0');
                digit = true;
                if (v > 65535)
                    break;
            } else if ((*c == ',' || !*c) && digit && v && n < MAX_PORTS) {
                ports[n++] = v;
                v = 0;
                digit = false;
                if (!*c)
                    break;
            } else {
                n = 0;
                break;
            }
        }
    }
    if (!n || sport0 == 0 || sport0 + n > 65535) {
        test_fail("ports=P1,P2,... (1 to %u ports of 1 to 65535) and sport=N are needed", MAX_PORTS);
        return;
    }
    if (!vnet_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    bool resolved = false;
    uint64_t deadline = now_us() + 30000000, sent = 0;
    while (!resolved && now_us() < deadline) {
        if (!sent || now_us() - sent > 500000) {
            vnet_send(out, arp_request(out, ip, dst));
            sent = now_us();
            asked++;
        }
        size_t len = vnet_recv(buf, sizeof(buf), 50000);
        if (len && arp_is_reply(buf, len, dst, gw))
            resolved = true;
        else if (len && (len = arp_answer(buf, len, ip, out)))
            vnet_send(out, len);
    }
    if (!resolved) {
        test_fail("no ARP reply after %u requests", asked);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        uint16_t sport = (uint16_t)(sport0 + i), dport = (uint16_t)ports[i];
        uint32_t iss = 0x1000u * (i + 1), seq = 0, ack = 0;
        while (!vnet_send(out, tcp_build(gw, ip, dst, sport, dport, iss, 0, 0x02)))
            vnet_poll_tx();
        const char *what = "none";
        uint64_t until = now_us() + (uint64_t)wait_ms * 1000;
        while (now_us() < until) {
            size_t len = vnet_recv(buf, sizeof(buf), 20000);
            if (!len)
                continue;
            int fl = tcp_reply(len, ip, dst, sport, dport, &seq, &ack);
            if (fl < 0) {
                size_t r = arp_answer(buf, len, ip, out);
                if (r)
                    vnet_send(out, r);
                continue;
            }
            if (fl & 0x04) {
                what = "rst";
                break;
            }
            if ((fl & 0x12) == 0x12 && ack == iss + 1) {
                what = "synack";
                /* Reset: the listener forgets the connection at once. */
                while (!vnet_send(out, tcp_build(gw, ip, dst, sport, dport, iss + 1, 0, 0x04)))
                    vnet_poll_tx();
                break;
            }
        }
        printf("net_tcp_syn: port %u: %s\n", ports[i], what);
    }
    for (unsigned i = 0; i < 200 && vnet_poll_tx(); i++)
        udelay(10000);
    printf("net_tcp_syn: %u attempts done\n", n);
    test_pass();
}
