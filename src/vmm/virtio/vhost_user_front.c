/* The vhost-user front end (vhost_user_front.h): the listening socket, the connection to
 * one backend at a time, and the hand-over of a device's rings. */
#include "vmm/virtio/vhost_user_front.h"
#include "vmm/core/thread_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/thread_stack.h"
#include "proto/vhost_user.h"

/* Features the front end asks of the protocol: REPLY_ACK so every setting is confirmed (a
 * backend that refused one is noticed at once), INFLIGHT_SHMFD for restarts, LOG_SHMFD for
 * live migration (the dirty log). */
#define FRONT_PROTOCOL_FEATURES                                                                                        \
    ((1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                      \
     (1ULL << VHOST_USER_PROTOCOL_F_LOG_SHMFD))
/* An inflight region larger than this is not a plausible answer for our queue sizes. */
#define INFLIGHT_MAX_BYTES (16ULL << 20)

static void bump(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static bool has_protocol(const struct vhost_front *f, unsigned bit)
{
    return (f->protocol_features >> bit) & 1;
}

/* io_lock held: the connected backend can keep the dirty log. */
static bool can_log(const struct vhost_front *f)
{
    return (f->backend_features & (1ULL << VU_F_LOG_ALL)) && has_protocol(f, VHOST_USER_PROTOCOL_F_LOG_SHMFD);
}

/* io_lock held. The connection is gone or misbehaved: forget it; the device stays as it is
 * and the next backend picks up from guest RAM and the inflight region. */
static void drop_connection(struct vhost_front *f, bool protocol_error, const char *why)
{
    if (f->conn_fd < 0)
        return;
    close(f->conn_fd);
    f->conn_fd = -1;
    f->started = false;
    /* A backend dies between its store to the used index (or flags, or avail_event) and
     * the mark of that page: the page changed unlogged, and no successor rewrites it until
     * its next completion. Its other writes are safe: read data and status bytes are marked
     * before their request is published, and an unpublished request is redone (and marked
     * again) by the next backend or the destination's. So a lost backend costs a migration
     * the resending of its used rings (docs/migration.md, "Disks"). Its io_uring reads are
     * over before its socket closes: the kernel ends a task's requests before its files. */
    if (f->logging)
        for (unsigned q = 0; q < f->log_rings; q++)
            vhost_front_log_mark(&f->log, f->log_used[q].gpa, f->log_used[q].len);
    bump(&f->stats.disconnects);
    if (protocol_error) {
        bump(&f->stats.protocol_errors);
        log_warn("%s: backend dropped: %s; waiting for the next connection on %s", f->name, why, f->path);
    } else {
        log_info("%s: backend disconnected (%s); waiting for the next connection on %s", f->name, why, f->path);
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* io_lock held. A whole exchange (negotiation, hand-over, stopping the rings) gets
 * VHOST_FRONT_REPLY_MS in all, not per message: a backend that answers each message just in
 * time cannot hold the io_lock (and a vCPU resetting the device behind it) for long. */
static void begin_exchange(struct vhost_front *f)
{
    f->exchange_deadline_ms = mono_ms() + VHOST_FRONT_REPLY_MS;
}

/* io_lock held. One request (and its reply or ack) within the exchange's deadline. -errno
 * with err_msg(); the caller drops the connection. */
static int call(struct vhost_front *f, struct vhost_user_msg *m)
{
    uint32_t req = m->hdr.request;
    uint64_t now = mono_ms();
    if (now >= f->exchange_deadline_ms)
        return err_set(ETIMEDOUT, "%s: the backend took more than %d ms over this exchange",
                       vhost_user_request_name(req), VHOST_FRONT_REPLY_MS);
    int t = vhost_user_set_timeout(f->conn_fd, (unsigned)(f->exchange_deadline_ms - now));
    if (t < 0)
        return t;
    /* Not SET_INFLIGHT_FD: vhost_user_msg_check reads an ack to it as an inflight payload
     * and refuses it; a backend that cannot use the region fails the next request anyway. */
    if (has_protocol(f, VHOST_USER_PROTOCOL_F_REPLY_ACK) && !vhost_user_request_has_reply(req) &&
        req != VHOST_USER_SET_INFLIGHT_FD)
        m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    int r = vhost_user_call(f->conn_fd, m, m);
    if (r < 0) {
        if (r == -EAGAIN)
            return err_set(ETIMEDOUT, "%s: no reply within the exchange's %d ms", vhost_user_request_name(req),
                           VHOST_FRONT_REPLY_MS);
        if (r != -EPROTO && r != -EIO)
            return err_set(-r, "%s: %s", vhost_user_request_name(req), strerror(-r));
        return r; /* vhost_user_call said what was wrong with the reply */
    }
    /* Replies with fds other than GET_INFLIGHT_FD's were refused by vhost_user_recv. */
    return 0;
}

static int call_u64(struct vhost_front *f, uint32_t req, uint64_t v, uint64_t *out)
{
    struct vhost_user_msg m;
    if (out)
        vhost_user_msg_init(&m, req, 0);
    else
        vhost_user_msg_u64(&m, req, v);
    int r = call(f, &m);
    if (r == 0 && out) {
        if (m.hdr.size != sizeof(uint64_t))
            return err_set(EPROTO, "%s: reply of %u bytes, expected 8", vhost_user_request_name(req), m.hdr.size);
        *out = m.payload.u64;
    }
    return r;
}

static int call_state(struct vhost_front *f, uint32_t req, uint32_t index, uint32_t num)
{
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, req, index, num);
    return call(f, &m);
}

/* SET_VRING_KICK / SET_VRING_CALL with the transport's eventfd (it stays ours: the message
 * carries a copy in the backend's process). */
static int call_fd(struct vhost_front *f, uint32_t req, unsigned index, int fd)
{
    struct vhost_user_msg m;
    vhost_user_msg_u64(&m, req, index & VHOST_USER_VRING_IDX_MASK);
    m.fds[0] = fd;
    m.nfds = 1;
    int r = call(f, &m);
    return r;
}

/* io_lock held, protocol features set: a multi-queue device needs a backend that serves
 * all of its queues (the spec: GET_QUEUE_NUM only with PROTOCOL_F_MQ). */
static int check_queue_num(struct vhost_front *f)
{
    if (!has_protocol(f, VHOST_USER_PROTOCOL_F_MQ))
        return err_set(EPROTO, "the device has %u queues and the backend does not offer PROTOCOL_F_MQ", f->mq_queues);
    uint64_t n;
    int r = call_u64(f, VHOST_USER_GET_QUEUE_NUM, 0, &n);
    if (r < 0)
        return r;
    if (n < f->mq_queues)
        return err_set(EPROTO, "the device has %u queues and the backend serves %llu", f->mq_queues,
                       (unsigned long long)n);
    return 0;
}

/* io_lock held, a fresh connection: learn what the backend speaks and become its owner. */
static int negotiate(struct vhost_front *f)
{
    int r;
    if ((r = call_u64(f, VHOST_USER_GET_FEATURES, 0, &f->backend_features)) < 0)
        return r;
    if (!(f->backend_features & (1ULL << VU_F_VERSION_1)))
        return err_set(EPROTO, "backend features 0x%llx lack VIRTIO_F_VERSION_1",
                       (unsigned long long)f->backend_features);
    f->protocol_features = 0;
    if (f->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
        uint64_t theirs;
        if ((r = call_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, 0, &theirs)) < 0)
            return r;
        uint64_t want = theirs & FRONT_PROTOCOL_FEATURES;
        if (f->mq_queues > 1)
            want |= theirs & (1ULL << VHOST_USER_PROTOCOL_F_MQ);
        /* Before SET_PROTOCOL_FEATURES nothing is acked: protocol_features is still 0. */
        if ((r = call_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, want, NULL)) < 0)
            return r;
        f->protocol_features = want;
    }
    if (f->mq_queues > 1 && (r = check_queue_num(f)) < 0)
        return r;
    if (!has_protocol(f, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) && !f->ops->redo_from_used)
        log_warn("%s: backend lacks INFLIGHT_SHMFD: after it restarts, frames it had taken may be lost or repeated",
                 f->name);
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_SET_OWNER, 0); /* no payload */
    return call(f, &m);
}

