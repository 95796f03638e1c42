/* The audit engine end to end (src/audit/audit.c) on synthetic frames and time: flows are
 * accounted and logged exactly; the SMTP rule refuses a second connection within 10 s while
 * other traffic flows; rules are replaced live and a bad file keeps the old ones; ACK
 * symmetry throttles an unanswered stream and releases it when ACKs return, and never
 * touches a behaving connection; TRW detects a scan within the paper's 4 probes and
 * throttles only the scanner's new destinations; the SYN flood detector paces and recovers;
 * a full table evicts into the log; IPFIX goes out on a real loopback socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/flowlog.h"
#include "lib/err.h"
#include "net_frames.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1764144000ull * S)

static const uint8_t MAC_G[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
static const uint8_t MAC_R[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0xfe};
#define IP_A 0x0a000002u /* web1 (port 0, sponsor alice) */
#define IP_B 0x0a000003u /* web2 (port 1, sponsor alice) */
#define IP_C 0x0a000004u /* mail (port 2, sponsor bob) */
#define SERVER 0xc0000201u

struct ev_copy {
    enum audit_event_kind kind;
    enum audit_action action;
    char domain[32], sponsor[32], source[200], evidence[200], line[600];
};

struct fixture {
    char dir[64], log[96], rules[96];
    struct audit *a;
    struct ev_copy ev[256];
    unsigned nev;
    uint8_t frame[FRAME_MAX];
};

static void on_event(void *opaque, const struct audit_event *ev)
{
    struct fixture *f = opaque;
    if (f->nev < 256) {
        struct ev_copy *c = &f->ev[f->nev];
        c->kind = ev->kind;
        c->action = ev->action;
        snprintf(c->domain, sizeof(c->domain), "%s", ev->domain);
        snprintf(c->sponsor, sizeof(c->sponsor), "%s", ev->sponsor);
        snprintf(c->source, sizeof(c->source), "%s", ev->source);
        snprintf(c->evidence, sizeof(c->evidence), "%s", ev->evidence);
        audit_event_format(ev, c->line, sizeof(c->line));
    }
    f->nev++;
}

static unsigned count_events(const struct fixture *f, enum audit_event_kind k)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->nev && i < 256; i++)
        n += f->ev[i].kind == k;
    return n;
}

static const struct ev_copy *last_event(const struct fixture *f, enum audit_event_kind k)
{
    for (unsigned i = f->nev < 256 ? f->nev : 256; i-- > 0;)
        if (f->ev[i].kind == k)
            return &f->ev[i];
    return NULL;
}

static int start(void **state, struct audit_config *cfg)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_audit_engine.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->log, sizeof(f->log), "%s/flows.log", f->dir);
    snprintf(f->rules, sizeof(f->rules), "%s/rules.conf", f->dir);
    cfg->log_path = f->log;
    cfg->event_fn = on_event;
    cfg->event_opaque = f;
    if (audit_create(cfg, &f->a) < 0) {
        fprintf(stderr, "audit_create: %s\n", err_msg());
        return -1;
    }
    if (audit_port_bind(f->a, 0, "web1", "alice", T0) < 0 || audit_port_bind(f->a, 1, "web2", "alice", T0) < 0 ||
        audit_port_bind(f->a, 2, "mail", "bob", T0) < 0)
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    struct audit_config cfg = {.flow_capacity = 4096, .max_ports = 8};
    return start(state, &cfg);
}

static int setup_small(void **state)
{
    struct audit_config cfg = {.flow_capacity = 16, .max_ports = 8, .flow_quota = 16}; /* the pool fills first */
    return start(state, &cfg);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->a)
        audit_destroy(f->a, T0 + 1000 * S);
    unlink(f->log);
    unlink(f->rules);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const uint32_t PORT_IP[3] = {IP_A, IP_B, IP_C};

/* The domain on `port` sends TCP to dst:dport from sport. */
static struct audit_verdict tcp_out(struct fixture *f, uint32_t port, uint32_t dst, uint16_t sport, uint16_t dport,
                                    uint8_t flags, size_t payload, uint64_t t)
{
    size_t len = build_tcp4(f->frame, MAC_R, MAC_G, PORT_IP[port], dst, sport, dport, flags, payload);
    struct audit_ctx ctx = {port, AUDIT_DIR_OUT};
    return audit_frame(f->a, &ctx, f->frame, len, t);
}

/* The remote dst:dport answers the domain on `port` at sport. */
static struct audit_verdict tcp_in(struct fixture *f, uint32_t port, uint32_t src, uint16_t sport, uint16_t dport,
                                   uint8_t flags, size_t payload, uint64_t t)
{
    size_t len = build_tcp4(f->frame, MAC_G, MAC_R, src, PORT_IP[port], dport, sport, flags, payload);
    struct audit_ctx ctx = {port, AUDIT_DIR_IN};
    return audit_frame(f->a, &ctx, f->frame, len, t);
}

