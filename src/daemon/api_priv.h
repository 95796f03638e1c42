/* What api.c (handlers, routing) and api_server.c (listeners, authentication) share. */
#ifndef XENO_DAEMON_API_PRIV_H
#define XENO_DAEMON_API_PRIV_H

#include <microhttpd.h>
#include <stddef.h>

#include "daemon/api.h"
#include "daemon/api_events.h"
#include "daemon/auth.h"
#include "daemon/web_static.h"
#include "lib/domain_config.h"

/* A domain XML may have DOMAIN_XML_MAX bytes, and JSON escaping (quotes, newlines) at most
 * doubles it: the body has room for that, so the parser names the XML's own limit. */
#define MAX_BODY (2 * DOMAIN_XML_MAX + (64 << 10))
#define MAX_BODY_TEXT "2 MiB and 64 KiB"

struct api_server;

/* One of the two listeners: the unix socket (the operator) or TCP with TLS (tokens). */
struct api_listener {
    struct api_server *s;
    int tcp;
};

struct api_server {
    struct MHD_Daemon *mhd, *tls_mhd;
    struct api_listener unix_l, tcp_l;
    struct registry *reg;
    struct auth *auth;
    struct events_hub *events;     /* the live event streams (api_events.h) */
    struct console_relay *console; /* the consoles' WebSocket viewers (console_relay.h) */
    char *image_dir;               /* NULL: sponsors define nothing */
    struct web_static *web;        /* the web console's files; NULL: none (404) */
    int listen_fd;
    char path[108];
};

struct request {
    char *body;
    size_t len;
    int too_big;
    struct console_ws *ws; /* a console upgrade on its way (api_console_ws.c) */
};

/* Answers a request of principal p (after authentication). */
enum MHD_Result api_route(struct api_server *s, const struct principal *p, struct MHD_Connection *c, const char *url,
                          const char *method, struct request *rq);
/* Sends `o` (and drops the reference). */
enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned status, json_t *o);
/* {"error": msg, "code": code} with this status. */
enum MHD_Result api_send_status(struct MHD_Connection *c, unsigned status, const char *code, const char *msg);

#endif
