/* xeno-netback's control socket (STATE_DIR/control.sock), a line protocol in the style of the
 * monitor's (docs/control-channel.md, docs/netback.md): one client at a time (a new one
 * replaces the old), requests of at most 4096 bytes, each answered by `ok ...` or `err ...`;
 * `ports` and `stats` follow their `ok` line with one line per port. */
#ifndef XENO_NET_CONTROL_H
#define XENO_NET_CONTROL_H

#include <poll.h>
#include <stddef.h>

struct netback;

#define CONTROL_LINE_MAX 4096
#define CONTROL_OUT_MAX (1u << 20) /* a client that lets more pile up is dropped */

struct nb_control {
    struct netback *nb;
    int listen_fd;
    int client_fd;
    char in[CONTROL_LINE_MAX];
    size_t in_len;
    char *out;
    size_t out_len;
};

/* Listens on control.sock in the current directory (the state directory). */
int nb_control_open(struct nb_control *c, struct netback *nb);
void nb_control_close(struct nb_control *c);
unsigned nb_control_poll_fds(struct nb_control *c, struct pollfd *fds, unsigned max);
void nb_control_handle(struct nb_control *c, const struct pollfd *fds, unsigned n);

/* Runs one request line and returns the reply text (malloc'd, ends in '\n'). For tests. */
char *nb_control_request(struct netback *nb, char *line);

#endif
