/* vhost_driver: a vhost-user FRONT END at native speed, standing in for monitors and their
 * guests in the tests and the benchmark of xeno-netback (docs/netback.md). Each --port is one
 * "domain": a listening socket the backend connects to, its own memfd guest memory, a receive
 * and a transmit split ring of 1024 entries and kick/call eventfds. Like a monitor, it keeps
 * the inflight fd the backend gave it and, whenever the backend connects again, sets the
 * device up anew from guest memory (SET_VRING_BASE = the used index the rings show), so a
 * restarted backend resumes where the old one stopped. The rings themselves are never reset:
 * that is the "guest never resets its device" of the restart test.
 *
 * usage: vhost_driver --port SOCK,MAC,IP [--port ...] --send FROM,TO,COUNT [--send ...]
 *                     [--size BYTES] [--window N] [--duration SEC] [--timeout SEC]
 *                     [--uplink-mac MAC] [--uplink-ip IP] [--udp-port N] [--ready FILE]
 *
 * --send FROM,TO,COUNT: port FROM sends COUNT numbered UDP frames to port TO (indices in
 *   --port order), to the uplink when TO is "uplink" (to --uplink-mac/--uplink-ip), or to
 *   the broadcast address when TO is "bcast" (every other port checks every frame);
 *   COUNT 0 with --duration: as many as possible for that long. Port TO checks every frame:
 *   each sequence number exactly once and in order.
 * --spoof mac|ip: the --send before it uses a source MAC / IPv4 address that is not its
 *   port's (anti-spoofing tests: nothing may arrive).
 * --break-tx PORT: once set up, port PORT posts one transmit buffer that runs past the end
 *   of its guest memory (the backend must stop that ring only, and count it).
 * --stop-file FILE: once FILE exists, send nothing more, wait for everything sent to arrive
 *   and report (COUNT 0: send until then).
 * --window N: frames of one flow in flight at most (sent, not yet received): keeps the
 *   receiver's ring from running dry, so that a loss is a bug, not a full ring (default 512).
 * Output: one line per flow, `flow F->T sent=.. received=.. duplicates=.. reordered=..
 *   missing=.. frames_per_s=.. bytes_per_s=..`, then `connections p0=.. p1=..`, and
 *   `result ok` or `result FAIL reason`. Exit 0 only with result ok. */
#include "lib/err.h"
#include "proto/vhost_user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 1024u
#define BUF_SIZE 2048u
#define MEM_SIZE (8u << 20)
#define MAX_PORTS 8
#define MAX_FLOWS 8
#define HDR 12u

/* Guest-physical layout of each port's memory. */
#define RXQ_DESC 0x00000u
#define RXQ_AVAIL 0x04000u
#define RXQ_USED 0x06000u
#define TXQ_DESC 0x10000u
#define TXQ_AVAIL 0x14000u
#define TXQ_USED 0x16000u
#define RX_BUFS 0x20000u
#define TX_BUFS (RX_BUFS + QSIZE * BUF_SIZE)

#define FRAME_MAGIC 0x584e4246u /* "XNBF" */

struct ring {
    struct vu_desc *desc;
    struct vu_avail *avail;
    struct vu_used *used;
    uint16_t avail_idx;
    uint16_t last_used;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    int kick, call;
};

struct port {
    char sock_path[108];
    uint8_t mac[6];
    uint32_t ip;
    int listen_fd, conn;
    int memfd;
    uint8_t *mem;
    struct ring rx, tx;
    int inflight_fd;
    struct vhost_user_inflight inflight;
    uint16_t tx_free[QSIZE];
    unsigned tx_nfree;
    unsigned connections;
    bool ready; /* set up on the current connection */
    uint16_t rx_used_seen_at_connect[64];
};

struct flow {
    int from, to; /* to = -1: the uplink; -2: broadcast (every other port receives) */
    int spoof;    /* 0; 'm': another source MAC; 'i': another source IPv4 address */
    uint64_t count;
    uint64_t sent, completed, received, dups, reordered, missing, bytes_done;
    uint64_t rx_count[MAX_PORTS], rx_expect[MAX_PORTS]; /* per receiving port */
};

