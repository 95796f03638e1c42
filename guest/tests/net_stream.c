/*
 * net_stream: a paced stream of numbered frames whose every byte says which frame it is, for
 * checking a receiver's memory across a live migration (tests/integration/net_migrate.sh).
 *
 * role=send sends TEST_DATA frames of stream=ID (1..2) to peer=MAC / peer_ip= at rate=N frames a
 * second (default 2000) for secs=S seconds (default 60), then PASS. It never waits for the
 * receiver: frames nobody takes are dropped by the network.
 *
 * role=recv checks every frame that arrives: a frame that is not a stream frame for us, or
 * one whose payload is not exactly what its number says (a buffer the device did not write,
 * or wrote and the memory lost), is corrupt; a number not above the last of its stream is a
 * frame seen again (a used ring that went back). Gaps (frames the network dropped) are
 * counted, not failures. It ends with PASS once need=N frames (default 2000) of stream=S
 * (default 2) have arrived, after at least one of stream 1 (with S 2: the stream on the host
 * it came from), with nothing corrupt and nothing seen again. slow=US (default 0) spends that
 * long on each frame, so that the device keeps the receive ring full of frames not read yet
 * (what a migration must carry over intact); FAIL at
 * the first bad frame (after printing it) or after idle=S seconds (default 60) without a frame.
 */
#include "net_test.h"

const char test_title[] = "net_stream: paced numbered frames, every byte checked";

#define STREAMS 2
#define WORDS 64 /* payload words after the header: 256 bytes */

struct stream_frame {
    uint32_t kind, seq, stream, words[WORDS];
};

static uint8_t buf[ETH_MAX_FRAME], out[ETH_MAX_FRAME];

static uint32_t word_of(uint32_t stream, uint32_t seq, unsigned i)
{
    return (seq * 2654435761u) ^ (stream << 28) ^ (i * 40503u + 1);
}

static void sender(const uint8_t *peer, uint32_t peer_ip, uint32_t stream)
{
    uint64_t rate = cmdline_u64("rate", 2000), secs = cmdline_u64("secs", 60);
    uint64_t start = now_us(), gap = 1000000 / (rate ? rate : 1);
    struct stream_frame p = {.kind = TEST_DATA, .stream = stream};
    uint32_t sent = 0, full = 0;
    while (now_us() - start < secs * 1000000) {
        p.seq = sent;
        for (unsigned i = 0; i < WORDS; i++)
            p.words[i] = word_of(stream, sent, i);
        size_t len = udp_build(out, peer, test_ip, peer_ip, TEST_UDP_PORT, TEST_UDP_PORT, &p, sizeof(p));
        if (vnet_send(out, len))
            sent++;
        else
            full++;
        vnet_poll_tx();
        uint64_t next = start + (uint64_t)sent * gap;
        while (now_us() < next)
            pause();
    }
    printf("net_stream: stream %u sent %u frames (%u refused, ring full)\n", stream, sent, full);
    test_pass();
}

/* 0: a good frame of stream *s; 1: corrupt; 2: not a stream frame at all. */
static int check(const uint8_t *b, size_t len, uint32_t *s, uint32_t *seq)
{
    const struct eth_hdr *h = (const void *)b;
    size_t want = ETH_HLEN + 20 + 8 + sizeof(struct stream_frame);
    if (len < ETH_HLEN || h->type != htons(ETH_P_IP) || memcmp(h->dst, vnet_mac(), ETH_ALEN))
        return 2;
    const uint8_t *ip = b + ETH_HLEN, *udp = ip + 20;
    if (len < want || ip[0] != 0x45 || ip[9] != 17 || (udp[2] << 8 | udp[3]) != TEST_UDP_PORT)
        return 1;
    struct stream_frame p;
    memcpy(&p, udp + 8, sizeof(p));
    if (p.kind != TEST_DATA || p.stream < 1 || p.stream > STREAMS)
        return 1;
    for (unsigned i = 0; i < WORDS; i++)
        if (p.words[i] != word_of(p.stream, p.seq, i))
            return 1;
    *s = p.stream;
    *seq = p.seq;
    return 0;
}

static void receiver(void)
{
    uint64_t need = cmdline_u64("need", 2000), idle_us = cmdline_u64("idle", 60) * 1000000;
    uint64_t until = cmdline_u64("stream", 2), slow = cmdline_u64("slow", 0);
    if (until < 1 || until > STREAMS)
        until = 2;
    uint64_t good[STREAMS + 1] = {0}, lost[STREAMS + 1] = {0}, last_at = now_us();
    int64_t last[STREAMS + 1] = {-1, -1, -1};
    for (;;) {
        size_t len = vnet_recv(buf, sizeof(buf), 100000);
        if (!len) {
            if (now_us() - last_at > idle_us) {
                test_fail("no frame for %lu s (stream 1: %lu, stream 2: %lu good)", (unsigned long)(idle_us / 1000000),
                          (unsigned long)good[1], (unsigned long)good[2]);
                return;
            }
            continue;
        }
        last_at = now_us();
        uint32_t s = 0, seq = 0;
        int c = check(buf, len, &s, &seq);
        if (c) {
            printf("net_stream: %s frame of %lu bytes after %lu + %lu good: %02x %02x %02x %02x ...\n",
                   c == 1 ? "corrupt" : "foreign", (unsigned long)len, (unsigned long)good[1], (unsigned long)good[2],
                   buf[0], buf[1], buf[12], buf[13]);
            test_fail("a %s frame", c == 1 ? "corrupt" : "foreign");
            return;
        }
        if ((int64_t)seq <= last[s]) {
            printf("net_stream: stream %u frame %u after frame %ld: seen again\n", s, seq, (long)last[s]);
            test_fail("stream %u went back from %ld to %u", s, (long)last[s], seq);
            return;
        }
        lost[s] += (uint64_t)((int64_t)seq - last[s] - 1);
        last[s] = seq;
        if (good[s]++ == 0)
            printf("net_stream: first frame of stream %u (number %u)\n", s, seq);
        for (uint64_t t = now_us() + slow; slow && now_us() < t;)
            pause();
        if (good[until] >= need && good[1]) {
            printf("net_stream: received stream 1: %lu good, %lu lost; stream 2: %lu good, %lu lost; 0 corrupt, 0 "
                   "seen again\n",
                   (unsigned long)good[1], (unsigned long)lost[1], (unsigned long)good[2], (unsigned long)lost[2]);
            test_pass();
            return;
        }
    }
}

void test_main(void)
{
    char role[8];
    uint8_t peer[ETH_ALEN];
    uint32_t peer_ip = 0;
    if (!timer_init()) {
        test_fail("no clock: the monitor's timer is missing"); /* it runs under KVM only: a fault */
        return;
    }
    if (!cmdline_arg("role", role, sizeof(role)) || (strcmp(role, "send") && strcmp(role, "recv"))) {
        test_fail("role=send or role=recv is needed on the command line");
        return;
    }
    if (!strcmp(role, "send") && !test_peer(peer, &peer_ip)) {
        test_fail("no peer=MAC peer_ip=ADDRESS on the command line");
        return;
    }
    if (!test_net_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    printf("net_stream: %s\n", role);
    if (!strcmp(role, "send")) {
        uint32_t stream = (uint32_t)cmdline_u64("stream", 1);
        if (stream < 1 || stream > STREAMS) {
            test_fail("stream=%u: 1 or 2", stream);
            return;
        }
        sender(peer, peer_ip, stream);
    } else {
        receiver();
    }
}
