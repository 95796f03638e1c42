/* audit_replay: drives the audit engine (src/audit) with a fixed, synthetic day in the life
 * of three domains, at native speed, for tests/integration/audit.sh: web1 and web2 (sponsor
 * alice) browse and send mail, mail (sponsor bob) resolves names and scans port 22.
 * It prints every event the engine reports and a summary line; the flows go to the flow log
 * and, with --ipfix, to a collector.
 *
 *   audit_replay --log FILE [--key FILE] [--rules FILE] [--ipfix HOST:PORT]
 *                [--pcap FILE --pcap-domain DOMAIN]
 *
 * Times start at 2025-11-26T08:00:00Z (1764144000). Exit 0, or 1 with one error line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "lib/err.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1764144000ull * S)

static const uint8_t MAC_G[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
static const uint8_t MAC_R[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0xfe};
static const uint32_t PORT_IP[3] = {0x0a000002, 0x0a000003, 0x0a000004};

static struct audit *A;
static unsigned refused, throttled;

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

/* Ethernet + IPv4 + TCP or UDP, payload of zeros. */
static size_t frame(uint8_t *f, bool out, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                    uint8_t flags, size_t payload)
{
    memcpy(f, out ? MAC_R : MAC_G, 6);
    memcpy(f + 6, out ? MAC_G : MAC_R, 6);
    put16(f + 12, 0x0800);
    size_t l4 = proto == 6 ? 20 : 8;
    uint8_t *ip = f + 14;
    memset(ip, 0, 20 + l4 + payload);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4 + payload));
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    uint8_t *t = ip + 20;
    put16(t, sport);
    put16(t + 2, dport);
    if (proto == 6) {
        t[12] = 5 << 4;
        t[13] = flags;
    } else
        put16(t + 4, (uint16_t)(8 + payload));
    return 14 + 20 + l4 + payload;
}

static enum audit_action pkt(uint32_t port, bool out, uint8_t proto, uint32_t remote, uint16_t lport, uint16_t rport,
                             uint8_t flags, size_t payload, uint64_t t)
{
    uint8_t f[2048];
    uint32_t local = PORT_IP[port];
    size_t len = out ? frame(f, true, proto, local, remote, lport, rport, flags, payload)
                     : frame(f, false, proto, remote, local, rport, lport, flags, payload);
    struct audit_ctx ctx = {port, out ? AUDIT_DIR_OUT : AUDIT_DIR_IN};
    struct audit_verdict v = audit_frame(A, &ctx, f, len, t);
    refused += v.action == AUDIT_DROP;
    throttled += v.action == AUDIT_THROTTLE;
    return v.action;
}

/* A TCP connection that completes: handshake, request (one segment), response (in
 * 1400-byte segments, all within 20 ms), FIN both ways. Stops at
 * the first packet the engine does not pass (the guest would retransmit; here we give up). */
static void connection(uint32_t port, uint32_t remote, uint16_t lport, uint16_t rport, size_t req, size_t resp,
                       uint64_t t)
{
    if (pkt(port, true, 6, remote, lport, rport, 0x02, 0, t) != AUDIT_PASS)
        return;
    pkt(port, false, 6, remote, lport, rport, 0x12, 0, t + 1 * MS);
    pkt(port, true, 6, remote, lport, rport, 0x10, 0, t + 2 * MS);
    pkt(port, true, 6, remote, lport, rport, 0x18, req > 1400 ? 1400 : req, t + 3 * MS);
    for (size_t left = resp, n = 0; left > 0; n++) {
        size_t seg = left > 1400 ? 1400 : left;
        pkt(port, false, 6, remote, lport, rport, 0x18, seg, t + (5 + n) * MS);
        left -= seg;
    }
    pkt(port, true, 6, remote, lport, rport, 0x11, 0, t + 21 * MS);
    pkt(port, false, 6, remote, lport, rport, 0x11, 0, t + 22 * MS);
    pkt(port, true, 6, remote, lport, rport, 0x10, 0, t + 23 * MS);
}

