/* The offer one xenod sends another for a live migration (src/daemon/migrate_host.c,
 * docs/migration.md "Between hosts"): the definition, persistence and each disk's size, which
 * the destination gives its monitor before its backend may open the images (after GO). The
 * offer comes from a peer: every disk entry is checked before anything uses it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/migrate_host.h"

static void test_roundtrip_with_disks(void **state)
{
    (void)state;
    struct migrate_offer_disk in[2] = {{"vda", 4 << 20}, {"vdb", 1ull << 40}};
    char *text = migrate_host_offer_encode("<domain/>", 1, in, 2);
    assert_non_null(text);
    char *xml = NULL;
    size_t len = 0;
    int persistent = 0;
    struct migrate_offer_disk out[MIGRATE_OFFER_DISKS_MAX];
    unsigned n = 99;
    assert_int_equal(migrate_host_offer_decode(text, &xml, &len, &persistent, out, &n), 0);
    assert_string_equal(xml, "<domain/>");
    assert_int_equal(len, 9);
    assert_int_equal(persistent, 1);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].target, "vda");
    assert_int_equal(out[0].bytes, 4 << 20);
    assert_string_equal(out[1].target, "vdb");
    assert_true(out[1].bytes == 1ull << 40);
    free(xml);
    free(text);
}

static void test_no_disks(void **state)
{
    (void)state;
    char *text = migrate_host_offer_encode("<domain/>", 0, NULL, 0);
    assert_non_null(text);
    char *xml = NULL;
    size_t len;
    int persistent = 1;
    struct migrate_offer_disk out[MIGRATE_OFFER_DISKS_MAX];
    unsigned n = 99;
    assert_int_equal(migrate_host_offer_decode(text, &xml, &len, &persistent, out, &n), 0);
    assert_int_equal(persistent, 0);
    assert_int_equal(n, 0);
    free(xml);
    free(text);
    /* An older xenod's offer has no "disks": none, not an error (the destination refuses a
     * domain with disks then, naming the count). */
    assert_int_equal(
        migrate_host_offer_decode("{\"xml\":\"<d/>\",\"persistent\":false}", &xml, &len, &persistent, out, &n), 0);
    assert_int_equal(n, 0);
    free(xml);
}

/* A peer's disk entries that are not a target and a size in whole sectors are refused whole. */
static void test_hostile_disks(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"xml\":\"<d/>\",\"disks\":{}}",
        "{\"xml\":\"<d/>\",\"disks\":[1]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\"}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":0}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":-512}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":513}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":\"512\"}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"\",\"bytes\":512}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vdaaaaaa\",\"bytes\":512}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"../x\",\"bytes\":512}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vd\\na\",\"bytes\":512}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":512,\"extra\":1}]}",
        "{\"xml\":\"<d/>\",\"disks\":[{\"target\":\"vda\",\"bytes\":512},{\"target\":\"vdb\",\"bytes\":512},"
        "{\"target\":\"vdc\",\"bytes\":512},{\"target\":\"vdd\",\"bytes\":512},{\"target\":\"vde\",\"bytes\":512},"
        "{\"target\":\"vdf\",\"bytes\":512},{\"target\":\"vdg\",\"bytes\":512},{\"target\":\"vdh\",\"bytes\":512},"
        "{\"target\":\"vdi\",\"bytes\":512}]}",
        "{\"disks\":[]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *xml = (char *)1;
        size_t len;
        int persistent;
        struct migrate_offer_disk out[MIGRATE_OFFER_DISKS_MAX];
        unsigned n = 99;
        int rc = migrate_host_offer_decode(bad[i], &xml, &len, &persistent, out, &n);
        if (rc != -EPROTO)
            fail_msg("offer %zu (%s): %d, want -EPROTO", i, bad[i], rc);
        assert_null(xml);
        assert_int_equal(n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_with_disks),
        cmocka_unit_test(test_no_disks),
        cmocka_unit_test(test_hostile_disks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
