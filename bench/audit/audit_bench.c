/* audit-bench: the audit engine's full pipeline (parse, flow table, rules, ACK symmetry, scan
 * and SYN flood detectors, flow log with zstd and seals) on one core, driven by a synthetic
 * trace generated in memory at native speed: packets/s, flows/s and bytes per flow on disk.
 * See bench/README.md. With --pcap it also writes the same trace as a pcap (headers only,
 * original lengths kept) for nfpcapd and softflowd to process (bench/audit/run.sh).
 *
 *   audit-bench [--packets N] [--runs R] [--dir DIR] [--pcap FILE] [--rules FILE]
 *   audit-bench --attack N     (only the attack of issue 14 item 6, N flows: see attack())
 *
 * The trace: 64 domains of 16 sponsors; of the flows, 55% short TCP (web: handshake, request,
 * ~10 response segments with an ACK every second, FIN both ways), 8% bulk TCP (~200
 * segments), 30% DNS over UDP, 5% ICMP echo, 2% refused TCP (SYN, RST); remote addresses
 * skewed over 100 000 hosts; 4096 flows active at once, packets interleaved at random among
 * them; simulated time runs at 1 M packets/s (it only sets what times out when). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "lib/err.h"
#include "lib/eth.h"

#define S 1000000000ull
#define T0 (1764144000ull * S)
#define SIM_PPS 1000000ull
#define ACTIVE 4096
#define NPORTS 64

struct tflow {
    uint8_t hdr[2][54]; /* [0] sent by the domain, [1] received */
    uint8_t hlen;
    uint8_t proto;
    uint16_t port;
};

struct tpkt {
    uint32_t flow;
    uint16_t len;
    uint8_t dir;
    uint8_t flags;
};

static struct tflow *flows;
static uint32_t nflows, cap_flows;
static struct tpkt *pkts, *raw;
static uint64_t npkts, cap_raw, nraw;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unif(void)
{
    return (next_rand() >> 11) * (1.0 / 9007199254740992.0);
}

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

static void make_hdr(uint8_t *h, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, bool out)
{
    static const uint8_t g[6] = {0x52, 0x54, 0, 0, 0, 2}, r[6] = {0x52, 0x54, 0, 0, 0, 0xfe};
    memcpy(h, out ? r : g, 6);
    memcpy(h + 6, out ? g : r, 6);
    put16(h + 12, 0x0800);
    uint8_t *ip = h + 14;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    uint8_t *l4 = ip + 20;
    if (proto == 1) {
        l4[0] = out ? 8 : 0;
    } else {
        put16(l4, sp);
        put16(l4 + 2, dp);
        if (proto == 6)
            l4[12] = 5 << 4;
    }
}

static void add(uint32_t f, int dir, uint8_t flags, unsigned payload)
{
    if (nraw == cap_raw) {
        cap_raw = cap_raw ? cap_raw * 2 : 1 << 20;
        raw = realloc(raw, cap_raw * sizeof(*raw));
        if (!raw)
            abort();
    }
    raw[nraw++] = (struct tpkt){f, (uint16_t)(flows[f].hlen + payload), (uint8_t)dir, flags};
}

static uint32_t remote_addr(void)
{
    double u = unif();
    return 0xc6000000u + (uint32_t)(100000 * u * u * u); /* skewed: a few hosts get most */
}

