#include "proto/migrate_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/migrate_aead.h"
#include "proto/snapshot.h" /* snap_crc32: the same CRC32 as the snapshot files */

static const char *const type_names[MIG_TYPE_MAX] = {
    [MIG_HELLO] = "hello",
    [MIG_CHALLENGE] = "challenge",
    [MIG_AUTH] = "auth",
    [MIG_AUTH_OK] = "auth-ok",
    [MIG_CONFIG] = "config",
    [MIG_PAGES] = "pages",
    [MIG_ROUND] = "round",
    [MIG_STATE] = "state",
    [MIG_READY] = "ready",
    [MIG_GO] = "go",
    [MIG_STARTED] = "started",
    [MIG_ERROR] = "error",
    [MIG_ROUND_ACK] = "round-ack",
    [MIG_HOST_OFFER] = "host-offer",
    [MIG_HOST_ACCEPT] = "host-accept",
};

const char *mig_type_name(uint32_t type)
{
    return type < MIG_TYPE_MAX && type_names[type] ? type_names[type] : "unknown";
}

int mig_key_load(const char *path, uint8_t *key, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "migration key %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(EINVAL, "migration key %s: not a regular file", path);
    }
    /* A key others can read is no secret: refuse it rather than trust it. */
    if (st.st_mode & 077) {
        close(fd);
        return err_set(EPERM, "migration key %s: readable by group or others (mode %03o); chmod 600 it", path,
                       (unsigned)(st.st_mode & 0777));
    }
    ssize_t n = read(fd, key, MIG_KEY_MAX);
    int e = errno;
    close(fd);
    if (n < 0)
        return err_set(e, "migration key %s: %s", path, strerror(e));
    while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
        n--;
    if (n < MIG_KEY_MIN)
        return err_set(EINVAL, "migration key %s: %zd bytes, at least %d needed", path, n, MIG_KEY_MIN);
    *len = (size_t)n;
    return 0;
}

static int split(const char *s, char *host, size_t hsize, char *port, size_t psize, long min_port)
{
    const char *colon, *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':')
            return err_set(EINVAL, "'%s' is not HOST:PORT", s);
        h = s + 1;
        hl = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return err_set(EINVAL, "'%s' is not HOST:PORT", s);
        hl = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    char *end;
    long v = strtol(p, &end, 10);
    if (!hl || hl >= hsize || !*p || *end || v < min_port || v > 65535 || strlen(p) >= psize)
        return err_set(EINVAL, "'%s' is not HOST:PORT (port %ld-65535)", s, min_port);
    memcpy(host, h, hl);
    host[hl] = 0;
    snprintf(port, psize, "%s", p);
    return 0;
}

int mig_split_hostport(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
    return split(s, host, hsize, port, psize, 1);
}

static int resolve(const char *hostport, int passive, struct addrinfo **res)
{
    char host[256], port[16];
    /* Port 0 only to listen: the kernel picks one (mig_listen tells which). */
    if (split(hostport, host, sizeof(host), port, sizeof(port), passive ? 0 : 1) < 0)
        return -EINVAL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    int g = getaddrinfo(host, port, &hints, res);
    if (g)
        return err_set(EINVAL, "%s: %s", hostport, gai_strerror(g));
    return 0;
}

/* Keep-alive and a user timeout: a cut link fails the connection in seconds even while
 * our side only sends (unacknowledged data), and not only on the next poll deadline. */
static void tune(int fd)
{
    int one = 1, idle = 2, intvl = 1, cnt = 3;
    unsigned user_timeout_ms = 5000;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

int mig_connect(struct mig_conn *c, const char *hostport, int timeout_ms)
{
    struct addrinfo *res, *ai;
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    snprintf(c->peer, sizeof(c->peer), "%s", hostport);
    if (resolve(hostport, 0, &res) < 0)
        return -EINVAL;
    int e = ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            e = errno;
            close(fd);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, timeout_ms);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
            e = n == 0 ? ETIMEDOUT : soerr ? soerr : errno;
            close(fd);
            continue;
        }
        c->fd = fd;
        break;
    }
    freeaddrinfo(res);
    if (c->fd < 0)
        return err_set(e, "connecting to %s: %s", hostport, strerror(e));
    tune(c->fd);
    return 0;
}

int mig_listen(const char *addrport)
{
    int port;
    return mig_listen_port(addrport, &port);
}

