/* virtio-net over vhost-user (src/vmm/virtio/virtio_net.c, src/vmm/virtio/vhost_user_front.c): the real
 * device and front end, without KVM (a zeroed struct vm as in test_virtio_mmio.c, RAM in a
 * memfd), driven through its registers like a guest driver, and a backend played by this
 * test on the other end of the socket with the shared protocol code (src/proto/vhost_user.c).
 *
 * What must hold: the hand-over sequence and its values (memory table, ring addresses in
 * the monitor's address space, SET_VRING_BASE = the used index in guest RAM); the kick and
 * call fds are the transport's eventfds; a second backend after a disconnect gets the SAME
 * inflight region and the rings' current used index, with no GET_INFLIGHT_FD; a driver
 * reset stops the rings (GET_VRING_BASE); a backend that answers wrongly (sizes, fds, no
 * answer at all, answers too slow for the exchange's deadline) loses its connection while
 * the device carries on. */
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/vhost_user.h"
#include "vmm/virtio/virtio_mmio.h"
#include "vmm/virtio/virtio_net.h"
#include "vmm/machine/vm.h"

#define RAM (4ULL << 20)
#define QSIZE 16
#define BASE 0xd0000000ULL
/* Ring addresses the "driver" uses, per queue. */
#define DESC(q) (0x10000ULL + (q)*0x1000)
#define AVAIL(q) (DESC(q) + 0x400)
#define USED(q) (DESC(q) + 0x800)

enum misbehave { GOOD, BAD_FEATURES_SIZE, SILENT_ON_MEM_TABLE, FD_WITH_ACK, NACK_VRING_ADDR, SLOW_DRIP };

/* What the test backend saw on one connection. */
struct seen {
    uint32_t requests[128];
    unsigned n;
    uint64_t features;
    struct vhost_user_mem_table mem;
    struct vhost_user_vring_addr addr[2];
    uint32_t base[2], num[2];
    int kick[2], call[2]; /* received fds, -1: none */
    int inflight_fd;      /* received with SET_INFLIGHT_FD */
    unsigned enabled;     /* rings enabled */
    unsigned get_base;    /* GET_VRING_BASE answered */
    bool got_inflight_request;
};

struct fixture {
    struct vm vm;
    struct virtio_net *net;
    char dir[64], path[96];
    int sock;
    pthread_t thread;
    bool thread_running;
    enum misbehave how;
    int inflight_memfd; /* what this backend hands out */
    pthread_mutex_t lock;
    struct seen seen;
};

static uint32_t reg_read(struct fixture *f, uint64_t off)
{
    uint32_t v;
    virtio_mmio_io(f->net->dev, off, 0, (uint8_t *)&v, 4);
    return v;
}

static void reg_write(struct fixture *f, uint64_t off, uint32_t v)
{
    virtio_mmio_io(f->net->dev, off, 1, (uint8_t *)&v, 4);
}

