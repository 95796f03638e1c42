/* xenctl's command line (src/ctl/args.c, the command table in src/ctl/commands.c): what is
 * accepted where, and that every mistake is refused with a message naming it rather than
 * guessed at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "lib/err.h"

static const struct ctl_opt opts[] = {
    {"paused", 0, NULL, 0}, {"timeout", 1, "SEC", 0}, {"console", 0, NULL, 0}, {NULL, 0, NULL, 0}};

#define ARGV(...) ((char *[]){__VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, stop, ...) ctl_args_parse(opts, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), stop, a)

static void bad(int r, const char *want_in_msg)
{
    if (r != -EINVAL)
        fail_msg("expected -EINVAL, got %d", r);
    if (!strstr(err_msg(), want_in_msg))
        fail_msg("message \"%s\" lacks \"%s\"", err_msg(), want_in_msg);
}

static void globals_stop_at_command(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    char *argv[] = {"--socket", "/tmp/s", "--json", "list", "--bogus"};
    assert_int_equal(ctl_args_parse(NULL, 5, argv, 1, &a), 3);
    assert_string_equal(a.socket, "/tmp/s");
    assert_true(a.json);
    assert_int_equal(a.npos, 0);

    struct ctl_args b = {0};
    char *argv2[] = {"--socket=/x.sock", "-h"};
    assert_int_equal(ctl_args_parse(NULL, 2, argv2, 1, &b), 2); /* no command: argc */
    assert_string_equal(b.socket, "/x.sock");
    assert_true(b.help);

    struct ctl_args c = {0};
    char *argv3[] = {"--version"};
    assert_int_equal(ctl_args_parse(NULL, 1, argv3, 1, &c), 1);
    assert_true(c.version);
}

static void global_mistakes(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    char *missing[] = {"--socket"};
    bad(ctl_args_parse(NULL, 1, missing, 1, &a), "--socket needs a value");
    char *empty[] = {"--socket="};
    bad(ctl_args_parse(NULL, 1, empty, 1, &a), "non-empty");
    char *value[] = {"--json=yes"};
    bad(ctl_args_parse(NULL, 1, value, 1, &a), "--json takes no value");
    char *unknown[] = {"--frob", "list"};
    bad(ctl_args_parse(NULL, 2, unknown, 1, &a), "'--frob'");
    char *shortopt[] = {"-x"};
    bad(ctl_args_parse(NULL, 1, shortopt, 1, &a), "'-x'");
    /* A command's option is not a global one. */
    char *cmdopt[] = {"--paused", "create"};
    bad(ctl_args_parse(NULL, 2, cmdopt, 1, &a), "'--paused'");
}

static void command_options(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    assert_int_equal(PARSE(&a, 0, "--paused", "demo.xml", "--timeout", "30", "--json"), 0);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "demo.xml");
    assert_string_equal(ctl_args_get(&a, "paused"), "");
    assert_string_equal(ctl_args_get(&a, "timeout"), "30");
    assert_null(ctl_args_get(&a, "console"));
    assert_null(ctl_args_get(&a, "not-an-option"));
    assert_true(a.json); /* globals after the command */

    struct ctl_args b = {0};
    assert_int_equal(PARSE(&b, 0, "--timeout=5", "x", "--timeout", "7", "--socket", "/s"), 0);
    assert_string_equal(ctl_args_get(&b, "timeout"), "7"); /* the last one wins */
    assert_string_equal(b.socket, "/s");
    assert_int_equal(b.npos, 1);
}

static void positional_and_double_dash(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    /* After "--" anything is an argument: a domain could be named "-x"? Not by the name
     * rules, but a file could. */
    assert_int_equal(PARSE(&a, 0, "--", "--paused", "-"), 0);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "--paused");
    assert_string_equal(a.pos[1], "-");
    assert_null(ctl_args_get(&a, "paused"));

    struct ctl_args b = {0};
    char *many[CTL_ARGS_MAX_POS + 1];
    for (int i = 0; i <= CTL_ARGS_MAX_POS; i++)
        many[i] = "x";
    bad(ctl_args_parse(opts, CTL_ARGS_MAX_POS + 1, many, 0, &b), "too many");
}

static void command_mistakes(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    bad(PARSE(&a, 0, "x", "--timeout"), "--timeout needs a value (--timeout SEC)");
    bad(PARSE(&a, 0, "--paused=1"), "--paused takes no value");
    bad(PARSE(&a, 0, "--pause"), "unknown option '--pause'");
    bad(PARSE(&a, 0, "--pausedx"), "unknown option");
    /* --version is only for xenctl itself, not after a command. */
    bad(PARSE(&a, 0, "--version"), "unknown option '--version'");
}

