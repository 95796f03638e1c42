#include "daemon/console_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/monitor.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/ring.h"
#include "lib/unix_socket.h"
#include "lib/websocket.h"

/* Input waiting for the monitor, per domain: room for two full reader buffers, and a viewer
 * is read only while one whole buffer's worth fits (so what it parses always fits). */
#define INPUT_CAP (2 * (WS_HEADER_MAX + CONSOLE_WS_MESSAGE_MAX))
#define CLOSE_LINGER_S 2.0 /* how long our close frame may wait for a peer that does not read */
#define MONITOR_READ 16384

enum ep_kind { EP_WAKE, EP_MONITOR, EP_VIEWER };

struct ep {
    enum ep_kind kind;
};

enum viewer_state { V_OPEN, V_CLOSING, V_DEAD };

struct hub;

struct viewer {
    struct ep ep;
    struct hub *h;
    struct viewer *next;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    int read_only, in_paused;
    char who[128];
    struct ws_reader rd;
    struct ring out;
    enum viewer_state state;
    double deadline; /* V_CLOSING: when to give up on the peer */
    uint32_t events; /* what epoll watches now */
};

/* One domain's console: the monitor connection, the scrollback and the viewers. */
struct hub {
    struct ep ep;
    struct hub *next;       /* cr->hubs, under cr->lock */
    unsigned reserved;      /* slots taken (attached or on their way), under cr->lock */
    char uuid[40];          /* const after creation */
    char name[128];         /* relay thread */
    struct viewer *viewers; /* relay thread */
    int mon_fd;             /* relay thread; -1: not connected (yet, or any more) */
    int mon_gone;
    struct ring scrollback, input;
    uint32_t mon_events;
};

struct pending {
    struct pending *next;
    struct viewer *v;
    char socket_path[PATH_MAX];
};

