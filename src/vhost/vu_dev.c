#include "vhost/vu_dev.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void vu_dev_init(struct vu_dev *d, const char *name, const struct vu_dev_class *cls)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->cls = cls;
    for (unsigned q = 0; q < VU_DEV_MAX_QUEUES; q++)
        vring_init(&d->vq[q]);
}

/* What every device offers besides its class's bits: the dirty log (vu_dev.h). */
#define VU_DEV_FEATURES (1ull << VU_F_LOG_ALL)
#define VU_DEV_PROTOCOL_FEATURES (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD)

static uint64_t offered_features(const struct vu_dev *d)
{
    return d->cls->features | VU_DEV_FEATURES;
}

/* Points every ring at the log while the front end wants one (LOG_ALL and a log set), else
 * at none. */
static void update_log(struct vu_dev *d)
{
    const struct vu_log *l = (d->features & (1ull << VU_F_LOG_ALL)) && d->log.bits ? &d->log : NULL;
    for (unsigned q = 0; q < VU_DEV_MAX_QUEUES; q++)
        d->vq[q].log = l;
}

static void stop_ring(struct vu_dev *d, unsigned q)
{
    if (!d->vq[q].started)
        return;
    d->cls->ring_stopping(d, q);
    d->base[q] = d->vq[q].last_avail;
    vring_stop(&d->vq[q]);
}

static bool ring_ready(const struct vu_dev *d, unsigned q)
{
    const struct vring *vr = &d->vq[q];
    bool enabled = vr->enabled || !(d->features & (1ull << VU_F_PROTOCOL_FEATURES));
    return vr->num && vr->addr_set && vr->kick_fd >= 0 && d->mem.n && enabled;
}

/* Starts every ring that has all it needs and is not serving yet. */
static void start_ready(struct vu_dev *d)
{
    for (unsigned q = 0; q < d->cls->nq; q++) {
        struct vring *vr = &d->vq[q];
        if (vr->started || vr->broken || !ring_ready(d, q))
            continue;
        char what[96];
        snprintf(what, sizeof(what), "%s %s queue %u", d->cls->kind, d->name, q);
        vr->event_idx = (d->features >> VU_F_EVENT_IDX) & 1; /* only a class that offers it */
        if (vring_start(vr, &d->mem, d->base[q], what) < 0) {
            log_warn("%s", err_msg());
            vr->broken = true;
            vr->errors++;
            continue;
        }
        d->cls->ring_started(d, q);
    }
}

void vu_dev_reset(struct vu_dev *d)
{
    for (unsigned q = 0; q < d->cls->nq; q++) {
        stop_ring(d, q);
        vring_reset(&d->vq[q]);
        d->base[q] = 0;
    }
    mem_table_unmap(&d->mem);
    d->features = d->protocol_features = 0;
    update_log(d);
    vu_log_unmap(&d->log);
    if (d->cls->reset)
        d->cls->reset(d);
}

static int reply(int sock, struct vhost_user_msg *m, const void *payload, uint32_t size)
{
    vhost_user_msg_make_reply(m);
    if (size)
        memcpy(&m->payload, payload, size);
    m->hdr.size = size;
    return vhost_user_send(sock, m);
}

static int reply_u64(int sock, struct vhost_user_msg *m, uint64_t v)
{
    return reply(sock, m, &v, sizeof(v));
}

/* A ring index from a payload: the front end's value, checked. */
static int ring_index(struct vu_dev *d, uint32_t req, uint64_t idx)
{
    if (idx >= d->cls->nq)
        return err_set(EINVAL, "%s %s: %s for queue %llu (the device has %u)", d->cls->kind, d->name,
                       vhost_user_request_name(req), (unsigned long long)idx, d->cls->nq);
    return (int)idx;
}

