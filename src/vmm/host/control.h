/* The control socket: xenod's line protocol to this monitor (docs/control-channel.md).
 * One client at a time; a new connection replaces the old one. Requests are answered in
 * order with one line each; events go out between replies. The main loop never waits for
 * the client: output is buffered (bounded; a client that lets it overflow is dropped) and
 * a request line longer than CONTROL_LINE_MAX gets an error and the connection closed. */
#ifndef XENO_VMM_HOST_CONTROL_H
#define XENO_VMM_HOST_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/host/pollset.h"
#include "lib/ring.h"

#define CONTROL_LINE_MAX 4096 /* bytes in a request, its '\n' included */
#define CONTROL_OUT_MAX (64 * 1024)

enum control_req {
    CONTROL_STATUS,
    CONTROL_PAUSE,
    CONTROL_UNPAUSE,
    CONTROL_SHUTDOWN,
    CONTROL_REBOOT,
    CONTROL_RESET,
    CONTROL_DESTROY,
    CONTROL_MEM_SET, /* mem-set TARGET_BYTES DEADLINE_MS */
    CONTROL_SCHED,   /* sched [reservation=PPM] [limit=PPM] [weight=N] [period=US] */
    CONTROL_SAVE,    /* save PATH [keep-running] [shrink] */
    CONTROL_MIGRATE, /* migrate HOST:PORT [key=FILE] [bandwidth=MBPS] [max-downtime=MS] [max-rounds=N] */
};

/* A request's arguments: only mem-set has any (two decimal numbers). */
#define CONTROL_MAX_ARGS 2
#define CONTROL_DEADLINE_MS_MAX 31536000000ULL /* a year: any longer is a mistake */
struct control_args {
    unsigned n;
    uint64_t v[CONTROL_MAX_ARGS];
    /* sched KEY=VALUE...: the settings given (bit CONTROL_SCHED_x set in sched_has) in
     * sched[CONTROL_SCHED_x]; the others stay as they are. */
    unsigned sched_has;
    uint64_t sched[4];
    /* save PATH [keep-running] [shrink]: the path (no blanks) and the flags. */
    char path[CONTROL_LINE_MAX];
    int keep_running;
    int shrink; /* ask the guest through the balloon for its free memory first */
    /* migrate: HOST:PORT in path; key=FILE in key; the numbers given (bit CONTROL_MIG_x in
     * mig_has) in mig[CONTROL_MIG_x]. */
    char key[1024];
    unsigned mig_has;
    uint64_t mig[4];
};
enum { CONTROL_MIG_KEY, CONTROL_MIG_BANDWIDTH, CONTROL_MIG_MAX_DOWNTIME, CONTROL_MIG_MAX_ROUNDS };
enum { CONTROL_SCHED_RESERVATION, CONTROL_SCHED_LIMIT, CONTROL_SCHED_WEIGHT, CONTROL_SCHED_PERIOD };

/* Parses one request line (no newline; a trailing '\r' and blanks around are ignored).
 * Returns 0 and *req (and *args, which may be NULL); 1 for a blank line (no request, no
 * reply); -EINVAL with the reason, ready to follow "err ", in why. Arguments are checked
 * for form (mem-set: TARGET_BYTES up to 2^62, DEADLINE_MS up to CONTROL_DEADLINE_MS_MAX);
 * whether the values suit the domain is the handler's business. */
int control_parse_args(const char *line, enum control_req *req, struct control_args *args, char *why, size_t why_size);
/* The same for callers that need no arguments. */
int control_parse(const char *line, enum control_req *req, char *why, size_t why_size);
const char *control_req_name(enum control_req req);

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
