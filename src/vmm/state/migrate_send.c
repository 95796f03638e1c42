#include "vmm/state/migrate_send.h"
#include "vmm/core/thread_kind.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/state/dirty_log.h"
#include "vmm/state/disk_hold.h"
#include "vmm/state/net_hold.h"
#include "vmm/state/migrate_state.h"

#define CONNECT_TIMEOUT_MS 5000
#define HOT_WATCH_US                                                                                                   \
    100000 /* watching the guest's working set before round 0: one pass of a guest that rewrites it ten times a second \
            */
#define IO_TIMEOUT_MS 10000 /* no progress for this long on the link: the migration fails */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void progress(struct migrate_send *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(struct migrate_send *m, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&m->lock);
    if (m->count == MIGRATE_PROGRESS_LINES) { /* the main loop is behind: drop the oldest */
        m->head = (m->head + 1) % MIGRATE_PROGRESS_LINES;
        m->count--;
    }
    unsigned i = (m->head + m->count) % MIGRATE_PROGRESS_LINES;
    va_start(ap, fmt);
    vsnprintf(m->progress[i], sizeof(m->progress[i]), fmt, ap);
    va_end(ap);
    m->count++;
    pthread_mutex_unlock(&m->lock);
    uint64_t one = 1;
    if (write(m->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("migration progress: %s", strerror(errno));
}

static int cancelled(struct migrate_send *m)
{
    return __atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE);
}

/* Why to stop now, if anything outside the link says so. */
static int check_stop(struct migrate_send *m)
{
    if (cancelled(m))
        return err_set(ECANCELED, "cancelled (the domain is being stopped or destroyed)");
    pthread_mutex_lock(&m->vm->lock);
    int stopping = m->vm->outcome != VM_RUNNING;
    pthread_mutex_unlock(&m->vm->lock);
    if (stopping)
        return err_set(ECANCELED, "the domain stopped during the migration");
    return 0;
}

/* A batch of pages on its way: entries and a private copy of their data (the guest keeps
 * writing while we send, and the CRC must cover what goes out). */
struct batch {
    struct mig_pages_hdr hdr;
    uint64_t ent[MIG_BATCH_PAGES];
    uint8_t data[MIG_BATCH_PAGES * MIG_PAGE];
    unsigned ndata;
};

struct sender {
    struct migrate_send *m;
    struct mig_conn c;
    struct batch *b;
    uint64_t pages;            /* sent in all */
    uint64_t rate_start_us;    /* bandwidth limiting: since when ... */
    uint64_t rate_start_bytes; /* ... and how much had been sent then */
    int limit;                 /* the bandwidth limit applies (not in the final phase) */
};

static int page_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (unsigned i = 0; i < MIG_PAGE / 8; i++)
        if (w[i])
            return 0;
    return 1;
}

