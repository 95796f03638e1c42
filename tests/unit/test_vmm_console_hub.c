/* The console under xenod: the byte ring (src/lib/ring.c), the bounded console.log with
 * rotation (console_log.c) in a temporary directory, and the hub (console_hub.c) with
 * clients on socketpairs: scrollback then live output, several clients, input into a UART
 * model with its flow control, and a client that stops reading being dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/host/console_hub.h"
#include "vmm/host/console_log.h"
#include "lib/ring.h"

/* ---- ring ------------------------------------------------------------------------------- */

static void ring_push_consume_wraps(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[16];
    size_t n;
    assert_int_equal(ring_init(&r, 8), 0);
    assert_int_equal(ring_push(&r, "abcdef", 6), 6);
    ring_consume(&r, 4);
    assert_int_equal(ring_push(&r, "ghijklmn", 8), 6); /* only 6 fit */
    assert_int_equal(ring_len(&r), 8);
    assert_int_equal(ring_space(&r), 0);
    const uint8_t *p = ring_peek(&r, &n);
    assert_int_equal(n, 4); /* "efgh" up to the end of the buffer */
    assert_memory_equal(p, "efgh", 4);
    assert_int_equal(ring_copy(&r, 0, out, sizeof(out)), 8);
    assert_memory_equal(out, "efghijkl", 8);
    assert_int_equal(ring_copy(&r, 6, out, sizeof(out)), 2);
    assert_memory_equal(out, "kl", 2);
    assert_int_equal(ring_copy(&r, 8, out, sizeof(out)), 0);
    ring_consume(&r, 100);
    assert_int_equal(ring_len(&r), 0);
    ring_free(&r);
}

static void ring_overwrite_keeps_newest(void **state)
{
    (void)state;
    struct ring r;
    uint8_t out[16];
    assert_int_equal(ring_init(&r, 8), 0);
    ring_push_overwrite(&r, "abcde", 5);
    ring_push_overwrite(&r, "fghij", 5);
    assert_int_equal(ring_copy(&r, 0, out, sizeof(out)), 8);
    assert_memory_equal(out, "cdefghij", 8);
    ring_push_overwrite(&r, "0123456789ABC", 13); /* more than the ring holds */
    assert_int_equal(ring_copy(&r, 0, out, sizeof(out)), 8);
    assert_memory_equal(out, "56789ABC", 8);
    ring_clear(&r);
    assert_int_equal(ring_len(&r), 0);
    ring_free(&r);
}

/* ---- console.log ------------------------------------------------------------------------ */

struct dir {
    char path[64];
    int fd;
};

static void make_dir(struct dir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/xeno-hub-test.XXXXXX");
    assert_non_null(mkdtemp(d->path));
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY);
    assert_true(d->fd >= 0);
}

static void remove_dir(struct dir *d)
{
    unlinkat(d->fd, CONSOLE_LOG_NAME, 0);
    unlinkat(d->fd, CONSOLE_LOG_OLD_NAME, 0);
    close(d->fd);
    rmdir(d->path);
}

/* Contents of DIR/name ("" if missing); returns the length or -1. */
static ssize_t slurp(struct dir *d, const char *name, char *buf, size_t size)
{
    int fd = openat(d->fd, name, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

static void fill(char *buf, size_t len, size_t start)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (start + i) % 26);
}