/* The requests that set up one ring (size, addresses, base, eventfds, enable). */
static int apply_ring(struct vu_dev *d, int sock, struct vhost_user_msg *m, bool *replied)
{
    int q;
    switch (m->hdr.request) {
    case VHOST_USER_SET_VRING_NUM:
        if ((q = ring_index(d, m->hdr.request, m->payload.state.index)) < 0)
            return q;
        if (m->payload.state.num == 0 || m->payload.state.num > VRING_MAX_NUM ||
            (m->payload.state.num & (m->payload.state.num - 1)))
            return err_set(EINVAL, "%s %s: queue %d size %u (a power of two up to %u)", d->cls->kind, d->name, q,
                           m->payload.state.num, VRING_MAX_NUM);
        stop_ring(d, (unsigned)q);
        d->vq[q].num = m->payload.state.num;
        return 0;
    case VHOST_USER_SET_VRING_ADDR:
        if ((q = ring_index(d, m->hdr.request, m->payload.addr.index)) < 0)
            return q;
        stop_ring(d, (unsigned)q);
        d->vq[q].desc_uva = m->payload.addr.desc_user_addr;
        d->vq[q].avail_uva = m->payload.addr.avail_user_addr;
        d->vq[q].used_uva = m->payload.addr.used_user_addr;
        d->vq[q].addr_set = true;
        d->vq[q].broken = false;
        return 0;
    case VHOST_USER_SET_VRING_BASE:
        if ((q = ring_index(d, m->hdr.request, m->payload.state.index)) < 0)
            return q;
        if (m->payload.state.num > 0xffff)
            return err_set(EINVAL, "%s %s: queue %d base %u is not a 16-bit index", d->cls->kind, d->name, q,
                           m->payload.state.num);
        stop_ring(d, (unsigned)q);
        d->base[q] = (uint16_t)m->payload.state.num;
        d->vq[q].broken = false;
        return 0;
    case VHOST_USER_GET_VRING_BASE: {
        if ((q = ring_index(d, m->hdr.request, m->payload.state.index)) < 0)
            return q;
        stop_ring(d, (unsigned)q);
        /* The spec: GET_VRING_BASE stops the ring; the kick fd is dropped with it. */
        if (d->vq[q].kick_fd >= 0) {
            close(d->vq[q].kick_fd);
            d->vq[q].kick_fd = -1;
        }
        struct vhost_user_vring_state st = {.index = (uint32_t)q, .num = d->base[q]};
        *replied = true;
        return reply(sock, m, &st, sizeof(st));
    }
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR: {
        if ((q = ring_index(d, m->hdr.request, m->payload.u64 & VHOST_USER_VRING_IDX_MASK)) < 0)
            return q;
        int fd = m->nfds ? m->fds[0] : -1;
        m->fds[0] = -1;
        m->nfds = 0;
        if (m->hdr.request == VHOST_USER_SET_VRING_ERR) {
            if (fd >= 0)
                close(fd); /* errors are counted and logged, not signalled */
            return 0;
        }
        if (m->hdr.request == VHOST_USER_SET_VRING_CALL) {
            if (d->vq[q].call_fd >= 0)
                close(d->vq[q].call_fd);
            d->vq[q].call_fd = fd;
            return 0;
        }
        stop_ring(d, (unsigned)q);
        if (d->vq[q].kick_fd >= 0)
            close(d->vq[q].kick_fd);
        d->vq[q].kick_fd = fd;
        if (fd < 0)
            return err_set(EINVAL, "%s %s: queue %d without a kick fd (polling is not supported)", d->cls->kind,
                           d->name, q);
        return 0;
    }
    case VHOST_USER_SET_VRING_ENABLE:
        if ((q = ring_index(d, m->hdr.request, m->payload.state.index)) < 0)
            return q;
        if (!m->payload.state.num)
            stop_ring(d, (unsigned)q);
        d->vq[q].enabled = m->payload.state.num != 0;
        return 0;
    default:
        return err_set(ENOTSUP, "%s %s: %s (%u) is not supported", d->cls->kind, d->name,
                       vhost_user_request_name(m->hdr.request), m->hdr.request);
    }
}

/* The first queue whose ring runs, or -1. */
static int running_queue(const struct vu_dev *d)
{
    for (int q = 0; q < (int)d->cls->nq; q++)
        if (d->vq[q].started)
            return q;
    return -1;
}

