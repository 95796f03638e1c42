/* The monitor's vhost-user front end during a migration (src/vmm/virtio/vhost_user_front.c):
 * which backends get the dirty log and the rings, and what is marked when a backend is lost
 * while it logs. The front end is the real one (its thread, its socket, a real memfd as guest
 * RAM and as the log); the backend is a small scripted one on the other end of the socket
 * that answers what the protocol asks and offers the log or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/vhost_user.h"
#include "vmm/virtio/vhost_user_front.h"

#define PAGE 4096u
#define RAM_PAGES 16u
#define RING_NUM 8u
#define USED_GPA (3 * PAGE - 32) /* the used ring (70 bytes) over RAM pages 2 and 3 */

static char dir[64], path[96];
static struct guest_mem mem;
static int kick_fd, call_fd;

static bool rings(void *opaque, struct vhost_front_rings *out)
{
    (void)opaque;
    memset(out, 0, sizeof(*out));
    out->features = 1ull << VU_F_VERSION_1;
    out->nrings = 1;
    out->ring[0] = (struct vhost_front_ring){
        .num = RING_NUM, .desc = 0, .avail = 512, .used = USED_GPA, .kick_fd = kick_fd, .call_fd = call_fd};
    return true;
}

static const struct vhost_front_ops ops = {.rings = rings};

/* The scripted backend: a thread answering the front end until its socket is shut down. */
struct backend {
    int fd;
    bool logs;             /* offers VHOST_F_LOG_ALL and PROTOCOL_F_LOG_SHMFD */
    bool dies_at_log_base; /* closes its end instead of answering SET_LOG_BASE */
    pthread_t thread;
    int log_bases;          /* atomic: SET_LOG_BASE received */
    uint64_t last_features; /* atomic: the last SET_FEATURES */
};

static void answer(int fd, struct vhost_user_msg *m, const void *payload, uint32_t size)
{
    vhost_user_msg_make_reply(m);
    if (size)
        memcpy(&m->payload, payload, size);
    m->hdr.size = size;
    assert_int_equal(vhost_user_send(fd, m), 0);
}

static void *backend_main(void *arg)
{
    struct backend *b = arg;
    struct vhost_user_msg m;
    while (vhost_user_recv(b->fd, &m, false) == 0) {
        uint64_t v;
        struct vhost_user_vring_state st = {.index = m.payload.state.index, .num = 0};
        switch (m.hdr.request) {
        case VHOST_USER_GET_FEATURES:
            v = (1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) | (b->logs ? 1ull << VU_F_LOG_ALL : 0);
            answer(b->fd, &m, &v, sizeof(v));
            break;
        case VHOST_USER_GET_PROTOCOL_FEATURES:
            v = b->logs ? 1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD : 0;
            answer(b->fd, &m, &v, sizeof(v));
            break;
        case VHOST_USER_SET_LOG_BASE:
            __atomic_add_fetch(&b->log_bases, 1, __ATOMIC_RELEASE);
            if (b->dies_at_log_base) {
                vhost_user_msg_close_fds(&m);
                shutdown(b->fd, SHUT_RDWR);
                return NULL;
            }
            answer(b->fd, &m, NULL, 0);
            break;
        case VHOST_USER_GET_VRING_BASE: answer(b->fd, &m, &st, sizeof(st)); break;
        case VHOST_USER_SET_FEATURES: __atomic_store_n(&b->last_features, m.payload.u64, __ATOMIC_RELEASE); break;
        default: break; /* no REPLY_ACK offered: nothing else is answered */
        }
        vhost_user_msg_close_fds(&m);
    }
    return NULL;
}

