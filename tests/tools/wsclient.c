/* wsclient: a WebSocket client over TLS (OpenSSL) for the console tests (api_console.sh) and
 * the console bench. Uses the project's codec (src/lib/websocket.c) for its frames.
 *
 *   wsclient [options] URL          URL: https://127.0.0.1:PORT/v1/domains/REF/console
 *     --cacert FILE                 the CA that signed the server's certificate
 *     --token T                     Authorization: Bearer T
 *     --proto-token T               Sec-WebSocket-Protocol: xeno-console, bearer.T (a browser's way)
 *     --viewers N                   N connections at once (from 127.0.0.1, .2, ... 30 per address,
 *                                   under xenod's per-address cap); all must see --expect
 *     --source-net B                the viewers' addresses are 127.0.B.1, .2, ... (default 0), so
 *                                   several clients at once stay under the per-address cap too
 *     --send TEXT                   the first connection sends TEXT (\r, \n escapes) as a text frame,
 *                                   after every connection is up
 *     --expect TEXT                 wait until every connection received TEXT (after --send)
 *     --raw HEX                     send these raw bytes after the handshake, then print the close
 *                                   code the server answers with ("close 1002")
 *     --hold S                      connect (with a 4 KiB receive buffer), then neither read nor
 *                                   send for S seconds: a viewer that never reads
 *     --flood N                     send N lines of 200 characters (in 16 KiB messages), then
 *                                   "flood-end\r", and wait for "echo: flood-end"
 *     --rtt N                       N round trips: send "rtt<i>\r", wait for "echo: rtt<i>"; prints
 *                                   p50/p99 in ms
 *     --linger S                    after --expect succeeded, keep every connection open S seconds
 *                                   (the bench samples xenod meanwhile)
 *     --timeout S                   give up after S seconds (default 20)
 * Prints "status N" and exits 2 when the server does not switch protocols; exits 1 on a timeout
 * or a failed expectation, 0 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/websocket.h"

#define SEEN_MAX (64 << 10)

struct conn {
    int fd;
    SSL *ssl;
    struct ws_reader rd;
    char seen[SEEN_MAX];
    size_t seen_len;
    int close_code; /* 0: none yet */
};

static const char *cacert, *token, *proto_token, *send_text, *expect, *raw_hex;
static char host[64], path[1024];
static int source_net, port, viewers = 1, hold_s, rtt_n, flood_n, linger_s;
static SSL_CTX *ctx;

static void die(const char *what)
{
    fprintf(stderr, "wsclient: %s\n", what);
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void unescape(const char *in, char *out)
{
    for (; *in; in++) {
        if (in[0] == '\\' && (in[1] == 'r' || in[1] == 'n')) {
            *out++ = in[1] == 'r' ? '\r' : '\n';
            in++;
        } else {
            *out++ = *in;
        }
    }
    *out = 0;
}

static void send_all(struct conn *c, const void *buf, size_t len)
{
    if (SSL_write(c->ssl, buf, (int)len) != (int)len)
        die("TLS write failed");
}

static void send_frame(struct conn *c, unsigned op, const void *data, size_t len)
{
    uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44}, *p = malloc(WS_HEADER_MAX + len + 1);
    size_t hl = ws_build_header(p, 1, op, len, mask);
    memcpy(p + hl, data, len);
    ws_mask(p + hl, len, mask, 0);
    send_all(c, p, hl + len); /* one TLS record, one segment: as a browser sends a keystroke */
    free(p);
}

/* TCP, TLS, the upgrade request; returns the HTTP status. Bytes after the answer's headers go
 * to the reader. */
static int open_conn(struct conn *c, int index)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (hold_s) {
        int small = 4096;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    if (viewers > 1 && strncmp(host, "127.", 4) == 0) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + ((uint32_t)source_net << 8) + (uint32_t)(index / 30));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
            die("bind to a 127.x source address failed");
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect failed");
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1)
        die("TLS handshake failed");
    char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], req[4096];
    ws_client_key(key);
    ws_accept_key(key, want);
    char auth[512] = "", proto[512] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    if (proto_token)
        snprintf(proto, sizeof(proto), "Sec-WebSocket-Protocol: xeno-console, bearer.%s\r\n", proto_token);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s\r\n",
                     path, port, key, auth, proto);
    send_all(c, req, (size_t)n);
    char resp[8192];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        int r = SSL_read(c->ssl, resp + len, (int)(sizeof(resp) - 1 - len));
        if (r <= 0)
            die("connection closed before the answer's headers");
        len += (size_t)r;
        resp[len] = 0;
        end = strstr(resp, "\r\n\r\n");
        if (!end && len >= sizeof(resp) - 1)
            die("answer headers too long");
    }
    int status = atoi(resp + 9);
    if (status != 101)
        return status;
    char acc[128];
    snprintf(acc, sizeof(acc), "Sec-WebSocket-Accept: %s\r\n", want);
    if (!strcasestr(resp, acc))
        die("wrong Sec-WebSocket-Accept");
    if (proto_token && !strcasestr(resp, "Sec-WebSocket-Protocol: xeno-console\r\n"))
        die("the server did not choose the xeno-console subprotocol");
    ws_reader_init(&c->rd, 0, 1 << 20);
    size_t rest = len - (size_t)(end + 4 - resp), room;
    memcpy(ws_reader_space(&c->rd, &room), end + 4, rest);
    ws_reader_fill(&c->rd, rest);
    return 101;
}

