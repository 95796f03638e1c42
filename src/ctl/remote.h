/* xenctl's remote mode (docs/xenctl.md "Remote"): xenod over HTTPS with a bearer token instead
 * of its unix socket. Where the server and the token come from, and the checks that keep the
 * token secret: a token file others may read is refused (as ssh refuses such a key), the token
 * is taken out of the environment at once (so an $EDITOR or any other child never inherits it)
 * and it is never printed. Pure checks plus file reads; errors via err_set(). */
#ifndef XENO_CTL_REMOTE_H
#define XENO_CTL_REMOTE_H

#include "ctl/api_client.h"
#include "ctl/args.h"

/* A server URL: "https://HOST[:PORT]" with an optional "/" at the end (removed in place of a
 * copy: *out is malloc'd). http://, userinfo, a path, a query and control characters are
 * refused: the token must only ever go to that host over TLS. */
int ctl_server_parse(const char *url, char **out);

/* A token as given (a file's content or $XENO_TOKEN): trailing whitespace dropped, then 1 to
 * CTL_TOKEN_MAX printable ASCII characters without spaces (it goes into a header line).
 * *out is malloc'd. */
int ctl_token_parse(const char *text, size_t len, char **out);

/* Reads a token file: refused when it is not a regular file, when group or others may read or
 * write it, or when it belongs to somebody else than this user (or root). */
int ctl_token_read_file(const char *path, char **out);

/* Fills *t from the options and the environment ($XENO_SERVER, $XENO_TOKEN, $XENOD_SOCKET).
 * On success the strings in *t that were allocated are released by ctl_target_free().
 * Returns 0, or -EINVAL/-EACCES/... with a message meant for a usage error. */
int ctl_target_setup(const struct ctl_args *a, struct ctl_api_target *t);
void ctl_target_free(struct ctl_api_target *t);

#endif