static struct audit_verdict udp_out(struct fixture *f, uint32_t port, uint32_t dst, uint16_t sport, uint16_t dport,
                                    size_t payload, uint64_t t)
{
    size_t len = build_udp4(f->frame, MAC_R, MAC_G, PORT_IP[port], dst, sport, dport, payload);
    struct audit_ctx ctx = {port, AUDIT_DIR_OUT};
    return audit_frame(f->a, &ctx, f->frame, len, t);
}

#define SYN NET_TCP_SYN
#define ACK NET_TCP_ACK
#define FIN NET_TCP_FIN
#define RST NET_TCP_RST
#define PSH NET_TCP_PSH

struct collect {
    unsigned n;
    struct flowlog_entry e[64];
};

static int collect_fn(void *opaque, const struct flowlog_entry *e)
{
    struct collect *c = opaque;
    if (c->n < 64) {
        c->e[c->n] = *e;
        c->e[c->n].domain = c->e[c->n].sponsor = NULL; /* the block's strings go with it */
    }
    c->n++;
    return 0;
}

static void query_all(struct fixture *f, const char *sponsor, struct collect *c)
{
    memset(c, 0, sizeof(*c));
    struct flowlog_query q = {.sponsor = sponsor, .since_ns = 1};
    struct flowlog_query_stats st;
    assert_int_equal(flowlog_query_run(f->log, &q, collect_fn, c, &st), 0);
}

static void assert_pass(struct audit_verdict v)
{
    assert_int_equal(v.action, AUDIT_PASS);
}

static void test_flow_accounting_and_log(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    /* A whole TCP connection, closed by FIN both ways. */
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, SYN, 0, t));
    assert_pass(tcp_in(f, 0, SERVER, 40000, 80, SYN | ACK, 0, t + 1 * MS));
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, ACK, 0, t + 2 * MS));
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, ACK | PSH, 100, t + 3 * MS));
    assert_pass(tcp_in(f, 0, SERVER, 40000, 80, ACK | PSH, 1000, t + 10 * MS));
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, FIN | ACK, 0, t + 11 * MS));
    assert_pass(tcp_in(f, 0, SERVER, 40000, 80, FIN | ACK, 0, t + 12 * MS));
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, ACK, 0, t + 13 * MS));
    /* A DNS query from another domain, and an inbound connection to the first. */
    assert_pass(udp_out(f, 2, 0x08080808, 5353, 53, 30, t + 20 * MS));
    /* A ping from the third domain: request and reply are one flow. */
    size_t len = build_eth(f->frame, MAC_R, MAC_G, NET_ETHERTYPE_IPV4);
    len = build_ip4_hdr(f->frame, len, NET_IPPROTO_ICMP, IP_C, SERVER, 8);
    memset(f->frame + len, 0, 8);
    f->frame[len] = 8;
    struct audit_ctx c2 = {2, AUDIT_DIR_OUT};
    assert_pass(audit_frame(f->a, &c2, f->frame, len + 8, t + 21 * MS));
    len = build_eth(f->frame, MAC_G, MAC_R, NET_ETHERTYPE_IPV4);
    len = build_ip4_hdr(f->frame, len, NET_IPPROTO_ICMP, SERVER, IP_C, 8);
    memset(f->frame + len, 0, 8);
    c2.dir = AUDIT_DIR_IN;
    assert_pass(audit_frame(f->a, &c2, f->frame, len + 8, t + 22 * MS));
    assert_pass(tcp_in(f, 0, 0xcb007101, 22, 51000, SYN, 0, t + 30 * MS));
    assert_pass(tcp_out(f, 0, 0xcb007101, 22, 51000, SYN | ACK, 0, t + 31 * MS));
    assert_int_equal(audit_flow_count(f->a), 4);

    /* The closed TCP flow goes after the short closed timeout; the others stay. */
    assert_int_equal(audit_tick(f->a, t + 3 * S), 0);
    assert_int_equal(audit_flow_count(f->a), 3);
    /* ICMP idle timeout is 10 s, UDP 30 s. */
    assert_int_equal(audit_tick(f->a, t + 11 * S), 0);
    assert_int_equal(audit_flow_count(f->a), 2);
    assert_int_equal(audit_tick(f->a, t + 31 * S), 0);
    assert_int_equal(audit_flow_count(f->a), 1);
    assert_int_equal(audit_flush(f->a, t + 40 * S), 0);

    struct collect c;
    query_all(f, "alice", &c);
    assert_int_equal(c.n, 2);
    const struct flow_record *r = &c.e[0].rec;
    assert_int_equal(r->key.proto, 6);
    assert_int_equal(r->dir, 0);
    assert_int_equal(r->key.lport, 40000);
    assert_int_equal(r->key.rport, 80);
    uint8_t want_remote[4] = {192, 0, 2, 1}, want_local[4] = {10, 0, 0, 2};
    assert_memory_equal(r->key.remote, want_remote, 4);
    assert_memory_equal(r->key.local, want_local, 4);
    assert_int_equal(r->packets[0], 5);
    assert_int_equal(r->packets[1], 3);
    assert_int_equal(r->bytes[0], 5 * 54 + 100);
    assert_int_equal(r->bytes[1], 3 * 54 + 1000);
    assert_int_equal(r->tcp_flags[0], SYN | ACK | PSH | FIN);
    assert_int_equal(r->tcp_flags[1], SYN | ACK | PSH | FIN);
    assert_int_equal(r->end_reason, FLOW_END_TCP);
    assert_int_equal(r->start_ns, t);
    assert_int_equal(r->end_ns, t + 13 * MS);
    /* The inbound connection: opened by the remote. */
    r = &c.e[1].rec;
    assert_int_equal(r->dir, 1);
    assert_int_equal(r->key.lport, 22);
    assert_int_equal(r->key.rport, 51000);
    assert_int_equal(r->end_reason, FLOW_END_SHUTDOWN);
    query_all(f, "bob", &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.e[0].rec.key.proto, 1);
    assert_int_equal(c.e[0].rec.key.rport, 8 << 8);
    assert_int_equal(c.e[0].rec.packets[0], 1);
    assert_int_equal(c.e[0].rec.packets[1], 1);
    c.e[0] = c.e[1];
    assert_int_equal(c.e[0].rec.key.proto, 17);
    assert_int_equal(c.e[0].rec.bytes[0], 14 + 20 + 8 + 30);
    assert_int_equal(c.e[0].rec.end_reason, FLOW_END_IDLE);
    assert_int_equal(f->nev, 0);
}

