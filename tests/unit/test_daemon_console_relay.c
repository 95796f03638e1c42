/* The console relay (src/daemon/console_relay.c) with its real thread and sockets, the
 * monitor's console socket played by the test (a unix socket it listens on, pouring output
 * far faster than a guest's UART can): every viewer gets the scrollback and the output; a
 * viewer that never reads is dropped once CONSOLE_VIEWER_QUEUE bytes wait for it, while a
 * reading viewer gets everything; keystrokes reach the monitor, a read-only viewer's never
 * do; the caps answer -EBUSY. Viewers are socketpairs (no libmicrohttpd handle: the relay
 * closes the descriptor itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/console_relay.h"
#include "lib/websocket.h"

#define UUID "00000000-0000-0000-0000-00000000cafe"
#define POUR (8u << 20) /* 8 MiB of output: 64 times a viewer's queue */

struct fixture {
    struct console_relay *cr;
    char dir[48], path[80];
    int listen_fd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_console_relay.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/console.sock", f->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->listen_fd, 4), 0);
    assert_int_equal(console_relay_start(&f->cr), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    console_relay_stop(f->cr);
    close(f->listen_fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A viewer: the test's end of a socketpair whose other end the relay owns. */
static int viewer(struct fixture *f, int read_only, const char *who)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(console_relay_reserve(f->cr, UUID), 0);
    struct console_viewer_spec spec = {
        .uuid = UUID, .name = "t", .socket_path = f->path, .who = who, .read_only = read_only};
    console_relay_attach(f->cr, &spec, sv[1], NULL, NULL, 0);
    return sv[0];
}

static int accept_monitor(struct fixture *f)
{
    struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int fd = accept(f->listen_fd, NULL, NULL);
    assert_true(fd >= 0);
    return fd;
}

static void send_text(int fd, const char *text)
{
    uint8_t frame[256], mask[4] = {1, 2, 3, 4};
    size_t len = strlen(text), hl = ws_build_header(frame, 1, WS_OP_TEXT, len, mask);
    memcpy(frame + hl, text, len);
    ws_mask(frame + hl, len, mask, 0);
    assert_int_equal(write(fd, frame, hl + len), (ssize_t)(hl + len));
}

/* Reads frames from a viewer until `want` payload bytes came or `ms` passed: the count. */
static size_t read_payload(int fd, struct ws_reader *rd, size_t want, int ms, char *last, size_t last_size)
{
    size_t got = 0;
    while (got < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            break;
        size_t room;
        uint8_t *space = ws_reader_space(rd, &room);
        ssize_t n = read(fd, space, room);
        if (n <= 0)
            break;
        ws_reader_fill(rd, (size_t)n);
        struct ws_event ev;
        while (ws_reader_next(rd, &ev) > 0)
            if (ev.kind == WS_EV_MESSAGE) {
                got += ev.len;
                if (last)
                    snprintf(last, last_size, "%.*s", (int)ev.len, (const char *)ev.data);
            }
    }
    return got;
}

static void test_keystrokes_and_read_only(void **state)
{
    struct fixture *f = *state;
    int rw = viewer(f, 0, "rw");
    int mon = accept_monitor(f);
    int ro = viewer(f, 1, "ro");
    assert_int_equal(write(mon, "scrollback\n", 11), 11);
    struct ws_reader rd;
    char last[64];
    assert_int_equal(ws_reader_init(&rd, 0, 1 << 20), 0);
    assert_int_equal(read_payload(rw, &rd, 11, 5000, last, sizeof(last)), 11);
    ws_reader_free(&rd);
    send_text(ro, "never\r");
    send_text(rw, "typed\r");
    char buf[64] = "";
    struct pollfd p = {.fd = mon, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    usleep(100000); /* anything the read-only viewer's frame could have added is there too */
    ssize_t n = read(mon, buf, sizeof(buf) - 1);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "typed\r", 6);
    /* A viewer that came later gets the scrollback first. */
    int late = viewer(f, 1, "late");
    assert_int_equal(ws_reader_init(&rd, 0, 1 << 20), 0);
    assert_int_equal(read_payload(late, &rd, 11, 5000, last, sizeof(last)), 11);
    assert_string_equal(last, "scrollback\n");
    ws_reader_free(&rd);
    close(rw), close(ro), close(late), close(mon);
}

static void test_slow_viewer_dropped(void **state)
{
    struct fixture *f = *state;
    int fast = viewer(f, 0, "fast");
    int mon = accept_monitor(f);
    int slow = viewer(f, 0, "slow");
    usleep(200000); /* both attached before the output starts */
    static uint8_t chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    struct ws_reader rd;
    assert_int_equal(ws_reader_init(&rd, 0, 1 << 20), 0);
    fcntl(mon, F_SETFL, O_NONBLOCK);
    size_t poured = 0, got = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < POUR) {
        if (poured < POUR) {
            ssize_t n = write(mon, chunk, POUR - poured < sizeof(chunk) ? POUR - poured : sizeof(chunk));
            if (n > 0)
                poured += (size_t)n;
        }
        got += read_payload(fast, &rd, 1, 10, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
        assert_true(t.tv_sec - t0.tv_sec < 30); /* bounded */
    }
    assert_int_equal(got, POUR); /* the reading viewer got every byte */
    ws_reader_free(&rd);
    /* The slow one was dropped: what it can still read is bounded, then the end. */
    size_t slow_bytes = 0;
    for (;;) {
        char buf[65536];
        struct pollfd p = {.fd = slow, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t n = read(slow, buf, sizeof(buf));
        if (n <= 0)
            break;
        slow_bytes += (size_t)n;
    }
    assert_true(slow_bytes < POUR / 4);
    close(fast), close(slow), close(mon);
}

static void test_caps(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < CONSOLE_VIEWERS_PER_DOMAIN; i++)
        assert_int_equal(console_relay_reserve(f->cr, UUID), 0);
    assert_int_equal(console_relay_reserve(f->cr, UUID), -EBUSY);
    assert_int_equal(console_relay_reserve(f->cr, "another"), 0);
    for (int i = 0; i < CONSOLE_VIEWERS_PER_DOMAIN; i++)
        console_relay_release(f->cr, UUID);
    console_relay_release(f->cr, "another");
    assert_int_equal(console_relay_reserve(f->cr, UUID), 0);
    console_relay_release(f->cr, UUID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keystrokes_and_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_viewer_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
