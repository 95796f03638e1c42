/* The web console's file names (src/daemon/web_static.c): which URLs name a file under the
 * directory and which never do (a way out of it, a hidden file, a type not served). Opening
 * and the headers are tests/integration/web.sh's, against the real xenod. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "daemon/web_static.h"

static void test_served_names(void **state)
{
    (void)state;
    char out[WEB_PATH_MAX];
    assert_int_equal(web_static_path("/", out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(web_static_path("/index.html", out), 0);
    assert_string_equal(out, "index.html");
    assert_int_equal(web_static_path("/web/app.js", out), 0);
    assert_string_equal(out, "app.js");
    assert_int_equal(web_static_path("/web/vendor/xterm/xterm.css", out), 0);
    assert_string_equal(out, "vendor/xterm/xterm.css");
    assert_int_equal(web_static_path("/web/a-b_c.1.min.js", out), 0);
}

static void test_refused_names(void **state)
{
    (void)state;
    char out[WEB_PATH_MAX];
    const char *bad[] = {
        "/web/",                 /* no file */
        "/web/../xenod.db.js",   /* a way out */
        "/web/vendor/../app.js", /* a dot-dot segment, even one that stays inside */
        "/web/.hidden.js",       /* hidden file */
        "/web/vendor/.git/x.js", /* hidden directory */
        "/web//app.js",          /* empty segment */
        "/web/vendor/",          /* directory */
        "/web/app.js/",          /* trailing slash */
        "/web/app.sh",           /* type not served */
        "/web/LICENSE",          /* no type */
        "/web/app.js\n.js",      /* control character */
        "/web/a b.js",           /* blank */
        "/web/a%2e%2e.js",       /* percent (libmicrohttpd decoded already: a literal '%' is refused) */
        "/web/a\\b.js",          /* backslash */
        "/web/a/b/c/d/e.js",     /* deeper than WEB_DEPTH_MAX */
        "/v1/domains",           /* the API's */
        "/webx/app.js",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (web_static_path(bad[i], out) != -ENOENT)
            fail_msg("'%s' was accepted as '%s'", bad[i], out);
    char longname[WEB_PATH_MAX + 16] = "/web/";
    memset(longname + 5, 'a', WEB_PATH_MAX);
    strcpy(longname + 5 + WEB_PATH_MAX - 3, ".js");
    assert_int_equal(web_static_path(longname, out), -ENOENT);
}

static void test_claims_and_types(void **state)
{
    (void)state;
    assert_true(web_static_claims("/"));
    assert_true(web_static_claims("/web/app.js"));
    assert_false(web_static_claims("/v1/domains"));
    assert_false(web_static_claims("/metrics"));
    assert_false(web_static_claims("/webapp.js"));
    assert_string_equal(web_static_type("a/b.js"), "text/javascript; charset=utf-8");
    assert_string_equal(web_static_type("index.html"), "text/html; charset=utf-8");
    assert_null(web_static_type("a.js/b"));
    assert_null(web_static_type("a.htm"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_names),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_claims_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