static void test_smtp_second_connection_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(audit_load_rules_text(f->a, "limit tcp dport 25 new 1/10s per sponsor action drop\n", "smtp.conf"),
                     0);
    uint64_t t = T0;
    assert_pass(tcp_out(f, 0, SERVER, 41000, 25, SYN, 0, t));
    assert_pass(tcp_in(f, 0, SERVER, 41000, 25, SYN | ACK, 0, t + MS));
    /* Same sponsor, another domain, 2 s later: refused, with an event naming the rule. */
    struct audit_verdict v = tcp_out(f, 1, SERVER, 42000, 25, SYN, 0, t + 2 * S);
    assert_int_equal(v.action, AUDIT_DROP);
    assert_int_equal(count_events(f, AUDIT_EV_RULE), 1);
    const struct ev_copy *e = last_event(f, AUDIT_EV_RULE);
    assert_int_equal(e->action, AUDIT_DROP);
    assert_string_equal(e->domain, "web2");
    assert_string_equal(e->sponsor, "alice");
    assert_string_equal(e->source, "rule 1 (smtp.conf:1): limit tcp dport 25 new 1/10s per sponsor action drop");
    assert_non_null(strstr(e->evidence, "one per 10.000 s per sponsor"));
    assert_string_equal(e->line,
                        "rule drop domain=web2 sponsor=alice flow=\"proto 6 10.0.0.3:42000 -> 192.0.2.1:25\" "
                        "source=\"rule 1 (smtp.conf:1): limit tcp dport 25 new 1/10s per sponsor action drop\" "
                        "evidence=\"new flow over the limit of one per 10.000 s per sponsor (burst 1)\"");
    /* Its retransmission stays refused, without another event. */
    assert_int_equal(tcp_out(f, 1, SERVER, 42000, 25, SYN, 0, t + 3 * S).action, AUDIT_DROP);
    assert_int_equal(count_events(f, AUDIT_EV_RULE), 1);
    /* Other traffic of the same domain flows, the first connection goes on, and another
     * sponsor's mail goes out. */
    assert_pass(tcp_out(f, 1, SERVER, 42001, 443, SYN, 0, t + 3 * S));
    assert_pass(tcp_out(f, 0, SERVER, 41000, 25, ACK | PSH, 500, t + 3 * S));
    assert_pass(tcp_out(f, 2, SERVER, 43000, 25, SYN, 0, t + 3 * S));
    /* Ten seconds after the first: allowed again. */
    assert_pass(tcp_out(f, 1, SERVER, 42002, 25, SYN, 0, t + 10 * S));
    assert_int_equal(audit_flush(f->a, t + 11 * S), 0);
    struct collect c;
    query_all(f, "alice", &c);
    unsigned dropped = 0;
    for (unsigned i = 0; i < c.n; i++)
        if (c.e[i].rec.flags & FLOW_F_DROPPED) {
            dropped++;
            assert_int_equal(c.e[i].rec.key.lport, 42000);
            assert_int_equal(c.e[i].rec.packets[0], 2);
        }
    assert_int_equal(dropped, 1);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_rules_replaced_live_bad_file_keeps_old(void **state)
{
    struct fixture *f = *state;
    write_file(f->rules, "deny tcp dport 23\n");
    assert_int_equal(audit_load_rules(f->a, f->rules), 0);
    uint64_t t = T0;
    assert_int_equal(tcp_out(f, 0, SERVER, 40000, 23, SYN, 0, t).action, AUDIT_DROP);
    write_file(f->rules, "deny tcp dport 23\ndeny tcp dport 2323 action explode\n");
    assert_int_equal(audit_load_rules(f->a, f->rules), -EINVAL);
    assert_non_null(strstr(err_msg(), ":2:28: expected an action: drop, throttle or log, got 'explode'"));
    /* Still the old set. */
    assert_int_equal(tcp_out(f, 0, SERVER, 40001, 23, SYN, 0, t + S).action, AUDIT_DROP);
    assert_pass(tcp_out(f, 0, SERVER, 40002, 2323, SYN, 0, t + S));
    write_file(f->rules, "deny tcp dport 2323\n");
    assert_int_equal(audit_load_rules(f->a, f->rules), 0);
    assert_pass(tcp_out(f, 0, SERVER, 40003, 23, SYN, 0, t + 2 * S));
    assert_int_equal(tcp_out(f, 0, SERVER, 40004, 2323, SYN, 0, t + 2 * S).action, AUDIT_DROP);
    /* The flow refused under the old rule is judged afresh. */
    assert_pass(tcp_out(f, 0, SERVER, 40000, 23, SYN, 0, t + 3 * S));
    assert_int_equal(audit_load_rules(f->a, "/nonexistent/rules.conf"), -ENOENT);
}

