/* The front end of tests/unit/test_blkback*.c: a vhost-user server on a unix socket, guest
 * memory in a sealed memfd, one ring of NUM entries, driving the real backend code (src/blk,
 * src/vhost) in the same process, one turn of its loop at a time. Header-only (static inline)
 * so that each test program takes what it uses. */
#ifndef XENO_TESTS_BLK_FE_H
#define XENO_TESTS_BLK_FE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "blk/blkback.h"
#include "blk/disk_spec.h"
#include "blk/image.h"
#include "lib/err.h"

#define MEM (1u << 20)
#define GPA 0x100000u
#define NUM 16u
#define DISK_SECTORS 256u /* 128 KiB image */
#define DATA_OFF 0x10000u /* guest buffers from here */

struct fe {
    char dir[64];
    int dirfd;
    struct blkback bb;
    int lsock, sock;
    int memfd;
    uint8_t *mem;
    struct vu_desc *desc;
    struct vu_avail *avail;
    struct vu_used *used;
    int kick, call;
    uint16_t avail_idx;
    struct blk_disk_config cfg;
    /* The inflight region as a front end keeps it (fe_want_inflight): -1 until GET_INFLIGHT_FD. */
    int inflight_fd;
    struct vhost_user_inflight inflight;
};

/* Set before fe_setup*: the front end negotiates INFLIGHT_SHMFD and keeps the region as the
 * monitor does (GET_INFLIGHT_FD once, SET_INFLIGHT_FD on every connection). */
static bool fe_want_inflight;

static inline uint64_t gpa_of(struct fe *f, void *p)
{
    return GPA + (uint64_t)((uint8_t *)p - f->mem);
}

/* One turn of the backend's loop (what main.c's serve does). */
static inline void turn(struct fe *f, int timeout_ms)
{
    struct pollfd pfd[16];
    unsigned n = blkback_poll_fds(&f->bb, pfd, 16, &timeout_ms);
    if (poll(pfd, n, timeout_ms) >= 0)
        blkback_dispatch(&f->bb, pfd, n);
}

static inline void send_msg(struct fe *f, struct vhost_user_msg *m, struct vhost_user_msg *reply)
{
    assert_int_equal(vhost_user_send(f->sock, m), 0);
    turn(f, 100);
    if (vhost_user_request_has_reply(m->hdr.request) || (m->hdr.flags & VHOST_USER_FLAG_NEED_REPLY))
        assert_int_equal(vhost_user_recv(f->sock, reply, true), 0);
}

static inline void make_image(struct fe *f, const char *name, unsigned sectors)
{
    int fd = openat(f->dirfd, name, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)sectors * 512), 0);
    close(fd);
}

/* Called with the image directory before the disk is added (images other than disk.img). */
static void (*fe_before_add)(int dirfd);

/* A backend (f->bb) for f->cfg connects; its queue 0 starts at avail position `base` (what a
 * front end gives after a restart: the used index). The guest memory stays f's. */
static inline void fe_connect(struct fe *f, bool readonly, uint16_t base)
{
    assert_int_equal(blkback_init(&f->bb, dup(f->dirfd)), 0);
    if (blkback_disk_add(&f->bb, &f->cfg) < 0)
        fail_msg("%s", err_msg());
    struct pollfd pfd[4];
    int t = 0;
    blkback_poll_fds(&f->bb, pfd, 4, &t); /* connects */
    f->sock = accept4(f->lsock, NULL, NULL, SOCK_CLOEXEC);
    assert_true(f->sock >= 0);
    vhost_user_set_timeout(f->sock, 2000);

    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    send_msg(f, &m, &r);
    uint64_t feat = r.payload.u64;
    assert_true(feat & (1ull << VU_F_VERSION_1));
    assert_int_equal(!!(feat & (1ull << VIRTIO_BLK_F_RO)), readonly);
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, feat);
    send_msg(f, &m, &r);
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] =
        (struct vhost_user_mem_region){.guest_phys_addr = GPA, .memory_size = MEM, .userspace_addr = (uintptr_t)f->mem};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = dup(f->memfd);
    m.nfds = 1;
    send_msg(f, &m, &r);
    close(m.fds[0]);
    if (fe_want_inflight) {
        vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
        send_msg(f, &m, &r);
        if (f->inflight_fd < 0) {
            vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
            m.payload.inflight = (struct vhost_user_inflight){.num_queues = 1, .queue_size = NUM};
            m.hdr.size = sizeof(m.payload.inflight);
            send_msg(f, &m, &r);
            assert_int_equal(r.nfds, 1);
            f->inflight_fd = r.fds[0];
            f->inflight = r.payload.inflight;
        }
        vhost_user_msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, 0);
        m.payload.inflight = f->inflight;
        m.hdr.size = sizeof(m.payload.inflight);
        m.fds[0] = dup(f->inflight_fd);
        m.nfds = 1;
        send_msg(f, &m, &r);
        close(m.fds[0]);
    }
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, NUM);
    send_msg(f, &m, &r);
    vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
    m.payload.addr = (struct vhost_user_vring_addr){.desc_user_addr = (uintptr_t)f->desc,
                                                    .avail_user_addr = (uintptr_t)f->avail,
                                                    .used_user_addr = (uintptr_t)f->used};
    m.hdr.size = sizeof(m.payload.addr);
    send_msg(f, &m, &r);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, 0, base);
    send_msg(f, &m, &r);
    if (f->kick < 0) {
        f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_CALL, 0);
    m.fds[0] = dup(f->call);
    m.nfds = 1;
    send_msg(f, &m, &r);
    close(m.fds[0]);
    vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_KICK, 0);
    m.fds[0] = dup(f->kick);
    m.nfds = 1;
    send_msg(f, &m, &r);
    close(m.fds[0]);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_ENABLE, 0, 1);
    send_msg(f, &m, &r);
    assert_true(f->bb.disk[0]->dev.vq[0].started);
}