/* One flow's packets, in order, appended to raw[]. */
static void gen_flow(uint32_t f)
{
    struct tflow *t = &flows[f];
    t->port = (uint16_t)(next_rand() % NPORTS);
    uint32_t local = 0x0a000000u + t->port + 2;
    static uint16_t eph[NPORTS];
    uint16_t sp = (uint16_t)(32768 + (eph[t->port]++ % 28000));
    double u = unif();
    uint16_t ack = 0x10;
    if (u < 0.30) { /* DNS */
        t->proto = 17;
        t->hlen = 42;
        uint32_t res = 0x08080808 + (uint32_t)(next_rand() % 2);
        make_hdr(t->hdr[0], 17, local, res, sp, 53, true);
        make_hdr(t->hdr[1], 17, res, local, 53, sp, false);
        add(f, 0, 0, 20 + (unsigned)(next_rand() % 40));
        add(f, 1, 0, 60 + (unsigned)(next_rand() % 200));
        return;
    }
    if (u < 0.35) { /* ICMP echo */
        t->proto = 1;
        t->hlen = 42;
        uint32_t rem = remote_addr();
        make_hdr(t->hdr[0], 1, local, rem, 0, 0, true);
        make_hdr(t->hdr[1], 1, rem, local, 0, 0, false);
        unsigned n = 1 + (unsigned)(next_rand() % 4);
        for (unsigned i = 0; i < n; i++) {
            add(f, 0, 0, 56);
            add(f, 1, 0, 56);
        }
        return;
    }
    t->proto = 6;
    t->hlen = 54;
    uint32_t rem = remote_addr();
    uint16_t dp = u < 0.37 ? (uint16_t)(1 + next_rand() % 1024) : (next_rand() % 5 ? 443 : 80);
    make_hdr(t->hdr[0], 6, local, rem, sp, dp, true);
    make_hdr(t->hdr[1], 6, rem, local, dp, sp, false);
    add(f, 0, 0x02, 0);
    if (u < 0.37) { /* refused */
        add(f, 1, 0x14, 0);
        return;
    }
    add(f, 1, 0x12, 0);
    add(f, 0, ack, 0);
    add(f, 0, 0x18, 200 + (unsigned)(next_rand() % 600));
    unsigned segs = u < 0.45 ? 100 + (unsigned)(next_rand() % 200) : 1 + (unsigned)(next_rand() % 20);
    for (unsigned i = 0; i < segs; i++) {
        add(f, 1, ack, i + 1 < segs ? 1460 : 1 + (unsigned)(next_rand() % 1460));
        if (i % 2 == 1 || i + 1 == segs)
            add(f, 0, ack, 0);
    }
    add(f, 0, 0x11, 0);
    add(f, 1, 0x11, 0);
    add(f, 0, ack, 0);
}

static void gen_trace(uint64_t want)
{
    /* Each flow's packets first, then interleaved: ACTIVE flows at a time, a random one of
     * them sends its next packet. */
    cap_flows = 1024;
    flows = malloc(cap_flows * sizeof(*flows));
    uint64_t *start = NULL;
    while (nraw < want) {
        if (nflows == cap_flows) {
            cap_flows *= 2;
            flows = realloc(flows, cap_flows * sizeof(*flows));
        }
        start = realloc(start, (nflows + 2) * sizeof(*start));
        start[nflows] = nraw;
        gen_flow(nflows++);
    }
    start[nflows] = nraw;
    pkts = malloc(nraw * sizeof(*pkts));
    uint64_t cur[ACTIVE];
    uint32_t fl[ACTIVE];
    uint32_t nextf = 0, live = 0;
    for (; live < ACTIVE && nextf < nflows; live++, nextf++) {
        fl[live] = nextf;
        cur[live] = start[nextf];
    }
    while (live) {
        uint32_t j = (uint32_t)(next_rand() % live);
        pkts[npkts++] = raw[cur[j]++];
        if (cur[j] == start[fl[j] + 1]) {
            if (nextf < nflows) {
                fl[j] = nextf;
                cur[j] = start[nextf++];
            } else {
                fl[j] = fl[--live];
                cur[j] = cur[live];
            }
        }
    }
    free(raw);
    free(start);
}

static uint8_t scratch[2048];

/* The frame of packet i, written into scratch (headers from the flow's template). */
static inline size_t render(uint64_t i)
{
    const struct tpkt *p = &pkts[i];
    const struct tflow *t = &flows[p->flow];
    memcpy(scratch, t->hdr[p->dir], 54);
    put16(scratch + 16, (uint16_t)(p->len - 14));
    if (t->proto == 6)
        scratch[47] = p->flags;
    else if (t->proto == 17)
        put16(scratch + 38, (uint16_t)(p->len - 34));
    return p->len;
}

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

enum mode { RENDER_ONLY, PARSE_ONLY, NO_LOG, FULL };
static const char *const mode_name[] = {"render only (trace replay cost)", "render + parse", "pipeline without log",
                                        "full pipeline (log, zstd, seals)"};

struct result {
    double wall, cpu;
    uint64_t flows, logged, log_bytes;
};

static volatile uint64_t sink;

