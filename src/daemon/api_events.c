#include "daemon/api_events.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/api_access.h"
#include "daemon/registry.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

struct events_hub {
    struct registry *reg;
    struct auth *auth;    /* the tokens the streams' principals came from */
    pthread_mutex_t lock; /* guards the list, `suspended` of each stream and `stopping` */
    struct stream *streams;
    int stopping;
    pthread_t pump;
};

struct stream {
    struct events_hub *hub;
    struct registry *reg;
    struct MHD_Connection *c;
    int suspendable;
    int suspended; /* under hub->lock */
    struct principal pr;
    char uuid[DOMAIN_UUID_LEN + 1]; /* one domain's events only; "" for all */
    int64_t last_id;                /* the newest event looked at */
    uint64_t seen_seq;              /* r->event_seq when the store was last read */
    double heartbeat_at;            /* monotonic seconds */
    uint64_t revocations_seen;      /* auth_revocations() when the token was last looked at */
    int ending;                     /* the "end" event is in buf: close once it is written */
    char *buf;                      /* what is to be written: buf[off, len) */
    size_t len, off, cap;
    struct stream *next, **prev; /* in hub->streams */
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int append(struct stream *st, const char *text, size_t n)
{
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n)
            cap *= 2;
        char *b = realloc(st->buf, cap);
        if (!b)
            return -ENOMEM;
        st->buf = b, st->cap = cap;
    }
    memcpy(st->buf + st->len, text, n);
    st->len += n;
    return 0;
}

static void collect(void *ctx, int64_t id, double time, const char *uuid, const char *name, const char *kind,
                    const char *detail)
{
    json_array_append_new(ctx, json_pack("{s:I, s:f, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "time", time, "uuid",
                                         uuid ?: "", "domain", name ?: "", "kind", kind ?: "", "detail", detail ?: ""));
}

/* May principal p see this event? Host events ("" uuid) are the operator's; a domain's are its
 * sponsor's, while it is known here. */
static int may_see(struct stream *st, const char *uuid)
{
    if (st->uuid[0] && strcasecmp(uuid, st->uuid) != 0)
        return 0;
    if (st->pr.is_operator)
        return 1;
    struct reg_domain *d;
    if (!*uuid || reg_lookup(st->reg, uuid, &d) < 0)
        return 0;
    int ok = access_sees(&st->pr, d->cfg.sponsor);
    reg_put(st->reg, d);
    return ok;
}

/* Reads the events after the cursor (one batch) into the buffer. Returns how many were read
 * (visible or not), or -errno. */
