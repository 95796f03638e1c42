/* The disk scheduler on the real backend: this test is the front end of up to five disks (a
 * vhost-user server per disk, guest memory in a memfd, one ring each) and keeps every ring
 * full of 4 KiB reads for 3 s against the real backend code (src/blk on io_uring, images in
 * /dev/shm). The "device" is a sponsor group limit of 1500 IOPS over all five disks, so the
 * host is saturated deterministically whatever the machine; measured on the completions:
 *   - a reservation is held (within 5%) beside disks of 1000x its weight;
 *   - a disk limit and a group limit across two disks are never exceeded by more than 2% in
 *     any 1 s window;
 *   - what is left is split by weight (within 10%). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blk/blkback.h"
#include "blk/disk_spec.h"
#include "lib/err.h"

#define MEM (1u << 20)
#define GPA 0x100000u
#define NUM 16u
#define INFLIGHT 5u /* requests of 3 descriptors per ring */
#define NDISKS 40u  /* at most: test_many_disks, beyond the 32 of blkback's first limit */
#define RUN_NS 3000000000ull
#define SKIP_NS 500000000ull /* the start (bursts within the tolerance) is not measured */
#define MAX_DONE 16384u

struct fe_disk {
    int lsock, sock, memfd, kick, call;
    uint8_t *mem;
    struct vu_desc *desc;
    struct vu_avail *avail;
    struct vu_used *used;
    uint16_t avail_idx, used_seen;
    uint64_t *done_ns;
    unsigned ndone;
};

static struct blkback bb;
static struct fe_disk fd_[NDISKS];
static unsigned ndisks;
static char dir[64];

static void turn(int timeout_ms)
{
    struct pollfd pfd[64];
    unsigned n = blkback_poll_fds(&bb, pfd, 64, &timeout_ms);
    if (poll(pfd, n, timeout_ms) >= 0)
        blkback_dispatch(&bb, pfd, n);
}

static void send_msg(struct fe_disk *f, struct vhost_user_msg *m)
{
    struct vhost_user_msg r;
    assert_int_equal(vhost_user_send(f->sock, m), 0);
    turn(100);
    if (vhost_user_request_has_reply(m->hdr.request) || (m->hdr.flags & VHOST_USER_FLAG_NEED_REPLY))
        assert_int_equal(vhost_user_recv(f->sock, &r, true), 0);
    if (m->hdr.request == VHOST_USER_GET_FEATURES)
        m->payload.u64 = r.payload.u64;
}

static void send_fd(struct fe_disk *f, unsigned req, int fd)
{
    struct vhost_user_msg m;
    vhost_user_msg_u64(&m, req, 0);
    m.fds[0] = dup(fd);
    m.nfds = 1;
    send_msg(f, &m);
    close(m.fds[0]);
}

/* Disk i: image, listening socket, blkback_disk_add with spec words `qos`, the handshake. */
static void disk_add(unsigned i, const char *qos)
{
    struct fe_disk *f = &fd_[i];
    char spec[300], path[128];
    snprintf(path, sizeof(path), "%s/d%u.img", dir, i);
    int img = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(img >= 0);
    assert_int_equal(ftruncate(img, 1 << 20), 0);
    close(img);
    snprintf(spec, sizeof(spec), "name=d%u,socket=%s/d%u.sock,file=d%u.img,%s", i, dir, i, i, qos);
    struct blk_disk_config cfg;
    assert_int_equal(blk_disk_spec_parse(spec, &cfg), 0);
    f->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", cfg.socket);
    assert_int_equal(bind(f->lsock, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lsock, 1), 0);
    if (blkback_disk_add(&bb, &cfg) < 0)
        fail_msg("%s", err_msg());
    struct pollfd pfd[64];
    int t = 0;
    blkback_poll_fds(&bb, pfd, 64, &t); /* connects */
    f->sock = accept4(f->lsock, NULL, NULL, SOCK_CLOEXEC);
    assert_true(f->sock >= 0);
    vhost_user_set_timeout(f->sock, 2000);
    f->memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(f->memfd, MEM), 0);
    assert_int_equal(fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    f->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    assert_true(f->mem != MAP_FAILED);
    f->desc = (void *)f->mem;
    f->avail = (void *)(f->mem + 0x1000);
    f->used = (void *)(f->mem + 0x2000);
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    send_msg(f, &m);
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, m.payload.u64);
    send_msg(f, &m);
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] =
        (struct vhost_user_mem_region){.guest_phys_addr = GPA, .memory_size = MEM, .userspace_addr = (uintptr_t)f->mem};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = dup(f->memfd);
    m.nfds = 1;
    send_msg(f, &m);
    close(m.fds[0]);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, NUM);
    send_msg(f, &m);
    vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
    m.payload.addr = (struct vhost_user_vring_addr){.desc_user_addr = (uintptr_t)f->desc,
                                                    .avail_user_addr = (uintptr_t)f->avail,
                                                    .used_user_addr = (uintptr_t)f->used};
    m.hdr.size = sizeof(m.payload.addr);
    send_msg(f, &m);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, 0, 0);
    send_msg(f, &m);
    f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    send_fd(f, VHOST_USER_SET_VRING_CALL, f->call);
    send_fd(f, VHOST_USER_SET_VRING_KICK, f->kick);
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_ENABLE, 0, 1);
    send_msg(f, &m);
    assert_true(bb.disk[i]->dev.vq[0].started);
    f->done_ns = calloc(MAX_DONE, sizeof(uint64_t));
    assert_non_null(f->done_ns);
    f->ndone = 0;
    f->avail_idx = f->used_seen = 0;
    ndisks = i + 1;
}