static void log_rotates_at_limit(void **state)
{
    (void)state;
    struct dir d;
    struct console_log l;
    char data[2600], got[4096], want[2048];
    make_dir(&d);
    assert_int_equal(console_log_open(&l, d.fd, 1024), 0);
    fill(data, sizeof(data), 0);
    console_log_write(&l, data, 1000);
    assert_int_equal(slurp(&d, CONSOLE_LOG_NAME, got, sizeof(got)), 1000);
    assert_int_equal(slurp(&d, CONSOLE_LOG_OLD_NAME, got, sizeof(got)), -1);
    /* Crossing the limit: the file fills to exactly 1024 bytes, then moves aside. */
    console_log_write(&l, data + 1000, 1600);
    assert_int_equal(slurp(&d, CONSOLE_LOG_OLD_NAME, got, sizeof(got)), 1024);
    fill(want, 1024, 1024);
    assert_memory_equal(got, want, 1024);
    assert_int_equal(slurp(&d, CONSOLE_LOG_NAME, got, sizeof(got)), 2600 - 2048);
    fill(want, 2600 - 2048, 2048);
    assert_memory_equal(got, want, 2600 - 2048);
    console_log_close(&l);

    /* A new monitor appends, and counts what is there toward the limit. */
    assert_int_equal(console_log_open(&l, d.fd, 1024), 0);
    console_log_write(&l, "0123456789", 10);
    assert_int_equal(slurp(&d, CONSOLE_LOG_NAME, got, sizeof(got)), 2600 - 2048 + 10);
    console_log_write(&l, data, 1024 - (2600 - 2048 + 10) + 1); /* one byte over */
    assert_int_equal(slurp(&d, CONSOLE_LOG_NAME, got, sizeof(got)), 1);
    assert_int_equal(slurp(&d, CONSOLE_LOG_OLD_NAME, got, sizeof(got)), 1024);
    console_log_close(&l);

    struct stat st;
    assert_int_equal(fstatat(d.fd, CONSOLE_LOG_NAME, &st, 0), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    remove_dir(&d);
}

static void log_limit_has_a_floor(void **state)
{
    (void)state;
    struct dir d;
    struct console_log l;
    char data[CONSOLE_LOG_MIN + 1], got[4096];
    make_dir(&d);
    assert_int_equal(console_log_open(&l, d.fd, 1), 0);
    fill(data, sizeof(data), 0);
    console_log_write(&l, data, sizeof(data));
    assert_int_equal(slurp(&d, CONSOLE_LOG_OLD_NAME, got, sizeof(got)), CONSOLE_LOG_MIN);
    assert_int_equal(slurp(&d, CONSOLE_LOG_NAME, got, sizeof(got)), 1);
    console_log_close(&l);
    remove_dir(&d);
}

/* ---- the hub ---------------------------------------------------------------------------- */

struct hfx {
    struct console_hub h;
    struct dir d;
};

static int hub_setup(void **state)
{
    static struct hfx f;
    memset(&f, 0, sizeof(f));
    make_dir(&f.d);
    assert_int_equal(hub_open(&f.h, -1, f.d.fd, 4096), 0);
    *state = &f;
    return 0;
}

static int hub_teardown(void **state)
{
    struct hfx *f = *state;
    hub_close(&f->h);
    remove_dir(&f->d);
    return 0;
}

static void guest_says(struct console_hub *h, const char *s)
{
    while (*s)
        hub_guest_output(h, (uint8_t)*s++);
}

/* A connected client; returns the peer end the test plays the client with. */
static int attach(struct console_hub *h)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(hub_add_client(h, sv[0]), 0);
    return sv[1];
}

static size_t recv_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void client_gets_scrollback_then_live(void **state)
{
    struct hfx *f = *state;
    char buf[256];
    guest_says(&f->h, "boot banner\n");
    hub_drain(&f->h);
    int c = attach(&f->h);
    recv_all(c, buf, sizeof(buf));
    assert_string_equal(buf, "boot banner\n");
    guest_says(&f->h, "prompt> ");
    hub_drain(&f->h);
    recv_all(c, buf, sizeof(buf));
    assert_string_equal(buf, "prompt> ");
    assert_int_equal(slurp(&f->d, CONSOLE_LOG_NAME, buf, sizeof(buf)), 20);
    assert_string_equal(buf, "boot banner\nprompt> ");
    assert_int_equal(hub_out_bytes(&f->h), 20);
    close(c);
}

static void scrollback_is_the_last_16k(void **state)
{
    struct hfx *f = *state;
    static char big[HUB_SCROLLBACK + 5000], got[HUB_SCROLLBACK + 100];
    fill(big, sizeof(big), 0);
    for (size_t i = 0; i < sizeof(big); i++)
        hub_guest_output(&f->h, (uint8_t)big[i]);
    hub_drain(&f->h);
    int c = attach(&f->h);
    assert_int_equal(recv_all(c, got, sizeof(got)), HUB_SCROLLBACK);
    assert_memory_equal(got, big + 5000, HUB_SCROLLBACK);
    close(c);
}

