/* The rule language (src/audit/rules.c): every form parses to what it says, every mistake
 * is reported with its line and column, and the limits count per sponsor or per domain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "audit/rules.h"
#include "lib/err.h"

#define S 1000000000ull

static void test_parse_forms(void **state)
{
    (void)state;
    struct audit_ruleset rs;
    const char *text = "# comment line\n"
                       "limit tcp dport 25 new 1/10s per sponsor action drop\n"
                       "\n"
                       "limit udp new 100/s per domain   # trailing comment\n"
                       "deny tcp dport 23\n"
                       "deny tcp dport 6000-6063 dst 192.0.2.0/24 action throttle\n"
                       "log icmp\n"
                       "limit any new 5/m per domain burst 10 action log\n";
    assert_int_equal(audit_rules_parse(text, "r.conf", 16, &rs), 0);
    assert_int_equal(rs.n, 6);
    const struct audit_rule *r = rs.rules;
    assert_int_equal(r[0].kind, AUDIT_RULE_LIMIT);
    assert_int_equal(r[0].proto, 6);
    assert_int_equal(r[0].dport_lo, 25);
    assert_int_equal(r[0].dport_hi, 25);
    assert_int_equal(r[0].interval_ns, 10 * S);
    assert_int_equal(r[0].tolerance_ns, 0);
    assert_int_equal(r[0].key, AUDIT_KEY_SPONSOR);
    assert_int_equal(r[0].action, AUDIT_RULE_DROP);
    assert_int_equal(r[0].line, 2);
    assert_string_equal(r[0].text, "limit tcp dport 25 new 1/10s per sponsor action drop");
    assert_int_equal(r[1].interval_ns, S / 100);
    assert_int_equal(r[1].tolerance_ns, 99 * (S / 100));
    assert_int_equal(r[1].key, AUDIT_KEY_DOMAIN);
    assert_int_equal(r[1].line, 4);
    assert_int_equal(r[2].kind, AUDIT_RULE_DENY);
    assert_int_equal(r[3].dport_lo, 6000);
    assert_int_equal(r[3].dport_hi, 6063);
    assert_true(r[3].has_dst);
    assert_int_equal(r[3].dst_net, 0xc0000200);
    assert_int_equal(r[3].dst_mask, 0xffffff00);
    assert_int_equal(r[3].action, AUDIT_RULE_THROTTLE);
    assert_int_equal(r[4].kind, AUDIT_RULE_LOG);
    assert_int_equal(r[4].proto, 1);
    assert_int_equal(r[5].proto, 0);
    assert_int_equal(r[5].interval_ns, 12 * S);
    assert_int_equal(r[5].tolerance_ns, 9 * 12 * S);
    assert_int_equal(r[5].action, AUDIT_RULE_LOG_ONLY);
    audit_rules_free(&rs);
}

static void expect_error(const char *text, const char *want)
{
    struct audit_ruleset rs;
    assert_int_equal(audit_rules_parse(text, "f", 4, &rs), -EINVAL);
    if (strcmp(err_msg(), want) != 0)
        fail_msg("for '%s'\n got: %s\nwant: %s", text, err_msg(), want);
}

static void test_errors_name_line_and_column(void **state)
{
    (void)state;
    expect_error("allow tcp", "f:1:1: expected a rule: deny, limit or log, got 'allow'");
    expect_error("\n\nlimit tcp dport 25 1/10s per sponsor",
                 "f:3:20: expected 'new' (limit ... new RATE per sponsor|domain), got '1/10s'");
    expect_error("limit tcp dport 25 new 1/10x per sponsor", "f:1:28: expected a time unit ms, s, m or h, got '1/10x'");
    expect_error("limit tcp new 0/s per domain", "f:1:15: expected a rate COUNT/PERIOD (1/10s, 100/s, 5/m), got '0/s'");
    expect_error("limit tcp new 1/s per ip",
                 "f:1:23: expected 'sponsor' or 'domain' (rules are never keyed by address), got 'ip'");
    expect_error("limit tcp new 1/s per",
                 "f:1:22: expected 'sponsor' or 'domain' (rules are never keyed by address), got end of line");
    expect_error("deny tcp dport 70000", "f:1:16: expected a port 0-65535 or a range LO-HI, got '70000'");
    expect_error("deny tcp dport 30-20", "f:1:16: expected a port 0-65535 or a range LO-HI, got '30-20'");
    expect_error("deny icmp dport 5", "f:1:11: expected 'tcp' or 'udp' before 'dport', got 'dport'");
    expect_error("deny tcp dst 10.0.0.0/33",
                 "f:1:14: expected an IPv4 address or prefix (192.0.2.0/24), got '10.0.0.0/33'");
    expect_error("deny tcp dport 23 action reject", "f:1:26: expected an action: drop, throttle or log, got 'reject'");
    expect_error("deny tcp dport 23 extra", "f:1:19: expected 'action' or end of line, got 'extra'");
    expect_error("log udp action drop", "f:1:9: expected end of line, got 'action'");
    expect_error("deny tcp\tdport\x01", "f:1:15: unexpected byte 0x01");
}

static struct audit_rule_match smtp(uint32_t sponsor, uint32_t domain)
{
    return (struct audit_rule_match){
        .proto = 6, .dport = 25, .ipv4 = true, .dst = 0xc0000201, .sponsor_id = sponsor, .domain_id = domain};
}

static void test_limit_per_sponsor(void **state)
{
    (void)state;
    struct audit_ruleset rs;
    assert_int_equal(audit_rules_parse("limit tcp dport 25 new 1/10s per sponsor", "f", 4, &rs), 0);
    struct audit_rule_result res;
    struct audit_rule_match m = smtp(1, 1);
    uint64_t t = 100 * S;
    audit_rules_check(&rs, &m, t, &res);
    assert_int_equal(res.refused, -1);
    /* A second connection within 10 s, from another domain of the same sponsor: refused. */
    m = smtp(1, 2);
    audit_rules_check(&rs, &m, t + 3 * S, &res);
    assert_int_equal(res.refused, 0);
    assert_int_equal(res.action, AUDIT_RULE_DROP);
    /* Another sponsor is not affected; nor is other traffic. */
    m = smtp(2, 3);
    audit_rules_check(&rs, &m, t + 3 * S, &res);
    assert_int_equal(res.refused, -1);
    m = smtp(1, 1);
    m.dport = 80;
    audit_rules_check(&rs, &m, t + 4 * S, &res);
    assert_int_equal(res.refused, -1);
    /* Ten seconds after the first, the sponsor may again. */
    m = smtp(1, 1);
    audit_rules_check(&rs, &m, t + 10 * S, &res);
    assert_int_equal(res.refused, -1);
    audit_rules_free(&rs);
}

