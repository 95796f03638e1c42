/* The migration stream against a host in the middle (docs/security.md, "Migration stream"):
 * a keyless relay that passes the handshake on between two sockets can neither read what
 * follows (a known pattern never appears in the bytes it relays), nor change a byte of it,
 * nor replay an earlier message, nor replay a whole recorded stream to the destination; a
 * relay at another address than the destination the source means to reach is refused by
 * the destination. Only the public API of proto/migrate_proto.h is used, so the same tests
 * run against the protocol as it was (clear, CRC only) and fail there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/migrate_proto.h"
#include "proto/snapshot.h" /* snap_crc32: what a forger computes */

static const char key[] = "the shared key, 32 bytes long!!!";

/* ---- a relay: copies bytes both ways, records the source's, may flip one of them ---- */

#define REC_MAX (1u << 20)

struct relay {
    int src_side, dst_side; /* its ends towards the source and towards the destination */
    uint8_t *rec;           /* what the source sent, as relayed */
    size_t rec_len;
    long flip_at; /* offset in the source's bytes to flip (-1: none) */
    pthread_mutex_t lock;
    pthread_t thread;
};

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    uint8_t buf[65536];
    struct pollfd p[2] = {{r->src_side, POLLIN, 0}, {r->dst_side, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, 5000) <= 0)
            break;
        int from = (p[0].revents & (POLLIN | POLLHUP)) ? 0 : 1;
        ssize_t n = read(p[from].fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        if (from == 0) {
            pthread_mutex_lock(&r->lock);
            if (r->flip_at >= (long)r->rec_len && r->flip_at < (long)(r->rec_len + (size_t)n))
                buf[r->flip_at - (long)r->rec_len] ^= 0x01;
            if (r->rec_len + (size_t)n <= REC_MAX) {
                memcpy(r->rec + r->rec_len, buf, (size_t)n);
                r->rec_len += (size_t)n;
            }
            pthread_mutex_unlock(&r->lock);
        }
        if (send(p[1 - from].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    }
    shutdown(r->src_side, SHUT_RDWR);
    shutdown(r->dst_side, SHUT_RDWR);
    return NULL;
}

static size_t recorded(struct relay *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->rec_len;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* source <-> relay <-> destination over two socketpairs. */
static void relay_start(struct relay *r, struct mig_conn *s, struct mig_conn *d, long flip_at)
{
    int a[2], b[2];
    memset(r, 0, sizeof(*r));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    *s = (struct mig_conn){.fd = a[0], .timeout_ms = 3000};
    *d = (struct mig_conn){.fd = b[0], .timeout_ms = 3000};
    snprintf(s->peer, sizeof(s->peer), "destination");
    snprintf(d->peer, sizeof(d->peer), "source");
    r->src_side = a[1];
    r->dst_side = b[1];
    r->flip_at = flip_at;
    r->rec = malloc(REC_MAX);
    assert_non_null(r->rec);
    pthread_mutex_init(&r->lock, NULL);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r, struct mig_conn *s, struct mig_conn *d)
{
    mig_close(s);
    mig_close(d);
    pthread_join(r->thread, NULL);
    close(r->src_side);
    close(r->dst_side);
    free(r->rec);
}

struct dest {
    struct mig_conn *c;
    int r;
    char why[512];
};

static void *dest_main(void *arg)
{
    struct dest *d = arg;
    d->r = mig_auth_destination(d->c, (const uint8_t *)key, strlen(key));
    snprintf(d->why, sizeof(d->why), "%s", err_msg());
    return NULL;
}

/* Both handshakes through the relay; 0 when both passed. */
static int handshake(struct mig_conn *s, struct mig_conn *d, struct dest *dd)
{
    pthread_t t;
    dd->c = d;
    assert_int_equal(pthread_create(&t, NULL, dest_main, dd), 0);
    int r = mig_auth_source(s, (const uint8_t *)key, strlen(key));
    if (r < 0)
        shutdown(s->fd, SHUT_RDWR); /* the destination's wait ends too */
    pthread_join(t, NULL);
    return r;
}

/* A page of guest memory that must not be seen on the wire: a pattern no cipher text has. */
#define PATTERN "GUEST-SECRET-PATTERN:"

static void fill_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)PATTERN[i % (sizeof(PATTERN) - 1)];
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* The relay passes the handshake on, and a page batch after it: the destination gets the
 * page intact, the relay never saw it. */
static void test_relay_cannot_read(void **state)
{
    (void)state;
    struct relay r;
    struct mig_conn s, d;
    struct dest dd;
    static uint8_t page[MIG_PAGE], got[2 * MIG_PAGE];
    uint32_t type, len;
    relay_start(&r, &s, &d, -1);
    assert_int_equal(handshake(&s, &d, &dd), 0);
    assert_int_equal(dd.r, 0);
    fill_pattern(page, sizeof(page));
    struct mig_pages_hdr ph = {.count = 1};
    assert_int_equal(mig_send2(&s, MIG_PAGES, &ph, sizeof(ph), page, sizeof(page)), 0);
    assert_int_equal(mig_recv(&d, &type, got, sizeof(got), &len, "testing"), 0);
    assert_int_equal(type, MIG_PAGES);
    assert_int_equal(len, sizeof(ph) + sizeof(page));
    assert_memory_equal(got + sizeof(ph), page, sizeof(page));
    /* The other way too: the destination's answers are as opaque. */
    assert_int_equal(mig_send(&d, MIG_READY, PATTERN, sizeof(PATTERN) - 1), 0);
    assert_int_equal(mig_expect(&s, MIG_READY, got, sizeof(got), &len, "testing"), 0);
    size_t n = recorded(&r);
    assert_true(n > sizeof(page));
    if (contains(r.rec, n, PATTERN))
        fail_msg("the page's pattern crossed the relay in the clear");
    relay_stop(&r, &s, &d);
}

/* Bytes the source sends during the handshake (hello and auth), to aim a flip after it. */
static size_t handshake_bytes(void)
{
    struct relay r;
    struct mig_conn s, d;
    struct dest dd;
    relay_start(&r, &s, &d, -1);
    assert_int_equal(handshake(&s, &d, &dd), 0);
    size_t n = recorded(&r);
    relay_stop(&r, &s, &d);
    return n;
}

/* One flipped bit anywhere in a later message (header, payload, or tag): refused, and the
 * connection accepts nothing after it. */
static void test_relay_flip(void **state)
{
    (void)state;
    size_t hs = handshake_bytes();
    const long where[] = {4 /* type */, 8 /* length */, 16 + 3 /* payload */, 16 + 100 /* payload end */,
                          16 + 101 + 5 /* tag */};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        struct relay r;
        struct mig_conn s, d;
        struct dest dd;
        uint8_t got[256];
        uint32_t type, len;
        relay_start(&r, &s, &d, (long)hs + where[i]);
        assert_int_equal(handshake(&s, &d, &dd), 0);
        assert_int_equal(dd.r, 0);
        uint8_t msg[101];
        memset(msg, 'x', sizeof(msg));
        assert_int_equal(mig_send(&s, MIG_STATE, msg, sizeof(msg)), 0);
        int rc = mig_recv(&d, &type, got, sizeof(got), &len, "testing");
        if (rc == 0)
            fail_msg("flip at %ld: a changed message was accepted", where[i]);
        relay_stop(&r, &s, &d);
    }
}