int mig_listen_port(const char *addrport, int *bound_port)
{
    struct addrinfo *res;
    if (resolve(addrport, 1, &res) < 0)
        return -EINVAL;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1, e;
    if (fd < 0) {
        e = errno;
        freeaddrinfo(res);
        return err_set(e, "socket for %s: %s", addrport, strerror(e));
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4) < 0) {
        e = errno;
        close(fd);
        freeaddrinfo(res);
        return err_set(e, "listening on %s: %s", addrport, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char h[64], sv[16];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), sv, sizeof(sv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        e = errno ? errno : EINVAL;
        close(fd);
        return err_set(e, "listening on %s: cannot read the bound port", addrport);
    }
    *bound_port = atoi(sv);
    return fd;
}

int mig_accept(struct mig_conn *c, int lfd, int timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = 10000;
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return err_set(ETIMEDOUT, "no incoming migration within %d ms", timeout_ms);
    int fd = n < 0 ? -1 : accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return err_set(errno, "accepting a migration: %s", strerror(errno));
    char h[64] = "?", s[16] = "?";
    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s), NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(c->peer, sizeof(c->peer), "%s:%s", h, s);
    c->fd = fd;
    tune(fd);
    return 0;
}

void mig_close(struct mig_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    mig_aead_free(c->aead);
    c->aead = NULL;
}

int mig_sock_id(int fd, int peer, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char h[INET6_ADDRSTRLEN + 8], sv[16];
    memset(&ss, 0, sizeof(ss));
    if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl)) < 0)
        return err_set(errno, "the address of a migration connection: %s", strerror(errno));
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *u = (const struct sockaddr_un *)&ss;
        size_t n = sl > offsetof(struct sockaddr_un, sun_path) ? sl - offsetof(struct sockaddr_un, sun_path) : 0;
        snprintf(out, size, "unix:%.*s", (int)strnlen(u->sun_path, n), u->sun_path);
        return 0;
    }
    struct sockaddr_in v4;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) { /* one name per IPv4 host */
        v4 = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = s6->sin6_port};
        memcpy(&v4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
        memcpy(&ss, &v4, sizeof(v4));
        sl = sizeof(v4);
    }
    if (getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), sv, sizeof(sv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return err_set(EINVAL, "the address of a migration connection: not an IP address");
    snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, sv);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void mig_set_deadline(struct mig_conn *c, int ms)
{
    c->deadline_ms = ms > 0 ? now_ms() + ms : 0;
}

static int wait_fd(struct mig_conn *c, short ev, const char *what)
{
    struct pollfd p = {.fd = c->fd, .events = ev};
    for (;;) {
        int wait = c->timeout_ms, by_deadline = 0;
        if (c->deadline_ms) {
            int64_t left = c->deadline_ms - now_ms();
            if (left <= 0)
                return err_set(ETIMEDOUT, "%s: deadline passed while %s", c->peer, what);
            if (wait < 0 || left < wait) {
                wait = (int)left;
                by_deadline = 1;
            }
        }
        int n = poll(&p, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(errno, "%s: poll: %s", c->peer, strerror(errno));
        if (n == 0 && by_deadline)
            continue; /* the deadline: the next turn says so */
        if (n == 0)
            return err_set(ETIMEDOUT, "%s: no progress for %d ms while %s", c->peer, c->timeout_ms, what);
        return 0;
    }
}

static int write_all(struct mig_conn *c, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c, POLLOUT, "sending") < 0)
                return -ETIMEDOUT;
            continue;
        }
        if (w < 0)
            return err_set(errno, "%s: sending: %s", c->peer, strerror(errno));
        c->sent += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int read_all(struct mig_conn *c, void *buf, size_t len, const char *what)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = recv(c->fd, p, len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c, POLLIN, what) < 0)
                return -ETIMEDOUT;
            continue;
        }
        if (r < 0)
            return err_set(errno, "%s: %s: %s", c->peer, what, strerror(errno));
        if (r == 0)
            return err_set(ECONNRESET, "%s: connection closed while %s", c->peer, what);
        c->received += (uint64_t)r;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int mig_send2(struct mig_conn *c, uint32_t type, const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    if (alen > MIG_MAX_PAYLOAD || blen > MIG_MAX_PAYLOAD - alen)
        return err_set(EMSGSIZE, "migration message %s of %u bytes is too long", mig_type_name(type), alen + blen);
    struct mig_hdr h = {.magic = MIG_MAGIC, .type = type, .len = alen + blen};
    if (c->aead) { /* header as authenticated data, payload encrypted, the tag after it */
        const uint8_t *sealed;
        int r = mig_aead_seal(c, &h, a, alen, b, blen, &sealed);
        if (r < 0)
            return r;
        struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)sealed, (size_t)h.len + MIG_TAG}};
        return write_all(c, iov, 2);
    }
    uint32_t crc = snap_crc32(0, &h, 12);
    crc = snap_crc32(crc, a, alen);
    h.crc = snap_crc32(crc, b, blen);
    struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)a, alen}, {(void *)b, blen}};
    return write_all(c, iov, 3);
}

