/* Live migration's pieces that need no KVM (docs/migration.md): the control request's
 * parser, HOST:PORT and key files, the message framing and its checksums, the key handshake
 * (matching and mismatching keys, both sides), and the destination's checks of what a
 * hostile source sends as memory: every bad page message is refused before a byte reaches
 * guest RAM. The two ends run over a socketpair, the handshake's second side on a thread.
 * Also what a stranger can do before the handshake passes: dribble (cut at the handshake's
 * deadline), crowd xenod's listener (capped), exhaust its fds (accept backs off, logs little). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include "daemon/migrate_host.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vmm/host/control.h"
#include "proto/migrate_proto.h"
#include "vmm/state/migrate_recv.h"
#include "vmm/host/options.h"
#include "proto/snapshot.h"

static void pair(struct mig_conn *a, struct mig_conn *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    *a = (struct mig_conn){.fd = sv[0], .timeout_ms = 2000};
    *b = (struct mig_conn){.fd = sv[1], .timeout_ms = 2000};
    snprintf(a->peer, sizeof(a->peer), "peer-b");
    snprintf(b->peer, sizeof(b->peer), "peer-a");
}

/* ---- the control request ---- */

static void test_parse_migrate(void **state)
{
    (void)state;
    enum control_req req;
    struct control_args a;
    char why[256];
    assert_int_equal(control_parse_args("migrate 10.0.0.2:7001", &req, &a, why, sizeof(why)), 0);
    assert_int_equal(req, CONTROL_MIGRATE);
    assert_string_equal(a.path, "10.0.0.2:7001");
    assert_int_equal(a.mig_has, 0);
    assert_int_equal(
        control_parse_args("migrate h:1 key=/k bandwidth=50 max-downtime=30 max-rounds=4", &req, &a, why, sizeof(why)),
        0);
    assert_string_equal(a.key, "/k");
    assert_int_equal(a.mig[CONTROL_MIG_BANDWIDTH], 50);
    assert_int_equal(a.mig[CONTROL_MIG_MAX_DOWNTIME], 30);
    assert_int_equal(a.mig[CONTROL_MIG_MAX_ROUNDS], 4);
    assert_string_equal(a.mig_to, "");
    assert_int_equal(control_parse_args("migrate 10.0.0.9:7101 to=10.0.0.2:7001", &req, &a, why, sizeof(why)), 0);
    assert_string_equal(a.path, "10.0.0.9:7101");
    assert_string_equal(a.mig_to, "10.0.0.2:7001");
    static const char *const bad[] = {"migrate",
                                      "migrate h:1 speed=3",
                                      "migrate h:1 bandwidth=x",
                                      "migrate h:1 max-rounds=1 max-rounds=2",
                                      "migrate h:1 key=",
                                      "migrate key=/k",
                                      "migrate h:1 max-downtime=-1",
                                      "migrate h:1 to=",
                                      "migrate h:1 to=a to=b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = 0;
        assert_int_equal(control_parse_args(bad[i], &req, &a, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "migrate"));
    }
}

static void test_hostport(void **state)
{
    (void)state;
    char h[64], p[16];
    assert_int_equal(mig_split_hostport("10.77.0.2:7001", h, sizeof(h), p, sizeof(p)), 0);
    assert_string_equal(h, "10.77.0.2");
    assert_string_equal(p, "7001");
    assert_int_equal(mig_split_hostport("[::1]:80", h, sizeof(h), p, sizeof(p)), 0);
    assert_string_equal(h, "::1");
    assert_true(mig_split_hostport("host", h, sizeof(h), p, sizeof(p)) < 0);
    assert_true(mig_split_hostport("host:0", h, sizeof(h), p, sizeof(p)) < 0);
    assert_true(mig_split_hostport("host:70000", h, sizeof(h), p, sizeof(p)) < 0);
    assert_true(mig_split_hostport(":80", h, sizeof(h), p, sizeof(p)) < 0);
    assert_true(mig_split_hostport("h:8x", h, sizeof(h), p, sizeof(p)) < 0);
}

