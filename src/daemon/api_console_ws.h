/* GET /v1/domains/{ref}/console with `Upgrade: websocket`: the RFC 6455 handshake and the
 * hand-over of the upgraded connection to the console relay (console_relay.h), and the bearer
 * token a browser sends as a subprotocol (docs/api.md "Console over WebSocket"). */
#ifndef XENO_DAEMON_API_CONSOLE_WS_H
#define XENO_DAEMON_API_CONSOLE_WS_H

#include <microhttpd.h>
#include <stddef.h>

#include "daemon/auth.h"

struct api_server;
struct reg_domain;
struct request;

#define CONSOLE_WS_PROTOCOL "xeno-console"

/* 1 when the request asks for a WebSocket (an Upgrade header naming "websocket"). */
int console_ws_requested(struct MHD_Connection *c);

/* From a Sec-WebSocket-Protocol list ("xeno-console, bearer.TOKEN"): "Bearer TOKEN" into out,
 * 1; 0 when the list has no bearer entry (or it does not fit). Pure. */
int console_ws_bearer(const char *protocols, char *out, size_t size);

/* Answers the upgrade for principal p and domain d (already scoped): 101 and the relay takes
 * the connection, or 400/409/426/503 with the reason. Records the attach as an event. */
enum MHD_Result console_ws_upgrade(struct api_server *s, const struct principal *p, struct MHD_Connection *c,
                                   struct reg_domain *d, struct request *rq);

/* The request ended (api_server.c on_completed): a slot taken for an upgrade that never
 * happened is given back. */
void console_ws_request_done(struct api_server *s, struct request *rq);

#endif
