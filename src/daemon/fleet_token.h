/* The operator token other hosts accept (--fleet-token FILE), sent when this xenod asks another
 * host's xenod over HTTPS to start a domain (POST /v1/fleet/domains, failover). */
#ifndef XENO_DAEMON_FLEET_TOKEN_H
#define XENO_DAEMON_FLEET_TOKEN_H

#include <stddef.h>

/* Read at each use so it can be replaced: root's own regular file, no access for group or
 * others, one printable line, into out (size bytes). 0 or -EACCES/-EINVAL with err_set(). */
int fleet_token_read(const char *path, char *out, size_t size);

#endif
