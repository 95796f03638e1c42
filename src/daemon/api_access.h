/* The API's access policy (docs/api.md "Scoping"): which routes a sponsor may use, which
 * domains and events it sees, what it may define; and the TCP+TLS listener's setup. Pure
 * policy over JSON and configs, no registry lock taken here. */
#ifndef XENO_DAEMON_API_ACCESS_H
#define XENO_DAEMON_API_ACCESS_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/auth.h"

/* TCP listener limits: a flood of connections from one address, or from many, never takes
 * every descriptor (the operator's unix socket and the monitors need theirs). */
#define API_TCP_THREADS 4
#define API_TCP_PER_IP 32
#define API_TCP_TIMEOUT_S 30
/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Routes only the operator may use: host-wide views, host paths, other hosts, tokens. */
int access_operator_only(const char *method, const char *pattern);
/* Does p see a domain of this sponsor? */
int access_sees(const struct principal *p, const char *sponsor);
/* {"events": [...]} cut to what p sees: those of domains p sees now (by "uuid" in `domains`,
 * a {"domains": [...]} answer). Takes `events`, returns the result. (The domain list itself
 * is scoped while it is made: reg_list_page_json with access_sees.) */
json_t *access_filter_events(json_t *events, json_t *domains, const struct principal *p);
/* May p define this XML (source path `path` or NULL)? 0, or -EACCES / -EINVAL with err_set():
 * the sponsor must be p's, kernel and initrd inside image_dir (NULL: sponsors define nothing),
 * no host socket path, no host source path. Parse errors are left to the define. */
int access_check_define(const struct principal *p, const char *image_dir, const char *xml, size_t len,
                        const char *path);
/* The whole of a small file (a PEM certificate or key) NUL-terminated; free() it. */
int access_read_file(const char *path, char **out);
/* The global connection cap for the TCP listener: below the descriptor limit, leaving room. */
unsigned access_tcp_connection_limit(void);

#endif
