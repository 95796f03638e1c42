/* The machine contract's feature sets (src/proto/cpu_features.c): the compare that restore
 * and migration use to refuse a destination with fewer features, the names it reports, the
 * operator's list (--cpu-features-off) and the record snapshots and migrations carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/err.h"
#include "proto/cpu_features.h"

#define BIT(n) (1U << (n))

static void missing_names_what_the_destination_lacks(void **state)
{
    (void)state;
    struct cpu_features src = {0}, dst = {0}, miss;
    char buf[256];
    src.w[CPUF_7_EBX] = BIT(5) | BIT(20);  /* avx2, smap */
    src.w[CPUF_1_ECX] = BIT(23) | BIT(27); /* popcnt, osxsave (volatile) */
    src.w[CPUF_X1_ECX] = BIT(0);           /* lahf_lm */
    dst.w[CPUF_7_EBX] = BIT(20);
    dst.w[CPUF_X1_ECX] = BIT(0) | BIT(5); /* more than the source: fine */
    assert_int_equal(cpuf_missing(&src, &dst, &miss), 2);
    cpuf_format(&miss, buf, sizeof(buf));
    assert_string_equal(buf, "popcnt,avx2");
    /* A superset, or the same set, lacks nothing; volatile bits never count. */
    dst.w[CPUF_7_EBX] |= BIT(5);
    dst.w[CPUF_1_ECX] |= BIT(23);
    assert_int_equal(cpuf_missing(&src, &dst, &miss), 0);
    assert_int_equal(cpuf_missing(&src, &src, &miss), 0);
    src.w[CPUF_1_EDX] = BIT(28); /* ht: topology */
    assert_int_equal(cpuf_missing(&src, &dst, &miss), 0);
}

static void unnamed_bits_are_named_by_register(void **state)
{
    (void)state;
    struct cpu_features f = {0}, back;
    char buf[64];
    f.w[CPUF_7_EBX] = BIT(22); /* no name in the table */
    cpuf_format(&f, buf, sizeof(buf));
    assert_string_equal(buf, "7.0.ebx.22");
    assert_int_equal(cpuf_parse(buf, &back), 0);
    assert_memory_equal(&f, &back, sizeof(f));
    /* Truncation keeps the buffer terminated and reports the full length. */
    f.w[CPUF_1_EDX] = ~0U;
    size_t n = cpuf_format(&f, buf, 8);
    assert_true(n > 8);
    assert_int_equal(strlen(buf), 7);
}

static void parse_refuses_unknown_and_empty(void **state)
{
    (void)state;
    struct cpu_features f;
    assert_int_equal(cpuf_parse("avx2,smap", &f), 0);
    assert_int_equal(f.w[CPUF_7_EBX], BIT(5) | BIT(20));
    assert_int_equal(cpuf_parse("avx2,nosuch", &f), -EINVAL);
    assert_non_null(strstr(err_msg(), "nosuch"));
    assert_int_equal(cpuf_parse("avx2,,smap", &f), -EINVAL);
    assert_int_equal(cpuf_parse("7.0.ebx.32", &f), -EINVAL);
    assert_int_equal(cpuf_parse("7.0.ebx.", &f), -EINVAL);
}

/* The policy table: each bit named once, each name once, and the policy is what it offers. */
static void policy_table_is_consistent(void **state)
{
    (void)state;
    struct cpu_features p, seen = {0};
    cpuf_policy(&p);
    for (size_t i = 0; i < cpuf_nbits; i++) {
        assert_true(cpuf_bits[i].word < CPUF_WORDS && cpuf_bits[i].bit < 32);
        assert_false(seen.w[cpuf_bits[i].word] & BIT(cpuf_bits[i].bit));
        seen.w[cpuf_bits[i].word] |= BIT(cpuf_bits[i].bit);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(cpuf_bits[i].name, cpuf_bits[j].name);
        assert_int_equal(!!(p.w[cpuf_bits[i].word] & BIT(cpuf_bits[i].bit)), cpuf_bits[i].offered);
    }
    /* Hidden on purpose (issue 14 item 8): nothing resting on XSAVE, no cx16. */
    assert_false(p.w[CPUF_1_ECX] & (BIT(26) | BIT(28) | BIT(13)));
    assert_false(p.w[CPUF_7_EBX] & BIT(5));
    assert_int_equal(p.w[CPUF_D0_EAX] | p.w[CPUF_D1_EAX], 0);
    assert_true(p.w[CPUF_1_EDX] & BIT(19)); /* clflush */
}

static void wire_round_trip_and_checks(void **state)
{
    (void)state;
    struct cpu_features f = {0}, back;
    struct snap_cpu_features w;
    unsigned unknown;
    for (unsigned i = 0; i < CPUF_WORDS; i++)
        f.w[i] = 0x01010101U * (i + 1);
    cpuf_to_wire(&f, &w);
    assert_int_equal(cpuf_from_wire(&w, &back, &unknown), 0);
    assert_memory_equal(&f, &back, sizeof(f));
    assert_int_equal(unknown, 0);
    /* A newer writer's register we do not know: its bits are counted, not dropped silently. */
    struct snap_cpu_features w2 = w;
    w2.w[w2.nwords].leaf = 0x80000021;
    w2.w[w2.nwords].bits = 0x5;
    w2.nwords++;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), 0);
    assert_int_equal(unknown, 2);
    /* Order does not matter: registers are matched by name. */
    w2 = w;
    w2.w[0] = w.w[1], w2.w[1] = w.w[0];
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), 0);
    assert_memory_equal(&f, &back, sizeof(f));
    /* Refused: another version, no or too many registers, a register twice, a bad register,
     * garbage beyond the count. */
    w2 = w, w2.version = 2;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
    w2 = w, w2.nwords = 0;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
    w2 = w, w2.nwords = SNAP_CPUF_MAX + 1;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
    w2 = w, w2.w[1] = w2.w[0];
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
    w2 = w, w2.w[0].reg = 4;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
    w2 = w, w2.w[SNAP_CPUF_MAX - 1].bits = 1;
    assert_int_equal(cpuf_from_wire(&w2, &back, &unknown), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_names_what_the_destination_lacks),
        cmocka_unit_test(unnamed_bits_are_named_by_register),
        cmocka_unit_test(parse_refuses_unknown_and_empty),
        cmocka_unit_test(policy_table_is_consistent),
        cmocka_unit_test(wire_round_trip_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
