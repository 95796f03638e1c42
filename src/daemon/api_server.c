#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/api_access.h"
#include "daemon/api_console_ws.h"
#include "daemon/console_relay.h"
#include "daemon/api_priv.h"
#include "daemon/fd_budget.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/unix_socket.h"

/* The TCP listener's principal from the bearer token: 0, or the 401/429 sent. Failures are
 * counted per source address; one over the limit answers 429 without looking at the token. */
static int authenticate(struct api_server *s, struct MHD_Connection *c, struct principal *pr, enum MHD_Result *sent)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
    int retry;
    if (auth_throttled(s->auth, addr, &retry)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "too many failed authentications from %s: try again in %d s", addr, retry);
        *sent = api_send_status(c, 429, "too_many_requests", msg);
        return -EACCES;
    }
    /* A browser cannot set Authorization on a WebSocket: it offers the token as a subprotocol. */
    const char *authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char from_protocol[AUTH_SECRET_MAX + 64];
    if (!authorization && console_ws_bearer(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"),
                                            from_protocol, sizeof(from_protocol)))
        authorization = from_protocol;
    int rc = auth_check(s->auth, authorization, pr);
    if (authorization == from_protocol)
        memset(from_protocol, 0, sizeof(from_protocol));
    if (rc == 0)
        return 0;
    auth_failed(s->auth, addr);
    *sent = api_send_status(c, 401, "unauthorized", err_msg());
    return -EACCES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct api_listener *l = cls;
    struct request *rq = *con_cls;
    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->len + *upload_size > MAX_BODY) {
            rq->too_big = 1;
        } else {
            char *nb = realloc(rq->body, rq->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return api_send_json(c, 413,
                             json_pack("{s:s, s:s}", "error",
                                       "request body over the API's limit of " MAX_BODY_TEXT
                                       " (2162688 bytes); a domain XML may have 1 MiB (1048576 bytes)",
                                       "code", "bad_request"));
    /* The page's files need no token (nothing in them is secret); every call it makes does. */
    if (web_static_claims(url))
        return web_static_serve(l->s->web, c, method, url);
    struct principal pr = {.is_operator = 1};
    enum MHD_Result sent;
    if (l->tcp && authenticate(l->s, c, &pr, &sent) < 0)
        return sent;
    return api_route(l->s, &pr, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;
    struct api_listener *l = cls;
    (void)c, (void)toe;
    if (rq) {
        console_ws_request_done(l->s, rq);
        free(rq->body);
        free(rq);
    }
    *con_cls = NULL;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(sa.sun_path, path);
    /* A socket file that answers belongs to a live xenod: never steal it. */
    int fd = unix_connect(path, 0);
    if (fd >= 0) {
        close(fd);
        return err_set(EADDRINUSE, "another xenod is serving %s", path);
    }
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(errno, "socket: %s", strerror(errno));
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "listening on %s: %s", path, strerror(e));
    }
    return fd;
}

/* The TCP listener: TLS 1.2+ (GnuTLS), event-driven (epoll, a small pool of threads, not a
 * thread per connection), with an idle timeout, a per-address cap and a global cap below
 * the descriptor limit; it is a daemon of its own, so a flood on it never takes the unix
 * socket's threads. */
static int start_tcp(struct api_server *s, const struct api_opts *o)
{
    char host[256];
    const char *colon = strrchr(o->listen, ':');
    uint64_t port;
    if (!colon || colon == o->listen || (size_t)(colon - o->listen) >= sizeof(host) ||
        parse_u64_range(colon + 1, 1, 65535, &port) < 0)
        return err_set(EINVAL, "--listen %s: give ADDRESS:PORT (e.g. 0.0.0.0:8443 or [::]:8443)", o->listen);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - o->listen), o->listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct sockaddr_storage ss = {0};
    socklen_t slen;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET, in4->sin_port = htons((uint16_t)port), slen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6, in6->sin6_port = htons((uint16_t)port), slen = sizeof(*in6);
    } else {
        return err_set(EINVAL, "--listen %s: '%s' is not an IPv4 or IPv6 address", o->listen, host);
    }
    char *cert = NULL, *key = NULL;
    int rc = access_read_file(o->tls_cert, &cert);
    if (rc == 0)
        rc = access_read_file(o->tls_key, &key);
    if (rc < 0) {
        free(cert);
        return err_wrap(-rc, "TLS certificate or key");
    }
    /* Suspend/resume: a live event stream waits off the pool (api_events.h). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->tls_mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, &s->tcp_l, MHD_OPTION_SOCK_ADDR,
                                  (struct sockaddr *)&ss, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY,
                                  key, MHD_OPTION_HTTPS_PRIORITIES, API_TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE,
                                  (unsigned)API_TCP_THREADS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_TCP_TIMEOUT_S,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_TCP_PER_IP,
                                  MHD_OPTION_CONNECTION_LIMIT, access_tcp_connection_limit(),
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s->tcp_l, MHD_OPTION_END);
    (void)slen;
    /* libmicrohttpd copies the PEM texts it was given. */
    if (key)
        memset(key, 0, strlen(key));
    free(cert);
    free(key);
    if (!s->tls_mhd)
        return err_set(EIO, "serving HTTPS on %s failed (address in use, or the certificate and key do not match)",
                       o->listen);
    return 0;
}

