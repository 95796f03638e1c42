/* net-switch-bench: decisions per second of the network backend's switch and QoS library
 * (src/lib/eth.c, src/net/switch.c, qos.c) at native speed on synthetic frames: no guest, no
 * sockets, no copies; see bench/README.md ("bench/net: switch and QoS decisions").
 *
 *   net-switch-bench [-r REPEATS] [-t MS]
 *
 * Each case runs for about MS milliseconds of this thread's CPU time (default 300), REPEATS
 * times (default 5); it prints the median nanoseconds of CPU per decision and the decisions
 * per second of CPU that gives, and the spread (min..max of the repeats). CPU time, not wall
 * time, because the host is shared: a preempted run does not look slower.
 *
 * Then, on virtual time, what the QoS decides: a limit's achieved rate and a floor under
 * contention, against what is configured. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/eth.h"
#include "net/qos.h"
#include "net/switch.h"

#define DOMAINS 64
#define SEC 1000000000ull

/* Where results go so the compiler cannot drop the work that made them. */
static volatile uint64_t sink;

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "net-switch-bench: %s: %s\n", what, err_msg());
    exit(1);
}

/* --- frames --- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static void domain_mac(unsigned i, uint8_t mac[6])
{
    const uint8_t m[6] = {0x52, 0x54, 0x00, 0x10, (uint8_t)(i >> 8), (uint8_t)i};
    memcpy(mac, m, 6);
}

static uint32_t domain_ip(unsigned i)
{
    return 0x0a000000u | (i + 10);
}

static size_t udp4(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t sip, uint32_t dip, size_t payload)
{
    memset(f, 0, 42 + payload);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, NET_ETHERTYPE_IPV4);
    f[14] = 0x45;
    put16(f + 16, (uint16_t)(28 + payload));
    f[22] = 64;
    f[23] = NET_IPPROTO_UDP;
    put32(f + 26, sip);
    put32(f + 30, dip);
    put16(f + 34, 5000);
    put16(f + 36, 6000);
    put16(f + 38, (uint16_t)(8 + payload));
    return 42 + payload;
}

static size_t tcp4(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint32_t sip, uint32_t dip, size_t payload)
{
    memset(f, 0, 54 + payload);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, NET_ETHERTYPE_IPV4);
    f[14] = 0x45;
    put16(f + 16, (uint16_t)(40 + payload));
    f[22] = 64;
    f[23] = NET_IPPROTO_TCP;
    put32(f + 26, sip);
    put32(f + 30, dip);
    put16(f + 34, 40000);
    put16(f + 36, 80);
    f[46] = 5 << 4;
    f[47] = NET_TCP_ACK;
    return 54 + payload;
}

static size_t arp(uint8_t *f, const uint8_t *src, uint32_t spa, uint32_t tpa)
{
    memset(f, 0, 42);
    memset(f, 0xff, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, NET_ETHERTYPE_ARP);
    put16(f + 14, 1);
    put16(f + 16, NET_ETHERTYPE_IPV4);
    f[18] = 6;
    f[19] = 4;
    put16(f + 20, NET_ARP_REQUEST);
    memcpy(f + 22, src, 6);
    put32(f + 28, spa);
    put32(f + 38, tpa);
    return 42;
}

static size_t udp6(uint8_t *f, const uint8_t *dst, const uint8_t *src, const uint8_t *sip, size_t payload)
{
    memset(f, 0, 62 + payload);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, NET_ETHERTYPE_IPV6);
    f[14] = 0x60;
    put16(f + 18, (uint16_t)(8 + payload));
    f[20] = NET_IPPROTO_UDP;
    f[21] = 64;
    memcpy(f + 22, sip, 16);
    f[38] = 0x20;
    f[39] = 0x01;
    f[53] = 1;
    put16(f + 54, 5000);
    put16(f + 56, 6000);
    put16(f + 58, (uint16_t)(8 + payload));
    return 62 + payload;
}

/* --- timing --- */

struct result {
    double ns_per_op[16];
    int n;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, struct result *r)
{
    qsort(r->ns_per_op, (size_t)r->n, sizeof(double), cmp_double);
    double med = r->ns_per_op[r->n / 2];
    printf("%-44s %8.1f ns %10.2f M/s   (%.1f..%.1f ns)\n", name, med, 1e3 / med, r->ns_per_op[0],
           r->ns_per_op[r->n - 1]);
}