static void gpa_desc(struct fe_disk *f, unsigned d, uint32_t off, uint32_t len, uint16_t flags)
{
    f->desc[d] = (struct vu_desc){.addr = GPA + off, .len = len, .flags = flags, .next = (uint16_t)(d + 1)};
}

/* Request r of a disk: descriptors 3r..3r+2 (header, 4 KiB to read, status), data at 64 KiB
 * + r x 4 KiB (aligned: the O_DIRECT path where the file system has it). */
static void post(struct fe_disk *f, unsigned r)
{
    struct virtio_blk_req_hdr *h = (void *)(f->mem + 0x3000 + r * 32);
    *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_IN, .sector = (uint64_t)r * 8};
    gpa_desc(f, 3 * r, 0x3000 + r * 32, sizeof(*h), VU_DESC_F_NEXT);
    gpa_desc(f, 3 * r + 1, 0x10000 + r * 4096, 4096, VU_DESC_F_NEXT | VU_DESC_F_WRITE);
    gpa_desc(f, 3 * r + 2, 0x3800 + r, 1, VU_DESC_F_WRITE);
    f->avail->ring[f->avail_idx % NUM] = (uint16_t)(3 * r);
    __atomic_store_n(&f->avail->idx, ++f->avail_idx, __ATOMIC_RELEASE);
}

/* Keeps every ring full for RUN_NS, recording each completion's time. */
static void load(void)
{
    uint64_t one = 1, t0 = blk_now_ns();
    for (unsigned i = 0; i < ndisks; i++) {
        for (unsigned r = 0; r < INFLIGHT; r++)
            post(&fd_[i], r);
        assert_int_equal(write(fd_[i].kick, &one, 8), 8);
    }
    for (uint64_t now = t0; now - t0 < RUN_NS; now = blk_now_ns()) {
        turn(20);
        now = blk_now_ns();
        for (unsigned i = 0; i < ndisks; i++) {
            struct fe_disk *f = &fd_[i];
            uint16_t idx = __atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE);
            bool posted = false;
            for (; f->used_seen != idx; f->used_seen++) {
                unsigned r = f->used->ring[f->used_seen % NUM].id / 3;
                assert_int_equal(f->mem[0x3800 + r], VIRTIO_BLK_S_OK);
                if (f->ndone < MAX_DONE)
                    f->done_ns[f->ndone++] = now - t0;
                post(f, r);
                posted = true;
            }
            if (posted)
                assert_int_equal(write(f->kick, &one, 8), 8);
        }
    }
}

/* Completions of the disks in mask within [from, from + 1 s). */
static unsigned in_window(unsigned mask, uint64_t from)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ndisks; i++)
        if (mask >> i & 1)
            for (unsigned k = 0; k < fd_[i].ndone; k++)
                n += fd_[i].done_ns[k] >= from && fd_[i].done_ns[k] < from + 1000000000ull;
    return n;
}

/* The most and the fewest completions of mask's disks in any 1 s window after SKIP_NS. */
static void window_range(unsigned mask, unsigned *lo, unsigned *hi)
{
    *lo = UINT32_MAX, *hi = 0;
    for (uint64_t from = SKIP_NS; from + 1000000000ull <= RUN_NS; from += 50000000ull) {
        unsigned n = in_window(mask, from);
        *lo = n < *lo ? n : *lo;
        *hi = n > *hi ? n : *hi;
    }
}