/* A message the relay makes up, with a CRC that is right (a keyless attacker can compute one)
 * and 16 more bytes where a tag would be: refused. */
static void test_relay_forged_message(void **state)
{
    (void)state;
    struct relay r;
    struct mig_conn s, d;
    struct dest dd;
    uint8_t got[256];
    uint32_t type, len;
    relay_start(&r, &s, &d, -1);
    assert_int_equal(handshake(&s, &d, &dd), 0);
    struct mig_hdr h = {.magic = MIG_MAGIC, .type = MIG_GO, .len = 0};
    h.crc = snap_crc32(0, &h, 12);
    uint8_t forged[sizeof(h) + 16 /* a tag's size */] = {0};
    memcpy(forged, &h, sizeof(h));
    assert_int_equal(send(r.dst_side, forged, sizeof(forged), MSG_NOSIGNAL), (ssize_t)sizeof(forged));
    int rc = mig_recv(&d, &type, got, sizeof(got), &len, "testing");
    if (rc == 0)
        fail_msg("a forged message was accepted as %s", mig_type_name(type));
    assert_int_equal(rc, -EBADMSG);
    relay_stop(&r, &s, &d);
}

/* The relay sends an earlier message again: refused, although it is byte for byte one the
 * source sent on this very connection. */
static void test_relay_replay(void **state)
{
    (void)state;
    struct relay r;
    struct mig_conn s, d;
    struct dest dd;
    uint8_t got[256];
    uint32_t type, len;
    relay_start(&r, &s, &d, -1);
    assert_int_equal(handshake(&s, &d, &dd), 0);
    size_t hs = recorded(&r);
    assert_int_equal(mig_send(&s, MIG_ROUND, "round-1!", 8), 0);
    assert_int_equal(mig_expect(&d, MIG_ROUND, got, sizeof(got), &len, "testing"), 0);
    size_t end = recorded(&r);
    assert_true(end > hs);
    assert_int_equal(send(r.dst_side, r.rec + hs, end - hs, MSG_NOSIGNAL), (ssize_t)(end - hs));
    int rc = mig_recv(&d, &type, got, sizeof(got), &len, "testing");
    if (rc == 0)
        fail_msg("a replayed %s message was accepted", mig_type_name(type));
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(err_msg(), "failed authentication"));
    relay_stop(&r, &s, &d);
}

