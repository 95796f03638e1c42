/* The control channel's requests (docs/control-channel.md): the line protocol xenod speaks to
 * each monitor over its control socket. The parser is pure (no sockets) so that both ends
 * share one definition of what a request is; the monitor's side of the socket is
 * src/vmm/host/control.c. */
#ifndef XENO_PROTO_CONTROL_PROTO_H
#define XENO_PROTO_CONTROL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX 4096 /* bytes in a request, its '\n' included */
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
    CONTROL_MIGRATE, /* migrate HOST:PORT [key=FILE] [bandwidth=MBPS] [max-downtime=MS] [max-rounds=N] [to=ID] */
    CONTROL_CPU,     /* cpu: the machine contract as this host keeps it (docs/machine.md, "CPUID") */
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
    /* to=ID: the destination the source means to reach, as it names itself (its address,
     * when HOST:PORT is a relay or a port forward); empty: HOST:PORT as reached. */
    char mig_to[128];
};
enum { CONTROL_MIG_KEY, CONTROL_MIG_BANDWIDTH, CONTROL_MIG_MAX_DOWNTIME, CONTROL_MIG_MAX_ROUNDS, CONTROL_MIG_TO };
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

#endif
