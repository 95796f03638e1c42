/* What every xenctl command shares: where xenod is, whether to print JSON, the exit codes,
 * and the one way a command talks to xenod and reports failure (one line on stderr). */
#ifndef XENO_CTL_CTL_H
#define XENO_CTL_CTL_H

#include <jansson.h>

#include "ctl/api_client.h"
#include "ctl/args.h"

#ifndef XENO_VERSION
#define XENO_VERSION "0.1.0"
#endif

#define CTL_DEFAULT_SOCKET "/run/xenod.sock"

/* The documented exit codes (docs/xenctl.md). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILED = 1,      /* xenod refused or failed the request */
    CTL_EXIT_USAGE = 2,       /* bad command line (or a file it names cannot be read) */
    CTL_EXIT_UNREACHABLE = 3, /* cannot reach xenod */
    CTL_EXIT_TIMEOUT = 4,     /* timed out (shutdown --wait, or xenod did not answer) */
};

/* Seconds allowed for an ordinary request; waiting requests add their own timeout. */
#define CTL_REQUEST_TIMEOUT_S 60

struct ctl {
    struct ctl_api_target t; /* xenod's API socket, or a server URL and token (remote.h) */
    int json;                /* --json: print the API's JSON instead of text */
};

/* Sends a request and checks the answer. On success returns CTL_EXIT_OK with the parsed JSON
 * in *out (the caller owns it; a non-JSON body gives NULL, or the raw reply in *raw when raw
 * is not NULL). Otherwise prints one line on stderr and returns the exit code: the daemon's
 * error message (1, or 4 for a 504 timeout), or why xenod cannot be reached (3). */
int ctl_call(const struct ctl *c, const char *method, const char *path, const json_t *body, long timeout_s,
             json_t **out, struct ctl_reply *raw);

/* Follows a stream (GET path, Server-Sent Events): on_event gets each event's data line. The
 * exit code as ctl_call's: a refusal is xenod's message (1), a silent stream 4. */
int ctl_stream(const struct ctl *c, const char *path, int (*on_event)(void *, const char *), void *ctx);

/* Where xenod is, for messages: its socket path or server URL (never the token). */
const char *ctl_where(const struct ctl *c);

/* Builds "/v1/domains/REF[/action]" with REF URL-escaped. Returns 0, or prints a usage error
 * and returns CTL_EXIT_USAGE. */
int ctl_domain_path(const char *ref, const char *action, char *buf, size_t size);

/* --json output: the document, indented, and a newline. */
/* The "errors" and "warnings" of a domain XML answer, on stderr: "N problems (...)" or
 * "N warnings (...)" first, then one line each in line order. Nothing when there are none. */
void ctl_print_problems(const json_t *answer);
void ctl_print_json(const json_t *j);

/* A usage error: "xenctl: error: <msg>" and CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