int mig_send(struct mig_conn *c, uint32_t type, const void *payload, uint32_t len)
{
    return mig_send2(c, type, payload, len, NULL, 0);
}

void mig_send_error(struct mig_conn *c, const char *reason)
{
    if (c->fd < 0)
        return;
    int t = c->timeout_ms;
    c->timeout_ms = 1000; /* best effort: never wait long on a peer we are leaving */
    size_t n = strlen(reason);
    mig_send(c, MIG_ERROR, reason, (uint32_t)(n > 1000 ? 1000 : n));
    c->timeout_ms = t;
}

/* Reads h's payload into buf and checks it: its tag (decrypting in place) once the handshake
 * passed, its CRC before. */
static int read_payload(struct mig_conn *c, const struct mig_hdr *h, void *buf, const char *what)
{
    int r = read_all(c, buf, h->len, what);
    if (r < 0)
        return r;
    if (c->aead) {
        uint8_t tag[MIG_TAG];
        if ((r = read_all(c, tag, sizeof(tag), what)) < 0)
            return r;
        return mig_aead_open(c, h, buf, h->len, tag);
    }
    if (snap_crc32(snap_crc32(0, h, 12), buf, h->len) != h->crc)
        return err_set(EPROTO, "%s: %s message of %u bytes: checksum mismatch (corrupted stream) while %s", c->peer,
                       mig_type_name(h->type), h->len, what);
    return 0;
}

int mig_recv(struct mig_conn *c, uint32_t *type, void *buf, uint32_t cap, uint32_t *len, const char *what)
{
    struct mig_hdr h;
    int r = read_all(c, &h, sizeof(h), what);
    if (r < 0)
        return r;
    if (h.magic != MIG_MAGIC)
        return err_set(EPROTO, "%s: bad message magic 0x%08x while %s (not a xeno-vmm migration peer?)", c->peer,
                       h.magic, what);
    if (h.type == MIG_ERROR && h.len <= 1000) { /* the peer's reason, whatever we expected */
        char reason[1001];
        if ((r = read_payload(c, &h, reason, what)) < 0)
            return r;
        reason[h.len] = 0;
        for (uint32_t i = 0; i < h.len; i++)
            if ((unsigned char)reason[i] < 0x20)
                reason[i] = ' ';
        return err_set(ECONNABORTED, "%s refused: %s", c->peer, reason);
    }
    if (h.len > MIG_MAX_PAYLOAD || h.len > cap)
        return err_set(EPROTO, "%s: %s message of %u bytes while %s (at most %u here)", c->peer, mig_type_name(h.type),
                       h.len, what, cap < MIG_MAX_PAYLOAD ? cap : MIG_MAX_PAYLOAD);
    if ((r = read_payload(c, &h, buf, what)) < 0)
        return r;
    if (h.type == MIG_ERROR)
        return err_set(EPROTO, "%s: an error message of %u bytes (at most 1000)", c->peer, h.len);
    *type = h.type;
    *len = h.len;
    return 0;
}

int mig_expect(struct mig_conn *c, uint32_t want, void *buf, uint32_t cap, uint32_t *len, const char *what)
{
    uint32_t type;
    int r = mig_recv(c, &type, buf, cap, len, what);
    if (r < 0)
        return r;
    if (type != want)
        return err_set(EPROTO, "%s: got a %s message while %s (expected %s)", c->peer, mig_type_name(type), what,
                       mig_type_name(want));
    return 0;
}

