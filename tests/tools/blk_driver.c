/* blk_driver: a vhost-user-blk FRONT END at native speed, standing in for a monitor and its
 * guest in the benchmark of xeno-blkback (bench/blk/run.sh, docs/blkback.md) and of QEMU's
 * export beside it. Guest memory is a memfd sealed against shrinking; each of 1..4 queues is a
 * split ring of 256 entries with its own kick and call eventfds; each request is a 3-descriptor
 * chain (16-byte header, one data buffer of --bs bytes, 1 status byte) at a random
 * bs-aligned offset of the disk, and a completed request is replaced at once, so each queue
 * keeps --qd requests in flight.
 *
 * Which side listens differs: xeno-blkback connects to the front end's socket (as to a
 * monitor's), `qemu-storage-daemon --export vhost-user-blk,addr.type=unix` listens. So:
 *   --listen SOCK   the driver listens and the backend connects (xeno-blkback);
 *   --connect SOCK  the driver connects, retrying until --timeout (qemu-storage-daemon).
 *
 * usage: blk_driver (--listen SOCK | --connect SOCK) --disk-size BYTES [--rw read|write]
 *                   [--bs BYTES] [--qd N] [--queues Q] [--duration SEC] [--warmup SEC]
 *                   [--timeout SEC] [--backend-pid PID | --backend-pid-file FILE] [--ready FILE]
 *                   [--event-idx 0|1] [--inflight 0|1] [--idle SEC]
 *
 * Notifications as Linux's virtio ring does them: with VIRTIO_RING_F_EVENT_IDX (negotiated
 * when the backend offers it, unless --event-idx 0) the driver kicks only when its avail index
 * crosses the backend's avail_event and asks for a call at the next used entry (used_event);
 * without it, it kicks unless the backend set VRING_USED_F_NO_NOTIFY.
 *
 * The inflight region as the monitor keeps it (unless --inflight 0): when the backend offers
 * PROTOCOL_F_INFLIGHT_SHMFD the driver negotiates it, asks for the region (GET_INFLIGHT_FD)
 * and hands it back (SET_INFLIGHT_FD) before the rings start, so the backend runs as it does
 * under a monitor (xeno-blkback then publishes each request as it completes).
 *
 * Output: one line `ops=.. seconds=.. iops=.. errors=.. driver_cpu_s=.. backend_cpu_s=..
 *   backend_ns_per_op=.. driver_ns_per_op=..` (backend figures with --backend-pid: utime +
 *   stime of every thread from /proc/PID/stat over the measured window), then `result ok` or
 *   `result FAIL reason`. --idle SEC: after the run (every request done) the connection stays up
 *   with nothing in flight for SEC, and a second line `idle_seconds=.. idle_backend_cpu_s=..`
 *   says what the backend spent meanwhile (an idle disk must cost ~nothing: no polling
 *   without work). The first line also counts kicks (eventfd writes) and calls (wake-ups
 *   on the call eventfd) per request: kicks_per_op, calls_per_op. Exit 0 only with result ok: every request completed
 * with status OK (errors=0). The window starts after --warmup (default 1 s) so connection set-up and a cold page cache
 * do not count. --backend-pid-file: the pid is read from FILE when the window starts (with --listen the driver starts
 * first and the backend's pid comes later). */
#include "lib/err.h"
#include "proto/vhost_user.h"
#include "proto/virtio_blk.h"
#include "vhost/vring.h" /* vring_need_event: the event-index rule, as the backend applies it */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 256u
#define MAX_QUEUES 4u
#define MAX_QD 64u
#define MAX_BS (64u << 10)
/* Guest-physical layout: queue q's rings at q * RING_AREA, then the request headers and
 * status bytes, then the data buffers (page aligned, so O_DIRECT can take them). */
#define RING_AREA 0x4000u
#define DESC_OFF 0x0000u
#define AVAIL_OFF 0x1000u
#define USED_OFF 0x2000u
#define HDR_AREA (MAX_QUEUES * RING_AREA)
#define HDR_SLOT 32u /* 16-byte header + status byte, per request */
#define DATA_AREA (HDR_AREA + MAX_QUEUES * MAX_QD * HDR_SLOT + 0x1000u)
#define MEM_SIZE (DATA_AREA + MAX_QUEUES * MAX_QD * MAX_BS)

