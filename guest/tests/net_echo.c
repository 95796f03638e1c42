/*
 * net_echo: sends every test frame addressed to it back to its sender (virtio-net through
 * the host's vhost-user backend and switch), from its own address (ip=). Ends with PASS when
 * a TEST_DONE frame arrives after at least one echo; FAIL after idle=SECONDS (default 120)
 * with no frame at all.
 */
#include "net_test.h"

const char test_title[] = "net_echo: echo test frames back to their sender";

void test_main(void)
{
    static uint8_t buf[ETH_MAX_FRAME], out[ETH_MAX_FRAME];
    uint64_t idle_us = cmdline_u64("idle", 120) * 1000000, last = 0;
    unsigned echoed = 0, other = 0;
    struct test_msg m;

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!test_net_init()) {
        test_fail("no usable virtio-net device");
        return;
    }
    const uint8_t *mac = vnet_mac();
    printf("net_echo: mac %02x:%02x:%02x:%02x:%02x:%02x, link %s\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
           vnet_link_up() ? "up" : "down");
    last = now_us();
    for (;;) {
        size_t len = vnet_recv(buf, sizeof(buf), 100000);
        if (!len) {
            if (now_us() - last > idle_us) {
                test_fail("no frame for %lu s after %u echoes", (unsigned long)(idle_us / 1000000), echoed);
                return;
            }
            continue;
        }
        last = now_us();
        if (!test_frame_parse(buf, len, &m)) {
            other++;
            continue;
        }
        if (m.kind == TEST_DONE && echoed)
            break;
        if (m.kind != TEST_PING)
            continue;
        if (test_send(out, test_frame_build(out, m.src_mac, m.src_ip, m.kind, m.seq), 1000000))
            echoed++;
    }
    vnet_poll_tx();
    printf("net_echo: echoed %u frames, %u other frames ignored\n", echoed, other);
    if (vnet_status() & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    test_pass();
}