/* Backend with disk `file` (readonly as asked, with qos), connected and its queue 0 running. */
static inline void fe_setup_qos(struct fe *f, const char *file, bool readonly, const struct blk_qos *qos)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_blkback.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->dirfd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    make_image(f, "disk.img", DISK_SECTORS);
    struct blk_disk_config cfg = {.name = "vda", .serial = "SER-123", .readonly = readonly, .queues = 1};
    snprintf(cfg.socket, sizeof(cfg.socket), "%s/vda.sock", f->dir);
    snprintf(cfg.file, sizeof(cfg.file), "%s", file);
    if (qos)
        cfg.qos = *qos;
    f->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", cfg.socket);
    assert_int_equal(bind(f->lsock, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lsock, 1), 0);
    if (fe_before_add)
        fe_before_add(f->dirfd);
    f->memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(f->memfd, MEM), 0);
    assert_int_equal(fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    f->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    assert_true(f->mem != MAP_FAILED);
    f->desc = (void *)f->mem;
    f->avail = (void *)(f->mem + 0x1000);
    f->used = (void *)(f->mem + 0x2000);
    f->kick = f->call = f->inflight_fd = -1;
    f->cfg = cfg;
    fe_connect(f, readonly, 0);
}

static inline void fe_setup(struct fe *f, const char *file, bool readonly)
{
    fe_setup_qos(f, file, readonly, NULL);
}

static inline void fe_teardown_rest(struct fe *f);

static inline void fe_teardown(struct fe *f)
{
    blkback_fini(&f->bb);
    fe_teardown_rest(f);
}

/* What the front end holds, once the backend is gone. */
static inline void fe_teardown_rest(struct fe *f)
{
    close(f->sock);
    close(f->lsock);
    close(f->kick);
    close(f->call);
    if (f->inflight_fd >= 0)
        close(f->inflight_fd);
    munmap(f->mem, MEM);
    close(f->memfd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    close(f->dirfd);
}

/* A chain of segments: each {guest pointer, len, writable}. Returns the head. */
struct seg {
    void *p;
    uint32_t len;
    bool wr;
};

static inline uint16_t post(struct fe *f, uint16_t first_desc, const struct seg *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct vu_desc *d = &f->desc[first_desc + i];
        d->addr = gpa_of(f, s[i].p);
        d->len = s[i].len;
        d->flags = (uint16_t)((s[i].wr ? VU_DESC_F_WRITE : 0) | (i + 1 < n ? VU_DESC_F_NEXT : 0));
        d->next = (uint16_t)(first_desc + i + 1);
    }
    f->avail->ring[f->avail_idx % NUM] = first_desc;
    __atomic_store_n(&f->avail->idx, ++f->avail_idx, __ATOMIC_RELEASE);
    return first_desc;
}

/* Kicks and turns the loop until the used index reaches the avail index (bounded). */
static inline void run_until_done(struct fe *f)
{
    uint64_t one = 1;
    assert_int_equal(write(f->kick, &one, sizeof(one)), 8);
    for (int i = 0; i < 200 && __atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE) != f->avail_idx; i++)
        turn(f, 50);
    assert_int_equal(__atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE), f->avail_idx);
}

/* One request: header, optional data (readable for OUT, writable for IN), status. */
static inline uint8_t request(struct fe *f, uint32_t type, uint64_t sector, void *data, uint32_t len, bool data_wr)
{
    struct virtio_blk_req_hdr *h = (void *)(f->mem + 0x3000);
    uint8_t *status = f->mem + 0x3100;
    *h = (struct virtio_blk_req_hdr){.type = type, .sector = sector};
    *status = 0xee;
    struct seg s[3] = {{h, sizeof(*h), false}, {data, len, data_wr}, {status, 1, true}};
    if (data)
        post(f, 0, s, 3);
    else {
        s[1] = s[2];
        post(f, 0, s, 2);
    }
    run_until_done(f);
    return *status;
}

#endif
