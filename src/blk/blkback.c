/* xeno-blkback's disks and their vhost-user connections (blkback.h); the request path is
 * blk_queue.c. */
#include "blk/blkback.h"

#include "blk/blk_config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t blk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- hooks from vu_dev ---- */

static void ring_started(struct vu_dev *dev, unsigned q)
{
    blk_queue_start(blk_disk_of_dev(dev), q);
}

static void ring_stopping(struct vu_dev *dev, unsigned q)
{
    blk_queue_stop(blk_disk_of_dev(dev), q);
}

/* The connection is gone (its rings stopped first): its region goes with it; the front end
 * hands it to the next connection. */
static void conn_reset(struct vu_dev *dev)
{
    blk_inflight_detach(blk_disk_of_dev(dev));
}

/* What a disk offers: version 1, flush, discard and write-zeroes, the segment and size
 * limits the monitor's config space states, read-only where configured, several queues where
 * configured, the event index (vring.h), the inflight region (blk_inflight.c: requests are
 * published as they complete, blkback.h "Restarts"). No indirect descriptors. */
static void disk_class(struct blk_disk *d)
{
    uint64_t f = (1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
                 (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH);
    if (d->cfg.readonly)
        f |= 1ull << VIRTIO_BLK_F_RO;
    else
        f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    if (d->cfg.queues > 1)
        f |= 1ull << VIRTIO_BLK_F_MQ;
    f |= 1ull << VU_F_EVENT_IDX; /* vring.c: calls only when the driver asks, kicks likewise */
    d->cls = (struct vu_dev_class){
        .kind = "disk",
        .features = f,
        .protocol_features = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_MQ) |
                             (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
        .nq = d->cfg.queues,
        .ring_started = ring_started,
        .ring_stopping = ring_stopping,
        .inflight_get = blk_inflight_get,
        .inflight_set = blk_inflight_set,
        .reset = conn_reset,
        .get_config = blk_config_get, /* offers PROTOCOL_F_CONFIG: stock front ends ask for it */
        .config_size = BLK_CONFIG_SIZE,
    };
}

/* ---- the epoll set: what an event names ---- */

#define EV_RING 0ull /* io_uring's completions; a disk's socket is the disk | EV_SOCK, a kick the queue */
#define EV_SOCK 1ull

static void watch(struct blkback *bb, int fd, uint64_t what, const char *name)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = what};
    if (epoll_ctl(bb->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        log_warn("%s: epoll_ctl: %s", name, strerror(errno)); /* ENOMEM/ENOSPC: the limits of epoll */
}

static void unwatch(struct blkback *bb, int fd)
{
    if (fd >= 0)
        epoll_ctl(bb->epfd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT when watch failed: nothing to undo */
}

void blk_watch_kick(struct blk_queue *q, bool on)
{
    struct blk_disk *d = q->disk;
    int fd = d->dev.vq[q->index].kick_fd;
    if (on)
        watch(d->bb, fd, (uint64_t)(uintptr_t)q, d->cfg.name);
    else
        unwatch(d->bb, fd);
}

/* ---- connections ---- */

static void disk_disconnect(struct blk_disk *d, const char *why)
{
    if (d->sock < 0)
        return;
    vu_dev_reset(&d->dev); /* stops the rings: their requests finish first */
    unwatch(d->bb, d->sock);
    close(d->sock);
    d->sock = -1;
    log_info("disk %s: disconnected from %s: %s", d->cfg.name, d->cfg.socket, why);
    /* A connection that served a while comes back fast; one closed at once (a front end that
     * refuses us: another backend serves it) goes on with the growing back-off. */
    uint64_t now = blk_now_ns();
    if (now - d->connected_at_ns >= (uint64_t)BLK_RECONNECT_MAX_MS * 1000000ull)
        d->backoff_ms = BLK_RECONNECT_MIN_MS;
    d->retry_at_ns = now + (uint64_t)d->backoff_ms * 1000000ull;
    d->backoff_ms = d->backoff_ms * 2 > BLK_RECONNECT_MAX_MS ? BLK_RECONNECT_MAX_MS : d->backoff_ms * 2;
    if (d->retry_at_ns < d->bb->next_retry_ns)
        d->bb->next_retry_ns = d->retry_at_ns;
}

static void disk_try_connect(struct blk_disk *d, uint64_t now)
{
    int s = unix_connect(d->cfg.socket, 0);
    if (s < 0 || vhost_user_set_timeout(s, BLK_SOCKET_TIMEOUT_MS) < 0) {
        if (s >= 0)
            close(s);
        d->retry_at_ns = now + (uint64_t)d->backoff_ms * 1000000ull;
        d->backoff_ms = d->backoff_ms * 2 > BLK_RECONNECT_MAX_MS ? BLK_RECONNECT_MAX_MS : d->backoff_ms * 2;
        return;
    }
    d->sock = s;
    d->connects++;
    d->connected_at_ns = now;
    watch(d->bb, s, (uint64_t)(uintptr_t)d | EV_SOCK, d->cfg.name);
    log_info("disk %s: connected to %s", d->cfg.name, d->cfg.socket);
}

static void disk_read(struct blk_disk *d)
{
    struct vhost_user_msg *m = malloc(sizeof(*m));
    if (!m) {
        disk_disconnect(d, "out of memory");
        return;
    }
    int rc = vhost_user_recv(d->sock, m, false);
    if (rc == 0)
        rc = vu_dev_handle(&d->dev, d->sock, m);
    if (rc < 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", err_msg());
        disk_disconnect(d, why);
    }
    free(m);
}

/* ---- public ---- */

int blkback_init(struct blkback *bb, int image_dirfd)
{
    memset(bb, 0, sizeof(*bb));
    bb->dirfd = image_dirfd;
    bb->next_retry_ns = UINT64_MAX;
    bb->submit_batch = BLK_SUBMIT_BATCH_DEFAULT;
    bb->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (bb->epfd < 0)
        return err_set(errno, "epoll_create1: %s", strerror(errno));
    for (unsigned i = 0; i < BLK_OVL_OPS; i++)
        bb->ovl_op[i].next_free = i + 1 < BLK_OVL_OPS ? &bb->ovl_op[i + 1] : NULL;
    bb->ovl_free = &bb->ovl_op[0];
    /* The ring starts disabled so that it can be restricted before any SQE: only the opcodes
     * the backend prepares, and no register operation at all afterwards (the seccomp filter
     * does not allow io_uring_register either). A compromised backend cannot turn the ring
     * into a way around the sandbox's calls (no OPENAT, CONNECT, ...). */
    int rc = io_uring_queue_init(BLK_URING_ENTRIES, &bb->ring, IORING_SETUP_R_DISABLED);
    if (rc < 0) {
        close(bb->epfd);
        return err_set(-rc, "io_uring_queue_init: %s", strerror(-rc));
    }
    static const uint8_t ops[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE};
    struct io_uring_restriction res[sizeof(ops)];
    memset(res, 0, sizeof(res));
    for (unsigned i = 0; i < sizeof(ops); i++)
        res[i] = (struct io_uring_restriction){.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = ops[i]};
    /* The raw call: liburing 2.3 declares io_uring_register_restrictions but does not export it. */
    int fd = bb->ring.ring_fd;
    if (syscall(SYS_io_uring_register, fd, IORING_REGISTER_RESTRICTIONS, res, (unsigned)sizeof(ops)) < 0 ||
        syscall(SYS_io_uring_register, fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
        int e = errno;
        io_uring_queue_exit(&bb->ring);
        close(bb->epfd);
        return err_set(e, "io_uring restrictions: %s", strerror(e));
    }
    if ((rc = blkback_set_device(bb, NULL, 0)) < 0) {
        io_uring_queue_exit(&bb->ring);
        close(bb->epfd);
        return rc;
    }
    watch(bb, fd, EV_RING, "io_uring");
    return 0;
}

void blkback_fini(struct blkback *bb)
{
    /* Every disk stops before any is freed: stopping one runs the I/O loop, which visits them all. */
    for (unsigned i = 0; i < bb->ndisks; i++)
        disk_disconnect(bb->disk[i], "stopping");
    for (unsigned i = 0; i < bb->ndisks; i++) {
        struct blk_disk *d = bb->disk[i];
        blk_sched_detach(d);
        blk_image_close(&d->img);
        free(d);
    }
    bb->ndisks = 0;
    io_uring_queue_exit(&bb->ring);
    close(bb->epfd);
    blk_iosched_destroy(bb->sched);
    bb->sched = NULL;
    if (bb->dirfd >= 0)
        close(bb->dirfd);
}

int blkback_disk_add(struct blkback *bb, const struct blk_disk_config *cfg)
{
    if (bb->ndisks == BLK_MAX_DISKS)
        return err_set(ENOSPC, "disk %s: at most %u disks", cfg->name, BLK_MAX_DISKS);
    if (cfg->queues < 1 || cfg->queues > BLK_MAX_QUEUES)
        return err_set(EINVAL, "disk %s: %u queues (1..%u)", cfg->name, cfg->queues, BLK_MAX_QUEUES);
    for (unsigned i = 0; i < bb->ndisks; i++)
        if (!strcmp(bb->disk[i]->cfg.name, cfg->name) || !strcmp(bb->disk[i]->cfg.socket, cfg->socket))
            return err_set(EEXIST, "disk %s: the name or socket of disk %s", cfg->name, bb->disk[i]->cfg.name);
    struct blk_disk *d = calloc(1, sizeof(*d));
    if (!d)
        return err_set(ENOMEM, "disk %s: out of memory", cfg->name);
    d->bb = bb;
    d->cfg = *cfg;
    struct timespec added;
    clock_gettime(CLOCK_REALTIME, &added);
    d->added_ns = (uint64_t)added.tv_sec * 1000000000ull + (uint64_t)added.tv_nsec;
    int rc = blk_image_open_any(&d->img, bb->dirfd, cfg->file, cfg->readonly);
    if (rc < 0) {
        free(d);
        return err_wrap(-rc, "disk %s", cfg->name);
    }
    if ((rc = blk_sched_attach(d)) < 0) {
        blk_image_close(&d->img);
        free(d);
        return rc;
    }
    d->info.sectors = d->img.size / VIRTIO_BLK_SECTOR;
    d->info.readonly = cfg->readonly;
    memcpy(d->info.serial, cfg->serial, sizeof(d->info.serial));
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++)
        d->q[q] = (struct blk_queue){.disk = d, .index = q};
    disk_class(d);
    vu_dev_init(&d->dev, d->cfg.name, &d->cls);
    d->sock = -1;
    d->backoff_ms = BLK_RECONNECT_MIN_MS;
    bb->next_retry_ns = 0; /* connects at the next turn */
    bb->disk[bb->ndisks++] = d;
    log_info("disk %s: image %s (%llu sectors%s%s), socket %s", cfg->name, cfg->file,
             (unsigned long long)d->info.sectors, cfg->readonly ? ", read-only" : "",
             d->img.ovl              ? ", overlay"
             : d->img.direct_fd >= 0 ? ", O_DIRECT"
                                     : ", buffered: the file system refused O_DIRECT",
             cfg->socket);
    return 0;
}

struct blk_disk *blkback_disk_find(struct blkback *bb, const char *name)
{
    for (unsigned i = 0; i < bb->ndisks; i++)
        if (!strcmp(bb->disk[i]->cfg.name, name))
            return bb->disk[i];
    return NULL;
}

int blkback_update_disk(struct blkback *bb, const struct blk_disk_config *cfg)
{
    struct blk_disk *d = blkback_disk_find(bb, cfg->name);
    if (!d)
        return err_set(ENOENT, "disk %s: no such disk", cfg->name);
    const struct blk_disk_config *old = &d->cfg;
    if (strcmp(old->socket, cfg->socket) != 0 || strcmp(old->file, cfg->file) != 0)
        return err_set(EEXIST, "disk %s: the name is taken by the disk of %s on %s; remove it first", cfg->name,
                       old->file, old->socket);
    /* What the guest negotiated or reads at start cannot move under it: the RO feature bit,
     * the GET_ID answer, the number of queues. */
    const char *what = old->readonly != cfg->readonly          ? "readonly"
                       : strcmp(old->serial, cfg->serial) != 0 ? "serial"
                       : old->queues != cfg->queues            ? "queues"
                                                               : NULL;
    if (what)
        return err_set(EBUSY, "disk %s: %s cannot change while it is served; remove the disk and add it again",
                       cfg->name, what);
    /* The QoS words are the whole setting (`xenctl disk-qos`): in force at once, or refused
     * (admission, group rules) with the old one kept. */
    return blkback_set_qos(bb, cfg->name, &cfg->qos);
}

int blkback_disk_remove(struct blkback *bb, const char *name)
{
    for (unsigned i = 0; i < bb->ndisks; i++) {
        struct blk_disk *d = bb->disk[i];
        if (strcmp(d->cfg.name, name) != 0)
            continue;
        /* The rings stop first (their requests complete and are published), so nothing in
         * the dispatch queue or io_uring points at this disk when it is freed. */
        disk_disconnect(d, "removed");
        blk_image_close(&d->img);
        log_info("disk %s: removed (image %s)", d->cfg.name, d->cfg.file);
        free(d);
        memmove(&bb->disk[i], &bb->disk[i + 1], (bb->ndisks - i - 1) * sizeof(bb->disk[0]));
        bb->ndisks--;
        return 0;
    }
    return err_set(ENOENT, "disk %s: no such disk", name);
}

/* The disks not connected whose time came try again; the next reconnect is remembered, so a
 * turn looks at the disks only when one is due. */
static void reconnect_due(struct blkback *bb, uint64_t now)
{
    if (now < bb->next_retry_ns)
        return;
    bb->next_retry_ns = UINT64_MAX;
    for (unsigned i = 0; i < bb->ndisks; i++) {
        struct blk_disk *d = bb->disk[i];
        if (d->sock < 0 && now >= d->retry_at_ns)
            disk_try_connect(d, now);
        if (d->sock < 0 && d->retry_at_ns < bb->next_retry_ns)
            bb->next_retry_ns = d->retry_at_ns;
    }
}

unsigned blkback_poll_fds(struct blkback *bb, struct pollfd *pfd, unsigned max, int *timeout_ms)
{
    uint64_t now = blk_now_ns();
    reconnect_due(bb, now);
    uint64_t wake = bb->next_retry_ns < bb->sched_retry_at_ns ? bb->next_retry_ns : bb->sched_retry_at_ns;
    if (wake != UINT64_MAX) { /* a reconnect, or a throttled request's time: round up */
        uint64_t ms = wake > now ? (wake - now + 999999) / 1000000ull : 0;
        if (*timeout_ms < 0 || ms < (uint64_t)*timeout_ms)
            *timeout_ms = (int)ms;
    }
    if (!max)
        return 0;
    pfd[0] = (struct pollfd){.fd = bb->epfd, .events = POLLIN};
    return 1;
}

/* At most this many events a turn: the rest wait for the next (the set stays readable). */
#define EVENTS_PER_TURN 256

static void handle_events(struct blkback *bb)
{
    struct epoll_event ev[EVENTS_PER_TURN];
    int n = epoll_wait(bb->epfd, ev, EVENTS_PER_TURN, 0);
    for (int i = 0; i < n; i++) {
        uint64_t what = ev[i].data.u64;
        if (what == EV_RING) /* blk_io_run reaps */
            continue;
        if (what & EV_SOCK) {
            struct blk_disk *d = (struct blk_disk *)(uintptr_t)(what & ~EV_SOCK);
            if (d->sock >= 0) /* an earlier event of this turn may have closed it */
                disk_read(d);
            continue;
        }
        struct blk_queue *q = (struct blk_queue *)(uintptr_t)what;
        struct blk_disk *d = q->disk;
        struct vring *vr = &d->dev.vq[q->index];
        if (d->sock < 0 || !vr->started) /* stopped by an earlier event of this turn */
            continue;
        uint64_t v;
        if (read(vr->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_warn("disk %s queue %u: kick: %s", d->cfg.name, q->index, strerror(errno));
        blk_queue_kick(d, q->index);
    }
}

void blkback_dispatch(struct blkback *bb, const struct pollfd *pfd, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (pfd[i].fd == bb->epfd && pfd[i].revents)
            handle_events(bb);
    blk_io_run(bb, false);
    /* Slots freed by completions let more requests be taken (a ring fuller than its
     * slots waits for them, not for another kick). */
    for (struct blk_queue *q = bb->live; q; q = q->live_next) {
        struct vring *vr = &q->disk->dev.vq[q->index];
        if (vr->started && vring_avail_pending(vr))
            blk_queue_kick(q->disk, q->index);
    }
    blk_io_run(bb, false);
}

void blkback_stats(const struct blkback *bb, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < bb->ndisks && off < len; i++) {
        const struct blk_disk *d = bb->disk[i];
        const struct blk_stats *s = &d->st;
        uint64_t ring_errors = 0, throttled_ns = 0;
        struct blk_iosched_stats is;
        if (blk_iosched_queue_stats(bb->sched, d->sched_q, blk_now_ns(), &is) == 0)
            throttled_ns = is.throttled_ns;
        for (unsigned q = 0; q < d->cfg.queues; q++)
            ring_errors += d->dev.vq[q].errors;
        int w =
            snprintf(buf + off, len - off,
                     "disk=%s connected=%d connects=%llu reads=%llu writes=%llu flushes=%llu discards=%llu "
                     "write_zeroes=%llu get_ids=%llu bytes_read=%llu bytes_written=%llu ioerr=%llu unsupp=%llu "
                     "bad_chains=%llu ring_errors=%llu protocol_errors=%llu direct_fallbacks=%llu throttled_ms=%llu\n",
                     d->cfg.name, d->sock >= 0, (unsigned long long)d->connects, (unsigned long long)s->reads,
                     (unsigned long long)s->writes, (unsigned long long)s->flushes, (unsigned long long)s->discards,
                     (unsigned long long)s->write_zeroes, (unsigned long long)s->get_ids,
                     (unsigned long long)s->bytes_read, (unsigned long long)s->bytes_written,
                     (unsigned long long)s->ioerr, (unsigned long long)s->unsupp, (unsigned long long)s->bad_chains,
                     (unsigned long long)ring_errors, (unsigned long long)d->dev.protocol_errors,
                     (unsigned long long)s->direct_fallbacks, (unsigned long long)throttled_ns / 1000000);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}
