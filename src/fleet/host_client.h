/* One request from a placer to a host's xenod at its advertise URL (fleet_model.h): over its
 * unix socket ("unix:/PATH") or over HTTPS with a bearer token (the certificate checked
 * against cacert or the system's CAs), with libcurl. The token goes only into the
 * Authorization header and only over TLS. */
#ifndef XENO_FLEET_HOST_CLIENT_H
#define XENO_FLEET_HOST_CLIENT_H

#include <jansson.h>

/* POSTs body (JSON) to path at advertise; allows timeout_s seconds. 0 with *status and
 * *answer (the reply as JSON, or NULL when it is not), or -errno with err_set() naming the
 * host (no connection, timeout, an answer over 4 MiB). */
int fleet_host_post(const char *advertise, const char *token, const char *cacert, const char *path, const json_t *body,
                    long timeout_s, long *status, json_t **answer);

#endif
