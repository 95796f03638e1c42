/* The API's route table (src/daemon/route.c and the table in api.c): method and path
 * matching, 404 and 405, and the {ref} segment's value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "daemon/api.h"
#include "daemon/route.h"
#include "lib/err.h"

static int hits[8];
static void h0(void *ctx)
{
    (void)ctx, hits[0]++;
}
static void h1(void *ctx)
{
    (void)ctx, hits[1]++;
}
static void h2(void *ctx)
{
    (void)ctx, hits[2]++;
}
static void h3(void *ctx)
{
    (void)ctx, hits[3]++;
}
static void h4(void *ctx)
{
    (void)ctx, hits[4]++;
}

static const struct route table[] = {
    {"GET", "/v1/domains", h0},       {"POST", "/v1/domains", h1},
    {"GET", "/v1/domains/{ref}", h2}, {"POST", "/v1/domains/{ref}/start", h3},
    {"GET", "/v1/a/{x}/b/{y}", h4},
};
#define N (sizeof(table) / sizeof(table[0]))

static const struct route *find(const char *method, const char *path, struct route_params *p, int want_rc)
{
    const struct route *r = (const struct route *)1;
    int rc = route_find(table, N, method, path, &r, p);
    if (rc != want_rc)
        fail_msg("%s %s: %d (%s), expected %d", method, path, rc, err_msg(), want_rc);
    if (rc < 0 && r)
        fail_msg("%s %s: a route on failure", method, path);
    return r;
}

static void method_and_path_pick_the_route(void **state)
{
    (void)state;
    struct route_params p;
    assert_ptr_equal(find("GET", "/v1/domains", &p, 0), &table[0]);
    assert_ptr_equal(find("POST", "/v1/domains", &p, 0), &table[1]);
    assert_int_equal(p.n, 0);
    assert_ptr_equal(find("GET", "/v1/domains/web", &p, 0), &table[2]);
    assert_ptr_equal(find("POST", "/v1/domains/web/start", &p, 0), &table[3]);
    memset(hits, 0, sizeof(hits));
    find("POST", "/v1/domains/web/start", &p, 0)->handler(NULL);
    assert_int_equal(hits[3], 1);
    assert_int_equal(hits[2], 0);
}

static void unknown_path_is_404(void **state)
{
    (void)state;
    struct route_params p;
    static const char *const paths[] = {"/v1/domain",
                                        "/v1/domains/",
                                        "/v1/domains/web/",
                                        "/v1/domains/web/go",
                                        "/v1/domains/web/start/x",
                                        "/v2/domains",
                                        "",
                                        "/",
                                        "v1/domains",
                                        "/v1/domainsx",
                                        "/v1//start"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        find("GET", paths[i], &p, -ENOENT);
    find("POST", "/v1/domains/web/stop", &p, -ENOENT);
}

static void known_path_other_method_is_405(void **state)
{
    (void)state;
    struct route_params p;
    find("DELETE", "/v1/domains", &p, -EOPNOTSUPP);
    find("POST", "/v1/domains/web", &p, -EOPNOTSUPP);
    find("GET", "/v1/domains/web/start", &p, -EOPNOTSUPP);
    assert_non_null(strstr(err_msg(), "GET"));
    find("get", "/v1/domains", &p, -EOPNOTSUPP); /* methods are case-sensitive */
}

