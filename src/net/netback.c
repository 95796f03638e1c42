#include "net/netback.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { POLL_SOCK = 0, POLL_KICK_RX, POLL_KICK_TX, POLL_TAP };

#define RXQ VHOST_USER_NET_RXQ
#define TXQ VHOST_USER_NET_TXQ

uint64_t nb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct nb_port *port_of_dev(struct vu_dev *d)
{
    return (struct nb_port *)((char *)d - offsetof(struct nb_port, dev));
}

static struct nb_port *port_by_id(struct netback *nb, uint64_t id)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && nb->by_sw[s]->cfg.id == id)
            return nb->by_sw[s];
    return NULL;
}

static bool rx_ready(const struct nb_port *d)
{
    const struct vring *rx = &d->dev.vq[RXQ];
    return d->sock >= 0 && rx->started && !rx->broken;
}

/* ---- exactly-once bookkeeping (docs/netback.md) ---- */

/* A receiver stays held while some sender may still have to resend into it after a restart:
 * its hold table names a port whose TX queue has not been resolved yet. */
static void rx_hold_eval(struct netback *nb, struct nb_port *d, uint64_t now)
{
    if (!rx_ready(d)) {
        d->rx_held = false;
        return;
    }
    uint64_t *hold = d->dev.inflight.ext->hold;
    bool held = false;
    for (unsigned s = 0; s < INFLIGHT_MAX_DEST; s++) {
        uint64_t id = __atomic_load_n(&hold[s], __ATOMIC_RELAXED);
        if (!id)
            continue;
        struct nb_port *a = port_by_id(nb, id);
        /* A sender that runs normally has resolved its commit when its queue started (and
         * never leaves one live between two pumps): the entry is stale. */
        if (!a || a == d || (a->sock >= 0 && a->dev.vq[TXQ].started && !a->tx_recovering)) {
            hold[s] = 0;
            continue;
        }
        held = true;
    }
    if (held && !d->rx_held)
        d->rx_hold_deadline = now + NB_RECOVERY_WAIT_NS;
    if (held && now >= d->rx_hold_deadline) {
        log_warn("port %s: a sender did not come back to resolve its frames within %llu s; taking new frames",
                 d->cfg.name, NB_RECOVERY_WAIT_NS / 1000000000ull);
        memset(hold, 0, sizeof(d->dev.inflight.ext->hold));
        d->recovery_timeouts++;
        held = false;
    }
    d->rx_held = held;
}

static void rx_hold_eval_all(struct netback *nb, uint64_t now)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && nb->by_sw[s]->rx_held)
            rx_hold_eval(nb, nb->by_sw[s], now);
}

/* ---- hooks from vu_dev ---- */

static void ring_started(struct vu_dev *dev, unsigned q)
{
    struct nb_port *p = port_of_dev(dev);
    struct netback *nb = p->nb;
    uint64_t now = nb_now_ns();
    if (q == RXQ) {
        rx_hold_eval(nb, p, now);
        return;
    }
    struct inflight_commit *c = &dev->inflight.ext->commit;
    if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == INFLIGHT_COMMIT_LIVE) {
        if (c->avail_pos == dev->vq[TXQ].last_avail && c->ndest <= INFLIGHT_MAX_DEST) {
            p->tx_recovering = true;
            p->tx_recover_deadline = now + NB_RECOVERY_WAIT_NS;
            log_info("port %s: resolving the frame at TX position %u (%u destinations) left by the previous backend",
                     p->cfg.name, c->avail_pos, c->ndest);
        } else {
            /* Its TX used entry was published: the frame was done, only the cleanup was cut. */
            __atomic_store_n(&c->state, INFLIGHT_COMMIT_NONE, __ATOMIC_RELEASE);
        }
    }
    /* Receivers held for this sender may be free now. */
    rx_hold_eval_all(nb, now);
}

static void ring_stopping(struct vu_dev *dev, unsigned q)
{
    struct nb_port *p = port_of_dev(dev);
    if (q != TXQ)
        return;
    /* A chain taken but not completed goes back: the next start takes it again (a live
     * commit, if any, stays in the inflight region and is resolved then). */
    if (p->tx_held)
        vring_unpop(&dev->vq[TXQ]);
    p->tx_held = false;
    p->tx_recovering = false;
    if (p->tx_uplink) {
        net_qos_uplink_pending(p->nb->qos, p->sw, false);
        p->tx_uplink = false;
    }
}

static const struct vu_dev_hooks hooks = {.ring_started = ring_started, .ring_stopping = ring_stopping};

/* ---- connections ---- */

static void port_disconnect(struct nb_port *p, const char *why)
{
    if (p->sock < 0)
        return;
    log_info("port %s: disconnected from %s: %s", p->cfg.name, p->cfg.socket, why);
    vu_dev_reset(&p->dev);
    close(p->sock);
    p->sock = -1;
    p->rx_held = false;
    p->backoff_ms = NB_RECONNECT_MIN_MS;
    p->retry_at_ns = nb_now_ns() + NB_RECONNECT_MIN_MS * 1000000ull;
}

