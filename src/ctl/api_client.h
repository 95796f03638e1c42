/* One HTTP request to xenod's API (docs/api.md) over its unix socket, or over HTTPS with a
 * bearer token (remote mode), with libcurl: JSON body out, status and body back (parsed when
 * it is JSON). Transport only; what a status means for the user is decided by the caller
 * (ctl.c). The token goes only into the request's Authorization header (never a URL, an
 * argv or a message). */
#ifndef XENO_CTL_API_CLIENT_H
#define XENO_CTL_API_CLIENT_H

#include <jansson.h>
#include <stddef.h>

enum ctl_api_result {
    CTL_API_OK = 0,           /* xenod answered (any HTTP status) */
    CTL_API_UNREACHABLE = -1, /* no connection: no socket, refused, no permission */
    CTL_API_TIMEOUT = -2,     /* connected, but no complete answer in time */
    CTL_API_BROKEN = -3,      /* the connection broke or the answer was not HTTP */
};

struct ctl_reply {
    long status;  /* HTTP status */
    char *body;   /* the raw body, NUL-terminated (empty if none) */
    size_t len;   /* its length (it may hold NULs: console logs are bytes) */
    json_t *json; /* the body parsed, when it is a JSON document; else NULL */
};

/* The longest bearer token xenctl sends (xenod's are 74 characters). */
#define CTL_TOKEN_MAX 256

/* Where xenod is: its unix socket, or (server != NULL) "https://HOST:PORT" with a token. */
struct ctl_api_target {
    const char *socket; /* used when server is NULL */
    const char *server; /* https://HOST:PORT, no trailing path */
    const char *token;  /* the bearer secret (remote mode); NULL: none sent */
    const char *cacert; /* PEM file of the CA to trust; NULL: the system's */
};

/* Sends METHOD PATH (path and query, already URL-escaped) with `body` as JSON (or none) to
 * the API at `t`, allowing `timeout_s` seconds for the answer.
 * Returns CTL_API_OK with *reply filled (free it with ctl_reply_free), or a negative
 * ctl_api_result with err_msg() saying what happened (and *errno_out, when not NULL, the
 * socket's errno, so the caller can tell "not running" from "not allowed"). */
int ctl_api_request(const struct ctl_api_target *t, const char *method, const char *path, const json_t *body,
                    long timeout_s, struct ctl_reply *reply, int *errno_out);
void ctl_reply_free(struct ctl_reply *reply);

/* GET `path` as a stream (Server-Sent Events): every complete "data:" line's text goes to
 * on_event (NUL-terminated, without the "data: ") as it arrives; on_event returns non-zero to
 * stop. Runs until the stream ends, on_event stops it, or nothing (not even a heartbeat) came
 * for `idle_s` seconds. Returns CTL_API_OK with *status the HTTP status (for a status other
 * than 200 the body is in *error_body, malloc'd), or a negative ctl_api_result. */
int ctl_api_stream(const struct ctl_api_target *t, const char *path, long idle_s, int (*on_event)(void *, const char *),
                   void *ctx, long *status, char **error_body, int *errno_out);

#endif
