/* The vhost-user dirty log (docs/migration.md, "Devices' writes"): the backend's marking
 * (src/vhost/vu_log.c) through the ring writes that use it (vring.c), the device's
 * SET_LOG_BASE (vu_dev.c), and the monitor's collection into the migration's page numbering
 * (src/vmm/virtio/vhost_front_log.c). Real memfds throughout: the same shared memory a front
 * end and a backend use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"
#include "vhost/mem_table.h"
#include "vhost/vring.h"
#include "vhost/vu_dev.h"
#include "vhost/vu_log.h"
#include "vmm/virtio/vhost_front_log.h"

#define PAGE 4096u
#define LOG_BYTES 8u /* 64 pages logged: [0, 64) */

static int sealed_memfd(uint64_t size)
{
    int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    return fd;
}

static bool bit(const struct vu_log *l, uint64_t page)
{
    return (l->bits[page / 8] >> (page % 8)) & 1;
}

static unsigned count(const struct vu_log *l)
{
    unsigned n = 0;
    for (uint64_t i = 0; i < l->size; i++)
        n += (unsigned)__builtin_popcount(l->bits[i]);
    return n;
}

static void clear(struct vu_log *l)
{
    memset(l->bits, 0, l->size);
}

/* Marking by guest-physical address: a range across a page boundary marks both pages, a
 * range ending exactly at a boundary does not mark the next, the log's last page is marked,
 * pages past the log's end are not (and nothing beyond it is touched), len 0 marks nothing. */
static void test_mark_gpa(void **state)
{
    (void)state;
    struct vu_log l = {0};
    int fd = sealed_memfd(PAGE);
    assert_int_equal(vu_log_map(&l, fd, LOG_BYTES, 0), 0);
    assert_int_equal(l.size, LOG_BYTES);

    vu_log_mark(&l, 2 * PAGE - 16, 32); /* pages 1 and 2 */
    assert_true(bit(&l, 1) && bit(&l, 2));
    assert_int_equal(count(&l), 2);
    clear(&l);
    vu_log_mark(&l, 3 * PAGE, PAGE); /* exactly page 3 */
    assert_true(bit(&l, 3));
    assert_int_equal(count(&l), 1);
    clear(&l);
    vu_log_mark(&l, 63 * PAGE + PAGE - 1, 1); /* the last byte of the last page */
    assert_true(bit(&l, 63));
    assert_int_equal(count(&l), 1);
    clear(&l);
    vu_log_mark(&l, 63 * PAGE, 3 * PAGE); /* across the end: only what the log covers */
    assert_true(bit(&l, 63));
    assert_int_equal(count(&l), 1);
    clear(&l);
    vu_log_mark(&l, 64 * PAGE, 16);       /* past the end */
    vu_log_mark(&l, UINT64_MAX - 8, 100); /* wraps */
    vu_log_mark(&l, 5 * PAGE, 0);
    assert_int_equal(count(&l), 0);
    /* The byte after the log in the memfd is never touched (the mapping holds a page). */
    assert_int_equal(((uint8_t *)l.map)[LOG_BYTES], 0);
    vu_log_unmap(&l);
    assert_null(l.bits);
    vu_log_mark(&l, 0, 16); /* no log: nothing, no crash */
}

/* What vu_log_map refuses: an fd not sealed against shrinking (-EPERM), one smaller than the
 * log (-EINVAL), an empty or huge log; the log in force stays. Every fd is taken. */
static void test_map_refusals(void **state)
{
    (void)state;
    struct vu_log l = {0};
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), LOG_BYTES, 0), 0);
    uint8_t *before = l.bits;
    int unsealed = memfd_create("unsealed", MFD_CLOEXEC);
    assert_int_equal(ftruncate(unsealed, PAGE), 0);
    assert_int_equal(vu_log_map(&l, unsealed, LOG_BYTES, 0), -EPERM);
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), PAGE, 8), -EINVAL); /* needs PAGE + 8 */
    assert_non_null(strstr(err_msg(), "needs"));
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), 0, 0), -EINVAL);
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), VU_LOG_MAX_BYTES + 1, 0), -EINVAL);
    assert_ptr_equal(l.bits, before);
    /* An offset inside the fd: the log starts there. */
    assert_int_equal(vu_log_map(&l, sealed_memfd(2 * PAGE), LOG_BYTES, PAGE), 0);
    assert_ptr_equal(l.bits, (uint8_t *)l.map + PAGE);
    vu_log_unmap(&l);
}