static void port_try_connect(struct nb_port *p, uint64_t now)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
        log_warn("port %s: socket: %s", p->cfg.name, strerror(errno));
        goto retry;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, p->cfg.socket, strlen(p->cfg.socket) + 1);
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(s);
        if (p->backoff_ms >= NB_RECONNECT_MAX_MS && e != ENOENT && e != ECONNREFUSED)
            log_warn("port %s: connect %s: %s", p->cfg.name, p->cfg.socket, strerror(e));
        goto retry;
    }
    /* Blocking from here on, with timeouts: a message is read whole once it starts. */
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    if (vhost_user_set_timeout(s, NB_SOCKET_TIMEOUT_MS) < 0) {
        log_warn("port %s: %s", p->cfg.name, err_msg());
        close(s);
        goto retry;
    }
    p->sock = s;
    p->connects++;
    p->backoff_ms = NB_RECONNECT_MIN_MS;
    log_info("port %s: connected to %s", p->cfg.name, p->cfg.socket);
    return;
retry:
    p->retry_at_ns = now + (uint64_t)p->backoff_ms * 1000000ull;
    p->backoff_ms = p->backoff_ms * 2 > NB_RECONNECT_MAX_MS ? NB_RECONNECT_MAX_MS : p->backoff_ms * 2;
}

static void port_read(struct nb_port *p)
{
    struct vhost_user_msg *m = malloc(sizeof(*m));
    if (!m) {
        port_disconnect(p, "out of memory");
        return;
    }
    int rc = vhost_user_recv(p->sock, m, false);
    if (rc == 0)
        rc = vu_dev_handle(&p->dev, p->sock, m);
    if (rc < 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", err_msg());
        if (rc == -EPROTO || rc == -EINVAL || rc == -ENOTSUP)
            p->dev.protocol_errors++;
        port_disconnect(p, why);
    }
    free(m);
}

/* ---- frames ---- */

/* Reads the held TX chain's frame into p->frame. false: malformed (counted). */
static bool load_frame(struct netback *nb, struct nb_port *p)
{
    size_t total = p->tx_chain.rd_len;
    if (total < NB_VNET_HDR + NET_ETH_HLEN || total > NB_VNET_HDR + NB_MAX_FRAME || p->tx_chain.nwr) {
        net_switch_count_drop(nb->sw, p->sw, NET_DIR_FROM_PORT, NET_DROP_MALFORMED);
        return false;
    }
    p->frame_len = vring_chain_read(&p->tx_chain, NB_VNET_HDR, p->frame, total - NB_VNET_HDR);
    return true;
}

/* Copies a frame into a destination chain already taken and publishes it. */
static void rx_fill(struct nb_port *d, const uint8_t *frame, size_t len)
{
    struct virtio_net_hdr_v1 hdr = {.num_buffers = 1};
    struct iovec src[2] = {{.iov_base = &hdr, .iov_len = sizeof(hdr)}, {.iov_base = (void *)frame, .iov_len = len}};
    size_t n = vring_chain_write(&d->rx_chain, src, 2);
    vring_push(&d->dev.vq[RXQ], d->rx_chain.head, (uint32_t)n);
}

/* Takes a receive chain of d big enough for len bytes. 0 or the drop reason. */
static enum net_drop_reason rx_take(struct nb_port *d, size_t len)
{
    struct vring *rx = &d->dev.vq[RXQ];
    int r = vring_pop(rx, &d->dev.mem, &d->rx_chain);
    if (r < 0) {
        log_warn("port %s: receive queue broken by the guest: %s", d->cfg.name, err_msg());
        return NET_DROP_NO_BUFFER;
    }
    if (r == 0)
        return NET_DROP_NO_BUFFER;
    if (d->rx_chain.nrd || d->rx_chain.wr_len < NB_VNET_HDR + len) {
        vring_unpop(rx);
        return NET_DROP_NO_BUFFER;
    }
    return NET_DROP_NONE;
}

static void tap_send(struct netback *nb, const uint8_t *frame, size_t len)
{
    if (nb->tap_fd < 0)
        return;
    ssize_t n = write(nb->tap_fd, frame, len);
    if (n == (ssize_t)len) {
        nb->tap_tx_frames++;
        net_switch_count_delivered(nb->sw, nb->uplink_sw, len);
    } else {
        nb->tap_errors++;
        net_switch_count_drop(nb->sw, nb->uplink_sw, NET_DIR_TO_PORT, NET_DROP_NO_BUFFER);
    }
}

/* Tests of the exactly-once protocol (--test-crash-at): the process ends at once, as if
 * killed, the Nth time it reaches kill point P of deliver() (docs/netback.md lists them). */
unsigned nb_test_crash_point;
uint64_t nb_test_crash_after;

static inline void kill_point(unsigned p)
{
    if (__builtin_expect(nb_test_crash_point == p, 0) && --nb_test_crash_after == 0)
        _exit(137);
}

/* Completes the held TX chain: its used entry (the sender's commit point), then the cleanup. */
static void tx_complete(struct nb_port *p)
{
    vring_push(&p->dev.vq[TXQ], p->tx_chain.head, 0);
    p->tx_held = false;
    if (p->tx_uplink) {
        net_qos_uplink_pending(p->nb->qos, p->sw, false);
        p->tx_uplink = false;
    }
}