/* Runs op(ctx, i) in batches until about budget_ns of CPU has passed; ns per call. */
static double time_op(void (*op)(void *, uint64_t), void *ctx, uint64_t budget_ns)
{
    uint64_t start = cpu_ns(), calls = 0, now;
    do {
        for (int k = 0; k < 4096; k++, calls++)
            op(ctx, calls);
        now = cpu_ns();
    } while (now - start < budget_ns);
    return (double)(now - start) / (double)calls;
}

/* --- switch cases --- */

struct route_case {
    struct net_switch *sw;
    unsigned in_port[8];
    const uint8_t *frame[8];
    size_t len[8];
    unsigned count; /* frames cycled through */
    uint64_t sink;
};

static void op_route(void *ctx, uint64_t i)
{
    struct route_case *c = ctx;
    unsigned k = (unsigned)(i % c->count);
    struct net_route r;
    net_switch_route(c->sw, c->in_port[k], c->frame[k], c->len[k], SEC + i, &r);
    c->sink += r.ports.bits[0] + r.drop;
}

static void op_parse(void *ctx, uint64_t i)
{
    struct route_case *c = ctx;
    unsigned k = (unsigned)(i % c->count);
    struct net_frame f;
    net_eth_parse(c->frame[k], c->len[k], &f);
    c->sink += f.src_port + f.error;
}

/* --- QoS cases --- */

struct qos_case {
    struct net_qos *q;
    uint64_t now;
    unsigned ports;
    uint64_t sink;
};

/* A limited port: may it send, and charge it (the domain-to-domain path). Time moves by
 * 1 us a call, so the port is sometimes over its limit and asks for its ready time. */
static void op_may_send(void *ctx, uint64_t i)
{
    struct qos_case *c = ctx;
    unsigned p = (unsigned)(i % c->ports);
    c->now += 1000;
    if (net_qos_may_send(c->q, p, NET_QOS_OUTBOUND, c->now))
        net_qos_charge(c->q, p, NET_QOS_OUTBOUND, 1514, c->now);
    else
        c->sink += net_qos_ready_at(c->q, p, NET_QOS_OUTBOUND, c->now);
}

/* The uplink: pick the next port among all pending ones and charge its frame; on
 * -EAGAIN jump to the retry time (virtual time, so the uplink is always contended) and ask
 * again. One call is one frame sent, with the refusals it took to get there. */
static void op_uplink(void *ctx, uint64_t i)
{
    (void)i;
    struct qos_case *c = ctx;
    uint64_t retry;
    int p;
    while ((p = net_qos_uplink_next(c->q, c->now, &retry)) < 0)
        c->now = retry;
    net_qos_uplink_sent(c->q, (unsigned)p, 1514, c->now);
}

static struct net_switch *make_switch(unsigned *uplink)
{
    struct net_switch *sw;
    if (net_switch_create(NULL, &sw) < 0)
        die("switch");
    struct net_port_config up = {.kind = NET_PORT_UPLINK};
    if (net_switch_port_add(sw, &up, uplink) < 0)
        die("uplink");
    for (unsigned i = 0; i < DOMAINS; i++) {
        struct net_port_config c = {.kind = NET_PORT_DOMAIN, .has_ipv4 = true, .ipv4 = domain_ip(i), .ipv6_count = 1};
        domain_mac(i, c.mac);
        const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = (uint8_t)(i >> 8), (uint8_t)i};
        memcpy(c.ipv6[0], v6, 16);
        unsigned port;
        if (net_switch_port_add(sw, &c, &port) < 0)
            die("port");
    }
    return sw;
}

static struct net_qos *make_qos(unsigned ports, int with_floors)
{
    struct net_qos *q;
    if (net_qos_create(NET_SWITCH_MAX_PORTS, 1250000 /* 10 Gbit/s */, 0, &q) < 0)
        die("qos");
    for (unsigned p = 0; p < ports; p++) {
        struct net_qos_port_config c = {
            .weight = 1 + p % 8,
            .floor_kib = with_floors && p % 4 == 0 ? 10000 : 0,
            .outbound = {.average_kib = 100000 + 100 * p, .peak_kib = 200000, .burst_kib = 256}};
        if (net_qos_port_set(q, p, &c, 0) < 0)
            die("qos port");
        net_qos_uplink_pending(q, p, 1);
    }
    return q;
}