/* Two regions of guest memory, as the monitor hands them over (RAM below and above a hole). */
#define R0_GPA 0x0u
#define R1_GPA (16u * PAGE) /* a hole of 8 pages after region 0 */
#define R_SIZE (8u * PAGE)

struct two_regions {
    int fd;
    struct mem_table mt;
};

static void two_regions_map(struct two_regions *t)
{
    t->fd = sealed_memfd(2 * R_SIZE);
    struct vhost_user_mem_table mt = {.nregions = 2};
    mt.regions[0] = (struct vhost_user_mem_region){.guest_phys_addr = R0_GPA, .memory_size = R_SIZE};
    mt.regions[1] = (struct vhost_user_mem_region){
        .guest_phys_addr = R1_GPA, .memory_size = R_SIZE, .userspace_addr = 1 << 30, .mmap_offset = R_SIZE};
    memset(&t->mt, 0, sizeof(t->mt));
    int fds[2] = {dup(t->fd), dup(t->fd)};
    assert_int_equal(mem_table_map(&t->mt, &mt, fds), 0);
}

/* Marking through the backend's own pointers: translated to the region's guest-physical
 * pages (the last page of a region included), and a pointer outside every region (or a range
 * running out of its region) is ignored. */
static void test_mark_host(void **state)
{
    (void)state;
    struct two_regions t;
    two_regions_map(&t);
    struct vu_log l = {0};
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), LOG_BYTES, 0), 0);

    vu_log_mark_host(&l, &t.mt, t.mt.r[1].host + R_SIZE - 1, 1); /* region 1's last byte */
    assert_true(bit(&l, R1_GPA / PAGE + 7));
    assert_int_equal(count(&l), 1);
    clear(&l);
    vu_log_mark_host(&l, &t.mt, t.mt.r[0].host + PAGE - 8, 16); /* across pages 0 and 1 */
    assert_true(bit(&l, 0) && bit(&l, 1));
    assert_int_equal(count(&l), 2);
    clear(&l);
    static uint8_t elsewhere[64];
    vu_log_mark_host(&l, &t.mt, elsewhere, sizeof(elsewhere));    /* not guest memory */
    vu_log_mark_host(&l, &t.mt, t.mt.r[0].host + R_SIZE - 8, 16); /* runs out of region 0 */
    /* Mapped by region 1 (it maps its fd from 0) but below its mmap_offset: not its memory. */
    vu_log_mark_host(&l, &t.mt, (uint8_t *)t.mt.r[1].map + 8, 1);
    assert_int_equal(count(&l), 0);
    vu_log_unmap(&l);
    mem_table_unmap(&t.mt);
    close(t.fd);
}

/* The ring writes log what they wrote once a log is in use: a used entry and the used index
 * (the used ring's page), and a chain's buffers (every page the bytes landed in); with no
 * log nothing is marked. */
static void test_ring_writes(void **state)
{
    (void)state;
    struct two_regions t;
    two_regions_map(&t);
    struct vu_log l = {0};
    assert_int_equal(vu_log_map(&l, sealed_memfd(PAGE), LOG_BYTES, 0), 0);
    uint8_t *base = t.mt.r[0].host; /* rings in region 0's page 0; buffers in region 1 */
    struct vu_desc *desc = (void *)base;
    struct vu_avail *avail = (void *)(base + 0x400);
    struct vu_used *used = (void *)(base + 0x800);
    struct vring vr;
    vring_init(&vr);
    vr.num = 8;
    vr.desc_uva = t.mt.r[0].uva;
    vr.avail_uva = t.mt.r[0].uva + 0x400;
    vr.used_uva = t.mt.r[0].uva + 0x800;
    vr.addr_set = true;
    assert_int_equal(vring_start(&vr, &t.mt, 0, "test"), 0);
    /* One writable buffer of 2 pages' worth straddling region 1's pages 2 and 3. */
    desc[0] = (struct vu_desc){.addr = R1_GPA + 2 * PAGE + PAGE / 2, .len = PAGE, .flags = VU_DESC_F_WRITE};
    avail->ring[0] = 0;
    avail->idx = 1;
    struct vring_chain c;
    assert_int_equal(vring_pop(&vr, &t.mt, &c), 1);
    uint8_t data[PAGE];
    memset(data, 0xa5, sizeof(data));
    struct iovec src = {.iov_base = data, .iov_len = 100};
    /* Not logging yet: nothing marked. */
    assert_int_equal(vring_chain_write(&c, &src, 1), 100);
    vring_push(&vr, c.head, 100);
    assert_int_equal(count(&l), 0);
    /* Logging: a short write marks only its page; a full one both; the push the ring page. */
    vr.log = &l;
    avail->ring[1] = 0;
    avail->idx = 2;
    assert_int_equal(vring_pop(&vr, &t.mt, &c), 1);
    assert_int_equal(vring_chain_write(&c, &src, 1), 100);
    assert_int_equal(count(&l), 1);
    assert_true(bit(&l, R1_GPA / PAGE + 2));
    src.iov_len = PAGE;
    assert_int_equal(vring_chain_write(&c, &src, 1), PAGE);
    assert_true(bit(&l, R1_GPA / PAGE + 3));
    assert_int_equal(count(&l), 2);
    clear(&l);
    vring_push(&vr, c.head, PAGE);
    assert_int_equal(used->idx, 2);
    assert_true(bit(&l, 0));
    assert_int_equal(count(&l), 1);
    /* A write the owner makes itself (xeno-blkback's read data): vring_log. */
    clear(&l);
    vring_log(&vr, t.mt.r[1].host + 5 * PAGE, 1);
    assert_true(bit(&l, R1_GPA / PAGE + 5));
    vring_stop(&vr);
    vu_log_unmap(&l);
    mem_table_unmap(&t.mt);
    close(t.fd);
}