static int run(enum mode m, const char *dir, const char *rules, struct result *r)
{
    char log[512], key[512];
    snprintf(log, sizeof(log), "%s/bench-flows.log", dir);
    snprintf(key, sizeof(key), "%s/bench.key", dir);
    unlink(log);
    struct audit *a = NULL;
    if (m >= NO_LOG) {
        struct audit_config cfg = {.flow_capacity = 1u << 20, .max_ports = NPORTS};
        if (m == FULL) {
            cfg.log_path = log;
            cfg.key_path = key;
        }
        if (audit_create(&cfg, &a) < 0 || (rules && audit_load_rules(a, rules) < 0))
            return -1;
        for (int p = 0; p < NPORTS; p++) {
            char d[16], s[16];
            snprintf(d, sizeof(d), "dom%02d", p);
            snprintf(s, sizeof(s), "sponsor%02d", p % 16);
            if (audit_port_bind(a, (uint32_t)p, d, s, T0) < 0)
                return -1;
        }
    }
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    uint64_t acc = 0, step = S / SIM_PPS;
    struct net_frame nf;
    for (uint64_t i = 0; i < npkts; i++) {
        size_t len = render(i);
        uint64_t t = T0 + i * step;
        switch (m) {
        case RENDER_ONLY: acc += scratch[47]; break;
        case PARSE_ONLY: acc += net_eth_parse(scratch, len, &nf) + nf.dst_port; break;
        default: {
            struct audit_ctx ctx = {flows[pkts[i].flow].port, pkts[i].dir ? AUDIT_DIR_IN : AUDIT_DIR_OUT};
            acc += audit_frame(a, &ctx, scratch, len, t).action;
            if (i % SIM_PPS == SIM_PPS - 1 && audit_tick(a, t) < 0)
                return -1;
        }
        }
    }
    if (a) {
        struct audit_stats st;
        audit_get_stats(a, &st);
        r->flows = st.flows_created;
        if (audit_destroy(a, T0 + npkts * step + 3600 * S) < 0)
            return -1;
    }
    r->wall = now_s(CLOCK_MONOTONIC) - w0;
    r->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    sink = acc;
    struct stat sb;
    r->log_bytes = m == FULL && stat(log, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    return 0;
}

/* The attack of issue 14 item 6: a domain picks remote addresses and ports so that its flows
 * share one slot of the flow table under the table's old fixed hash (the function below, kept
 * here only to build the attack), in a table of the backend's default 65536 flows (131072
 * slots before the fix). Measured: the CPU time of one lookup of another domain's flow (a
 * UDP packet of an existing flow), without and with the attacker's flows in the table. */
static uint64_t old_hash(const uint8_t *p)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 5; i++) {
        uint64_t v;
        memcpy(&v, p + 8 * i, 8);
        h ^= v * 0x9e3779b97f4a7c15ull;
        h = (h << 29 | h >> 35) * 0xbf58476d1ce4e5b9ull;
    }
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

/* struct flow_key's bytes for a UDP flow the domain on `port` opens (audit.c's make_key). */
static void udp_key(uint8_t k[40], uint16_t port, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp)
{
    memset(k, 0, 40);
    put32(k, src);
    put32(k + 16, dst);
    memcpy(k + 32, &sp, 2);
    memcpy(k + 34, &dp, 2);
    memcpy(k + 36, &port, 2);
    k[38] = 17;
    k[39] = 4;
}

static double victim_lookup_ns(struct audit *a, uint64_t t)
{
    uint8_t h[54];
    make_hdr(h, 17, 0x0a000003, 0xc0000201, 5000, 53, true);
    put16(h + 16, 28 + 10);
    put16(h + 38, 8 + 10);
    struct audit_ctx ctx = {1, AUDIT_DIR_OUT};
    enum { N = 200000 };
    double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < N; i++)
        sink += audit_frame(a, &ctx, h, 52, t + (uint64_t)i).action;
    return (now_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / N;
}