/* Establishes 40000 -> SERVER:5001 on port 0 at t. */
static void establish(struct fixture *f, uint16_t sport, uint64_t t)
{
    assert_pass(tcp_out(f, 0, SERVER, sport, 5001, SYN, 0, t));
    assert_pass(tcp_in(f, 0, SERVER, sport, 5001, SYN | ACK, 0, t + MS));
    assert_pass(tcp_out(f, 0, SERVER, sport, 5001, ACK, 0, t + 2 * MS));
}

static void test_ack_symmetry_unanswered_stream(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    establish(f, 40000, t);
    t += 10 * MS;
    /* Data with no ACK coming back: throttled once past the minimum sample and the band. */
    unsigned sent = 0;
    struct audit_verdict v = {AUDIT_PASS, 0};
    for (int i = 0; i < 100 && v.action == AUDIT_PASS; i++) {
        v = tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, t + (uint64_t)i * MS);
        sent += v.action == AUDIT_PASS;
    }
    assert_int_equal(count_events(f, AUDIT_EV_ACK_THROTTLE), 1);
    const struct ev_copy *e = last_event(f, AUDIT_EV_ACK_THROTTLE);
    assert_string_equal(e->domain, "web1");
    assert_string_equal(e->sponsor, "alice");
    assert_string_equal(e->source, "ack-symmetry");
    assert_non_null(strstr(e->evidence, "band 0.66-2.50"));
    assert_int_equal(v.action, AUDIT_THROTTLE);
    assert_true(v.retry_ns > t && v.retry_ns <= t + sent * MS + 100 * MS);
    /* A probe goes at the retry time, then throttled again. */
    assert_pass(tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, v.retry_ns));
    assert_int_equal(tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, v.retry_ns + MS).action, AUDIT_THROTTLE);
    /* Other connections of the same domain are untouched. */
    establish(f, 40001, v.retry_ns + 2 * MS);
    /* ACKs come back: released as soon as the ratio is in band. */
    uint64_t t2 = v.retry_ns + 50 * MS;
    for (int i = 0; i < 20; i++)
        assert_pass(tcp_in(f, 0, SERVER, 40000, 5001, ACK, 0, t2 + (uint64_t)i * MS));
    assert_pass(tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, t2 + 30 * MS));
    assert_int_equal(count_events(f, AUDIT_EV_ACK_RELEASE), 1);
    assert_non_null(strstr(last_event(f, AUDIT_EV_ACK_RELEASE)->evidence, "back in band"));
    for (int i = 0; i < 10; i++) {
        assert_pass(tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, t2 + (uint64_t)(40 + 2 * i) * MS));
        assert_pass(tcp_in(f, 0, SERVER, 40000, 5001, ACK, 0, t2 + (uint64_t)(41 + 2 * i) * MS));
    }
}

static void test_ack_symmetry_behaving_never_touched(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    /* Upload with a delayed ACK every second segment (ratio 2), download (the domain ACKs
     * every second segment: ratio 0.5), and request/response (1). 20000 packets each. */
    establish(f, 40000, t);
    establish(f, 40001, t);
    establish(f, 40002, t);
    t += 10 * MS;
    for (int i = 0; i < 20000; i++) {
        uint64_t ti = t + (uint64_t)i * 10000;
        assert_pass(tcp_out(f, 0, SERVER, 40000, 5001, ACK | PSH, 1400, ti));
        if (i % 2)
            assert_pass(tcp_in(f, 0, SERVER, 40000, 5001, ACK, 0, ti + 1));
        assert_pass(tcp_in(f, 0, SERVER, 40001, 5001, ACK | PSH, 1400, ti));
        if (i % 2)
            assert_pass(tcp_out(f, 0, SERVER, 40001, 5001, ACK, 0, ti + 1));
        assert_pass(tcp_out(f, 0, SERVER, 40002, 5001, ACK | PSH, 100, ti));
        assert_pass(tcp_in(f, 0, SERVER, 40002, 5001, ACK | PSH, 100, ti + 1));
    }
    assert_int_equal(count_events(f, AUDIT_EV_ACK_THROTTLE), 0);
    assert_int_equal(f->nev, 0);
}

