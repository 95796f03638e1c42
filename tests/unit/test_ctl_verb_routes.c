/* xenctl's verb -> route table (src/ctl/verb_routes.c) against its command table: every verb
 * has a row, every row names a verb (and, for `token` and `audit`, one of its sub-commands),
 * and every route row is a well-formed API route. That the routes exist in docs/openapi.yaml
 * is tests/integration/api_parity.sh's part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/verb_routes.h"

static int has_row(const char *verb, const char *sub, size_t sub_len)
{
    for (const struct ctl_verb_route *r = ctl_verb_routes; r->verb; r++)
        if (strcmp(r->verb, verb) == 0 &&
            (!sub || (r->sub && strlen(r->sub) == sub_len && strncmp(r->sub, sub, sub_len) == 0)))
            return 1;
    return 0;
}

static void every_verb_has_a_row(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++, n++) {
        if (!has_row(cmd->name, NULL, 0))
            fail_msg("xenctl %s has no row in ctl_verb_routes[] (src/ctl/verb_routes.c)", cmd->name);
        /* "create|list|revoke ...": each sub-command has its own row. */
        size_t word = strcspn(cmd->synopsis, " ");
        if (!memchr(cmd->synopsis, '|', word))
            continue;
        for (const char *s = cmd->synopsis; s < cmd->synopsis + word;) {
            size_t len = strcspn(s, "| ");
            if (!has_row(cmd->name, s, len))
                fail_msg("xenctl %s %.*s has no row in ctl_verb_routes[]", cmd->name, (int)len, s);
            s += len + (s[len] == '|');
        }
    }
    assert_true(n > 20);
}

static void every_row_is_a_verb_and_a_route(void **state)
{
    (void)state;
    size_t routes = 0;
    for (const struct ctl_verb_route *r = ctl_verb_routes; r->verb; r++) {
        const struct ctl_command *cmd = ctl_command_find(r->verb);
        if (!cmd)
            fail_msg("ctl_verb_routes[] names '%s', which is no xenctl command", r->verb);
        if (r->sub) {
            size_t word = strcspn(cmd->synopsis, " "), len = strlen(r->sub);
            const char *at = strstr(cmd->synopsis, r->sub);
            if (!at || at + len > cmd->synopsis + word || (at != cmd->synopsis && at[-1] != '|') ||
                (at[len] != '|' && at[len] != ' ' && at[len] != 0))
                fail_msg("xenctl %s has no sub-command '%s' (synopsis: %s)", r->verb, r->sub, cmd->synopsis);
        }
        assert_non_null(r->pattern);
        if (!r->method) {
            assert_true(strlen(r->pattern) > 10); /* a local verb says why it needs no route */
            continue;
        }
        routes++;
        if (strcmp(r->method, "GET") && strcmp(r->method, "POST") && strcmp(r->method, "PUT") &&
            strcmp(r->method, "DELETE"))
            fail_msg("%s: method '%s'", r->verb, r->method);
        if (strncmp(r->pattern, "/v1/", 4) != 0 || strpbrk(r->pattern, " ?\t"))
            fail_msg("%s: '%s' is not a route pattern", r->verb, r->pattern);
    }
    assert_true(routes > 20);
}

static void the_listing_has_a_line_per_row(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0, rows = 0, lines = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(ctl_verb_routes_print(f), 0);
    assert_int_equal(fclose(f), 0);
    for (const struct ctl_verb_route *r = ctl_verb_routes; r->verb; r++)
        rows++;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, rows);
    assert_non_null(strstr(text, "list\tGET /v1/domains\n"));
    assert_non_null(strstr(text, "token revoke\tDELETE /v1/tokens/{id}\n"));
    assert_non_null(strstr(text, "audit verify\tlocal\t"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_verb_has_a_row),
        cmocka_unit_test(every_row_is_a_verb_and_a_route),
        cmocka_unit_test(the_listing_has_a_line_per_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