/* The front end's address of a guest-physical range (vring addresses travel as these). */
static uint64_t user_addr(const struct vhost_front *f, uint64_t gpa, uint64_t len)
{
    return (uint64_t)(uintptr_t)guest_mem_ptr(f->mem, gpa, len);
}

/* The used index the driver has seen published: where the next backend starts. */
static uint16_t used_idx(const struct vhost_front *f, const struct vhost_front_ring *ring)
{
    const uint16_t *p = guest_mem_ptr(f->mem, ring->used + 2, 2);
    return p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : 0;
}

static int set_mem_table(struct vhost_front *f)
{
    struct vhost_user_msg m;
    /* After a lazy restore the memfd fills while the guest runs, but only through our own
     * mapping (userfaultfd): the backend's mapping of a page not filled yet would read zero.
     * Hand the memory over once it is all in (docs/snapshot-format.md). */
    int r = guest_mem_wait_populated(f->mem, -1);
    if (r < 0)
        return err_set(-r, "virtio-net: guest memory is not restored (%s); not handing it to the backend",
                       strerror(-r));
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    struct vhost_user_mem_table *t = &m.payload.memory;
    t->nregions = f->mem->nranges;
    for (unsigned i = 0; i < f->mem->nranges; i++) {
        const struct guest_range *g = &f->mem->ranges[i];
        t->regions[i] =
            (struct vhost_user_mem_region){.guest_phys_addr = g->gpa,
                                           .memory_size = g->size,
                                           .userspace_addr = (uint64_t)(uintptr_t)(f->mem->host + g->offset),
                                           .mmap_offset = g->offset};
        m.fds[i] = f->mem->fd;
    }
    m.nfds = f->mem->nranges;
    m.hdr.size = (uint32_t)(offsetof(struct vhost_user_mem_table, regions) +
                            f->mem->nranges * sizeof(struct vhost_user_mem_region));
    return call(f, &m);
}

