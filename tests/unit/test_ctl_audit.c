/* `xenctl audit`'s pure pieces (src/ctl/cmd_audit.c): time and address options, and how a
 * flow prints as a line and as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ctl/audit_view.h"
#include "lib/err.h"

static void test_parse_time(void **state)
{
    (void)state;
    uint64_t ns;
    assert_int_equal(ctl_audit_parse_time("1764144000", &ns), 0);
    assert_int_equal(ns, 1764144000000000000ull);
    assert_int_equal(ctl_audit_parse_time("1764144000.25", &ns), 0);
    assert_int_equal(ns, 1764144000250000000ull);
    assert_int_equal(ctl_audit_parse_time("2025-11-26T08:00:00Z", &ns), 0);
    assert_int_equal(ns, 1764144000000000000ull);
    assert_int_equal(ctl_audit_parse_time("2025-11-26T08:00:01.5Z", &ns), 0);
    assert_int_equal(ns, 1764144001500000000ull);
    assert_int_equal(ctl_audit_parse_time("2025-11-26T08:00:00", &ns), 0);
    assert_int_equal(ctl_audit_parse_time("2025-11-26T08:00:00+01:00", &ns), -EINVAL);
    assert_non_null(strstr(err_msg(), "only UTC"));
    assert_int_equal(ctl_audit_parse_time("yesterday", &ns), -EINVAL);
    assert_int_equal(ctl_audit_parse_time("12abc", &ns), -EINVAL);
    assert_int_equal(ctl_audit_parse_time("2025-11-26T08:00:00.Z", &ns), -EINVAL);
}

static void test_parse_addr(void **state)
{
    (void)state;
    uint8_t fam, a[16];
    assert_int_equal(ctl_audit_parse_addr("192.0.2.25", &fam, a), 0);
    assert_int_equal(fam, 4);
    assert_int_equal(a[0], 192);
    assert_int_equal(a[3], 25);
    assert_int_equal(a[4], 0);
    assert_int_equal(ctl_audit_parse_addr("2001:db8::1", &fam, a), 0);
    assert_int_equal(fam, 6);
    assert_int_equal(a[15], 1);
    assert_int_equal(ctl_audit_parse_addr("192.0.2", &fam, a), -EINVAL);
    assert_non_null(strstr(err_msg(), "address '192.0.2'"));
}

static void test_format_flow(void **state)
{
    (void)state;
    struct flowlog_entry e = {0};
    e.domain = "web2";
    e.sponsor = "alice";
    struct flow_record *r = &e.rec;
    r->key.family = 4;
    r->key.proto = 6;
    uint8_t l[4] = {10, 0, 0, 3}, rm[4] = {192, 0, 2, 25};
    memcpy(r->key.local, l, 4);
    memcpy(r->key.remote, rm, 4);
    r->key.lport = 41000;
    r->key.rport = 25;
    r->key.port = 1;
    r->packets[0] = 2;
    r->bytes[0] = 108;
    r->tcp_flags[0] = 0x02;
    r->flags = FLOW_F_DROPPED;
    r->end_reason = FLOW_END_IDLE;
    r->start_ns = 1764144012000000000ull;
    r->end_ns = r->start_ns + 1500000000ull;
    char line[512];
    ctl_audit_format_flow(&e, line, sizeof(line));
    assert_string_equal(line, "2025-11-26T08:00:12.000Z 1.500s tcp 10.0.0.3:41000 -> 192.0.2.25:25 out pkts 2/0 "
                              "bytes 108/0 flags S/- domain=web2 sponsor=alice port=1 end=idle dropped");
    /* Opened by the remote: it is the source. */
    r->dir = 1;
    r->flags = 0;
    ctl_audit_format_flow(&e, line, sizeof(line));
    assert_non_null(strstr(line, " tcp 192.0.2.25:25 -> 10.0.0.3:41000 in "));
    json_t *j = ctl_audit_flow_json(&e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sponsor")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "direction")), "in");
    assert_int_equal(json_integer_value(json_object_get(j, "start_ms")), 1764144012000);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes_out")), 108);
    assert_string_equal(json_string_value(json_object_get(j, "remote")), "192.0.2.25");
    json_decref(j);
    /* IPv6 ICMP echo. */
    memset(r->key.local, 0, 16);
    memset(r->key.remote, 0, 16);
    r->key.family = 6;
    r->key.proto = 58;
    r->key.remote[0] = 0x20, r->key.remote[1] = 0x01, r->key.remote[15] = 9;
    r->key.local[0] = 0x20, r->key.local[1] = 0x01, r->key.local[15] = 2;
    r->key.rport = 128 << 8;
    r->key.lport = 0;
    r->dir = 0;
    ctl_audit_format_flow(&e, line, sizeof(line));
    assert_non_null(strstr(line, " icmp6 2001::2 -> 2001::9 (type 128 code 0) out "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_format_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
