/* xenod's API request bodies (src/daemon/api_body.c): each route's body checked whole, numbers
 * checked as the client sent them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "daemon/api_body.h"
#include "lib/err.h"

static json_t *body(const char *text)
{
    json_t *b;
    assert_int_equal(api_body_parse(text, strlen(text), &b), 0);
    return b;
}

static void parse_needs_an_object(void **state)
{
    (void)state;
    json_t *b;
    assert_int_equal(api_body_parse("", 0, &b), 0);
    assert_true(json_is_object(b) && json_object_size(b) == 0);
    json_decref(b);
    assert_int_equal(api_body_parse("[1]", 3, &b), -EINVAL);
    assert_int_equal(api_body_parse("{not", 4, &b), -EINVAL);
    assert_non_null(strstr(err_msg(), "not a JSON object"));
}

/* 4294967301 is 2^32 + 5: narrowed to int before the range check it passed as 5 s. */
static void shutdown_timeout_checked_before_narrowing(void **state)
{
    (void)state;
    int t, wait;
    json_t *b = body("{\"timeout_s\": 4294967301, \"wait\": true}");
    assert_int_equal(api_body_shutdown(b, &t, &wait), -EINVAL);
    json_decref(b);
    b = body("{\"timeout_s\": 20, \"wait\": true}");
    assert_int_equal(api_body_shutdown(b, &t, &wait), 0);
    assert_int_equal(t, 20);
    assert_int_equal(wait, 1);
    json_decref(b);
    b = body("{}");
    assert_int_equal(api_body_shutdown(b, &t, &wait), 0);
    assert_int_equal(t, API_SHUTDOWN_TIMEOUT_DEFAULT_S);
    json_decref(b);
}

static void migrate_and_net_qos_ranges(void **state)
{
    (void)state;
    const char *host;
    struct reg_migrate_opts mo;
    json_t *b = body("{\"host\": \"h:1\", \"bandwidth_mbps\": 4294967396}");
    assert_int_equal(api_body_migrate(b, &host, &mo), -EINVAL);
    json_decref(b);
    b = body("{\"host\": \"h:1\", \"bandwidth_mbps\": 100, \"max_downtime_ms\": null}");
    assert_int_equal(api_body_migrate(b, &host, &mo), 0);
    assert_string_equal(host, "h:1");
    assert_int_equal(mo.bandwidth_mbps, 100);
    assert_int_equal(mo.live, 1);
    json_decref(b);
    struct domain_bandwidth in, out;
    b = body("{\"inbound\": {\"average\": 1000, \"floor\": 5}}");
    assert_int_equal(api_body_net_qos(b, &in, &out), -EINVAL); /* floor is outbound only */
    json_decref(b);
    b = body("{\"outbound\": {\"average\": 1000, \"burst\": 64}, \"weight\": 1001}");
    assert_int_equal(api_body_net_qos(b, &in, &out), -EINVAL);
    json_decref(b);
    b = body("{\"outbound\": {\"average\": 1000, \"burst\": 64}, \"weight\": 7}");
    assert_int_equal(api_body_net_qos(b, &in, &out), 0);
    assert_int_equal(out.average, 1000000);
    assert_int_equal(out.burst, 64 * 1024);
    assert_int_equal(out.weight, 7);
    assert_false(in.given);
    json_decref(b);
}

/* disk-qos: libvirt's names, weight and reservation into given values; merged into a disk as
 * virsh blkdeviotune does (given values replace, 0 removes, the others stay); libvirt's
 * combination rules refuse the merge with the disk unchanged. */
