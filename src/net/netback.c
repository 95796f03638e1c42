#include "net/netback.h"
#include "net/netback_path.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { POLL_SOCK = 0, POLL_KICK_RX, POLL_KICK_TX, POLL_TAP };

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

struct nb_port *nb_port_by_id(struct netback *nb, uint64_t id)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && nb->by_sw[s]->cfg.id == id)
            return nb->by_sw[s];
    return NULL;
}

/* ---- exactly-once bookkeeping (docs/netback.md) ---- */

/* A receiver stays held while some sender may still have to resend into it after a restart:
 * its hold table names a port whose TX queue has not been resolved yet. */
void nb_rx_hold_eval(struct netback *nb, struct nb_port *d, uint64_t now)
{
    if (!nb_rx_ready(d)) {
        d->rx_held = false;
        return;
    }
    uint64_t *hold = d->inflight.ext->hold;
    bool held = false;
    for (unsigned s = 0; s < INFLIGHT_MAX_DEST; s++) {
        uint64_t id = __atomic_load_n(&hold[s], __ATOMIC_RELAXED);
        if (!id)
            continue;
        struct nb_port *a = nb_port_by_id(nb, id);
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
        memset(hold, 0, sizeof(d->inflight.ext->hold));
        d->recovery_timeouts++;
        held = false;
    }
    d->rx_held = held;
}

void nb_rx_hold_eval_all(struct netback *nb, uint64_t now)
{
    for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
        if (nb->by_sw[s] && nb->by_sw[s]->rx_held)
            nb_rx_hold_eval(nb, nb->by_sw[s], now);
}

/* ---- hooks from vu_dev ---- */

static void ring_started(struct vu_dev *dev, unsigned q)
{
    struct nb_port *p = port_of_dev(dev);
    struct netback *nb = p->nb;
    if (p->inflight.base)
        p->inflight.q[q]->used_idx = dev->vq[q].used_idx;
    uint64_t now = nb_now_ns();
    if (q == RXQ) {
        nb_rx_hold_eval(nb, p, now);
        return;
    }
    struct inflight_commit *c = &p->inflight.ext->commit;
    /* The commit is read once into p->recover (the front end may rewrite the region while we
     * resolve it): tx_recover uses only that copy. */
    struct inflight_commit *r = &p->recover;
    bool live = inflight_commit_snapshot(&p->inflight, r);
    if (live && r->avail_pos == dev->vq[TXQ].last_avail) {
        p->tx_recovering = true;
        p->tx_recover_deadline = now + NB_RECOVERY_WAIT_NS;
        log_info("port %s: resolving the frame at TX position %u (%u destinations) left by the previous backend",
                 p->cfg.name, r->avail_pos, r->ndest);
    } else if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != INFLIGHT_COMMIT_NONE) {
        /* Its TX used entry was published: the frame was done, only the cleanup was cut (or
         * the record is not one we can resolve). */
        __atomic_store_n(&c->state, INFLIGHT_COMMIT_NONE, __ATOMIC_RELEASE);
    }
    /* Receivers held for this sender may be free now. */
    nb_rx_hold_eval_all(nb, now);
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

static int inflight_get(struct vu_dev *dev, const struct vhost_user_inflight *want, struct vhost_user_inflight *out,
                        int *fd_out)
{
    struct nb_port *p = port_of_dev(dev);
    int rc = inflight_create(&p->inflight, want->num_queues, want->queue_size, p->cfg.id, fd_out);
    if (rc < 0)
        return rc;
    *out = (struct vhost_user_inflight){
        .mmap_size = p->inflight.len, .mmap_offset = 0, .num_queues = p->inflight.nq, .queue_size = p->inflight.qsize};
    return 0;
}

static int inflight_set(struct vu_dev *dev, int fd, const struct vhost_user_inflight *f)
{
    struct nb_port *p = port_of_dev(dev);
    return inflight_attach(&p->inflight, fd, f, p->cfg.id);
}

/* A new connection starts without a region: a private ext until the front end gives one. */
static void dev_reset(struct vu_dev *dev)
{
    struct nb_port *p = port_of_dev(dev);
    inflight_private(&p->inflight, p->cfg.id);
}

static const struct vu_dev_class net_class = {
    .kind = "port",
    .features = VHOST_USER_NET_FEATURES,
    .protocol_features = VHOST_USER_NET_PROTOCOL_FEATURES,
    .nq = VHOST_USER_NET_NQUEUES,
    .ring_started = ring_started,
    .ring_stopping = ring_stopping,
    .inflight_get = inflight_get,
    .inflight_set = inflight_set,
    .reset = dev_reset,
};

/* ---- connections ---- */

/* violation: the front end broke the protocol (quarantine, NB_QUARANTINE_*), as opposed to a
 * front end that went away (reconnect soon: a monitor restarted, a well-behaved front end). */