/* The device's side of SET_LOG_BASE over a socket: refused without LOG_SHMFD negotiated (the
 * connection must go), mapped and answered with an empty reply with it, and in use by the
 * rings only while LOG_ALL is negotiated. */
static void nop_ring(struct vu_dev *d, unsigned q)
{
    (void)d;
    (void)q;
}
static const struct vu_dev_class test_class = {.kind = "test",
                                               .features = 1ull << VU_F_VERSION_1 | 1ull << VU_F_PROTOCOL_FEATURES,
                                               .nq = 2,
                                               .ring_started = nop_ring,
                                               .ring_stopping = nop_ring};

static int set_log_base(struct vu_dev *d, int sock, int peer, int fd)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_SET_LOG_BASE, 0);
    m.payload.log = (struct vhost_user_log){.mmap_size = LOG_BYTES};
    m.hdr.size = sizeof(m.payload.log);
    m.fds[0] = fd;
    m.nfds = 1;
    int rc = vu_dev_handle(d, sock, &m);
    if (rc == 0) {
        struct vhost_user_msg r;
        assert_int_equal(vhost_user_recv(peer, &r, true), 0);
        assert_int_equal(r.hdr.request, VHOST_USER_SET_LOG_BASE);
        assert_int_equal(r.hdr.size, 0);
    }
    return rc;
}

static void u64_msg(struct vu_dev *d, int sock, int peer, uint32_t req, uint64_t v, bool reply)
{
    struct vhost_user_msg m;
    vhost_user_msg_u64(&m, req, v);
    assert_int_equal(vu_dev_handle(d, sock, &m), 0);
    if (reply) {
        assert_int_equal(vhost_user_recv(peer, &m, true), 0);
        assert_int_equal(m.hdr.request, req);
    }
}

static void test_device_set_log_base(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct vu_dev d;
    vu_dev_init(&d, "t", &test_class);
    /* Offered by every device. */
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    assert_int_equal(vu_dev_handle(&d, sv[0], &m), 0);
    assert_int_equal(vhost_user_recv(sv[1], &m, true), 0);
    assert_true(m.payload.u64 & (1ull << VU_F_LOG_ALL));
    vhost_user_msg_init(&m, VHOST_USER_GET_PROTOCOL_FEATURES, 0);
    assert_int_equal(vu_dev_handle(&d, sv[0], &m), 0);
    assert_int_equal(vhost_user_recv(sv[1], &m, true), 0);
    assert_true(m.payload.u64 & (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD));
    /* Without LOG_SHMFD negotiated: refused, the connection is to be dropped. */
    assert_true(set_log_base(&d, sv[0], sv[1], sealed_memfd(PAGE)) < 0);
    assert_null(d.log.bits);
    u64_msg(&d, sv[0], sv[1], VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD, false);
    u64_msg(&d, sv[0], sv[1], VHOST_USER_SET_FEATURES, test_class.features, false);
    assert_int_equal(set_log_base(&d, sv[0], sv[1], sealed_memfd(PAGE)), 0);
    assert_non_null(d.log.bits);
    assert_null(d.vq[0].log); /* mapped, but LOG_ALL is off */
    u64_msg(&d, sv[0], sv[1], VHOST_USER_SET_FEATURES, test_class.features | 1ull << VU_F_LOG_ALL, false);
    assert_ptr_equal(d.vq[0].log, &d.log);
    assert_ptr_equal(d.vq[1].log, &d.log);
    u64_msg(&d, sv[0], sv[1], VHOST_USER_SET_FEATURES, test_class.features, false);
    assert_null(d.vq[1].log);
    /* An unsealed log drops the connection as hostile (-EPERM). */
    int unsealed = memfd_create("unsealed", MFD_CLOEXEC);
    assert_int_equal(ftruncate(unsealed, PAGE), 0);
    assert_int_equal(set_log_base(&d, sv[0], sv[1], unsealed), -EPERM);
    vu_dev_reset(&d);
    assert_null(d.log.bits);
    close(sv[0]);
    close(sv[1]);
}

