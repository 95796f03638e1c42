/* Number and size parsing (src/lib/parse.c): what --memory and --vcpus accept. Everything a
 * user might mistype must be refused with a message naming the text, never half-parsed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/parse.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

static void size_ok(const char *text, uint64_t unit, uint64_t want)
{
    uint64_t v = SENTINEL;
    int r = parse_size(text, unit, &v);
    if (r != 0)
        fail_msg("parse_size(\"%s\") = %d (%s), expected %llu", text, r, err_msg(), (unsigned long long)want);
    if (v != want)
        fail_msg("parse_size(\"%s\") = %llu, expected %llu", text, (unsigned long long)v, (unsigned long long)want);
}

/* Refused with `err`, the message quoting the text, and *out untouched. */
static void size_bad(const char *text, uint64_t unit, int err)
{
    uint64_t v = SENTINEL;
    int r = parse_size(text, unit, &v);
    if (r != -err)
        fail_msg("parse_size(\"%s\") = %d, expected %d", text, r, -err);
    if (v != SENTINEL)
        fail_msg("parse_size(\"%s\") failed but wrote %llu", text, (unsigned long long)v);
    if (*text && !strstr(err_msg(), text))
        fail_msg("message \"%s\" does not quote \"%s\"", err_msg(), text);
}

static void u64_ok(const char *text, uint64_t min, uint64_t max, uint64_t want)
{
    uint64_t v = SENTINEL;
    int r = parse_u64_range(text, min, max, &v);
    if (r != 0)
        fail_msg("parse_u64_range(\"%s\") = %d (%s)", text, r, err_msg());
    assert_int_equal(v, want);
}

static void u64_bad(const char *text, uint64_t min, uint64_t max, int err)
{
    uint64_t v = SENTINEL;
    int r = parse_u64_range(text, min, max, &v);
    if (r != -err)
        fail_msg("parse_u64_range(\"%s\", %llu, %llu) = %d, expected %d", text, (unsigned long long)min,
                 (unsigned long long)max, r, -err);
    assert_int_equal(v, SENTINEL);
    if (*text && !strstr(err_msg(), text))
        fail_msg("message \"%s\" does not quote \"%s\"", err_msg(), text);
}

static void size_suffixes(void **state)
{
    (void)state;
    size_ok("64M", MiB, 64 * MiB);
    size_ok("64m", MiB, 64 * MiB);
    size_ok("4096K", MiB, 4 * MiB);
    size_ok("4096k", 1, 4 * MiB);
    size_ok("1G", MiB, GiB);
    size_ok("3g", MiB, 3 * GiB);
    size_ok("2T", MiB, 2 * TiB);
    size_ok("16p", MiB, 16 * 4096);
    size_ok("1p", 1, 4096);
    size_ok("0", MiB, 0);
    size_ok("0G", MiB, 0);
    size_ok("007M", MiB, 7 * MiB);
}

static void size_long_suffixes(void **state)
{
    (void)state;
    size_ok("1KiB", 1, KiB);
    size_ok("512MiB", 1, 512 * MiB);
    size_ok("2GiB", 1, 2 * GiB);
    size_ok("1TiB", 1, TiB);
    size_ok("1KB", 1, KiB);
    size_ok("64MB", 1, 64 * MiB);
    size_ok("1GB", 1, GiB);
    size_ok("1kiB", 1, KiB);
    /* Only the exact spellings: no "Mib", "MIB", "Mb", pages with "iB". */
    size_bad("1Mib", 1, EINVAL);
    size_bad("1MIB", 1, EINVAL);
    size_bad("1Mb", 1, EINVAL);
    size_bad("1pB", 1, EINVAL);
    size_bad("1piB", 1, EINVAL);
    size_bad("1MiBB", 1, EINVAL);
    size_bad("1MBiB", 1, EINVAL);
    size_bad("1Mi", 1, EINVAL);
}

static void size_default_unit(void **state)
{
    (void)state;
    size_ok("64", MiB, 64 * MiB);
    size_ok("64", 1, 64);
    size_ok("3", GiB, 3 * GiB);
    size_ok("5", 4096, 5 * 4096);
    /* A suffix overrides the default unit. */
    size_ok("64K", GiB, 64 * KiB);
}

static void size_junk(void **state)
{
    (void)state;
    size_bad("", MiB, EINVAL);
    size_bad("M", MiB, EINVAL);
    size_bad("abc", MiB, EINVAL);
    size_bad("12x", MiB, EINVAL);
    size_bad("12 M", MiB, EINVAL);
    size_bad(" 12M", MiB, EINVAL);
    size_bad("12M ", MiB, EINVAL);
    size_bad("12M\n", MiB, EINVAL);
    size_bad("12MM", MiB, EINVAL);
    size_bad("12MK", MiB, EINVAL);
    size_bad("1.5G", MiB, EINVAL);
    size_bad("0x100000", 1, EINVAL);
    size_bad("1e9", 1, EINVAL);
    size_ok("64B", 1ULL << 20, 64);
    size_ok("4096B", 1, 4096);
    size_bad("64Bx", 1, EINVAL);
    size_bad("1P", 1, EINVAL); /* uppercase P is not pages (nor peta) */
    size_bad("1pB", 1, EINVAL);
    size_bad("+64M", MiB, EINVAL);
    size_bad("\t64M", MiB, EINVAL);
    size_bad("64M\x01", MiB, EINVAL);
    size_bad("64\xff", MiB, EINVAL);
}