static void two_clients_both_see_output(void **state)
{
    struct hfx *f = *state;
    char b1[64], b2[64];
    int c1 = attach(&f->h), c2 = attach(&f->h);
    assert_int_equal(hub_clients(&f->h), 2);
    guest_says(&f->h, "hello\n");
    hub_drain(&f->h);
    recv_all(c1, b1, sizeof(b1));
    recv_all(c2, b2, sizeof(b2));
    assert_string_equal(b1, "hello\n");
    assert_string_equal(b2, "hello\n");
    close(c1);
    close(c2);
}

/* Runs one main-loop turn for the hub: prepare, poll (no wait), dispatch. */
static void turn(struct console_hub *h)
{
    struct pollset ps;
    pollset_reset(&ps);
    hub_prepare(h, &ps);
    poll(ps.fds, ps.n, 0);
    hub_dispatch(h, &ps);
}

struct uart_rec {
    unsigned rx_space;
};

static void u_tx(void *o, uint8_t b)
{
    (void)o, (void)b;
}
static void u_irq(void *o, int l)
{
    (void)o, (void)l;
}
static void u_space(void *o)
{
    ((struct uart_rec *)o)->rx_space++;
}
static const struct uart_ops uops = {u_tx, u_irq, u_space};

static void input_reaches_uart_as_it_drains(void **state)
{
    struct hfx *f = *state;
    struct uart_rec rec = {0};
    struct uart u;
    uint8_t rbr;
    char text[] = "echo a fairly long line, more than sixteen bytes\r";
    uart_init(&u, &uops, &rec);
    int c = attach(&f->h);
    assert_int_equal(write(c, text, strlen(text)), (ssize_t)strlen(text));
    turn(&f->h);
    /* The driver is not listening yet: nothing is taken, nothing is lost. */
    assert_int_equal(hub_feed(&f->h, &u), 0);
    uint8_t lsr;
    uart_io(&u, 5, 0, &lsr, 1); /* reading LSR opens the receiver */
    size_t got = 0;
    char seen[128];
    for (int i = 0; i < 100 && got < strlen(text); i++) {
        hub_feed(&f->h, &u);
        /* The guest drains the FIFO. */
        for (;;) {
            uart_io(&u, 5, 0, &lsr, 1);
            if (!(lsr & 1))
                break;
            uart_io(&u, 0, 0, &rbr, 1);
            seen[got++] = (char)rbr;
        }
        turn(&f->h);
    }
    assert_int_equal(got, strlen(text));
    assert_memory_equal(seen, text, got);
    assert_int_equal(f->h.in_bytes, strlen(text));
    uart_destroy(&u);
    close(c);
}

static void half_closed_client_keeps_output(void **state)
{
    struct hfx *f = *state;
    char buf[64];
    int c = attach(&f->h);
    shutdown(c, SHUT_WR);
    turn(&f->h);
    turn(&f->h);
    assert_int_equal(hub_clients(&f->h), 1);
    guest_says(&f->h, "still here\n");
    hub_drain(&f->h);
    recv_all(c, buf, sizeof(buf));
    assert_string_equal(buf, "still here\n");
    close(c);
    turn(&f->h);
    assert_int_equal(hub_clients(&f->h), 0);
}

static void closed_client_is_reaped(void **state)
{
    struct hfx *f = *state;
    int c1 = attach(&f->h), c2 = attach(&f->h);
    close(c1);
    turn(&f->h);
    turn(&f->h);
    assert_int_equal(hub_clients(&f->h), 1);
    close(c2);
}

/* Drains the UART's FIFO the way a guest driver would; appends to out. */
static size_t guest_reads(struct uart *u, char *out, size_t have)
{
    uint8_t lsr, rbr;
    for (;;) {
        uart_io(u, 5, 0, &lsr, 1);
        if (!(lsr & 1))
            return have;
        uart_io(u, 0, 0, &rbr, 1);
        out[have++] = (char)rbr;
    }
}

/* A client that typed and left still gets its input delivered once there is room; one
 * that left with nothing unread goes at once, even while the input buffer is full. */