static void disk_qos_words_and_merge(void **state)
{
    (void)state;
    struct domain_disk_qos q;
    json_t *b = body("{\"total_iops_sec\": 500, \"read_bytes_sec_max_length\": 3}");
    assert_int_equal(api_body_disk_qos(b, &q), 0);
    assert_int_equal(q.iotune[IOTUNE_TOTAL_IOPS], 500);
    assert_int_equal(q.iotune[IOTUNE_READ_BYTES_MAX_LENGTH], 3);
    assert_int_equal(q.given, (1u << IOTUNE_TOTAL_IOPS) | (1u << IOTUNE_READ_BYTES_MAX_LENGTH));
    json_decref(b);
    const char *bad[] = {"{\"total_iops\": 5}",
                         "{\"total_iops_sec\": -1}",
                         "{\"total_iops_sec\": \"5\"}",
                         "{\"weight\": 99}",
                         "{\"weight\": 1001}",
                         "{\"reservation\": 100000001}",
                         "{\"total_bytes_sec\": 9007199254740993}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = body(bad[i]);
        assert_int_equal(api_body_disk_qos(b, &q), -EINVAL);
        json_decref(b);
    }
    b = body("{}");
    assert_int_equal(api_body_disk_qos(b, &q), 0);
    assert_int_equal(q.given, 0);
    json_decref(b);

    struct domain_disk d = {.iotune = {[IOTUNE_TOTAL_IOPS] = 100, [IOTUNE_READ_BYTES] = 7}, .reservation = 9};
    uint32_t weight = 300;
    b = body("{\"total_iops_sec\": 0, \"read_iops_sec\": 50, \"weight\": 0}");
    assert_int_equal(api_body_disk_qos(b, &q), 0);
    assert_int_equal(domain_disk_qos_merge(&q, &d, &weight), 0);
    assert_int_equal(d.iotune[IOTUNE_TOTAL_IOPS], 0);
    assert_int_equal(d.iotune[IOTUNE_READ_IOPS], 50);
    assert_int_equal(d.iotune[IOTUNE_READ_BYTES], 7); /* not given: kept */
    assert_int_equal(d.reservation, 9);
    assert_int_equal(weight, 0);
    json_decref(b);
    struct domain_disk before = d;
    b = body("{\"total_iops_sec\": 10, \"reservation\": 1}"); /* total with read: libvirt refuses */
    assert_int_equal(api_body_disk_qos(b, &q), 0);
    assert_int_equal(domain_disk_qos_merge(&q, &d, &weight), -EINVAL);
    assert_memory_equal(&d, &before, sizeof(d));
    json_decref(b);
    b = body("{\"read_iops_sec_max\": 20}"); /* a burst below its average */
    assert_int_equal(api_body_disk_qos(b, &q), 0);
    assert_int_equal(domain_disk_qos_merge(&q, &d, &weight), -EINVAL);
    json_decref(b);
}

/* A sched body with one bad field changes nothing, even the good fields before it. */
static void sched_all_or_nothing(void **state)
{
    (void)state;
    struct sched_params p = {.reservation_ppm = 1, .limit_ppm = 2, .weight = 3, .period_us = 4}, before = p;
    json_t *b = body("{\"weight\": 9, \"limit_percent\": -1}");
    assert_int_equal(api_body_sched(b, &p), -EINVAL);
    assert_memory_equal(&p, &before, sizeof(p));
    json_decref(b);
    b = body("{\"weight\": 9, \"reservation_percent\": 12.5, \"limit_percent\": null}");
    assert_int_equal(api_body_sched(b, &p), 0);
    assert_int_equal(p.weight, 9);
    assert_int_equal(p.reservation_ppm, 125000);
    assert_int_equal(p.limit_ppm, 0);
    json_decref(b);
}

/* A snapshot file is "path" (the operator's) or "snapshot" (a sponsor's name): exactly one. */
static void save_and_restore_path_or_snapshot(void **state)
{
    (void)state;
    static const char *const bad[] = {"{}", "{\"path\": \"/a\", \"snapshot\": \"s\"}", "{\"snapshot\": 3}",
                                      "{\"path\": null}"};
    struct api_body_save s;
    struct api_body_restore r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = body(bad[i]);
        assert_int_equal(api_body_save(b, &s), -EINVAL);
        assert_int_equal(api_body_restore(b, &r), -EINVAL);
        json_decref(b);
    }
    json_t *b = body("{\"snapshot\": \"s1\", \"keep_running\": true, \"name\": \"copy\"}");
    assert_int_equal(api_body_save(b, &s), 0);
    assert_true(s.path == NULL && strcmp(s.snapshot, "s1") == 0 && s.keep_running);
    assert_int_equal(api_body_restore(b, &r), 0);
    assert_true(r.path == NULL && strcmp(r.snapshot, "s1") == 0 && strcmp(r.name, "copy") == 0);
    json_decref(b);
    b = body("{\"path\": \"/x/y\"}");
    assert_int_equal(api_body_save(b, &s), 0);
    assert_true(strcmp(s.path, "/x/y") == 0 && s.snapshot == NULL);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_needs_an_object),      cmocka_unit_test(shutdown_timeout_checked_before_narrowing),
        cmocka_unit_test(migrate_and_net_qos_ranges), cmocka_unit_test(disk_qos_words_and_merge),
        cmocka_unit_test(sched_all_or_nothing),       cmocka_unit_test(save_and_restore_path_or_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