/* The unix socket's connections: what the descriptor limit leaves beside the domains' and
 * the reserve (fd_budget.h) and the TCP listener's cap. */
static unsigned unix_connection_limit(void)
{
    struct rlimit rl;
    rlim_t fds = fd_budget_connections(getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024);
    rlim_t used = (rlim_t)access_tcp_connection_limit();
    return fds > used + 64 ? (unsigned)(fds - used > 65536 ? 65536 : fds - used) : 64;
}

int api_start(struct api_server **out, struct registry *r, const struct api_opts *o)
{
    const char *path = o->socket;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS) && o->listen)
        return err_set(EOPNOTSUPP, "this libmicrohttpd has no TLS: --listen needs it");
    struct api_server *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->reg = r;
    s->unix_l = (struct api_listener){s, 0};
    s->tcp_l = (struct api_listener){s, 1};
    s->listen_fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", path);
    char db[PATH_MAX + 16];
    snprintf(db, sizeof(db), "%s/xenod.db", o->state_dir);
    int rc = auth_open(&s->auth, db);
    if (rc == 0)
        rc = events_hub_start(&s->events, r, s->auth);
    if (rc == 0)
        rc = console_relay_start(&s->console);
    if (rc == 0 && ((o->fleet && !(s->fleet_etcd = strdup(o->fleet))) ||
                    (o->fleet_token && !(s->fleet_token = strdup(o->fleet_token))) ||
                    (o->fleet_cacert && !(s->fleet_cacert = strdup(o->fleet_cacert)))))
        rc = err_set(ENOMEM, "out of memory");
    s->fleet_gate = o->fleet_gate;
    s->fleet_etcd_tls = o->fleet_etcd_tls;
    if (rc == 0 && o->image_dir && !(s->image_dir = strdup(o->image_dir)))
        rc = err_set(ENOMEM, "out of memory");
    if (rc == 0 && o->web_dir && (rc = web_static_open(&s->web, o->web_dir)) == 0)
        log_info("web console: %s, at / on every listener", o->web_dir);
    else if (rc == 0)
        log_info("web console: none (no --web-dir, and no web/ found beside xenod)");
    if (rc == 0 && o->listen)
        rc = start_tcp(s, o);
    if (rc == 0 && (s->listen_fd = listen_unix(path)) < 0)
        rc = s->listen_fd;
    /* No MHD_ALLOW_UPGRADE here: libmicrohttpd then allows suspend/resume too, and an event
     * stream on this socket must keep its thread (api_events.h); the console WebSocket is for
     * TCP clients, the operator here attaches to the monitor's socket (xenctl console).
     * A thread per connection: shutdown --wait may block one request for a long time, and
     * that must not hold up anybody else's. The unix socket is the operator's (mode 0600).
     * poll(), not select(): a descriptor above FD_SETSIZE (1024) is served too, so the limit
     * is the descriptors left beside the TCP listener's cap, not 1024. */
    if (rc == 0 && !(s->mhd = MHD_start_daemon(
                         MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL, NULL,
                         on_request, &s->unix_l, MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, &s->unix_l, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)3700,
                         MHD_OPTION_CONNECTION_LIMIT, unix_connection_limit(), MHD_OPTION_END))) {
        rc = err_set(EIO, "starting the HTTP server on %s failed", path);
        unlink(path);
    }
    if (rc < 0) {
        api_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

void api_stop(struct api_server *s)
{
    if (!s)
        return;
    events_hub_stop(s->events);     /* every stream resumed and ended: the daemons may stop */
    console_relay_stop(s->console); /* every viewer closed while the daemons still run */
    if (s->tls_mhd)
        MHD_stop_daemon(s->tls_mhd);
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        unlink(s->path);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    auth_close(s->auth);
    events_hub_free(s->events);
    free(s->image_dir);
    free(s->fleet_etcd);
    free(s->fleet_token);
    free(s->fleet_cacert);
    web_static_close(s->web);
    free(s);
}