/* ---- audit (docs/audit.md, "In xeno-netback") ---- */

static inline uint64_t audit_time(const struct netback *nb, uint64_t now)
{
    return now + nb->audit.clock_offset;
}

/* A frame towards domain port d (from another port or the uplink): flow accounting of the
 * domain's inbound direction. false: the engine refused its flow (counted as an audit drop). */
static bool audit_in(struct netback *nb, struct nb_port *d, const struct net_frame *f, uint64_t now)
{
    if (!nb->audit.engine)
        return true;
    struct audit_ctx ctx = {.port = d->sw, .dir = AUDIT_DIR_IN};
    /* Inbound frames never get a throttle verdict (rules and detectors act on what a domain
     * opens); only a refused flow's answers are dropped. */
    if (audit_frame_parsed(nb->audit.engine, &ctx, f, audit_time(nb, now)).action != AUDIT_DROP)
        return true;
    net_switch_count_drop(nb->sw, d->sw, NET_DIR_TO_PORT, NET_DROP_AUDIT);
    return false;
}

/* p's held frame, sent by its domain, before it goes anywhere. 1: it may go; 0: not before
 * p->tx_wait_ns (the chain stays held: backpressure, as with QoS); -1: dropped and completed. */
static int audit_out(struct netback *nb, struct nb_port *p, uint64_t now)
{
    if (now < p->tx_wait_ns)
        return 0;
    struct audit_ctx ctx = {.port = p->sw, .dir = AUDIT_DIR_OUT};
    /* The switch parsed the frame (p->frame, unchanged while the chain is held). */
    struct audit_verdict v = audit_frame_parsed(nb->audit.engine, &ctx, &p->route.frame, audit_time(nb, now));
    if (v.action == AUDIT_PASS) {
        p->tx_audit_pending = false;
        p->tx_wait_ns = 0;
        return 1;
    }
    if (v.action == AUDIT_DROP) {
        net_switch_count_drop(nb->sw, p->sw, NET_DIR_FROM_PORT, NET_DROP_AUDIT);
        tx_complete(p);
        return -1;
    }
    nb->audit.throttled++;
    uint64_t at = v.retry_ns > nb->audit.clock_offset ? v.retry_ns - nb->audit.clock_offset : 0;
    /* A retry time in the past (the clock stepped) must not spin the loop. */
    p->tx_wait_ns = at > now + 100000 ? at : now + 100000;
    return 0;
}

/* Delivers p's held frame to every port of its route: reserve the buffers, record the commit,
 * copy, publish, complete (docs/netback.md gives why this order is safe at every point). */
static void deliver(struct netback *nb, struct nb_port *p, uint64_t now)
{
    struct inflight_commit *c = &p->dev.inflight.ext->commit;
    struct nb_port *dst[INFLIGHT_MAX_DEST];
    unsigned nd = 0;
    bool uplink = false;
    size_t len = p->frame_len;
    for (int s = net_port_set_next(&p->route.ports, -1); s >= 0; s = net_port_set_next(&p->route.ports, s)) {
        if ((unsigned)s == nb->uplink_sw && nb->tap_fd >= 0) {
            uplink = true;
            c->dest[nd] = (struct inflight_dest){.port_id = INFLIGHT_UPLINK_ID};
            dst[nd++] = NULL;
            continue;
        }
        struct nb_port *d = nb->by_sw[s];
        if (d && !audit_in(nb, d, &p->route.frame, now))
            continue;
        enum net_drop_reason why = d && rx_ready(d) ? rx_take(d, len) : NET_DROP_NO_BUFFER;
        if (why != NET_DROP_NONE) {
            net_switch_count_drop(nb->sw, (unsigned)s, NET_DIR_TO_PORT, why);
            continue;
        }
        c->dest[nd] = (struct inflight_dest){.port_id = d->cfg.id, .used_target = d->dev.vq[RXQ].used_idx};
        /* The hold goes in before the commit is live: a restarted backend must not let
         * anyone else write into d until this frame is resolved. */
        __atomic_store_n(&d->dev.inflight.ext->hold[p->sw], p->cfg.id, __ATOMIC_RELEASE);
        dst[nd++] = d;
    }
    kill_point(1); /* buffers taken, holds set, no commit */
    if (nd) {
        c->avail_pos = p->tx_chain.pos;
        c->head = p->tx_chain.head;
        c->ndest = nd;
        __atomic_store_n(&c->state, INFLIGHT_COMMIT_LIVE, __ATOMIC_RELEASE);
    }
    kill_point(2); /* commit live, nothing copied */
    for (unsigned i = 0; i < nd; i++) {
        if (!dst[i])
            continue;
        rx_fill(dst[i], p->frame, len);
        net_switch_count_delivered(nb->sw, dst[i]->sw, len);
        net_qos_charge(nb->qos, dst[i]->sw, NET_QOS_INBOUND, len, now);
        kill_point(3); /* a destination published */
    }
    if (uplink)
        tap_send(nb, p->frame, len);
    kill_point(4); /* every destination has it, the sender's chain is not completed */
    tx_complete(p);
    kill_point(5); /* completed, the commit not cleared */
    if (nd) {
        __atomic_store_n(&c->state, INFLIGHT_COMMIT_NONE, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < nd; i++)
            if (dst[i])
                __atomic_store_n(&dst[i]->dev.inflight.ext->hold[p->sw], 0, __ATOMIC_RELEASE);
    }
}