static void test_scan_detected_and_throttled(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    /* A normal client on port 1: ten servers, all answer (one refuses). */
    for (uint32_t i = 0; i < 10; i++) {
        assert_pass(tcp_out(f, 1, 0xc6336400 + i, (uint16_t)(45000 + i), 443, SYN, 0, t + i * MS));
        assert_pass(tcp_in(f, 1, 0xc6336400 + i, (uint16_t)(45000 + i), 443, i == 4 ? RST | ACK : SYN | ACK, 0,
                           t + i * MS + 100));
    }
    /* A known server for the scanner (port 0): contacted once successfully. */
    assert_pass(tcp_out(f, 0, SERVER, 39000, 443, SYN, 0, t));
    assert_pass(tcp_in(f, 0, SERVER, 39000, 443, SYN | ACK, 0, t + MS));
    /* Now the scan: each probe refused with RST. Detected at the 5th failure here, as the
     * success above started the walk one step down (4 failures from a fresh start). */
    unsigned probe = 0;
    uint64_t ts = t + 10 * MS;
    while (count_events(f, AUDIT_EV_SCAN) == 0 && probe < 10) {
        uint32_t dst = 0x0a640000 + probe;
        assert_pass(tcp_out(f, 0, dst, (uint16_t)(50000 + probe), 22, SYN, 0, ts));
        assert_pass(tcp_in(f, 0, dst, (uint16_t)(50000 + probe), 22, RST | ACK, 0, ts + 100));
        probe++;
        ts += MS;
    }
    assert_int_equal(probe, 5);
    const struct ev_copy *e = last_event(f, AUDIT_EV_SCAN);
    assert_string_equal(e->domain, "web1");
    assert_string_equal(e->sponsor, "alice");
    assert_string_equal(e->source, "scan-trw");
    assert_non_null(strstr(e->evidence, "5 failed, 1 answered"));
    /* Next new destination: throttled, with a retry time a second away. */
    struct audit_verdict v = tcp_out(f, 0, 0x0a640063, 50099, 22, SYN, 0, ts);
    assert_int_equal(v.action, AUDIT_THROTTLE);
    assert_int_equal(v.retry_ns, ts - MS + 100 + S);
    /* A destination it knows is not. Nor is the normal client. */
    assert_pass(tcp_out(f, 0, SERVER, 39001, 443, SYN, 0, ts));
    assert_pass(tcp_out(f, 1, 0xc6336463, 46000, 443, SYN, 0, ts));
    assert_int_equal(count_events(f, AUDIT_EV_SCAN), 1);
    /* Unanswered probes (no RST) fail by timeout at the tick. */
    audit_tick(f->a, ts + 5 * S);
    /* Released once admitted first contacts succeed again: one per second. */
    uint64_t tr = ts + 6 * S;
    for (unsigned i = 0; i < 12 && count_events(f, AUDIT_EV_SCAN_RELEASE) == 0; i++) {
        uint32_t dst = 0xc6337000 + i;
        assert_pass(tcp_out(f, 0, dst, (uint16_t)(47000 + i), 443, SYN, 0, tr));
        assert_pass(tcp_in(f, 0, dst, (uint16_t)(47000 + i), 443, SYN | ACK, 0, tr + MS));
        tr += S + MS;
    }
    assert_int_equal(count_events(f, AUDIT_EV_SCAN_RELEASE), 1);
    assert_pass(tcp_out(f, 0, 0x0a640064, 50100, 22, SYN, 0, tr));
    assert_pass(tcp_out(f, 0, 0x0a640065, 50101, 22, SYN, 0, tr));
}

/* A vertical scan (many ports of one host): a destination is (address, port), so each closed
 * port is a failed first contact and four of them decide, from a fresh start. */
static void test_vertical_scan_detected(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    uint32_t host = 0x0a650001;
    unsigned probe = 0;
    while (count_events(f, AUDIT_EV_SCAN) == 0 && probe < 10) {
        assert_pass(tcp_out(f, 0, host, (uint16_t)(51000 + probe), (uint16_t)(2000 + probe), SYN, 0, t));
        assert_pass(tcp_in(f, 0, host, (uint16_t)(51000 + probe), (uint16_t)(2000 + probe), RST | ACK, 0, t + 100));
        probe++;
        t += MS;
    }
    assert_int_equal(probe, 4);
    assert_non_null(strstr(last_event(f, AUDIT_EV_SCAN)->evidence, "4 failed, 0 answered"));
    /* Another port of that host is a new destination: held back. */
    assert_int_equal(tcp_out(f, 0, host, 51099, 2099, SYN, 0, t).action, AUDIT_THROTTLE);
}

