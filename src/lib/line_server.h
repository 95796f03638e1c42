/* A backend's control socket: a unix stream socket answering one request line with one reply
 * (docs/netback.md, docs/blkback.md "Control socket"). The framing both backends share:
 * one client at a time (a new one replaces the old), requests of at most LINE_SERVER_LINE_MAX
 * bytes ending in '\n', a line holding a NUL refused whole, replies queued and written as the
 * client reads them (a client that lets more than LINE_SERVER_OUT_MAX pile up is dropped).
 * What a line means is the owner's `handle` callback.
 *
 * Threads: one; every call comes from the owner's event loop. */
#ifndef XENO_LIB_LINE_SERVER_H
#define XENO_LIB_LINE_SERVER_H

#include <poll.h>
#include <stddef.h>

#define LINE_SERVER_LINE_MAX 4096
#define LINE_SERVER_OUT_MAX (1u << 20)

/* Runs one request line (NUL-terminated, without its '\n') and returns the reply text,
 * malloc'd, each line ending in '\n' ("" or NULL: no reply). */
typedef char *(*line_server_handler)(void *ctx, char *line);

struct line_server {
    line_server_handler handle;
    void *ctx;
    int listen_fd;
    int client_fd;
    char in[LINE_SERVER_LINE_MAX];
    size_t in_len;
    char *out;
    size_t out_len;
};

/* Listens on `path` (relative to the current directory or absolute; an old socket there is
 * removed first). 0, or -errno with a message naming the path. */
int line_server_open(struct line_server *s, const char *path, line_server_handler handle, void *ctx);
void line_server_close(struct line_server *s);
/* Two pollfds (the listening socket, the client: fd -1 when none) into fds; returns 2, or 0
 * when max < 2. */
unsigned line_server_poll_fds(struct line_server *s, struct pollfd *fds, unsigned max);
/* Handles what poll reported on those two. */
void line_server_handle(struct line_server *s, const struct pollfd *fds, unsigned n);

#endif