struct queue {
    struct vu_desc *desc;
    struct vu_avail *avail;
    struct vu_used *used;
    uint16_t avail_idx, last_used;
    uint16_t kicked_idx; /* avail index at the last kick decision */
    int kick, call;
};

static struct {
    int memfd;
    uint8_t *mem;
    struct queue q[MAX_QUEUES];
    unsigned queues, qd, bs;
    bool write;
    bool event_idx, want_event_idx;
    bool inflight, want_inflight;
    uint64_t disk_size;
    uint64_t rng;
} d = {.queues = 1, .qd = 1, .bs = 4096, .rng = 0x9e3779b97f4a7c15ull, .want_event_idx = true, .want_inflight = true};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    printf("result FAIL %s%s%s\n", what, err_msg()[0] ? ": " : "", err_msg());
    fflush(stdout);
    exit(1);
}

static uint64_t rnd(void) /* xorshift64 */
{
    d.rng ^= d.rng << 13;
    d.rng ^= d.rng >> 7;
    d.rng ^= d.rng << 17;
    return d.rng;
}

static void mem_init(void)
{
    d.memfd = memfd_create("blk-driver-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (d.memfd < 0 || ftruncate(d.memfd, MEM_SIZE) < 0 || fcntl(d.memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
        die("memfd");
    d.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d.memfd, 0);
    if (d.mem == MAP_FAILED)
        die("mmap");
    memset(d.mem + DATA_AREA, 0xa5, MEM_SIZE - DATA_AREA); /* what writes write; touches every page */
    for (unsigned i = 0; i < d.queues; i++) {
        struct queue *q = &d.q[i];
        q->desc = (void *)(d.mem + i * RING_AREA + DESC_OFF);
        q->avail = (void *)(d.mem + i * RING_AREA + AVAIL_OFF);
        q->used = (void *)(d.mem + i * RING_AREA + USED_OFF);
        q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->kick < 0 || q->call < 0)
            die("eventfd");
    }
}

/* ---- the front end's half of vhost-user ---- */

static int call_ack(int s, struct vhost_user_msg *m)
{
    m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    return vhost_user_call(s, m, m);
}

static int vring_setup(int s, unsigned i)
{
    struct queue *q = &d.q[i];
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, i, QSIZE);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
    m.payload.addr = (struct vhost_user_vring_addr){.index = i,
                                                    .desc_user_addr = (uint64_t)(uintptr_t)q->desc,
                                                    .used_user_addr = (uint64_t)(uintptr_t)q->used,
                                                    .avail_user_addr = (uint64_t)(uintptr_t)q->avail};
    m.hdr.size = sizeof(m.payload.addr);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, i, 0);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_CALL, i);
    m.fds[0] = q->call;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_KICK, i);
    m.fds[0] = q->kick;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_ENABLE, i, 1);
    return call_ack(s, &m);
}

/* GET_INFLIGHT_FD, then the region straight back with SET_INFLIGHT_FD (a front end keeps it
 * for later backends; this one never restarts its backend, so it only holds the fd). */
static int inflight_setup(int s)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
    m.payload.inflight = (struct vhost_user_inflight){.num_queues = (uint16_t)d.queues, .queue_size = QSIZE};
    m.hdr.size = sizeof(m.payload.inflight);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    if (m.nfds != 1)
        return err_set(EPROTO, "GET_INFLIGHT_FD: a reply with %u fds", m.nfds);
    int fd = m.fds[0];
    struct vhost_user_inflight f = m.payload.inflight;
    vhost_user_msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, 0);
    m.payload.inflight = f;
    m.hdr.size = sizeof(m.payload.inflight);
    m.fds[0] = fd;
    m.nfds = 1;
    /* No NEED_REPLY: an ack to SET_INFLIGHT_FD would be checked as an inflight payload (the
     * monitor's front end does the same). */
    int rc = vhost_user_send(s, &m);
    close(fd);
    return rc;
}

/* Features as a Linux guest would take them for this use: VERSION_1, MQ when several queues
 * are asked for, the event index when offered (Linux's virtio-blk takes it); no indirect
 * descriptors (neither backend needs them). */