/* What both sides MAC and derive the session keys from: the protocol and its version, who
 * the source says it is, whom it means to reach, and both nonces. A relay that passes the
 * handshake on to another host changes none of it, so the destination's check of `dest`
 * is what refuses it; fresh nonces make every connection's keys new. */
struct transcript {
    char proto[8]; /* "xeno-mig" */
    uint32_t version;
    char source[MIG_ID_MAX], dest[MIG_ID_MAX];
    uint8_t source_nonce[MIG_NONCE], dest_nonce[MIG_NONCE];
};

static void transcript_of(const struct mig_hello *hello, const uint8_t *dest_nonce, struct transcript *t)
{
    memset(t, 0, sizeof(*t));
    memcpy(t->proto, "xeno-mig", 8);
    t->version = MIG_VERSION;
    memcpy(t->source, hello->source, MIG_ID_MAX);
    memcpy(t->dest, hello->dest, MIG_ID_MAX);
    memcpy(t->source_nonce, hello->nonce, MIG_NONCE);
    memcpy(t->dest_nonce, dest_nonce, MIG_NONCE);
}

/* MAC over a role label and the transcript: the label keeps one side's answer from being
 * replayed as the other's. */
static void mac_of(const uint8_t *key, size_t keylen, const char *role, const struct transcript *t,
                   uint8_t out[MIG_MAC])
{
    uint8_t msg[16 + sizeof(*t)];
    struct hmac_sha256_ctx h;
    memset(msg, 0, 16);
    memcpy(msg, role, strlen(role) < 16 ? strlen(role) : 16);
    memcpy(msg + 16, t, sizeof(*t));
    hmac_sha256_set_key(&h, keylen, key);
    hmac_sha256_update(&h, sizeof(msg), msg);
    hmac_sha256_digest(&h, MIG_MAC, out);
    explicit_bzero(&h, sizeof(h)); /* the key's inner and outer states */
}

static int nonce(uint8_t *n)
{
    if (getrandom(n, MIG_NONCE, 0) != MIG_NONCE)
        return err_set(errno ? errno : EIO, "getrandom: %s", strerror(errno));
    return 0;
}

/* The peer refused us during the handshake: that is an authentication failure (-EACCES),
 * whatever the transport said; its message stays. */
static int refused(int r)
{
    (void)r;
    return -EACCES;
}

