/* URL escaping of domain references (src/ctl/url.c): whatever the user types as REF must
 * reach xenod as one path segment or one query value, never as extra path or parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ctl/url.h"

static void esc(const char *in, const char *want)
{
    char out[256];
    int n = ctl_url_escape(in, out, sizeof(out));
    if (n < 0 || strcmp(out, want) != 0 || (size_t)n != strlen(want))
        fail_msg("escape(\"%s\") = %d \"%s\", expected \"%s\"", in, n, n < 0 ? "" : out, want);
}

static void unreserved_pass(void **state)
{
    (void)state;
    esc("demo", "demo");
    esc("web-1.prod_a~b", "web-1.prod_a~b");
    esc("12", "12");
    esc("0b2a4c1e-96a1-4f56-9f3a-2d6c1b9b1a77", "0b2a4c1e-96a1-4f56-9f3a-2d6c1b9b1a77");
    esc("", "");
}

static void reserved_encoded(void **state)
{
    (void)state;
    esc("a b", "a%20b");
    esc("a/b", "a%2Fb");
    esc("x?limit=1&y", "x%3Flimit%3D1%26y");
    esc("#frag", "%23frag");
    esc("100%", "100%25");
    esc("%2F", "%252F"); /* already-escaped text is not trusted: it is escaped again */
    esc("+", "%2B");
    esc("\xc3\xbc", "%C3%BC"); /* UTF-8 bytes, one by one */
    esc("\x01\x7f\xff", "%01%7F%FF");
}

static void dot_segments(void **state)
{
    (void)state;
    /* "." and ".." would mean "here" and "the parent" in a path. */
    esc(".", "%2E");
    esc("..", "%2E%2E");
    esc("...", "...");
    esc("a..", "a..");
}

static void too_small(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(ctl_url_escape("abc", out, sizeof(out)), 3);
    assert_int_equal(ctl_url_escape("abcd", out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(ctl_url_escape("a b", out, sizeof(out)), -ENAMETOOLONG); /* needs 5 + NUL */
    assert_int_equal(ctl_url_escape(" ", out, sizeof(out)), 3);
    assert_string_equal(out, "%20");
    assert_int_equal(ctl_url_escape("", out, 0), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unreserved_pass),
        cmocka_unit_test(reserved_encoded),
        cmocka_unit_test(dot_segments),
        cmocka_unit_test(too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
