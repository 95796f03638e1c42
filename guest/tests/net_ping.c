/*
 * net_ping: sends count=N (default 20) numbered test frames to peer=MAC at peer_ip=ADDRESS
 * (a net_echo kernel) from ip=ADDRESS, one at a time and waits for each to come back: same number, from the peer, to
 * us. A frame with no answer in 500 ms is sent again (the first one for up to 60 s while
 * the peer boots, later ones for 10 s). PASS when every number came back; then TEST_DONE
 * tells the echoer to stop.
 */
#include "net_test.h"

const char test_title[] = "net_ping: numbered frames to an echoing peer";

void test_main(void)
{
    static uint8_t buf[ETH_MAX_FRAME], f[TEST_FRAME_LEN];
    uint8_t peer[ETH_ALEN];
    uint32_t peer_ip;
    struct test_msg r;
    unsigned count = (unsigned)cmdline_u64("count", 20), replies = 0, resends = 0, stale = 0;

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!test_peer(peer, &peer_ip)) {
        test_fail("no peer=MAC peer_ip=ADDRESS on the command line");
        return;
    }
    if (!test_net_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    printf("net_ping: %u frames to %02x:%02x:%02x:%02x:%02x:%02x, link %s\n", count, peer[0], peer[1], peer[2],
           peer[3], peer[4], peer[5], vnet_link_up() ? "up" : "down");
    for (unsigned seq = 0; seq < count; seq++) {
        uint64_t deadline = now_us() + (seq == 0 ? 60000000 : 10000000), sent = 0;
        bool answered = false;
        while (!answered && now_us() < deadline) {
            if (!sent || now_us() - sent > 500000) {
                resends += sent != 0;
                test_send(f, test_frame_build(f, peer, peer_ip, TEST_PING, seq), 1000000);
                sent = now_us();
            }
            size_t len = vnet_recv(buf, sizeof(buf), 50000);
            if (!test_frame_parse(buf, len, &r) || r.kind != TEST_PING || memcmp(r.src_mac, peer, ETH_ALEN))
                continue;
            if (r.seq == seq)
                answered = true;
            else
                stale++; /* the answer to a frame sent twice */
        }
        if (!answered) {
            test_fail("frame %u: no answer from the peer", seq);
            break;
        }
        replies++;
    }
    for (unsigned i = 0; i < 3; i++) {
        test_send(f, test_frame_build(f, peer, peer_ip, TEST_DONE, count), 1000000);
    }
    for (unsigned i = 0; i < 100 && vnet_poll_tx(); i++)
        udelay(10000);
    printf("net_ping: %u/%u replies, %u resends, %u late answers\n", replies, count, resends, stale);
    if (vnet_status() & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    if (replies == count)
        test_pass();
}