/* SET_LOG_BASE: the log's memfd, all of it; the backend's empty reply says it is in use. */
static int set_log_base(struct vhost_front *f)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_SET_LOG_BASE, 0);
    m.payload.log = (struct vhost_user_log){.mmap_size = f->log.size, .mmap_offset = 0};
    m.hdr.size = sizeof(m.payload.log);
    m.fds[0] = f->log.fd;
    m.nfds = 1;
    return call(f, &m);
}

/* GET_INFLIGHT_FD once per driver setup; the fd then outlives connections. */
static int get_inflight(struct vhost_front *f, unsigned nrings)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
    m.payload.inflight =
        (struct vhost_user_inflight){.num_queues = (uint16_t)nrings, .queue_size = (uint16_t)f->queue_size};
    m.hdr.size = sizeof(m.payload.inflight);
    int r = call(f, &m);
    if (r < 0)
        return r;
    const struct vhost_user_inflight *in = &m.payload.inflight;
    struct stat st;
    if (m.hdr.size != sizeof(*in) || m.nfds != 1) {
        vhost_user_msg_close_fds(&m);
        return err_set(EPROTO, "GET_INFLIGHT_FD: reply of %u bytes with %u fds (expected 24 bytes and 1 fd)",
                       m.hdr.size, m.nfds);
    }
    if (in->mmap_size == 0 || in->mmap_size > INFLIGHT_MAX_BYTES || in->mmap_offset > INFLIGHT_MAX_BYTES ||
        fstat(m.fds[0], &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < in->mmap_offset + in->mmap_size) {
        close(m.fds[0]);
        return err_set(EPROTO, "GET_INFLIGHT_FD: a region of %llu bytes at %llu that the fd does not hold",
                       (unsigned long long)in->mmap_size, (unsigned long long)in->mmap_offset);
    }
    f->inflight_fd = m.fds[0];
    f->inflight_size = in->mmap_size;
    f->inflight_offset = in->mmap_offset;
    f->inflight_queues = (uint16_t)nrings;
    f->inflight_queue_size = (uint16_t)f->queue_size;
    return 0;
}