/* The inflight region shared with the front end across backend restarts (the class owns its layout). */
static int apply_inflight(struct vu_dev *d, int sock, struct vhost_user_msg *m, bool *replied)
{
    int q, rc;
    switch (m->hdr.request) {
    case VHOST_USER_GET_INFLIGHT_FD: {
        int fd = -1;
        struct vhost_user_inflight f = {0};
        /* A new region replaces the one a running ring writes (the class unmaps it): a front
         * end that asks now is wrong or hostile, and would make the shared backend write
         * through a stale mapping. */
        if ((q = running_queue(d)) >= 0)
            return err_set(EBUSY, "%s %s: GET_INFLIGHT_FD while queue %d runs", d->cls->kind, d->name, q);
        rc = d->cls->inflight_get(d, &m->payload.inflight, &f, &fd);
        if (rc < 0)
            return err_wrap(-rc, "%s %s: GET_INFLIGHT_FD", d->cls->kind, d->name);
        vhost_user_msg_make_reply(m);
        m->payload.inflight = f;
        m->hdr.size = sizeof(f);
        m->fds[0] = fd;
        m->nfds = 1;
        *replied = true;
        rc = vhost_user_send(sock, m);
        close(fd);
        m->fds[0] = -1;
        m->nfds = 0;
        return rc;
    }
    case VHOST_USER_SET_INFLIGHT_FD: {
        int fd = m->fds[0];
        m->fds[0] = -1;
        m->nfds = 0;
        if ((q = running_queue(d)) >= 0)
            return close(fd), err_set(EINVAL, "%s %s: SET_INFLIGHT_FD while queue %d runs", d->cls->kind, d->name, q);
        rc = d->cls->inflight_set(d, fd, &m->payload.inflight);
        if (rc < 0)
            return err_wrap(-rc, "%s %s: SET_INFLIGHT_FD", d->cls->kind, d->name);
        return 0;
    }
    default:
        return err_set(ENOTSUP, "%s %s: %s (%u) is not supported", d->cls->kind, d->name,
                       vhost_user_request_name(m->hdr.request), m->hdr.request);
    }
}

/* The protocol features this device offers: the class's, with CONFIG exactly when the class
 * has a config space to serve. */
static uint64_t offered_protocol_features(const struct vu_dev *d)
{
    uint64_t f = (d->cls->protocol_features | VU_DEV_PROTOCOL_FEATURES) & ~(1ull << VHOST_USER_PROTOCOL_F_CONFIG);
    if (d->cls->get_config)
        f |= 1ull << VHOST_USER_PROTOCOL_F_CONFIG;
    return f;
}

/* The window a GET_CONFIG or SET_CONFIG names, checked against the message that carries it
 * and against the config space (the front end's numbers: any of them may be hostile). */
static int config_window(const struct vu_dev *d, const struct vhost_user_msg *m)
{
    const char *req = vhost_user_request_name(m->hdr.request);
    const struct vhost_user_config *c = &m->payload.config;
    unsigned space =
        d->cls->config_size < VHOST_USER_MAX_CONFIG_SIZE ? d->cls->config_size : VHOST_USER_MAX_CONFIG_SIZE;
    if (!d->cls->get_config)
        return err_set(ENOTSUP, "%s %s: %s: the device has no config space to serve", d->cls->kind, d->name, req);
    if (!(d->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)))
        return err_set(EINVAL, "%s %s: %s without PROTOCOL_F_CONFIG negotiated", d->cls->kind, d->name, req);
    if (m->hdr.size < VHOST_USER_CONFIG_HDR_SIZE)
        return err_set(EINVAL, "%s %s: %s payload of %u bytes (the window alone is %u)", d->cls->kind, d->name, req,
                       m->hdr.size, VHOST_USER_CONFIG_HDR_SIZE);
    if (c->size == 0 || c->size > VHOST_USER_MAX_CONFIG_SIZE || m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
        return err_set(EINVAL, "%s %s: %s of %u bytes in a %u-byte payload (1..%u bytes after the %u-byte window)",
                       d->cls->kind, d->name, req, c->size, m->hdr.size, VHOST_USER_MAX_CONFIG_SIZE,
                       VHOST_USER_CONFIG_HDR_SIZE);
    if ((uint64_t)c->offset + c->size > space)
        return err_set(EINVAL, "%s %s: %s of bytes %u..%llu outside the %u-byte config space", d->cls->kind, d->name,
                       req, c->offset, (unsigned long long)c->offset + c->size, space);
    return 0;
}