/* The monitor's collection: guest-physical pages to RAM pages (memfd offsets) across the
 * hole, the bits cleared as they are taken, a marked page that is not RAM dropped, and a
 * second collect empty. */
static void test_front_collect(void **state)
{
    (void)state;
    struct guest_mem mem = {.fd = -1, .nranges = 2};
    mem.ranges[0] = (struct guest_range){.gpa = 0, .size = 8 * PAGE, .offset = 0};
    mem.ranges[1] = (struct guest_range){.gpa = 64 * PAGE, .size = 8 * PAGE, .offset = 8 * PAGE};
    mem.size = 16 * PAGE;
    struct vhost_front_log fl;
    assert_int_equal(vhost_front_log_init(&fl, &mem), 0);
    assert_int_equal(fl.size, 16); /* 72 pages: two words */
    /* What the backend sees: map the same memfd the way vu_log_map does. */
    struct vu_log l = {0};
    assert_int_equal(vu_log_map(&l, dup(fl.fd), fl.size, 0), 0);
    vu_log_mark(&l, 7 * PAGE, 1);  /* RAM page 7 */
    vu_log_mark(&l, 64 * PAGE, 1); /* region 1's first page: RAM page 8 */
    vu_log_mark(&l, 71 * PAGE, 1); /* its last: RAM page 15 */
    vu_log_mark(&l, 20 * PAGE, 1); /* in the hole: not RAM */
    uint64_t out[1] = {0};
    assert_int_equal(vhost_front_log_collect(&fl, &mem, out, 16), 3);
    assert_int_equal(out[0], (1ull << 7) | (1ull << 8) | (1ull << 15));
    assert_int_equal(count(&l), 0); /* taken, the hole's bit too */
    out[0] = 0;
    assert_int_equal(vhost_front_log_collect(&fl, &mem, out, 16), 0);
    assert_int_equal(out[0], 0);
    vu_log_unmap(&l);
    vhost_front_log_destroy(&fl);
    vhost_front_log_destroy(&fl); /* twice is safe */
}

/* The front end's own marks (for the used rings of a backend lost while it logged): every
 * page the range touches, across a page boundary; nothing for an empty range or past the
 * log's end; taken by the collection like the backend's. */
static void test_front_mark(void **state)
{
    (void)state;
    struct guest_mem mem = {.fd = -1, .nranges = 1};
    mem.ranges[0] = (struct guest_range){.gpa = 0, .size = 64 * PAGE, .offset = 0};
    mem.size = 64 * PAGE;
    struct vhost_front_log fl;
    assert_int_equal(vhost_front_log_init(&fl, &mem), 0);
    struct vu_log l = {0};
    assert_int_equal(vu_log_map(&l, dup(fl.fd), fl.size, 0), 0);
    vhost_front_log_mark(&fl, 3 * PAGE - 4, 1030); /* a used ring over pages 2 and 3 */
    vhost_front_log_mark(&fl, 9 * PAGE, 0);        /* empty */
    vhost_front_log_mark(&fl, 64 * PAGE, PAGE);    /* past the end */
    vhost_front_log_mark(&fl, UINT64_MAX - 8, 64); /* wraps */
    assert_int_equal(count(&l), 2);
    assert_int_equal(l.bits[0], (1u << 2) | (1u << 3));
    uint64_t out[1] = {0};
    assert_int_equal(vhost_front_log_collect(&fl, &mem, out, 64), 2);
    assert_int_equal(out[0], (1ull << 2) | (1ull << 3));
    vu_log_unmap(&l);
    vhost_front_log_destroy(&fl);
    vhost_front_log_mark(&fl, 0, PAGE); /* no log: nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_gpa),
        cmocka_unit_test(test_map_refusals),
        cmocka_unit_test(test_mark_host),
        cmocka_unit_test(test_ring_writes),
        cmocka_unit_test(test_device_set_log_base),
        cmocka_unit_test(test_front_collect),
        cmocka_unit_test(test_front_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
