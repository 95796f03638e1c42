/* The control socket: xenod's line protocol to this monitor (docs/control-channel.md; the
 * requests and their parser are proto/control_proto.h).
 * One client at a time; a new connection replaces the old one. Requests are answered in
 * order with one line each; events go out between replies. The main loop never waits for
 * the client: output is buffered (bounded; a client that lets it overflow is dropped) and
 * a request line longer than CONTROL_LINE_MAX gets an error and the connection closed. */
#ifndef XENO_VMM_HOST_CONTROL_H
#define XENO_VMM_HOST_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ring.h"
#include "proto/control_proto.h"
#include "vmm/host/pollset.h"

#define CONTROL_OUT_MAX (64 * 1024)

/* Writes the reply line (no newline): "ok [key=value ...]" or "err MESSAGE". Returns 1 to
 * close the connection once the reply is sent (destroy), else 0. */
typedef int (*control_handler_fn)(void *opaque, enum control_req req, const struct control_args *args, char *reply,
                                  size_t size);

struct control {
    int listen_fd, fd;
    int idx_listen, idx_fd;
    char in[CONTROL_LINE_MAX];
    size_t in_len;
    struct ring out;
    int closing; /* no more requests: close once the output is written */
    int pending; /* a request's reply is deferred (migrate): read nothing more until it comes */
    control_handler_fn handle;
    void *opaque;
};

/* listen_fd (taken over; -1 for none) is a listening stream socket. 0 or -errno. */
int control_open(struct control *c, int listen_fd, control_handler_fn handle, void *opaque);
/* Writes what it can of pending output without waiting, then closes everything. */
void control_close(struct control *c);
/* Makes fd (connected, taken over) the client, replacing any other. */
void control_attach(struct control *c, int fd);
int control_connected(const struct control *c);
/* Sends "event ..." (printf-style, without the word "event" and the newline) to the
 * client, if one is connected. */
void control_event(struct control *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void control_prepare(struct control *c, struct pollset *ps);
void control_dispatch(struct control *c, const struct pollset *ps);
/* A handler's return value: the reply comes later, through control_reply(); until then
 * the client's further requests wait (they are answered in order). */
#define CONTROL_REPLY_LATER 2
/* The deferred reply (one line, no newline). Dropped if the client that asked is gone. */
void control_reply(struct control *c, const char *line);
/* Reads and handles what the client sent (control_dispatch does this on POLLIN). */
void control_read(struct control *c);

#endif
