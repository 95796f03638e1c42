#include "daemon/migrate_host.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/registry.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/migrate_proto.h"

#define HOST_TIMEOUT_MS 15000             /* each step of the xenod-to-xenod exchange */
#define OFFER_MAX (DOMAIN_XML_MAX + 4096) /* the JSON offer: a domain XML and a few fields */
#define CONSOLE_TAIL_MAX (64 << 10)
/* Until a peer has passed the handshake it is a stranger: few at once, each on a thread with
 * a stack sized here (touched a few KiB deep before the handshake passes; the rest, for
 * starting the domain, only once it has), and no buffer beyond the handshake's own. Further
 * strangers are closed at once; each is cut at the handshake's deadline (MIG_AUTH_DEADLINE_MS). */
#define MAX_UNAUTHENTICATED 4
#define HANDLER_STACK (512u << 10)
/* Accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM...) persist while the listening socket stays
 * readable: wait before the next try, doubling up to this, instead of spinning. */
#define ACCEPT_BACKOFF_MIN_MS 10
#define ACCEPT_BACKOFF_MAX_MS 1000

struct migrate_host {
    struct registry *r;
    int lfd;
    int stop[2];
    char addr[128]; /* the listening address without the port: the monitors listen there */
    char key_path[4096];
    uint8_t key[MIG_KEY_MAX];
    size_t keylen;
    pthread_t thread;
    pthread_mutex_t lock; /* guards unauthenticated, handlers, closing and each handler's c.fd and done */
    int unauthenticated;  /* connections accepted whose handshake has not passed yet */
    /* Every handler thread started and not joined yet. Handlers are joinable: the listener
     * joins those that are done as it goes, migrate_host_close() joins the rest, so none
     * outlives the listener (it uses h and the registry to its last line). */
    struct incoming *handlers;
    int closing; /* migrate_host_close() runs: cut handshakes, abandon incoming domains */
};

static void release_slot(struct migrate_host *h)
{
    pthread_mutex_lock(&h->lock);
    h->unauthenticated--;
    pthread_mutex_unlock(&h->lock);
}

struct incoming {
    struct migrate_host *h;
    struct mig_conn c; /* c.fd closed (and -1) under h->lock, so the closer never shuts a reused fd */
    pthread_t thread;
    int done; /* under h->lock: the thread has finished with h and may be joined */
    struct incoming *next;
};

/* reg_migrate_in's cancel test: xenod is stopping, stop waiting for the incoming domain. */
static int host_closing(void *ctx)
{
    struct incoming *in = ctx;
    pthread_mutex_lock(&in->h->lock);
    int closing = in->h->closing;
    pthread_mutex_unlock(&in->h->lock);
    return closing;
}

/* start_how.on_listening: the destination monitor listens; the source may send. */
static int send_accept(void *ctx, int port)
{
    struct incoming *in = ctx;
    char json[64];
    int n = snprintf(json, sizeof(json), "{\"port\": %d}", port);
    return mig_send(&in->c, MIG_HOST_ACCEPT, json, (uint32_t)n);
}