static struct port ports[MAX_PORTS];
static unsigned nports;
static struct flow flows[MAX_FLOWS];
static unsigned nflows;
static unsigned frame_size = 128, window = 512;
static double duration_s;
static double timeout_s = 120;
static uint8_t uplink_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
static uint32_t uplink_ip = 0x0a000063;
static unsigned udp_port = 9999;
static uint64_t device_resets; /* must stay 0 */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    printf("result FAIL %s\n", what);
    fflush(stdout);
    exit(1);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static void ring_init(struct port *p, struct ring *r, uint32_t desc, uint32_t avail, uint32_t used)
{
    r->desc = (void *)(p->mem + desc);
    r->avail = (void *)(p->mem + avail);
    r->used = (void *)(p->mem + used);
    r->desc_gpa = desc;
    r->avail_gpa = avail;
    r->used_gpa = used;
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->kick < 0 || r->call < 0)
        die("eventfd");
}

static void port_init(struct port *p)
{
    /* Sealed against shrinking, as the monitor's guest RAM: the backend maps nothing else. */
    p->memfd = memfd_create("vhost-driver-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (p->memfd < 0 || ftruncate(p->memfd, MEM_SIZE) < 0 || fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
        die("memfd");
    p->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
    if (p->mem == MAP_FAILED)
        die("mmap");
    ring_init(p, &p->rx, RXQ_DESC, RXQ_AVAIL, RXQ_USED);
    ring_init(p, &p->tx, TXQ_DESC, TXQ_AVAIL, TXQ_USED);
    /* Every receive buffer is posted once, at start, and again after each use. */
    for (unsigned i = 0; i < QSIZE; i++) {
        p->rx.desc[i] = (struct vu_desc){.addr = RX_BUFS + i * BUF_SIZE, .len = BUF_SIZE, .flags = VU_DESC_F_WRITE};
        p->rx.avail->ring[i] = (uint16_t)i;
    }
    p->rx.avail_idx = QSIZE;
    __atomic_store_n(&p->rx.avail->idx, p->rx.avail_idx, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < QSIZE; i++)
        p->tx_free[i] = (uint16_t)(QSIZE - 1 - i);
    p->tx_nfree = QSIZE;
    p->inflight_fd = -1;
    p->conn = -1;
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", p->sock_path);
    unlink(p->sock_path);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(p->listen_fd, 4) < 0)
        die("listen on a port socket");
}

/* ---- the front end's half of vhost-user ---- */

static int call_ack(int s, struct vhost_user_msg *m)
{
    m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    return vhost_user_call(s, m, m);
}

static int vring_setup(struct port *p, int s, unsigned q, struct ring *r)
{
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, q, QSIZE);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
    m.payload.addr = (struct vhost_user_vring_addr){.index = q,
                                                    .desc_user_addr = (uint64_t)(uintptr_t)r->desc,
                                                    .used_user_addr = (uint64_t)(uintptr_t)r->used,
                                                    .avail_user_addr = (uint64_t)(uintptr_t)r->avail};
    m.hdr.size = sizeof(m.payload.addr);
    if (call_ack(s, &m) < 0)
        return -1;
    /* Where the backend resumes: what the used ring shows (a dead backend cannot be asked). */
    uint16_t base = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, q, base);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_CALL, q);
    m.fds[0] = r->call;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_KICK, q);
    m.fds[0] = r->kick;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_ENABLE, q, 1);
    if (call_ack(s, &m) < 0)
        return -1;
    (void)p;
    return 0;
}

