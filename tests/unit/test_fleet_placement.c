/* The placement policy (src/fleet/placement.c) and the fleet's records (src/fleet/fleet_model.c):
 * eligibility by admission and memory, draining hosts, binpack against spread, anti-affinity of
 * a sponsor's domains, and records from etcd that are refused. No etcd: pure code. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fleet/fleet_model.h"
#include "fleet/placement.h"
#include "lib/err.h"

static struct fleet_host host(const char *name, unsigned cpus, uint64_t claimed_ppm)
{
    struct fleet_host h;
    memset(&h, 0, sizeof(h));
    snprintf(h.name, sizeof(h.name), "%s", name);
    snprintf(h.advertise, sizeof(h.advertise), "unix:/run/%s.sock", name);
    h.cpus = cpus;
    h.headroom_ppm = 100000; /* 10%: capacity 0.9 CPU per CPU */
    h.mem_mib = 4096;
    h.claimed_ppm = claimed_ppm;
    return h;
}

static const struct placement_request half = {"d", "", 500000, 1, 64}; /* 50% of one CPU */

static void binpack_fills_the_fullest_host_that_fits(void **state)
{
    (void)state;
    struct fleet_host hs[3] = {host("a", 2, 0), host("b", 2, 1000000), host("c", 2, 1500000)};
    /* capacity 1.8 CPU: c has 0.3 left (50% does not fit), b 0.8 (fits, 0.3 left after). */
    assert_int_equal(placement_choose(hs, 3, NULL, &half, PLACEMENT_BINPACK), 1);
}

static void spread_takes_the_emptiest_share(void **state)
{
    (void)state;
    struct fleet_host hs[3] = {host("a", 2, 900000), host("b", 4, 900000), host("c", 2, 1000000)};
    /* after the claim: a 0.4/1.8, b 2.2/3.6, c 0.3/1.8 left: b has the largest share. */
    assert_int_equal(placement_choose(hs, 3, NULL, &half, PLACEMENT_SPREAD), 1);
    /* equal shares: the host with fewer domains, then the name */
    struct fleet_host eq[2] = {host("x", 2, 0), host("y", 2, 0)};
    eq[0].claimed_domains = 1;
    assert_int_equal(placement_choose(eq, 2, NULL, &half, PLACEMENT_SPREAD), 1);
    eq[0].claimed_domains = 0;
    assert_int_equal(placement_choose(eq, 2, NULL, &half, PLACEMENT_SPREAD), 0);
}

static void draining_and_full_hosts_are_never_chosen(void **state)
{
    (void)state;
    struct fleet_host hs[2] = {host("a", 2, 0), host("b", 1, 600000)};
    hs[0].state = FLEET_DRAINING;
    int rc = placement_choose(hs, 2, NULL, &half, PLACEMENT_BINPACK);
    assert_int_equal(rc, -ENOSPC);
    assert_non_null(strstr(err_msg(), "a: draining"));
    assert_non_null(strstr(err_msg(), "b: "));
    assert_int_equal(placement_choose(hs, 0, NULL, &half, PLACEMENT_BINPACK), -ENOSPC);
    assert_non_null(strstr(err_msg(), "no host in the fleet"));
}

static void held_reservations_count_like_claims(void **state)
{
    (void)state;
    /* b's xenod holds 1.5 CPU through domains created on it directly: it is nearly full. */
    struct fleet_host hs[2] = {host("a", 2, 1000000), host("b", 2, 0)};
    hs[1].held_ppm = 1500000;
    assert_int_equal(placement_choose(hs, 2, NULL, &half, PLACEMENT_BINPACK), 0);
}

static void memory_must_fit(void **state)
{
    (void)state;
    struct fleet_host hs[2] = {host("a", 8, 0), host("b", 8, 0)};
    hs[0].claimed_mib = 4096 - 63; /* 63 MiB left, 64 wanted */
    assert_int_equal(placement_choose(hs, 2, NULL, &half, PLACEMENT_BINPACK), 1);
    hs[1].mem_mib = 10;
    assert_int_equal(placement_choose(hs, 2, NULL, &half, PLACEMENT_BINPACK), -ENOSPC);
    assert_non_null(strstr(err_msg(), "MiB of memory free"));
}