/* Resolves the commit a previous backend left live for p's next TX chain. true: done (or
 * nothing to do); false: a destination is not back yet, try later. */
static bool tx_recover(struct netback *nb, struct nb_port *p, uint64_t now)
{
    struct inflight_ext *ext = p->dev.inflight.ext;
    struct inflight_commit *c = &ext->commit;
    unsigned nd = c->ndest;
    bool timed_out = now >= p->tx_recover_deadline;
    for (unsigned i = 0; i < nd; i++) {
        uint64_t id = c->dest[i].port_id;
        if (id == INFLIGHT_UPLINK_ID)
            continue;
        struct nb_port *d = port_by_id(nb, id);
        if (d && !rx_ready(d) && !timed_out)
            return false;
    }
    struct vring *tx = &p->dev.vq[TXQ];
    int r = vring_pop(tx, &p->dev.mem, &p->tx_chain);
    bool ok = r == 1 && p->tx_chain.head == c->head && p->tx_chain.pos == c->avail_pos;
    if (r == 1 && !ok)
        vring_unpop(tx);
    uint64_t resent0 = p->recovered_resent, skipped0 = p->recovered_skipped;
    if (ok) {
        p->tx_held = true;
        if (!load_frame(nb, p)) {
            tx_complete(p);
        } else {
            for (unsigned i = 0; i < nd; i++) {
                uint64_t id = c->dest[i].port_id;
                struct nb_port *d = id == INFLIGHT_UPLINK_ID ? NULL : port_by_id(nb, id);
                if (!d || !rx_ready(d)) {
                    if (timed_out && d)
                        p->recovery_timeouts++;
                    continue; /* the uplink: at most once; a port gone: nothing to deliver */
                }
                if (d->dev.vq[RXQ].used_idx != c->dest[i].used_target) {
                    p->recovered_skipped++; /* its used index moved: it has the frame */
                    continue;
                }
                if (rx_take(d, p->frame_len) != NET_DROP_NONE) {
                    net_switch_count_drop(nb->sw, d->sw, NET_DIR_TO_PORT, NET_DROP_NO_BUFFER);
                    continue;
                }
                rx_fill(d, p->frame, p->frame_len);
                net_switch_count_delivered(nb->sw, d->sw, p->frame_len);
                p->recovered_resent++;
            }
            tx_complete(p);
        }
        log_info("port %s: frame at TX position %u resolved: resent to %" PRIu64 ", already delivered to %" PRIu64,
                 p->cfg.name, c->avail_pos, p->recovered_resent - resent0, p->recovered_skipped - skipped0);
    } else {
        /* The guest set its ring up anew while no backend ran: the record is not about
         * this chain, which is processed as a new one. */
        log_warn("port %s: the inflight commit (position %u, head %u) does not match the queue; forgotten", p->cfg.name,
                 c->avail_pos, c->head);
    }
    __atomic_store_n(&c->state, INFLIGHT_COMMIT_NONE, __ATOMIC_RELEASE);
    p->tx_recovering = false;
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *d = nb->by_sw[s];
        if (!d || d->sock < 0)
            continue;
        uint64_t *hold = d->dev.inflight.ext->hold;
        for (unsigned k = 0; k < INFLIGHT_MAX_DEST; k++)
            if (hold[k] == p->cfg.id)
                hold[k] = 0;
    }
    rx_hold_eval_all(nb, now);
    return true;
}

/* Must frames for d wait rather than go (or be dropped)? While a sender's recovery may still
 * write into it (held), and, during the first NB_RECOVERY_WAIT_NS of this backend, while it has
 * not connected again: after a restart the ports come back one by one, and a frame for one
 * that is a little late must not be lost. Later, a port that is down drops its frames, as a
 * switch does for a link that is down. */
static bool dest_waits(const struct netback *nb, const struct nb_port *d, uint64_t now)
{
    return d->rx_held || (!rx_ready(d) && now < nb->grace_until_ns);
}

/* May p's held frame (bound for domain ports only) go now? Sets p->tx_wait_ns if QoS says no. */
static bool local_may_go(struct netback *nb, struct nb_port *p, uint64_t now)
{
    if (!net_qos_may_send(nb->qos, p->sw, NET_QOS_OUTBOUND, now)) {
        p->tx_wait_ns = net_qos_ready_at(nb->qos, p->sw, NET_QOS_OUTBOUND, now);
        return false;
    }
    for (int s = net_port_set_next(&p->route.ports, -1); s >= 0; s = net_port_set_next(&p->route.ports, s)) {
        struct nb_port *d = nb->by_sw[s];
        if (!d)
            continue;
        if (dest_waits(nb, d, now))
            return false;
        if (!net_qos_may_send(nb->qos, (unsigned)s, NET_QOS_INBOUND, now)) {
            p->tx_wait_ns = net_qos_ready_at(nb->qos, (unsigned)s, NET_QOS_INBOUND, now);
            return false;
        }
    }
    return true;
}

