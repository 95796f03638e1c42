/*
 * The test frames the network kernels exchange: IPv4/UDP datagrams to port TEST_UDP_PORT
 * from the kernel's own address (ip= on the command line: the backend's switch lets a
 * domain send only from its own MAC and IPv4 address, and only IP and ARP), carrying a kind
 * and a sequence number. Shared by net_ping/net_echo and the net_seq pair.
 */
#ifndef GUEST_NET_TEST_H
#define GUEST_NET_TEST_H

#include "net.h"

#define TEST_UDP_PORT 7777
#define TEST_FRAME_LEN (ETH_HLEN + 20 + 8 + 8)

enum test_kind {
    TEST_PING = 1,  /* net_ping -> net_echo, which sends it back */
    TEST_DONE = 2,  /* net_ping: the echoer may stop */
    TEST_DATA = 3,  /* net_seq sender -> receiver, numbered */
    TEST_ACK = 4,   /* net_seq receiver -> sender: frames received in order so far */
    TEST_PROBE = 5, /* net_seq sender: nothing acked for a while; send an ACK */
};

struct test_msg {
    uint32_t kind, seq;
    uint8_t src_mac[ETH_ALEN];
    uint32_t src_ip;
};

static uint32_t test_ip; /* ours, host order */

/* ip=ADDRESS from the command line, then the device. False with the reason printed. */
static inline bool test_net_init(void)
{
    char arg[32];
    if (!cmdline_arg("ip", arg, sizeof(arg)) || !ipv4_parse(arg, &test_ip)) {
        printf("net: no ip=ADDRESS on the command line\n");
        return false;
    }
    return vnet_init();
}

static inline size_t test_frame_build(void *buf, const uint8_t dst[ETH_ALEN], uint32_t dst_ip, uint32_t kind,
                                      uint32_t seq)
{
    uint32_t payload[2] = {kind, seq};
    return udp_build(buf, dst, test_ip, dst_ip, TEST_UDP_PORT, TEST_UDP_PORT, payload, sizeof(payload));
}

/* A test frame addressed to us (MAC and UDP port): its contents into *m. */
static inline bool test_frame_parse(const void *buf, size_t len, struct test_msg *m)
{
    const uint8_t *b = buf;
    const struct eth_hdr *h = buf;
    if (len < TEST_FRAME_LEN || h->type != htons(ETH_P_IP) || memcmp(h->dst, vnet_mac(), ETH_ALEN))
        return false;
    const uint8_t *ip = b + ETH_HLEN, *udp = ip + 20;
    if (ip[0] != 0x45 || ip[9] != 17 || (udp[2] << 8 | udp[3]) != TEST_UDP_PORT)
        return false;
    memcpy(&m->kind, udp + 8, 4);
    memcpy(&m->seq, udp + 12, 4);
    memcpy(m->src_mac, h->src, ETH_ALEN);
    m->src_ip = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
    return true;
}

/* Sends, polling the transmit ring while it is full (up to timeout_us). */
static inline bool test_send(const void *frame, size_t len, uint64_t timeout_us)
{
    uint64_t start = rdtsc(), limit = timeout_us * tsc_khz() / 1000;
    while (!vnet_send(frame, len)) {
        if (rdtsc() - start > limit)
            return false;
        pause();
    }
    return true;
}

static inline uint64_t now_us(void)
{
    return tsc_to_us(rdtsc());
}

/* peer=MAC and peer_ip=ADDRESS from the command line. */
static inline bool test_peer(uint8_t mac[ETH_ALEN], uint32_t *ip)
{
    char arg[32];
    return cmdline_arg("peer", arg, sizeof(arg)) && mac_parse(arg, mac) && cmdline_arg("peer_ip", arg, sizeof(arg)) &&
           ipv4_parse(arg, ip);
}

#endif