static void seconds(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(ctl_parse_seconds("0.5", 3600, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(ctl_parse_seconds("3", 3600, &v), 0);
    assert_true(v == 3.0);
    assert_int_equal(ctl_parse_seconds("0", 3600, &v), 0);
    assert_true(v == 0.0);
    assert_int_equal(ctl_parse_seconds(".25", 3600, &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(ctl_parse_seconds("3600", 3600, &v), 0);
    v = -1;
    const char *bad_texts[] = {"", ".", "-1", "1e3", "inf", "nan", " 1", "1 ", "0x10", "1.2.3", "1s"};
    for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
        if (ctl_parse_seconds(bad_texts[i], 3600, &v) != -EINVAL)
            fail_msg("'%s' accepted", bad_texts[i]);
        assert_true(v == -1);
    }
    assert_int_equal(ctl_parse_seconds("3600.5", 3600, &v), -ERANGE);
    assert_int_equal(ctl_parse_seconds("99999999999999999999999999999999999999", 3600, &v), -ERANGE);
}

/* The table main() dispatches on: every command named in docs/xenctl.md, consistent specs. */
static void command_table(void **state)
{
    (void)state;
    const char *names[] = {"create",  "define",  "start",    "undefine", "list",    "info",
                           "pause",   "unpause", "shutdown", "reboot",   "reset",   "destroy",
                           "console", "events",  "dmesg",    "help",     "net-qos", "disk-qos"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct ctl_command *cmd = ctl_command_find(names[i]);
        if (!cmd)
            fail_msg("no command %s", names[i]);
        assert_non_null(cmd->run);
        assert_true(cmd->min_pos <= cmd->max_pos && cmd->max_pos <= CTL_ARGS_MAX_POS);
        int n = 0;
        for (const struct ctl_opt *o = cmd->opts; o && o->name; o++)
            n++;
        assert_true(n <= CTL_ARGS_MAX_OPTS);
    }
    assert_null(ctl_command_find("frob"));
    assert_null(ctl_command_find(""));
    char buf[160];
    assert_string_equal(ctl_command_usage(ctl_command_find("host"), buf, sizeof(buf)), "xenctl host");
    assert_string_equal(ctl_command_usage(ctl_command_find("list"), buf, sizeof(buf)),
                        "xenctl list [--sponsor NAME] [--state STATE] [--limit N [--after NAME]]");
    assert_string_equal(ctl_command_usage(ctl_command_find("shutdown"), buf, sizeof(buf)),
                        "xenctl shutdown REF [--wait] [--timeout SEC]");
}

static void positional_counts(void **state)
{
    (void)state;
    const struct ctl_command *start = ctl_command_find("start"), *events = ctl_command_find("events");
    struct ctl_args a = {0};
    assert_int_equal(ctl_check_positional(start, &a), CTL_EXIT_USAGE);
    a.npos = 1;
    assert_int_equal(ctl_check_positional(start, &a), CTL_EXIT_OK);
    a.npos = 2;
    a.pos[1] = "extra";
    assert_int_equal(ctl_check_positional(start, &a), CTL_EXIT_USAGE);
    a.npos = 0;
    assert_int_equal(ctl_check_positional(events, &a), CTL_EXIT_OK);
}

/* One-letter forms (xenctl top -b -n 5 -d 2, as xentop): flags, values apart or attached,
 * and the same mistakes refused as for the long forms. */
static void short_options(void **state)
{
    (void)state;
    static const struct ctl_opt top[] = {
        {"delay", 1, "SEC", 'd'}, {"iterations", 1, "N", 'n'}, {"batch", 0, NULL, 'b'}, {NULL, 0, NULL, 0}};
    struct ctl_args a = {0};
    char *argv[] = {"-b", "-n", "5", "-d0.5"};
    assert_int_equal(ctl_args_parse(top, 4, argv, 0, &a), 0);
    assert_string_equal(ctl_args_get(&a, "batch"), "");
    assert_string_equal(ctl_args_get(&a, "iterations"), "5");
    assert_string_equal(ctl_args_get(&a, "delay"), "0.5");
    assert_int_equal(a.npos, 0);

    struct ctl_args b = {0};
    char *missing[] = {"-n"};
    bad(ctl_args_parse(top, 1, missing, 0, &b), "-n needs a value");
    char *joined[] = {"-bn", "3"}; /* flags are not bundled: one letter per argument */
    bad(ctl_args_parse(top, 2, joined, 0, &b), "one per argument");
    char *unknown[] = {"-x"};
    bad(ctl_args_parse(top, 1, unknown, 0, &b), "unknown option '-x'");
    bad(PARSE(&b, 0, "-p"), "unknown option '-p'"); /* a command without one-letter forms */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(globals_stop_at_command), cmocka_unit_test(global_mistakes),
        cmocka_unit_test(command_options),         cmocka_unit_test(positional_and_double_dash),
        cmocka_unit_test(command_mistakes),        cmocka_unit_test(seconds),
        cmocka_unit_test(command_table),           cmocka_unit_test(positional_counts),
        cmocka_unit_test(short_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