/* A whole recorded stream (handshake and all) replayed to a fresh destination: refused at
 * the handshake (its nonce is new), nothing of it is taken. */
static void test_stream_replay(void **state)
{
    (void)state;
    struct relay r;
    struct mig_conn s, d;
    struct dest dd;
    uint8_t got[256];
    uint32_t len;
    relay_start(&r, &s, &d, -1);
    assert_int_equal(handshake(&s, &d, &dd), 0);
    assert_int_equal(mig_send(&s, MIG_GO, NULL, 0), 0);
    assert_int_equal(mig_expect(&d, MIG_GO, got, sizeof(got), &len, "testing"), 0);
    size_t n = recorded(&r);
    uint8_t *old = malloc(n);
    assert_non_null(old);
    memcpy(old, r.rec, n);
    relay_stop(&r, &s, &d);

    int sv[2];
    pthread_t t;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct mig_conn d2 = {.fd = sv[1], .timeout_ms = 3000};
    snprintf(d2.peer, sizeof(d2.peer), "replayer");
    dd.c = &d2;
    assert_int_equal(pthread_create(&t, NULL, dest_main, &dd), 0);
    assert_int_equal(send(sv[0], old, n, MSG_NOSIGNAL), (ssize_t)n);
    pthread_join(t, NULL);
    assert_int_equal(dd.r, -EACCES);
    close(sv[0]);
    mig_close(&d2);
    free(old);
}

/* ---- the destination's identity ---- */

struct tcp_relay {
    int lfd, to_port;
    struct relay r;
};

static void *tcp_relay_main(void *arg)
{
    struct tcp_relay *t = arg;
    struct mig_conn in, out;
    char hp[32];
    if (mig_accept(&in, t->lfd, 5000) < 0)
        return NULL;
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", t->to_port);
    if (mig_connect(&out, hp, 2000) < 0) {
        mig_close(&in);
        return NULL;
    }
    t->r.src_side = in.fd;
    t->r.dst_side = out.fd;
    t->r.flip_at = -1;
    t->r.rec = malloc(REC_MAX);
    pthread_mutex_init(&t->r.lock, NULL);
    if (t->r.rec)
        relay_main(&t->r);
    free(t->r.rec);
    mig_close(&in);
    mig_close(&out);
    return NULL;
}

