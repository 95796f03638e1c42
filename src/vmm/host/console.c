#include "vmm/host/console.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

int console_open(struct console *c, int in_fd)
{
    memset(c, 0, sizeof(*c));
    c->in_fd = in_fd;
    if (!isatty(in_fd))
        return 0;
    if (tcgetattr(in_fd, &c->saved) < 0)
        return err_set(errno, "reading terminal settings: %s", strerror(errno));
    struct termios raw = c->saved;
    cfmakeraw(&raw);
    /* Keep output post-processing so a guest's bare "\n" still returns the carriage. */
    raw.c_oflag |= OPOST | ONLCR;
    if (tcsetattr(in_fd, TCSANOW, &raw) < 0)
        return err_set(errno, "setting raw terminal mode: %s", strerror(errno));
    c->is_tty = 1;
    return 0;
}

void console_close(struct console *c)
{
    if (c->is_tty)
        tcsetattr(c->in_fd, TCSANOW, &c->saved);
    c->is_tty = 0;
}

int console_wants_input(const struct console *c)
{
    return !c->in_eof && !c->escaped && c->off == c->len;
}

void console_read(struct console *c)
{
    ssize_t n = read(c->in_fd, c->buf, sizeof(c->buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        c->in_eof = 1; /* end of input is not the end of the domain */
        return;
    }
    c->off = 0;
    c->len = (size_t)n;
    if (c->is_tty) {
        void *esc = memchr(c->buf, CONSOLE_ESCAPE, c->len);
        if (esc) {
            c->len = (size_t)((uint8_t *)esc - c->buf);
            c->escaped = 1;
        }
    }
}

void console_feed(struct console *c, struct uart *u)
{
    if (c->off < c->len)
        c->off += uart_receive(u, c->buf + c->off, c->len - c->off);
}

void console_feed_to(struct console *c, size_t (*sink)(void *opaque, const uint8_t *buf, size_t len), void *opaque)
{
    if (c->off < c->len)
        c->off += sink(opaque, c->buf + c->off, c->len - c->off);
}

void console_write_buf(void *fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(*(const int *)fd, buf, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void console_out(void *fd, uint8_t byte)
{
    for (;;) {
        ssize_t n = write(*(const int *)fd, &byte, 1);
        if (n == 1 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return;
    }
}