static void gone_client_with_input_waits_for_room(void **state)
{
    struct hfx *f = *state;
    struct uart_rec rec = {0};
    struct uart u;
    char seen[64];
    size_t got = 0;
    uart_init(&u, &uops, &rec);
    int c1 = attach(&f->h), c2 = attach(&f->h), c3 = attach(&f->h);
    assert_int_equal(write(c1, "abc", 3), 3);
    turn(&f->h); /* the input buffer now holds c1's bytes; the guest is not listening */
    assert_int_equal(write(c2, "xyz", 3), 3);
    close(c2);
    close(c3);
    turn(&f->h);
    turn(&f->h);
    assert_int_equal(hub_clients(&f->h), 2); /* c1, and c2 with its unread input */
    got = guest_reads(&u, seen, got);        /* opens the receiver */
    for (int i = 0; i < 10; i++) {
        hub_feed(&f->h, &u);
        got = guest_reads(&u, seen, got);
        turn(&f->h);
    }
    assert_int_equal(got, 6);
    assert_memory_equal(seen, "abcxyz", 6);
    assert_int_equal(hub_clients(&f->h), 1);
    uart_destroy(&u);
    close(c1);
}

static void client_that_does_not_read_is_dropped(void **state)
{
    struct hfx *f = *state;
    char buf[64];
    int slow = attach(&f->h), good = attach(&f->h);
    int snd = 4096;
    setsockopt(f->h.clients[0]->fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
    static char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    /* The guest writes far more than the slow client's socket and buffer hold; the good
     * client keeps reading. */
    for (int i = 0; i < 100 && hub_clients(&f->h) == 2; i++) {
        for (size_t k = 0; k < sizeof(chunk); k++)
            hub_guest_output(&f->h, (uint8_t)chunk[k]);
        hub_drain(&f->h);
        while (read(good, chunk, sizeof(chunk)) > 0)
            ;
        memset(chunk, 'x', sizeof(chunk));
    }
    assert_int_equal(hub_clients(&f->h), 1);
    guest_says(&f->h, "after\n");
    hub_drain(&f->h);
    recv_all(good, buf, sizeof(buf));
    assert_string_equal(buf, "after\n");
    close(slow);
    close(good);
}

static void guest_output_wakes_the_loop_once(void **state)
{
    struct hfx *f = *state;
    struct pollset ps;
    pollset_reset(&ps);
    hub_prepare(&f->h, &ps);
    assert_int_equal(poll(ps.fds, ps.n, 0), 0); /* nothing yet */
    guest_says(&f->h, "abc");
    assert_int_equal(poll(ps.fds, ps.n, 0), 1);
    hub_dispatch(&f->h, &ps);
    pollset_reset(&ps);
    hub_prepare(&f->h, &ps);
    assert_int_equal(poll(ps.fds, ps.n, 0), 0); /* drained and quiet again */
    guest_says(&f->h, "d");
    assert_int_equal(poll(ps.fds, ps.n, 0), 1);
}

static void too_many_clients_refused(void **state)
{
    struct hfx *f = *state;
    int peers[HUB_MAX_CLIENTS], sv[2];
    for (int i = 0; i < HUB_MAX_CLIENTS; i++)
        peers[i] = attach(&f->h);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(hub_add_client(&f->h, sv[0]), -EMFILE);
    assert_int_equal(hub_clients(&f->h), HUB_MAX_CLIENTS);
    close(sv[1]);
    for (int i = 0; i < HUB_MAX_CLIENTS; i++)
        close(peers[i]);
}

#define H(fn) cmocka_unit_test_setup_teardown(fn, hub_setup, hub_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_push_consume_wraps),
        cmocka_unit_test(ring_overwrite_keeps_newest),
        cmocka_unit_test(log_rotates_at_limit),
        cmocka_unit_test(log_limit_has_a_floor),
        H(client_gets_scrollback_then_live),
        H(scrollback_is_the_last_16k),
        H(two_clients_both_see_output),
        H(input_reaches_uart_as_it_drains),
        H(half_closed_client_keeps_output),
        H(closed_client_is_reaped),
        H(gone_client_with_input_waits_for_room),
        H(client_that_does_not_read_is_dropped),
        H(guest_output_wakes_the_loop_once),
        H(too_many_clients_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