static void test_limit_rate_and_throttle_retry(void **state)
{
    (void)state;
    struct audit_ruleset rs;
    assert_int_equal(audit_rules_parse("limit udp new 100/s per domain action throttle", "f", 4, &rs), 0);
    struct audit_rule_result res;
    struct audit_rule_match m = {.proto = 17, .dport = 53, .domain_id = 2};
    uint64_t t = 50 * S;
    unsigned ok = 0;
    for (int i = 0; i < 150; i++) {
        audit_rules_check(&rs, &m, t, &res);
        ok += res.refused < 0;
    }
    assert_int_equal(ok, 100); /* the burst */
    audit_rules_check(&rs, &m, t, &res);
    assert_int_equal(res.action, AUDIT_RULE_THROTTLE);
    assert_int_equal(res.retry_ns, t + S / 100);
    /* Over one second at the rate, 100 more get through, not more. */
    ok = 0;
    for (int i = 1; i <= 1000; i++) {
        audit_rules_check(&rs, &m, t + (uint64_t)i * S / 1000, &res);
        ok += res.refused < 0;
    }
    assert_int_equal(ok, 100);
    audit_rules_free(&rs);
}

static void test_deny_and_log(void **state)
{
    (void)state;
    struct audit_ruleset rs;
    assert_int_equal(
        audit_rules_parse("log tcp dport 22\ndeny tcp dport 23\nlimit tcp new 1/h per domain action log", "f", 4, &rs),
        0);
    struct audit_rule_result res;
    struct audit_rule_match m = {.proto = 6, .dport = 23, .domain_id = 1};
    audit_rules_check(&rs, &m, S, &res);
    assert_int_equal(res.refused, 1);
    assert_int_equal(res.action, AUDIT_RULE_DROP);
    m.dport = 22;
    audit_rules_check(&rs, &m, S, &res);
    assert_int_equal(res.refused, -1);
    assert_int_equal(res.nlogged, 1);
    assert_int_equal(res.logged[0], 0);
    /* Over the hourly limit with action log: passes, logged. */
    audit_rules_check(&rs, &m, 2 * S, &res);
    assert_int_equal(res.refused, -1);
    assert_int_equal(res.nlogged, 2);
    assert_int_equal(res.logged[1], 2);
    /* IPv6 never matches a dst prefix. */
    audit_rules_free(&rs);
    assert_int_equal(audit_rules_parse("deny any dst 10.0.0.0/8", "f", 4, &rs), 0);
    struct audit_rule_match v6 = {.proto = 17, .ipv4 = false, .dst = 0x0a000001};
    audit_rules_check(&rs, &v6, S, &res);
    assert_int_equal(res.refused, -1);
    v6.ipv4 = true;
    audit_rules_check(&rs, &v6, S, &res);
    assert_int_equal(res.refused, 0);
    audit_rules_free(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),       cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_limit_per_sponsor), cmocka_unit_test(test_limit_rate_and_throttle_retry),
        cmocka_unit_test(test_deny_and_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