static int device_setup(int s)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    uint64_t offered = m.payload.u64;
    uint64_t want = (1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES);
    if (d.queues > 1)
        want |= 1ull << VIRTIO_BLK_F_MQ;
    if ((offered & want) != want)
        return err_set(EPROTO, "backend features 0x%llx lack VERSION_1/PROTOCOL_FEATURES%s",
                       (unsigned long long)offered, d.queues > 1 ? "/MQ" : "");
    d.event_idx = d.want_event_idx && (offered & (1ull << VU_F_EVENT_IDX));
    if (d.event_idx)
        want |= 1ull << VU_F_EVENT_IDX;
    vhost_user_msg_init(&m, VHOST_USER_GET_PROTOCOL_FEATURES, 0);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    uint64_t pf = 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK;
    if ((m.payload.u64 & pf) != pf)
        return err_set(EPROTO, "backend lacks REPLY_ACK");
    if (d.queues > 1)
        pf |= m.payload.u64 & (1ull << VHOST_USER_PROTOCOL_F_MQ);
    d.inflight = d.want_inflight && (m.payload.u64 & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
    if (d.inflight)
        pf |= 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
    if (vhost_user_send(s, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, want);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_OWNER, 0);
    if (call_ack(s, &m) < 0)
        return -1;
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] = (struct vhost_user_mem_region){
        .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)d.mem, .mmap_offset = 0};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = d.memfd;
    m.nfds = 1;
    if (call_ack(s, &m) < 0)
        return -1;
    if (d.inflight && inflight_setup(s) < 0)
        return -1;
    for (unsigned i = 0; i < d.queues; i++)
        if (vring_setup(s, i) < 0)
            return -1;
    return 0;
}

/* Listens on path, then writes the ready file (the socket exists before it: whoever starts the
 * backend on seeing the file finds it), then takes one connection. */
static int sock_listen_accept(const char *path, const char *ready_file, double deadline)
{
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    unlink(path);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
        die("listen on --listen SOCK");
    if (ready_file) {
        FILE *f = fopen(ready_file, "w");
        if (f)
            fclose(f);
    }
    struct pollfd p = {.fd = l, .events = POLLIN};
    while (poll(&p, 1, 100) == 0)
        if (now_s() > deadline)
            die("no backend connected before --timeout");
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    unlink(path);
    return s;
}

static int sock_connect(const char *path, double deadline)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    for (;;) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
            return s;
        if (s >= 0)
            close(s);
        if (now_s() > deadline)
            die("could not connect to --connect SOCK before --timeout");
        usleep(20000);
    }
}

/* ---- requests ---- */

