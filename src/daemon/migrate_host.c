#include "daemon/migrate_host.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/registry.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/migrate_proto.h"

#define HOST_TIMEOUT_MS 15000             /* each step of the xenod-to-xenod exchange */
#define OFFER_MAX (DOMAIN_XML_MAX + 4096) /* the JSON offer: a domain XML and a few fields */
#define CONSOLE_TAIL_MAX (64 << 10)

struct migrate_host {
    struct registry *r;
    int lfd;
    int stop[2];
    char addr[128]; /* the listening address without the port: the monitors listen there */
    char key_path[4096];
    uint8_t key[MIG_KEY_MAX];
    size_t keylen;
    pthread_t thread;
};

struct incoming {
    struct migrate_host *h;
    struct mig_conn c;
};

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
    char *offer = malloc(OFFER_MAX + 1), *console = malloc(CONSOLE_TAIL_MAX);
    uint32_t len = 0, clen = 0;
    int rc = offer && console ? 0 : err_set(ENOMEM, "out of memory");
    if (rc == 0)
        rc = mig_auth_destination(&in->c, h->key, h->keylen);
    if (rc == 0)
        rc = mig_expect(&in->c, MIG_HOST_OFFER, offer, OFFER_MAX, &len, "the domain offer");
    if (rc == 0)
        rc = mig_expect(&in->c, MIG_HOST_OFFER, console, CONSOLE_TAIL_MAX, &clen, "the console tail");
    if (rc == 0) {
        offer[len] = 0;
        char listen[160];
        snprintf(listen, sizeof(listen), "%s:0", h->addr);
        rc = reg_migrate_in(h->r, offer, len, console, clen, in->c.peer, listen, h->key_path, send_accept, in);
    }
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        log_warn("incoming migration from %s refused: %s", in->c.peer, msg);
        mig_send_error(&in->c, msg);
    }
    mig_close(&in->c);
    free(offer);
    free(console);
    free(in);
    return NULL;
}

static void *listen_main(void *opaque)
{
    struct migrate_host *h = opaque;
    for (;;) {
        struct pollfd p[2] = {{h->stop[0], POLLIN, 0}, {h->lfd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (!p[1].revents)
            continue;
        struct incoming *in = calloc(1, sizeof(*in));
        if (!in)
            continue;
        in->h = h;
        if (mig_accept(&in->c, h->lfd, 0) < 0) {
            log_warn("%s", err_msg());
            free(in);
            continue;
        }
        in->c.timeout_ms = HOST_TIMEOUT_MS;
        /* One thread per incoming domain: it lives until that domain runs here or gave up. */
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, handle_incoming, in) != 0) {
            mig_close(&in->c);
            free(in);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
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

char *migrate_host_offer_encode(const char *xml, int persistent)
{
    json_t *offer = json_pack("{s:s, s:b}", "xml", xml, "persistent", persistent);
    char *text = offer ? json_dumps(offer, JSON_COMPACT) : NULL;
    json_decref(offer);
    return text;
}

int migrate_host_offer_decode(const char *offer, char **xml, size_t *xml_len, int *persistent)
{
    json_t *j = json_loads(offer, 0, NULL);
    json_t *x = json_object_get(j, "xml");
    *xml = NULL;
    if (!json_is_string(x)) {
        json_decref(j);
        return -EPROTO;
    }
    *persistent = json_is_true(json_object_get(j, "persistent"));
    *xml_len = json_string_length(x);
    *xml = malloc(*xml_len + 1);
    if (*xml) {
        memcpy(*xml, json_string_value(x), *xml_len + 1);
    }
    json_decref(j);
    return *xml ? 0 : -ENOMEM;
}