static void *handle_incoming(void *opaque)
{
    struct incoming *in = opaque;
    struct migrate_host *h = in->h;
    char *offer = NULL, *console = NULL;
    uint32_t len = 0, clen = 0;
    int rc = mig_auth_destination(&in->c, h->key, h->keylen);
    release_slot(h); /* authenticated, or gone: either way no longer a stranger */
    if (rc == 0) {
        offer = malloc(OFFER_MAX + 1);
        console = malloc(CONSOLE_TAIL_MAX);
        if (!offer || !console)
            rc = err_set(ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = mig_expect(&in->c, MIG_HOST_OFFER, offer, OFFER_MAX, &len, "the domain offer");
    if (rc == 0)
        rc = mig_expect(&in->c, MIG_HOST_OFFER, console, CONSOLE_TAIL_MAX, &clen, "the console tail");
    if (rc == 0) {
        offer[len] = 0;
        char listen[160];
        snprintf(listen, sizeof(listen), "%s:0", h->addr);
        rc = reg_migrate_in(h->r, offer, len, console, clen, in->c.peer, listen, h->key_path, send_accept, host_closing,
                            in);
    }
    if (rc < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        log_limited(LOG_WARN, 5, "incoming migration from %s refused: %s", in->c.peer, msg);
        if (!host_closing(in)) /* cut by migrate_host_close(): nobody to tell */
            mig_send_error(&in->c, msg);
    }
    free(offer);
    free(console);
    pthread_mutex_lock(&h->lock);
    mig_close(&in->c);
    in->c.fd = -1;
    in->done = 1;
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Joins and frees the handlers that are done (all of them when `all`: after the listener
 * thread ended, so no new one appears). */
static void join_handlers(struct migrate_host *h, int all)
{
    struct incoming *gone = NULL;
    pthread_mutex_lock(&h->lock);
    for (struct incoming **p = &h->handlers; *p;) {
        struct incoming *in = *p;
        if (all || in->done) {
            *p = in->next;
            in->next = gone;
            gone = in;
        } else {
            p = &in->next;
        }
    }
    pthread_mutex_unlock(&h->lock);
    while (gone) {
        struct incoming *in = gone;
        gone = in->next;
        pthread_join(in->thread, NULL);
        free(in);
    }
}

/* Sleeps ms unless the listener is told to stop: 1 when it is. */
static int stop_requested(struct migrate_host *h, int ms)
{
    struct pollfd p = {h->stop[0], POLLIN, 0};
    return poll(&p, 1, ms) > 0;
}

/* Takes a stranger's slot: 0, or -EBUSY when MAX_UNAUTHENTICATED are in their handshake. */
static int take_slot(struct migrate_host *h)
{
    pthread_mutex_lock(&h->lock);
    int ok = h->unauthenticated < MAX_UNAUTHENTICATED;
    h->unauthenticated += ok;
    pthread_mutex_unlock(&h->lock);
    return ok ? 0 : -EBUSY;
}

/* One thread per incoming domain: it lives until that domain runs here or gave up. */
static void start_handler(struct migrate_host *h, struct mig_conn *c)
{
    struct incoming *in = calloc(1, sizeof(*in));
    pthread_attr_t attr;
    int rc = in ? pthread_attr_init(&attr) : ENOMEM;
    if (rc == 0) {
        in->h = h;
        in->c = *c;
        pthread_attr_setstacksize(&attr, HANDLER_STACK);
        /* Listed before it runs: it marks itself done under the lock, never before this. */
        pthread_mutex_lock(&h->lock);
        rc = pthread_create(&in->thread, &attr, handle_incoming, in);
        if (rc == 0) {
            in->next = h->handlers;
            h->handlers = in;
        }
        pthread_mutex_unlock(&h->lock);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        log_limited(LOG_WARN, 2, "incoming migration from %s dropped: %s", c->peer, strerror(rc));
        release_slot(h);
        mig_close(c);
        free(in);
    }
}

static void *listen_main(void *opaque)
{
    struct migrate_host *h = opaque;
    int backoff = 0;
    for (;;) {
        struct pollfd p[2] = {{h->stop[0], POLLIN, 0}, {h->lfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (!p[1].revents)
            continue;
        struct mig_conn c;
        int rc = mig_accept(&c, h->lfd, 0);
        if (rc == -ECONNABORTED || rc == -EINTR || rc == -EAGAIN || rc == -ETIMEDOUT)
            continue; /* that connection went away before we took it: nothing wrong here */
        if (rc < 0) {
            backoff = backoff ? backoff * 2 : ACCEPT_BACKOFF_MIN_MS;
            if (backoff > ACCEPT_BACKOFF_MAX_MS)
                backoff = ACCEPT_BACKOFF_MAX_MS;
            log_limited(LOG_WARN, 1, "migration listener: %s (next try in %d ms)", err_msg(), backoff);
            if (stop_requested(h, backoff))
                break;
            continue;
        }
        backoff = 0;
        join_handlers(h, 0);
        if (take_slot(h) < 0) {
            log_limited(LOG_WARN, 1, "migration listener: %s closed: %d connections already in their handshake", c.peer,
                        MAX_UNAUTHENTICATED);
            mig_close(&c);
            continue;
        }
        c.timeout_ms = HOST_TIMEOUT_MS;
        start_handler(h, &c);
    }
    return NULL;
}

int migrate_host_port(const struct migrate_host *h)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

int migrate_host_listen(struct migrate_host **out, struct registry *r, const char *addrport, const char *key_path)
{
    char host[128], port[16];
    *out = NULL;
    struct migrate_host *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(ENOMEM, "out of memory");
    h->r = r;
    h->lfd = -1;
    pthread_mutex_init(&h->lock, NULL);
    snprintf(h->key_path, sizeof(h->key_path), "%s", key_path);
    int rc = mig_key_load(key_path, h->key, &h->keylen);
    if (rc == 0)
        rc = mig_split_hostport(addrport, host, sizeof(host), port, sizeof(port));
    if (rc == 0) {
        snprintf(h->addr, sizeof(h->addr), "%s", host);
        rc = h->lfd = mig_listen(addrport);
    }
    if (rc >= 0 && pipe(h->stop) < 0)
        rc = err_set(errno, "pipe: %s", strerror(errno));
    if (rc >= 0 && (rc = pthread_create(&h->thread, NULL, listen_main, h)) != 0)
        rc = err_set(rc, "migration listener thread: %s", strerror(rc));
    if (rc < 0) {
        if (h->lfd >= 0)
            close(h->lfd);
        free(h);
        return rc;
    }
    log_info("accepting migrations on %s", addrport);
    *out = h;
    return 0;
}

void migrate_host_close(struct migrate_host *h)
{
    if (!h)
        return;
    if (write(h->stop[1], "x", 1) < 0)
        log_warn("stopping the migration listener: %s", strerror(errno));
    pthread_join(h->thread, NULL);
    /* No new handler now. Cut every connection (a handshake fails at once instead of at its
     * deadline; an incoming domain not yet told where to go is abandoned) and tell handlers
     * waiting for an incoming domain to give up (its monitor is killed before the commit, so
     * the source keeps the domain); then wait for them: they use h and the registry. */
    pthread_mutex_lock(&h->lock);
    h->closing = 1;
    for (struct incoming *in = h->handlers; in; in = in->next)
        if (in->c.fd >= 0)
            shutdown(in->c.fd, SHUT_RDWR);
    pthread_mutex_unlock(&h->lock);
    join_handlers(h, 1);
    close(h->lfd);
    close(h->stop[0]);
    close(h->stop[1]);
    free(h);
}

int migrate_host_offer(const char *hostport, const char *key_path, const char *offer_json, const char *console,
                       size_t console_len, int *port)
{
    uint8_t key[MIG_KEY_MAX];
    size_t keylen;
    struct mig_conn c;
    char reply[256];
    uint32_t len = 0;
    int rc = mig_key_load(key_path, key, &keylen);
    if (rc < 0)
        return rc;
    if ((rc = mig_connect(&c, hostport, HOST_TIMEOUT_MS)) < 0)
        return rc;
    c.timeout_ms = HOST_TIMEOUT_MS;
    if (console_len > CONSOLE_TAIL_MAX) {
        console += console_len - CONSOLE_TAIL_MAX;
        console_len = CONSOLE_TAIL_MAX;
    }
    if ((rc = mig_auth_source(&c, key, keylen)) == 0 &&
        (rc = mig_send(&c, MIG_HOST_OFFER, offer_json, (uint32_t)strlen(offer_json))) == 0 &&
        (rc = mig_send(&c, MIG_HOST_OFFER, console, (uint32_t)console_len)) == 0)
        rc = mig_expect(&c, MIG_HOST_ACCEPT, reply, sizeof(reply) - 1, &len, "the destination's answer");
    mig_close(&c);
    if (rc < 0)
        return rc;
    reply[len] = 0;
    json_t *j = json_loads(reply, 0, NULL);
    json_t *p = json_object_get(j, "port");
    *port = json_is_integer(p) ? (int)json_integer_value(p) : 0;
    json_decref(j);
    if (*port <= 0 || *port > 65535)
        return err_set(EPROTO, "%s: an answer without a port: %.100s", hostport, reply);
    return 0;
}

char *migrate_host_offer_encode(const char *xml, int persistent, const struct migrate_offer_disk *disks,
                                unsigned ndisks)
{
    json_t *list = json_array();
    for (unsigned i = 0; list && i < ndisks; i++)
        if (json_array_append_new(
                list, json_pack("{s:s, s:I}", "target", disks[i].target, "bytes", (json_int_t)disks[i].bytes)) < 0) {
            json_decref(list);
            list = NULL;
        }
    json_t *offer = list ? json_pack("{s:s, s:b, s:o}", "xml", xml, "persistent", persistent, "disks", list) : NULL;
    char *text = offer ? json_dumps(offer, JSON_COMPACT) : NULL;
    json_decref(offer);
    return text;
}

/* One entry of the offer's "disks" (a peer's: checked whole before anything uses it). */
static int decode_disk(json_t *e, struct migrate_offer_disk *out)
{
    json_t *t = json_object_get(e, "target"), *b = json_object_get(e, "bytes");
    if (!json_is_string(t) || !json_is_integer(b) || json_object_size(e) != 2)
        return -EPROTO;
    const char *name = json_string_value(t);
    size_t n = json_string_length(t);
    json_int_t bytes = json_integer_value(b);
    if (n < 1 || n >= sizeof(out->target) || strspn(name, "abcdefghijklmnopqrstuvwxyz") != n || bytes <= 0 ||
        bytes % 512)
        return -EPROTO;
    memcpy(out->target, name, n + 1);
    out->bytes = (uint64_t)bytes;
    return 0;
}

int migrate_host_offer_decode(const char *offer, char **xml, size_t *xml_len, int *persistent,
                              struct migrate_offer_disk disks[MIGRATE_OFFER_DISKS_MAX], unsigned *ndisks)
{
    json_t *j = json_loads(offer, 0, NULL);
    json_t *x = json_object_get(j, "xml"), *list = json_object_get(j, "disks");
    *xml = NULL;
    *ndisks = 0;
    int rc = json_is_string(x) && (!list || (json_is_array(list) && json_array_size(list) <= MIGRATE_OFFER_DISKS_MAX))
                 ? 0
                 : -EPROTO;
    for (size_t i = 0; rc == 0 && list && i < json_array_size(list); i++)
        rc = decode_disk(json_array_get(list, i), &disks[(*ndisks)++]);
    if (rc == 0) {
        *persistent = json_is_true(json_object_get(j, "persistent"));
        *xml_len = json_string_length(x);
        *xml = malloc(*xml_len + 1);
        if (*xml)
            memcpy(*xml, json_string_value(x), *xml_len + 1);
        else
            rc = -ENOMEM;
    }
    if (rc < 0)
        *ndisks = 0;
    json_decref(j);
    return rc;
}