/* A backend with a calibration (100k IOPS, 1 GB/s), no disks yet. */
static void backend_start(void)
{
    snprintf(dir, sizeof(dir), "%s/test_blk_sched.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(dir));
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(blkback_init(&bb, dirfd), 0);
    struct blk_capacity cap;
    assert_int_equal(blk_capacity_derive(100000, 1000000000, BLK_HEADROOM_DEFAULT_PPM, &cap), 0);
    assert_int_equal(blkback_set_device(&bb, &cap, 0), 0);
    ndisks = 0;
}

static void backend_stop(void)
{
    blkback_fini(&bb);
    for (unsigned i = 0; i < ndisks; i++) {
        struct fe_disk *f = &fd_[i];
        close(f->sock), close(f->lsock), close(f->kick), close(f->call), close(f->memfd);
        munmap(f->mem, MEM);
        free(f->done_ns);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sched_on_backend(void **state)
{
    (void)state;
    backend_start();
    /* The reservation in requests of 4 KiB: units / cost. */
    uint64_t cost = blk_iosched_cost(bb.sched, 4096);
    const uint64_t reserve_units = 300;
    unsigned reserved_iops = (unsigned)(reserve_units * BLK_IOSCHED_COST_ONE / cost);
    char words[128];
    snprintf(words, sizeof(words), "reservation=%llu,weight=1,sponsor=s,sponsor_total_iops_sec=1500",
             (unsigned long long)reserve_units);
    disk_add(0, words);                                              /* reserves */
    disk_add(1, "weight=1000,group=g,total_iops_sec=400,sponsor=s"); /* group g ... */
    disk_add(2, "weight=1000,group=g,total_iops_sec=400,sponsor=s"); /* ... of two */
    disk_add(3, "weight=1000,total_iops_sec=250,sponsor=s");         /* its own limit */
    disk_add(4, "weight=1000,sponsor=s");                            /* the rest */
    load();
    unsigned lo, hi;
    window_range(1u << 0, &lo, &hi);
    print_message("reserving disk: %u..%u requests/s (reservation %u)\n", lo, hi, reserved_iops);
    if (lo < reserved_iops * 95 / 100)
        fail_msg("the reservation of %u requests/s was not held: %u in a 1 s window", reserved_iops, lo);
    window_range(3u << 1, &lo, &hi);
    print_message("group g (400): %u..%u\n", lo, hi);
    if (hi > 408 || lo < 300)
        fail_msg("group g of 400 IOPS: %u..%u in 1 s windows", lo, hi);
    window_range(1u << 3, &lo, &hi);
    print_message("disk limit (250): %u..%u\n", lo, hi);
    if (hi > 255 || lo < 200)
        fail_msg("a disk limit of 250 IOPS: %u..%u in 1 s windows", lo, hi);
    window_range(0x1f, &lo, &hi);
    print_message("sponsor (1500): %u..%u\n", lo, hi);
    if (hi > 1530)
        fail_msg("the sponsor's 1500 IOPS: up to %u in a 1 s window", hi);
    /* Both disks of the group got some of it (shared by weight: about half each). */
    window_range(1u << 1, &lo, &hi);
    assert_true(lo > 100);
    backend_stop();
}

/* What is left after the limits is shared by weight: disks of weight 300 and 100 under a
 * sponsor limit of 1000 IOPS get 750 and 250 (within 10%). */
static void test_weight_split_on_backend(void **state)
{
    (void)state;
    backend_start();
    disk_add(0, "weight=300,sponsor=s,sponsor_total_iops_sec=1000");
    disk_add(1, "weight=100,sponsor=s");
    load();
    unsigned lo0, hi0, lo1, hi1;
    window_range(1u << 0, &lo0, &hi0);
    window_range(1u << 1, &lo1, &hi1);
    print_message("weight 300: %u..%u, weight 100: %u..%u\n", lo0, hi0, lo1, hi1);
    if (lo0 < 675 || hi0 > 825 || lo1 < 225 || hi1 > 275)
        fail_msg("weights 300:100 of 1000 IOPS: %u..%u and %u..%u (want 750 and 250 within 10%%)", lo0, hi0, lo1, hi1);
    backend_stop();
}

/* The used index of disk f, after turns of the loop until it reaches want (at most 2 s). */
static uint16_t served(struct fe_disk *f, uint16_t want)
{
    uint16_t idx = 0;
    for (uint64_t t0 = blk_now_ns(); blk_now_ns() - t0 < 2000000000ull; turn(10))
        if ((idx = __atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE)) == want)
            break;
    return idx;
}

/* NDISKS disks, more than blkback's first limit (32), all connected with their rings started:
 * each serves a request; once the loop would sleep no queue is on its live list (idle disks
 * cost the loop nothing per turn, bench/blk/idle_disks.sh); a kick on one disk wakes that one
 * and it is served. */
static void test_many_disks(void **state)
{
    (void)state;
    backend_start();
    uint64_t one = 1;
    for (unsigned i = 0; i < NDISKS; i++)
        disk_add(i, "weight=100");
    assert_int_equal(bb.ndisks, NDISKS);
    for (unsigned i = 0; i < NDISKS; i++) {
        post(&fd_[i], 0);
        assert_int_equal(write(fd_[i].kick, &one, 8), 8);
    }
    for (unsigned i = 0; i < NDISKS; i++) {
        assert_int_equal(served(&fd_[i], 1), 1);
        assert_int_equal(fd_[i].mem[0x3800], VIRTIO_BLK_S_OK);
    }
    assert_false(blkback_kicks_on(&bb)); /* what the loop asks before it sleeps */
    assert_null(bb.live);
    struct fe_disk *f = &fd_[NDISKS - 3];
    post(f, 1);
    assert_int_equal(write(f->kick, &one, 8), 8);
    assert_int_equal(served(f, 2), 2);
    assert_int_equal(f->mem[0x3801], VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < NDISKS; i++) /* the others were not touched */
        assert_int_equal(__atomic_load_n(&fd_[i].used->idx, __ATOMIC_ACQUIRE), f == &fd_[i] ? 2 : 1);
    assert_false(blkback_kicks_on(&bb));
    assert_null(bb.live);
    backend_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sched_on_backend),
                                       cmocka_unit_test(test_weight_split_on_backend),
                                       cmocka_unit_test(test_many_disks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