struct console_relay {
    pthread_mutex_t lock;
    struct hub *hubs;        /* under lock */
    unsigned total;          /* slots taken, under lock */
    struct pending *pending; /* under lock: viewers the relay thread has not taken yet */
    int stopping;            /* under lock */
    int epfd, wake_fd;
    struct ep wake_ep;
    pthread_t thread;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wake(struct console_relay *cr)
{
    uint64_t one = 1;
    ssize_t n = write(cr->wake_fd, &one, sizeof(one));
    (void)n; /* a full counter wakes the thread as well */
}

static struct hub *find_hub(struct console_relay *cr, const char *uuid)
{
    for (struct hub *h = cr->hubs; h; h = h->next)
        if (strcmp(h->uuid, uuid) == 0)
            return h;
    return NULL;
}

int console_relay_reserve(struct console_relay *cr, const char *uuid)
{
    pthread_mutex_lock(&cr->lock);
    struct hub *h = find_hub(cr, uuid);
    int rc = 0;
    if (cr->total >= CONSOLE_VIEWERS_MAX) {
        rc = err_set(EBUSY, "xenod already has %d console viewers (the most it holds)", CONSOLE_VIEWERS_MAX);
    } else if (h && h->reserved >= CONSOLE_VIEWERS_PER_DOMAIN) {
        rc = err_set(EBUSY, "this domain already has %d console viewers (the most one domain may have)",
                     CONSOLE_VIEWERS_PER_DOMAIN);
    } else if (!h) {
        h = calloc(1, sizeof(*h));
        if (!h || ring_init(&h->scrollback, CONSOLE_SCROLLBACK) < 0 || ring_init(&h->input, INPUT_CAP) < 0) {
            if (h)
                ring_free(&h->scrollback);
            free(h);
            h = NULL;
            rc = err_set(ENOMEM, "out of memory");
        } else {
            h->ep.kind = EP_MONITOR;
            h->mon_fd = -1;
            snprintf(h->uuid, sizeof(h->uuid), "%s", uuid);
            h->next = cr->hubs;
            cr->hubs = h;
        }
    }
    if (rc == 0) {
        h->reserved++;
        cr->total++;
    }
    pthread_mutex_unlock(&cr->lock);
    return rc;
}

void console_relay_release(struct console_relay *cr, const char *uuid)
{
    pthread_mutex_lock(&cr->lock);
    struct hub *h = find_hub(cr, uuid);
    if (h && h->reserved) {
        h->reserved--;
        cr->total--;
    }
    pthread_mutex_unlock(&cr->lock);
    wake(cr); /* the relay thread frees a domain's relay nobody holds */
}

static void close_upgraded(struct viewer *v)
{
    if (v->urh)
        MHD_upgrade_action(v->urh, MHD_UPGRADE_ACTION_CLOSE);
    else if (v->fd >= 0)
        close(v->fd);
    v->urh = NULL;
    v->fd = -1;
}

static void viewer_free(struct viewer *v)
{
    close_upgraded(v);
    ws_reader_free(&v->rd);
    ring_free(&v->out);
    free(v);
}

void console_relay_attach(struct console_relay *cr, const struct console_viewer_spec *spec, int fd, void *urh,
                          const char *extra, size_t extra_len)
{
    struct viewer *v = calloc(1, sizeof(*v));
    struct pending *p = calloc(1, sizeof(*p));
    size_t room = 0;
    if (v) {
        v->fd = fd;
        v->urh = urh;
    }
    int ok = v && p && ws_reader_init(&v->rd, 1, CONSOLE_WS_MESSAGE_MAX) == 0 &&
             ring_init(&v->out, CONSOLE_VIEWER_QUEUE) == 0;
    if (ok)
        ws_reader_space(&v->rd, &room);
    if (!ok || extra_len > room) {
        log_warn("console: a viewer of %s by %s could not be attached (out of memory, or %zu bytes sent early)",
                 spec->name, spec->who, extra_len);
        if (v)
            viewer_free(v);
        else
            MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(p);
        console_relay_release(cr, spec->uuid);
        return;
    }
    if (extra_len) {
        memcpy(ws_reader_space(&v->rd, &room), extra, extra_len);
        ws_reader_fill(&v->rd, extra_len);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    v->ep.kind = EP_VIEWER;
    v->read_only = spec->read_only;
    snprintf(v->who, sizeof(v->who), "%s", spec->who);
    p->v = v;
    snprintf(p->socket_path, sizeof(p->socket_path), "%s", spec->socket_path);
    pthread_mutex_lock(&cr->lock);
    v->h = find_hub(cr, spec->uuid); /* there: the reservation keeps it */
    snprintf(v->h->name, sizeof(v->h->name), "%s", spec->name);
    p->next = cr->pending;
    cr->pending = p;
    pthread_mutex_unlock(&cr->lock);
    wake(cr);
}

/* ---- the relay thread ---- */

/* *now: what epoll watches for fd, 0 before it is added (want is never 0: EPOLLHUP, which
 * epoll reports anyway, keeps it apart from "not added"). */
static void watch(struct console_relay *cr, int fd, struct ep *ep, uint32_t *now, uint32_t want)
{
    if (*now == want)
        return;
    struct epoll_event e = {.events = want, .data.ptr = ep};
    epoll_ctl(cr->epfd, *now ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e);
    *now = want;
}

static void viewer_watch(struct console_relay *cr, struct viewer *v)
{
    if (v->state == V_DEAD)
        return;
    /* Level-triggered: watch for input only when it will be read (an open viewer with room
     * for it, or the peer's answer to our close), or the same event comes back at once. */
    int reading = v->state == V_OPEN && !v->in_paused;
    uint32_t want = EPOLLHUP | (reading ? EPOLLIN | EPOLLRDHUP : 0) | (ring_len(&v->out) ? EPOLLOUT : 0);
    watch(cr, v->fd, &v->ep, &v->events, want);
}

static void viewer_kill(struct console_relay *cr, struct viewer *v)
{
    if (v->state == V_DEAD)
        return;
    epoll_ctl(cr->epfd, EPOLL_CTL_DEL, v->fd, NULL);
    v->state = V_DEAD;
}

/* Sends what is queued as far as the socket takes it; a closing viewer ends once all is sent. */
static void viewer_flush(struct console_relay *cr, struct viewer *v)
{
    while (ring_len(&v->out)) {
        size_t len;
        const uint8_t *p = ring_peek(&v->out, &len);
        ssize_t n = send(v->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            viewer_kill(cr, v);
            return;
        }
        ring_consume(&v->out, (size_t)n);
    }
    /* Our close frame is out: the connection ends now (libmicrohttpd still delivers what it
     * took). Waiting for the client's close frame after a half-close instead left upgraded TLS
     * connections that libmicrohttpd 0.9.75 never released, counted against the per-address
     * cap for good (measured: 32 of 40 such closes). */
    if (v->state == V_CLOSING && !ring_len(&v->out)) {
        viewer_kill(cr, v);
        return;
    }
    viewer_watch(cr, v);
}

/* Queues one frame; a viewer whose queue would overflow does not read: it is dropped. */
static void viewer_send(struct console_relay *cr, struct viewer *v, unsigned op, const void *data, size_t len)
{
    if (v->state != V_OPEN)
        return;
    uint8_t hdr[WS_HEADER_MAX];
    size_t hl = ws_build_header(hdr, 1, op, len, NULL);
    if (ring_space(&v->out) < hl + len) {
        log_warn("console: dropped a viewer of %s (%s): it has not read %zu bytes of output", v->h->name, v->who,
                 ring_len(&v->out));
        viewer_kill(cr, v);
        return;
    }
    ring_push(&v->out, hdr, hl);
    ring_push(&v->out, data, len);
}

/* Queues a close frame and stops taking output; the socket ends once it is sent. */
static void viewer_close(struct console_relay *cr, struct viewer *v, unsigned code, const char *reason)
{
    if (v->state != V_OPEN)
        return;
    uint8_t payload[WS_CONTROL_MAX];
    size_t rl = strlen(reason) > WS_CONTROL_MAX - 2 ? WS_CONTROL_MAX - 2 : strlen(reason);
    payload[0] = (uint8_t)(code >> 8), payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, rl);
    viewer_send(cr, v, WS_OP_CLOSE, payload, rl + 2);
    if (v->state == V_OPEN) {
        v->state = V_CLOSING;
        v->deadline = now_s() + CLOSE_LINGER_S;
    }
    viewer_flush(cr, v);
}

static void hub_watch(struct console_relay *cr, struct hub *h)
{
    if (h->mon_fd >= 0)
        watch(cr, h->mon_fd, &h->ep, &h->mon_events, EPOLLIN | (ring_len(&h->input) ? EPOLLOUT : 0));
}

/* One event of a viewer's stream. Returns 0 to go on, -1 when the viewer stops being read. */
static int viewer_event(struct console_relay *cr, struct viewer *v, const struct ws_event *ev)
{
    struct hub *h = v->h;
    switch (ev->kind) {
    case WS_EV_MESSAGE:
        if (v->read_only || h->mon_fd < 0)
            return 0;                            /* output only: documented (docs/api.md), never written to the guest */
        ring_push(&h->input, ev->data, ev->len); /* fits: read only with a whole buffer's room */
        hub_watch(cr, h);
        return 0;
    case WS_EV_PING: viewer_send(cr, v, WS_OP_PONG, ev->data, ev->len); return 0;
    case WS_EV_PONG: return 0;
    case WS_EV_CLOSE: viewer_close(cr, v, ev->close_code == 1005 ? WS_CLOSE_NORMAL : ev->close_code, ""); return -1;
    }
    return 0;
}

/* Handles the frames the reader holds, then sends what they queued. */
static void viewer_parse(struct console_relay *cr, struct viewer *v)
{
    struct ws_event ev;
    int rc;
    while ((rc = ws_reader_next(&v->rd, &ev)) > 0)
        if (viewer_event(cr, v, &ev) < 0)
            return;
    if (rc < 0)
        viewer_close(cr, v, (unsigned)-rc,
                     -rc == WS_CLOSE_TOO_BIG ? "message too big" : "protocol error (docs/api.md, close codes)");
    else
        viewer_flush(cr, v);
}

static void viewer_read(struct console_relay *cr, struct viewer *v)
{
    if (v->state != V_OPEN)
        return;
    if (ring_space(&v->h->input) < WS_HEADER_MAX + CONSOLE_WS_MESSAGE_MAX) {
        v->in_paused = 1; /* resumed when the monitor has taken the input */
        viewer_watch(cr, v);
        return;
    }
    size_t room;
    uint8_t *p = ws_reader_space(&v->rd, &room);
    ssize_t n = recv(v->fd, p, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        viewer_kill(cr, v);
        return;
    }
    ws_reader_fill(&v->rd, (size_t)n);
    viewer_parse(cr, v);
}

static void broadcast(struct console_relay *cr, struct hub *h, const uint8_t *data, size_t len)
{
    for (struct viewer *v = h->viewers; v; v = v->next) {
        viewer_send(cr, v, WS_OP_BINARY, data, len);
        if (v->state != V_DEAD)
            viewer_flush(cr, v);
    }
}

/* The monitor's console ended (the domain stopped): every viewer is told and closed. */
static void hub_lost_monitor(struct console_relay *cr, struct hub *h)
{
    if (h->mon_fd >= 0) {
        epoll_ctl(cr->epfd, EPOLL_CTL_DEL, h->mon_fd, NULL);
        close(h->mon_fd);
    }
    h->mon_fd = -1;
    h->mon_gone = 1;
    h->mon_events = 0;
    for (struct viewer *v = h->viewers; v; v = v->next)
        viewer_close(cr, v, WS_CLOSE_GOING_AWAY, "the domain's console closed (it stopped)");
}

static void hub_io(struct console_relay *cr, struct hub *h, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        uint8_t buf[MONITOR_READ];
        ssize_t n = recv(h->mon_fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            hub_lost_monitor(cr, h);
            return;
        }
        if (n > 0) {
            ring_push_overwrite(&h->scrollback, buf, (size_t)n);
            broadcast(cr, h, buf, (size_t)n);
        }
    }
    if ((events & EPOLLOUT) && ring_len(&h->input)) {
        size_t len;
        const uint8_t *p = ring_peek(&h->input, &len);
        ssize_t n = send(h->mon_fd, p, len, MSG_NOSIGNAL);
        if (n > 0)
            ring_consume(&h->input, (size_t)n);
        for (struct viewer *v = h->viewers; v; v = v->next)
            if (v->in_paused && ring_space(&h->input) >= WS_HEADER_MAX + CONSOLE_WS_MESSAGE_MAX) {
                v->in_paused = 0;
                viewer_watch(cr, v);
            }
    }
    hub_watch(cr, h);
}