static int refill(struct stream *st)
{
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    pthread_mutex_lock(&st->reg->lock);
    st->seen_seq = st->reg->event_seq; /* before the read: a later event wakes us again */
    int rc = store_for_each_event_after(&st->reg->store, st->last_id, API_EVENTS_BATCH, collect, arr);
    pthread_mutex_unlock(&st->reg->lock);
    if (rc < 0) {
        log_error("event stream: %s", err_msg());
        json_decref(arr);
        return rc;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(arr, i, ev)
    {
        json_int_t id = json_integer_value(json_object_get(ev, "id"));
        st->last_id = id;
        if (!may_see(st, json_string_value(json_object_get(ev, "uuid"))))
            continue;
        char *data = json_dumps(ev, JSON_COMPACT);
        char head[64];
        int n = snprintf(head, sizeof(head), "id: %" JSON_INTEGER_FORMAT "\nevent: domain\ndata: ", id);
        /* JSON_COMPACT has no newline: one data line per event. */
        if (!data || append(st, head, (size_t)n) < 0 || append(st, data, strlen(data)) < 0 || append(st, "\n\n", 2)) {
            free(data);
            json_decref(arr);
            return -ENOMEM;
        }
        free(data);
    }
    rc = (int)json_array_size(arr);
    json_decref(arr);
    if (rc == API_EVENTS_BATCH)
        st->seen_seq--; /* more may wait in the store: read again before sleeping */
    return rc;
}

/* Is the stream's token past its expiry, or were there revocations since it was last looked
 * at? Cheap (no store read): what the pump asks of every suspended stream each second. */
static int token_suspect(struct stream *st, double wall_now)
{
    if (!st->pr.token_id)
        return 0; /* the unix socket: no token to lose */
    return (st->pr.expires_at != 0 && wall_now >= st->pr.expires_at) ||
           auth_revocations(st->hub->auth) != st->revocations_seen;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A stream whose token was revoked or expired ends: what is buffered was authorised when it
 * was read, then one last event says why, then the stream closes (docs/api.md "Live events").
 * 1 when it ends, 0 while the token holds. A store error ends it too: a stream is never kept
 * on a token that could not be checked. */
static int end_if_token_gone(struct stream *st)
{
    if (st->ending || !token_suspect(st, wall_s()))
        return st->ending;
    uint64_t seen = auth_revocations(st->hub->auth);
    const char *why;
    if (auth_token_valid(st->hub->auth, st->pr.token_id, &why) == 0) {
        st->revocations_seen = seen;
        return 0;
    }
    char text[160];
    int n = snprintf(text, sizeof(text), "event: end\ndata: {\"reason\":\"token %s\"}\n\n", why);
    st->ending = 1;
    if (append(st, text, (size_t)n) < 0)
        st->off = st->len = 0; /* no room for the reason: the stream just closes */
    return 1;
}

static int hub_stopping(struct events_hub *h)
{
    pthread_mutex_lock(&h->lock);
    int s = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return s;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *st = cls;
    (void)pos;
    for (;;) {
        end_if_token_gone(st);
        if (st->off < st->len) {
            size_t n = st->len - st->off < max ? st->len - st->off : max;
            memcpy(out, st->buf + st->off, n);
            st->off += n;
            if (st->off == st->len)
                st->off = st->len = 0;
            st->heartbeat_at = mono_s() + API_EVENTS_HEARTBEAT_S;
            return (ssize_t)n;
        }
        if (st->ending || hub_stopping(st->hub))
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&st->reg->lock);
        int news = st->reg->event_seq != st->seen_seq;
        pthread_mutex_unlock(&st->reg->lock);
        if (news) {
            if (refill(st) < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        double now = mono_s();
        if (now >= st->heartbeat_at) {
            if (append(st, ": keepalive\n\n", 13) < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (st->suspendable) {
            /* Nothing now: off the pool until the pump resumes us (an event, the heartbeat). */
            pthread_mutex_lock(&st->hub->lock);
            int stop = st->hub->stopping;
            if (!stop) {
                st->suspended = 1;
                MHD_suspend_connection(st->c);
            }
            pthread_mutex_unlock(&st->hub->lock);
            if (stop)
                return MHD_CONTENT_READER_END_OF_STREAM;
            return 0;
        }
        /* A thread of our own: wait here, a second at most (to see the hub stop). */
        double until = now + 1.0 < st->heartbeat_at ? now + 1.0 : st->heartbeat_at;
        struct timespec ts = {.tv_sec = (time_t)until, .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
        pthread_mutex_lock(&st->reg->lock);
        while (st->reg->event_seq == st->seen_seq &&
               pthread_cond_timedwait(&st->reg->event_added, &st->reg->lock, &ts) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&st->reg->lock);
    }
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    pthread_mutex_lock(&st->hub->lock);
    *st->prev = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&st->hub->lock);
    free(st->buf);
    free(st);
}

/* The pump: resumes the suspended streams that have something to do. */
static void *pump(void *arg)
{
    struct events_hub *h = arg;
    struct registry *r = h->reg;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_mutex_lock(&r->lock);
        pthread_cond_timedwait(&r->event_added, &r->lock, &ts);
        uint64_t seq = r->event_seq;
        pthread_mutex_unlock(&r->lock);
        double now = mono_s(), wall = wall_s();
        pthread_mutex_lock(&h->lock);
        int stop = h->stopping;
        for (struct stream *st = h->streams; st; st = st->next)
            if (st->suspended && (stop || st->seen_seq != seq || now >= st->heartbeat_at || token_suspect(st, wall))) {
                st->suspended = 0;
                MHD_resume_connection(st->c);
            }
        pthread_mutex_unlock(&h->lock);
        if (stop)
            return NULL;
    }
}

int events_hub_start(struct events_hub **out, struct registry *r, struct auth *auth)
{
    struct events_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(ENOMEM, "out of memory");
    h->reg = r;
    h->auth = auth;
    pthread_mutex_init(&h->lock, NULL);
    int e = pthread_create(&h->pump, NULL, pump, h);
    if (e) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return err_set(e, "starting the event pump: %s", strerror(e));
    }
    *out = h;
    return 0;
}

void events_hub_stop(struct events_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&h->reg->lock);
    pthread_cond_broadcast(&h->reg->event_added);
    pthread_mutex_unlock(&h->reg->lock);
    pthread_join(h->pump, NULL);
    /* The pump resumed every suspended stream on its way out; none suspends again. */
}

void events_hub_wake(struct events_hub *h)
{
    pthread_mutex_lock(&h->reg->lock);
    pthread_cond_broadcast(&h->reg->event_added);
    pthread_mutex_unlock(&h->reg->lock);
}

void events_hub_free(struct events_hub *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

enum MHD_Result events_follow(struct events_hub *hub, int suspendable, struct registry *r, const struct principal *p,
                              struct reg_domain *d, struct MHD_Connection *c)
{
    struct stream *st = calloc(1, sizeof(*st));
    if (!st)
        return MHD_NO;
    st->hub = hub, st->reg = r, st->c = c, st->suspendable = suspendable, st->pr = *p;
    st->revocations_seen = auth_revocations(hub->auth); /* p was authenticated just now */
    if (d)
        snprintf(st->uuid, sizeof(st->uuid), "%s", d->cfg.uuid);
    const char *since = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (!since)
        since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    uint64_t after = 0;
    pthread_mutex_lock(&r->lock);
    st->seen_seq = r->event_seq - 1; /* the first call reads the store */
    pthread_mutex_unlock(&r->lock);
    if (since && parse_u64_range(since, 0, INT64_MAX, &after) == 0) {
        st->last_id = (int64_t)after;
    } else {
        /* From now on: the newest event's ID is the cursor. */
        json_t *arr = json_array();
        pthread_mutex_lock(&r->lock);
        store_for_each_event(&r->store, NULL, 1, collect, arr);
        pthread_mutex_unlock(&r->lock);
        st->last_id = json_integer_value(json_object_get(json_array_get(arr, 0), "id"));
        json_decref(arr);
    }
    st->heartbeat_at = mono_s() + API_EVENTS_HEARTBEAT_S;
    /* The first bytes go at once: a client knows the stream is open. */
    if (append(st, ": xenod events\nretry: 2000\n\n", 28) < 0) {
        free(st);
        return MHD_NO;
    }
    pthread_mutex_lock(&hub->lock);
    st->next = hub->streams;
    if (st->next)
        st->next->prev = &st->next;
    st->prev = &hub->streams;
    hub->streams = st;
    pthread_mutex_unlock(&hub->lock);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    /* A client that reads nothing for this long is dropped (the heartbeat keeps a reader's
     * stream busy well within it). */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)API_EVENTS_TIMEOUT_S);
    enum MHD_Result res = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return res;
}
