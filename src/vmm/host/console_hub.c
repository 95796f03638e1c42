#include "vmm/host/console_hub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

int hub_open(struct console_hub *h, int listen_fd, int log_dir_fd, uint64_t log_limit)
{
    int r;
    memset(h, 0, sizeof(*h));
    h->listen_fd = listen_fd;
    h->wake_efd = -1;
    h->log.fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    if (ring_init(&h->scrollback, HUB_SCROLLBACK) < 0 || ring_init(&h->pending, HUB_PENDING) < 0)
        return err_set(ENOMEM, "console buffers: out of memory");
    h->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->wake_efd < 0)
        return err_set(errno, "eventfd: %s", strerror(errno));
    if (log_dir_fd >= 0) {
        if ((r = console_log_open(&h->log, log_dir_fd, log_limit)) < 0)
            return r;
        h->have_log = 1;
    }
    return 0;
}

static void client_free(struct hub_client *c)
{
    close(c->fd);
    ring_free(&c->out);
    free(c);
}

/* Closes the clients marked dead, keeping the others in order. */
static void reap(struct console_hub *h)
{
    unsigned j = 0;
    for (unsigned i = 0; i < h->nclients; i++) {
        if (h->clients[i]->dead)
            client_free(h->clients[i]);
        else
            h->clients[j++] = h->clients[i];
    }
    h->nclients = j;
    if (h->next_reader >= j)
        h->next_reader = 0;
}

static void drop(struct hub_client *c, const char *why)
{
    if (!c->dead && why)
        log_warn("console client dropped: %s", why);
    c->dead = 1;
}

/* Writes what the client's buffer holds, as far as its socket takes it. */
static void client_flush(struct hub_client *c)
{
    while (!c->dead && ring_len(&c->out)) {
        size_t n;
        const uint8_t *p = ring_peek(&c->out, &n);
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                drop(c, errno == EPIPE || errno == ECONNRESET ? NULL : strerror(errno));
            return;
        }
        ring_consume(&c->out, (size_t)w);
    }
}

static void client_send(struct hub_client *c, const uint8_t *data, size_t len)
{
    if (c->dead || c->hup)
        return;
    if (ring_push(&c->out, data, len) < len) {
        drop(c, "it does not keep up with the console output");
        return;
    }
    client_flush(c);
}

void hub_close(struct console_hub *h)
{
    if (h->wake_efd >= 0)
        hub_drain(h);
    for (unsigned i = 0; i < h->nclients; i++)
        client_free(h->clients[i]);
    h->nclients = 0;
    if (h->have_log)
        console_log_close(&h->log);
    h->have_log = 0;
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->wake_efd >= 0)
        close(h->wake_efd);
    h->listen_fd = h->wake_efd = -1;
    ring_free(&h->scrollback);
    ring_free(&h->pending);
    pthread_mutex_destroy(&h->lock);
}

void hub_guest_output(void *hub, uint8_t byte)
{
    hub_guest_write(hub, &byte, 1);
}

