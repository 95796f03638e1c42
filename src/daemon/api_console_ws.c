#include "daemon/api_console_ws.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/api_priv.h"
#include "daemon/console_relay.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/websocket.h"

/* What an upgrade hands over; owned by the request (rq->ws), freed when it completes. */
struct console_ws {
    struct console_relay *relay;
    int attached; /* the upgrade happened: the relay owns the slot */
    int read_only;
    char uuid[40], name[128], who[128];
    char socket_path[PATH_MAX + 96];
};

/* 1 when the comma-separated list has `token` (case-insensitive, spaces around ignored). */
static int list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p + strcspn(p, ",");
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0)
            return 1;
        p = end;
    }
    return 0;
}

int console_ws_requested(struct MHD_Connection *c)
{
    return list_has(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade"), "websocket");
}

int console_ws_bearer(const char *protocols, char *out, size_t size)
{
    for (const char *p = protocols; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n > 7 && strncmp(p, "bearer.", 7) == 0 && n - 7 + sizeof("Bearer ") <= size) {
            snprintf(out, size, "Bearer %.*s", (int)(n - 7), p + 7);
            return 1;
        }
        p += n;
    }
    return 0;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra, size_t extra_len,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct console_ws *w = cls;
    (void)req_cls;
    /* Keystrokes and echoes are a few bytes each: with Nagle's algorithm (or the cork
     * libmicrohttpd may leave from sending the 101) a second small record waits for the
     * client's delayed ACK, 40 ms on Linux, and every echo is late. Set here, after the 101
     * went out: libmicrohttpd does not touch these options on the upgraded stream. On the
     * unix socket both calls fail harmlessly. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1, zero = 0;
    if (ci) {
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct console_viewer_spec spec = {
        .uuid = w->uuid, .name = w->name, .socket_path = w->socket_path, .who = w->who, .read_only = w->read_only};
    w->attached = 1;
    console_relay_attach(w->relay, &spec, sock, urh, extra, extra_len);
}

/* The handshake's headers: 0, or the status (400 or 426) with the reason sent. */
static int check_handshake(struct MHD_Connection *c, char *accept, enum MHD_Result *sent)
{
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
    const char *version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *proto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
    const char *msg = NULL;
    if (!list_has(conn, "upgrade"))
        msg = "a WebSocket handshake needs Connection: Upgrade";
    else if (ws_accept_key(key, accept) < 0)
        msg = "Sec-WebSocket-Key must be the base64 of 16 bytes (RFC 6455)";
    else if (proto && !list_has(proto, CONSOLE_WS_PROTOCOL))
        msg = "Sec-WebSocket-Protocol must offer " CONSOLE_WS_PROTOCOL;
    if (msg) {
        *sent = api_send_status(c, 400, "bad_request", msg);
        return -1;
    }
    if (!version || strcmp(version, "13") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
        *sent = MHD_queue_response(c, 426, r);
        MHD_destroy_response(r);
        return -1;
    }
    return 0;
}

enum MHD_Result console_ws_upgrade(struct api_server *s, const struct principal *p, struct MHD_Connection *c,
                                   struct reg_domain *d, struct request *rq)
{
    char accept[WS_ACCEPT_LEN + 1];
    enum MHD_Result sent;
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON)->daemon, MHD_DAEMON_INFO_FLAGS);
    if (!di || !(di->flags & MHD_ALLOW_UPGRADE)) /* the unix socket (api_server.c) */
        return api_send_status(c, 400, "bad_request",
                               "the console WebSocket is served over TCP (--listen); on the unix socket "
                               "attach to the monitor's console_socket (xenctl console)");
    if (check_handshake(c, accept, &sent) < 0)
        return sent;
    struct console_ws *w = calloc(1, sizeof(*w));
    if (!w)
        return api_send_status(c, 500, "internal", "out of memory");
    w->relay = s->console;
    w->read_only = p->read_only;
    principal_describe(p, w->who, sizeof(w->who));
    pthread_mutex_lock(&s->reg->lock);
    int running = d->mon != NULL;
    snprintf(w->uuid, sizeof(w->uuid), "%s", d->cfg.uuid);
    snprintf(w->name, sizeof(w->name), "%s", d->cfg.name);
    char dir[PATH_MAX];
    reg_run_dir(s->reg, d, dir, sizeof(dir));
    snprintf(w->socket_path, sizeof(w->socket_path), "%s/console.sock", dir);
    pthread_mutex_unlock(&s->reg->lock);
    if (!running) {
        free(w);
        return api_send_status(c, 409, "conflict", "the domain is not running, so it has no console");
    }
    if (console_relay_reserve(s->console, w->uuid) < 0) {
        free(w);
        return api_send_status(c, 503, "unavailable", err_msg());
    }
    rq->ws = w; /* from here on_completed gives the slot back unless the upgrade happened */
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, w);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Upgrade", "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"))
        MHD_add_response_header(r, "Sec-WebSocket-Protocol", CONSOLE_WS_PROTOCOL);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    pthread_mutex_lock(&s->reg->lock);
    reg_event(s->reg, d, "api", "console attached by %s%s", w->who, p->read_only ? " (output only)" : "");
    pthread_mutex_unlock(&s->reg->lock);
    return ret;
}

void console_ws_request_done(struct api_server *s, struct request *rq)
{
    struct console_ws *w = rq->ws;
    if (!w)
        return;
    if (!w->attached)
        console_relay_release(s->console, w->uuid);
    free(w);
    rq->ws = NULL;
}
