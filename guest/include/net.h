/*
 * Networking for test kernels: the virtio-net driver (runtime/virtio_net.c) and a few
 * frame helpers (runtime/net_frame.c): Ethernet, ARP, IPv4/UDP, and key=value arguments from
 * the kernel command line. Polled, one frame per call, small: every guest instruction is
 * slow here, so nothing copies more than a frame.
 *
 * The device is virtio-net (id 1) with VIRTIO_NET_F_MAC; its queues are served by the
 * host's vhost-user backend (docs/machine.md). Each buffer starts with the 12-byte
 * virtio-net header, which the driver fills (zeros) and strips.
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include "runtime.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_MIN_FRAME 60   /* without the FCS: shorter frames are padded */
#define ETH_MAX_FRAME 1514
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_XENO_TEST 0x88b5 /* IEEE local experimental: our test frames */

struct vnet_stats {
    uint64_t tx_frames, rx_frames, tx_full; /* tx_full: sends refused, ring full */
    uint64_t inits;                         /* device initialisations (1 unless reset) */
};

/* Finds and starts the device (rx buffers posted). False with a message printed. */
bool vnet_init(void);
const uint8_t *vnet_mac(void);
/* Link status from the config space (VIRTIO_NET_S_LINK_UP). */
bool vnet_link_up(void);
/* Queues one frame (len <= ETH_MAX_FRAME, padded to ETH_MIN_FRAME); false when the
 * transmit ring is full (try again after vnet_poll_tx). */
bool vnet_send(const void *frame, size_t len);
/* Reclaims transmitted buffers; returns frames still waiting in the device. */
unsigned vnet_poll_tx(void);
/* The next received frame into buf (at most size bytes): its length, or 0 when none has
 * arrived within timeout_us (0: do not wait). */
size_t vnet_recv(void *buf, size_t size, uint64_t timeout_us);
/* Device status register (NEEDS_RESET shows a device the host broke). */
uint32_t vnet_status(void);
const struct vnet_stats *vnet_stats(void);

/* ---- frames (net_frame.c) ---- */
struct eth_hdr {
    uint8_t dst[ETH_ALEN], src[ETH_ALEN];
    uint16_t type; /* network order */
} __attribute__((packed));

static inline uint16_t htons(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}
#define ntohs htons
static inline uint32_t htonl(uint32_t v)
{
    return __builtin_bswap32(v);
}
#define ntohl htonl

/* "52:54:00:12:34:56" -> mac; false when malformed. */
bool mac_parse(const char *s, uint8_t mac[ETH_ALEN]);
/* "10.0.0.2" -> host-order address; false when malformed. */
bool ipv4_parse(const char *s, uint32_t *ip);
/* key=value from the kernel command line into out (NUL-terminated); false when absent. */
bool cmdline_arg(const char *key, char *out, size_t size);
/* A numeric argument, or def when absent or malformed. */
uint64_t cmdline_u64(const char *key, uint64_t def);
/* Fills the Ethernet header; returns a pointer to the payload. */
void *eth_build(void *frame, const uint8_t dst[ETH_ALEN], uint16_t type);
/* The Internet checksum of len bytes. */
uint16_t ip_checksum(const void *data, size_t len);

/* ARP for IPv4 over Ethernet. */
#define ARP_FRAME_LEN (ETH_HLEN + 28)
/* A request for `target` from (our MAC, our_ip) into frame; returns the length. */
size_t arp_request(void *frame, uint32_t our_ip, uint32_t target);
/* If frame is an ARP reply for `target`, its MAC into mac. */
bool arp_is_reply(const void *frame, size_t len, uint32_t target, uint8_t mac[ETH_ALEN]);
/* If frame is an ARP request for our_ip, writes the reply into reply and returns its length. */
size_t arp_answer(const void *frame, size_t len, uint32_t our_ip, void *reply);
/* An IPv4/UDP datagram (checksum 0: none, as IPv4 allows) into frame; returns its length. */
size_t udp_build(void *frame, const uint8_t dst_mac[ETH_ALEN], uint32_t src_ip, uint32_t dst_ip,
                 uint16_t sport, uint16_t dport, const void *data, size_t len);

#endif