static void test_scan_by_silence_detected_at_tick(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    for (uint32_t i = 0; i < 4; i++)
        assert_pass(tcp_out(f, 2, 0x0a650000 + i, (uint16_t)(50000 + i), 80, SYN, 0, t + i * MS));
    assert_int_equal(audit_tick(f->a, t + 2 * S), 0);
    assert_int_equal(count_events(f, AUDIT_EV_SCAN), 0);
    assert_int_equal(audit_tick(f->a, t + 4 * S), 0);
    assert_int_equal(count_events(f, AUDIT_EV_SCAN), 1);
    assert_string_equal(last_event(f, AUDIT_EV_SCAN)->sponsor, "bob");
    assert_int_equal(tcp_out(f, 2, 0x0a650063, 50099, 80, SYN, 0, t + 4 * S + MS).action, AUDIT_THROTTLE);
}

static void test_syn_flood_paced_and_recovers(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    establish(f, 30000, t);
    /* 64 half-open connections are allowed; the 65th starts the flood. */
    uint16_t sport = 31000;
    for (int i = 0; i < 65; i++)
        assert_pass(tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 10 * MS));
    assert_int_equal(count_events(f, AUDIT_EV_SYN_FLOOD), 1);
    assert_non_null(strstr(last_event(f, AUDIT_EV_SYN_FLOOD)->evidence, "65 half-open connections (limit 64)"));
    /* One new connection per 100 ms. */
    struct audit_verdict v = tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 11 * MS);
    assert_pass(v); /* the pacing allowance starts full */
    v = tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 12 * MS);
    assert_int_equal(v.action, AUDIT_THROTTLE);
    assert_int_equal(v.retry_ns, t + 111 * MS);
    /* The established connection and other domains are untouched. */
    assert_pass(tcp_out(f, 0, SERVER, 30000, 5001, ACK | PSH, 100, t + 12 * MS));
    assert_pass(tcp_out(f, 1, SERVER, 33000, 80, SYN, 0, t + 12 * MS));
    /* The server answers: 66 half-open drop to 16 and the flood ends. */
    for (uint16_t p = 31000; p < 31050; p++)
        assert_pass(tcp_in(f, 0, SERVER, p, 80, SYN | ACK, 0, t + 20 * MS));
    assert_int_equal(count_events(f, AUDIT_EV_SYN_FLOOD_END), 1);
    assert_pass(tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 21 * MS));
    assert_pass(tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 21 * MS));
    /* Flood again, then let the half-open entries time out (20 s): it ends by itself. */
    for (int i = 0; i < 60; i++)
        tcp_out(f, 0, SERVER, sport++, 80, SYN, 0, t + 30 * MS);
    assert_int_equal(count_events(f, AUDIT_EV_SYN_FLOOD), 2);
    assert_int_equal(audit_tick(f->a, t + 25 * S), 0);
    assert_int_equal(count_events(f, AUDIT_EV_SYN_FLOOD_END), 2);
}

static void test_full_table_evicts_into_log(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    for (uint16_t i = 0; i < 40; i++)
        assert_pass(udp_out(f, 0, SERVER, (uint16_t)(20000 + i), 53, 10, t + i * MS));
    assert_int_equal(audit_flow_count(f->a), 16);
    struct audit_stats st;
    audit_get_stats(f->a, &st);
    assert_int_equal(st.flows_created, 40);
    assert_int_equal(st.flows_evicted, 24);
    assert_int_equal(audit_flush(f->a, t + S), 0);
    struct collect c;
    query_all(f, "alice", &c);
    assert_int_equal(c.n, 40);
    unsigned evicted = 0;
    for (unsigned i = 0; i < c.n; i++)
        evicted += c.e[i].rec.end_reason == FLOW_END_EVICTED;
    assert_int_equal(evicted, 24);
}

static void test_counters_for_what_is_not_a_flow(void **state)
{
    struct fixture *f = *state;
    uint8_t arp[64];
    size_t len = build_arp(arp, MAC_R, MAC_G, NET_ARP_REQUEST, MAC_G, IP_A, MAC_R, SERVER);
    struct audit_ctx ctx = {0, AUDIT_DIR_OUT};
    assert_pass(audit_frame(f->a, &ctx, arp, len, T0));
    assert_pass(audit_frame(f->a, &ctx, arp, 10, T0));
    struct audit_ctx unbound = {5, AUDIT_DIR_OUT}, out_of_range = {1000, AUDIT_DIR_OUT};
    assert_pass(audit_frame(f->a, &unbound, arp, len, T0));
    assert_pass(audit_frame(f->a, &out_of_range, arp, len, T0));
    struct audit_stats st;
    audit_get_stats(f->a, &st);
    assert_int_equal(st.not_ip, 1);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.unbound, 2);
    assert_int_equal(audit_flow_count(f->a), 0);
    assert_int_equal(audit_port_bind(f->a, 9, "x", "y", T0), -EINVAL);
    assert_int_equal(audit_port_bind(f->a, 3, "bad\nname", "y", T0), -EINVAL);
    assert_int_equal(audit_port_unbind(f->a, 4, T0), -EINVAL);
}