static void backend_start(struct backend *b, bool logs)
{
    memset(b, 0, sizeof(*b));
    b->logs = logs;
    b->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(b->fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(b->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(pthread_create(&b->thread, NULL, backend_main, b), 0);
}

/* Its death: the socket closes under the front end. */
static void backend_kill(struct backend *b)
{
    shutdown(b->fd, SHUT_RDWR);
    pthread_join(b->thread, NULL);
    close(b->fd);
}

static struct vhost_front_stats stats(struct vhost_front *f)
{
    struct vhost_front_stats s;
    vhost_front_get_stats(f, &s, NULL);
    return s;
}

/* Waits (5 s at most) until the counter at `offset` in the stats reaches n. */
static bool wait_stat(struct vhost_front *f, size_t offset, uint64_t n)
{
    for (int i = 0; i < 500; i++) {
        struct vhost_front_stats s = stats(f);
        if (*(uint64_t *)((char *)&s + offset) >= n)
            return true;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return false;
}
#define WAIT(f, field, n) wait_stat((f), offsetof(struct vhost_front_stats, field), (n))

/* Waits (5 s at most) until the backend's last SET_FEATURES had LOG_ALL set (want) or not. */
static bool features_log(struct backend *b, bool want)
{
    for (int i = 0; i < 500; i++) {
        uint64_t v = __atomic_load_n(&b->last_features, __ATOMIC_ACQUIRE);
        if (v && !!(v & (1ull << VU_F_LOG_ALL)) == want)
            return true;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void front_start(struct vhost_front *f)
{
    assert_int_equal(vhost_front_init(f, "virtio-blk", path, dir, &mem, RING_NUM, &ops, NULL), 0);
    assert_int_equal(vhost_front_start(f), 0);
    vhost_front_driver_ok(f);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_vhost_front_log.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/blk.sock", dir);
    memset(&mem, 0, sizeof(mem));
    mem.fd = memfd_create("ram", MFD_CLOEXEC);
    if (mem.fd < 0 || ftruncate(mem.fd, RAM_PAGES * PAGE) < 0)
        return -1;
    mem.host = mmap(NULL, RAM_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mem.fd, 0);
    mem.size = RAM_PAGES * PAGE;
    mem.nranges = 1;
    mem.ranges[0] = (struct guest_range){.gpa = 0, .size = RAM_PAGES * PAGE, .offset = 0};
    kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return mem.host == MAP_FAILED || kick_fd < 0 || call_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(mem.host, RAM_PAGES * PAGE);
    close(mem.fd);
    close(kick_fd);
    close(call_fd);
    rmdir(dir);
    return 0;
}

/* A backend lost while it logs may have stored the used index and died before marking it:
 * the front end marks the used ring's pages itself, and they are collected like the
 * backend's marks. A backend lost with the log off marks nothing. */
static void test_lost_while_logging(void **state)
{
    (void)state;
    struct vhost_front f;
    struct backend b;
    uint64_t out[1] = {0};
    front_start(&f);
    backend_start(&b, true);
    assert_true(WAIT(&f, handovers, 1));
    assert_int_equal(vhost_front_log_start(&f), 0);
    assert_int_equal(__atomic_load_n(&b.log_bases, __ATOMIC_ACQUIRE), 1);
    assert_true(features_log(&b, true));
    assert_int_equal(vhost_front_log_take(&f, out, RAM_PAGES), 0);
    backend_kill(&b);
    assert_true(WAIT(&f, disconnects, 1));
    assert_int_equal(vhost_front_log_take(&f, out, RAM_PAGES), 2);
    assert_int_equal(out[0], (1ull << 2) | (1ull << 3));
    vhost_front_log_stop(&f);

    /* The log off: a backend lost now leaves nothing to resend. */
    backend_start(&b, true);
    assert_true(WAIT(&f, handovers, 2));
    assert_true(features_log(&b, false));
    backend_kill(&b);
    assert_true(WAIT(&f, disconnects, 2));
    out[0] = 0;
    assert_int_equal(vhost_front_log_take(&f, out, RAM_PAGES), 0);
    vhost_front_destroy(&f);
}

/* A backend without the log (an older or foreign one) is refused the log: the migration then
 * holds its device for the whole move (state/dirty_log.c). Nothing changes for the backend. */
static void test_backend_cannot_log(void **state)
{
    (void)state;
    struct vhost_front f;
    struct backend b;
    front_start(&f);
    backend_start(&b, false);
    assert_true(WAIT(&f, handovers, 1));
    assert_int_equal(vhost_front_log_start(&f), -EOPNOTSUPP);
    assert_false(f.logging);
    assert_int_equal(__atomic_load_n(&b.log_bases, __ATOMIC_ACQUIRE), 0);
    assert_int_equal(stats(&f).disconnects, 0);
    backend_kill(&b);
    vhost_front_destroy(&f);
}

/* A backend that dies while the log is being started: -EPROTO with a readable reason, the
 * log off and the connection dropped (the migration then holds the device for the whole
 * move); the used ring it may have written is marked all the same. */
static void test_dies_at_log_start(void **state)
{
    (void)state;
    struct vhost_front f;
    struct backend b;
    uint64_t out[1] = {0};
    front_start(&f);
    backend_start(&b, true);
    b.dies_at_log_base = true;
    assert_true(WAIT(&f, handovers, 1));
    assert_int_equal(vhost_front_log_start(&f), -EPROTO);
    assert_non_null(strstr(err_msg(), "virtio-blk: the backend did not start its dirty log: SET_LOG_BASE"));
    assert_false(f.logging);
    assert_int_equal(stats(&f).disconnects, 1);
    assert_int_equal(vhost_front_log_take(&f, out, RAM_PAGES), 2);
    backend_kill(&b);
    vhost_front_destroy(&f);
}

/* While the log is on, a backend that connects (a restarted one) gets the log with the rings
 * if it keeps one; one that cannot gets no rings until the log stops. */
static void test_successor_during_log(void **state)
{
    (void)state;
    struct vhost_front f;
    struct backend b;
    front_start(&f);
    assert_int_equal(vhost_front_log_start(&f), 0); /* no backend yet: asked at hand-over */
    backend_start(&b, true);
    assert_true(WAIT(&f, handovers, 1));
    assert_int_equal(__atomic_load_n(&b.log_bases, __ATOMIC_ACQUIRE), 1);
    assert_true(features_log(&b, true));
    backend_kill(&b);
    assert_true(WAIT(&f, disconnects, 1));

    backend_start(&b, false);
    assert_true(WAIT(&f, connects, 2));
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    assert_int_equal(stats(&f).handovers, 1); /* it would write unseen: it waits */
    vhost_front_log_stop(&f);
    assert_true(WAIT(&f, handovers, 2));
    assert_true(features_log(&b, false));
    backend_kill(&b);
    vhost_front_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_while_logging),
        cmocka_unit_test(test_backend_cannot_log),
        cmocka_unit_test(test_dies_at_log_start),
        cmocka_unit_test(test_successor_during_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