static void write_key(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_key_file(void **state)
{
    (void)state;
    char path[] = "/tmp/xeno-test-key.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint8_t key[MIG_KEY_MAX];
    size_t len = 0;
    write_key(path, "0123456789abcdef0123\n", 0600);
    assert_int_equal(mig_key_load(path, key, &len), 0);
    assert_int_equal(len, 20); /* the newline is not part of the key */
    write_key(path, "0123456789abcdef0123\n", 0644);
    assert_int_equal(mig_key_load(path, key, &len), -EPERM);
    assert_non_null(strstr(err_msg(), "readable by group or others"));
    write_key(path, "short\n", 0600);
    assert_int_equal(mig_key_load(path, key, &len), -EINVAL);
    assert_non_null(strstr(err_msg(), "at least 16"));
    unlink(path);
    assert_int_equal(mig_key_load(path, key, &len), -ENOENT);
}

/* --migrate-incoming: needs a key, and brings its own machine (no --kernel, no --restore). */
static void test_options(void **state)
{
    (void)state;
    struct options o;
    char *ok[] = {"xeno-vmm", "--migrate-incoming", "10.0.0.2:7001", "--migrate-key", "/k", NULL};
    assert_int_equal(options_parse(5, ok, &o), 0);
    assert_string_equal(o.migrate_incoming, "10.0.0.2:7001");
    assert_string_equal(o.migrate_key, "/k");
    char *nokey[] = {"xeno-vmm", "--migrate-incoming", "10.0.0.2:7001", NULL};
    assert_int_equal(options_parse(3, nokey, &o), -1);
    char *kernel[] = {"xeno-vmm", "--migrate-incoming", "h:1", "--migrate-key", "/k", "--kernel", "k.elf", NULL};
    assert_int_equal(options_parse(7, kernel, &o), -1);
    char *source[] = {"xeno-vmm", "--kernel", "k.elf", "--migrate-key", "/k", NULL}; /* a source's default key */
    assert_int_equal(options_parse(5, source, &o), 0);
    assert_null(o.migrate_incoming);
}

/* ---- framing ---- */

static void test_framing(void **state)
{
    (void)state;
    struct mig_conn a, b;
    uint8_t buf[256];
    uint32_t type, len;
    pair(&a, &b);
    assert_int_equal(mig_send2(&a, MIG_ROUND, "abc", 3, "defg", 4), 0);
    assert_int_equal(mig_recv(&b, &type, buf, sizeof(buf), &len, "testing"), 0);
    assert_int_equal(type, MIG_ROUND);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "abcdefg", 7);

    /* One flipped payload byte: refused by the CRC. */
    struct mig_hdr h = {.magic = MIG_MAGIC, .type = MIG_ROUND, .len = 4};
    h.crc = snap_crc32(snap_crc32(0, &h, 12), "good", 4);
    assert_int_equal(write(a.fd, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(write(a.fd, "gooD", 4), 4);
    assert_int_equal(mig_recv(&b, &type, buf, sizeof(buf), &len, "testing"), -EPROTO);
    assert_non_null(strstr(err_msg(), "checksum mismatch"));

    /* Longer than the receiver allows: refused before the payload is read. */
    assert_int_equal(mig_send(&a, MIG_STATE, buf, 200), 0);
    assert_int_equal(mig_recv(&b, &type, buf, 100, &len, "testing"), -EPROTO);
    mig_close(&a);
    mig_close(&b);

    /* The peer's error message comes out as the reason, whatever was expected. */
    pair(&a, &b);
    mig_send_error(&a, "no room here");
    assert_int_equal(mig_expect(&b, MIG_READY, buf, 8, &len, "testing"), -ECONNABORTED);
    assert_non_null(strstr(err_msg(), "no room here"));
    /* A wrong magic: not a migration peer. */
    assert_int_equal(write(a.fd, "GET / HTTP/1.0\r\n", 16), 16);
    assert_int_equal(mig_recv(&b, &type, buf, sizeof(buf), &len, "testing"), -EPROTO);
    assert_non_null(strstr(err_msg(), "magic"));
    /* The peer gone mid-message. */
    mig_close(&a);
    assert_int_equal(mig_recv(&b, &type, buf, sizeof(buf), &len, "testing"), -ECONNRESET);
    mig_close(&b);
}

/* ---- the handshake ---- */

struct dest_side {
    struct mig_conn c;
    const char *key;
    int r;
    char why[512];
};

static void *dest_thread(void *arg)
{
    struct dest_side *d = arg;
    d->r = mig_auth_destination(&d->c, (const uint8_t *)d->key, strlen(d->key));
    snprintf(d->why, sizeof(d->why), "%s", err_msg());
    return NULL;
}

static int handshake(const char *src_key, const char *dst_key, struct dest_side *d)
{
    struct mig_conn s;
    pthread_t t;
    pair(&s, &d->c);
    d->key = dst_key;
    assert_int_equal(pthread_create(&t, NULL, dest_thread, d), 0);
    int r = mig_auth_source(&s, (const uint8_t *)src_key, strlen(src_key));
    mig_close(&s); /* a source that failed leaves: the destination's wait ends too */
    pthread_join(t, NULL);
    mig_close(&d->c);
    return r;
}

static void test_auth(void **state)
{
    (void)state;
    struct dest_side d;
    assert_int_equal(handshake("the shared key, 32 bytes long!!!", "the shared key, 32 bytes long!!!", &d), 0);
    assert_int_equal(d.r, 0);

    assert_int_equal(handshake("the shared key, 32 bytes long!!!", "another key, also long enough...", &d), -EACCES);
    assert_non_null(strstr(err_msg(), "authentication failed"));
    assert_int_equal(d.r, -EACCES);
    assert_non_null(strstr(d.why, "authentication failed"));
}

/* A source that holds no key answers the challenge with junk: refused, nothing accepted. */
static void test_auth_stranger(void **state)
{
    (void)state;
    struct mig_conn s;
    struct dest_side d;
    pthread_t t;
    uint8_t buf[128], junk[MIG_MAC] = {1, 2, 3};
    uint32_t len;
    pair(&s, &d.c);
    d.key = "the shared key, 32 bytes long!!!";
    assert_int_equal(pthread_create(&t, NULL, dest_thread, &d), 0);
    struct mig_hello hello = {.version = MIG_VERSION};
    assert_int_equal(mig_sock_id(s.fd, 1, hello.dest, sizeof(hello.dest)), 0); /* the right host */
    assert_int_equal(mig_send(&s, MIG_HELLO, &hello, sizeof(hello)), 0);
    assert_int_equal(mig_expect(&s, MIG_CHALLENGE, buf, sizeof(buf), &len, "testing"), 0);
    assert_int_equal(mig_send(&s, MIG_AUTH, junk, sizeof(junk)), 0);
    assert_int_equal(mig_expect(&s, MIG_AUTH_OK, buf, sizeof(buf), &len, "testing"), -ECONNABORTED);
    pthread_join(t, NULL);
    assert_int_equal(d.r, -EACCES);
    mig_close(&s);
    mig_close(&d.c);
}

/* ---- the destination's page checks ---- */

#define RAM (4u << 20)

struct recv_fixture {
    struct migrate_recv r;
    struct mig_conn src;
    struct vm *vm;
    uint8_t *ram;
};

static void recv_setup(struct recv_fixture *f)
{
    memset(f, 0, sizeof(*f));
    pair(&f->src, &f->r.c);
    f->r.buf = malloc(MIG_MAX_PAYLOAD);
    f->r.cfg.mem_size = RAM;
    f->vm = calloc(1, sizeof(*f->vm));
    f->ram = calloc(1, RAM);
    assert_non_null(f->r.buf);
    assert_non_null(f->vm);
    assert_non_null(f->ram);
    guest_mem_init_buffer(&f->vm->mem, f->ram, RAM);
}

static void recv_teardown(struct recv_fixture *f)
{
    mig_close(&f->src);
    migrate_recv_close(&f->r);
    free(f->vm);
    free(f->ram);
}

/* Sends a pages message: n entries, data for those without the zero flag. */
static void send_pages(struct recv_fixture *f, const uint64_t *ent, uint32_t n, uint32_t extra_bytes)
{
    static uint8_t msg[8 + 8 * 80 + 80 * 4096 + 64];
    struct mig_pages_hdr h = {.count = n};
    size_t len = sizeof(h);
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + len, ent, 8ull * n);
    len += 8ull * n;
    for (uint32_t i = 0; i < n && i < 80; i++) {
        if (ent[i] & MIG_ZERO_PAGE)
            continue;
        memset(msg + len, 0xa0 + (int)i, 4096);
        len += 4096;
    }
    len += extra_bytes;
    assert_int_equal(mig_send(&f->src, MIG_PAGES, msg, (uint32_t)len), 0);
}

static void test_recv_pages(void **state)
{
    (void)state;
    struct recv_fixture f;
    recv_setup(&f);
    f.ram[3 * 4096] = 0x55; /* stale data the source says is now zero */
    uint64_t good[] = {0, 2 * 4096, 3 * 4096 | MIG_ZERO_PAGE, RAM - 4096};
    send_pages(&f, good, 4, 0);
    uint64_t outside[] = {RAM};
    send_pages(&f, outside, 1, 0);
    assert_int_equal(migrate_recv_load(&f.r, f.vm), -EPROTO);
    assert_non_null(strstr(err_msg(), "is not a page of the"));
    assert_int_equal(f.ram[0], 0xa0);
    assert_int_equal(f.ram[2 * 4096 + 17], 0xa1);
    assert_int_equal(f.ram[3 * 4096], 0);
    assert_int_equal(f.ram[RAM - 1], 0xa3); /* data bytes follow the entry index */
    assert_int_equal(f.r.pages, 4);
    recv_teardown(&f);
}

static void test_recv_refuses(void **state)
{
    (void)state;
    static const struct {
        uint64_t ent[2];
        uint32_t n, extra;
        const char *why;
    } bad[] = {
        {{4096 + 8}, 1, 0, "is not a page"},              /* not page aligned */
        {{4096 | 2}, 1, 0, "is not a page"},              /* an unknown flag */
        {{UINT64_MAX & ~4095ull}, 1, 0, "is not a page"}, /* far outside RAM */
        {{0}, 1, 100, "bytes for 1 entries"},             /* more data than announced */
        {{0, 4096}, 0, 0, "with 0 entries"},              /* no entries */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct recv_fixture f;
        recv_setup(&f);
        send_pages(&f, bad[i].ent, bad[i].n, bad[i].extra);
        assert_int_equal(migrate_recv_load(&f.r, f.vm), -EPROTO);
        if (!strstr(err_msg(), bad[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, err_msg(), bad[i].why);
        for (size_t b = 0; b < RAM; b += 4096)
            assert_int_equal(f.ram[b], 0); /* nothing of a refused message was written */
        recv_teardown(&f);
    }
    /* More entries than a batch holds. */
    struct recv_fixture f;
    recv_setup(&f);
    uint64_t many[80];
    for (int i = 0; i < 80; i++)
        many[i] = (uint64_t)i * 4096 | MIG_ZERO_PAGE;
    send_pages(&f, many, 80, 0);
    assert_int_equal(migrate_recv_load(&f.r, f.vm), -EPROTO);
    assert_non_null(strstr(err_msg(), "80 entries"));
    recv_teardown(&f);
    /* A state section that is not a state section is refused before anything loads. */
    recv_setup(&f);
    struct snap_section_hdr sh = {.type = SNAP_SEC_MEMORY, .length = 0, .next = sizeof(sh)};
    assert_int_equal(mig_send(&f.src, MIG_STATE, &sh, sizeof(sh)), 0);
    assert_int_equal(migrate_recv_load(&f.r, f.vm), -EPROTO);
    assert_non_null(strstr(err_msg(), "not a state section"));
    recv_teardown(&f);
}

/* ---- strangers before the handshake ---- */

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int dest_done;
static void *dest_thread_flag(void *arg)
{
    dest_thread(arg);
    __atomic_store_n(&dest_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A peer that sends a byte every 400 ms never trips a 10 s per-read timeout; the deadline
 * over the whole handshake cuts it all the same. */
static void test_auth_deadline(void **state)
{
    (void)state;
    struct mig_conn s;
    struct dest_side d;
    pthread_t t;
    struct timespec t0;
    pair(&s, &d.c);
    d.c.timeout_ms = 10000;
    fcntl(d.c.fd, F_SETFL, O_NONBLOCK); /* as accepted connections are */
    d.key = "the shared key, 32 bytes long!!!";
    dest_done = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&t, NULL, dest_thread_flag, &d), 0);
    /* A well-formed hello, one byte at a time. */
    struct mig_hello hello = {.version = MIG_VERSION};
    struct mig_hdr hd = {.magic = MIG_MAGIC, .type = MIG_HELLO, .len = sizeof(hello)};
    uint8_t msg[sizeof(hd) + sizeof(hello)];
    hd.crc = snap_crc32(snap_crc32(0, &hd, 12), &hello, sizeof(hello));
    memcpy(msg, &hd, sizeof(hd));
    memcpy(msg + sizeof(hd), &hello, sizeof(hello));
    for (int i = 0; i < 30 && !__atomic_load_n(&dest_done, __ATOMIC_ACQUIRE); i++) {
        assert_int_equal(send(s.fd, msg + i, 1, MSG_NOSIGNAL), 1);
        usleep(400 * 1000);
    }
    pthread_join(t, NULL);
    long ms = ms_since(&t0);
    assert_int_equal(d.r, -ETIMEDOUT);
    assert_non_null(strstr(d.why, "deadline"));
    assert_true(ms >= MIG_AUTH_DEADLINE_MS - 100 && ms < MIG_AUTH_DEADLINE_MS + 1500);
    mig_close(&s);
    mig_close(&d.c);
}

static const char listener_key[] = "the shared key, 32 bytes long!!!";

static struct migrate_host *listener(char *keyfile)
{
    struct migrate_host *h;
    strcpy(keyfile, "/tmp/test_migrate_keyXXXXXX");
    int fd = mkstemp(keyfile);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, listener_key, strlen(listener_key)), (ssize_t)strlen(listener_key));
    close(fd);
    /* A free port: the listener takes a fixed one, as xenod's --migrate-listen does. */
    char hp[32];
    int port, lfd = mig_listen_port("127.0.0.1:0", &port);
    assert_true(lfd >= 0);
    close(lfd);
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", port);
    assert_int_equal(migrate_host_listen(&h, NULL, hp, keyfile), 0);
    assert_int_equal(migrate_host_port(h), port);
    return h;
}

static int tcp_to(int port, int do_connect)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (do_connect)
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Closed by the other end (EOF or reset) within ms. */
static int closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    return poll(&p, 1, ms) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* Six strangers connect and say nothing: four hold the handshake slots, the other two are
 * closed at once; once the four leave, a real source passes the handshake. */
static void test_listener_cap(void **state)
{
    (void)state;
    char keyfile[64];
    struct migrate_host *h = listener(keyfile);
    int port = migrate_host_port(h), fds[6], closed = 0;
    for (int i = 0; i < 6; i++)
        fds[i] = tcp_to(port, 1);
    usleep(500 * 1000);
    for (int i = 0; i < 6; i++)
        closed += closed_within(fds[i], 0);
    assert_int_equal(closed, 2);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    usleep(200 * 1000);
    char hp[32];
    struct mig_conn c;
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", port);
    assert_int_equal(mig_connect(&c, hp, 2000), 0);
    c.timeout_ms = 2000;
    assert_int_equal(mig_auth_source(&c, (const uint8_t *)listener_key, strlen(listener_key)), 0);
    mig_close(&c);
    usleep(200 * 1000); /* its handler sees the end and goes */
    migrate_host_close(h);
    unlink(keyfile);
}

/* Closing the listener while strangers hold handshake slots: it cuts them at once (not at
 * the handshake's deadline) and returns only when their threads are gone. Before, the
 * threads were detached and went on using the freed listener (ASan: heap-use-after-free in
 * release_slot as soon as a stranger hung up). */
static void test_listener_close_joins_handshakes(void **state)
{
    (void)state;
    char keyfile[64];
    signal(SIGPIPE, SIG_IGN); /* as xenod: a handler may answer a connection just cut */
    struct migrate_host *h = listener(keyfile);
    int port = migrate_host_port(h), fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = tcp_to(port, 1);
    usleep(300 * 1000); /* each is in its handshake */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    migrate_host_close(h);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms < 1000); /* well inside MIG_AUTH_DEADLINE_MS */
    int cut = 0;
    for (int i = 0; i < 3; i++)
        cut += closed_within(fds[i], 200);
    for (int i = 0; i < 3; i++)
        close(fds[i]); /* a handler still alive would now wake and touch the listener */
    usleep(300 * 1000);
    assert_int_equal(cut, 3);
    unlink(keyfile);
}

