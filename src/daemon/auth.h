/* Who asks the API (docs/api.md "Authentication"): the operator (the unix socket, or an
 * operator token over TCP) or a sponsor (a sponsor token: that sponsor's domains only).
 * Tokens live in the state store's SQLite file (table `tokens`, own connection): only a
 * per-token random salt and SHA-256(salt || secret) are kept, never the secret. Failed
 * authentications are counted per source address and throttled.
 * Thread-safe: every call takes the module's own lock (never the registry's). */
#ifndef XENO_DAEMON_AUTH_H
#define XENO_DAEMON_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "lib/domain_config.h"

/* A token's secret as printed: "xeno_" ID "_" 64 hex digits (256 random bits). */
#define AUTH_SECRET_MAX 96
/* Failures per source address within AUTH_FAIL_WINDOW_S before it gets 429. */
#define AUTH_FAIL_MAX 10
#define AUTH_FAIL_WINDOW_S 60

struct principal {
    int is_operator;                      /* everything */
    int read_only;                        /* GET only */
    int64_t token_id;                     /* 0: the unix socket */
    double expires_at;                    /* the token's expiry (CLOCK_REALTIME s); 0: never */
    char sponsor[DOMAIN_SPONSOR_MAX + 1]; /* a sponsor token's sponsor; "" for the operator */
};

struct auth;

int auth_open(struct auth **out, const char *db_path);
void auth_close(struct auth *a);

/* A new token: sponsor "" makes an operator token. expires_at: CLOCK_REALTIME seconds, 0 for
 * never. Writes the secret (shown once) into secret[AUTH_SECRET_MAX]. */
int auth_token_create(struct auth *a, const char *sponsor, int read_only, double expires_at,
                      char secret[AUTH_SECRET_MAX], int64_t *id);
/* [{"id", "sponsor", "read_only", "created", "expires", "revoked"}] (never a secret or hash). */
json_t *auth_token_list(struct auth *a);
/* -ENOENT when there is no such token. */
int auth_token_revoke(struct auth *a, int64_t id);
/* How many revocations there have been: what a long-lived request (an event stream) compares
 * to learn cheaply that it must look at its token again. */
uint64_t auth_revocations(struct auth *a);
/* Whether token `id` still authenticates: 0, or -EACCES with *why set to "revoked",
 * "expired" or "unknown" (a static string). */
int auth_token_valid(struct auth *a, int64_t id, const char **why);

/* The principal of an "Authorization" header value ("Bearer SECRET"). -EACCES (with a message
 * that names no token) when absent, malformed, unknown, revoked or expired. */
int auth_check(struct auth *a, const char *authorization, struct principal *out);

/* Rate limit of failures: 1 when `addr` had AUTH_FAIL_MAX failures in the window (with the
 * seconds to wait in *retry_s); auth_failed counts one. */
int auth_throttled(struct auth *a, const char *addr, int *retry_s);
void auth_failed(struct auth *a, const char *addr);

/* "operator", "operator token 3", "sponsor alice token 4 (read-only)": for events. */
void principal_describe(const struct principal *p, char *out, size_t size);

#endif
