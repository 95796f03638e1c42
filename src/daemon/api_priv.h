/* What api.c (handlers, routing) and api_server.c (listeners, authentication) share. */
#ifndef XENO_DAEMON_API_PRIV_H
#define XENO_DAEMON_API_PRIV_H

#include <microhttpd.h>
#include <stddef.h>

#include "daemon/api.h"
#include "daemon/api_events.h"
#include "daemon/auth.h"
#include "daemon/route.h"
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
    /* --fleet ETCD_URLS, --fleet-token FILE, --fleet-cacert FILE (api_fleet.c); NULL: none */
    char *fleet_etcd, *fleet_token, *fleet_cacert;
    struct fleet_gate *fleet_gate;  /* main()'s, outlives the server; NULL: not in a fleet */
    struct etcd_tls fleet_etcd_tls; /* main()'s option strings, outlive the server */
    char path[108];
};

struct request {
    char *body;
    size_t len;
    int too_big;
    struct console_ws *ws; /* a console upgrade on its way (api_console_ws.c) */
};

/* One request on its way through the route table: what its handler needs, and its answer. */
struct api_call {
    struct MHD_Connection *c;
    struct registry *reg;
    struct api_server *s;
    struct request *rq;
    const struct principal *pr; /* who asks */
    const char *action;         /* the pattern's last segment: "start", "pause", ... */
    struct route_params params;
    struct reg_domain *d; /* the {ref} domain (a reference), looked up before the handler */
    json_t *body;         /* POST: the body as an object ({} when empty) */
    enum MHD_Result result;
};

/* The error of a request's handler: 403 for -EACCES (a principal's limit), else as its errno
 * says (404, 409, 400...), with err_msg(). */
void api_call_error(struct api_call *k, int rc);

/* api_fleet.c: POST /v1/fleet/domains (operator only). */
void api_h_fleet_create(void *ctx);

/* api_sponsor.c: what sponsors may do within the operator's policy (sponsor_policy.h). */
void api_h_policy_get(void *ctx);
void api_h_policy_put(void *ctx);
/* api_host_bill.c: GET /v1/host/bill, the operator's host bill. */
void api_h_host_bill(void *ctx);
/* api_bill.c: GET /v1/sponsors/{sponsor}/bill[/explain], POST /v1/prices. */
void api_h_bill(void *ctx);
void api_h_disk_qos(void *ctx); /* api_disk.c */
void api_h_bill_explain(void *ctx);
void api_h_prices_reload(void *ctx);
/* api_prices.c: GET /v1/prices, the price list in force (a sponsor's own overrides only). */
void api_h_prices_get(void *ctx);
/* The snapshot file of a save or restore into out: the operator's "path" as given, a
 * sponsor's "snapshot" name in its own directory (made for a save). 0, or -1 after the
 * answer (400, 403) was sent. */
int api_snapshot_file(struct api_call *k, const char *path, const char *snapshot, int for_save, char *out, size_t size);
/* A sponsor's sched change within its policy: 0, or -1 after the 403 was sent. Holds the
 * sponsors' sched lock until api_sponsor_sched_done (the total is checked and changed as one). */
int api_sponsor_sched_begin(struct api_call *k, const struct sched_params *want);
void api_sponsor_sched_done(struct api_call *k);
/* Starts d for k's principal. A sponsor's domain with a CPU reservation starts only within
 * its policy (its running domains' reservations in all, as a sched change: checked and
 * started under the same lock); else *refused is set and -EACCES returned, with err_msg()
 * naming the limit. The operator's, or a domain without a reservation: reg_start. */
int api_sponsor_start(struct api_call *k, struct reg_domain *d, int paused, int *refused);
/* reg_restore for k's principal: a sponsor's snapshot must be its own domain's, and one with
 * a CPU reservation starts only within its policy, as api_sponsor_start (-EACCES). */
int api_sponsor_restore(struct api_call *k, const char *file, const char *name, int paused, struct reg_domain **d);

/* Answers a request of principal p (after authentication). */
enum MHD_Result api_route(struct api_server *s, const struct principal *p, struct MHD_Connection *c, const char *url,
                          const char *method, struct request *rq);
/* Sends `o` (and drops the reference). */
enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned status, json_t *o);
/* {"error": msg, "code": code} with this status. */
enum MHD_Result api_send_status(struct MHD_Connection *c, unsigned status, const char *code, const char *msg);

#endif
