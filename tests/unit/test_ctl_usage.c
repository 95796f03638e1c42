/* xenctl's help texts (src/ctl/commands.c): `xenctl --help`, `xenctl COMMAND --help` and the
 * usage line of an error show every command's synopsis in full, however long it grows (a
 * fixed buffer once cut `sched`, `migrate` and `net-qos` off mid-option). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/commands.h"

/* What print(f) wrote, as a NUL-terminated string the caller frees. */
static char *capture(void (*print)(const struct ctl_command *, FILE *), const struct ctl_command *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    print(cmd, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void print_usage(const struct ctl_command *cmd, FILE *f)
{
    (void)cmd;
    ctl_print_usage(f);
}

/* "  NAME SYNOPSIS" then the end of the line: the whole synopsis, not a prefix of it. */
static void assert_line_whole(const char *text, const struct ctl_command *cmd, const char *before)
{
    char want[512];
    snprintf(want, sizeof(want), "%s%s%s%s", before, cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    const char *at = strstr(text, want);
    if (!at)
        fail_msg("the help lacks \"%s\" in full:\n%s", want, text);
    /* A command whose name starts another's ("host", "hosts"): the occurrence that ends. */
    while (at && at[strlen(want)] != '\n' && at[strlen(want)] != ' ')
        at = strstr(at + 1, want);
    if (!at)
        fail_msg("\"%s\" runs on into other text every time it appears", want);
}

static void overview_shows_every_synopsis(void **state)
{
    (void)state;
    char *text = capture(print_usage, NULL);
    size_t n = 0;
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++, n++)
        assert_line_whole(text, cmd, "\n  ");
    assert_true(n > 10);
    /* The long ones that were cut, by name, in case the table is reordered. */
    assert_non_null(strstr(text, "[--outbound AVG[,PEAK[,BURST[,FLOOR]]]] [--weight N]\n"));
    assert_non_null(strstr(text, "[--max-downtime TIME]\n"));
    free(text);
}

static void command_help_shows_synopsis_and_details(void **state)
{
    (void)state;
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++) {
        char *text = capture(ctl_print_command_help, cmd);
        assert_line_whole(text, cmd, "usage: xenctl [--socket PATH] [--json] ");
        assert_non_null(strstr(text, cmd->details));
        free(text);
    }
}

static void usage_line_fits_its_buffer(void **state)
{
    (void)state;
    for (const struct ctl_command *cmd = ctl_commands; cmd->name; cmd++) {
        char buf[CTL_USAGE_MAX];
        char want[1024];
        snprintf(want, sizeof(want), "xenctl %s%s%s", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
        assert_string_equal(ctl_command_usage(cmd, buf, sizeof(buf)), want);
        assert_true(strlen(want) < CTL_USAGE_MAX);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overview_shows_every_synopsis),
        cmocka_unit_test(command_help_shows_synopsis_and_details),
        cmocka_unit_test(usage_line_fits_its_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
