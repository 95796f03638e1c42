/*
 * net_seq: the exactly-once transfer (ip=, peer=MAC, peer_ip= on the command line). role=send
 * sends count=N numbered TEST_DATA frames to the peer; role=recv checks that every number arrives exactly once and in order, and acks
 * (TEST_ACK: frames received in order so far) every window/2 frames.
 *
 * The sender starts once the receiver answers a probe, and keeps at most window=W (default 16) frames unacknowledged, fewer than the
 * receiver's posted buffers, so a slow receiver never makes the switch drop; it never
 * retransmits, so a frame the network loses shows as a gap and one it delivers twice as a
 * duplicate. An ACK can be lost (it is a frame too): after a second without progress the
 * sender sends TEST_PROBE and the receiver answers with an ACK.
 *
 * The sender gives up (FAIL) after stall=SECONDS (default 60) without an acknowledgement, the
 * receiver after idle=SECONDS (default 60) without a data frame.
 *
 * The receiver prints one line "net_seq: received N of N frames, D duplicates, G out of
 * order" and PASS only when all N came, none twice, none out of order. It then keeps
 * answering probes for linger=SECONDS (default 3) so the sender hears the last ACK.
 */
#include "net_test.h"

const char test_title[] = "net_seq: numbered frames, each exactly once and in order";

static uint8_t buf[ETH_MAX_FRAME], f[TEST_FRAME_LEN];
static uint32_t peer_ip;

static void send_ack(const uint8_t *peer, uint32_t n)
{
    test_send(f, test_frame_build(f, peer, peer_ip, TEST_ACK, n), 1000000);
}

static void receiver(const uint8_t *peer, uint32_t count, uint32_t window)
{
    uint32_t expected = 0, dups = 0, disorder = 0, since_ack = 0, first_bad = 0;
    uint64_t idle_us = cmdline_u64("idle", 60) * 1000000, linger_us = cmdline_u64("linger", 3) * 1000000;
    uint64_t last = now_us(), done_at = 0;

    for (;;) {
        size_t len = vnet_recv(buf, sizeof(buf), 100000);
        struct test_msg m;
        uint64_t now = now_us();
        if (!test_frame_parse(buf, len, &m) || memcmp(m.src_mac, peer, ETH_ALEN)) {
            if (done_at && now - done_at > linger_us)
                break;
            if (!done_at && now - last > idle_us) {
                printf("net_seq: received %u of %u frames, %u duplicates, %u out of order; no data for %lu s\n",
                       expected, count, dups, disorder, (unsigned long)(idle_us / 1000000));
                test_fail("frame %u never arrived", expected);
                return;
            }
            continue;
        }
        if (m.kind == TEST_PROBE) {
            send_ack(peer, expected);
            continue;
        }
        if (m.kind != TEST_DATA)
            continue;
        last = now; /* probes alone are no progress: a lost frame must end the test */
        if (m.seq == expected && expected < count) {
            expected++;
        } else if (m.seq < expected) {
            if (!dups++ && !disorder)
                first_bad = m.seq;
        } else {
            if (!disorder++ && !dups)
                first_bad = m.seq;
        }
        if (++since_ack >= window / 2 || expected == count) {
            send_ack(peer, expected);
            since_ack = 0;
        }
        if (expected == count && !done_at) {
            done_at = now;
            printf("net_seq: all %u frames in; lingering for the sender's last probes\n", count);
        }
    }
    printf("net_seq: received %u of %u frames, %u duplicates, %u out of order\n", expected, count, dups, disorder);
    if (dups || disorder)
        test_fail("frame %u arrived %s", first_bad, dups ? "twice" : "out of order");
    else if (vnet_status() & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    else
        test_pass();
}

static void sender(const uint8_t *peer, uint32_t count, uint32_t window)
{
    uint32_t next = 0, acked = 0, probes = 0;
    uint64_t progress = now_us(), stall_us = cmdline_u64("stall", 60) * 1000000, start = progress, acked_at = progress;
    struct test_msg r;

    /* The receiver first: a frame sent before its port is up would be dropped (the network
     * may do that; we never retransmit), so probe until it answers. */
    bool heard = false;
    while (!heard) {
        vnet_send(f, test_frame_build(f, peer, peer_ip, TEST_PROBE, 0));
        probes++;
        uint64_t until = now_us() + 200000;
        while (!heard && now_us() < until) {
            size_t len = vnet_recv(buf, sizeof(buf), 20000);
            heard = test_frame_parse(buf, len, &r) && r.kind == TEST_ACK && !memcmp(r.src_mac, peer, ETH_ALEN);
        }
        if (!heard && now_us() - start > stall_us) {
            test_fail("the receiver never answered (%u probes)", probes);
            return;
        }
    }
    progress = acked_at = now_us();
    while (acked < count) {
        while (next < count && next - acked < window) {
            if (!vnet_send(f, test_frame_build(f, peer, peer_ip, TEST_DATA, next)))
                break;
            next++;
        }
        size_t len = vnet_recv(buf, sizeof(buf), 20000);
        bool got = test_frame_parse(buf, len, &r);
        uint64_t now = now_us();
        if (got && r.kind == TEST_ACK && !memcmp(r.src_mac, peer, ETH_ALEN) && r.seq > acked && r.seq <= next) {
            acked = r.seq;
            progress = acked_at = now;
        } else if (now - progress > 1000000) {
            vnet_send(f, test_frame_build(f, peer, peer_ip, TEST_PROBE, acked));
            probes++;
            progress = now;
        }
        if (now - acked_at > stall_us) {
            printf("net_seq: sent %u of %u frames, %u acknowledged, %u probes\n", next, count, acked, probes);
            test_fail("no acknowledgement of frame %u", acked);
            return;
        }
    }
    printf("net_seq: sent %u frames, all acknowledged, %u probes, %lu ms\n", count, probes,
           (unsigned long)((now_us() - start) / 1000));
    if (vnet_status() & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    else
        test_pass();
}

void test_main(void)
{
    char role[8];
    uint8_t peer[ETH_ALEN];
    uint32_t count = (uint32_t)cmdline_u64("count", 1000), window = (uint32_t)cmdline_u64("window", 16);

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!test_peer(peer, &peer_ip)) {
        test_fail("no peer=MAC peer_ip=ADDRESS on the command line");
        return;
    }
    if (!cmdline_arg("role", role, sizeof(role)) || (strcmp(role, "send") && strcmp(role, "recv"))) {
        test_fail("role=send or role=recv is needed on the command line");
        return;
    }
    if (window < 2 || window > 32) {
        test_fail("window=%u: 2 to 32 (the receiver posts 64 buffers)", window);
        return;
    }
    if (!test_net_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    printf("net_seq: %s, %u frames, window %u\n", role, count, window);
    if (!strcmp(role, "send"))
        sender(peer, count, window);
    else
        receiver(peer, count, window);
}