static int attack(unsigned nflows)
{
    struct audit_config cfg = {.flow_capacity = 65536, .max_ports = 4};
    struct audit *a;
    if (audit_create(&cfg, &a) < 0 || audit_port_bind(a, 0, "attacker", "mallory", T0) < 0 ||
        audit_port_bind(a, 1, "victim", "alice", T0) < 0)
        return -1;
    uint8_t vk[40], k[40], h[54];
    udp_key(vk, 1, 0x0a000003, 0xc0000201, 5000, 53);
    uint32_t target = (uint32_t)(old_hash(vk) >> 32) & 131071;
    double quiet = victim_lookup_ns(a, T0);
    audit_port_unbind(a, 1, T0);
    audit_port_bind(a, 1, "victim", "alice", T0);
    struct audit_ctx ctx = {0, AUDIT_DIR_OUT};
    unsigned made = 0;
    for (uint32_t i = 0; made < nflows; i++) {
        uint32_t dst = 0xc6000000u + (i >> 10);
        uint16_t dp = (uint16_t)(1024 + (i & 1023));
        udp_key(k, 0, 0x0a000002, dst, 4000, dp);
        if (((uint32_t)(old_hash(k) >> 32) & 131071) != target)
            continue;
        make_hdr(h, 17, 0x0a000002, dst, 4000, dp, true);
        put16(h + 16, 28 + 10);
        put16(h + 38, 8 + 10);
        audit_frame(a, &ctx, h, 52, T0 + made);
        made++;
    }
    double hit = victim_lookup_ns(a, T0 + S);
    printf("attack: %u flows of one domain aimed at one slot of the old hash; another domain's lookup %.0f ns "
           "(%.0f ns without them): %.1fx; the attacker holds %u flows\n",
           nflows, hit, quiet, hit / quiet, audit_flow_count(a) - 1);
    return audit_destroy(a, T0 + 3600 * S);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int write_pcap(const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    uint32_t gh[6] = {0xa1b23c4d, 0x00040002, 0, 0, 65535, 1}; /* ns timestamps, Ethernet */
    fwrite(gh, 4, 6, fp);
    for (uint64_t i = 0; i < npkts; i++) {
        size_t len = render(i);
        uint64_t t = T0 + i * (S / SIM_PPS);
        uint32_t cap = flows[pkts[i].flow].hlen;
        uint32_t rh[4] = {(uint32_t)(t / S), (uint32_t)(t % S), cap, (uint32_t)len};
        fwrite(rh, 4, 4, fp);
        fwrite(scratch, 1, cap, fp);
    }
    return fclose(fp);
}

int main(int argc, char **argv)
{
    uint64_t want = 5000000;
    int runs = 5;
    const char *dir = "/tmp", *pcap = NULL, *rules = NULL;
    unsigned attack_flows = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--packets") == 0)
            want = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--pcap") == 0)
            pcap = argv[i + 1];
        else if (strcmp(argv[i], "--rules") == 0)
            rules = argv[i + 1];
        else if (strcmp(argv[i], "--attack") == 0)
            attack_flows = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "audit-bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (want < 1000 || runs < 1 || runs > 50) {
        fprintf(stderr, "audit-bench: --packets at least 1000, --runs 1..50\n");
        return 2;
    }
    if (attack_flows)
        return attack(attack_flows) < 0 ? 1 : 0;
    char key[512];
    snprintf(key, sizeof(key), "%s/bench.key", dir);
    FILE *kf = fopen(key, "wb");
    if (!kf || fwrite("bench-key-0123456789abcdef-bench", 1, 32, kf) != 32 || fclose(kf) != 0) {
        fprintf(stderr, "audit-bench: cannot write %s\n", key);
        return 1;
    }
    gen_trace(want);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < npkts; i++)
        bytes += pkts[i].len;
    printf("trace: %llu packets, %u flows (%.1f packets/flow), %.1f MB on the wire\n", (unsigned long long)npkts,
           nflows, (double)npkts / nflows, bytes / 1e6);
    if (pcap) {
        if (write_pcap(pcap) < 0) {
            fprintf(stderr, "audit-bench: writing %s failed\n", pcap);
            return 1;
        }
        printf("pcap: %s\n", pcap);
    }
    printf("%-34s %12s %12s %12s %12s %10s\n", "stage (median of runs, min-max)", "Mpps cpu", "Mpps wall",
           "kflows/s cpu", "ns/pkt cpu", "B/flow");
    for (int m = RENDER_ONLY; m <= FULL; m++) {
        double cpu[50], wall[50];
        struct result r = {0};
        for (int k = 0; k < runs; k++) {
            if (run((enum mode)m, dir, rules, &r) < 0) {
                fprintf(stderr, "audit-bench: %s\n", err_msg());
                return 1;
            }
            cpu[k] = r.cpu;
            wall[k] = r.wall;
        }
        qsort(cpu, (size_t)runs, sizeof(double), cmp_double);
        qsort(wall, (size_t)runs, sizeof(double), cmp_double);
        double c = cpu[runs / 2], w = wall[runs / 2];
        char bpf[32] = "-";
        if (m == FULL)
            snprintf(bpf, sizeof(bpf), "%.2f", (double)r.log_bytes / r.flows);
        printf("%-34s %5.2f (%.2f-%.2f) %5.2f %8.0f %10.1f %10s\n", mode_name[m], npkts / c / 1e6,
               npkts / cpu[runs - 1] / 1e6, npkts / cpu[0] / 1e6, npkts / w / 1e6,
               m >= NO_LOG ? r.flows / c / 1e3 : 0.0, c * 1e9 / npkts, bpf);
        if (m == FULL)
            printf("flow log: %llu bytes for %llu flows (%.2f bytes/flow, headers and seals included)\n",
                   (unsigned long long)r.log_bytes, (unsigned long long)r.flows, (double)r.log_bytes / r.flows);
    }
    return 0;
}