/* An identity from the wire: NUL-terminated within MIG_ID_MAX, printable, nothing after. */
static int id_ok(const char *id)
{
    size_t n = strnlen(id, MIG_ID_MAX);
    if (n == MIG_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
            return 0;
    for (size_t i = n; i < MIG_ID_MAX; i++)
        if (id[i])
            return 0;
    return 1;
}

static int auth_source(struct mig_conn *c, const uint8_t *key, size_t keylen)
{
    struct mig_hello hello = {.version = MIG_VERSION};
    struct mig_challenge ch;
    struct transcript t;
    uint8_t mac[MIG_MAC], dummy[8];
    uint32_t len;
    int r;
    if ((r = mig_sock_id(c->fd, 0, hello.source, sizeof(hello.source))) < 0)
        return r;
    if (c->dest_id[0])
        snprintf(hello.dest, sizeof(hello.dest), "%s", c->dest_id);
    else if ((r = mig_sock_id(c->fd, 1, hello.dest, sizeof(hello.dest))) < 0)
        return r;
    if ((r = nonce(hello.nonce)) < 0 || (r = mig_send(c, MIG_HELLO, &hello, sizeof(hello))) < 0)
        return r;
    r = mig_expect(c, MIG_CHALLENGE, &ch, sizeof(ch), &len, "waiting for the destination's challenge");
    if (r < 0)
        return r == -ECONNABORTED ? refused(r) : r;
    if (len != sizeof(ch) || ch.version != MIG_VERSION)
        return err_set(EPROTO, "%s: speaks migration protocol version %u, this monitor %d", c->peer,
                       len == sizeof(ch) ? ch.version : 0, MIG_VERSION);
    transcript_of(&hello, ch.nonce, &t);
    mac_of(key, keylen, "destination", &t, mac);
    if (!memeql_sec(mac, ch.mac, MIG_MAC)) {
        mig_send_error(c, "authentication failed: the destination does not hold our key");
        return err_set(EACCES, "%s: authentication failed: the destination does not hold the migration key", c->peer);
    }
    mac_of(key, keylen, "source", &t, mac);
    if ((r = mig_send(c, MIG_AUTH, mac, MIG_MAC)) < 0)
        return r;
    r = mig_expect(c, MIG_AUTH_OK, dummy, sizeof(dummy), &len, "waiting for the destination to accept our key");
    if (r < 0)
        return r == -ECONNABORTED ? refused(r) : r;
    snprintf(c->peer_id, sizeof(c->peer_id), "%s", hello.dest);
    return mig_aead_start(c, key, keylen, (const uint8_t *)&t, sizeof(t), 1);
}

static int auth_destination(struct mig_conn *c, const uint8_t *key, size_t keylen)
{
    struct mig_hello hello;
    struct mig_challenge ch = {.version = MIG_VERSION};
    struct transcript t;
    char self[MIG_ID_MAX];
    uint8_t mac[MIG_MAC], theirs[MIG_MAC];
    uint32_t len;
    int r;
    if ((r = mig_expect(c, MIG_HELLO, &hello, sizeof(hello), &len, "waiting for the source's hello")) < 0)
        return r;
    if (len != sizeof(hello) || hello.version != MIG_VERSION) {
        mig_send_error(c, "unsupported migration protocol version");
        return err_set(EPROTO, "%s: speaks migration protocol version %u, this monitor %d", c->peer,
                       len == sizeof(hello) ? hello.version : 0, MIG_VERSION);
    }
    if (!id_ok(hello.source) || !id_ok(hello.dest)) {
        mig_send_error(c, "malformed identities in the hello");
        return err_set(EPROTO, "%s: a hello with malformed identities", c->peer);
    }
    /* Meant for another host (a relay passing on what was sent to it): refused before any
     * key is used. */
    if ((r = mig_sock_id(c->fd, 0, self, sizeof(self))) < 0)
        return r;
    if (strcmp(self, hello.dest) != 0) {
        mig_send_error(c, "this migration was meant for another host");
        return err_set(EACCES, "%s: refused: the source '%s' means to reach '%s', this is '%s'", c->peer, hello.source,
                       hello.dest, self);
    }
    if ((r = nonce(ch.nonce)) < 0)
        return r;
    transcript_of(&hello, ch.nonce, &t);
    mac_of(key, keylen, "destination", &t, ch.mac);
    if ((r = mig_send(c, MIG_CHALLENGE, &ch, sizeof(ch))) < 0)
        return r;
    r = mig_expect(c, MIG_AUTH, theirs, sizeof(theirs), &len, "waiting for the source's answer");
    if (r == -ECONNABORTED)
        return refused(r);
    if (r < 0)
        return r;
    mac_of(key, keylen, "source", &t, mac);
    if (len != MIG_MAC || !memeql_sec(mac, theirs, MIG_MAC)) {
        mig_send_error(c, "authentication failed: wrong migration key");
        return err_set(EACCES, "%s: authentication failed: the source does not hold the migration key", c->peer);
    }
    if ((r = mig_send(c, MIG_AUTH_OK, NULL, 0)) < 0)
        return r;
    snprintf(c->peer_id, sizeof(c->peer_id), "%s", hello.source);
    return mig_aead_start(c, key, keylen, (const uint8_t *)&t, sizeof(t), 0);
}

/* One deadline over the whole handshake, not only per read: a peer that dribbles a byte
 * now and then cannot hold the connection (and whatever slot it takes) any longer. */
static int with_deadline(struct mig_conn *c, int ms, int (*fn)(struct mig_conn *, const uint8_t *, size_t),
                         const uint8_t *key, size_t keylen)
{
    int64_t caller = c->deadline_ms;
    mig_set_deadline(c, ms);
    if (caller && caller < c->deadline_ms)
        c->deadline_ms = caller;
    int r = fn(c, key, keylen);
    c->deadline_ms = caller;
    return r;
}

int mig_auth_source(struct mig_conn *c, const uint8_t *key, size_t keylen)
{
    return with_deadline(c, MIG_AUTH_SOURCE_DEADLINE_MS, auth_source, key, keylen);
}

int mig_auth_destination(struct mig_conn *c, const uint8_t *key, size_t keylen)
{
    return with_deadline(c, MIG_AUTH_DEADLINE_MS, auth_destination, key, keylen);
}