/* --- accuracy on virtual time --- */

static void accuracy(void)
{
    printf("\nQoS decisions on virtual time (what the library grants; the wire is bench/net's):\n");
    /* A limit: one greedy port, 1514-byte frames, measured over the 10 s after a 1 s warm-up. */
    const uint64_t rates[] = {1000, 12500, 125000}; /* KiB/s: ~8 Mbit/s, 100 Mbit/s, 1 Gbit/s */
    for (int i = 0; i < 3; i++) {
        struct net_qos *q;
        if (net_qos_create(4, 0, 0, &q) < 0)
            die("qos");
        struct net_qos_port_config c = {.outbound = {.average_kib = rates[i]}};
        net_qos_port_set(q, 0, &c, 0);
        uint64_t t = 0, bytes = 0;
        while (t < 11 * SEC) {
            if (net_qos_may_send(q, 0, NET_QOS_OUTBOUND, t)) {
                net_qos_charge(q, 0, NET_QOS_OUTBOUND, 1514, t);
                if (t >= SEC)
                    bytes += 1514;
            } else {
                t = net_qos_ready_at(q, 0, NET_QOS_OUTBOUND, t);
            }
        }
        double want = (double)rates[i] * 1024 * 10;
        printf("  limit %7llu KiB/s: achieved %10.1f KiB/s (%+.3f%%)\n", (unsigned long long)rates[i],
               bytes / 1024.0 / 10, (bytes - want) / want * 100);
        net_qos_destroy(q);
    }
    /* A floor of 40% of a 1 Gbit/s uplink against 7 ports of weight 1000. */
    struct net_qos *q;
    if (net_qos_create(8, 125000, 0, &q) < 0)
        die("qos");
    for (unsigned p = 0; p < 8; p++) {
        struct net_qos_port_config c = {.weight = p ? 1000 : 1, .floor_kib = p ? 0 : 50000};
        if (net_qos_port_set(q, p, &c, 0) < 0)
            die("qos port");
        net_qos_uplink_pending(q, p, 1);
    }
    uint64_t t = 0, sent[8] = {0};
    while (t < 11 * SEC) {
        uint64_t retry;
        int p = net_qos_uplink_next(q, t, &retry);
        if (p < 0) {
            t = retry;
            continue;
        }
        net_qos_uplink_sent(q, (unsigned)p, p ? 65536 : 1514, t);
        if (t >= SEC)
            sent[p] += p ? 65536 : 1514;
    }
    uint64_t others = 0;
    for (int p = 1; p < 8; p++)
        others += sent[p];
    printf("  floor 50000 KiB/s of 125000, weight 1 vs 7 x weight 1000: achieved %.1f KiB/s (%+.3f%%), "
           "the others %.1f KiB/s\n",
           sent[0] / 1024.0 / 10, (sent[0] / 1024.0 / 10 - 50000) / 50000 * 100, others / 1024.0 / 10);
    net_qos_destroy(q);
}

