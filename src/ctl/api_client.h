/* One HTTP request to xenod's API (docs/api.md) over its unix socket, with libcurl: JSON body
 * out, status and body back (parsed when it is JSON). Transport only; what a status means
 * for the user is decided by the caller (ctl.c). */
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

/* Sends METHOD PATH (path and query, already URL-escaped) with `body` as JSON (or none) to
 * the API on unix socket `socket_path`, allowing `timeout_s` seconds for the answer.
 * Returns CTL_API_OK with *reply filled (free it with ctl_reply_free), or a negative
 * ctl_api_result with err_msg() saying what happened (and *errno_out, when not NULL, the
 * socket's errno, so the caller can tell "not running" from "not allowed"). */
int ctl_api_request(const char *socket_path, const char *method, const char *path, const json_t *body, long timeout_s,
                    struct ctl_reply *reply, int *errno_out);
void ctl_reply_free(struct ctl_reply *reply);

#endif
