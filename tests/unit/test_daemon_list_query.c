/* GET /v1/domains's query (src/daemon/list_query.c): what is accepted, what is refused with
 * a message naming the parameter, and what the filters and field selection let through. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/list_query.h"
#include "lib/err.h"

static void nothing_given_lists_everything(void **state)
{
    (void)state;
    struct list_query q;
    assert_int_equal(list_query_parse(NULL, NULL, NULL, NULL, NULL, &q), 0);
    assert_false(q.paged);
    assert_true(list_query_matches(&q, "acme", "running"));
    assert_true(list_query_matches(&q, "", "shutdown"));
    for (unsigned i = 0; i < list_field_count; i++)
        assert_true(list_query_selects(&q, list_field_names[i]));
}

static void filters_match_exactly(void **state)
{
    (void)state;
    struct list_query q;
    assert_int_equal(list_query_parse("acme", "paused", NULL, NULL, NULL, &q), 0);
    assert_true(list_query_matches(&q, "acme", "paused"));
    assert_false(list_query_matches(&q, "acme", "running"));
    assert_false(list_query_matches(&q, "acm", "paused"));
    assert_false(list_query_matches(&q, "acme2", "paused"));
    assert_false(list_query_matches(&q, "ACME", "paused"));
    /* An empty sponsor filter is the domains without one, not "any". */
    assert_int_equal(list_query_parse("", NULL, NULL, NULL, NULL, &q), 0);
    assert_true(list_query_matches(&q, "", "running"));
    assert_false(list_query_matches(&q, "acme", "running"));
}

static void fields_select_members(void **state)
{
    (void)state;
    struct list_query q;
    assert_int_equal(list_query_parse(NULL, NULL, "name,state,usage", NULL, NULL, &q), 0);
    assert_true(list_query_selects(&q, "name"));
    assert_true(list_query_selects(&q, "state"));
    assert_true(list_query_selects(&q, "usage"));
    assert_false(list_query_selects(&q, "uuid"));
    assert_false(list_query_selects(&q, "sponsor"));
    assert_false(list_query_selects(&q, "nonsense"));
}

static void paging(void **state)
{
    (void)state;
    struct list_query q;
    assert_int_equal(list_query_parse(NULL, NULL, NULL, "50", NULL, &q), 0);
    assert_true(q.paged);
    assert_int_equal(q.limit, 50);
    assert_string_equal(q.after, "");
    assert_int_equal(list_query_parse(NULL, NULL, NULL, NULL, "web-7", &q), 0);
    assert_true(q.paged);
    assert_int_equal(q.limit, 0);
    assert_string_equal(q.after, "web-7");
    assert_int_equal(list_query_parse(NULL, NULL, NULL, "10000", NULL, &q), 0);
    assert_int_equal(q.limit, LIST_LIMIT_MAX);
}

/* Each refusal is EINVAL and names the parameter (and the bad member). */
static void refusals_name_the_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *sponsor, *st, *fields, *limit, *after, *want;
    } bad[] = {
        {NULL, "asleep", NULL, NULL, NULL, "parameter state: 'asleep'"},
        {NULL, "RUNNING", NULL, NULL, NULL, "parameter state"},
        {NULL, "", NULL, NULL, NULL, "parameter state"},
        {NULL, NULL, "name,bogus", NULL, NULL, "unknown member 'bogus'"},
        {NULL, NULL, "", NULL, NULL, "parameter fields: empty"},
        {NULL, NULL, "name,", NULL, NULL, "parameter fields"},
        {NULL, NULL, ",name", NULL, NULL, "parameter fields"},
        {NULL, NULL, "na\nme", NULL, NULL, "parameter fields: an unknown member"},
        {NULL, NULL, NULL, "0", NULL, "parameter limit"},
        {NULL, NULL, NULL, "10001", NULL, "parameter limit"},
        {NULL, NULL, NULL, "-1", NULL, "parameter limit"},
        {NULL, NULL, NULL, "1x", NULL, "parameter limit"},
        {NULL, NULL, NULL, "", NULL, "parameter limit"},
        {NULL, NULL, NULL, "99999999999999999999999", NULL, "parameter limit"},
        {NULL, NULL, NULL, NULL, "", "parameter after"},
        {NULL, NULL, NULL, NULL, "a\x01", "parameter after"},
        {"ev\x1bil", NULL, NULL, NULL, NULL, "parameter sponsor"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct list_query q;
        assert_int_equal(list_query_parse(bad[i].sponsor, bad[i].st, bad[i].fields, bad[i].limit, bad[i].after, &q),
                         -EINVAL);
        if (!strstr(err_msg(), bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err_msg(), bad[i].want);
        assert_null(strchr(err_msg(), '\n'));
        assert_null(strchr(err_msg(), '\x1b'));
    }
    char longname[DOMAIN_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    struct list_query q;
    assert_int_equal(list_query_parse(NULL, NULL, NULL, NULL, longname, &q), -EINVAL);
}

static void known_params(void **state)
{
    (void)state;
    assert_true(list_query_known_param("sponsor"));
    assert_true(list_query_known_param("after"));
    assert_false(list_query_known_param("offset"));
    assert_false(list_query_known_param(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_given_lists_everything), cmocka_unit_test(filters_match_exactly),
        cmocka_unit_test(fields_select_members),          cmocka_unit_test(paging),
        cmocka_unit_test(refusals_name_the_parameter),    cmocka_unit_test(known_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
