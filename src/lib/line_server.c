/* A backend's control socket (lib/line_server.h): the framing, whatever the lines mean. */
#include "lib/line_server.h"

#include "lib/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int line_server_open(struct line_server *s, const char *path, line_server_handler handle, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->handle = handle;
    s->ctx = ctx;
    s->client_fd = -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path)) {
        s->listen_fd = -1;
        return err_set(ENAMETOOLONG, "control socket %s: longer than %zu bytes", path, sizeof(a.sun_path) - 1);
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0)
        return err_set(errno, "control socket: %s", strerror(errno));
    unlink(path);
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->listen_fd, 8) < 0) {
        int e = errno;
        close(s->listen_fd);
        s->listen_fd = -1;
        return err_set(e, "control socket %s: %s", path, strerror(e));
    }
    return 0;
}

void line_server_close(struct line_server *s)
{
    if (s->client_fd >= 0)
        close(s->client_fd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s->out);
    s->out = NULL;
    s->client_fd = s->listen_fd = -1;
}

unsigned line_server_poll_fds(struct line_server *s, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    if (max >= 2) {
        fds[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = s->client_fd, .events = (short)(POLLIN | (s->out_len ? POLLOUT : 0))};
    }
    return n;
}

static void drop_client(struct line_server *s)
{
    if (s->client_fd >= 0)
        close(s->client_fd);
    s->client_fd = -1;
    s->in_len = 0;
    s->out_len = 0;
}

static int out_append(struct line_server *s, const char *text, size_t len)
{
    if (s->out_len + len > LINE_SERVER_OUT_MAX)
        return -1;
    char *n = realloc(s->out, s->out_len + len);
    if (!n)
        return -1;
    s->out = n;
    memcpy(s->out + s->out_len, text, len);
    s->out_len += len;
    return 0;
}

static void flush_out(struct line_server *s)
{
    ssize_t w = write(s->client_fd, s->out, s->out_len);
    if (w > 0) {
        memmove(s->out, s->out + w, s->out_len - (size_t)w);
        s->out_len -= (size_t)w;
    }
}

static void run_lines(struct line_server *s)
{
    for (;;) {
        char *nl = memchr(s->in, '\n', s->in_len);
        if (!nl) {
            if (s->in_len == sizeof(s->in)) {
                const char *e = "err request line too long (at most 4096 bytes)\n";
                out_append(s, e, strlen(e));
                if (write(s->client_fd, s->out, s->out_len) < 0) {
                }
                drop_client(s);
            }
            return;
        }
        *nl = 0;
        /* A NUL would end the line early for the handler, dropping what follows unseen. */
        char *reply = memchr(s->in, 0, (size_t)(nl - s->in))
                          ? strdup("err control character (0x00) in the line; the line is refused whole\n")
                          : s->handle(s->ctx, s->in);
        if (reply && out_append(s, reply, strlen(reply)) < 0) {
            free(reply);
            drop_client(s);
            return;
        }
        free(reply);
        size_t used = (size_t)(nl + 1 - s->in);
        memmove(s->in, nl + 1, s->in_len - used);
        s->in_len -= used;
    }
}

void line_server_handle(struct line_server *s, const struct pollfd *fds, unsigned n)
{
    if (n < 2)
        return;
    if (fds[1].revents && s->client_fd >= 0 && fds[1].fd == s->client_fd) {
        if (fds[1].revents & POLLOUT && s->out_len)
            flush_out(s);
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(s->client_fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
            if (r <= 0) {
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    /* Flush what is owed (best effort), then close. */
                    if (s->out_len && write(s->client_fd, s->out, s->out_len) < 0) {
                    }
                    drop_client(s);
                }
            } else {
                s->in_len += (size_t)r;
                run_lines(s);
                if (s->client_fd >= 0 && s->out_len)
                    flush_out(s);
            }
        }
    }
    if (fds[0].revents & POLLIN) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            drop_client(s);
            s->client_fd = fd;
        }
    }
}