static int connect_monitor(const char *path)
{
    /* Connected blocking (a full backlog waits rather than failing with EAGAIN), then
     * nonblocking for the relay's epoll loop. */
    int fd = unix_connect(path, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* A new viewer joins its domain's relay: the scrollback first, then it gets what comes. A
 * domain whose monitor went away (stopped, then started again) is connected afresh. */
static void take_viewer(struct console_relay *cr, struct pending *p)
{
    struct viewer *v = p->v;
    struct hub *h = v->h;
    v->next = h->viewers;
    h->viewers = v;
    viewer_watch(cr, v);
    if (h->mon_fd < 0) {
        int fd = connect_monitor(p->socket_path);
        if (fd < 0) {
            log_warn("console: cannot connect to the console of %s at %s: %s", h->name, p->socket_path, strerror(-fd));
            viewer_close(cr, v, WS_CLOSE_INTERNAL, "the domain's console is not available");
            return;
        }
        ring_clear(&h->scrollback);
        ring_clear(&h->input);
        h->mon_fd = fd; /* the monitor sends its scrollback first: it reaches this viewer live */
        h->mon_gone = 0;
        hub_watch(cr, h);
    } else {
        uint8_t buf[CONSOLE_SCROLLBACK];
        size_t n = ring_copy(&h->scrollback, 0, buf, sizeof(buf));
        if (n)
            viewer_send(cr, v, WS_OP_BINARY, buf, n);
    }
    viewer_parse(cr, v); /* frames the client sent with its request */
}

/* Ends viewers past their close deadline and frees the dead ones, and the relays of domains
 * nobody holds a slot of any more. */
static void sweep(struct console_relay *cr)
{
    double now = now_s();
    struct viewer *dead = NULL;
    struct hub *gone = NULL;
    pthread_mutex_lock(&cr->lock);
    for (struct hub **hp = &cr->hubs; *hp;) {
        struct hub *h = *hp;
        for (struct viewer **vp = &h->viewers; *vp;) {
            struct viewer *v = *vp;
            if (v->state == V_CLOSING && now >= v->deadline)
                viewer_kill(cr, v);
            if (v->state != V_DEAD) {
                vp = &v->next;
                continue;
            }
            *vp = v->next;
            v->next = dead;
            dead = v;
            h->reserved--;
            cr->total--;
        }
        if (h->reserved || h->viewers) {
            hp = &h->next;
            continue;
        }
        *hp = h->next;
        h->next = gone;
        gone = h;
    }
    pthread_mutex_unlock(&cr->lock);
    while (dead) {
        struct viewer *v = dead;
        dead = v->next;
        viewer_free(v);
    }
    while (gone) {
        struct hub *h = gone;
        gone = h->next;
        if (h->mon_fd >= 0) {
            epoll_ctl(cr->epfd, EPOLL_CTL_DEL, h->mon_fd, NULL);
            close(h->mon_fd);
        }
        ring_free(&h->scrollback);
        ring_free(&h->input);
        free(h);
    }
}

static void *relay_main(void *arg)
{
    struct console_relay *cr = arg;
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(cr->epfd, evs, 64, 500);
        for (int i = 0; i < n; i++) {
            struct ep *ep = evs[i].data.ptr;
            if (ep->kind == EP_WAKE) {
                uint64_t count;
                ssize_t r = read(cr->wake_fd, &count, sizeof(count));
                (void)r;
            } else if (ep->kind == EP_MONITOR) {
                struct hub *h = (struct hub *)ep;
                if (h->mon_fd >= 0)
                    hub_io(cr, h, evs[i].events);
            } else {
                struct viewer *v = (struct viewer *)ep;
                if (evs[i].events & (EPOLLHUP | EPOLLERR))
                    viewer_kill(cr, v); /* always reported, whatever is watched: the peer is gone */
                else if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
                    viewer_read(cr, v);
                if (v->state != V_DEAD && (evs[i].events & EPOLLOUT))
                    viewer_flush(cr, v);
            }
        }
        pthread_mutex_lock(&cr->lock);
        struct pending *p = cr->pending;
        cr->pending = NULL;
        int stopping = cr->stopping;
        pthread_mutex_unlock(&cr->lock);
        while (p) {
            struct pending *next = p->next;
            take_viewer(cr, p);
            free(p);
            p = next;
        }
        if (stopping) {
            pthread_mutex_lock(&cr->lock);
            for (struct hub *h = cr->hubs; h; h = h->next)
                for (struct viewer *v = h->viewers; v; v = v->next)
                    viewer_kill(cr, v);
            pthread_mutex_unlock(&cr->lock);
            sweep(cr);
            return NULL;
        }
        sweep(cr);
    }
}

int console_relay_start(struct console_relay **out)
{
    struct console_relay *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return err_set(ENOMEM, "out of memory");
    pthread_mutex_init(&cr->lock, NULL);
    cr->wake_ep.kind = EP_WAKE;
    cr->epfd = epoll_create1(EPOLL_CLOEXEC);
    cr->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cr->wake_ep};
    int rc = 0;
    if (cr->epfd < 0 || cr->wake_fd < 0 || epoll_ctl(cr->epfd, EPOLL_CTL_ADD, cr->wake_fd, &e) < 0)
        rc = err_set(errno, "console relay: %s", strerror(errno));
    else if ((rc = pthread_create(&cr->thread, NULL, relay_main, cr)) != 0)
        rc = err_set(rc, "console relay thread: %s", strerror(rc));
    if (rc < 0) {
        if (cr->epfd >= 0)
            close(cr->epfd);
        if (cr->wake_fd >= 0)
            close(cr->wake_fd);
        pthread_mutex_destroy(&cr->lock);
        free(cr);
        return rc;
    }
    *out = cr;
    return 0;
}

void console_relay_stop(struct console_relay *cr)
{
    if (!cr)
        return;
    pthread_mutex_lock(&cr->lock);
    cr->stopping = 1;
    pthread_mutex_unlock(&cr->lock);
    wake(cr);
    pthread_join(cr->thread, NULL);
    /* Slots reserved but never attached (a request between reserve and attach when xenod
     * stops) leave their relay behind: the API's daemons are stopped after this. */
    while (cr->pending) { /* attached after the thread took its last look */
        struct pending *p = cr->pending;
        cr->pending = p->next;
        viewer_free(p->v);
        free(p);
    }
    while (cr->hubs) {
        struct hub *h = cr->hubs;
        cr->hubs = h->next;
        if (h->mon_fd >= 0)
            close(h->mon_fd);
        ring_free(&h->scrollback);
        ring_free(&h->input);
        free(h);
    }
    close(cr->epfd);
    close(cr->wake_fd);
    pthread_mutex_destroy(&cr->lock);
    free(cr);
}