/* GET_CONFIG: always answered, since the front end waits for it: the window asked for, or an
 * empty reply (the spec's refusal) when the request is wrong. 0 or -errno (the send failed). */
static int get_config(struct vu_dev *d, int sock, struct vhost_user_msg *m)
{
    int rc = config_window(d, m);
    uint32_t offset = m->payload.config.offset, size = m->payload.config.size;
    vhost_user_msg_make_reply(m); /* hdr.size 0: the refusal, unless filled below */
    if (rc < 0) {
        d->protocol_errors++;
        log_warn("%s", err_msg());
        return vhost_user_send(sock, m);
    }
    uint8_t space[VHOST_USER_MAX_CONFIG_SIZE] = {0};
    d->cls->get_config(d, space);
    memcpy(m->payload.config.region, space + offset, size); /* config_window kept it inside */
    m->hdr.size = VHOST_USER_CONFIG_HDR_SIZE + size;
    return vhost_user_send(sock, m);
}

/* SET_LOG_BASE: maps the front end's log (with LOG_SHMFD only: a log by address is not
 * ours to reach) and answers with the empty reply that says it is in use. A log that cannot
 * be mapped drops the connection: the front end would count on pages nobody marks. */
static int set_log_base(struct vu_dev *d, int sock, struct vhost_user_msg *m)
{
    if (!(d->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD)) || m->nfds != 1)
        return err_set(EPROTO, "%s %s: SET_LOG_BASE without LOG_SHMFD negotiated and one fd (%u fds)", d->cls->kind,
                       d->name, m->nfds);
    int fd = m->fds[0];
    m->fds[0] = -1;
    m->nfds = 0;
    int rc = vu_log_map(&d->log, fd, m->payload.log.mmap_size, m->payload.log.mmap_offset);
    if (rc < 0)
        return err_wrap(-rc == EPERM ? EPERM : EPROTO, "%s %s: SET_LOG_BASE", d->cls->kind, d->name);
    update_log(d);
    return reply(sock, m, NULL, 0);
}

