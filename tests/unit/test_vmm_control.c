/* The control channel: request parsing (src/proto/control_proto.c), and the line protocol driven
 * (src/vmm/host/control.c) over a socketpair the way the main loop drives it (control_read on input, replies and
 * events written back without ever waiting for the client). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/host/control.h"

/* ---- parsing ---------------------------------------------------------------------------- */

static void parses_every_request(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum control_req req;
    } cases[] = {{"status", CONTROL_STATUS},     {"pause", CONTROL_PAUSE},   {"unpause", CONTROL_UNPAUSE},
                 {"shutdown", CONTROL_SHUTDOWN}, {"reboot", CONTROL_REBOOT}, {"reset", CONTROL_RESET},
                 {"destroy", CONTROL_DESTROY}};
    char why[256];
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum control_req req = (enum control_req)99;
        assert_int_equal(control_parse(cases[i].text, &req, why, sizeof(why)), 0);
        assert_int_equal(req, cases[i].req);
        assert_string_equal(control_req_name(req), cases[i].text);
    }
}

static void parse_trims_blanks_and_cr(void **state)
{
    (void)state;
    enum control_req req;
    char why[256];
    assert_int_equal(control_parse("status\r", &req, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_STATUS);
    assert_int_equal(control_parse("  pause \t", &req, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_PAUSE);
}

static void parse_blank_line_is_no_request(void **state)
{
    (void)state;
    enum control_req req;
    char why[256];
    assert_int_equal(control_parse("", &req, why, sizeof(why)), 1);
    assert_int_equal(control_parse(" \r", &req, why, sizeof(why)), 1);
}

static void parse_rejects_unknown_and_arguments(void **state)
{
    (void)state;
    enum control_req req;
    char why[256];
    assert_int_equal(control_parse("frobnicate", &req, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "unknown request 'frobnicate'"));
    assert_int_equal(control_parse("Status", &req, why, sizeof(why)), -EINVAL); /* case matters */
    assert_int_equal(control_parse("statusx", &req, why, sizeof(why)), -EINVAL);
    assert_int_equal(control_parse("stat", &req, why, sizeof(why)), -EINVAL);
    assert_int_equal(control_parse("status now", &req, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "status takes no arguments");
    /* A huge unknown word is cut short in the message. */
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(control_parse(big, &req, why, sizeof(why)), -EINVAL);
    assert_true(strlen(why) < 250);
}

/* save PATH [keep-running] [shrink]. */
/* Found by the control_line fuzz harness: values with escape sequences or other control
 * characters were accepted and carried on into paths and logs. */
static void parse_refuses_control_characters(void **state)
{
    (void)state;
    enum control_req req;
    struct control_args a;
    char why[512];
    static const char *const bad[] = {"save /tmp/a\x1b[2Jb", "migrate h:1 key=/k\x01x", "pause\x7f",
                                      "save /tmp/x\x0bkeep-running"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(control_parse_args(bad[i], &req, &a, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "control character"));
    }
    /* What the protocol allows stays allowed: a trailing CR, blanks around words. */
    assert_int_equal(control_parse_args("save /tmp/ok.snap keep-running\r", &req, &a, why, sizeof(why)), 0);
}

static void parse_save(void **state)
{
    (void)state;
    enum control_req req;
    struct control_args a;
    char why[512];
    assert_int_equal(control_parse_args("save /tmp/dom.snap", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_SAVE);
    assert_string_equal(a.path, "/tmp/dom.snap");
    assert_int_equal(a.keep_running, 0);
    assert_string_equal(control_req_name(req), "save");
    assert_int_equal(control_parse_args("  save  rel.snap   keep-running \r", &req, &a, why, sizeof(why)), 0);
    assert_string_equal(a.path, "rel.snap");
    assert_int_equal(a.keep_running, 1);
    assert_int_equal(control_parse_args("save", &req, &a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "save PATH"));
    assert_int_equal(control_parse_args("save a b", &req, &a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "keep-running"));
    assert_int_equal(control_parse_args("save a keep-running x", &req, &a, why, sizeof(why)), -EINVAL);
    assert_int_equal(a.shrink, 0);
    /* shrink, alone or with keep-running in either order; each once. */
    assert_int_equal(control_parse_args("save s.snap shrink", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.shrink, 1);
    assert_int_equal(a.keep_running, 0);
    assert_int_equal(control_parse_args("save s.snap shrink  keep-running", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.shrink, 1);
    assert_int_equal(a.keep_running, 1);
    assert_int_equal(control_parse_args("save s.snap keep-running shrink", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.shrink, 1);
    assert_int_equal(a.keep_running, 1);
    assert_int_equal(control_parse_args("save s.snap shrink shrink", &req, &a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "'shrink' is given twice"));
    assert_int_equal(control_parse_args("save s.snap shrinkage", &req, &a, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "not keep-running or shrink"));
}

/* sched KEY=VALUE...: the CPU scheduling settings, each at most once, any subset. */
static void parse_sched(void **state)
{
    (void)state;
    enum control_req req;
    struct control_args a;
    char why[512];
    assert_int_equal(control_parse_args("sched", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_SCHED);
    assert_int_equal(a.sched_has, 0);
    assert_int_equal(control_parse_args(" sched limit=200000  weight=512\r", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.sched_has, (1u << CONTROL_SCHED_LIMIT) | (1u << CONTROL_SCHED_WEIGHT));
    assert_int_equal(a.sched[CONTROL_SCHED_LIMIT], 200000);
    assert_int_equal(a.sched[CONTROL_SCHED_WEIGHT], 512);
    assert_int_equal(
        control_parse_args("sched reservation=300000 limit=0 weight=1024 period=10000", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(a.sched_has, 15);
    assert_int_equal(a.sched[CONTROL_SCHED_RESERVATION], 300000);
    assert_int_equal(a.sched[CONTROL_SCHED_PERIOD], 10000);
    static const char *const bad[] = {"sched limit",
                                      "sched limit=",
                                      "sched limit=-1",
                                      "sched limit=20%",
                                      "sched bogus=1",
                                      "sched limit=1 limit=2",
                                      "sched weight=262145",
                                      "sched period=1000001",
                                      "sched =5",
                                      "sched reservation=32000001"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (control_parse_args(bad[i], &req, &a, why, sizeof(why)) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(why, "sched takes KEY=VALUE settings"));
    }
}

/* ---- the protocol over a socket ---------------------------------------------------------- */

struct fx {
    struct control c;
    int peer; /* the client's end */
    unsigned calls;
    enum control_req last;
};

static int handler(void *opaque, enum control_req req, const struct control_args *args, char *reply, size_t size)
{
    struct fx *f = opaque;
    (void)args;
    f->calls++;
    f->last = req;
    if (req == CONTROL_MIGRATE)
        return CONTROL_REPLY_LATER; /* answered by control_reply() */
    if (req == CONTROL_STATUS)
        snprintf(reply, size, "ok state=running boots=1");
    else if (req == CONTROL_REBOOT)
        snprintf(reply, size, "err no");
    else
        snprintf(reply, size, "ok");
    return req == CONTROL_DESTROY;
}

static int setup(void **state)
{
    static struct fx f;
    int sv[2];
    memset(&f, 0, sizeof(f));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(control_open(&f.c, -1, handler, &f), 0);
    control_attach(&f.c, sv[0]);
    f.peer = sv[1];
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    control_close(&f->c);
    close(f->peer);
    return 0;
}

static void send_str(struct fx *f, const char *s)
{
    assert_int_equal(write(f->peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* Everything the monitor has sent so far. */
static size_t recv_all(struct fx *f, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(f->peer, buf + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void request_gets_one_reply(void **state)
{
    struct fx *f = *state;
    char buf[512];
    send_str(f, "status\n");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok state=running boots=1\n");
    assert_int_equal(f->calls, 1);
}

/* "save /x<NUL>junk": the NUL must not hide the rest of the line from the parser. */
static void nul_in_a_line_is_refused(void **state)
{
    struct fx *f = *state;
    char buf[512];
    static const char line[] = "pause\0 junk\n";
    assert_int_equal(write(f->peer, line, sizeof(line) - 1), (ssize_t)(sizeof(line) - 1));
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "err control character (0x00) in the request\n");
    assert_int_equal(f->calls, 0);
}

static void pipelined_requests_answered_in_order(void **state)
{
    struct fx *f = *state;
    char buf[512];
    send_str(f, "pause\nreboot\r\n\nbogus\nstatus\n");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf,
                        "ok\nerr no\nerr unknown request 'bogus' (expected status, pause, unpause, shutdown, "
                        "reboot, reset, destroy, sched, save, migrate, mem-set or cpu)\nok state=running boots=1\n");
    assert_int_equal(f->calls, 3); /* the blank and the unknown line never reach the handler */
}

/* migrate's reply comes later: requests sent after it wait for it, then run in order. */
static void deferred_reply_holds_later_requests(void **state)
{
    struct fx *f = *state;
    char buf[512];
    struct pollset ps;
    send_str(f, "migrate h:1\nstatus\n");
    control_read(&f->c);
    assert_int_equal(recv_all(f, buf, sizeof(buf)), 0);
    assert_int_equal(f->calls, 1);
    pollset_reset(&ps);
    control_prepare(&f->c, &ps);
    assert_false(ps.fds[f->c.idx_fd].events & POLLIN); /* nothing more is read meanwhile */
    control_event(&f->c, "migrate round=0");
    control_reply(&f->c, "ok rounds=1");
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "event migrate round=0\nok rounds=1\nok state=running boots=1\n");
    assert_int_equal(f->calls, 2);
    control_reply(&f->c, "ok again"); /* nothing is owed: dropped */
    assert_int_equal(recv_all(f, buf, sizeof(buf)), 0);
}

/* A reply owed to a client that was replaced goes to nobody. */
static void deferred_reply_not_for_a_new_client(void **state)
{
    struct fx *f = *state;
    char buf[512];
    int sv[2];
    send_str(f, "migrate h:1\n");
    control_read(&f->c);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    control_attach(&f->c, sv[0]);
    close(f->peer);
    f->peer = sv[1];
    control_reply(&f->c, "ok rounds=1");
    assert_int_equal(recv_all(f, buf, sizeof(buf)), 0);
    send_str(f, "status\n");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok state=running boots=1\n");
}

static void partial_line_waits_for_the_rest(void **state)
{
    struct fx *f = *state;
    char buf[512];
    send_str(f, "sta");
    control_read(&f->c);
    assert_int_equal(recv_all(f, buf, sizeof(buf)), 0);
    assert_int_equal(f->calls, 0);
    send_str(f, "tus\nunp");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok state=running boots=1\n");
    send_str(f, "ause\n");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok\n");
    assert_int_equal(f->last, CONTROL_UNPAUSE);
}

static void events_are_lines(void **state)
{
    struct fx *f = *state;
    char buf[512];
    control_event(&f->c, "state %s", "paused");
    control_event(&f->c, "stopped crash %s", "vCPU 0: triple fault\nrip=0");
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "event state paused\nevent stopped crash vCPU 0: triple fault rip=0\n");
}

static void line_of_exactly_the_limit_is_fine(void **state)
{
    struct fx *f = *state;
    char line[CONTROL_LINE_MAX + 1], buf[512];
    /* 4095 bytes of blanks and "status", then the newline: 4096 in all. */
    memset(line, ' ', CONTROL_LINE_MAX - 1);
    memcpy(line + CONTROL_LINE_MAX - 1 - 6, "status", 6);
    line[CONTROL_LINE_MAX - 1] = '\n';
    line[CONTROL_LINE_MAX] = '\0';
    send_str(f, line);
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok state=running boots=1\n");
    assert_true(control_connected(&f->c));
}

static void overlong_line_gets_err_and_hangup(void **state)
{
    struct fx *f = *state;
    char line[CONTROL_LINE_MAX + 8], buf[512];
    memset(line, 'a', sizeof(line));
    assert_int_equal(write(f->peer, line, sizeof(line)), (ssize_t)sizeof(line));
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_non_null(strstr(buf, "err request line too long"));
    assert_int_equal(f->calls, 0);
    assert_false(control_connected(&f->c));
    assert_int_equal(read(f->peer, buf, 1), 0); /* closed */
}

static void destroy_reply_then_close(void **state)
{
    struct fx *f = *state;
    char buf[512];
    send_str(f, "destroy\nstatus\n");
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok\n"); /* nothing after destroy is taken */
    assert_int_equal(f->calls, 1);
    assert_false(control_connected(&f->c));
    /* No events to a closed connection. */
    control_event(&f->c, "state running");
}

static void client_eof_closes_after_replies(void **state)
{
    struct fx *f = *state;
    char buf[512];
    send_str(f, "status\n");
    shutdown(f->peer, SHUT_WR);
    control_read(&f->c);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "ok state=running boots=1\n");
    assert_false(control_connected(&f->c));
}

static void new_client_replaces_old(void **state)
{
    struct fx *f = *state;
    int sv[2];
    char buf[512];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    control_event(&f->c, "state blocked");
    control_attach(&f->c, sv[0]);
    recv_all(f, buf, sizeof(buf));
    assert_string_equal(buf, "event state blocked\n");
    assert_int_equal(read(f->peer, buf, 1), 0); /* the old one is closed */
    control_event(&f->c, "state running");
    assert_int_equal(read(sv[1], buf, sizeof(buf)), (ssize_t)strlen("event state running\n"));
    close(sv[1]);
}

/* A client that never reads is dropped once its output backs up, and never blocks us. */
static void client_that_does_not_read_is_dropped(void **state)
{
    struct fx *f = *state;
    char payload[1000];
    memset(payload, 'e', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    int snd = 4096;
    setsockopt(f->c.fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    for (int i = 0; i < 10000 && control_connected(&f->c); i++)
        control_event(&f->c, "%s", payload);
    assert_false(control_connected(&f->c));
}

static void prepare_watches_what_is_needed(void **state)
{
    struct fx *f = *state;
    struct pollset ps;
    pollset_reset(&ps);
    control_prepare(&f->c, &ps);
    assert_int_equal(ps.n, 1); /* no listening socket in this fixture; the client for input */
    assert_int_equal(ps.fds[0].events, POLLIN);
    /* A request arrives: dispatch reads it like the main loop would. */
    send_str(f, "status\n");
    assert_int_equal(poll(ps.fds, ps.n, 1000), 1);
    control_dispatch(&f->c, &ps);
    assert_int_equal(f->calls, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_every_request),
        cmocka_unit_test(parse_trims_blanks_and_cr),
        cmocka_unit_test(parse_blank_line_is_no_request),
        cmocka_unit_test(parse_rejects_unknown_and_arguments),
        cmocka_unit_test(parse_sched),
        cmocka_unit_test(parse_save),
        cmocka_unit_test(parse_refuses_control_characters),
        T(request_gets_one_reply),
        T(nul_in_a_line_is_refused),
        T(pipelined_requests_answered_in_order),
        T(deferred_reply_holds_later_requests),
        T(deferred_reply_not_for_a_new_client),
        T(partial_line_waits_for_the_rest),
        T(events_are_lines),
        T(line_of_exactly_the_limit_is_fine),
        T(overlong_line_gets_err_and_hangup),
        T(destroy_reply_then_close),
        T(client_eof_closes_after_replies),
        T(new_client_replaces_old),
        T(client_that_does_not_read_is_dropped),
        T(prepare_watches_what_is_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
