#include "vmm/host/control.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

int control_open(struct control *c, int listen_fd, control_handler_fn handle, void *opaque)
{
    memset(c, 0, sizeof(*c));
    c->listen_fd = listen_fd;
    c->fd = -1;
    c->handle = handle;
    c->opaque = opaque;
    if (ring_init(&c->out, CONTROL_OUT_MAX) < 0)
        return err_set(ENOMEM, "control channel buffer: out of memory");
    return 0;
}

static void disconnect(struct control *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->closing = 0;
    c->pending = 0; /* a reply still owed goes to nobody: a new client did not ask */
    ring_clear(&c->out);
}

static void flush(struct control *c)
{
    while (c->fd >= 0 && ring_len(&c->out)) {
        size_t n;
        const uint8_t *p = ring_peek(&c->out, &n);
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                if (errno != EPIPE && errno != ECONNRESET)
                    log_warn("control client: %s", strerror(errno));
                disconnect(c);
            }
            return;
        }
        ring_consume(&c->out, (size_t)w);
    }
    if (c->fd >= 0 && c->closing && !ring_len(&c->out))
        disconnect(c);
}

static void send_line(struct control *c, const char *line)
{
    size_t len = strlen(line);
    if (c->fd < 0)
        return;
    if (ring_space(&c->out) < len + 1) {
        log_warn("control client dropped: it does not read what it is sent");
        disconnect(c);
        return;
    }
    ring_push(&c->out, line, len);
    ring_push(&c->out, "\n", 1);
    flush(c);
}

void control_close(struct control *c)
{
    flush(c);
    disconnect(c);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    c->listen_fd = -1;
    ring_free(&c->out);
}

void control_attach(struct control *c, int fd)
{
    if (c->fd >= 0)
        log_info("control client replaced by a new connection");
    disconnect(c);
    c->fd = fd;
}

int control_connected(const struct control *c)
{
    return c->fd >= 0;
}

void control_event(struct control *c, const char *fmt, ...)
{
    char line[CONTROL_LINE_MAX];
    va_list ap;
    if (c->fd < 0 || c->closing)
        return;
    int n = snprintf(line, sizeof(line), "event ");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One line, whatever the text: a newline inside would end the event early. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    send_line(c, line);
}

static void handle_line(struct control *c, char *line, size_t len)
{
    char reply[CONTROL_LINE_MAX], why[256];
    enum control_req req;
    struct control_args args;
    /* A NUL would end the line early and hide the rest from the parser's checks. */
    if (memchr(line, '\0', len)) {
        send_line(c, "err control character (0x00) in the request");
        return;
    }
    int r = control_parse_args(line, &req, &args, why, sizeof(why));
    if (r == 1)
        return;
    if (r < 0) {
        snprintf(reply, sizeof(reply), "err %s", why);
        send_line(c, reply);
        return;
    }
    reply[0] = '\0';
    int close_after = c->handle(c->opaque, req, &args, reply, sizeof(reply));
    if (close_after == CONTROL_REPLY_LATER) {
        c->pending = 1; /* no more requests are read until control_reply() */
        return;
    }
    send_line(c, reply[0] ? reply : "err internal error: no reply");
    if (close_after && c->fd >= 0) {
        c->closing = 1;
        flush(c);
    }
}

/* Handles each complete line in the input buffer, until one defers its reply; keeps the
 * rest for later. */
static void process_lines(struct control *c)
{
    size_t start = 0;
    for (size_t i = 0; i < c->in_len && c->fd >= 0 && !c->closing && !c->pending; i++) {
        if (c->in[i] != '\n')
            continue;
        c->in[i] = '\0';
        handle_line(c, c->in + start, i - start);
        start = i + 1;
    }
    if (c->fd < 0)
        return;
    if (c->closing) {
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
}

void control_reply(struct control *c, const char *line)
{
    if (!c->pending)
        return;
    c->pending = 0;
    send_line(c, line);
    process_lines(c); /* requests that arrived meanwhile, in order */
}

void control_read(struct control *c)
{
    while (c->fd >= 0 && !c->closing && !c->pending) {
        ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            if (errno != ECONNRESET)
                log_warn("control client: %s", strerror(errno));
            disconnect(c);
            return;
        }
        if (n == 0) { /* it will send nothing more: finish writing to it, then close */
            c->in_len = 0;
            c->closing = 1;
            flush(c);
            return;
        }
        c->in_len += (size_t)n;
        process_lines(c);
        if (c->fd < 0 || c->closing || c->pending)
            return;
        if (c->in_len == sizeof(c->in)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "err request line too long (at most %d bytes with its newline)",
                     CONTROL_LINE_MAX);
            send_line(c, msg);
            log_warn("control client dropped: request line longer than %d bytes", CONTROL_LINE_MAX);
            c->in_len = 0;
            if (c->fd >= 0) {
                c->closing = 1;
                flush(c);
            }
            return;
        }
    }
}

void control_prepare(struct control *c, struct pollset *ps)
{
    short ev = 0;
    c->idx_listen = pollset_add(ps, c->listen_fd, POLLIN);
    if (!c->closing && !c->pending)
        ev |= POLLIN;
    if (ring_len(&c->out))
        ev |= POLLOUT;
    c->idx_fd = pollset_add(ps, c->fd, ev);
}

void control_dispatch(struct control *c, const struct pollset *ps)
{
    short rev = pollset_revents(ps, c->idx_fd);
    if (rev & POLLOUT)
        flush(c);
    if (rev & (POLLIN | POLLHUP | POLLERR)) {
        if (c->closing || (c->pending && (rev & (POLLHUP | POLLERR))))
            disconnect(c);
        else
            control_read(c);
    }
    if (pollset_revents(ps, c->idx_listen)) {
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            control_attach(c, fd);
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            log_warn("control socket: accept: %s", strerror(errno));
    }
}