static void one_sponsor_spreads_before_binpacking(void **state)
{
    (void)state;
    struct fleet_host hs[3] = {host("a", 4, 2000000), host("b", 4, 0), host("c", 4, 0)};
    const unsigned count[3] = {1, 0, 1};
    struct placement_request r = half;
    r.sponsor = "acme";
    /* binpack alone would pick a; the sponsor already has a domain on a and on c. */
    assert_int_equal(placement_choose(hs, 3, count, &r, PLACEMENT_BINPACK), 1);
    /* when the only host without one is full, the sponsor still gets a host */
    hs[1].claimed_ppm = 3600000;
    assert_int_equal(placement_choose(hs, 3, count, &r, PLACEMENT_BINPACK), 0);
}

static void a_reservation_no_host_can_hold_is_refused(void **state)
{
    (void)state;
    struct fleet_host hs[1] = {host("a", 1, 0)};
    struct placement_request r = {"big", "", 950000, 1, 64}; /* above 1 x 90% */
    assert_int_equal(placement_choose(hs, 1, NULL, &r, PLACEMENT_BINPACK), -ENOSPC);
    r.reservation_ppm = 0; /* no reservation: always fits the CPU */
    assert_int_equal(placement_choose(hs, 1, NULL, &r, PLACEMENT_BINPACK), 0);
}

static void policy_names(void **state)
{
    (void)state;
    enum placement_policy p;
    assert_int_equal(placement_policy_parse("spread", &p), 0);
    assert_int_equal(p, PLACEMENT_SPREAD);
    assert_int_equal(placement_policy_parse("binpack", &p), 0);
    assert_int_equal(p, PLACEMENT_BINPACK);
    assert_int_equal(placement_policy_parse("random", &p), -EINVAL);
}