static int log_lines;
static void count_line(const char *line)
{
    (void)line;
    __atomic_add_fetch(&log_lines, 1, __ATOMIC_RELAXED);
}

/* Out of fds, accept fails for as long as the connections wait: the listener backs off and
 * logs a few lines, not one per spin; it stops promptly, and serves again once fds free up. */
static void test_listener_accept_backoff(void **state)
{
    (void)state;
    char keyfile[64];
    signal(SIGPIPE, SIG_IGN); /* as xenod: a handler may answer a connection just cut */
    struct migrate_host *h = listener(keyfile);
    int port = migrate_host_port(h), fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = tcp_to(port, 0);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0); /* every fd below it is in use: a limit there leaves none */
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    log_lines = 0;
    log_set_hook(count_line);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
    usleep(1500 * 1000);
    int lines = __atomic_load_n(&log_lines, __ATOMIC_RELAXED);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    print_message("%d log lines in 1.5 s without fds\n", lines);
    assert_true(lines >= 1 && lines <= 6);
    /* fds again: within the longest back-off, the waiting connections are taken (and held). */
    for (int i = 0; i < 3; i++)
        assert_false(closed_within(fds[i], 0));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    migrate_host_close(h);
    assert_true(ms_since(&t0) < 500);
    log_set_hook(NULL);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    usleep(200 * 1000);
    unlink(keyfile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_migrate),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_auth_stranger),
        cmocka_unit_test(test_recv_pages),
        cmocka_unit_test(test_recv_refuses),
        cmocka_unit_test(test_auth_deadline),
        cmocka_unit_test(test_listener_cap),
        cmocka_unit_test(test_listener_close_joins_handshakes),
        cmocka_unit_test(test_listener_accept_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
