/* STATE_DIR/audit-events (src/net/audit_events.c): the line xenod tails for every audit event —
 * its fixed prefix order, one line whatever the event's text holds, and the size bound by
 * rotation to audit-events.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/audit_events.h"

static struct audit_event event(void)
{
    struct audit_event ev = {.kind = AUDIT_EV_RULE,
                             .action = AUDIT_DROP,
                             .domain = "web2",
                             .sponsor = "alice",
                             .source = "rule 1 (r:2): limit tcp dport 25 new 1/10s per sponsor"};
    ev.flow.family = 4;
    ev.flow.proto = 6;
    ev.flow.local[0] = 10, ev.flow.local[3] = 3;
    ev.flow.remote[0] = 192, ev.flow.remote[1] = 0, ev.flow.remote[2] = 2, ev.flow.remote[3] = 25;
    ev.flow.lport = 41000;
    ev.flow.rport = 25;
    snprintf(ev.evidence, sizeof(ev.evidence), "new flow over the limit");
    return ev;
}

static void test_prefix_order(void **state)
{
    (void)state;
    struct audit_event ev = event();
    char line[AUDIT_EVENTS_LINE_MAX];
    size_t n = audit_events_format(&ev, line, sizeof(line));
    assert_int_equal(n, strlen(line));
    assert_string_equal(line, "domain=web2 sponsor=alice kind=rule action=drop flow=\"proto 6 10.0.0.3:41000 -> "
                              "192.0.2.25:25\" source=\"rule 1 (r:2): limit tcp dport 25 new 1/10s per sponsor\" "
                              "evidence=\"new flow over the limit\"\n");
    /* Engine-wide events: no domain, no flow; the words stay non-empty. */
    struct audit_event le = {
        .kind = AUDIT_EV_LOG_ERROR, .action = AUDIT_PASS, .domain = "", .sponsor = "", .source = "flow-log"};
    snprintf(le.evidence, sizeof(le.evidence), "write: No space left on device");
    audit_events_format(&le, line, sizeof(line));
    assert_string_equal(line, "domain=- sponsor=- kind=log-error action=pass source=\"flow-log\" "
                              "evidence=\"write: No space left on device\"\n");
}

static void test_one_line_whatever_the_text(void **state)
{
    (void)state;
    struct audit_event ev = event();
    ev.source = "rule 3 (evil\nfile:1): x\r\x7f";
    memset(ev.evidence, 'e', sizeof(ev.evidence) - 1);
    ev.evidence[sizeof(ev.evidence) - 1] = 0;
    char line[300]; /* shorter than the event: cut, still one line */
    size_t n = audit_events_format(&ev, line, sizeof(line));
    assert_int_equal(n, sizeof(line) - 2 + 1);
    assert_int_equal(line[n - 1], '\n');
    for (size_t i = 0; i + 1 < n; i++)
        assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
    assert_non_null(strstr(line, "rule 3 (evil?file:1): x??"));
}

static void test_rotation_bounds_the_size(void **state)
{
    (void)state;
    char dir[] = "/tmp/xeno-audit-events.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    struct nb_audit_events e;
    assert_int_equal(audit_events_open(&e, dfd, 4096), 0);
    struct audit_event ev = event();
    char line[AUDIT_EVENTS_LINE_MAX];
    size_t len = audit_events_format(&ev, line, sizeof(line));
    for (int i = 0; i < 100; i++)
        audit_events_append(&e, &ev);
    assert_int_equal(e.lines, 100);
    assert_int_equal(e.errors, 0);
    assert_true(e.rotations >= 2);
    struct stat cur, old;
    assert_int_equal(fstatat(dfd, AUDIT_EVENTS_FILE, &cur, 0), 0);
    assert_int_equal(fstatat(dfd, AUDIT_EVENTS_OLD, &old, 0), 0);
    assert_true(cur.st_size <= 4096 && old.st_size <= 4096);
    assert_int_equal(cur.st_size % (off_t)len, 0); /* whole lines only */
    assert_int_equal(old.st_size % (off_t)len, 0);
    audit_events_close(&e);
    /* Reopening appends to the current file. */
    assert_int_equal(audit_events_open(&e, dfd, 4096), 0);
    assert_int_equal(e.size, (uint64_t)cur.st_size);
    audit_events_close(&e);
    unlinkat(dfd, AUDIT_EVENTS_FILE, 0);
    unlinkat(dfd, AUDIT_EVENTS_OLD, 0);
    close(dfd);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_order),
        cmocka_unit_test(test_one_line_whatever_the_text),
        cmocka_unit_test(test_rotation_bounds_the_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