/* Puts request `slot` of queue qi (descriptors 3*slot .. 3*slot+2) on the avail ring. */
static void submit(unsigned qi, unsigned slot)
{
    struct queue *q = &d.q[qi];
    unsigned n = qi * MAX_QD + slot;
    uint64_t hdr_gpa = HDR_AREA + (uint64_t)n * HDR_SLOT, data_gpa = DATA_AREA + (uint64_t)n * MAX_BS;
    struct virtio_blk_req_hdr *h = (void *)(d.mem + hdr_gpa);
    h->type = d.write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    h->reserved = 0;
    h->sector = (rnd() % (d.disk_size / d.bs)) * (d.bs / VIRTIO_BLK_SECTOR);
    d.mem[hdr_gpa + 16] = 0xff; /* the status the backend must overwrite */
    uint16_t i = (uint16_t)(3 * slot);
    q->desc[i] = (struct vu_desc){.addr = hdr_gpa, .len = 16, .flags = VU_DESC_F_NEXT, .next = (uint16_t)(i + 1)};
    q->desc[i + 1] = (struct vu_desc){.addr = data_gpa,
                                      .len = d.bs,
                                      .flags = VU_DESC_F_NEXT | (d.write ? 0 : VU_DESC_F_WRITE),
                                      .next = (uint16_t)(i + 2)};
    q->desc[i + 2] = (struct vu_desc){.addr = hdr_gpa + 16, .len = 1, .flags = VU_DESC_F_WRITE};
    q->avail->ring[q->avail_idx % QSIZE] = i;
    q->avail_idx++;
    __atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

static uint64_t ops, errors, kicks, calls;

/* The event-index fields: ours (used_event) after the avail ring, the backend's (avail_event)
 * after the used ring. */
static uint16_t *used_event(struct queue *q)
{
    return &q->avail->ring[QSIZE];
}
static uint16_t *avail_event(struct queue *q)
{
    return (uint16_t *)&q->used->ring[QSIZE];
}

/* Kicks if the backend wants it for what was added since the last kick decision. */
static void kick(struct queue *q)
{
    uint16_t old = q->kicked_idx, now = q->avail_idx;
    q->kicked_idx = now;
    /* Full barrier: our avail index before the backend's field (it does the reverse). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (d.event_idx ? !vring_need_event(__atomic_load_n(avail_event(q), __ATOMIC_RELAXED), now, old)
                    : (__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) & VU_USED_F_NO_NOTIFY))
        return;
    uint64_t one = 1;
    if (write(q->kick, &one, sizeof(one)) == sizeof(one))
        kicks++;
}

/* Takes the completed requests of queue qi and puts each slot back in flight; with the event
 * index asks for a call at the next used entry and looks once more (an entry published
 * before the backend saw our used_event would not be called for). */
static void reap(unsigned qi, bool resubmit)
{
    struct queue *q = &d.q[qi];
    uint64_t v;
    if (read(q->call, &v, sizeof(v)) == sizeof(v))
        calls++;
    uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
    bool any = false;
    for (;;) {
        if (q->last_used == used) {
            if (!d.event_idx)
                break;
            __atomic_store_n(used_event(q), q->last_used, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
            if (q->last_used == used)
                break;
        }
        struct vu_used_elem e = q->used->ring[q->last_used % QSIZE];
        q->last_used++;
        if (e.id % 3 || e.id / 3 >= d.qd)
            die("backend returned a descriptor id that is no request's head");
        unsigned slot = e.id / 3;
        if (d.mem[HDR_AREA + (uint64_t)(qi * MAX_QD + slot) * HDR_SLOT + 16] != VIRTIO_BLK_S_OK)
            errors++;
        ops++;
        if (resubmit) {
            submit(qi, slot);
            any = true;
        }
    }
    if (any)
        kick(q);
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of every thread of PID, in seconds; -1 when it cannot be read. */
static double cpu_pid_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static struct {
    const char *listen_path, *connect_path, *ready_file, *pid_file;
    double duration, warmup, timeout, idle;
    long backend_pid;
} opt = {.duration = 5, .warmup = 1, .timeout = 60};

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--listen"))
            opt.listen_path = v;
        else if (!strcmp(a, "--connect"))
            opt.connect_path = v;
        else if (!strcmp(a, "--disk-size"))
            d.disk_size = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--rw"))
            d.write = !strcmp(v, "write");
        else if (!strcmp(a, "--bs"))
            d.bs = (unsigned)atoi(v);
        else if (!strcmp(a, "--qd"))
            d.qd = (unsigned)atoi(v);
        else if (!strcmp(a, "--queues"))
            d.queues = (unsigned)atoi(v);
        else if (!strcmp(a, "--duration"))
            opt.duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            opt.warmup = atof(v);
        else if (!strcmp(a, "--timeout"))
            opt.timeout = atof(v);
        else if (!strcmp(a, "--backend-pid"))
            opt.backend_pid = atol(v);
        else if (!strcmp(a, "--backend-pid-file"))
            opt.pid_file = v;
        else if (!strcmp(a, "--ready"))
            opt.ready_file = v;
        else if (!strcmp(a, "--idle"))
            opt.idle = atof(v);
        else if (!strcmp(a, "--event-idx"))
            d.want_event_idx = atoi(v) != 0;
        else if (!strcmp(a, "--inflight"))
            d.want_inflight = atoi(v) != 0;
        else
            die("unknown option (usage: the comment at the top of tests/tools/blk_driver.c)");
    }
    if (!opt.listen_path == !opt.connect_path)
        die("one of --listen SOCK and --connect SOCK");
    if (d.bs < VIRTIO_BLK_SECTOR || d.bs > MAX_BS || d.bs % VIRTIO_BLK_SECTOR || d.qd < 1 || d.qd > MAX_QD ||
        d.queues < 1 || d.queues > MAX_QUEUES || d.disk_size < d.bs || opt.duration <= 0)
        die("--bs 512..65536 in sectors, --qd 1..64, --queues 1..4, --disk-size >= --bs, --duration > 0");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    const char *listen_path = opt.listen_path, *connect_path = opt.connect_path, *ready_file = opt.ready_file,
               *pid_file = opt.pid_file;
    double duration = opt.duration, warmup = opt.warmup, timeout = opt.timeout;
    long backend_pid = opt.backend_pid;
    mem_init();
    double t0 = now_s();
    int s;
    if (listen_path)
        s = sock_listen_accept(listen_path, ready_file, t0 + timeout);
    else
        s = sock_connect(connect_path, t0 + timeout);
    vhost_user_set_timeout(s, 5000);
    if (device_setup(s) < 0)
        die("setting up the device");

    for (unsigned qi = 0; qi < d.queues; qi++) {
        for (unsigned slot = 0; slot < d.qd; slot++)
            submit(qi, slot);
        kick(&d.q[qi]);
    }
    struct pollfd pfd[MAX_QUEUES + 1];
    double start = now_s() + warmup, end = start + duration;
    double cpu0 = 0, bcpu0 = 0;
    uint64_t ops0 = 0, err0 = 0, kicks0 = 0, calls0 = 0;
    bool measuring = false;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= start) {
            measuring = true;
            start = t;
            end = t + duration;
            ops0 = ops;
            err0 = errors;
            kicks0 = kicks;
            calls0 = calls;
            cpu0 = cpu_self_s();
            FILE *pf = pid_file ? fopen(pid_file, "r") : NULL;
            if (pf) {
                if (fscanf(pf, "%ld", &backend_pid) != 1)
                    backend_pid = 0;
                fclose(pf);
            }
            bcpu0 = backend_pid ? cpu_pid_s(backend_pid) : 0;
        }
        if (measuring && t >= end)
            break;
        if (t - t0 > timeout + warmup + duration)
            die("timed out");
        for (unsigned qi = 0; qi < d.queues; qi++)
            pfd[qi] = (struct pollfd){.fd = d.q[qi].call, .events = POLLIN};
        pfd[d.queues] = (struct pollfd){.fd = s, .events = POLLIN};
        poll(pfd, d.queues + 1, 100);
        if (pfd[d.queues].revents)
            die("the backend closed the connection");
        for (unsigned qi = 0; qi < d.queues; qi++)
            if (pfd[qi].revents & POLLIN)
                reap(qi, true);
    }
    double el = now_s() - start;
    double cpu = cpu_self_s() - cpu0;
    double bcpu = backend_pid ? cpu_pid_s(backend_pid) - bcpu0 : -1;
    uint64_t n = ops - ops0, nk = kicks - kicks0, nc = calls - calls0;
    /* the requests still in flight complete (a backend must not lose them), uncounted */
    double drain_end = now_s() + 10;
    bool drained = false;
    while (!drained && now_s() < drain_end) {
        drained = true;
        for (unsigned qi = 0; qi < d.queues; qi++) {
            reap(qi, false);
            drained &= d.q[qi].last_used == d.q[qi].avail_idx;
        }
        if (!drained)
            usleep(1000);
    }
    printf("ops=%" PRIu64 " seconds=%.3f iops=%.0f errors=%" PRIu64 " driver_cpu_s=%.3f backend_cpu_s=%.3f "
           "backend_ns_per_op=%.0f driver_ns_per_op=%.0f queues=%u qd=%u bs=%u rw=%s event_idx=%d "
           "inflight=%d kicks_per_op=%.3f calls_per_op=%.3f\n",
           n, el, (double)n / el, errors, cpu, bcpu, n && bcpu >= 0 ? bcpu * 1e9 / (double)n : 0,
           n ? cpu * 1e9 / (double)n : 0, d.queues, d.qd, d.bs, d.write ? "write" : "read", d.event_idx, d.inflight,
           n ? (double)nk / (double)n : 0, n ? (double)nc / (double)n : 0);
    (void)err0;
    if (opt.idle > 0 && drained && backend_pid) {
        double c0 = cpu_pid_s(backend_pid), i0 = now_s();
        struct pollfd ip = {.fd = s, .events = POLLIN};
        if (poll(&ip, 1, (int)(opt.idle * 1000)) > 0)
            die("the backend closed the connection while idle");
        printf("idle_seconds=%.3f idle_backend_cpu_s=%.3f\n", now_s() - i0, cpu_pid_s(backend_pid) - c0);
    }
    close(s);
    if (errors)
        die("a request completed with a status other than OK");
    if (!drained)
        die("requests still in flight 10 s after the end");
    if (!n)
        die("no request completed in the measured window");
    printf("result ok\n");
    return 0;
}