static bool route_has_held_port(struct netback *nb, const struct nb_port *p, uint64_t now)
{
    for (int s = net_port_set_next(&p->route.ports, -1); s >= 0; s = net_port_set_next(&p->route.ports, s))
        if (nb->by_sw[s] && dest_waits(nb, nb->by_sw[s], now))
            return true;
    return false;
}

/* Moves up to budget frames from p's TX queue; returns how many were completed. */
static unsigned tx_step(struct netback *nb, struct nb_port *p, unsigned budget, uint64_t now)
{
    struct vring *tx = &p->dev.vq[TXQ];
    unsigned done = 0;
    while (done < budget && p->sock >= 0 && tx->started && !tx->broken) {
        if (p->tx_recovering) {
            if (!tx_recover(nb, p, now))
                break;
            done++;
            continue;
        }
        if (!p->tx_held) {
            int r = vring_pop(tx, &p->dev.mem, &p->tx_chain);
            if (r < 0)
                log_warn("port %s: transmit queue broken by the guest: %s", p->cfg.name, err_msg());
            if (r <= 0)
                break;
            p->tx_held = true;
            p->tx_wait_ns = 0;
            if (!load_frame(nb, p)) {
                tx_complete(p);
                done++;
                continue;
            }
            net_switch_route(nb->sw, p->sw, p->frame, p->frame_len, now, &p->route);
            if (p->route.drop != NET_DROP_NONE) {
                tx_complete(p);
                done++;
                continue;
            }
            p->tx_audit_pending = nb->audit.engine != NULL;
        }
        /* After anti-spoofing (the addresses are the domain's own), before QoS and delivery. */
        if (p->tx_audit_pending) {
            int r = audit_out(nb, p, now);
            if (r == 0)
                break;
            if (r < 0) {
                done++;
                continue;
            }
        }
        if (nb->tap_fd >= 0 && net_port_set_has(&p->route.ports, nb->uplink_sw)) {
            if (!p->tx_uplink) {
                net_qos_uplink_pending(nb->qos, p->sw, true);
                p->tx_uplink = true;
            }
            break; /* the uplink's scheduler sends it (uplink_run) */
        }
        if (p->tx_uplink) {
            net_qos_uplink_pending(nb->qos, p->sw, false);
            p->tx_uplink = false;
        }
        if (!local_may_go(nb, p, now))
            break;
        size_t len = p->frame_len;
        deliver(nb, p, now);
        net_qos_charge(nb->qos, p->sw, NET_QOS_OUTBOUND, len, now);
        done++;
    }
    return done;
}

/* Sends frames waiting for the uplink in the order the QoS scheduler picks. */
static unsigned uplink_run(struct netback *nb, uint64_t now)
{
    unsigned n = 0;
    uint64_t retry = UINT64_MAX;
    int s;
    nb->uplink_retry_ns = UINT64_MAX;
    while (n < 256 && (s = net_qos_uplink_next(nb->qos, now, &retry)) >= 0) {
        struct nb_port *p = nb->by_sw[s];
        if (!p || !p->tx_held || !p->tx_uplink) {
            net_qos_uplink_pending(nb->qos, (unsigned)s, false);
            if (p)
                p->tx_uplink = false;
            continue;
        }
        if (route_has_held_port(nb, p, now)) {
            retry = now + 1000000;
            break;
        }
        size_t len = p->frame_len;
        p->tx_uplink = false; /* deliver's tx_complete would un-pend; we do it after charging */
        deliver(nb, p, now);
        net_qos_uplink_sent(nb->qos, (unsigned)s, len, now);
        n++;
        /* Load its next frame at once so a busy port stays in the round robin. */
        tx_step(nb, p, 1, now);
        if (!p->tx_uplink)
            net_qos_uplink_pending(nb->qos, (unsigned)s, false);
    }
    if (s == -EAGAIN)
        nb->uplink_retry_ns = retry;
    else if (n == 256)
        nb->uplink_retry_ns = now;
    return n;
}

static void tap_rx(struct netback *nb, uint64_t now)
{
    for (unsigned i = 0; i < 64; i++) {
        ssize_t n = read(nb->tap_fd, nb->tap_buf, sizeof(nb->tap_buf));
        if (n <= 0)
            return;
        nb->tap_rx_frames++;
        struct net_route r;
        net_switch_route(nb->sw, nb->uplink_sw, nb->tap_buf, (size_t)n, now, &r);
        if (r.drop != NET_DROP_NONE)
            continue;
        for (int s = net_port_set_next(&r.ports, -1); s >= 0; s = net_port_set_next(&r.ports, s)) {
            struct nb_port *d = nb->by_sw[s];
            enum net_drop_reason why = NET_DROP_NONE;
            if (!d || !rx_ready(d) || d->rx_held)
                why = NET_DROP_NO_BUFFER;
            else if (!audit_in(nb, d, &r.frame, now))
                continue;
            else if (!net_qos_may_send(nb->qos, (unsigned)s, NET_QOS_INBOUND, now))
                why = NET_DROP_QOS;
            else
                why = rx_take(d, (size_t)n);
            if (why != NET_DROP_NONE) {
                net_switch_count_drop(nb->sw, (unsigned)s, NET_DIR_TO_PORT, why);
                continue;
            }
            rx_fill(d, nb->tap_buf, (size_t)n);
            net_switch_count_delivered(nb->sw, (unsigned)s, (size_t)n);
            net_qos_charge(nb->qos, (unsigned)s, NET_QOS_INBOUND, (size_t)n, now);
        }
    }
}

