/* xeno-netback's control socket (STATE_DIR/control.sock), a line protocol in the style of the
 * monitor's (docs/control-channel.md, docs/netback.md), framed by lib/line_server.h (one
 * client at a time, requests of at most 4096 bytes), each answered by `ok ...` or `err ...`;
 * `ports` and `stats` follow their `ok` line with one line per port. */
#ifndef XENO_NET_CONTROL_H
#define XENO_NET_CONTROL_H

#include <poll.h>
#include <stddef.h>

#include "lib/line_server.h"

struct netback;

struct nb_control {
    struct netback *nb;
    struct line_server srv;
};

/* Listens on control.sock in the current directory (the state directory). */
int nb_control_open(struct nb_control *c, struct netback *nb);
void nb_control_close(struct nb_control *c);
unsigned nb_control_poll_fds(struct nb_control *c, struct pollfd *fds, unsigned max);
void nb_control_handle(struct nb_control *c, const struct pollfd *fds, unsigned n);

/* Runs one request line and returns the reply text (malloc'd, ends in '\n'). For tests. */
char *nb_control_request(struct netback *nb, char *line);

#endif
