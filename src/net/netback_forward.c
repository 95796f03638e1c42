/* xeno-netback's forwarding path (docs/netback.md, docs/network.md): frames from a port's TX
 * queue or the tap uplink through the switch, QoS and the audit engine into another port's
 * RX queue or the uplink, with the exactly-once rules for frames in flight at a restart. */
#include "net/netback_path.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

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
    struct inflight_commit *c = &p->inflight.ext->commit;
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
        enum net_drop_reason why = d && nb_rx_ready(d) ? rx_take(d, len) : NET_DROP_NO_BUFFER;
        if (why != NET_DROP_NONE) {
            net_switch_count_drop(nb->sw, (unsigned)s, NET_DIR_TO_PORT, why);
            continue;
        }
        c->dest[nd] = (struct inflight_dest){.port_id = d->cfg.id, .used_target = d->dev.vq[RXQ].used_idx};
        /* The hold goes in before the commit is live: a restarted backend must not let
         * anyone else write into d until this frame is resolved. */
        __atomic_store_n(&d->inflight.ext->hold[p->sw], p->cfg.id, __ATOMIC_RELEASE);
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
                __atomic_store_n(&dst[i]->inflight.ext->hold[p->sw], 0, __ATOMIC_RELEASE);
    }
}

/* Resolves the commit a previous backend left live for p's next TX chain. true: done (or
 * nothing to do); false: a destination is not back yet, try later. */
static bool tx_recover(struct netback *nb, struct nb_port *p, uint64_t now)
{
    /* The private copy ring_started took and checked (ndest <= INFLIGHT_MAX_DEST), never the
     * shared region, which the front end may have rewritten since. */
    const struct inflight_commit *c = &p->recover;
    unsigned nd = c->ndest;
    bool timed_out = now >= p->tx_recover_deadline;
    for (unsigned i = 0; i < nd; i++) {
        uint64_t id = c->dest[i].port_id;
        if (id == INFLIGHT_UPLINK_ID)
            continue;
        struct nb_port *d = nb_port_by_id(nb, id);
        if (d && !nb_rx_ready(d) && !timed_out)
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
                struct nb_port *d = id == INFLIGHT_UPLINK_ID ? NULL : nb_port_by_id(nb, id);
                if (!d || !nb_rx_ready(d)) {
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
    __atomic_store_n(&p->inflight.ext->commit.state, INFLIGHT_COMMIT_NONE, __ATOMIC_RELEASE);
    p->tx_recovering = false;
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *d = nb->by_sw[s];
        if (!d || d->sock < 0)
            continue;
        uint64_t *hold = d->inflight.ext->hold;
        for (unsigned k = 0; k < INFLIGHT_MAX_DEST; k++)
            if (hold[k] == p->cfg.id)
                hold[k] = 0;
    }
    nb_rx_hold_eval_all(nb, now);
    return true;
}

/* Must frames for d wait rather than go (or be dropped)? While a sender's recovery may still
 * write into it (held), and, during the first NB_RECOVERY_WAIT_NS of this backend, while it has
 * not connected again: after a restart the ports come back one by one, and a frame for one
 * that is a little late must not be lost. Later, a port that is down drops its frames, as a
 * switch does for a link that is down. */
static bool dest_waits(const struct netback *nb, const struct nb_port *d, uint64_t now)
{
    return d->rx_held || (!nb_rx_ready(d) && now < nb->grace_until_ns);
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

void nb_tap_rx(struct netback *nb, uint64_t now)
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
            if (!d || !nb_rx_ready(d) || d->rx_held)
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

unsigned netback_pump(struct netback *nb, uint64_t *next_ns)
{
    uint64_t now = nb_now_ns();
    /* No deadline: an idle backend sleeps until a descriptor or a signal wakes it (the
     * stats page is written when counters change or when xenod asks: src/net/main.c). */
    uint64_t next = UINT64_MAX;
    unsigned moved = 0;
    if (nb->audit.engine && now >= nb->audit.next_tick_ns) {
        /* Timeouts, scan-detector deadlines, due log blocks and IPFIX messages. Errors are
         * the engine's log-error events (audit-events); the datapath goes on. */
        audit_tick(nb->audit.engine, audit_time(nb, now));
        nb->audit.next_tick_ns = now + 1000000000ull;
    }
    if (nb->audit.engine)
        next = nb->audit.next_tick_ns;
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++) {
        struct nb_port *p = nb->by_sw[s];
        if (!p)
            continue;
        if (p->sock < 0) {
            if (now >= p->retry_at_ns)
                nb_port_try_connect(p, now);
            if (p->sock < 0 && p->retry_at_ns < next)
                next = p->retry_at_ns;
            continue;
        }
        if (p->rx_held) {
            nb_rx_hold_eval(nb, p, now);
            if (p->rx_held && p->rx_hold_deadline < next)
                next = p->rx_hold_deadline;
        }
        /* A port with a hold or a recovery in progress is looked at again within 100 ms
         * whatever its own deadlines say (as every port was before the backend slept). */
        if ((p->rx_held || p->tx_held || p->tx_recovering) && now + 100000000ull < next)
            next = now + 100000000ull;
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
