/* The HTTP/JSON API (docs/api.md) over libmicrohttpd: routing, request bodies, status codes.
 * Every operation is a call into the registry; nothing here keeps state of its own. */
#ifndef XENO_DAEMON_API_H
#define XENO_DAEMON_API_H

#include "daemon/registry.h"
#include "fleet/etcd_client.h"
#include "daemon/route.h"

struct api_server;

struct fleet_gate;

struct api_opts {
    const char *socket;             /* the operator's unix socket (mode 0600) */
    const char *state_dir;          /* absolute: tokens are in STATE_DIR/xenod.db */
    const char *listen;             /* "ADDRESS:PORT" for HTTPS with tokens, or NULL */
    const char *tls_cert, *tls_key; /* PEM files; needed with listen */
    const char *image_dir;          /* where sponsors' kernels and initrds must be; NULL: sponsors define nothing */
    const char *web_dir;            /* the web console's files (docs/web.md); NULL: no page */
    const char *fleet, *fleet_token, *fleet_cacert; /* --fleet ETCD_URLS and its options; NULL: none */
    struct fleet_gate *fleet_gate;                  /* whether fleet placements are taken (fleet_gate.h) */
    struct etcd_tls fleet_etcd_tls; /* --etcd-ca/cert/key (NULLs: none); the strings outlive the server */
};

/* Serves the API on the unix socket (refuses if another xenod answers there) and, with
 * o->listen, over HTTPS on TCP (docs/api.md). */
int api_start(struct api_server **out, struct registry *r, const struct api_opts *o);
void api_stop(struct api_server *s);
/* The route table (for its tests): n entries. */
const struct route *api_routes(size_t *n);

#endif