static void parameters_are_extracted(void **state)
{
    (void)state;
    struct route_params p;
    find("POST", "/v1/domains/0b2a4c1e-96a1/start", &p, 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(route_param(&p, "ref"), "0b2a4c1e-96a1");
    assert_null(route_param(&p, "re"));
    assert_null(route_param(&p, "refx"));
    find("GET", "/v1/a/one/b/two", &p, 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(route_param(&p, "x"), "one");
    assert_string_equal(route_param(&p, "y"), "two");
    find("GET", "/v1/a/one/c/two", &p, -ENOENT);

    /* A segment that does not fit a parameter matches nothing. */
    char path[ROUTE_PARAM_SIZE + 32];
    memset(path, 'a', sizeof(path));
    memcpy(path, "/v1/domains/", 12);
    path[12 + ROUTE_PARAM_SIZE - 1] = 0;
    find("GET", path, &p, 0);
    assert_int_equal(strlen(route_param(&p, "ref")), ROUTE_PARAM_SIZE - 1);
    path[12 + ROUTE_PARAM_SIZE - 1] = 'a';
    path[12 + ROUTE_PARAM_SIZE] = 0;
    find("GET", path, &p, -ENOENT);
}

/* xenod's own table: every documented route reaches a handler; no route is listed twice. */
static void api_table_is_complete_and_unique(void **state)
{
    (void)state;
    size_t n;
    const struct route *t = api_routes(&n);
    static const char *const documented[][2] = {
        {"GET", "/v1/domains"},
        {"POST", "/v1/domains"},
        {"GET", "/v1/domains/web"},
        {"DELETE", "/v1/domains/web"},
        {"GET", "/v1/domains/web/xml"},
        {"PUT", "/v1/domains/web/xml"},
        {"GET", "/v1/domains/web/console"},
        {"GET", "/v1/domains/web/usage"},
        {"GET", "/v1/domains/web/sched"},
        {"POST", "/v1/domains/web/sched"},
        {"POST", "/v1/domains/web/start"},
        {"POST", "/v1/domains/web/pause"},
        {"POST", "/v1/domains/web/unpause"},
        {"POST", "/v1/domains/web/shutdown"},
        {"POST", "/v1/domains/web/reboot"},
        {"POST", "/v1/domains/web/reset"},
        {"POST", "/v1/domains/web/destroy"},
        {"POST", "/v1/domains/web/memory"},
        {"POST", "/v1/domains/web/save"},
        {"POST", "/v1/domains/web/migrate"},
        {"POST", "/v1/domains/web/net-qos"},
        {"PUT", "/v1/domains/web/disks/vda/qos"},
        {"POST", "/v1/restore"},
        {"GET", "/v1/events"},
        {"GET", "/v1/log"},
        {"GET", "/v1/host"},
        {"GET", "/v1/host/bill"},
        {"GET", "/metrics"},
        {"GET", "/v1/tokens"},
        {"POST", "/v1/tokens"},
        {"DELETE", "/v1/tokens/7"},
        {"GET", "/v1/sponsors/acme/bill"},
        {"GET", "/v1/sponsors/acme/bill/explain"},
        {"GET", "/v1/sponsors/acme/policy"},
        {"PUT", "/v1/sponsors/acme/policy"},
        {"GET", "/v1/prices"},
        {"POST", "/v1/prices"},
        {"POST", "/v1/fleet/domains"},
    };
    size_t nd = sizeof(documented) / sizeof(documented[0]);
    assert_int_equal(n, nd);
    for (size_t i = 0; i < nd; i++) {
        const struct route *r;
        struct route_params p;
        if (route_find(t, n, documented[i][0], documented[i][1], &r, &p) < 0)
            fail_msg("%s %s: %s", documented[i][0], documented[i][1], err_msg());
        assert_non_null(r->handler);
        if (strncmp(documented[i][1], "/v1/domains/", 12) == 0)
            assert_string_equal(route_param(&p, "ref"), "web");
        for (size_t j = 0; j < n; j++)
            if (&t[j] != r && strcmp(t[j].method, r->method) == 0 && strcmp(t[j].pattern, r->pattern) == 0)
                fail_msg("%s %s is listed twice", r->method, r->pattern);
    }
    struct route_params p;
    const struct route *r;
    assert_int_equal(route_find(t, n, "GET", "/v1/domains/web/frobnicate", &r, &p), -ENOENT);
    assert_int_equal(route_find(t, n, "PUT", "/v1/domains/web", &r, &p), -EOPNOTSUPP);
    assert_int_equal(route_find(t, n, "GET", "/v1/domains/web/start", &r, &p), -EOPNOTSUPP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(method_and_path_pick_the_route),   cmocka_unit_test(unknown_path_is_404),
        cmocka_unit_test(known_path_other_method_is_405),   cmocka_unit_test(parameters_are_extracted),
        cmocka_unit_test(api_table_is_complete_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