static void note(struct conn *c, const uint8_t *data, size_t len)
{
    if (len >= SEEN_MAX) {
        data += len - SEEN_MAX / 2;
        len = SEEN_MAX / 2;
    }
    if (c->seen_len + len > SEEN_MAX) {
        size_t drop = c->seen_len + len - SEEN_MAX;
        memmove(c->seen, c->seen + drop, c->seen_len - drop);
        c->seen_len -= drop;
    }
    memcpy(c->seen + c->seen_len, data, len);
    c->seen_len += len;
}

/* Reads what one connection has; returns -1 when it ended. */
static int pump(struct conn *c)
{
    do {
        size_t room;
        uint8_t *p = ws_reader_space(&c->rd, &room);
        int r = SSL_read(c->ssl, p, (int)room);
        if (r <= 0)
            return -1;
        ws_reader_fill(&c->rd, (size_t)r);
        struct ws_event ev;
        int rc;
        while ((rc = ws_reader_next(&c->rd, &ev)) > 0) {
            if (ev.kind == WS_EV_MESSAGE)
                note(c, ev.data, ev.len);
            else if (ev.kind == WS_EV_CLOSE) {
                c->close_code = (int)ev.close_code;
                return -1;
            } else if (ev.kind == WS_EV_PING) {
                send_frame(c, WS_OP_PONG, ev.data, ev.len);
            }
        }
        if (rc < 0)
            die("the server sent a malformed frame");
    } while (SSL_pending(c->ssl) > 0);
    return 0;
}

/* Waits until every connection saw `text` (1) or the deadline passes (0). */
static int wait_seen(struct conn *cs, int n, const char *text, double deadline)
{
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    int ok = 0;
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++) {
            int have = memmem(cs[i].seen, cs[i].seen_len, text, strlen(text)) != NULL;
            pfd[i] = (struct pollfd){.fd = have ? -1 : cs[i].fd, .events = POLLIN};
            left += !have;
        }
        if (!left) {
            ok = 1;
            break;
        }
        double wait = deadline - now_ms();
        if (wait <= 0 || poll(pfd, (nfds_t)n, (int)wait) <= 0)
            break;
        for (int i = 0; i < n; i++)
            if (pfd[i].revents && pump(&cs[i]) < 0) {
                fprintf(stderr, "wsclient: connection %d ended (close %d)\n", i, cs[i].close_code);
                free(pfd);
                return 0;
            }
    }
    if (!ok)
        for (int i = 0; i < n; i++)
            if (!memmem(cs[i].seen, cs[i].seen_len, text, strlen(text)))
                fprintf(stderr, "wsclient: connection %d did not see '%s' (saw %zu bytes)\n", i, text, cs[i].seen_len);
    free(pfd);
    return ok;
}

static int raw_and_close(struct conn *c, double deadline)
{
    uint8_t buf[4096];
    size_t n = 0;
    for (const char *h = raw_hex; h[0] && h[1] && n < sizeof(buf); h += 2)
        sscanf(h, "%2hhx", &buf[n++]);
    send_all(c, buf, n);
    while (now_ms() < deadline) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (SSL_pending(c->ssl) == 0 && poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
            break;
        if (pump(c) < 0) {
            printf("close %d\n", c->close_code);
            return c->close_code ? 0 : 1;
        }
    }
    printf("close none\n");
    return 1;
}

/* Lines in messages of at most 16 KiB (xenod's limit); each message's last line is a marker
 * whose echo is awaited before the next message, so the flood goes at the guest's pace and
 * this client always reads (it is not the slow viewer). */