/* A source told to migrate to a relay (another host's address) that passes everything on to
 * a destination holding the key: the destination refuses a migration meant for another
 * host, although every byte of the source's is genuine. */
static void test_relay_other_address_refused(void **state)
{
    (void)state;
    int dport, rport;
    int dl = mig_listen_port("127.0.0.1:0", &dport);
    struct tcp_relay t = {.lfd = mig_listen_port("127.0.0.1:0", &rport), .to_port = dport};
    assert_true(dl >= 0 && t.lfd >= 0);
    pthread_t rt, dt;
    assert_int_equal(pthread_create(&rt, NULL, tcp_relay_main, &t), 0);
    struct mig_conn s, d;
    struct dest dd = {.c = &d};
    char hp[32];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", rport);
    assert_int_equal(mig_connect(&s, hp, 2000), 0);
    s.timeout_ms = 3000;
    assert_int_equal(mig_accept(&d, dl, 2000), 0);
    assert_int_equal(pthread_create(&dt, NULL, dest_main, &dd), 0);
    int rc = mig_auth_source(&s, (const uint8_t *)key, strlen(key));
    pthread_join(dt, NULL);
    mig_close(&s);
    mig_close(&d);
    pthread_join(rt, NULL);
    close(t.lfd);
    close(dl);
    assert_int_equal(dd.r, -EACCES);
    assert_non_null(strstr(dd.why, "means to reach"));
    assert_int_equal(rc, -EACCES);
}

/* A source that names another destination than the one it reached (to=ID): refused at the
 * destination before the key is used, -EACCES at both ends. */
static void test_wrong_destination_named(void **state)
{
    (void)state;
    int sv[2];
    pthread_t t;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct mig_conn s = {.fd = sv[0], .timeout_ms = 3000}, d = {.fd = sv[1], .timeout_ms = 3000};
    struct dest dd = {.c = &d};
    snprintf(s.dest_id, sizeof(s.dest_id), "10.9.9.9:7001");
    assert_int_equal(pthread_create(&t, NULL, dest_main, &dd), 0);
    int rc = mig_auth_source(&s, (const uint8_t *)key, strlen(key));
    pthread_join(t, NULL);
    assert_int_equal(dd.r, -EACCES);
    assert_non_null(strstr(dd.why, "means to reach '10.9.9.9:7001'"));
    assert_int_equal(rc, -EACCES);
    assert_non_null(strstr(err_msg(), "meant for another host"));
    mig_close(&s);
    mig_close(&d);
}

/* Straight to the destination over TCP: accepted, and the identities are the addresses. */
static void test_direct_tcp(void **state)
{
    (void)state;
    int dport;
    int dl = mig_listen_port("127.0.0.1:0", &dport);
    assert_true(dl >= 0);
    struct mig_conn s, d;
    struct dest dd = {.c = &d};
    pthread_t dt;
    char hp[32];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", dport);
    assert_int_equal(mig_connect(&s, hp, 2000), 0);
    s.timeout_ms = 3000;
    assert_int_equal(mig_accept(&d, dl, 2000), 0);
    assert_int_equal(pthread_create(&dt, NULL, dest_main, &dd), 0);
    assert_int_equal(mig_auth_source(&s, (const uint8_t *)key, strlen(key)), 0);
    pthread_join(dt, NULL);
    assert_int_equal(dd.r, 0);
    mig_close(&s);
    mig_close(&d);
    close(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_cannot_read),       cmocka_unit_test(test_relay_flip),
        cmocka_unit_test(test_relay_forged_message),    cmocka_unit_test(test_relay_replay),
        cmocka_unit_test(test_stream_replay),           cmocka_unit_test(test_relay_other_address_refused),
        cmocka_unit_test(test_wrong_destination_named), cmocka_unit_test(test_direct_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
