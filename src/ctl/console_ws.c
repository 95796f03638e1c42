#include "ctl/console_ws.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/websocket.h"

#define HANDSHAKE_TIMEOUT_MS 10000
#define ANSWER_MAX 16384
#define SERVER_MESSAGE_MAX (1 << 20) /* xenod sends what the guest wrote in reads of 16 KiB */

struct ctl_console_ws {
    CURL *curl;
    int sock; /* the WebSocket's TCP socket (libcurl's) */
    int pair; /* the bridge's end of the socketpair */
    struct ws_reader rd;
    pthread_t thread;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int wait_sock(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, ms);
}

/* Sends all of buf over the TLS connection (libcurl's socket is non-blocking). */
static int ws_send_all(struct ctl_console_ws *w, const uint8_t *buf, size_t len)
{
    while (len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(w->curl, buf, len, &n);
        if (rc == CURLE_AGAIN) {
            if (wait_sock(w->sock, POLLOUT, 5000) <= 0)
                return -ETIMEDOUT;
            continue;
        }
        if (rc != CURLE_OK)
            return -EPIPE;
        buf += n, len -= n;
    }
    return 0;
}

/* One masked frame (a client's frames are masked, RFC 6455 5.3). */
static int send_frame(struct ctl_console_ws *w, unsigned op, const uint8_t *data, size_t len)
{
    uint8_t mask[4], frame[WS_HEADER_MAX + 4096];
    if (len > 4096 || getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
        return -EINVAL;
    size_t hl = ws_build_header(frame, 1, op, len, mask);
    memcpy(frame + hl, data, len);
    ws_mask(frame + hl, len, mask, 0);
    return ws_send_all(w, frame, hl + len);
}

/* xenod's refusal as a message: its JSON "error", or the status. */
static int refused(long status, const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    const char *msg = json_string_value(json_object_get(o, "error"));
    int e = status == 404 ? ENOENT : status == 401 || status == 403 ? EACCES : status == 409 ? EBUSY : EPROTO;
    err_set(e, "the console's WebSocket was refused (HTTP %ld): %s", status, msg ? msg : "no reason given");
    json_decref(o);
    return -e;
}

/* The upgrade request and xenod's answer; bytes after the answer's headers go to the reader. */
static int handshake(struct ctl_console_ws *w, const struct ctl_api_target *t, const char *path)
{
    char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], req[4096 + CTL_TOKEN_MAX];
    if (ws_client_key(key) < 0 || ws_accept_key(key, accept) < 0)
        return err_set(EIO, "no random bytes for the WebSocket key");
    const char *host = strstr(t->server, "://") + 3;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: xeno-console\r\n%s%s%s\r\n",
                     path, host, key, t->token ? "Authorization: Bearer " : "", t->token ? t->token : "",
                     t->token ? "\r\n" : "");
    int rc = n > 0 && (size_t)n < sizeof(req) ? ws_send_all(w, (const uint8_t *)req, (size_t)n) : -E2BIG;
    memset(req, 0, sizeof(req));
    if (rc < 0)
        return err_set(-rc, "sending the WebSocket request failed");
    char *ans = malloc(ANSWER_MAX + 1), *end = NULL;
    size_t len = 0;
    long deadline = now_ms() + HANDSHAKE_TIMEOUT_MS, clen = -1;
    while (ans && now_ms() < deadline && len < ANSWER_MAX) {
        size_t got = 0;
        CURLcode c = curl_easy_recv(w->curl, ans + len, ANSWER_MAX - len, &got);
        if (c == CURLE_AGAIN) {
            wait_sock(w->sock, POLLIN, 100);
            continue;
        }
        if (c != CURLE_OK || got == 0)
            break;
        len += got;
        ans[len] = 0;
        if (!end && (end = strstr(ans, "\r\n\r\n"))) {
            const char *cl = strcasestr(ans, "\r\nContent-Length:");
            clen = cl && cl < end ? atol(cl + 17) : 0;
        }
        if (end && (strncmp(ans + 9, "101", 3) == 0 || len >= (size_t)(end + 4 - ans) + (size_t)clen))
            break;
    }
    if (!ans || !end) {
        free(ans);
        return err_set(EPROTO, "no answer to the WebSocket request from %s", t->server);
    }
    long status = strtol(ans + 9, NULL, 10);
    char want[64];
    snprintf(want, sizeof(want), "\r\nSec-WebSocket-Accept: %s\r\n", accept);
    if (status != 101) {
        rc = refused(status, end + 4);
    } else if (!strcasestr(ans, want)) {
        rc = err_set(EPROTO, "the server's WebSocket answer has a wrong Sec-WebSocket-Accept");
    } else {
        size_t rest = len - (size_t)(end + 4 - ans), room;
        uint8_t *space = ws_reader_space(&w->rd, &room);
        memcpy(space, end + 4, rest < room ? rest : room);
        ws_reader_fill(&w->rd, rest < room ? rest : room);
        rc = 0;
    }
    free(ans);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* What the reader holds: output to the stream, pings answered. -1 when the WebSocket ended. */
