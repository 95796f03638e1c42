/*
 * net_udp: reaches a host over the backend's tap uplink with the least IPv4 there is: ARP
 * for dst=ADDRESS from ip=ADDRESS (answering ARP requests for ip meanwhile), then count=N
 * (default 5) UDP datagrams "xeno-udp SEQ" to dst:port (default 5000). PASS once the ARP
 * reply came and the device took every datagram; whether they arrived is the listener's
 * to say (tests/integration/net.sh).
 */
#include "net.h"

const char test_title[] = "net_udp: ARP and UDP datagrams to a host listener";

static uint8_t buf[ETH_MAX_FRAME], out[ETH_MAX_FRAME];

static uint64_t now_us(void)
{
    return tsc_to_us(rdtsc());
}

/* Answers an ARP request for us in buf, if it is one. */
static void answer_arp(size_t len, uint32_t ip)
{
    size_t n = arp_answer(buf, len, ip, out);
    if (n)
        vnet_send(out, n);
}

void test_main(void)
{
    char arg[32];
    uint32_t ip, dst;
    uint8_t gw[ETH_ALEN];
    unsigned count = (unsigned)cmdline_u64("count", 5), port = (unsigned)cmdline_u64("port", 5000), asked = 0;

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!cmdline_arg("ip", arg, sizeof(arg)) || !ipv4_parse(arg, &ip) || !cmdline_arg("dst", arg, sizeof(arg)) ||
        !ipv4_parse(arg, &dst) || port == 0 || port > 65535) {
        test_fail("ip=ADDRESS dst=ADDRESS [port=N] are needed on the command line");
        return;
    }
    if (!vnet_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    printf("net_udp: %u datagrams to %s:%u\n", count, arg, port);
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
        else if (len)
            answer_arp(len, ip);
    }
    if (!resolved) {
        test_fail("no ARP reply for %s after %u requests", arg, asked);
        return;
    }
    printf("net_udp: %s is at %02x:%02x:%02x:%02x:%02x:%02x\n", arg, gw[0], gw[1], gw[2], gw[3], gw[4], gw[5]);
    for (unsigned i = 0; i < count; i++) {
        /* The numbered datagram tests/tools/udp_sink counts: magic "XNBF", flow, sequence. */
        struct {
            uint32_t magic, flow;
            uint64_t seq;
        } msg = {0x584e4246u, 1, i};
        size_t len = udp_build(out, gw, ip, dst, 40000, (uint16_t)port, &msg, sizeof(msg));
        while (!vnet_send(out, len))
            vnet_poll_tx();
        udelay(20000); /* a listener reading line by line keeps up */
    }
    for (unsigned i = 0; i < 200 && vnet_poll_tx(); i++)
        udelay(10000);
    if (vnet_poll_tx()) {
        test_fail("the device did not take %u datagrams", vnet_poll_tx());
        return;
    }
    printf("net_udp: sent %u datagrams\n", count);
    test_pass();
}