static int device_setup(struct port *p, int s)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    uint64_t want = (1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES);
    if ((m.payload.u64 & want) != want)
        return err_set(EPROTO, "backend features 0x%llx lack VERSION_1/PROTOCOL_FEATURES",
                       (unsigned long long)m.payload.u64);
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, want);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_GET_PROTOCOL_FEATURES, 0);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    uint64_t pf = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
    if ((m.payload.u64 & pf) != pf)
        return err_set(EPROTO, "backend lacks REPLY_ACK or INFLIGHT_SHMFD");
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_OWNER, 0);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] = (struct vhost_user_mem_region){
        .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)p->mem, .mmap_offset = 0};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = p->memfd;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    if (p->inflight_fd < 0) {
        vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
        m.payload.inflight = (struct vhost_user_inflight){.num_queues = 2, .queue_size = QSIZE};
        m.hdr.size = sizeof(m.payload.inflight);
        if (vhost_user_call(s, &m, &m) < 0)
            return -1;
        p->inflight_fd = m.fds[0];
        p->inflight = m.payload.inflight;
    } else {
        vhost_user_msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, 0);
        m.payload.inflight = p->inflight;
        m.hdr.size = sizeof(m.payload.inflight);
        m.fds[0] = p->inflight_fd;
        m.nfds = 1;
        if (call_ack(s, &m) < 0)
            return -1;
    }
    if (vring_setup(p, s, VHOST_USER_NET_RXQ, &p->rx) < 0 || vring_setup(p, s, VHOST_USER_NET_TXQ, &p->tx) < 0)
        return -1;
    return 0;
}

static void port_accept(struct port *p)
{
    int s = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        return;
    if (p->conn >= 0)
        close(p->conn);
    p->conn = s;
    p->ready = false;
    vhost_user_set_timeout(s, 5000);
    if (device_setup(p, s) < 0) {
        fprintf(stderr, "vhost_driver: %s: setting up the device: %s\n", p->sock_path, err_msg());
        close(s);
        p->conn = -1;
        return;
    }
    p->connections++;
    p->ready = true;
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
}

/* ---- frames ---- */

