/* xenod's file descriptors (docs/api.md, "Limits"): what it needs for its configured maximum
 * number of domains, checked against RLIMIT_NOFILE at start, and what is left for API
 * connections. Set once by main() before any thread starts; read-only after. */
#ifndef XENO_DAEMON_FD_BUDGET_H
#define XENO_DAEMON_FD_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define XENOD_MAX_DOMAINS_DEFAULT 1024
#define XENOD_MAX_DOMAINS_LIMIT 65536
/* Per domain: its monitor's control socket, pidfd and stats page, held while it runs, and one
 * more while it starts (the run directory's inotify watch) or while a request reads its
 * console log or snapshot. */
#define FD_PER_DOMAIN 4
/* SQLite (xenod.db and ledger.db with their journals), the listeners, the supervisor's
 * eventfd, the network backend's sockets, logs, the event streams' wake-ups. */
#define FD_RESERVE 256
/* API connections below which xenod is not worth starting (unix socket and TCP together). */
#define FD_CONNECTIONS_MIN 64

/* Descriptors xenod needs for max_domains domains: FD_RESERVE + FD_PER_DOMAIN x max +
 * FD_CONNECTIONS_MIN. */
uint64_t fd_budget_need(unsigned max_domains);

/* 0 when `limit` (RLIMIT_NOFILE's soft limit, after xenod raised it to the hard one) holds
 * fd_budget_need(max_domains); else -EMFILE with a message giving the number needed, the
 * breakdown and how to raise the limit or lower --max-domains. */
int fd_budget_check(uint64_t limit, unsigned max_domains);

/* The most domains `limit` holds (0: not even one). */
uint64_t fd_budget_fits(uint64_t limit);

/* The maximum when --max-domains was not given: the default, or fewer when the limit holds
 * fewer (xenod starts, and says so, rather than refuse on a host with a low hard limit);
 * 0 when it holds none. */
unsigned fd_budget_default_max(uint64_t limit);

/* Remembers the maximum (main(), before threads). 0: not set (the default). */
void fd_budget_set_max_domains(unsigned max_domains);
unsigned fd_budget_max_domains(void);

/* The descriptors left for API connections under `limit` once the domains and the reserve
 * have theirs (at least 16). */
unsigned fd_budget_connections(uint64_t limit);

#endif