static void on_event(void *opaque, const struct audit_event *ev)
{
    (void)opaque;
    char line[1024];
    printf("EVENT %s\n", audit_event_format(ev, line, sizeof(line)));
}

static int die(const char *what)
{
    fprintf(stderr, "audit_replay: %s: %s\n", what, err_msg());
    return 1;
}

int main(int argc, char **argv)
{
    struct audit_config cfg = {.flow_capacity = 4096, .max_ports = 8, .block_records = 8, .event_fn = on_event};
    const char *rules = NULL, *pcap = NULL, *pcap_domain = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "audit_replay: %s needs a value\n", argv[i]);
            return 1;
        }
        if (strcmp(argv[i], "--log") == 0)
            cfg.log_path = v;
        else if (strcmp(argv[i], "--key") == 0)
            cfg.key_path = v;
        else if (strcmp(argv[i], "--rules") == 0)
            rules = v;
        else if (strcmp(argv[i], "--ipfix") == 0)
            cfg.ipfix_collector = v;
        else if (strcmp(argv[i], "--pcap") == 0)
            pcap = v;
        else if (strcmp(argv[i], "--pcap-domain") == 0)
            pcap_domain = v;
        else {
            fprintf(stderr, "audit_replay: unknown option %s\n", argv[i]);
            return 1;
        }
        i++;
    }
    if (audit_create(&cfg, &A) < 0)
        return die("audit_create");
    if (rules && audit_load_rules(A, rules) < 0)
        return die("rules");
    if (audit_port_bind(A, 0, "web1", "alice", T0) < 0 || audit_port_bind(A, 1, "web2", "alice", T0) < 0 ||
        audit_port_bind(A, 2, "mail", "bob", T0) < 0)
        return die("bind");
    if (pcap && audit_capture_start(A, pcap, pcap_domain, NULL, 0) < 0)
        return die("capture");

    uint64_t t = T0;
    /* web1: five page loads from 192.0.2.80, then a mail at +10 s. */
    for (unsigned i = 0; i < 5; i++)
        connection(0, 0xc0000250, (uint16_t)(40000 + i), 80, 300, 14000, t + i * S);
    connection(0, 0xc0000219, 40100, 25, 1400, 200, t + 10 * S);
    /* web2 (same sponsor): a mail 2 s later (over the sponsor's limit), HTTPS meanwhile,
     * and a mail again 11 s after web1's. */
    connection(1, 0xc0000219, 41000, 25, 1400, 200, t + 12 * S);
    connection(1, 0xc000022b, 41001, 443, 700, 9000, t + 12 * S);
    connection(1, 0xc0000219, 41002, 25, 1400, 200, t + 21 * S);
    /* mail (bob): DNS, then a scan of 10.9.0.1.. port 22, each refused with RST. */
    pkt(2, true, 17, 0x08080808, 5353, 53, 0, 40, t + 30 * S);
    pkt(2, false, 17, 0x08080808, 5353, 53, 0, 120, t + 30 * S + 5 * MS);
    for (uint32_t i = 1; i <= 8; i++) {
        uint64_t ti = t + 31 * S + i * 10 * MS;
        if (pkt(2, true, 6, 0x0a090000 + i, (uint16_t)(52000 + i), 22, 0x02, 0, ti) == AUDIT_PASS)
            pkt(2, false, 6, 0x0a090000 + i, (uint16_t)(52000 + i), 22, 0x14, 0, ti + MS);
    }
    for (uint64_t s = 32; s <= 40; s++)
        if (audit_tick(A, t + s * S + S / 2) < 0)
            return die("tick");
    struct audit_stats st;
    audit_get_stats(A, &st);
    if (audit_destroy(A, t + 41 * S) < 0)
        return die("closing");
    printf("SUMMARY flows=%llu refused=%u throttled=%u\n", (unsigned long long)st.flows_created, refused, throttled);
    return 0;
}