static int drain_frames(struct ctl_console_ws *w)
{
    struct ws_event ev;
    int rc;
    while ((rc = ws_reader_next(&w->rd, &ev)) > 0) {
        if (ev.kind == WS_EV_MESSAGE && write_all(w->pair, ev.data, ev.len) < 0)
            return -1;
        if (ev.kind == WS_EV_PING)
            send_frame(w, WS_OP_PONG, ev.data, ev.len);
        if (ev.kind == WS_EV_CLOSE) {
            send_frame(w, WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2);
            return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* The bridge: WebSocket messages to the stream, the stream's bytes to binary frames. */
static void *bridge(void *arg)
{
    struct ctl_console_ws *w = arg;
    int ended = drain_frames(w) < 0;
    while (!ended) {
        struct pollfd p[2] = {{.fd = w->sock, .events = POLLIN}, {.fd = w->pair, .events = POLLIN}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            for (;;) { /* until libcurl has nothing: TLS may hold decrypted bytes the socket no longer shows */
                size_t room, got = 0;
                uint8_t *space = ws_reader_space(&w->rd, &room);
                CURLcode c = curl_easy_recv(w->curl, space, room, &got);
                if (c == CURLE_AGAIN)
                    break;
                if (c != CURLE_OK || got == 0) {
                    ended = 1;
                    break;
                }
                ws_reader_fill(&w->rd, got);
                if (drain_frames(w) < 0) {
                    ended = 1;
                    break;
                }
            }
        }
        if (!ended && p[1].revents) {
            uint8_t buf[4096];
            ssize_t n = read(w->pair, buf, sizeof(buf));
            if (n <= 0) { /* the attach ended: say goodbye */
                send_frame(w, WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2);
                break;
            }
            if (send_frame(w, WS_OP_BINARY, buf, (size_t)n) < 0)
                break;
        }
    }
    shutdown(w->pair, SHUT_RDWR); /* the attach sees the console close */
    return NULL;
}

int ctl_console_ws_open(const struct ctl_api_target *t, const char *path, struct ctl_console_ws **out, int *fd)
{
    char url[4096];
    struct ctl_console_ws *w = calloc(1, sizeof(*w));
    int pair[2] = {-1, -1}, rc;
    if (!w || ws_reader_init(&w->rd, 0, SERVER_MESSAGE_MAX) < 0 || !(w->curl = curl_easy_init())) {
        rc = err_set(ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(url, sizeof(url), "%s%s", t->server, path);
    curl_easy_setopt(w->curl, CURLOPT_URL, url);
    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(w->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(w->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(w->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (t->cacert)
        curl_easy_setopt(w->curl, CURLOPT_CAINFO, t->cacert);
    curl_easy_setopt(w->curl, CURLOPT_CONNECT_ONLY, 1L); /* TCP and TLS; the HTTP is ours */
    curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    CURLcode c = curl_easy_perform(w->curl);
    curl_socket_t s;
    if (c != CURLE_OK || curl_easy_getinfo(w->curl, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK) {
        rc = err_set(ECONNREFUSED, "cannot connect to %s: %s", t->server, curl_easy_strerror(c));
        goto fail;
    }
    w->sock = (int)s;
    if ((rc = handshake(w, t, path)) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        rc = err_set(errno, "socketpair: %s", strerror(errno));
        goto fail;
    }
    w->pair = pair[1];
    /* The bridge takes no signal: the attach (this thread) handles Ctrl-C and friends. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&w->thread, NULL, bridge, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        rc = err_set(rc, "starting the console bridge: %s", strerror(rc));
        goto fail;
    }
    *fd = pair[0];
    *out = w;
    return 0;
fail:
    if (pair[0] >= 0)
        close(pair[0]), close(pair[1]);
    if (w) {
        if (w->curl)
            curl_easy_cleanup(w->curl);
        ws_reader_free(&w->rd);
        free(w);
    }
    return rc;
}

void ctl_console_ws_close(struct ctl_console_ws *w)
{
    if (!w)
        return;
    pthread_join(w->thread, NULL);
    close(w->pair);
    curl_easy_cleanup(w->curl);
    ws_reader_free(&w->rd);
    free(w);
}
