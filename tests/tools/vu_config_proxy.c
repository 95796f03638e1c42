/* vu_config_proxy: puts QEMU's vhost-user-blk-pci in front of xeno-blkback for the Linux guest
 * test (tests/integration/blkback_qemu.sh). QEMU's device reads its config space from the
 * backend (GET_CONFIG, protocol feature CONFIG) and refuses a backend without it; xeno-blkback
 * does not offer it because our monitor serves the config space itself
 * (src/vmm/virtio/virtio_blk.c). This proxy plays that part of the monitor: it answers
 * GET_CONFIG with the config our monitor would serve, adds the CONFIG bit to the protocol
 * features QEMU sees (and takes it out of what reaches the backend), and passes every other
 * message through unchanged, fds included: guest memory, kick and call eventfds go to the
 * backend as QEMU sent them, so the data path is QEMU <-> xeno-blkback, without the proxy.
 *
 * Sides as in production: the backend connects to the proxy's --listen socket (as to a
 * monitor's), the proxy connects to QEMU's socket (server=on). When the backend goes away
 * (kill -9), the proxy closes its QEMU connection too, so QEMU sees the backend gone, and
 * connects again once the next backend has connected: QEMU then sets the device up anew,
 * its rings' bases from the used indexes (what our monitor does, docs/blkback.md "Restarts").
 *
 * usage: vu_config_proxy --listen SOCK --qemu SOCK --size BYTES [--timeout SEC]
 * Runs until SIGTERM, or until QEMU's socket has refused connections for --timeout seconds
 * (default 30: QEMU has exited). Logs one line per connection to stderr. */
#include "lib/err.h"
#include "proto/vhost_user.h"
#include "proto/virtio_blk.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_HDR 12u /* offset, size, flags before the config bytes */

static uint64_t disk_size;
static bool reply_ack;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logf_(const char *what)
{
    fprintf(stderr, "vu_config_proxy: %s%s%s\n", what, err_msg()[0] ? ": " : "", err_msg());
}

/* The config space src/vmm/virtio/virtio_blk.c serves (the backend's limits). */
static void answer_get_config(int q, struct vhost_user_msg *m)
{
    struct virtio_blk_config c = {.capacity = disk_size / VIRTIO_BLK_SECTOR,
                                  .size_max = 64u << 10,
                                  .seg_max = 62,
                                  .blk_size = VIRTIO_BLK_SECTOR,
                                  .num_queues = 1,
                                  .max_discard_sectors = 1u << 22,
                                  .max_discard_seg = 16,
                                  .discard_sector_alignment = 1,
                                  .max_write_zeroes_sectors = 1u << 22,
                                  .max_write_zeroes_seg = 16,
                                  .write_zeroes_may_unmap = 1};
    uint32_t off, len;
    memcpy(&off, m->payload.raw, 4);
    memcpy(&len, m->payload.raw + 4, 4);
    uint8_t *region = m->payload.raw + CONFIG_HDR;
    size_t room = sizeof(m->payload.raw) - CONFIG_HDR;
    if (len > room)
        len = (uint32_t)room;
    memset(region, 0, len);
    if (off < sizeof(c))
        memcpy(region, (uint8_t *)&c + off, len < sizeof(c) - off ? len : sizeof(c) - off);
    vhost_user_msg_make_reply(m);
    m->hdr.size = CONFIG_HDR + len;
    vhost_user_send(q, m);
}

/* One message from QEMU: answered here (GET_CONFIG, SET_CONFIG) or passed to the backend, and
 * the backend's reply, when there is one, passed back. -1 when either side is gone. */
static int relay_one(int q, int b)
{
    struct vhost_user_msg m, r;
    if (vhost_user_recv(q, &m, false) < 0)
        return -1;
    uint32_t req = m.hdr.request;
    bool need_reply = reply_ack && (m.hdr.flags & VHOST_USER_FLAG_NEED_REPLY);
    if (req == VHOST_USER_GET_CONFIG) {
        answer_get_config(q, &m);
        return 0;
    }
    if (req == VHOST_USER_SET_CONFIG) { /* a read-only config here: ignored, as the monitor does */
        if (need_reply) {
            vhost_user_msg_u64(&m, req, 0);
            vhost_user_msg_make_reply(&m);
            m.hdr.size = 8;
            vhost_user_send(q, &m);
        }
        return 0;
    }
    if (req == VHOST_USER_SET_PROTOCOL_FEATURES) {
        reply_ack = (m.payload.u64 >> VHOST_USER_PROTOCOL_F_REPLY_ACK) & 1;
        m.payload.u64 &= ~(1ull << VHOST_USER_PROTOCOL_F_CONFIG);
    }
    int rc = vhost_user_send(b, &m);
    vhost_user_msg_close_fds(&m);
    if (rc < 0)
        return -1;
    if (!vhost_user_request_has_reply(req) && !need_reply)
        return 0;
    if (vhost_user_recv(b, &r, true) < 0)
        return -1;
    if (req == VHOST_USER_GET_PROTOCOL_FEATURES)
        r.payload.u64 |= 1ull << VHOST_USER_PROTOCOL_F_CONFIG;
    rc = vhost_user_send(q, &r);
    vhost_user_msg_close_fds(&r);
    return rc < 0 ? -1 : 0;
}

static int connect_qemu(const char *path, double deadline)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    while (now_s() < deadline) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
            return s;
        if (s >= 0)
            close(s);
        usleep(20000);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *listen_path = NULL, *qemu_path = NULL;
    double timeout = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--listen"))
            listen_path = argv[i + 1];
        else if (!strcmp(argv[i], "--qemu"))
            qemu_path = argv[i + 1];
        else if (!strcmp(argv[i], "--size"))
            disk_size = strtoull(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--timeout"))
            timeout = atof(argv[i + 1]);
    }
    if (!listen_path || !qemu_path || disk_size < VIRTIO_BLK_SECTOR) {
        fprintf(stderr, "usage: vu_config_proxy --listen SOCK --qemu SOCK --size BYTES [--timeout SEC]\n");
        return 2;
    }
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", listen_path);
    unlink(listen_path);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) {
        perror("vu_config_proxy: --listen");
        return 1;
    }
    for (unsigned n = 1;; n++) {
        int b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (b < 0)
            continue;
        int q = connect_qemu(qemu_path, now_s() + timeout);
        if (q < 0) {
            fprintf(stderr, "vu_config_proxy: QEMU's socket refused connections for %.0f s: done\n", timeout);
            close(b);
            break;
        }
        fprintf(stderr, "vu_config_proxy: backend connection %u relayed to QEMU\n", n);
        vhost_user_set_timeout(b, 10000);
        reply_ack = false;
        for (;;) {
            struct pollfd p[2] = {{.fd = q, .events = POLLIN}, {.fd = b, .events = POLLIN}};
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[1].revents) { /* the backend sends nothing unasked: it went away */
                err_set(ECONNRESET, "the backend went away");
                break;
            }
            if (p[0].revents && relay_one(q, b) < 0)
                break;
        }
        logf_("connection ended");
        close(q);
        close(b);
    }
    unlink(listen_path);
    return 0;
}