static uint16_t ip_checksum(const uint8_t *h, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 + UDP + {magic, flow, seq}, padded to frame_size. */
static size_t build_frame(uint8_t *f, const struct port *src, const uint8_t *dmac, uint32_t dip, unsigned flow,
                          uint64_t seq, int spoof)
{
    size_t len = frame_size < 60 ? 60 : frame_size;
    if (len > BUF_SIZE - HDR)
        len = BUF_SIZE - HDR;
    memset(f, 0, len);
    memcpy(f, dmac, 6);
    memcpy(f + 6, src->mac, 6);
    if (spoof == 'm')
        f[11] ^= 0x40;
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14;
    size_t ip_len = len - 14;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(ip_len >> 8);
    ip[3] = (uint8_t)ip_len;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 17;
    uint32_t s = htonl(spoof == 'i' ? src->ip + 77 : src->ip), d = htonl(dip);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    uint16_t c = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    size_t udp_len = ip_len - 20;
    udp[0] = (uint8_t)(udp_port >> 8);
    udp[1] = (uint8_t)udp_port;
    udp[2] = (uint8_t)(udp_port >> 8);
    udp[3] = (uint8_t)udp_port;
    udp[4] = (uint8_t)(udp_len >> 8);
    udp[5] = (uint8_t)udp_len;
    uint32_t magic = FRAME_MAGIC, fl = flow;
    memcpy(udp + 8, &magic, 4);
    memcpy(udp + 12, &fl, 4);
    memcpy(udp + 16, &seq, 8);
    return len;
}

static bool tx_one(struct flow *fl, unsigned flow_idx)
{
    struct port *p = &ports[fl->from];
    if (!p->tx_nfree)
        return false;
    uint16_t d = p->tx_free[--p->tx_nfree];
    uint8_t *buf = p->mem + TX_BUFS + d * BUF_SIZE;
    memset(buf, 0, HDR);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t *dmac = fl->to == -2 ? bcast : fl->to < 0 ? uplink_mac : ports[fl->to].mac;
    uint32_t dip = fl->to == -2 ? (p->ip | 0xff) : fl->to < 0 ? uplink_ip : ports[fl->to].ip;
    size_t len = build_frame(buf + HDR, p, dmac, dip, flow_idx, fl->sent, fl->spoof);
    p->tx.desc[d] = (struct vu_desc){.addr = TX_BUFS + d * BUF_SIZE, .len = (uint32_t)(HDR + len)};
    p->tx.avail->ring[p->tx.avail_idx % QSIZE] = d;
    p->tx.avail_idx++;
    __atomic_store_n(&p->tx.avail->idx, p->tx.avail_idx, __ATOMIC_RELEASE);
    fl->sent++;
    return true;
}

static void kick(struct ring *r)
{
    uint64_t one = 1;
    if (write(r->kick, &one, sizeof(one)) < 0) {
    }
}

/* Reclaims the sender's completed descriptors. */
static void tx_reap(struct port *p, unsigned pi)
{
    uint16_t used = __atomic_load_n(&p->tx.used->idx, __ATOMIC_ACQUIRE);
    while (p->tx.last_used != used) {
        struct vu_used_elem e = p->tx.used->ring[p->tx.last_used % QSIZE];
        p->tx.last_used++;
        if (e.id >= QSIZE)
            die("backend returned a TX descriptor id out of range");
        /* Frame bytes done, for uplink flows (nothing receives them here). */
        const uint8_t *f = p->mem + TX_BUFS + e.id * BUF_SIZE + HDR;
        uint32_t fl;
        memcpy(&fl, f + 14 + 20 + 12, 4);
        if (fl < nflows && flows[fl].from == (int)pi) {
            flows[fl].completed++;
            if (flows[fl].to == -1)
                flows[fl].bytes_done += p->tx.desc[e.id].len - HDR;
        }
        p->tx_free[p->tx_nfree++] = (uint16_t)e.id;
        if (p->tx_nfree > QSIZE)
            die("backend completed a TX descriptor twice");
    }
}

static bool flow_receives(const struct flow *f, unsigned pi)
{
    return f->to == (int)pi || (f->to == -2 && f->from != (int)pi);
}

/* Frames every receiver of the flow has (the least of them, for a broadcast). */
static uint64_t flow_min_received(const struct flow *f)
{
    uint64_t m = UINT64_MAX;
    for (unsigned i = 0; i < nports; i++)
        if (flow_receives(f, i) && f->rx_count[i] < m)
            m = f->rx_count[i];
    return m == UINT64_MAX ? 0 : m;
}

/* Checks and re-posts what the backend delivered. */
static void rx_reap(struct port *p, unsigned pi)
{
    uint16_t used = __atomic_load_n(&p->rx.used->idx, __ATOMIC_ACQUIRE);
    bool posted = false;
    while (p->rx.last_used != used) {
        struct vu_used_elem e = p->rx.used->ring[p->rx.last_used % QSIZE];
        p->rx.last_used++;
        if (e.id >= QSIZE || e.len < HDR + 14 + 20 + 8 + 16 || e.len > BUF_SIZE)
            die("backend returned a bad RX used entry");
        const uint8_t *f = p->mem + RX_BUFS + e.id * BUF_SIZE + HDR;
        uint32_t magic, fl;
        uint64_t seq;
        memcpy(&magic, f + 14 + 20 + 8, 4);
        memcpy(&fl, f + 14 + 20 + 12, 4);
        memcpy(&seq, f + 14 + 20 + 16, 8);
        if (magic == FRAME_MAGIC && fl < nflows && flow_receives(&flows[fl], pi)) {
            struct flow *w = &flows[fl];
            w->rx_count[pi]++;
            w->received = flow_min_received(w);
            w->bytes_done += e.len - HDR;
            if (seq == w->rx_expect[pi])
                w->rx_expect[pi]++;
            else if (seq < w->rx_expect[pi])
                w->dups++;
            else {
                w->reordered++;
                w->missing += seq - w->rx_expect[pi];
                w->rx_expect[pi] = seq + 1;
            }
        }
        p->rx.avail->ring[p->rx.avail_idx % QSIZE] = (uint16_t)e.id;
        p->rx.avail_idx++;
        posted = true;
    }
    if (posted) {
        __atomic_store_n(&p->rx.avail->idx, p->rx.avail_idx, __ATOMIC_RELEASE);
        kick(&p->rx);
    }
}

static const char *stop_file;
static int break_tx = -1; /* --break-tx PORT: that port's guest posts a buffer outside its memory */
static bool stopping;

static bool flow_done(const struct flow *f, double t, double start)
{
    if (stopping)
        return f->to == -1 ? f->completed >= f->sent : f->received >= f->sent;
    if (duration_s > 0)
        return t - start >= duration_s;
    if (f->count == 0)
        return false; /* until --stop-file */
    if (f->to == -1)
        return f->completed >= f->count;
    return f->received >= f->count;
}

int main(int argc, char **argv)
{
    const char *ready_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("usage (see the comment at the top of tests/tools/vhost_driver.c)");
        i++;
        if (!strcmp(a, "--port")) {
            if (nports == MAX_PORTS)
                die("too many ports");
            struct port *p = &ports[nports++];
            char path[108], mac[32], ip[32];
            if (sscanf(v, "%107[^,],%31[^,],%31s", path, mac, ip) != 3 || parse_mac(mac, p->mac) < 0 ||
                inet_pton(AF_INET, ip, &p->ip) != 1)
                die("--port SOCK,MAC,IP");
            p->ip = ntohl(p->ip);
            snprintf(p->sock_path, sizeof(p->sock_path), "%s", path);
        } else if (!strcmp(a, "--send")) {
            struct flow *f = &flows[nflows];
            char to[16];
            if (nflows == MAX_FLOWS || sscanf(v, "%d,%15[^,],%" SCNu64, &f->from, to, &f->count) != 3)
                die("--send FROM,TO,COUNT");
            f->to = !strcmp(to, "uplink") ? -1 : !strcmp(to, "bcast") ? -2 : atoi(to);
            nflows++;
        } else if (!strcmp(a, "--spoof")) {
            /* --spoof mac|ip: the flow given last sends with a source that is not its port's */
            if (!nflows || (strcmp(v, "mac") && strcmp(v, "ip")))
                die("--spoof mac|ip after a --send");
            flows[nflows - 1].spoof = v[0] == 'm' ? 'm' : 'i';
        } else if (!strcmp(a, "--size")) {
            frame_size = (unsigned)atoi(v);
        } else if (!strcmp(a, "--window")) {
            window = (unsigned)atoi(v);
        } else if (!strcmp(a, "--duration")) {
            duration_s = atof(v);
        } else if (!strcmp(a, "--timeout")) {
            timeout_s = atof(v);
        } else if (!strcmp(a, "--uplink-mac")) {
            if (parse_mac(v, uplink_mac) < 0)
                die("--uplink-mac");
        } else if (!strcmp(a, "--uplink-ip")) {
            if (inet_pton(AF_INET, v, &uplink_ip) != 1)
                die("--uplink-ip");
            uplink_ip = ntohl(uplink_ip);
        } else if (!strcmp(a, "--udp-port")) {
            udp_port = (unsigned)atoi(v);
        } else if (!strcmp(a, "--break-tx")) {
            break_tx = atoi(v);
        } else if (!strcmp(a, "--stop-file")) {
            stop_file = v;
        } else if (!strcmp(a, "--ready")) {
            ready_file = v;
        } else {
            die("unknown option");
        }
    }
    for (unsigned i = 0; i < nflows; i++)
        if (flows[i].from < 0 || (unsigned)flows[i].from >= nports || flows[i].to >= (int)nports)
            die("--send names a port that does not exist");
    for (unsigned i = 0; i < nflows; i++)
        if (flows[i].to == flows[i].from)
            die("--send from a port to itself");
    for (unsigned i = 0; i < nports; i++)
        port_init(&ports[i]);
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f)
            fclose(f);
    }

    double start = 0, t0 = now_s();
    bool started = false;
    struct pollfd pfd[MAX_PORTS * 4];
    for (;;) {
        double t = now_s();
        if (t - t0 > timeout_s)
            break;
        bool all_ready = true;
        for (unsigned i = 0; i < nports; i++)
            all_ready &= ports[i].ready;
        if (all_ready && !started) {
            started = true;
            start = t;
            if (break_tx >= 0 && (unsigned)break_tx < nports) {
                /* A guest bug (or attack): a transmit buffer beyond the end of guest memory. */
                struct port *p = &ports[break_tx];
                uint16_t d = p->tx_free[--p->tx_nfree];
                p->tx.desc[d] = (struct vu_desc){.addr = MEM_SIZE - 16, .len = 4096};
                p->tx.avail->ring[p->tx.avail_idx % QSIZE] = d;
                p->tx.avail_idx++;
                __atomic_store_n(&p->tx.avail->idx, p->tx.avail_idx, __ATOMIC_RELEASE);
                kick(&p->tx);
            }
        }
        if (stop_file && !stopping && access(stop_file, F_OK) == 0)
            stopping = true;
        bool done = started;
        for (unsigned i = 0; i < nflows && started; i++)
            done &= flow_done(&flows[i], t, start);
        if (done && nflows)
            break;
        /* Send what the windows allow (only while the sender is connected: a frame posted
         * while the backend is down is fine too, but keeps the test's pace honest). */
        if (started && !stopping && !(duration_s > 0 && t - start >= duration_s)) {
            for (unsigned i = 0; i < nflows; i++) {
                struct flow *f = &flows[i];
                struct port *p = &ports[f->from];
                bool any = false;
                while ((f->count == 0 || f->sent < f->count) &&
                       (f->to == -1 ? f->sent - f->completed < QSIZE : f->sent - f->received < window)) {
                    if (!tx_one(f, i))
                        break;
                    any = true;
                }
                if (any)
                    kick(&p->tx);
            }
        }
        unsigned n = 0;
        for (unsigned i = 0; i < nports; i++) {
            struct port *p = &ports[i];
            pfd[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = p->conn, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = p->rx.call, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = p->tx.call, .events = POLLIN};
        }
        poll(pfd, n, 5);
        for (unsigned i = 0; i < nports; i++) {
            struct port *p = &ports[i];
            if (pfd[i * 4].revents & POLLIN)
                port_accept(p);
            if (p->conn >= 0 && pfd[i * 4 + 1].revents) {
                char c;
                ssize_t r = recv(p->conn, &c, 1, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    close(p->conn); /* the backend went away; it will connect again */
                    p->conn = -1;
                } else if (r > 0) {
                    fprintf(stderr, "vhost_driver: unexpected message from the backend\n");
                }
            }
            uint64_t v;
            if (read(p->rx.call, &v, sizeof(v)) < 0) {
            }
            if (read(p->tx.call, &v, sizeof(v)) < 0) {
            }
            rx_reap(p, i);
            tx_reap(p, i);
        }
    }
    double el = now_s() - start;
    if (el <= 0)
        el = 1e-9;
    bool ok = started;
    const char *why = started ? "" : "the backend never set every port up";
    for (unsigned i = 0; i < nflows; i++) {
        struct flow *f = &flows[i];
        uint64_t frames = f->to == -1 ? f->completed : f->received;
        char to[16];
        if (f->to == -2)
            snprintf(to, sizeof(to), "bcast");
        else if (f->to < 0)
            snprintf(to, sizeof(to), "uplink");
        else
            snprintf(to, sizeof(to), "%d", f->to);
        printf("flow %d->%s sent=%" PRIu64 " received=%" PRIu64 " duplicates=%" PRIu64 " reordered=%" PRIu64
               " missing=%" PRIu64 " seconds=%.3f frames_per_s=%.0f bytes_per_s=%.0f\n",
               f->from, to, f->sent, frames, f->dups, f->reordered, f->missing, el, (double)frames / el,
               (double)f->bytes_done / el);
        if (f->dups || f->reordered || f->missing) {
            ok = false;
            why = "a frame arrived twice, out of order or not at all";
        }
        if (duration_s <= 0 && (stopping ? frames < f->sent : frames < f->count)) {
            ok = false;
            why = "timed out before every frame arrived";
        }
    }
    printf("connections");
    for (unsigned i = 0; i < nports; i++)
        printf(" p%u=%u", i, ports[i].connections);
    printf(" device_resets=%" PRIu64 "\n", device_resets);
    for (unsigned i = 0; i < nports; i++)
        unlink(ports[i].sock_path);
    if (!ok)
        die(why);
    printf("result ok\n");
    return 0;
}