/* ---- public ---- */

int netback_init(struct netback *nb, uint64_t uplink_kib)
{
    memset(nb, 0, sizeof(*nb));
    nb->tap_fd = -1;
    nb->uplink_sw = UINT32_MAX;
    nb->uplink_kib = uplink_kib;
    nb->next_id = 1;
    nb->uplink_retry_ns = UINT64_MAX;
    nb->grace_until_ns = nb_now_ns() + NB_RECOVERY_WAIT_NS;
    struct net_switch_config scfg = {.aging_ns = 0};
    int rc = net_switch_create(&scfg, &nb->sw);
    if (rc < 0)
        return rc;
    return net_qos_create(NET_SWITCH_MAX_PORTS, uplink_kib, nb_now_ns(), &nb->qos);
}

void netback_fini(struct netback *nb)
{
    netback_audit_detach(nb);
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s])
            netback_port_del(nb, nb->by_sw[s]->cfg.name);
    if (nb->tap_fd >= 0)
        close(nb->tap_fd);
    net_qos_destroy(nb->qos);
    net_switch_destroy(nb->sw);
}

int netback_set_uplink(struct netback *nb, int tap_fd)
{
    struct net_port_config pc = {.kind = NET_PORT_UPLINK};
    unsigned s;
    int rc = net_switch_port_add(nb->sw, &pc, &s);
    if (rc < 0)
        return rc;
    struct net_qos_port_config qc = {0};
    rc = net_qos_port_set(nb->qos, s, &qc, nb_now_ns());
    if (rc < 0)
        return rc;
    nb->uplink_sw = s;
    nb->tap_fd = tap_fd;
    return 0;
}

/* Names the port's domain and sponsor to the engine (from port-add; the port's name and "-"
 * when they were not given). A refusal leaves the port unaudited and is logged. */
static void audit_bind(struct netback *nb, struct nb_port *p)
{
    if (!nb->audit.engine)
        return;
    const char *dom = p->cfg.domain[0] ? p->cfg.domain : p->cfg.name;
    const char *spo = p->cfg.sponsor[0] ? p->cfg.sponsor : "-";
    if (audit_port_bind(nb->audit.engine, p->sw, dom, spo, audit_time(nb, nb_now_ns())) < 0)
        log_warn("port %s: not audited: %s", p->cfg.name, err_msg());
}

int netback_audit_attach(struct netback *nb, struct audit *engine, const char *rules_path)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    nb->audit.clock_offset =
        ((uint64_t)rt.tv_sec - (uint64_t)mono.tv_sec) * 1000000000ull + (uint64_t)rt.tv_nsec - (uint64_t)mono.tv_nsec;
    if (rules_path && strlen(rules_path) >= sizeof(nb->audit.rules_path))
        return err_set(ENAMETOOLONG, "audit rules %s: path too long", rules_path);
    snprintf(nb->audit.rules_path, sizeof(nb->audit.rules_path), "%s", rules_path ? rules_path : "");
    nb->audit.engine = engine;
    nb->audit.next_tick_ns = 0;
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s])
            audit_bind(nb, nb->by_sw[s]);
    return 0;
}

int netback_audit_reload(struct netback *nb)
{
    if (!nb->audit.engine)
        return err_set(ENOTSUP, "audit is off (start xeno-netback with --audit)");
    if (!nb->audit.rules_path[0])
        return err_set(ENOENT, "no rules file (start xeno-netback with --audit-rules FILE)");
    return audit_load_rules(nb->audit.engine, nb->audit.rules_path);
}

int netback_audit_flush(struct netback *nb)
{
    if (!nb->audit.engine)
        return err_set(ENOTSUP, "audit is off (start xeno-netback with --audit)");
    return audit_flush(nb->audit.engine, audit_time(nb, nb_now_ns()));
}

void netback_audit_detach(struct netback *nb)
{
    if (!nb->audit.engine)
        return;
    if (audit_destroy(nb->audit.engine, audit_time(nb, nb_now_ns())) < 0)
        log_error("audit: %s", err_msg());
    nb->audit.engine = NULL;
}

struct nb_port *netback_port_find(struct netback *nb, const char *name)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && !strcmp(nb->by_sw[s]->cfg.name, name))
            return nb->by_sw[s];
    return NULL;
}