static void test_unbind_ends_flows_and_active_slices(void **state)
{
    struct fixture *f = *state;
    uint64_t t = T0;
    /* A UDP stream alive for 11 minutes is logged in 300 s slices. */
    for (int i = 0; i <= 660; i++) {
        assert_pass(udp_out(f, 1, SERVER, 7000, 7000, 100, t + (uint64_t)i * S));
        if (i % 10 == 0)
            assert_int_equal(audit_tick(f->a, t + (uint64_t)i * S + S / 2), 0);
    }
    assert_int_equal(audit_port_unbind(f->a, 1, t + 661 * S), 0);
    assert_int_equal(audit_flow_count(f->a), 0);
    assert_int_equal(audit_flush(f->a, t + 662 * S), 0);
    struct collect c;
    query_all(f, "alice", &c);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.e[0].rec.end_reason, FLOW_END_ACTIVE);
    assert_int_equal(c.e[1].rec.end_reason, FLOW_END_ACTIVE);
    assert_int_equal(c.e[2].rec.end_reason, FLOW_END_SHUTDOWN);
    assert_int_equal(c.e[0].rec.packets[0] + c.e[1].rec.packets[0] + c.e[2].rec.packets[0], 661);
}

static void test_ipfix_on_loopback(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char collector[32];
    snprintf(collector, sizeof(collector), "127.0.0.1:%u", ntohs(sa.sin_port));
    struct audit_config cfg = {.flow_capacity = 64, .max_ports = 4, .ipfix_collector = collector};
    struct audit *a;
    assert_int_equal(audit_create(&cfg, &a), 0);
    assert_int_equal(audit_port_bind(a, 0, "web1", "alice", T0), 0);
    uint8_t frame[FRAME_MAX];
    struct audit_ctx out = {0, AUDIT_DIR_OUT}, in = {0, AUDIT_DIR_IN};
    size_t len = build_udp4(frame, MAC_R, MAC_G, IP_A, SERVER, 5000, 53, 100);
    for (int i = 0; i < 3; i++)
        audit_frame(a, &out, frame, len, T0 + (uint64_t)i * MS);
    len = build_udp4(frame, MAC_G, MAC_R, SERVER, IP_A, 53, 5000, 400);
    audit_frame(a, &in, frame, len, T0 + 5 * MS);
    assert_int_equal(audit_flush(a, T0 + S), 0);

    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    uint8_t msg[2048];
    ssize_t n = recv(fd, msg, sizeof(msg), 0);
    assert_true(n > 16);
    assert_int_equal(msg[0] << 8 | msg[1], 10);
    assert_int_equal(msg[2] << 8 | msg[3], n);
    assert_int_equal(msg[8] | msg[9] | msg[10] | msg[11], 0); /* first sequence number */
    /* Template set first, then a data set of template 256 with two records. */
    assert_int_equal(msg[16] << 8 | msg[17], 2);
    size_t off = 16 + (size_t)(msg[18] << 8 | msg[19]);
    assert_int_equal(msg[off] << 8 | msg[off + 1], 256);
    size_t set_len = (size_t)(msg[off + 2] << 8 | msg[off + 3]);
    assert_int_equal(off + set_len, (size_t)n);
    const uint8_t *r = msg + off + 4;
    uint8_t src[4] = {10, 0, 0, 2}, dst[4] = {192, 0, 2, 1};
    assert_memory_equal(r, src, 4);
    assert_memory_equal(r + 4, dst, 4);
    assert_int_equal(r[8] << 8 | r[9], 5000);
    assert_int_equal(r[10] << 8 | r[11], 53);
    assert_int_equal(r[12], 17);
    uint64_t octets = 0, packets = 0;
    for (int i = 0; i < 8; i++) {
        octets = octets << 8 | r[14 + i];
        packets = packets << 8 | r[22 + i];
    }
    assert_int_equal(octets, 3 * 142);
    assert_int_equal(packets, 3);
    /* The strings at the end: "web1", "alice". */
    const uint8_t *strs = r + 8 + 6 + 8 + 8 + 8 + 8 + 4 + 1;
    assert_int_equal(strs[0], 4);
    assert_memory_equal(strs + 1, "web1", 4);
    assert_int_equal(strs[5], 5);
    assert_memory_equal(strs + 6, "alice", 5);
    /* The reverse direction follows: source is the server. */
    assert_memory_equal(strs + 11, dst, 4);
    assert_int_equal(audit_destroy(a, T0 + 2 * S), 0);
    close(fd);
    assert_int_equal(audit_create(&(struct audit_config){.ipfix_collector = "localhost:99"}, &a), -EINVAL);
}