/* strtoull would take "-1" as UINT64_MAX; a size must never be negative. */
static void size_negative(void **state)
{
    (void)state;
    size_bad("-1", MiB, EINVAL);
    size_bad("-64M", MiB, EINVAL);
    size_bad("-0", MiB, EINVAL);
    size_bad("--1", MiB, EINVAL);
}

static void size_overflow(void **state)
{
    (void)state;
    size_bad("99999999999999999999", MiB, ERANGE);
    size_bad("99999999999999999999M", MiB, ERANGE);
    size_bad("18446744073709551616", 1, ERANGE); /* 2^64 */
    size_ok("18446744073709551615", 1, UINT64_MAX);
    size_bad("18446744073709551615", 2, ERANGE);
    size_bad("20000000T", MiB, ERANGE);
    size_bad("16777216T", MiB, ERANGE); /* exactly 2^64 */
    size_ok("16777215T", MiB, 16777215 * TiB);
    size_bad("17179869184G", MiB, ERANGE);      /* 2^34 GiB = 2^64 */
    size_bad("4503599627370496p", MiB, ERANGE); /* 2^52 pages = 2^64 */
    size_bad("17592186044416", MiB, ERANGE);    /* 2^44 MiB by default = 2^64 */
    size_ok("17592186044415", MiB, 17592186044415ULL * MiB);
    size_bad("1000000000000000000000000000000000000000", MiB, ERANGE);
}

static void size_messages(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_size("64Q", MiB, &v), -EINVAL);
    assert_non_null(strstr(err_msg(), "64Q"));
    assert_non_null(strstr(err_msg(), "unit"));
    assert_int_equal(parse_size("20000000T", MiB, &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "too large"));
    assert_int_equal(parse_size("", MiB, &v), -EINVAL);
    assert_true(strlen(err_msg()) > 0);
}

static void u64_range(void **state)
{
    (void)state;
    u64_ok("1", 1, 32, 1);
    u64_ok("32", 1, 32, 32);
    u64_ok("007", 1, 32, 7);
    u64_ok("0", 0, 0, 0);
    u64_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
    u64_bad("0", 1, 32, ERANGE);
    u64_bad("33", 1, 32, ERANGE);
    u64_bad("4294967297", 1, 32, ERANGE); /* 2^32 + 1: no truncation to 1 */
    u64_bad("18446744073709551617", 1, 32, ERANGE);
    u64_bad("18446744073709551616", 0, UINT64_MAX, ERANGE);
    u64_bad("99999999999999999999", 0, UINT64_MAX, ERANGE);
}

static void u64_junk(void **state)
{
    (void)state;
    u64_bad("", 1, 32, EINVAL);
    u64_bad("-1", 1, 32, EINVAL);
    u64_bad("+1", 1, 32, EINVAL);
    u64_bad(" 1", 1, 32, EINVAL);
    u64_bad("1 ", 1, 32, EINVAL);
    u64_bad("1x", 1, 32, EINVAL);
    u64_bad("2M", 1, 32, EINVAL); /* sizes are not counts */
    u64_bad("0x10", 0, 100, EINVAL);
    u64_bad("1.0", 1, 32, EINVAL);
    u64_bad("four", 1, 32, EINVAL);
}

static void u64_message_names_range(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_u64_range("33", 1, 32, &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "33"));
    assert_non_null(strstr(err_msg(), "1 to 32"));
}

/* A long argument is quoted in the message without overrunning anything. */
static void long_input(void **state)
{
    (void)state;
    char text[5000];
    memset(text, '9', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    uint64_t v = SENTINEL;
    assert_int_equal(parse_size(text, MiB, &v), -ERANGE);
    assert_int_equal(v, SENTINEL);
    assert_true(strlen(err_msg()) < 200); /* the input is quoted, not echoed whole */
    text[1] = 'Z';
    assert_int_equal(parse_u64_range(text, 0, 10, &v), -EINVAL);
    assert_int_equal(v, SENTINEL);
}

static void duration_units(void **state)
{
    uint64_t v;
    (void)state;
    static const struct {
        const char *text;
        uint64_t ms;
    } ok[] = {{"1s", 1000},      {"1", 1000},   {"500ms", 500},   {"2.5s", 2500}, {"0.001", 1},
              {"1.2345s", 1234}, {"1m", 60000}, {"2min", 120000}, {"0", 0},       {"0ms", 0}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = SENTINEL;
        if (parse_duration_ms(ok[i].text, 3600000, &v) != 0 || v != ok[i].ms)
            fail_msg("parse_duration_ms(\"%s\") = %llu (%s), expected %llu", ok[i].text, (unsigned long long)v,
                     err_msg(), (unsigned long long)ok[i].ms);
    }
    static const char *const bad[] = {"", "s", "-1s", "1h", "1 s", "1.s.", "ms", "1e3", "99999999999999999999s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = SENTINEL;
        if (parse_duration_ms(bad[i], 3600000, &v) == 0)
            fail_msg("parse_duration_ms(\"%s\") accepted (%llu)", bad[i], (unsigned long long)v);
        assert_int_equal(v, SENTINEL);
    }
    assert_int_equal(parse_duration_ms("61m", 3600000, &v), -ERANGE);
    assert_non_null(strstr(err_msg(), "61m"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_suffixes),     cmocka_unit_test(size_long_suffixes),
        cmocka_unit_test(size_default_unit), cmocka_unit_test(size_junk),
        cmocka_unit_test(size_negative),     cmocka_unit_test(size_overflow),
        cmocka_unit_test(size_messages),     cmocka_unit_test(u64_range),
        cmocka_unit_test(u64_junk),          cmocka_unit_test(u64_message_names_range),
        cmocka_unit_test(long_input),        cmocka_unit_test(duration_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