int main(int argc, char **argv)
{
    int repeats = 5;
    uint64_t budget = 300 * 1000000ull;
    int opt;
    while ((opt = getopt(argc, argv, "r:t:")) != -1) {
        if (opt == 'r')
            repeats = atoi(optarg);
        else if (opt == 't')
            budget = strtoull(optarg, NULL, 10) * 1000000ull;
        else {
            fprintf(stderr, "usage: net-switch-bench [-r REPEATS] [-t MS]\n");
            return 1;
        }
    }
    if (repeats < 1 || repeats > 16 || budget == 0) {
        fprintf(stderr, "net-switch-bench: -r 1..16, -t > 0\n");
        return 1;
    }

    static uint8_t frames[8][2048];
    uint8_t a[6], b[6], x[6] = {0x02, 0, 0, 0, 0, 0x99}, bcast[6];
    memset(bcast, 0xff, 6);
    domain_mac(0, a);
    domain_mac(1, b);
    const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0};

    unsigned uplink;
    struct net_switch *sw = make_switch(&uplink);
    /* Learn every domain and the outside host, as traffic would. */
    for (unsigned i = 0; i < DOMAINS; i++) {
        uint8_t m[6];
        domain_mac(i, m);
        size_t n = arp(frames[0], m, domain_ip(i), 0x0a000001);
        struct net_route r;
        net_switch_route(sw, i + 1, frames[0], n, SEC, &r);
    }
    {
        size_t n = udp4(frames[0], a, x, 0x0a000001, domain_ip(0), 0);
        struct net_route r;
        net_switch_route(sw, uplink, frames[0], n, SEC, &r);
    }

    struct route_case cases[] = {
        {.count = 1}, {.count = 1}, {.count = 1}, {.count = 1}, {.count = 1}, {.count = 1}, {.count = 1},
    };
    const char *names[] = {
        "route: UDP/IPv4 domain -> domain (64 B)",   "route: TCP/IPv4 domain -> uplink (1514 B)",
        "route: TCP/IPv4 uplink -> domain (1514 B)", "route: ARP broadcast (to 64 ports)",
        "route: UDP/IPv6 domain -> domain",          "route: spoofed IPv4 source (dropped)",
        "route: truncated IPv4 (dropped)",
    };
    size_t n;
    n = udp4(frames[0], b, a, domain_ip(0), domain_ip(1), 22);
    cases[0] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[0]}, .len = {n}, .count = 1};
    n = tcp4(frames[1], x, a, domain_ip(0), 0x08080808, 1460);
    cases[1] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[1]}, .len = {n}, .count = 1};
    n = tcp4(frames[2], a, x, 0x08080808, domain_ip(0), 1460);
    cases[2] = (struct route_case){.sw = sw, .in_port = {uplink}, .frame = {frames[2]}, .len = {n}, .count = 1};
    n = arp(frames[3], a, domain_ip(0), domain_ip(1));
    cases[3] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[3]}, .len = {n}, .count = 1};
    n = udp6(frames[4], b, a, v6a, 100);
    cases[4] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[4]}, .len = {n}, .count = 1};
    n = udp4(frames[5], b, a, domain_ip(7), domain_ip(1), 22);
    cases[5] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[5]}, .len = {n}, .count = 1};
    n = udp4(frames[6], b, a, domain_ip(0), domain_ip(1), 22);
    cases[6] = (struct route_case){.sw = sw, .in_port = {1}, .frame = {frames[6]}, .len = {30}, .count = 1};

    printf("net-switch-bench: median CPU time per decision over %d runs of %llu ms (min..max)\n\n", repeats,
           (unsigned long long)(budget / 1000000));
    struct route_case parse = cases[1];
    struct result r = {.n = repeats};
    for (int k = 0; k < repeats; k++)
        r.ns_per_op[k] = time_op(op_parse, &parse, budget);
    report("parse: TCP/IPv4 headers", &r);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        r.n = repeats;
        for (int k = 0; k < repeats; k++)
            r.ns_per_op[k] = time_op(op_route, &cases[c], budget);
        report(names[c], &r);
    }

    struct {
        const char *name;
        void (*op)(void *, uint64_t);
        unsigned ports;
        int floors;
    } qcases[] = {
        {"qos: may_send + charge (limited port)", op_may_send, 64, 0},
        {"qos: uplink frame, 4 ports pending", op_uplink, 4, 0},
        {"qos: uplink frame, 64 ports pending", op_uplink, 64, 0},
        {"qos: uplink frame, 64 pending, 16 floors", op_uplink, 64, 1},
        {"qos: uplink frame, 256 pending, 64 floors", op_uplink, 256, 1},
    };
    for (size_t c = 0; c < sizeof(qcases) / sizeof(qcases[0]); c++) {
        struct qos_case qc = {.q = make_qos(qcases[c].ports, qcases[c].floors), .ports = qcases[c].ports};
        r.n = repeats;
        for (int k = 0; k < repeats; k++)
            r.ns_per_op[k] = time_op(qcases[c].op, &qc, budget);
        report(qcases[c].name, &r);
        net_qos_destroy(qc.q);
    }
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        sink += cases[c].sink;
    net_switch_destroy(sw);
    accuracy();
    return 0;
}