static void host_records_round_trip_and_bad_ones_are_refused(void **state)
{
    (void)state;
    struct fleet_host h = host("node-1", 16, 250000), back;
    h.held_ppm = 100000;
    h.state = FLEET_DRAINING;
    snprintf(h.version, sizeof(h.version), "0.1.0");
    char *text = fleet_host_format(&h);
    assert_non_null(text);
    assert_int_equal(fleet_host_parse(text, strlen(text), "/xeno/hosts/node-1", &back), 0);
    assert_string_equal(back.name, "node-1");
    assert_int_equal(back.cpus, 16);
    assert_int_equal(back.claimed_ppm, 250000);
    assert_int_equal(back.held_ppm, 100000);
    assert_int_equal(back.state, FLEET_DRAINING);
    assert_string_equal(back.migrate, "");
    free(text);
    snprintf(h.migrate, sizeof(h.migrate), "10.0.0.1:7430");
    text = fleet_host_format(&h);
    assert_non_null(text);
    assert_int_equal(fleet_host_parse(text, strlen(text), "/xeno/hosts/node-1", &back), 0);
    assert_string_equal(back.migrate, "10.0.0.1:7430");
    /* a record under another host's key */
    assert_int_equal(fleet_host_parse(text, strlen(text), "/xeno/hosts/node-2", &back), -EINVAL);
    free(text);
    static const char *const bad[] = {
        "not json",
        "{\"name\":\"a\",\"advertise\":\"http://x\",\"version\":\"\",\"state\":\"active\",\"cpus\":1,"
        "\"headroom_ppm\":0,\"mem_mib\":1,\"held_ppm\":0,\"claimed_ppm\":0,\"claimed_mib\":0,\"claimed_domains\":0}",
        "{\"name\":\"a\",\"advertise\":\"unix:/x\",\"version\":\"\",\"state\":\"gone\",\"cpus\":1,"
        "\"headroom_ppm\":0,\"mem_mib\":1,\"held_ppm\":0,\"claimed_ppm\":0,\"claimed_mib\":0,\"claimed_domains\":0}",
        "{\"name\":\"a\",\"advertise\":\"unix:/x\",\"version\":\"\",\"state\":\"active\",\"cpus\":-1,"
        "\"headroom_ppm\":0,\"mem_mib\":1,\"held_ppm\":0,\"claimed_ppm\":0,\"claimed_mib\":0,\"claimed_domains\":0}",
        "{\"name\":\"a\",\"advertise\":\"unix:/x\",\"version\":\"\",\"state\":\"active\",\"cpus\":1,\"migrate\":\"x "
        "y:1\","
        "\"headroom_ppm\":0,\"mem_mib\":1,\"held_ppm\":0,\"claimed_ppm\":0,\"claimed_mib\":0,\"claimed_domains\":0}",
        "{\"name\":\"a\\n\",\"advertise\":\"unix:/x\",\"version\":\"\",\"state\":\"active\",\"cpus\":1,"
        "\"headroom_ppm\":0,\"mem_mib\":1,\"held_ppm\":0,\"claimed_ppm\":0,\"claimed_mib\":0,\"claimed_domains\":0}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fleet_host_parse(bad[i], strlen(bad[i]), "/xeno/hosts/a", &back), -EINVAL);
}

static void domain_records_round_trip(void **state)
{
    (void)state;
    struct fleet_domain d = {.uuid = "0123abcd-0000-4000-8000-00000000beef",
                             .name = "web",
                             .host = "h1",
                             .sponsor = "acme",
                             .reservation_ppm = 200000,
                             .vcpus = 2,
                             .mem_mib = 128,
                             .definition = "<domain/>"},
                        back;
    char *text = fleet_domain_format(&d);
    assert_non_null(text);
    assert_int_equal(
        fleet_domain_parse(text, strlen(text), "/xeno/domains/0123abcd-0000-4000-8000-00000000beef", &back), 0);
    assert_string_equal(back.host, "h1");
    assert_string_equal(back.definition, "<domain/>");
    assert_int_equal(back.reservation_ppm, 200000);
    fleet_domain_free(&back);
    assert_int_equal(fleet_domain_parse(text, strlen(text), "/xeno/domains/other", &back), -EINVAL);
    free(text);
    /* lost_from (a failover's mark) round-trips; one that is not a host name is refused */
    snprintf(d.lost_from, sizeof(d.lost_from), "h2");
    text = fleet_domain_format(&d);
    assert_non_null(text);
    assert_int_equal(
        fleet_domain_parse(text, strlen(text), "/xeno/domains/0123abcd-0000-4000-8000-00000000beef", &back), 0);
    assert_string_equal(back.lost_from, "h2");
    fleet_domain_free(&back);
    free(text);
    snprintf(d.lost_from, sizeof(d.lost_from), "../h2");
    text = fleet_domain_format(&d);
    assert_non_null(text);
    assert_int_equal(
        fleet_domain_parse(text, strlen(text), "/xeno/domains/0123abcd-0000-4000-8000-00000000beef", &back), -EINVAL);
    free(text);
    char key[FLEET_INDEX_KEY_MAX];
    fleet_sponsor_key("a/b", "h1", "u", key, sizeof(key)); /* a sponsor's '/' cannot add a level */
    assert_string_equal(key, "/xeno/sponsors/612f62/h1/u");
    assert_false(fleet_name_valid(""));
    assert_false(fleet_name_valid("../x"));
    assert_false(fleet_name_valid("a b"));
    assert_true(fleet_name_valid("node-1.example"));
    assert_false(fleet_url_valid("http://10.0.0.1:8443"));
    assert_true(fleet_url_valid("https://10.0.0.1:8443"));
    assert_true(fleet_url_valid("unix:/run/xenod.sock"));
    assert_true(fleet_migrate_addr_valid(""));
    assert_true(fleet_migrate_addr_valid("[fd00::1]:7430"));
    assert_false(fleet_migrate_addr_valid("10.0.0.1"));
    assert_false(fleet_migrate_addr_valid("10.0.0.1:x"));
    assert_false(fleet_migrate_addr_valid(":7430"));
    assert_false(fleet_migrate_addr_valid("a/b:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binpack_fills_the_fullest_host_that_fits),
        cmocka_unit_test(spread_takes_the_emptiest_share),
        cmocka_unit_test(draining_and_full_hosts_are_never_chosen),
        cmocka_unit_test(held_reservations_count_like_claims),
        cmocka_unit_test(memory_must_fit),
        cmocka_unit_test(one_sponsor_spreads_before_binpacking),
        cmocka_unit_test(a_reservation_no_host_can_hold_is_refused),
        cmocka_unit_test(policy_names),
        cmocka_unit_test(host_records_round_trip_and_bad_ones_are_refused),
        cmocka_unit_test(domain_records_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