int netback_port_add(struct netback *nb, struct port_config *cfg)
{
    if (netback_port_find(nb, cfg->name))
        return err_set(EEXIST, "port %s exists already", cfg->name);
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && !strcmp(nb->by_sw[s]->cfg.socket, cfg->socket))
            return err_set(EEXIST, "port %s uses socket %s already", nb->by_sw[s]->cfg.name, cfg->socket);
    if (cfg->id && port_by_id(nb, cfg->id))
        return err_set(EEXIST, "port id %" PRIu64 " is in use", cfg->id);
    struct net_port_config pc = {.kind = NET_PORT_DOMAIN, .has_ipv4 = cfg->has_ipv4, .ipv4 = cfg->ipv4};
    memcpy(pc.mac, cfg->mac, 6);
    unsigned s;
    int rc = net_switch_port_add(nb->sw, &pc, &s);
    if (rc < 0)
        return err_wrap(-rc, "port %s", cfg->name);
    rc = net_qos_port_set(nb->qos, s, &cfg->qos, nb_now_ns());
    if (rc < 0) {
        rc = err_wrap(-rc, "port %s", cfg->name);
        net_switch_port_remove(nb->sw, s);
        return rc;
    }
    struct nb_port *p = calloc(1, sizeof(*p));
    uint8_t *frame = malloc(NB_MAX_FRAME);
    if (!p || !frame) {
        free(p);
        free(frame);
        net_qos_port_remove(nb->qos, s);
        net_switch_port_remove(nb->sw, s);
        return err_set(ENOMEM, "port %s: out of memory", cfg->name);
    }
    if (!cfg->id)
        cfg->id = nb->next_id;
    if (cfg->id >= nb->next_id)
        nb->next_id = cfg->id + 1;
    p->nb = nb;
    p->cfg = *cfg;
    p->sw = s;
    p->frame = frame;
    p->sock = -1;
    p->backoff_ms = NB_RECONNECT_MIN_MS;
    p->retry_at_ns = 0; /* connect at the next turn */
    rc = vu_dev_init(&p->dev, p->cfg.name, p->cfg.id, &hooks);
    if (rc < 0) {
        free(frame);
        free(p);
        net_qos_port_remove(nb->qos, s);
        net_switch_port_remove(nb->sw, s);
        return rc;
    }
    nb->by_sw[s] = p;
    nb->ports_dirty = true;
    audit_bind(nb, p);
    log_info("port %s added (id %" PRIu64 ", socket %s)", p->cfg.name, p->cfg.id, p->cfg.socket);
    return 0;
}

int netback_port_del(struct netback *nb, const char *name)
{
    struct nb_port *p = netback_port_find(nb, name);
    if (!p)
        return err_set(ENOENT, "no port %s", name);
    port_disconnect(p, "port deleted");
    if (nb->audit.engine && audit_port_unbind(nb->audit.engine, p->sw, audit_time(nb, nb_now_ns())) < 0)
        log_warn("port %s: %s", p->cfg.name, err_msg());
    vu_dev_reset(&p->dev);
    inflight_detach(&p->dev.inflight);
    net_qos_port_remove(nb->qos, p->sw);
    net_switch_port_remove(nb->sw, p->sw);
    nb->by_sw[p->sw] = NULL;
    free(p->frame);
    free(p);
    nb->ports_dirty = true;
    rx_hold_eval_all(nb, nb_now_ns());
    return 0;
}

int netback_port_qos(struct netback *nb, const char *name, char **words, int n)
{
    struct nb_port *p = netback_port_find(nb, name);
    if (!p)
        return err_set(ENOENT, "no port %s", name);
    struct port_config c = p->cfg;
    int rc = port_config_parse_qos(&c, words, n);
    if (rc < 0)
        return rc;
    rc = net_qos_port_set(nb->qos, p->sw, &c.qos, nb_now_ns());
    if (rc < 0)
        return rc;
    p->cfg = c;
    nb->ports_dirty = true;
    return 0;
}

unsigned netback_poll_fds(struct netback *nb, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    nb->pollmap_n = 0;
    if (nb->tap_fd >= 0 && n < max) {
        fds[n++] = (struct pollfd){.fd = nb->tap_fd, .events = POLLIN};
        nb->pollmap[nb->pollmap_n++].what = POLL_TAP;
    }
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p || p->sock < 0)
            continue;
        int want[3] = {p->sock, p->dev.vq[RXQ].kick_fd, p->dev.vq[TXQ].kick_fd};
        for (int w = 0; w < 3 && n < max; w++) {
            if (want[w] < 0)
                continue;
            fds[n++] = (struct pollfd){.fd = want[w], .events = POLLIN};
            nb->pollmap[nb->pollmap_n].port = p;
            nb->pollmap[nb->pollmap_n++].what = w;
        }
    }
    return n;
}

void netback_handle(struct netback *nb, const struct pollfd *fds, unsigned n)
{
    uint64_t now = nb_now_ns();
    for (unsigned i = 0; i < n && i < nb->pollmap_n; i++) {
        if (!fds[i].revents)
            continue;
        int what = nb->pollmap[i].what;
        struct nb_port *p = nb->pollmap[i].port;
        if (what == POLL_TAP) {
            tap_rx(nb, now);
            continue;
        }
        /* A port disconnected earlier in this loop has closed these fds. */
        if (p->sock < 0)
            continue;
        if (what == POLL_SOCK) {
            if (fds[i].fd == p->sock)
                port_read(p);
            continue;
        }
        int q = what == POLL_KICK_RX ? RXQ : TXQ;
        if (fds[i].fd != p->dev.vq[q].kick_fd)
            continue;
        uint64_t v;
        if (read(fds[i].fd, &v, sizeof(v)) < 0) {
            /* EAGAIN: another reader took it; the ring is looked at anyway. */
        }
    }
}