/* IPv6: a UDP exchange is one flow with 16-byte addresses, logged and queried by address. */
static void test_ipv6_flow(void **state)
{
    struct fixture *f = *state;
    static const uint8_t G6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2}, R6[16] = {0x20, 0x01, 0x0d, 0xb8, 1, [15] = 9};
    struct audit_ctx out = {0, AUDIT_DIR_OUT}, in = {0, AUDIT_DIR_IN};
    size_t len = build_udp6(f->frame, MAC_R, MAC_G, G6, R6, 6000, 443, 1200);
    assert_pass(audit_frame(f->a, &out, f->frame, len, T0));
    len = build_udp6(f->frame, MAC_G, MAC_R, R6, G6, 443, 6000, 100);
    assert_pass(audit_frame(f->a, &in, f->frame, len, T0 + MS));
    assert_int_equal(audit_flow_count(f->a), 1);
    assert_int_equal(audit_flush(f->a, T0 + S), 0);
    struct collect c;
    memset(&c, 0, sizeof(c));
    struct flowlog_query q = {.domain = "web1", .since_ns = 1, .has_dst = true, .dst_family = 6};
    memcpy(q.dst, R6, 16);
    struct flowlog_query_stats st;
    assert_int_equal(flowlog_query_run(f->log, &q, collect_fn, &c, &st), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.e[0].rec.key.family, 6);
    assert_memory_equal(c.e[0].rec.key.local, G6, 16);
    assert_memory_equal(c.e[0].rec.key.remote, R6, 16);
    assert_int_equal(c.e[0].rec.bytes[0], 14 + 40 + 8 + 1200);
    assert_int_equal(c.e[0].rec.bytes[1], 14 + 40 + 8 + 100);
    /* The same address as IPv4-looking bytes is another flow's business. */
    memset(&c, 0, sizeof(c));
    q.dst_family = 4;
    assert_int_equal(flowlog_query_run(f->log, &q, collect_fn, &c, &st), 0);
    assert_int_equal(c.n, 0);
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* pcap-ng: the selected domain's frames only, each with its comment, in a well-formed file
 * (block lengths repeated at both ends, 4-byte alignment). */
static void test_capture_pcapng(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/cap.pcapng", f->dir);
    assert_int_equal(audit_load_rules_text(f->a, "deny tcp dport 23", "r"), 0);
    assert_int_equal(audit_capture_start(f->a, path, "web2", NULL, 0), 0);
    assert_int_equal(audit_capture_start(f->a, path, NULL, NULL, 0), -EBUSY);
    assert_pass(tcp_out(f, 0, SERVER, 40000, 80, SYN, 0, T0));
    assert_pass(tcp_out(f, 1, SERVER, 40001, 80, SYN, 0, T0 + 1));
    assert_pass(tcp_in(f, 1, SERVER, 40001, 80, SYN | ACK, 0, T0 + 2));
    assert_int_equal(tcp_out(f, 1, SERVER, 40002, 23, SYN, 0, T0 + 3).action, AUDIT_DROP);
    assert_pass(udp_out(f, 1, SERVER, 5000, 53, 1400, T0 + 4));
    assert_int_equal(audit_capture_stop(f->a), 0);
    assert_int_equal(audit_capture_stop(f->a), -EINVAL);
    struct audit_stats st;
    audit_get_stats(f->a, &st);
    assert_int_equal(st.captured, 4);

    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    size_t off = 0;
    unsigned epb = 0;
    char comments[4][128] = {{0}};
    uint32_t caplen[4] = {0}, origlen[4] = {0};
    while (off < n) {
        assert_true(n - off >= 12);
        uint32_t type = rd32(buf + off), len = rd32(buf + off + 4);
        assert_int_equal(len % 4, 0);
        assert_true(len >= 12 && off + len <= n);
        assert_int_equal(rd32(buf + off + len - 4), len);
        if (off == 0) {
            assert_int_equal(type, 0x0a0d0d0a);
            assert_int_equal(rd32(buf + 8), 0x1a2b3c4d);
        }
        if (type == 6) {
            assert_true(epb < 4);
            caplen[epb] = rd32(buf + off + 20);
            origlen[epb] = rd32(buf + off + 24);
            size_t opt = off + 28 + (caplen[epb] + 3) / 4 * 4;
            uint16_t code, olen;
            memcpy(&code, buf + opt, 2);
            memcpy(&olen, buf + opt + 2, 2);
            assert_int_equal(code, 1);
            memcpy(comments[epb], buf + opt + 4, olen < 127 ? olen : 127);
            epb++;
        }
        off += len;
    }
    assert_int_equal(off, n);
    assert_int_equal(epb, 4);
    assert_string_equal(comments[0], "domain=web2 sponsor=alice dir=out verdict=pass");
    assert_string_equal(comments[1], "domain=web2 sponsor=alice dir=in verdict=pass");
    assert_string_equal(comments[2], "domain=web2 sponsor=alice dir=out verdict=drop");
    assert_int_equal(caplen[0], 54);
    assert_int_equal(caplen[3], 256); /* cut at the snap length */
    assert_int_equal(origlen[3], 14 + 20 + 8 + 1400);
    /* An existing file is never overwritten. */
    assert_int_equal(audit_capture_start(f->a, path, NULL, NULL, 0), -EEXIST);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flow_accounting_and_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smtp_second_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_replaced_live_bad_file_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_symmetry_unanswered_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_symmetry_behaving_never_touched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_detected_and_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vertical_scan_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_by_silence_detected_at_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_flood_paced_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_table_evicts_into_log, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_counters_for_what_is_not_a_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unbind_ends_flows_and_active_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capture_pcapng, setup, teardown),
        cmocka_unit_test(test_ipfix_on_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