static int set_inflight(struct vhost_front *f)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, 0);
    m.payload.inflight = (struct vhost_user_inflight){.mmap_size = f->inflight_size,
                                                      .mmap_offset = f->inflight_offset,
                                                      .num_queues = f->inflight_queues,
                                                      .queue_size = f->inflight_queue_size};
    m.hdr.size = sizeof(m.payload.inflight);
    m.fds[0] = f->inflight_fd;
    m.nfds = 1;
    return call(f, &m);
}

/* io_lock held, connected, rings not started: give the backend the driver's rings. */
static int hand_over(struct vhost_front *f, const struct vhost_front_rings *rs)
{
    int r;
    uint64_t needed = rs->features & ~f->ops->own_features;
    if (needed & ~f->backend_features)
        return err_set(EPROTO, "the driver uses features 0x%llx the backend does not offer",
                       (unsigned long long)(needed & ~f->backend_features));
    uint64_t features = needed | (f->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES));
    f->hand_features = features;
    /* From the first ring message on the backend may write the used rings (drop_connection). */
    for (unsigned q = 0; q < rs->nrings; q++)
        f->log_used[q] = (struct vhost_front_range){.gpa = rs->ring[q].used, .len = vu_used_bytes(rs->ring[q].num)};
    f->log_rings = rs->nrings;
    if (f->logging)
        features |= 1ULL << VU_F_LOG_ALL; /* try_hand_over checked can_log */
    if ((r = call_u64(f, VHOST_USER_SET_FEATURES, features, NULL)) < 0 || (r = set_mem_table(f)) < 0 ||
        (f->logging && (r = set_log_base(f)) < 0))
        return r;
    if (has_protocol(f, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) {
        if (f->inflight_fd < 0 && (r = get_inflight(f, rs->nrings)) < 0)
            return r;
        if ((r = set_inflight(f)) < 0)
            return r;
    }
    for (unsigned q = 0; q < rs->nrings; q++) {
        const struct vhost_front_ring *ring = &rs->ring[q];
        struct vhost_user_msg m;
        vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
        /* The transport checked that each part lies in RAM (virtq_setup). */
        m.payload.addr =
            (struct vhost_user_vring_addr){.index = q,
                                           .desc_user_addr = user_addr(f, ring->desc, vu_desc_bytes(ring->num)),
                                           .avail_user_addr = user_addr(f, ring->avail, vu_avail_bytes(ring->num)),
                                           .used_user_addr = user_addr(f, ring->used, vu_used_bytes(ring->num))};
        m.hdr.size = sizeof(m.payload.addr);
        if (!m.payload.addr.desc_user_addr || !m.payload.addr.avail_user_addr || !m.payload.addr.used_user_addr)
            return err_set(EINVAL, "ring %u is not in guest RAM", q);
        uint16_t base = used_idx(f, ring);
        if ((r = call_state(f, VHOST_USER_SET_VRING_NUM, q, ring->num)) < 0 || (r = call(f, &m)) < 0 ||
            (r = call_state(f, VHOST_USER_SET_VRING_BASE, q, base)) < 0 ||
            (r = call_fd(f, VHOST_USER_SET_VRING_CALL, q, ring->call_fd)) < 0 ||
            (r = call_fd(f, VHOST_USER_SET_VRING_KICK, q, ring->kick_fd)) < 0)
            return r;
        if ((f->backend_features & (1ULL << VU_F_PROTOCOL_FEATURES)) &&
            (r = call_state(f, VHOST_USER_SET_VRING_ENABLE, q, 1)) < 0)
            return r;
    }
    /* Buffers posted while no backend ran (or kicks its predecessor took with it): make it
     * look at every ring once. */
    for (unsigned q = 0; q < rs->nrings; q++) {
        uint64_t one = 1;
        if (write(rs->ring[q].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("%s: kick ring %u: %s", f->name, q, strerror(errno));
    }
    f->started = true;
    f->started_rings = rs->nrings;
    bump(&f->stats.handovers);
    return 0;
}

/* The thread: the rings, if the driver runs the device, to the connected backend. */
static void try_hand_over(struct vhost_front *f)
{
    struct vhost_front_rings rs;
    uint64_t gen = __atomic_load_n(&f->reset_gen, __ATOMIC_ACQUIRE);
    if (!f->ops->rings(f->opaque, &rs))
        return;
    pthread_mutex_lock(&f->io_lock);
    /* A reset between the look at the device and here makes that look stale; a driver that
     * set DRIVER_OK again has asked for another attempt (want_setup). */
    /* While the dirty log is on, a backend that cannot log does not get the rings: its
     * writes would reach the destination stale. They wait for vhost_front_log_stop. */
    if (f->conn_fd >= 0 && !f->started && !f->held && (!f->logging || can_log(f)) &&
        gen == __atomic_load_n(&f->reset_gen, __ATOMIC_ACQUIRE)) {
        begin_exchange(f);
        if (hand_over(f, &rs) < 0)
            drop_connection(f, true, err_msg());
        else
            log_info("%s: rings handed to the backend (%u ring(s), used indices %u %u%s)%s", f->name, rs.nrings,
                     used_idx(f, &rs.ring[0]), rs.nrings > 1 ? used_idx(f, &rs.ring[1]) : 0,
                     rs.nrings > 2 ? " ..." : "", f->logging ? ", dirty log on" : "");
    }
    pthread_mutex_unlock(&f->io_lock);
}

static void accept_backend(struct vhost_front *f)
{
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warn("%s: accept on %s: %s", f->name, f->path, strerror(errno));
        return;
    }
    pthread_mutex_lock(&f->io_lock);
    if (f->conn_fd >= 0) {
        /* One backend per device: the one we have is alive (its end is still open). */
        pthread_mutex_unlock(&f->io_lock);
        log_warn("%s: a second backend connected while one is serving the device; refused", f->name);
        close(fd);
        return;
    }
    f->conn_fd = fd;
    bump(&f->stats.connects);
    begin_exchange(f);
    if (negotiate(f) < 0)
        drop_connection(f, true, err_msg());
    else
        log_info("%s: backend connected (features 0x%llx, protocol 0x%llx)", f->name,
                 (unsigned long long)f->backend_features, (unsigned long long)f->protocol_features);
    pthread_mutex_unlock(&f->io_lock);
    try_hand_over(f);
}

/* The connection polled readable: the backend closed it, or sent something unasked (it
 * has no reason to: requests from the backend need a channel we never set up). A reply
 * that vhost_front_reset already took also wakes us: then nothing is left to read. */
static void check_connection(struct vhost_front *f)
{
    pthread_mutex_lock(&f->io_lock);
    if (f->conn_fd >= 0) {
        struct pollfd p = {.fd = f->conn_fd, .events = POLLIN};
        char c;
        if (poll(&p, 1, 0) > 0) {
            ssize_t n = recv(f->conn_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (p.revents & (POLLHUP | POLLERR)))
                drop_connection(f, false, "connection closed");
            else if (n > 0)
                drop_connection(f, true, "it sent a message nobody asked for");
            else if (errno != EAGAIN && errno != EINTR)
                drop_connection(f, false, strerror(errno));
        }
    }
    pthread_mutex_unlock(&f->io_lock);
}

static void *front_thread(void *opaque)
{
    thread_kind_enter(THREAD_VHOST_FRONT, "vhost-front");
    struct vhost_front *f = opaque;
    for (;;) {
        pthread_mutex_lock(&f->io_lock);
        int conn = f->conn_fd;
        pthread_mutex_unlock(&f->io_lock);
        struct pollfd p[3] = {{.fd = f->wake_fd, .events = POLLIN},
                              {.fd = f->listen_fd, .events = POLLIN},
                              {.fd = conn, .events = POLLIN}};
        if (poll(p, conn >= 0 ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("%s: front end: poll: %s", f->name, strerror(errno));
            return NULL;
        }
        if (p[0].revents) {
            uint64_t v;
            if (read(f->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("%s: front end: %s", f->name, strerror(errno));
            if (__atomic_load_n(&f->stopping, __ATOMIC_ACQUIRE))
                return NULL;
        }
        /* A dead connection first, so that its successor, if already waiting, is taken. */
        if (conn >= 0 && p[2].revents)
            check_connection(f);
        if (p[1].revents)
            accept_backend(f);
        if (__atomic_exchange_n(&f->want_setup, false, __ATOMIC_ACQ_REL))
            try_hand_over(f);
    }
}

/* Whether `path` names an entry directly in `dir` (the monitor's run directory). */
static bool in_dir(const char *path, const char *dir)
{
    size_t n = dir ? strlen(dir) : 0;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n && strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/');
}

static int listen_on(struct vhost_front *f, const char *path, const char *own_dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(ENAMETOOLONG, "%s: socket path %s is longer than %zu bytes", f->name, path,
                       sizeof(sa.sun_path) - 1);
    strcpy(sa.sun_path, path);
    struct stat st;
    /* The monitor (often root) removes nothing it did not create. The one exception is a
     * socket in its own run directory: that directory is 0700 and locked by this monitor
     * (run_dir.c), so a socket there was left by an earlier monitor of the same domain. Any
     * other file, socket or not (the API socket of xenod, another domain's), is not ours. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || !in_dir(path, own_dir))
            return err_set(EEXIST,
                           "%s: %s already exists; the monitor replaces only a socket in its own run directory "
                           "and removes nothing else: remove it yourself if it is stale, or choose another path",
                           f->name, path);
        if (unlink(path) < 0 && errno != ENOENT)
            return err_set(errno, "%s: removing the old socket %s: %s", f->name, path, strerror(errno));
    }
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (f->listen_fd < 0)
        return err_set(errno, "%s: socket: %s", f->name, strerror(errno));
    /* Born 0600 (no chmod by path afterwards, which would follow a link put there). bind()
     * never replaces an existing file: one that appeared since the lstat fails here. */
    mode_t old = umask(0177);
    int r = bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0)
        return err_set(errno, "%s: cannot listen on %s: %s", f->name, path, strerror(errno));
    /* What we created, so that destroy removes this file and not one put in its place. */
    if (lstat(path, &st) == 0) {
        f->sock_dev = st.st_dev;
        f->sock_ino = st.st_ino;
    }
    f->listening = true;
    if (listen(f->listen_fd, 4) < 0)
        return err_set(errno, "%s: %s: %s", f->name, path, strerror(errno));
    return 0;
}

int vhost_front_init(struct vhost_front *f, const char *name, const char *path, const char *own_dir,
                     const struct guest_mem *mem, unsigned queue_size, const struct vhost_front_ops *ops, void *opaque)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->mem = mem;
    f->queue_size = queue_size;
    f->ops = ops;
    f->opaque = opaque;
    f->listen_fd = f->wake_fd = f->conn_fd = f->inflight_fd = f->log.fd = -1;
    pthread_mutex_init(&f->io_lock, NULL);
    f->initialized = true;
    if (!path || !*path)
        return err_set(EINVAL, "%s: no socket path for the vhost-user backend", name);
    int r = listen_on(f, path, own_dir);
    if (r < 0)
        return r;
    f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->wake_fd < 0)
        return err_set(errno, "%s: eventfd: %s", name, strerror(errno));
    /* Without a log the domain still runs; a migration then holds the rings instead. */
    if (mem && vhost_front_log_init(&f->log, mem) < 0) {
        log_warn("%s: %s; a migration will hold the rings instead", name, err_msg());
        vhost_front_log_destroy(&f->log);
    }
    return 0;
}

void vhost_front_require_queues(struct vhost_front *f, unsigned n)
{
    f->mq_queues = n;
}

int vhost_front_start(struct vhost_front *f)
{
    /* The thread must not take the monitor's signals (signalfd, the vCPU kick). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    int e = thread_attr_init_sized(&attr);
    if (e == 0) {
        e = pthread_create(&f->thread, &attr, front_thread, f);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return err_set(e, "%s: creating the vhost-user thread: %s", f->name, strerror(e));
    f->thread_started = 1;
    return 0;
}

void vhost_front_driver_ok(struct vhost_front *f)
{
    uint64_t one = 1;
    __atomic_store_n(&f->want_setup, true, __ATOMIC_RELEASE);
    if (f->wake_fd >= 0 && write(f->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("%s: front end wakeup: %s", f->name, strerror(errno));
}

/* io_lock held: GET_VRING_BASE on every ring stops it in the backend (the spec's "ring
 * stopped" state); the returned index is of no use to a driver that reset. */
static void stop_rings(struct vhost_front *f)
{
    if (f->conn_fd < 0 || !f->started)
        return;
    begin_exchange(f);
    for (uint32_t q = 0; q < f->started_rings; q++) {
        struct vhost_user_msg m;
        vhost_user_msg_state(&m, VHOST_USER_GET_VRING_BASE, q, 0);
        if (call(f, &m) < 0) {
            drop_connection(f, true, err_msg());
            return;
        }
    }
    f->started = false;
}

int vhost_front_hold(struct vhost_front *f)
{
    if (!f->initialized)
        return 0;
    pthread_mutex_lock(&f->io_lock);
    f->held = true;
    bool was = f->conn_fd >= 0 && f->started;
    stop_rings(f);
    /* stop_rings drops the connection when the backend failed to answer: then it may still
     * be completing requests into guest memory, and nothing may be captured now. */
    int r = 0;
    if (was && f->conn_fd < 0)
        r = err_set(ETIMEDOUT, "%s: the backend did not stop its rings (%s)", f->name, err_msg());
    pthread_mutex_unlock(&f->io_lock);
    if (r == 0 && was)
        log_info("%s: rings taken back from the backend (held)", f->name);
    return r;
}

void vhost_front_release(struct vhost_front *f)
{
    if (!f->initialized)
        return;
    pthread_mutex_lock(&f->io_lock);
    bool was = f->held;
    f->held = false;
    pthread_mutex_unlock(&f->io_lock);
    if (was)
        vhost_front_driver_ok(f); /* the thread hands the rings over if the driver runs the device */
}

int vhost_front_log_start(struct vhost_front *f)
{
    if (!f->initialized)
        return 0;
    pthread_mutex_lock(&f->io_lock);
    int r = 0;
    if (f->log.fd < 0)
        r = err_set(EOPNOTSUPP, "%s: no dirty log (it could not be made)", f->name);
    else if (f->conn_fd >= 0 && !can_log(f))
        r = err_set(EOPNOTSUPP, "%s: the backend does not keep a dirty log (features 0x%llx, protocol 0x%llx)", f->name,
                    (unsigned long long)f->backend_features, (unsigned long long)f->protocol_features);
    if (r == 0)
        f->logging = true;
    if (r == 0 && f->conn_fd >= 0 && f->started) {
        begin_exchange(f);
        if ((r = set_log_base(f)) < 0 ||
            (r = call_u64(f, VHOST_USER_SET_FEATURES, f->hand_features | (1ULL << VU_F_LOG_ALL), NULL)) < 0) {
            /* It may be writing unlogged: drop it; the next backend gets the log with the rings.
             * The reason copied first: err_set() must not read the message it is replacing. */
            char why[256];
            snprintf(why, sizeof(why), "%s", err_msg());
            drop_connection(f, true, why);
            r = err_set(-r == ETIMEDOUT ? ETIMEDOUT : EPROTO, "%s: the backend did not start its dirty log: %s",
                        f->name, why);
            f->logging = false; /* the caller holds the rings instead */
        }
    }
    pthread_mutex_unlock(&f->io_lock);
    if (r == 0)
        log_info("%s: dirty log on", f->name);
    return r;
}

uint64_t vhost_front_log_take(struct vhost_front *f, uint64_t *out, uint64_t npages)
{
    return f->initialized ? vhost_front_log_collect(&f->log, f->mem, out, npages) : 0;
}

void vhost_front_log_stop(struct vhost_front *f)
{
    if (!f->initialized)
        return;
    pthread_mutex_lock(&f->io_lock);
    bool was = f->logging;
    f->logging = false;
    if (was && f->conn_fd >= 0 && f->started) {
        begin_exchange(f);
        if (call_u64(f, VHOST_USER_SET_FEATURES, f->hand_features, NULL) < 0)
            drop_connection(f, true, err_msg());
    }
    pthread_mutex_unlock(&f->io_lock);
    if (was)
        vhost_front_driver_ok(f); /* a backend that could not log may take the rings now */
}

void vhost_front_reset(struct vhost_front *f)
{
    if (!f->initialized)
        return;
    pthread_mutex_lock(&f->io_lock);
    __atomic_add_fetch(&f->reset_gen, 1, __ATOMIC_ACQ_REL);
    stop_rings(f);
    if (f->inflight_fd >= 0)
        close(f->inflight_fd);
    f->inflight_fd = -1;
    pthread_mutex_unlock(&f->io_lock);
}

void vhost_front_destroy(struct vhost_front *f)
{
    if (!f->initialized)
        return;
    if (f->thread_started) {
        uint64_t one = 1;
        __atomic_store_n(&f->stopping, 1, __ATOMIC_RELEASE);
        if (write(f->wake_fd, &one, sizeof(one)) < 0)
            log_warn("%s: stopping the front end: %s", f->name, strerror(errno));
        pthread_join(f->thread, NULL);
        f->thread_started = 0;
    }
    pthread_mutex_lock(&f->io_lock);
    stop_rings(f);
    if (f->conn_fd >= 0)
        close(f->conn_fd);
    f->conn_fd = -1;
    if (f->inflight_fd >= 0)
        close(f->inflight_fd);
    f->inflight_fd = -1;
    pthread_mutex_unlock(&f->io_lock);
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    struct stat st;
    if (f->listening && lstat(f->path, &st) == 0 && st.st_dev == f->sock_dev && st.st_ino == f->sock_ino) {
        unlink(f->path);
        f->listening = false;
    }
    if (f->wake_fd >= 0)
        close(f->wake_fd);
    f->listen_fd = f->wake_fd = -1;
    vhost_front_log_destroy(&f->log);
    pthread_mutex_destroy(&f->io_lock);
    f->initialized = false;
}

void vhost_front_get_stats(struct vhost_front *f, struct vhost_front_stats *out, bool *connected)
{
    out->connects = __atomic_load_n(&f->stats.connects, __ATOMIC_RELAXED);
    out->disconnects = __atomic_load_n(&f->stats.disconnects, __ATOMIC_RELAXED);
    out->handovers = __atomic_load_n(&f->stats.handovers, __ATOMIC_RELAXED);
    out->protocol_errors = __atomic_load_n(&f->stats.protocol_errors, __ATOMIC_RELAXED);
    if (connected)
        *connected = out->connects > out->disconnects;
}
