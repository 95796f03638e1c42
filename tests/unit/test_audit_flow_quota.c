/* Issue 14 item 6: one domain must not make another domain's flows expensive to find or push
 * them out of the audit engine's table. The attacker's flows are built so that they all share
 * one slot under the flow table's old fixed, public hash (computed here from its algebra:
 * old_hash below is that function); the cost of the victim's lookup is counted in slots
 * examined (flow_table.probes), never in time. And a domain at its flow quota ends its own
 * oldest flows, never another domain's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "audit/audit_engine.h"
#include "audit/flow_table.h"
#include "net_frames.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1764144000ull * S)

static const uint8_t MAC_G[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
static const uint8_t MAC_R[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0xfe};
#define IP_ATTACKER 0x0a000002u /* port 0 */
#define IP_VICTIM 0x0a000003u   /* port 1 */
#define VICTIM_DST 0xc0000201u  /* 192.0.2.1 */

/* The table's hash before issue 14: fixed constants, no key. */
static uint64_t old_hash(const struct flow_key *k)
{
    const uint8_t *p = (const uint8_t *)k;
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

/* The key audit.c makes for a UDP frame the domain on `port` sends. */
static struct flow_key udp_key(uint16_t port, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    struct flow_key k;
    memset(&k, 0, sizeof(k));
    k.family = 4;
    k.proto = 17;
    k.port = port;
    put32(k.local, src);
    put32(k.remote, dst);
    k.lport = sport;
    k.rport = dport;
    return k;
}

static struct audit_verdict udp_out(struct audit *a, uint32_t port, uint32_t src, uint32_t dst, uint16_t sport,
                                    uint16_t dport, uint64_t t)
{
    static uint8_t frame[FRAME_MAX];
    size_t len = build_udp4(frame, MAC_R, MAC_G, src, dst, sport, dport, 10);
    struct audit_ctx ctx = {port, AUDIT_DIR_OUT};
    return audit_frame(a, &ctx, frame, len, t);
}

static struct audit *engine(uint32_t capacity, uint32_t quota)
{
    struct audit_config cfg = {.flow_capacity = capacity, .max_ports = 4, .flow_quota = quota};
    struct audit *a;
    assert_int_equal(audit_create(&cfg, &a), 0);
    assert_int_equal(audit_port_bind(a, 0, "attacker", "mallory", T0), 0);
    assert_int_equal(audit_port_bind(a, 1, "victim", "alice", T0), 0);
    return a;
}

static uint32_t live_flows_of_port(const struct audit *a, uint16_t port)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->ft.capacity; i++)
        n += a->ft.entries[i].in_use && a->ft.entries[i].rec.key.port == port;
    return n;
}

/* The attacker's flows that share the victim's flow's home slot under the old hash (a table
 * of 4096 entries had 8192 slots): the guest picks remote addresses and ports until they do. */
static unsigned colliding_flows(const struct flow_key *victim, uint32_t *dst, uint16_t *dport, unsigned want)
{
    uint32_t target = (uint32_t)(old_hash(victim) >> 32) & 8191;
    unsigned n = 0;
    for (uint32_t i = 0; n < want; i++) {
        uint32_t d = 0xc6000000u + (i >> 10);
        uint16_t dp = (uint16_t)(1024 + (i & 1023));
        struct flow_key k = udp_key(0, IP_ATTACKER, d, 4000, dp);
        if (((uint32_t)(old_hash(&k) >> 32) & 8191) == target) {
            dst[n] = d;
            dport[n] = dp;
            n++;
        }
    }
    return n;
}

static void test_lookup_of_other_domain_bounded_under_old_hash_collisions(void **state)
{
    (void)state;
    enum { N = 600 };
    struct audit *a = engine(4096, 1024);
    struct flow_key vk = udp_key(1, IP_VICTIM, VICTIM_DST, 5000, 53);
    static uint32_t dst[N];
    static uint16_t dport[N];
    assert_int_equal(colliding_flows(&vk, dst, dport, N), N);
    uint64_t t = T0;
    for (unsigned i = 0; i < N; i++)
        udp_out(a, 0, IP_ATTACKER, dst[i], 4000, dport[i], t + i * MS);
    assert_int_equal(live_flows_of_port(a, 0), N);
    /* The victim's first packet makes its flow; its next ones look it up. */
    udp_out(a, 1, IP_VICTIM, VICTIM_DST, 5000, 53, t + N * MS);
    uint64_t before = a->ft.probes;
    for (unsigned i = 0; i < 10; i++)
        udp_out(a, 1, IP_VICTIM, VICTIM_DST, 5000, 53, t + (N + 1 + i) * MS);
    uint64_t per_lookup = (a->ft.probes - before) / 10;
    print_message("slots examined per lookup of the victim's flow: %llu\n", (unsigned long long)per_lookup);
    assert_true(per_lookup <= FLOW_TABLE_MAX_PROBES);
    assert_int_equal(live_flows_of_port(a, 1), 1);
    assert_int_equal(audit_destroy(a, t + 100 * S), 0);
}

/* A table of 512 flows, a quota of 256: the attacker opens 1000 flows, the victim keeps its
 * 100 and the attacker holds at most its quota, its excess ended (and logged) as evicted. */
static void test_quota_evicts_own_flows_never_another_domains(void **state)
{
    (void)state;
    struct audit *a = engine(512, 256);
    uint64_t t = T0;
    for (uint16_t i = 0; i < 100; i++)
        udp_out(a, 1, IP_VICTIM, VICTIM_DST, (uint16_t)(5000 + i), 53, t + i * MS);
    for (uint32_t i = 0; i < 1000; i++)
        udp_out(a, 0, IP_ATTACKER, 0xc6000000u + i, 4000, 53, t + (100 + i) * MS);
    assert_int_equal(live_flows_of_port(a, 1), 100);
    assert_int_equal(live_flows_of_port(a, 0), 256);
    struct audit_stats st;
    audit_get_stats(a, &st);
    assert_int_equal(st.flows_evicted, 1000 - 256);
    assert_int_equal(st.flows_over_quota, 1000 - 256);
    /* Every one of the victim's flows is still the one it had: its next packets find them. */
    uint64_t created = st.flows_created;
    for (uint16_t i = 0; i < 100; i++)
        udp_out(a, 1, IP_VICTIM, VICTIM_DST, (uint16_t)(5000 + i), 53, t + 2 * S + i * MS);
    audit_get_stats(a, &st);
    assert_int_equal(st.flows_created, created);
    assert_int_equal(audit_destroy(a, t + 100 * S), 0);
}

/* The default quota (flow_quota 0) is an eighth of the table. */
static void test_default_quota(void **state)
{
    (void)state;
    struct audit *a = engine(1024, 0);
    for (uint32_t i = 0; i < 400; i++)
        udp_out(a, 0, IP_ATTACKER, 0xc6000000u + i, 4000, 53, T0 + i * MS);
    assert_int_equal(live_flows_of_port(a, 0), 1024 / 8);
    assert_int_equal(audit_destroy(a, T0 + 100 * S), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_of_other_domain_bounded_under_old_hash_collisions),
        cmocka_unit_test(test_quota_evicts_own_flows_never_another_domains),
        cmocka_unit_test(test_default_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