static int flood(struct conn *c, double deadline)
{
    static char msg[16 << 10];
    size_t len = 0;
    int batch = 0;
    for (int i = 0; i <= flood_n; i++) {
        if (i == flood_n || len + 200 + 32 > sizeof(msg)) {
            char marker[32], want[48];
            snprintf(marker, sizeof(marker), "batch%d\r", batch);
            snprintf(want, sizeof(want), "echo: batch%d\n", batch++);
            memcpy(msg + len, marker, strlen(marker));
            send_frame(c, WS_OP_TEXT, msg, len + strlen(marker));
            len = 0;
            if (!wait_seen(c, 1, want, deadline))
                return 1;
            c->seen_len = 0;
        }
        if (i < flood_n) {
            memset(msg + len, 'a' + i % 26, 199);
            msg[len + 199] = '\r';
            len += 200;
        }
    }
    printf("flooded %d lines in %d messages\n", flood_n, batch);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int round_trips(struct conn *c, double timeout_ms)
{
    double *t = calloc((size_t)rtt_n, sizeof(double));
    for (int i = 0; i < rtt_n; i++) {
        char line[64], want[64];
        snprintf(line, sizeof(line), "rtt%d\r", i);
        snprintf(want, sizeof(want), "echo: rtt%d\n", i);
        double t0 = now_ms();
        send_frame(c, WS_OP_TEXT, line, strlen(line));
        if (!wait_seen(c, 1, want, t0 + timeout_ms)) {
            free(t);
            return 1;
        }
        t[i] = now_ms() - t0;
        c->seen_len = 0;
    }
    qsort(t, (size_t)rtt_n, sizeof(double), cmp_double);
    printf("round trips %d p50 %.2f ms p99 %.2f ms max %.2f ms\n", rtt_n, t[rtt_n / 2], t[(rtt_n * 99) / 100],
           t[rtt_n - 1]);
    free(t);
    return 0;
}

/* What the options ask for, on connections cs[0..viewers). */
static int run(struct conn *cs, double deadline)
{
    for (int i = 0; i < viewers; i++) {
        int status = open_conn(&cs[i], i);
        if (status != 101) {
            printf("status %d\n", status);
            return 2;
        }
    }
    if (hold_s) {
        sleep((unsigned)hold_s);
        return 0;
    }
    if (raw_hex)
        return raw_and_close(&cs[0], deadline);
    if (flood_n)
        return flood(&cs[0], deadline);
    if (rtt_n)
        return round_trips(&cs[0], deadline - now_ms());
    if (send_text) {
        char text[4096];
        unescape(send_text, text);
        send_frame(&cs[0], WS_OP_TEXT, text, strlen(text));
    }
    if (expect && !wait_seen(cs, viewers, expect, deadline))
        return 1;
    printf("ok\n");
    if (linger_s) {
        alarm(0);
        sleep((unsigned)linger_s);
    }
    return 0;
}

int main(int argc, char **argv)
{
    double timeout_s = 20;
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) == 0 && !v)
            die("an option without its value");
        if (!strcmp(a, "--cacert"))
            cacert = v, i++;
        else if (!strcmp(a, "--token"))
            token = v, i++;
        else if (!strcmp(a, "--proto-token"))
            proto_token = v, i++;
        else if (!strcmp(a, "--viewers"))
            viewers = atoi(v), i++;
        else if (!strcmp(a, "--send"))
            send_text = v, i++;
        else if (!strcmp(a, "--expect"))
            expect = v, i++;
        else if (!strcmp(a, "--raw"))
            raw_hex = v, i++;
        else if (!strcmp(a, "--hold"))
            hold_s = atoi(v), i++;
        else if (!strcmp(a, "--source-net"))
            source_net = atoi(v) & 0xff, i++;
        else if (!strcmp(a, "--linger"))
            linger_s = atoi(v), i++;
        else if (!strcmp(a, "--flood"))
            flood_n = atoi(v), i++;
        else if (!strcmp(a, "--rtt"))
            rtt_n = atoi(v), i++;
        else if (!strcmp(a, "--timeout"))
            timeout_s = atof(v), i++;
        else
            url = a;
    }
    if (!url || sscanf(url, "https://%63[^:]:%d%1023s", host, &port, path) != 3 || viewers < 1)
        die("usage: wsclient [options] https://ADDR:PORT/PATH (see the comment at the top of wsclient.c)");
    alarm((unsigned)timeout_s + 5); /* bounded whatever blocks */
    setvbuf(stdout, NULL, _IONBF, 0);
    double deadline = now_ms() + timeout_s * 1000;
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!cacert || SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1)
        die("--cacert FILE is needed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    struct conn *cs = calloc((size_t)viewers, sizeof(*cs));
    int rc = run(cs, deadline);
    for (int i = 0; i < viewers; i++) {
        if (cs[i].ssl) {
            if (rc == 0 && !raw_hex)
                send_frame(&cs[i], WS_OP_CLOSE, (const uint8_t *)"\x03\xe8", 2);
            SSL_free(cs[i].ssl);
        }
        if (cs[i].fd > 0)
            close(cs[i].fd);
        ws_reader_free(&cs[i].rd);
    }
    free(cs);
    SSL_CTX_free(ctx);
    return rc;
}