static int flush(struct sender *s)
{
    struct batch *b = s->b;
    if (!b->hdr.count)
        return 0;
    int r = mig_send2(&s->c, MIG_PAGES, &b->hdr, (uint32_t)(sizeof(b->hdr) + 8 * b->hdr.count), b->data,
                      b->ndata * MIG_PAGE);
    s->pages += b->hdr.count;
    b->hdr.count = 0;
    b->ndata = 0;
    if (r < 0)
        return r;
    uint64_t bw = s->m->p.bandwidth_mbps;
    if (s->limit && bw) {
        /* Stay under the limit on average since the round began. */
        uint64_t due_us = (s->c.sent - s->rate_start_bytes) / bw; /* bytes / (MB/s) = us */
        uint64_t spent = now_us() - s->rate_start_us;
        if (due_us > spent) {
            uint64_t d = due_us - spent;
            struct timespec ts = {(time_t)(d / 1000000u), (long)(d % 1000000u) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return check_stop(s->m);
}

/* Queues RAM page `pg` (its current contents). */
static int add_page(struct sender *s, uint64_t pg)
{
    struct batch *b = s->b;
    const uint8_t *src = s->m->vm->mem.host + pg * MIG_PAGE;
    uint8_t *dst = b->data + (size_t)b->ndata * MIG_PAGE;
    memcpy(dst, src, MIG_PAGE);
    if (page_zero(dst)) {
        b->ent[b->hdr.count++] = pg * MIG_PAGE | MIG_ZERO_PAGE;
    } else {
        b->ent[b->hdr.count++] = pg * MIG_PAGE;
        b->ndata++;
    }
    return b->hdr.count == MIG_BATCH_PAGES ? flush(s) : 0;
}

/* Round 0: every page that holds data (not a hole of the memfd, not all zero). */
/* Round 0: every page that holds data, but those in `hot` (the guest rewrote them while we
 * watched: they would cross again in round 1 anyway, so they wait for it). */
static int send_all(struct sender *s, const uint64_t *hot, uint64_t *touched)
{
    struct vm *vm = s->m->vm;
    uint64_t size = vm->mem.size, off = 0, n = 0;
    while (off < size) {
        off_t d = lseek(vm->mem.fd, (off_t)off, SEEK_DATA);
        if (d < 0)
            break; /* ENXIO: no data past off */
        off_t h = lseek(vm->mem.fd, d, SEEK_HOLE);
        uint64_t end = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
        for (uint64_t pg = (uint64_t)d / MIG_PAGE; pg * MIG_PAGE < end; pg++) {
            if (page_zero(vm->mem.host + pg * MIG_PAGE))
                continue;
            n++;
            if (hot[pg / 64] >> (pg % 64) & 1)
                continue;
            int r = add_page(s, pg);
            if (r < 0)
                return r;
        }
        off = end;
    }
    *touched = n;
    return flush(s);
}

static int send_dirty(struct sender *s, const uint64_t *bits, uint64_t words)
{
    for (uint64_t w = 0; w < words; w++) {
        uint64_t v = bits[w];
        while (v) {
            uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(v);
            v &= v - 1;
            int r = add_page(s, pg);
            if (r < 0)
                return r;
        }
    }
    return flush(s);
}

/* Ends a round and waits until the destination has it all in its RAM: the round's time then
 * measures the whole path (our sending, the link, its loading), and nothing is left queued
 * when the vCPUs pause. */
static int end_round(struct sender *s, uint64_t round, uint64_t pages)
{
    struct mig_round rm = {.round = (uint32_t)round, .pages = pages}, ack;
    uint32_t len;
    int r = mig_send(&s->c, MIG_ROUND, &rm, sizeof(rm));
    if (!r)
        r = mig_expect(&s->c, MIG_ROUND_ACK, &ack, sizeof(ack), &len, "waiting for the destination to load a round");
    if (!r && (len != sizeof(ack) || ack.round != rm.round))
        r = err_set(EPROTO, "%s: acknowledged round %u, expected %u", s->c.peer, ack.round, rm.round);
    return r;
}

static void set_conn_fd(struct migrate_send *m, int fd)
{
    pthread_mutex_lock(&m->lock);
    m->conn_fd = fd;
    pthread_mutex_unlock(&m->lock);
}

/* Connects, authenticates both ways and sends the configuration. */
static int handshake(struct migrate_send *m, struct sender *s)
{
    int r;
    if ((r = mig_connect(&s->c, m->p.dest, CONNECT_TIMEOUT_MS)) < 0)
        return r;
    s->c.timeout_ms = IO_TIMEOUT_MS;
    snprintf(s->c.dest_id, sizeof(s->c.dest_id), "%s", m->p.dest_id);
    set_conn_fd(m, s->c.fd);
    if (cancelled(m))
        return err_set(ECANCELED, "cancelled");
    if ((r = mig_auth_source(&s->c, m->key, m->keylen)) < 0)
        return r;
    /* The config, then the CPU features the guest may rely on (docs/migration.md): the
     * destination refuses the domain if its guests would lack any of them. */
    uint8_t msg[sizeof(m->cfg) + sizeof(m->cpu)];
    memcpy(msg, &m->cfg, sizeof(m->cfg));
    memcpy(msg + sizeof(m->cfg), &m->cpu, sizeof(m->cpu));
    if ((r = mig_send(&s->c, MIG_CONFIG, msg, sizeof(msg))) < 0)
        return r;
    progress(m, "migrate connected dest=%s", m->p.dest);
    return 0;
}

/* Round 0: the full pass, leaving out the working set the guest rewrites while it is watched
 * for a moment (sent once, in round 1, instead of twice: this keeps bytes sent near the memory
 * touched, bench/README.md). *hot_out: that working set (the caller frees it); *round_start,
 * *bytes0: when round 0's sending began, and the bytes sent before it. */
static int full_pass(struct migrate_send *m, struct sender *s, struct dirty_log *dl, uint64_t **hot_out,
                     uint64_t *round_start, uint64_t *bytes0, uint64_t *round_pages)
{
    uint64_t *hot = calloc(dl->words, 8), nhot = 0;
    *hot_out = hot;
    if (!hot)
        return err_set(ENOMEM, "out of memory");
    usleep(HOT_WATCH_US);
    int r = dirty_log_collect(dl, &nhot);
    if (r < 0)
        return r;
    memcpy(hot, dl->bits, dl->words * 8);
    *round_start = now_us(); /* the round's rate leaves out the watching */
    *bytes0 = s->c.sent;
    uint64_t before = s->pages;
    if ((r = send_all(s, hot, &m->res.touched_pages)) < 0 || (r = end_round(s, 0, s->pages - before)) < 0)
        return r;
    *round_pages = s->pages - before;
    return 0;
}

/* Pre-copy rounds: send what was dirtied during the previous one, until the rest fits in the
 * allowed downtime at the bandwidth we see, or the round limit. On return dl->bits holds what
 * is still to send. */
static int precopy(struct migrate_send *m, struct sender *s, struct dirty_log *dl)
{
    struct migrate_result *res = &m->res;
    uint64_t round_start = 0, bytes0 = 0;
    uint64_t *hot, round_pages = 0;
    int r = full_pass(m, s, dl, &hot, &round_start, &bytes0, &round_pages);
    if (r < 0) {
        free(hot);
        return r;
    }
    uint64_t round = 0, dirty = 0;
    for (;;) {
        uint64_t t = now_us(), dur = t - round_start ? t - round_start : 1;
        uint64_t bytes = s->c.sent - bytes0;
        if ((r = dirty_log_collect(dl, &dirty)) < 0) {
            free(hot);
            return r;
        }
        if (hot) {
            /* The working set left out of round 0 goes with the first dirty round, whether
             * or not the guest wrote it again since. */
            dirty = 0;
            for (uint64_t w = 0; w < dl->words; w++)
                dirty += (uint64_t)__builtin_popcountll(dl->bits[w] |= hot[w]);
            free(hot);
            hot = NULL;
        }
        /* bytes/us = MB/s. Too little sent to measure (an empty round): assume the limit
         * or 100 MB/s, which any link we migrate over beats. */
        double bw = bytes > 256 * 1024 ? (double)bytes / (double)dur : 0;
        if (m->p.bandwidth_mbps && (bw == 0 || bw > (double)m->p.bandwidth_mbps))
            bw = (double)m->p.bandwidth_mbps;
        if (bw == 0)
            bw = 100;
        double expect_ms = (double)dirty * MIG_PAGE / bw / 1000.0;
        double dirty_rate = (double)dirty * MIG_PAGE / (double)dur; /* MB/s */
        progress(m, "migrate round=%llu sent_pages=%llu dirty_pages=%llu dirty_mbps=%.1f mbps=%.1f expected_ms=%.1f",
                 (unsigned long long)round, (unsigned long long)round_pages, (unsigned long long)dirty, dirty_rate, bw,
                 expect_ms);
        if (expect_ms <= (double)m->p.max_downtime_ms || round >= m->p.max_rounds)
            break;
        round++;
        round_start = now_us();
        bytes0 = s->c.sent;
        s->rate_start_us = round_start;
        s->rate_start_bytes = bytes0;
        uint64_t before = s->pages;
        if ((r = send_dirty(s, dl->bits, dl->words)) < 0)
            return r;
        round_pages = s->pages - before;
        if ((r = end_round(s, round, round_pages)) < 0)
            return r;
    }
    res->rounds = round + 1;
    return 0;
}

/* The two-phase end: READY from the destination, then GO (the commit point) and STARTED.
 * t_pause: when the vCPUs were paused, for the downtime. */
static int finish_move(struct migrate_send *m, struct sender *s, uint64_t t_pause, uint64_t t_paused, uint64_t t_state,
                       uint64_t t_sent)
{
    struct migrate_result *res = &m->res;
    uint8_t buf[64];
    uint32_t len;
    int r = mig_expect(&s->c, MIG_READY, buf, sizeof(buf), &len, "waiting for the destination to be ready");
    if (r < 0)
        return r;
    /* The commit point, decided under the lock that cancel takes: either a cancel came
     * first (abort, the domain runs on here) or we commit and a later cancel waits for us.
     * After GO leaves, this side never runs the vCPUs again: if GO is lost, the
     * destination never starts them either and the domain stops (docs/migration.md). */
    pthread_mutex_lock(&m->lock);
    int cancel = cancelled(m);
    if (!cancel)
        res->committed = 1;
    pthread_mutex_unlock(&m->lock);
    if (cancel)
        return err_set(ECANCELED, "cancelled before the destination was told to run");
    uint64_t t_ready = now_us();
    struct timespec go;
    clock_gettime(CLOCK_REALTIME, &go);
    res->go_realtime_ns = (uint64_t)go.tv_sec * 1000000000u + (uint64_t)go.tv_nsec;
    r = mig_send(&s->c, MIG_GO, NULL, 0);
    if (r == 0) {
        s->c.timeout_ms = 5000;
        r = mig_expect(&s->c, MIG_STARTED, buf, sizeof(buf), &len, "waiting for the destination to start");
    }
    res->downtime_us = now_us() - t_pause;
    res->confirmed = r == 0;
    /* Where the downtime went: pausing, capturing state, sending the rest, the
     * destination loading it, and go/started. */
    progress(m, "migrate downtime_us=%llu pause_us=%llu state_us=%llu send_us=%llu ready_us=%llu go_us=%llu",
             (unsigned long long)res->downtime_us, (unsigned long long)(t_paused - t_pause),
             (unsigned long long)(t_state - t_paused), (unsigned long long)(t_sent - t_state),
             (unsigned long long)(t_ready - t_sent), (unsigned long long)(now_us() - t_ready));
    if (r < 0)
        snprintf(res->why, sizeof(res->why), "%s", err_msg());
    return 0;
}

/* Stop and copy. From here until GO the domain is paused here and not yet running there; a
 * failure unpauses it here. pend: the pages still to send. */
static int stop_and_copy(struct migrate_send *m, struct sender *s, struct dirty_log *dl, uint64_t *pend)
{
    struct vm *vm = m->vm;
    int r;
    if ((r = check_stop(m)) < 0)
        return r;
    s->limit = 0;
    uint64_t t_pause = now_us();
    vm_pause(vm);
    m->res.paused_vcpus = 1;
    /* The network backend still fills receive buffers of the paused guest, and the disks'
     * backends complete what the guest asked before the pause: stop them (each publishes
     * what it took, logged; a disk's backend also flushes its image, whose identity the
     * state records) before the last look at the logs, so that nothing they write comes
     * after it (net_hold.h, disk_hold.h). Frames meanwhile are dropped, as by a link. */
    if ((r = vm_net_hold(vm)) < 0 || (r = vm_disks_hold(vm)) < 0)
        return r;
    uint64_t t_paused = now_us(), dirty;
    uint8_t *state = NULL;
    size_t state_len = 0;
    /* Device state before the last look at memory: pages a device writes up to the
     * capture are in the monitor's dirty bits collected below. */
    if ((r = mig_state_encode(vm, &state, &state_len)) < 0)
        return r;
    uint64_t t_state = now_us();
    if ((r = dirty_log_collect(dl, &dirty)) == 0) {
        for (uint64_t w = 0; w < dl->words; w++)
            pend[w] |= dl->bits[w];
        uint64_t before = s->pages;
        r = send_dirty(s, pend, dl->words);
        progress(m, "migrate stop-and-copy pages=%llu state_bytes=%zu", (unsigned long long)(s->pages - before),
                 state_len);
    }
    if (!r)
        r = mig_send(&s->c, MIG_STATE, state, (uint32_t)state_len);
    free(state);
    if (r < 0)
        return r;
    return finish_move(m, s, t_pause, t_paused, t_state, now_us());
}

static int run(struct migrate_send *m, struct sender *s, struct dirty_log *dl, uint64_t **pend_out)
{
    struct vm *vm = m->vm;
    uint64_t t0 = now_us();
    int r = handshake(m, s);
    if (r < 0)
        return r;
    /* A lazily restored domain still filling its RAM from the snapshot has holes where
     * pages are yet to come: the full pass would skip them as never touched. Wait until RAM
     * holds everything (bounded; its filling is not the guest's dirtying, so it must be over
     * before logging starts). */
    if ((r = guest_mem_wait_populated(&vm->mem, 60000)) < 0)
        return err_wrap(-r, "the domain's memory is still being restored from its snapshot");
    /* Logging first, then the full pass: whatever the guest, the monitor or a device's
     * backend writes during the pass is in the log for the next round. The disks and the
     * network keep running on their backends' dirty logs; a backend that cannot keep one is
     * held for the whole move instead (dirty_log_start). */
    if ((r = dirty_log_start(dl, vm)) < 0)
        return r;
    uint64_t *pend = calloc(dl->words, 8);
    *pend_out = pend;
    if (!pend)
        return err_set(ENOMEM, "out of memory");
    s->limit = 1;
    s->rate_start_us = now_us();
    s->rate_start_bytes = s->c.sent;
    if ((r = precopy(m, s, dl)) < 0)
        return r;
    memcpy(pend, dl->bits, dl->words * 8);
    if ((r = stop_and_copy(m, s, dl, pend)) < 0)
        return r;
    m->res.total_us = now_us() - t0;
    return 0;
}

/* A destination that refuses the domain (e.g. for CPU features its guests lack) says why and
 * closes while we are still sending: the send then fails with EPIPE or ECONNRESET, which
 * would hide the reason. Its error message is usually still in our receive buffer: take it
 * if it is there (briefly; anything else keeps our own message). */
static void peer_reason(struct mig_conn *c, int r)
{
    char mine[512];
    uint8_t tmp[64];
    uint32_t type, len;
    if (c->fd < 0 || (r != -EPIPE && r != -ECONNRESET))
        return;
    snprintf(mine, sizeof(mine), "%s", err_msg());
    c->timeout_ms = 500;
    if (mig_recv(c, &type, tmp, sizeof(tmp), &len, "reading the destination's reason") != -ECONNABORTED)
        err_set(-r, "%s", mine);
}

static void *thread_main(void *arg)
{
    thread_kind_enter(THREAD_MIGRATE_SEND, "migrate-send");
    struct migrate_send *m = arg;
    struct sender s = {.m = m, .c = {.fd = -1}};
    struct dirty_log dl = {0};
    uint64_t *pend = NULL;
    uint64_t t0 = now_us();
    int r;
    s.b = malloc(sizeof(*s.b));
    if (!s.b)
        r = err_set(ENOMEM, "out of memory");
    else {
        s.b->hdr = (struct mig_pages_hdr){0};
        s.b->ndata = 0;
        r = run(m, &s, &dl, &pend);
    }
    if (r < 0) {
        vm_disks_release(m->vm); /* the domain runs on here: its disks too */
        vm_net_release(m->vm);   /* and its network (held at the stop, or for the move) */
        peer_reason(&s.c, r);
        m->res.err = r;
        snprintf(m->res.why, sizeof(m->res.why), "%s", err_msg());
        mig_send_error(&s.c, m->res.why);
        m->res.total_us = now_us() - t0;
    }
    m->res.pages = s.pages;
    m->res.bytes = s.c.sent;
    set_conn_fd(m, -1);
    mig_close(&s.c);
    dirty_log_stop(&dl);
    free(pend);
    free(s.b);
    pthread_mutex_lock(&m->lock);
    m->done = 1;
    pthread_mutex_unlock(&m->lock);
    uint64_t one = 1;
    if (write(m->efd, &one, sizeof(one)) < 0)
        log_warn("migration end notification: %s", strerror(errno));
    return NULL;
}

int migrate_send_start(struct migrate_send **out, struct vm *vm, const struct snap_config *cfg,
                       const struct migrate_params *p)
{
    char host[256], port[16];
    if (mig_split_hostport(p->dest, host, sizeof(host), port, sizeof(port)) < 0)
        return -EINVAL;
    struct migrate_send *m = calloc(1, sizeof(*m));
    if (!m)
        return err_set(ENOMEM, "out of memory");
    m->vm = vm;
    m->cfg = *cfg;
    cpuf_to_wire(&vm->cpu_domain, &m->cpu);
    m->p = *p;
    m->conn_fd = -1;
    int r = mig_key_load(p->key_path, m->key, &m->keylen);
    if (r < 0) {
        free(m);
        return r;
    }
    m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->efd < 0) {
        r = err_set(errno, "eventfd: %s", strerror(errno));
        free(m);
        return r;
    }
    pthread_mutex_init(&m->lock, NULL);
    int e = pthread_create(&m->thread, NULL, thread_main, m);
    if (e) {
        close(m->efd);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return err_set(e, "starting the migration thread: %s", strerror(e));
    }
    *out = m;
    return 0;
}

int migrate_send_fd(const struct migrate_send *m)
{
    return m->efd;
}

int migrate_send_poll(struct migrate_send *m, void (*emit)(void *opaque, const char *line), void *opaque)
{
    uint64_t v;
    char line[256];
    if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("migration events: %s", strerror(errno));
    for (;;) {
        pthread_mutex_lock(&m->lock);
        int have = m->count > 0, done = m->done;
        if (have) {
            memcpy(line, m->progress[m->head], sizeof(line));
            m->head = (m->head + 1) % MIGRATE_PROGRESS_LINES;
            m->count--;
        }
        pthread_mutex_unlock(&m->lock);
        if (have) {
            if (emit)
                emit(opaque, line);
            continue;
        }
        if (done) {
            pthread_join(m->thread, NULL);
            return 1;
        }
        return 0;
    }
}

void migrate_send_cancel(struct migrate_send *m)
{
    pthread_mutex_lock(&m->lock);
    __atomic_store_n(&m->cancel, 1, __ATOMIC_RELEASE);
    if (m->conn_fd >= 0 && !m->res.committed)
        shutdown(m->conn_fd, SHUT_RDWR); /* breaks a blocking send or receive at once */
    pthread_mutex_unlock(&m->lock);
    while (!migrate_send_poll(m, NULL, NULL)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

void migrate_send_free(struct migrate_send *m)
{
    if (!m)
        return;
    close(m->efd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