/* What a guest driver does: features, both queues, DRIVER_OK. */
static void driver_init(struct fixture *f)
{
    reg_write(f, VIRTIO_MMIO_STATUS, 0);
    reg_write(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = reg_read(f, VIRTIO_MMIO_DEVICE_FEATURES);
    reg_write(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)reg_read(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    /* A vhost-user device offers no ring features the backend might lack. */
    assert_int_equal(offered,
                     (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS));
    reg_write(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)offered);
    reg_write(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(offered >> 32));
    reg_write(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        reg_write(f, VIRTIO_MMIO_QUEUE_SEL, q);
        reg_write(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        reg_write(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(q));
        reg_write(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL(q));
        reg_write(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED(q));
        reg_write(f, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(reg_read(f, VIRTIO_MMIO_QUEUE_READY), 1);
    }
    reg_write(f, VIRTIO_MMIO_STATUS,
              VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void set_used_idx(struct fixture *f, unsigned q, uint16_t idx)
{
    uint16_t *p = guest_mem_ptr(&f->vm.mem, USED(q) + 2, 2);
    assert_non_null(p);
    *p = idx;
}

static void seen_reset(struct seen *s)
{
    for (unsigned q = 0; q < 2; q++) {
        if (s->kick[q] >= 0)
            close(s->kick[q]);
        if (s->call[q] >= 0)
            close(s->call[q]);
    }
    if (s->inflight_fd >= 0)
        close(s->inflight_fd);
    memset(s, 0, sizeof(*s));
    s->kick[0] = s->kick[1] = s->call[0] = s->call[1] = s->inflight_fd = -1;
}

static void reply_u64(int sock, struct vhost_user_msg *m, uint64_t v)
{
    vhost_user_msg_make_reply(m);
    m->hdr.size = 8;
    m->payload.u64 = v;
    vhost_user_send(sock, m);
}

/* The test's backend: answers every request until the socket closes or it is told to
 * misbehave. */
static void *backend(void *opaque)
{
    struct fixture *f = opaque;
    struct vhost_user_msg m;
    for (;;) {
        if (vhost_user_recv(f->sock, &m, false) < 0)
            break;
        uint32_t req = m.hdr.request;
        bool ack = m.hdr.flags & VHOST_USER_FLAG_NEED_REPLY;
        pthread_mutex_lock(&f->lock);
        struct seen *s = &f->seen;
        if (s->n < 128)
            s->requests[s->n++] = req;
        unsigned q = m.payload.state.index & 1;
        switch (req) {
        case VHOST_USER_SET_FEATURES: s->features = m.payload.u64; break;
        case VHOST_USER_SET_MEM_TABLE: s->mem = m.payload.memory; break;
        case VHOST_USER_SET_VRING_ADDR: s->addr[m.payload.addr.index & 1] = m.payload.addr; break;
        case VHOST_USER_SET_VRING_BASE: s->base[q] = m.payload.state.num; break;
        case VHOST_USER_SET_VRING_NUM: s->num[q] = m.payload.state.num; break;
        case VHOST_USER_SET_VRING_KICK:
        case VHOST_USER_SET_VRING_CALL: {
            int *slot = req == VHOST_USER_SET_VRING_KICK ? &s->kick[m.payload.u64 & 1] : &s->call[m.payload.u64 & 1];
            if (*slot >= 0)
                close(*slot);
            *slot = m.fds[0];
            m.fds[0] = -1;
            break;
        }
        case VHOST_USER_SET_INFLIGHT_FD:
            if (s->inflight_fd >= 0)
                close(s->inflight_fd);
            s->inflight_fd = m.fds[0];
            m.fds[0] = -1;
            break;
        case VHOST_USER_SET_VRING_ENABLE: s->enabled += m.payload.state.num == 1; break;
        default: break;
        }
        pthread_mutex_unlock(&f->lock);
        vhost_user_msg_close_fds(&m);
        if (f->how == SLOW_DRIP) /* every answer in time, the whole exchange far too slow */
            nanosleep(&(struct timespec){.tv_nsec = 300 * 1000000L}, NULL);

        if (req == VHOST_USER_GET_FEATURES) {
            if (f->how == BAD_FEATURES_SIZE) {
                vhost_user_msg_make_reply(&m);
                m.hdr.size = 4; /* a u64 cut short */
                vhost_user_send(f->sock, &m);
                continue;
            }
            reply_u64(f->sock, &m, VHOST_USER_NET_FEATURES);
        } else if (req == VHOST_USER_GET_PROTOCOL_FEATURES) {
            reply_u64(f->sock, &m, VHOST_USER_NET_PROTOCOL_FEATURES | (1ULL << VHOST_USER_PROTOCOL_F_MQ));
        } else if (req == VHOST_USER_GET_INFLIGHT_FD) {
            pthread_mutex_lock(&f->lock);
            f->seen.got_inflight_request = true;
            pthread_mutex_unlock(&f->lock);
            vhost_user_msg_make_reply(&m);
            m.hdr.size = sizeof(m.payload.inflight);
            m.payload.inflight.mmap_size = 4096;
            m.payload.inflight.mmap_offset = 0;
            m.payload.inflight.num_queues = 2;
            m.payload.inflight.queue_size = QSIZE;
            m.fds[0] = f->inflight_memfd;
            m.nfds = 1;
            vhost_user_send(f->sock, &m);
        } else if (req == VHOST_USER_GET_VRING_BASE) {
            pthread_mutex_lock(&f->lock);
            f->seen.get_base++;
            pthread_mutex_unlock(&f->lock);
            vhost_user_msg_make_reply(&m);
            m.hdr.size = sizeof(m.payload.state);
            vhost_user_send(f->sock, &m);
        } else if (ack) {
            if (req == VHOST_USER_SET_MEM_TABLE && f->how == SILENT_ON_MEM_TABLE)
                continue; /* never answers: the front end's deadline must end this */
            if (req == VHOST_USER_SET_MEM_TABLE && f->how == FD_WITH_ACK) {
                vhost_user_msg_make_reply(&m);
                m.hdr.size = 8;
                m.payload.u64 = 0;
                m.fds[0] = f->inflight_memfd;
                m.nfds = 1;
                vhost_user_send(f->sock, &m);
                continue;
            }
            reply_u64(f->sock, &m, req == VHOST_USER_SET_VRING_ADDR && f->how == NACK_VRING_ADDR ? 1 : 0);
        }
    }
    return NULL;
}

static void backend_connect(struct fixture *f, enum misbehave how)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->sock >= 0);
    assert_int_equal(connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    f->how = how;
    pthread_mutex_lock(&f->lock);
    seen_reset(&f->seen);
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(pthread_create(&f->thread, NULL, backend, f), 0);
    f->thread_running = true;
}

/* The backend dies: its end of the socket closes. */
static void backend_kill(struct fixture *f)
{
    if (!f->thread_running)
        return;
    shutdown(f->sock, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    close(f->sock);
    f->thread_running = false;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits (5 s at most) until the backend saw `n` SET_VRING_ENABLE(1): the hand-over is done. */
static bool wait_enabled(struct fixture *f, unsigned n)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&f->lock);
        unsigned e = f->seen.enabled;
        pthread_mutex_unlock(&f->lock);
        if (e >= n)
            return true;
        sleep_ms(10);
    }
    return false;
}

static struct virtio_net_stats stats_of(struct fixture *f)
{
    struct virtio_net_stats s;
    virtio_net_get_stats(f->net, &s);
    return s;
}

static bool wait_disconnects(struct fixture *f, uint64_t n, unsigned ms)
{
    for (unsigned i = 0; i < ms / 10; i++) {
        if (stats_of(f).front.disconnects >= n)
            return true;
        sleep_ms(10);
    }
    return false;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    if (guest_mem_create(&f->vm.mem, RAM) < 0)
        return -1;
    virtio_host_init(&f->vm.virtio, -1, &f->vm.mem, &f->vm.mmio, &f->vm.devices);
    strcpy(f->dir, "/tmp/test_virtio_net.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/net0.sock", f->dir);
    pthread_mutex_init(&f->lock, NULL);
    f->seen.kick[0] = f->seen.kick[1] = f->seen.call[0] = f->seen.call[1] = f->seen.inflight_fd = -1;
    f->inflight_memfd = memfd_create("inflight", MFD_CLOEXEC);
    if (f->inflight_memfd < 0 || ftruncate(f->inflight_memfd, 4096) < 0)
        return -1;
    struct virtio_net_config_host cfg = {.socket_path = f->path, .mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
    f->net = virtio_net_create(&f->vm.virtio, &cfg);
    if (!f->net)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_host_destroy(&f->vm.virtio); /* resets (GET_VRING_BASE while connected), frees */
    backend_kill(f);
    seen_reset(&f->seen);
    close(f->inflight_memfd);
    guest_mem_destroy(&f->vm.mem);
    struct stat st;
    /* The socket goes with the device. */
    assert_int_equal(stat(f->path, &st), -1);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static void config_space(void **state)
{
    struct fixture *f = *state;
    uint8_t mac[6];
    assert_int_equal(reg_read(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
    for (unsigned i = 0; i < 6; i++)
        virtio_mmio_io(f->net->dev, VIRTIO_MMIO_CONFIG + i, 0, &mac[i], 1);
    assert_memory_equal(mac, ((uint8_t[]){0x52, 0x54, 0, 0x12, 0x34, 0x56}), 6);
    uint16_t status;
    virtio_mmio_io(f->net->dev, VIRTIO_MMIO_CONFIG + 6, 0, (uint8_t *)&status, 2);
    assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The backend raises interrupts without the transport: InterruptStatus always says used. */
    assert_int_equal(reg_read(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_USED, VIRTIO_INT_USED);
}

/* Connected before the driver runs: the rings go over at DRIVER_OK. Then a restart. */
static void handover_and_reconnect(void **state)
{
    struct fixture *f = *state;
    backend_connect(f, GOOD);
    sleep_ms(100);
    pthread_mutex_lock(&f->lock);
    assert_int_equal(f->seen.enabled, 0); /* nothing to hand over before DRIVER_OK */
    pthread_mutex_unlock(&f->lock);
    driver_init(f);
    assert_true(wait_enabled(f, 2));

    pthread_mutex_lock(&f->lock);
    struct seen *s = &f->seen;
    assert_int_equal(s->requests[0], VHOST_USER_GET_FEATURES);
    assert_int_equal(s->requests[1], VHOST_USER_GET_PROTOCOL_FEATURES);
    assert_int_equal(s->requests[2], VHOST_USER_SET_PROTOCOL_FEATURES);
    assert_int_equal(s->requests[3], VHOST_USER_SET_OWNER);
    /* VERSION_1 and the protocol bit; the config-space bits stay with the monitor. */
    assert_int_equal(s->features, VHOST_USER_NET_FEATURES);
    assert_int_equal(s->mem.nregions, 1);
    assert_int_equal(s->mem.regions[0].guest_phys_addr, 0);
    assert_int_equal(s->mem.regions[0].memory_size, RAM);
    assert_int_equal(s->mem.regions[0].userspace_addr, (uint64_t)(uintptr_t)f->vm.mem.host);
    assert_true(s->got_inflight_request);
    for (unsigned q = 0; q < 2; q++) {
        assert_int_equal(s->num[q], QSIZE);
        assert_int_equal(s->base[q], 0);
        assert_int_equal(s->addr[q].desc_user_addr, (uint64_t)(uintptr_t)f->vm.mem.host + DESC(q));
        assert_int_equal(s->addr[q].avail_user_addr, (uint64_t)(uintptr_t)f->vm.mem.host + AVAIL(q));
        assert_int_equal(s->addr[q].used_user_addr, (uint64_t)(uintptr_t)f->vm.mem.host + USED(q));
        assert_true(s->kick[q] >= 0 && s->call[q] >= 0);
    }
    /* The kick fd is the queue's notify eventfd: a QueueNotify (here through the MMIO
     * fallback, no KVM) reaches the backend without the monitor reading it. Drain the
     * kick the front end gives after the hand-over first. */
    uint64_t v;
    assert_int_equal(read(s->kick[1], &v, 8), 8);
    reg_write(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    struct pollfd p = {.fd = s->kick[1], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    /* The call fd is the device's irqfd. */
    struct stat a, b;
    assert_int_equal(fstat(s->call[0], &a), 0);
    assert_int_equal(fstat(virtio_dev_irq_fd(f->net->dev), &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    struct stat inflight1;
    assert_int_equal(fstat(s->inflight_fd, &inflight1), 0);
    pthread_mutex_unlock(&f->lock);

    /* The guest made progress; the backend dies; the next one resumes from guest RAM with
     * the same inflight region and without a new GET_INFLIGHT_FD. */
    set_used_idx(f, 0, 5);
    set_used_idx(f, 1, 65535);
    backend_kill(f);
    assert_true(wait_disconnects(f, 1, 5000));
    backend_connect(f, GOOD);
    assert_true(wait_enabled(f, 2));
    pthread_mutex_lock(&f->lock);
    assert_false(f->seen.got_inflight_request);
    assert_int_equal(f->seen.base[0], 5);
    assert_int_equal(f->seen.base[1], 65535);
    struct stat inflight2;
    assert_int_equal(fstat(f->seen.inflight_fd, &inflight2), 0);
    assert_int_equal(inflight1.st_ino, inflight2.st_ino);
    pthread_mutex_unlock(&f->lock);

    struct virtio_net_stats st = stats_of(f);
    assert_int_equal(st.front.connects, 2);
    assert_int_equal(st.front.disconnects, 1);
    assert_int_equal(st.front.handovers, 2);
    assert_int_equal(st.front.protocol_errors, 0);
    assert_int_equal(st.driver_inits, 1);
    assert_int_equal(st.driver_resets, 0);
    assert_true(st.backend_connected);
    /* The device never noticed. */
    assert_int_equal(reg_read(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);

    /* A driver reset stops both rings before it completes, and drops the inflight region. */
    reg_write(f, VIRTIO_MMIO_STATUS, 0);
    pthread_mutex_lock(&f->lock);
    assert_int_equal(f->seen.get_base, 2);
    pthread_mutex_unlock(&f->lock);
    driver_init(f);
    assert_true(wait_enabled(f, 4));
    pthread_mutex_lock(&f->lock);
    assert_true(f->seen.got_inflight_request);
    pthread_mutex_unlock(&f->lock);
    st = stats_of(f);
    assert_int_equal(st.driver_inits, 2);
    assert_int_equal(st.driver_resets, 1);
}

/* No backend when the driver starts: the rings go over when one connects. A second
 * backend while the first lives is refused. */
static void backend_later(void **state)
{
    struct fixture *f = *state;
    driver_init(f);
    sleep_ms(50);
    backend_connect(f, GOOD);
    assert_true(wait_enabled(f, 2));
    int extra = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    assert_int_equal(connect(extra, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char c;
    struct pollfd p = {.fd = extra, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_int_equal(recv(extra, &c, 1, 0), 0); /* closed on it */
    close(extra);
    assert_int_equal(stats_of(f).front.connects, 1);
    assert_true(stats_of(f).backend_connected);
}

/* Backends that answer wrongly lose the connection; the device and the next, good backend
 * are unaffected. */
static void hostile_backends(void **state)
{
    struct fixture *f = *state;
    static const enum misbehave cases[] = {BAD_FEATURES_SIZE, FD_WITH_ACK, NACK_VRING_ADDR, SILENT_ON_MEM_TABLE,
                                           SLOW_DRIP};
    driver_init(f);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        backend_connect(f, cases[i]);
        /* The silent and the slow one cost the exchange's deadline. */
        assert_true(wait_disconnects(f, i + 1, VHOST_FRONT_REPLY_MS + 3000));
        backend_kill(f);
        assert_int_equal(stats_of(f).front.protocol_errors, i + 1);
        assert_int_equal(stats_of(f).front.handovers, 0);
    }
    backend_connect(f, GOOD);
    assert_true(wait_enabled(f, 2));
    assert_int_equal(stats_of(f).front.handovers, 1);
    assert_int_equal(reg_read(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_space, setup, teardown),
        cmocka_unit_test_setup_teardown(handover_and_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_later, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_backends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