static void port_disconnect(struct nb_port *p, const char *why, bool violation)
{
    if (p->sock < 0)
        return;
    uint64_t now = nb_now_ns();
    uint64_t lived = now - p->connected_at_ns;
    vu_dev_reset(&p->dev);
    close(p->sock);
    p->sock = -1;
    p->rx_held = false;
    if (violation) {
        if (lived >= NB_QUARANTINE_FORGIVE_NS)
            p->strikes = 0;
        unsigned shift = p->strikes < 16 ? p->strikes : 16;
        uint64_t ms = (uint64_t)NB_QUARANTINE_MIN_MS << shift;
        if (ms > NB_QUARANTINE_MAX_MS)
            ms = NB_QUARANTINE_MAX_MS;
        p->strikes++;
        p->quarantines++;
        p->quarantined = true;
        log_warn("port %s: front end at %s quarantined for %llu ms (violation %u in a row): %s", p->cfg.name,
                 p->cfg.socket, (unsigned long long)ms, p->strikes, why);
        p->retry_at_ns = now + ms * 1000000ull;
        p->backoff_ms = NB_RECONNECT_MAX_MS; /* then tries once a second until it is back */
        return;
    }
    log_info("port %s: disconnected from %s: %s", p->cfg.name, p->cfg.socket, why);
    /* A connection that served a while comes back fast; one closed right after it was made
     * (a front end that accepts and hangs up) goes on with the growing back-off. */
    if (lived >= (uint64_t)NB_RECONNECT_MAX_MS * 1000000ull)
        p->backoff_ms = NB_RECONNECT_MIN_MS;
    p->retry_at_ns = now + (uint64_t)p->backoff_ms * 1000000ull;
    p->backoff_ms = p->backoff_ms * 2 > NB_RECONNECT_MAX_MS ? NB_RECONNECT_MAX_MS : p->backoff_ms * 2;
}

void nb_port_try_connect(struct nb_port *p, uint64_t now)
{
    int s = unix_connect(p->cfg.socket, SOCK_NONBLOCK);
    if (s < 0) {
        int e = -s;
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
    p->connected_at_ns = now;
    if (p->quarantined)
        log_info("port %s: quarantine over, connected to %s again", p->cfg.name, p->cfg.socket);
    else
        log_info("port %s: connected to %s", p->cfg.name, p->cfg.socket);
    p->quarantined = false;
    return;
retry:
    p->retry_at_ns = now + (uint64_t)p->backoff_ms * 1000000ull;
    p->backoff_ms = p->backoff_ms * 2 > NB_RECONNECT_MAX_MS ? NB_RECONNECT_MAX_MS : p->backoff_ms * 2;
}

static void port_read(struct nb_port *p)
{
    struct vhost_user_msg *m = malloc(sizeof(*m));
    if (!m) {
        port_disconnect(p, "out of memory", false);
        return;
    }
    int rc = vhost_user_recv(p->sock, m, false);
    if (rc == 0)
        rc = vu_dev_handle(&p->dev, p->sock, m);
    if (rc < 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", err_msg());
        /* The peer closing between messages or vanishing mid-reply is not its fault;
         * everything else is (a malformed message, one past its deadline, refused memory). */
        bool violation = rc != -ECONNRESET && rc != -EPIPE && rc != -ENOMEM;
        if (violation)
            p->dev.protocol_errors++;
        port_disconnect(p, why, violation);
    }
    free(m);
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
    if (cfg->id && nb_port_by_id(nb, cfg->id))
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
    vu_dev_init(&p->dev, p->cfg.name, &net_class);
    rc = inflight_private(&p->inflight, p->cfg.id);
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
    port_disconnect(p, "port deleted", false);
    if (nb->audit.engine && audit_port_unbind(nb->audit.engine, p->sw, audit_time(nb, nb_now_ns())) < 0)
        log_warn("port %s: %s", p->cfg.name, err_msg());
    vu_dev_reset(&p->dev);
    inflight_detach(&p->inflight);
    net_qos_port_remove(nb->qos, p->sw);
    net_switch_port_remove(nb->sw, p->sw);
    nb->by_sw[p->sw] = NULL;
    free(p->frame);
    free(p);
    nb->ports_dirty = true;
    nb_rx_hold_eval_all(nb, nb_now_ns());
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
            nb_tap_rx(nb, now);
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
                " recovered_resent=%" PRIu64 " recovered_skipped=%" PRIu64 " recovery_timeouts=%" PRIu64
                " quarantined=%d quarantines=%" PRIu64,
                p->cfg.name, p->sock >= 0, p->connects, st.packets[NET_DIR_FROM_PORT], st.bytes[NET_DIR_FROM_PORT],
                st.packets[NET_DIR_TO_PORT], st.bytes[NET_DIR_TO_PORT], p->dev.vq[RXQ].errors + p->dev.vq[TXQ].errors,
                p->dev.protocol_errors, p->recovered_resent, p->recovered_skipped, p->recovery_timeouts,
                p->sock < 0 && p->quarantined, p->quarantines);
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
                " throttled=%" PRIu64 " held=%" PRIu64 " events=%" PRIu64 " log_errors=%" PRIu64
                " flow_quota=%u flows_over_quota=%" PRIu64 "\n",
                as.frames, audit_flow_count(nb->audit.engine), as.flows_created, as.flows_logged, as.dropped,
                as.throttled, nb->audit.throttled, events, as.log_errors, audit_flow_quota(nb->audit.engine),
                as.flows_over_quota);
    }
}
