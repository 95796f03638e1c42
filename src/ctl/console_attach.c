#include "ctl/console_attach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/unix_socket.h"

/* How long to retry connecting while the monitor comes up (create/start --console). */
#define CONNECT_RETRY_MS 2000
#define CONNECT_RETRY_STEP_MS 50

static const int caught_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NSIGNALS (sizeof(caught_signals) / sizeof(caught_signals[0]))

static volatile sig_atomic_t caught;

static void on_signal(int signo)
{
    caught = signo;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_console(const char *path)
{
    int64_t deadline = now_ms() + CONNECT_RETRY_MS;
    for (;;) {
        int fd = unix_connect(path, 0);
        if (fd >= 0)
            return fd;
        int e = -fd;
        if (e == ENAMETOOLONG)
            return err_set(e, "console socket path %s is too long for a unix socket", path);
        if ((e != ENOENT && e != ECONNREFUSED) || now_ms() >= deadline)
            return err_set(e, "cannot connect to the console at %s: %s", path, strerror(e));
        nanosleep(&(struct timespec){.tv_nsec = CONNECT_RETRY_STEP_MS * 1000000L}, NULL);
    }
}

/* Writes all of buf to a blocking fd (stdout). Returns 0 or -errno. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

struct attach {
    int sock, in_fd, out_fd, is_tty;
    struct termios saved;
    int in_eof, escaped;
    uint8_t in_buf[4096];
    size_t in_off, in_len;
    uint8_t out_buf[65536];
};

static int enter_raw(struct attach *a)
{
    if (tcgetattr(a->in_fd, &a->saved) < 0)
        return err_set(errno, "reading terminal settings: %s", strerror(errno));
    struct termios raw = a->saved;
    cfmakeraw(&raw);
    /* Keep output post-processing so a guest's bare "\n" still returns the carriage
     * (as xeno-vmm does on its own terminal). */
    raw.c_oflag |= OPOST | ONLCR;
    if (tcsetattr(a->in_fd, TCSANOW, &raw) < 0)
        return err_set(errno, "setting raw terminal mode: %s", strerror(errno));
    return 0;
}

/* Reads what stdin has. On a terminal, Ctrl-] ends input: what precedes it is still sent. */
static void read_input(struct attach *a)
{
    ssize_t n = read(a->in_fd, a->in_buf, sizeof(a->in_buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        a->in_eof = 1;
        return;
    }
    a->in_off = 0;
    a->in_len = (size_t)n;
    if (a->is_tty) {
        uint8_t *esc = memchr(a->in_buf, CTL_CONSOLE_ESCAPE, a->in_len);
        if (esc) {
            a->in_len = (size_t)(esc - a->in_buf);
            a->escaped = 1;
        }
    }
}

/* Sends buffered input as far as the socket takes it (it is non-blocking: a guest that does
 * not read its console must not stop us reading its output, or the monitor drops us). */
static int send_input(struct attach *a)
{
    while (a->in_off < a->in_len) {
        ssize_t n = send(a->sock, a->in_buf + a->in_off, a->in_len - a->in_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -errno;
        a->in_off += (size_t)n;
    }
    return 0;
}

/* Copies what the socket has to stdout. Returns 1 when the socket closed, 0, or -errno. */
static int copy_output(struct attach *a)
{
    ssize_t n = recv(a->sock, a->out_buf, sizeof(a->out_buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0 && errno == ECONNRESET)
        return 1;
    if (n < 0)
        return -errno;
    if (n == 0)
        return 1;
    return write_all(a->out_fd, a->out_buf, (size_t)n);
}

static int pump(struct attach *a, const struct ctl_console_opts *o, const sigset_t *wait_mask)
{
    int64_t linger_until = -1;
    for (;;) {
        if (caught)
            return CTL_CONSOLE_SIGNALLED;
        int pending = a->in_off < a->in_len;
        if (!pending && a->escaped)
            return CTL_CONSOLE_DETACHED;
        if (!pending && a->in_eof) {
            /* On a terminal, end of input (a hang-up) means the user is gone. */
            if (a->is_tty)
                return CTL_CONSOLE_DETACHED;
            if (linger_until < 0)
                linger_until = now_ms() + (int64_t)(o->linger_s * 1000.0 + 0.5);
        }
        struct pollfd pfd[2] = {
            {.fd = a->sock, .events = POLLIN | (pending ? POLLOUT : 0)},
            {.fd = a->in_fd, .events = POLLIN},
        };
        nfds_t nfds = (!pending && !a->in_eof && !a->escaped) ? 2 : 1;
        struct timespec ts, *tsp = NULL;
        if (linger_until >= 0) {
            int64_t left = linger_until - now_ms();
            if (left <= 0)
                return CTL_CONSOLE_DETACHED;
            ts = (struct timespec){.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L};
            tsp = &ts;
        }
        /* Signals are blocked except inside ppoll: one that arrives just before it is not
         * lost, it interrupts ppoll at once. */
        int n = ppoll(pfd, nfds, tsp, wait_mask);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(errno, "waiting for console I/O: %s", strerror(errno));
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            int r = copy_output(a);
            if (r == -EPIPE)
                return CTL_CONSOLE_DETACHED; /* whoever reads our output has gone */
            if (r < 0)
                return err_set(-r, "console of %s: %s", o->domain, strerror(-r));
            if (r == 1)
                return CTL_CONSOLE_CLOSED;
        }
        if (pending && (pfd[0].revents & POLLOUT)) {
            int r = send_input(a);
            if (r == -EPIPE || r == -ECONNRESET)
                return CTL_CONSOLE_CLOSED;
            if (r < 0)
                return err_set(-r, "sending to the console of %s: %s", o->domain, strerror(-r));
        }
        if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            read_input(a);
        else if (nfds == 2 && (pfd[1].revents & POLLNVAL))
            a->in_eof = 1; /* stdin is closed altogether */
    }
}

int ctl_console_attach(const char *path, const struct ctl_console_opts *o, int *signo)
{
    *signo = 0;
    int sock = connect_console(path);
    if (sock < 0)
        return sock;
    return ctl_console_attach_fd(sock, o, signo);
}

int ctl_console_attach_fd(int sock, const struct ctl_console_opts *o, int *signo)
{
    struct attach a = {.in_fd = o->in_fd, .out_fd = o->out_fd, .sock = sock};
    *signo = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_sa[NSIGNALS];
    sigset_t block, old_mask;
    int r;

    fcntl(a.sock, F_SETFL, fcntl(a.sock, F_GETFL) | O_NONBLOCK);

    /* Install the handlers before the terminal goes raw, so no signal can find it raw and
     * leave it so. */
    caught = 0;
    sigemptyset(&block);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaddset(&block, caught_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(caught_signals[i], &sa, &old_sa[i]);

    a.is_tty = isatty(a.in_fd);
    if (a.is_tty) {
        fprintf(stderr, "Connected to the console of %s (Ctrl-] to detach)\n", o->domain);
        r = enter_raw(&a);
        if (r < 0)
            goto out;
    }
    r = pump(&a, o, &old_mask);
    if (a.is_tty) {
        tcsetattr(a.in_fd, TCSANOW, &a.saved);
        if (r == CTL_CONSOLE_CLOSED)
            fprintf(stderr, "\nThe console of %s closed (the domain stopped)\n", o->domain);
        else if (r >= 0)
            fputc('\n', stderr);
    }
out:
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(caught_signals[i], &old_sa[i], NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(a.sock);
    *signo = caught;
    return r;
}
