/* The HTTP/JSON API (docs/api.md) over libmicrohttpd: routing, request bodies, status codes.
 * Every operation is a call into the registry; nothing here keeps state of its own. */
#ifndef XENO_DAEMON_API_H
#define XENO_DAEMON_API_H

#include "daemon/registry.h"
#include "daemon/route.h"

struct api_server;

/* Serves the API on a unix socket at `path` (mode 0600). Refuses if another xenod answers there. */
int api_start(struct api_server **out, struct registry *r, const char *path);
void api_stop(struct api_server *s);
/* The route table (for its tests): n entries. */
const struct route *api_routes(size_t *n);

#endif