unsigned netback_pump(struct netback *nb, uint64_t *next_ns)
{
    uint64_t now = nb_now_ns();
    uint64_t next = now + 100000000ull; /* at least every 100 ms: heartbeat, holds */
    unsigned moved = 0;
    if (nb->audit.engine && now >= nb->audit.next_tick_ns) {
        /* Timeouts, scan-detector deadlines, due log blocks and IPFIX messages. Errors are
         * the engine's log-error events (audit-events); the datapath goes on. */
        audit_tick(nb->audit.engine, audit_time(nb, now));
        nb->audit.next_tick_ns = now + 1000000000ull;
    }
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p)
            continue;
        if (p->sock < 0) {
            if (now >= p->retry_at_ns)
                port_try_connect(p, now);
            if (p->sock < 0 && p->retry_at_ns < next)
                next = p->retry_at_ns;
            continue;
        }
        if (p->rx_held) {
            rx_hold_eval(nb, p, now);
            if (p->rx_held && p->rx_hold_deadline < next)
                next = p->rx_hold_deadline;
        }
    }
    /* Round robin in small batches so one busy port cannot starve the others. */
    for (unsigned round = 0; round < 16; round++) {
        unsigned m = 0;
        for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
            struct nb_port *p = nb->by_sw[s];
            if (p && p->sock >= 0)
                m += tx_step(nb, p, 16, now);
        }
        if (nb->tap_fd >= 0)
            m += uplink_run(nb, now);
        moved += m;
        if (!m)
            break;
    }
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p || p->sock < 0)
            continue;
        vring_notify(&p->dev.vq[RXQ]);
        vring_notify(&p->dev.vq[TXQ]);
        if (p->tx_held && !p->tx_uplink && p->tx_wait_ns > now && p->tx_wait_ns < next)
            next = p->tx_wait_ns;
        if (p->tx_recovering && p->tx_recover_deadline < next)
            next = p->tx_recover_deadline;
        if (p->tx_held && !p->tx_uplink && p->tx_wait_ns <= now && route_has_held_port(nb, p, now) &&
            now + 1000000 < next)
            next = now + 1000000;
    }
    if (nb->uplink_retry_ns < next)
        next = nb->uplink_retry_ns;
    *next_ns = next;
    return moved;
}

void netback_write_ports(struct netback *nb, FILE *f)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p)
            continue;
        char line[1024];
        if (port_config_format(&p->cfg, line, sizeof(line)) < 0)
            continue;
        fprintf(f, "%s\n", line);
    }
}

void netback_write_stats(struct netback *nb, FILE *f)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p)
            continue;
        struct net_port_stats st;
        if (net_switch_port_stats(nb->sw, p->sw, &st) < 0)
            continue;
        fprintf(f,
                "port %s connected=%d connects=%" PRIu64 " tx_packets=%" PRIu64 " tx_bytes=%" PRIu64
                " rx_packets=%" PRIu64 " rx_bytes=%" PRIu64 " ring_errors=%" PRIu64 " protocol_errors=%" PRIu64
                " recovered_resent=%" PRIu64 " recovered_skipped=%" PRIu64 " recovery_timeouts=%" PRIu64,
                p->cfg.name, p->sock >= 0, p->connects, st.packets[NET_DIR_FROM_PORT], st.bytes[NET_DIR_FROM_PORT],
                st.packets[NET_DIR_TO_PORT], st.bytes[NET_DIR_TO_PORT], p->dev.vq[RXQ].errors + p->dev.vq[TXQ].errors,
                p->dev.protocol_errors, p->recovered_resent, p->recovered_skipped, p->recovery_timeouts);
        for (int dir = 0; dir < 2; dir++)
            for (int r = 1; r < NET_DROP__COUNT; r++)
                if (st.drops[dir][r])
                    fprintf(f, " %s_drop_%s=%" PRIu64, dir == NET_DIR_FROM_PORT ? "tx" : "rx", net_drop_reason_name(r),
                            st.drops[dir][r]);
        fprintf(f, "\n");
    }
    if (nb->tap_fd >= 0)
        fprintf(f, "uplink tx_frames=%" PRIu64 " rx_frames=%" PRIu64 " errors=%" PRIu64 "\n", nb->tap_tx_frames,
                nb->tap_rx_frames, nb->tap_errors);
    if (nb->audit.engine) {
        struct audit_stats as;
        audit_get_stats(nb->audit.engine, &as);
        uint64_t events = 0;
        for (int k = 0; k < AUDIT_EV__COUNT; k++)
            events += as.events[k];
        fprintf(f,
                "audit frames=%" PRIu64 " flows=%u flows_created=%" PRIu64 " flows_logged=%" PRIu64 " dropped=%" PRIu64
                " throttled=%" PRIu64 " held=%" PRIu64 " events=%" PRIu64 " log_errors=%" PRIu64 "\n",
                as.frames, audit_flow_count(nb->audit.engine), as.flows_created, as.flows_logged, as.dropped,
                as.throttled, nb->audit.throttled, events, as.log_errors);
    }
}