/* Handles requests that change state; returns 0 or -errno (refused: message in err_msg). */
static int apply(struct vu_dev *d, int sock, struct vhost_user_msg *m, bool *replied)
{
    int q, rc;
    switch (m->hdr.request) {
    case VHOST_USER_GET_FEATURES: *replied = true; return reply_u64(sock, m, offered_features(d));
    case VHOST_USER_SET_FEATURES:
        if (m->payload.u64 & ~offered_features(d))
            return err_set(EINVAL, "%s %s: SET_FEATURES 0x%llx has bits not offered (0x%llx)", d->cls->kind, d->name,
                           (unsigned long long)m->payload.u64, (unsigned long long)offered_features(d));
        if (!(m->payload.u64 & (1ull << VU_F_VERSION_1)))
            return err_set(EINVAL, "%s %s: SET_FEATURES without VERSION_1 (legacy devices are not served)",
                           d->cls->kind, d->name);
        d->features = m->payload.u64;
        update_log(d); /* LOG_ALL on or off: the rings log from the next write */
        return 0;
    case VHOST_USER_GET_PROTOCOL_FEATURES: *replied = true; return reply_u64(sock, m, offered_protocol_features(d));
    case VHOST_USER_SET_PROTOCOL_FEATURES:
        if (m->payload.u64 & ~offered_protocol_features(d))
            return err_set(EINVAL, "%s %s: SET_PROTOCOL_FEATURES 0x%llx has bits not offered", d->cls->kind, d->name,
                           (unsigned long long)m->payload.u64);
        d->protocol_features = m->payload.u64;
        return 0;
    case VHOST_USER_GET_QUEUE_NUM: *replied = true; return reply_u64(sock, m, d->cls->nq);
    case VHOST_USER_SET_OWNER: return 0;
    case VHOST_USER_RESET_OWNER:
    case VHOST_USER_RESET_DEVICE:
        for (q = 0; q < (int)d->cls->nq; q++) {
            stop_ring(d, (unsigned)q);
            vring_reset(&d->vq[q]);
            d->base[q] = 0;
        }
        update_log(d);
        return 0;
    case VHOST_USER_SET_LOG_BASE: *replied = true; return set_log_base(d, sock, m);
    case VHOST_USER_SET_MEM_TABLE: {
        for (q = 0; q < (int)d->cls->nq; q++)
            stop_ring(d, (unsigned)q);
        rc = mem_table_map(&d->mem, &m->payload.memory, m->fds);
        for (unsigned i = 0; i < m->nfds; i++)
            m->fds[i] = -1; /* closed by mem_table_map */
        m->nfds = 0;
        if (rc < 0)
            return err_wrap(-rc, "%s %s", d->cls->kind, d->name);
        return 0;
    }
    case VHOST_USER_SET_VRING_NUM:
    case VHOST_USER_SET_VRING_ADDR:
    case VHOST_USER_SET_VRING_BASE:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR:
    case VHOST_USER_SET_VRING_ENABLE: return apply_ring(d, sock, m, replied);
    case VHOST_USER_GET_INFLIGHT_FD:
    case VHOST_USER_SET_INFLIGHT_FD:
        if (!(d->cls->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
            return err_set(ENOTSUP, "%s %s: %s without INFLIGHT_SHMFD", d->cls->kind, d->name,
                           vhost_user_request_name(m->hdr.request));
        return apply_inflight(d, sock, m, replied);
    case VHOST_USER_GET_CONFIG: *replied = true; return get_config(d, sock, m);
    case VHOST_USER_SET_CONFIG:
        if ((rc = config_window(d, m)) < 0)
            return rc;
        return err_set(EROFS, "%s %s: SET_CONFIG of bytes %u..%u refused: the config space is read-only", d->cls->kind,
                       d->name, m->payload.config.offset, m->payload.config.offset + m->payload.config.size);
    default:
        return err_set(ENOTSUP, "%s %s: %s (%u) is not supported", d->cls->kind, d->name,
                       vhost_user_request_name(m->hdr.request), m->hdr.request);
    }
}

int vu_dev_handle(struct vu_dev *d, int sock, struct vhost_user_msg *m)
{
    bool replied = false;
    bool ack = (m->hdr.flags & VHOST_USER_FLAG_NEED_REPLY) &&
               (d->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
    uint32_t req = m->hdr.request;
    log_debug("%s %s: %s (flags 0x%x, %u bytes, %u fds)", d->cls->kind, d->name, vhost_user_request_name(req),
              m->hdr.flags, m->hdr.size, m->nfds);
    int rc = apply(d, sock, m, &replied);
    vhost_user_msg_close_fds(m);
    if (replied) {
        if (rc < 0)
            return rc; /* the reply itself failed: the connection is gone */
    } else if (rc < 0) {
        d->protocol_errors++;
        log_warn("%s", err_msg());
        if (ack) {
            m->hdr.request = req;
            int s = reply_u64(sock, m, 1);
            if (s < 0)
                return s;
        }
        if (rc == -EPERM)
            return rc; /* memory it could shrink under us: a hostile front end, dropped */
        if (!ack && (req == VHOST_USER_SET_MEM_TABLE || req == VHOST_USER_SET_FEATURES))
            return rc; /* without a way to say no, a device this wrong cannot go on */
    } else if (ack) {
        m->hdr.request = req;
        int s = reply_u64(sock, m, 0);
        if (s < 0)
            return s;
    }
    start_ready(d);
    return 0;
}