void hub_guest_write(void *hub, const uint8_t *buf, size_t len)
{
    struct console_hub *h = hub;
    pthread_mutex_lock(&h->lock);
    h->out_bytes += len;
    /* When the main loop is far behind, losing output beats stalling the guest. */
    h->lost += len - ring_push(&h->pending, buf, len);
    if (!h->wake_armed) {
        uint64_t one = 1;
        h->wake_armed = 1;
        if (write(h->wake_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            h->wake_armed = 0;
    }
    pthread_mutex_unlock(&h->lock);
}

uint64_t hub_out_bytes(struct console_hub *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t n = h->out_bytes;
    pthread_mutex_unlock(&h->lock);
    return n;
}

void hub_drain(struct console_hub *h)
{
    uint8_t buf[16384];
    uint64_t cnt;
    if (read(h->wake_efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        log_warn("console wakeup: %s", strerror(errno));
    for (;;) {
        uint64_t lost;
        pthread_mutex_lock(&h->lock);
        size_t n = ring_copy(&h->pending, 0, buf, sizeof(buf));
        ring_consume(&h->pending, n);
        lost = h->lost;
        h->lost = 0;
        if (!n)
            h->wake_armed = 0; /* from now on a new byte wakes us again */
        pthread_mutex_unlock(&h->lock);
        if (lost)
            log_warn("console: %llu bytes of guest output lost (the monitor fell behind)", (unsigned long long)lost);
        if (!n)
            break;
        if (h->have_log)
            console_log_write(&h->log, buf, n);
        ring_push_overwrite(&h->scrollback, buf, n);
        for (unsigned i = 0; i < h->nclients; i++)
            client_send(h->clients[i], buf, n);
    }
    reap(h);
}

int hub_add_client(struct console_hub *h, int fd)
{
    struct hub_client *c;
    if (h->nclients == HUB_MAX_CLIENTS) {
        close(fd);
        return err_set(EMFILE, "%d console clients are attached already", HUB_MAX_CLIENTS);
    }
    c = calloc(1, sizeof(*c));
    if (!c || ring_init(&c->out, HUB_CLIENT_BUF) < 0) {
        free(c);
        close(fd);
        return err_set(ENOMEM, "console client: out of memory");
    }
    c->fd = fd;
    c->idx = -1;
    h->clients[h->nclients++] = c;
    /* The scrollback first; pending output reaches it (and everyone) on the next drain. */
    uint8_t buf[HUB_SCROLLBACK];
    size_t n = ring_copy(&h->scrollback, 0, buf, sizeof(buf));
    client_send(c, buf, n);
    reap(h);
    return 0;
}

unsigned hub_clients(const struct console_hub *h)
{
    return h->nclients;
}

static int wants_input(const struct console_hub *h)
{
    return h->in_off == h->in_len;
}

void hub_prepare(struct console_hub *h, struct pollset *ps)
{
    int want_in = wants_input(h);
    h->idx_listen = pollset_add(ps, h->listen_fd, POLLIN);
    h->idx_wake = pollset_add(ps, h->wake_efd, POLLIN);
    for (unsigned i = 0; i < h->nclients; i++) {
        struct hub_client *c = h->clients[i];
        short ev = 0;
        c->idx = -1;
        if (c->hup) {
            /* Gone, with input left: watch it only when that input can be taken. */
            if (want_in)
                c->idx = pollset_add(ps, c->fd, POLLIN);
            continue;
        }
        if (want_in && !c->in_eof)
            ev |= POLLIN;
        if (ring_len(&c->out))
            ev |= POLLOUT;
        c->idx = pollset_add(ps, c->fd, ev); /* even with no events: hang-ups are reported */
    }
}

/* Reads one client's input into the (empty) input buffer. */
static void client_read(struct console_hub *h, struct hub_client *c)
{
    ssize_t n = read(c->fd, h->in, sizeof(h->in));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0 && errno != ECONNRESET)
        log_warn("console client: %s", strerror(errno));
    if (n <= 0) {
        if (c->hup || n < 0)
            c->dead = 1;
        else
            c->in_eof = 1; /* half-closed: it keeps getting output */
        return;
    }
    h->in_off = 0;
    h->in_len = (size_t)n;
}

static void accept_clients(struct console_hub *h)
{
    for (;;) {
        int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("console socket: accept: %s", strerror(errno));
            return;
        }
        if (hub_add_client(h, fd) < 0)
            log_warn("console client refused: %s", err_msg());
        else
            log_debug("console client attached (%u now)", h->nclients);
    }
}

void hub_dispatch(struct console_hub *h, const struct pollset *ps)
{
    unsigned start = h->next_reader;
    if (pollset_revents(ps, h->idx_wake))
        hub_drain(h);
    for (unsigned k = 0; k < h->nclients; k++) {
        /* Start where the last reader left off, so one chatty client cannot starve the rest. */
        unsigned i = (start + k) % h->nclients;
        struct hub_client *c = h->clients[i];
        short rev = pollset_revents(ps, c->idx);
        if (!rev || c->dead)
            continue;
        if ((rev & POLLOUT) && !c->hup)
            client_flush(c);
        if ((rev & (POLLHUP | POLLERR)) && !c->hup) {
            c->hup = 1;
            ring_clear(&c->out);
        }
        if (rev & (POLLIN | POLLHUP | POLLERR)) {
            int unread = 0;
            if (wants_input(h)) {
                client_read(h, c);
                if (!wants_input(h))
                    h->next_reader = (i + 1) % h->nclients;
            } else if ((rev & POLLERR) || (c->hup && (ioctl(c->fd, FIONREAD, &unread) < 0 || unread == 0))) {
                c->dead = 1; /* gone, and nothing of its input is left to take */
            }
        }
    }
    if (pollset_revents(ps, h->idx_listen))
        accept_clients(h);
    reap(h);
}

static size_t uart_sink(void *u, const uint8_t *buf, size_t len)
{
    return uart_receive(u, buf, len);
}

size_t hub_feed(struct console_hub *h, struct uart *u)
{
    return hub_feed_to(h, uart_sink, u);
}

size_t hub_feed_to(struct console_hub *h, size_t (*sink)(void *opaque, const uint8_t *buf, size_t len), void *opaque)
{
    size_t n = 0;
    if (h->in_off < h->in_len) {
        n = sink(opaque, h->in + h->in_off, h->in_len - h->in_off);
        h->in_off += n;
        h->in_bytes += n;
    }
    return n;
}
