/* xeno-blkback's request path end to end without a guest: this test is the front end (a
 * vhost-user server on a unix socket, guest memory in a sealed memfd, one ring) and drives the
 * real backend code (src/blk, src/vhost) against a real image file on io_uring. Every request
 * a guest could send, well-formed or not, and the answer it must get. Also the --disk words
 * and the image directory's confinement. */
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

#include "blk_fe.h"

static void test_read_write_flush_id(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    uint8_t *buf = f.mem + DATA_OFF;
    for (unsigned i = 0; i < 4096; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 8, buf, 4096, false), VIRTIO_BLK_S_OK);
    /* The image holds it at byte 8 * 512. */
    uint8_t back[4096];
    int img = openat(f.dirfd, "disk.img", O_RDONLY | O_CLOEXEC);
    assert_int_equal(pread(img, back, 4096, 8 * 512), 4096);
    assert_memory_equal(back, buf, 4096);
    memset(buf + 8192, 0, 4096);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 8, buf + 8192, 4096, true), VIRTIO_BLK_S_OK);
    assert_memory_equal(buf + 8192, buf, 4096);
    assert_int_equal(f.used->ring[(f.avail_idx - 1) % NUM].len, 4097);
    /* Unaligned buffer (odd address): O_DIRECT cannot take it, the buffered fd does. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 8, buf + 12289, 512, true), VIRTIO_BLK_S_OK);
    assert_memory_equal(buf + 12289, buf, 512);
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false), VIRTIO_BLK_S_OK);
    char id[VIRTIO_BLK_ID_BYTES];
    memset(buf, 'x', sizeof(id));
    assert_int_equal(request(&f, VIRTIO_BLK_T_GET_ID, 0, buf, sizeof(id), true), VIRTIO_BLK_S_OK);
    memcpy(id, buf, sizeof(id));
    assert_string_equal(id, "SER-123");
    /* Write-zeroes and discard: the range reads as zeros, the file keeps its size. */
    struct virtio_blk_discard_wz *w = (void *)(f.mem + DATA_OFF + 0x8000);
    *w = (struct virtio_blk_discard_wz){.sector = 8, .num_sectors = 4};
    assert_int_equal(request(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, w, sizeof(*w), false), VIRTIO_BLK_S_OK);
    assert_int_equal(pread(img, back, 4096, 8 * 512), 4096);
    for (unsigned i = 0; i < 2048; i++)
        assert_int_equal(back[i], 0);
    assert_int_equal(back[2048], buf[2048] ? back[2048] : 0); /* past the range: untouched */
    *w = (struct virtio_blk_discard_wz){.sector = 12, .num_sectors = 4};
    assert_int_equal(request(&f, VIRTIO_BLK_T_DISCARD, 0, w, sizeof(*w), false), VIRTIO_BLK_S_OK);
    assert_int_equal(pread(img, back, 4096, 8 * 512), 4096);
    for (unsigned i = 0; i < 4096; i++)
        assert_int_equal(back[i], 0);
    struct stat st;
    assert_int_equal(fstat(img, &st), 0);
    assert_int_equal(st.st_size, DISK_SECTORS * 512);
    close(img);
    struct blk_stats *s = &f.bb.disk[0]->st;
    assert_int_equal(s->writes, 1);
    assert_int_equal(s->reads, 2);
    assert_int_equal(s->ioerr + s->unsupp + s->bad_chains, 0);
    fe_teardown(&f);
}

/* The dirty log a migrating front end may ask for (docs/migration.md, "Devices' writes"):
 * once SET_LOG_BASE and LOG_ALL are in, a read marks the pages its data landed in, the status
 * byte's page and the used ring's; a write marks no data page (the backend only read it). */
static void test_dirty_log(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    send_msg(&f, &m, &r);
    uint64_t feat = r.payload.u64;
    assert_true(feat & (1ull << VU_F_LOG_ALL));
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD);
    send_msg(&f, &m, &r);
    int logfd = memfd_create("log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    uint64_t log_bytes = (GPA + MEM) / 4096 / 8;
    assert_int_equal(ftruncate(logfd, (off_t)log_bytes), 0);
    assert_int_equal(fcntl(logfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    uint8_t *log = mmap(NULL, log_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
    assert_true(log != MAP_FAILED);
    vhost_user_msg_init(&m, VHOST_USER_SET_LOG_BASE, 0);
    m.payload.log = (struct vhost_user_log){.mmap_size = log_bytes};
    m.hdr.size = sizeof(m.payload.log);
    m.fds[0] = logfd;
    m.nfds = 1;
    send_msg(&f, &m, &r);
    assert_int_equal(r.hdr.request, VHOST_USER_SET_LOG_BASE);
    assert_int_equal(r.hdr.size, 0);
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, feat);
    send_msg(&f, &m, &r);
#define LOGGED(off) ((log[(GPA + (off)) / 4096 / 8] >> ((GPA + (off)) / 4096 % 8)) & 1)
    uint8_t *buf = f.mem + DATA_OFF;
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 8, buf, 4096, false), VIRTIO_BLK_S_OK);
    assert_false(LOGGED(DATA_OFF));
    assert_true(LOGGED(0x3100)); /* the status byte */
    assert_true(LOGGED(0x2000)); /* the used ring */
    memset(log, 0, log_bytes);
    /* A read of 4 KiB starting half-way into a page: two data pages. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 8, buf + 0x2800, 4096, true), VIRTIO_BLK_S_OK);
    assert_true(LOGGED(DATA_OFF + 0x2000) && LOGGED(DATA_OFF + 0x3000));
    assert_false(LOGGED(DATA_OFF + 0x1000) || LOGGED(DATA_OFF + 0x4000));
    assert_true(LOGGED(0x3100) && LOGGED(0x2000));
#undef LOGGED
    munmap(log, log_bytes);
    fe_teardown(&f);
}

/* What a hostile or broken guest sends: an error status or an empty used entry, never a crash,
 * and the queue goes on serving. */
static void test_hostile_requests(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    uint8_t *buf = f.mem + DATA_OFF;
    /* Past the end, straddling the end, a sector number that overflows. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, DISK_SECTORS, buf, 512, true), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, buf, 1024, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 5, buf, 512, true), VIRTIO_BLK_S_IOERR);
    /* Not a whole number of sectors. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, buf, 100, true), VIRTIO_BLK_S_IOERR);
    /* Huge: six overlapping 896 KiB buffers, more than BLK_MAX_REQ_BYTES in one request. */
    uint8_t *status = f.mem + 0x3100;
    *status = 0xee;
    struct virtio_blk_req_hdr *h = (void *)(f.mem + 0x3000);
    *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_IN};
    struct seg huge[8] = {{h, sizeof(*h), false}};
    for (unsigned i = 1; i < 7; i++)
        huge[i] = (struct seg){buf, 896u << 10, true};
    huge[7] = (struct seg){status, 1, true};
    post(&f, 0, huge, 8);
    run_until_done(&f);
    assert_int_equal(*status, VIRTIO_BLK_S_IOERR);
    /* Unknown type; a discard range with flags; an empty discard; a range past the end. */
    assert_int_equal(request(&f, 99, 0, buf, 512, true), VIRTIO_BLK_S_UNSUPP);
    struct virtio_blk_discard_wz *w = (void *)(buf + 0x8000);
    *w = (struct virtio_blk_discard_wz){.sector = 0, .num_sectors = 1, .flags = 1};
    assert_int_equal(request(&f, VIRTIO_BLK_T_DISCARD, 0, w, sizeof(*w), false), VIRTIO_BLK_S_UNSUPP);
    *w = (struct virtio_blk_discard_wz){.sector = DISK_SECTORS - 1, .num_sectors = 2};
    assert_int_equal(request(&f, VIRTIO_BLK_T_WRITE_ZEROES, 0, w, sizeof(*w), false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_DISCARD, 0, w, 7, false), VIRTIO_BLK_S_IOERR);
    /* A header too short for a request. */
    *status = 0xee;
    struct seg s2[2] = {{f.mem + 0x3000, 8, false}, {status, 1, true}};
    post(&f, 0, s2, 2);
    run_until_done(&f);
    assert_int_equal(*status, VIRTIO_BLK_S_IOERR);
    /* No writable byte at all: given back with used length 0. */
    struct seg s1[1] = {{f.mem + 0x3000, 16, false}};
    post(&f, 0, s1, 1);
    run_until_done(&f);
    assert_int_equal(f.used->ring[(f.avail_idx - 1) % NUM].len, 0);
    struct blk_stats *st = &f.bb.disk[0]->st;
    assert_int_equal(st->bad_chains, 1);
    /* Still serving. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, buf, 512, true), VIRTIO_BLK_S_OK);
    /* A descriptor outside guest memory breaks the ring, and only the ring. */
    f.desc[0] = (struct vu_desc){.addr = GPA + MEM, .len = 16, .flags = VU_DESC_F_NEXT, .next = 1};
    f.desc[1] = (struct vu_desc){.addr = GPA + 0x3100, .len = 1, .flags = VU_DESC_F_WRITE};
    f.avail->ring[f.avail_idx % NUM] = 0;
    __atomic_store_n(&f.avail->idx, ++f.avail_idx, __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(f.kick, &one, 8), 8);
    turn(&f, 50);
    assert_true(f.bb.disk[0]->dev.vq[0].broken);
    assert_true(f.bb.disk[0]->st.bad_chains >= 2);
    fe_teardown(&f);
}

static void test_readonly_disk(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", true);
    uint8_t *buf = f.mem + DATA_OFF;
    memset(buf, 0x5a, 512);
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 0, buf, 512, false), VIRTIO_BLK_S_IOERR);
    struct virtio_blk_discard_wz *w = (void *)(buf + 0x8000);
    *w = (struct virtio_blk_discard_wz){.sector = 0, .num_sectors = 1};
    /* Not offered on a read-only disk: not negotiated, so unsupported. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_DISCARD, 0, w, sizeof(*w), false), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, buf, 512, true), VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < 512; i++)
        assert_int_equal(buf[i], 0);
    fe_teardown(&f);
}

static void test_disk_spec(void **state)
{
    (void)state;
    struct blk_disk_config c;
    assert_int_equal(blk_disk_spec_parse("name=vda,socket=/run/x.sock,file=a.img,readonly,serial=S1,queues=2", &c), 0);
    assert_string_equal(c.name, "vda");
    assert_string_equal(c.file, "a.img");
    assert_true(c.readonly);
    assert_int_equal(c.queues, 2);
    const char *bad[] = {
        "name=vda,socket=/s",                                     /* no file */
        "name=VDA,socket=/s,file=a",                              /* name characters */
        "name=vda,socket=/s,file=/etc/passwd",                    /* absolute */
        "name=vda,socket=/s,file=a,queues=9",                     /* queues */
        "name=vda,socket=/s,file=a,serial=a b",                   /* serial with a space */
        "name=vda,socket=/s,file=a,serial=123456789012345678901", /* 21 bytes */
        "name=vda,socket=/s,file=a,bogus=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (blk_disk_spec_parse(bad[i], &c) == 0)
            fail_msg("accepted: %s", bad[i]);
}

/* The image directory is a wall: "..", absolute names and symbolic links are refused by the
 * kernel (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). */
static void test_image_confined(void **state)
{
    (void)state;
    char dir[64] = "/tmp/test_blkback_img.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(dirfd, "ok.img", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_int_equal(ftruncate(fd, 4096), 0);
    close(fd);
    fd = openat(dirfd, "tiny.img", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    close(fd);
    assert_int_equal(symlinkat("ok.img", dirfd, "link.img"), 0);
    assert_int_equal(mkdirat(dirfd, "sub", 0700), 0);
    struct blk_image img;
    assert_int_equal(blk_image_open(&img, dirfd, "ok.img", false), 0);
    assert_int_equal(img.size, 4096);
    blk_image_close(&img);
    assert_true(blk_image_open(&img, dirfd, "../etc/passwd", true) < 0);
    assert_true(blk_image_open(&img, dirfd, "/etc/passwd", true) < 0);
    assert_true(blk_image_open(&img, dirfd, "link.img", true) < 0);
    assert_true(blk_image_open(&img, dirfd, "sub/../../x", true) < 0);
    assert_int_equal(blk_image_open(&img, dirfd, "tiny.img", true), -EINVAL);
    assert_int_equal(blk_image_open(&img, dirfd, "sub", true), -EINVAL);
    close(dirfd);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* GET_CONFIG with the window (offset, size) in a payload of `payload` bytes: the reply's
 * payload size (0: refused), its bytes into out (when not NULL). */
static uint32_t get_config(struct fe *f, uint32_t offset, uint32_t size, uint32_t payload, void *out)
{
    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_GET_CONFIG, 0);
    m.payload.config.offset = offset;
    m.payload.config.size = size;
    m.hdr.size = payload;
    send_msg(f, &m, &r);
    assert_int_equal(r.hdr.request, VHOST_USER_GET_CONFIG);
    if (r.hdr.size) {
        assert_int_equal(r.hdr.size, VHOST_USER_CONFIG_HDR_SIZE + size);
        assert_int_equal(r.payload.config.offset, offset);
        assert_int_equal(r.payload.config.size, size);
        if (out)
            memcpy(out, r.payload.config.region, size);
    }
    return r.hdr.size;
}

/* The config space a stock front end (QEMU's vhost-user-blk) reads: offered as PROTOCOL_F_CONFIG,
 * the same bytes our monitor serves, windows checked (each refusal an empty reply, counted, the
 * connection kept), SET_CONFIG refused with a non-zero REPLY_ACK. */
static void test_config_space(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    const uint32_t hdr = VHOST_USER_CONFIG_HDR_SIZE, full = sizeof(struct virtio_blk_config);
    struct virtio_blk_config want = virtio_blk_xeno_config(DISK_SECTORS, 1), got;
    /* Not negotiated yet: refused. */
    assert_int_equal(get_config(&f, 0, full, hdr + full, NULL), 0);

    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_GET_PROTOCOL_FEATURES, 0);
    send_msg(&f, &m, &r);
    assert_true(r.payload.u64 & (1ull << VHOST_USER_PROTOCOL_F_CONFIG));
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES,
                       (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
    send_msg(&f, &m, &r);

    memset(&got, 0xaa, sizeof(got));
    assert_int_equal(get_config(&f, 0, full, hdr + full, &got), hdr + full);
    assert_memory_equal(&got, &want, full);
    assert_int_equal(got.capacity, DISK_SECTORS);
    assert_int_equal(got.writeback, 0);
    uint16_t nq = 0;
    assert_int_equal(get_config(&f, offsetof(struct virtio_blk_config, num_queues), 2, hdr + 2, &nq), hdr + 2);
    assert_int_equal(nq, 1);

    uint64_t errors = f.bb.disk[0]->dev.protocol_errors;
    assert_int_equal(get_config(&f, full - 4, 8, hdr + 8, NULL), 0);    /* past the end */
    assert_int_equal(get_config(&f, 0xfffffffcu, 8, hdr + 8, NULL), 0); /* offset + size wraps */
    assert_int_equal(get_config(&f, 0, 0, hdr, NULL), 0);               /* empty window */
    assert_int_equal(get_config(&f, 0, 300, hdr + 300, NULL), 0);       /* over the spec's 256 */
    assert_int_equal(get_config(&f, 0, full, hdr + 20, NULL), 0);       /* size != payload */
    assert_int_equal(get_config(&f, 0, 4, 8, NULL), 0);                 /* no room for the window */
    assert_int_equal(f.bb.disk[0]->dev.protocol_errors, errors + 6);

    vhost_user_msg_init(&m, VHOST_USER_SET_CONFIG, VHOST_USER_FLAG_NEED_REPLY);
    m.payload.config = (struct vhost_user_config){.offset = offsetof(struct virtio_blk_config, writeback), .size = 1};
    m.payload.config.region[0] = 1;
    m.hdr.size = hdr + 1;
    send_msg(&f, &m, &r);
    assert_int_not_equal(r.payload.u64, 0);
    assert_int_equal(get_config(&f, 0, full, hdr + full, &got), hdr + full);
    assert_int_equal(got.writeback, 0);

    /* Still serving after every refusal. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, f.mem + DATA_OFF, 512, true), VIRTIO_BLK_S_OK);
    fe_teardown(&f);
}

/* The ring takes only the opcodes the backend uses: anything else (here an OPENAT, which
 * would get around the sandbox's file rules) fails with EACCES. */
static void test_ring_restricted(void **state)
{
    (void)state;
    struct blkback bb;
    assert_int_equal(blkback_init(&bb, -1), 0);
    struct io_uring_sqe *e = io_uring_get_sqe(&bb.ring);
    io_uring_prep_openat(e, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
    assert_int_equal(io_uring_submit(&bb.ring), 1);
    struct io_uring_cqe *cqe;
    assert_int_equal(io_uring_wait_cqe(&bb.ring, &cqe), 0);
    assert_int_equal(cqe->res, -EACCES);
    io_uring_cqe_seen(&bb.ring, cqe);
    blkback_fini(&bb);
}

static void make_base_and_overlay(int dirfd)
{
    int fd = openat(dirfd, "base.img", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    uint8_t b[DISK_SECTORS * 512];
    for (unsigned i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)(i / 512 + 1);
    assert_int_equal(pwrite(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
    close(fd);
    if (image_create_overlay(dirfd, "test", "d.ovl", 0, "base.img", 12) < 0)
        fail_msg("%s", err_msg());
}

/* An overlay (*.ovl) served by the backend through the image layer: reads come from the
 * base until written, writes land in the overlay and never in the base, discard reads zeros. */
static void test_overlay_disk(void **state)
{
    (void)state;
    struct fe f;
    fe_before_add = make_base_and_overlay;
    fe_setup(&f, "d.ovl", false);
    fe_before_add = NULL;
    uint8_t *buf = f.mem + DATA_OFF;
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 9, buf, 1024, true), VIRTIO_BLK_S_OK);
    assert_int_equal(buf[0], 10);
    assert_int_equal(buf[1023], 11);
    memset(buf, 0xab, 4096);
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 16, buf, 4096, false), VIRTIO_BLK_S_OK);
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false), VIRTIO_BLK_S_OK);
    memset(buf + 8192, 0, 8192);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 15, buf + 8192, 8192, true), VIRTIO_BLK_S_OK);
    assert_int_equal(buf[8192], 16);         /* sector 15: the base */
    assert_int_equal(buf[8192 + 512], 0xab); /* 16..23: the overlay */
    assert_int_equal(buf[8192 + 4607], 0xab);
    assert_int_equal(buf[8192 + 4608], 25); /* 24: the base */
    struct virtio_blk_discard_wz *w = (void *)(f.mem + DATA_OFF + 0x8000);
    *w = (struct virtio_blk_discard_wz){.sector = 0, .num_sectors = 8};
    assert_int_equal(request(&f, VIRTIO_BLK_T_DISCARD, 0, w, sizeof(*w), false), VIRTIO_BLK_S_OK);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, buf, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(buf[0], 0);
    int base = openat(f.dirfd, "base.img", O_RDONLY | O_CLOEXEC);
    uint8_t back[512];
    assert_int_equal(pread(base, back, 512, 16 * 512), 512);
    assert_int_equal(back[0], 17); /* the base is untouched */
    close(base);
    fe_teardown(&f);
}

/* n flushes posted at once (two descriptors each), run until all are published; the
 * milliseconds it took. */
static uint64_t flushes(struct fe *f, unsigned n)
{
    uint64_t t0 = blk_now_ns();
    for (unsigned i = 0; i < n; i++) {
        struct virtio_blk_req_hdr *h = (void *)(f->mem + 0x3000 + i * 32);
        uint8_t *st = f->mem + 0x3800 + i;
        *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_FLUSH};
        *st = 0xee;
        struct seg s[2] = {{h, sizeof(*h), false}, {st, 1, true}};
        post(f, (uint16_t)(2 * i), s, 2);
    }
    run_until_done(f);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(f->mem[0x3800 + i], VIRTIO_BLK_S_OK);
    return (blk_now_ns() - t0) / 1000000;
}

/* The scheduler is in the request path: a disk limited to 20 IOPS takes 8 requests at that
 * pace (the first at once, then one per 50 ms), the time it was held is counted, and a live
 * change (blkback_set_qos) lifts the limit from the next decision. */
static void test_qos_limit_in_path(void **state)
{
    (void)state;
    struct fe f;
    struct blk_qos qos = {.iotune.total_iops.avg = 20};
    fe_setup_qos(&f, "disk.img", false, &qos);
    uint64_t ms = flushes(&f, 8);
    if (ms < 300 || ms > 3000)
        fail_msg("8 requests at 20 IOPS took %llu ms (expected about 350)", (unsigned long long)ms);
    struct blk_iosched_stats st;
    struct blk_disk *d = f.bb.disk[0];
    assert_int_equal(blk_iosched_queue_stats(f.bb.sched, d->sched_q, blk_now_ns(), &st), 0);
    assert_int_equal(st.dispatched, 8);
    if (st.throttled_ns < 200000000ull)
        fail_msg("throttled %llu ns", (unsigned long long)st.throttled_ns);
    qos.iotune.total_iops.avg = 100000;
    assert_int_equal(blkback_set_qos(&f.bb, "vda", &qos), 0);
    assert_int_equal(d->cfg.qos.iotune.total_iops.avg, 100000);
    ms = flushes(&f, 8);
    if (ms > 200)
        fail_msg("8 requests at 100000 IOPS took %llu ms", (unsigned long long)ms);
    assert_int_equal(blkback_set_qos(&f.bb, "nope", &qos), -ENOENT);
    qos.iotune.read_iops.avg = 5; /* total with read: libvirt's rule */
    assert_int_equal(blkback_set_qos(&f.bb, "vda", &qos), -EINVAL);
    assert_int_equal(d->cfg.qos.iotune.read_iops.avg, 0); /* unchanged */
    uint64_t lat = 0;
    for (unsigned i = 0; i < BLK_LAT_BUCKETS; i++)
        lat += d->st.latency[i];
    assert_int_equal(lat, 16);
    assert_true(d->st.latency[blk_lat_bucket(300000000ull)] >= 1); /* the last of the first batch */
    /* The control socket's add-disk of a served disk (xenctl disk-qos) is an update that
     * applies the QoS words, and `list` shows them (blk_qos_format). */
    struct blk_disk_config cfg = d->cfg;
    memset(&cfg.qos, 0, sizeof(cfg.qos));
    cfg.qos.iotune.write_iops.avg = 777;
    cfg.qos.iotune.write_iops.max = 800;
    cfg.qos.weight = 50;
    assert_int_equal(blkback_update_disk(&f.bb, &cfg), 0);
    assert_int_equal(d->cfg.qos.iotune.write_iops.avg, 777);
    assert_int_equal(d->cfg.qos.iotune.total_iops.avg, 0);
    char words[256];
    assert_int_equal(blk_qos_format(&d->cfg.qos, words, sizeof(words)), 0);
    assert_string_equal(words, "write_iops_sec=777 write_iops_sec_max=800 weight=50");
    assert_int_equal(blk_qos_format(&d->cfg.qos, words, 20), -ENAMETOOLONG);
    cfg.qos.iotune.total_iops.avg = 5; /* with write: refused, the setting kept */
    assert_int_equal(blkback_update_disk(&f.bb, &cfg), -EINVAL);
    assert_int_equal(d->cfg.qos.iotune.total_iops.avg, 0);
    fe_teardown(&f);
}

/* A ring that stops (here the backend stopping: a disconnect) finishes the requests it took
 * at once, whatever the disk's limit: 8 requests at 1 IOPS would take 7 s. */
static void test_qos_stop_finishes(void **state)
{
    (void)state;
    struct fe f;
    struct blk_qos qos = {.iotune.total_iops.avg = 1};
    fe_setup_qos(&f, "disk.img", false, &qos);
    for (unsigned i = 0; i < 8; i++) {
        struct virtio_blk_req_hdr *h = (void *)(f.mem + 0x3000 + i * 32);
        *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_FLUSH};
        f.mem[0x3800 + i] = 0xee;
        struct seg sg[2] = {{h, sizeof(*h), false}, {f.mem + 0x3800 + i, 1, true}};
        post(&f, (uint16_t)(2 * i), sg, 2);
    }
    uint64_t one = 1;
    assert_int_equal(write(f.kick, &one, sizeof(one)), 8);
    turn(&f, 50);
    assert_true(__atomic_load_n(&f.used->idx, __ATOMIC_ACQUIRE) < 8); /* held by the limit */
    uint64_t t0 = blk_now_ns();
    blkback_fini(&f.bb);
    assert_true(blk_now_ns() - t0 < 1000000000ull);
    assert_int_equal(__atomic_load_n(&f.used->idx, __ATOMIC_ACQUIRE), 8);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(f.mem[0x3800 + i], VIRTIO_BLK_S_OK);
    fe_teardown_rest(&f);
}

static int add_disk(struct blkback *bb, const char *name, const char *spec_rest)
{
    char spec[256];
    snprintf(spec, sizeof(spec), "name=%s,socket=/nonexistent/%s.sock,file=disk.img%s", name, name, spec_rest);
    struct blk_disk_config c;
    assert_int_equal(blk_disk_spec_parse(spec, &c), 0);
    return blkback_disk_add(bb, &c);
}

/* Admission: no reservation without a calibration; reservations add up to at most the
 * reservable capacity (the refusal names who holds the rest); a group's disks state one set
 * of limits; a live change that does not fit changes nothing. */
static void test_qos_admission(void **state)
{
    (void)state;
    char dir[64] = "/tmp/test_blkback_qos.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(dirfd, "disk.img", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_int_equal(ftruncate(fd, 65536), 0);
    close(fd);
    struct blkback bb;
    assert_int_equal(blkback_init(&bb, dup(dirfd)), 0);
    assert_int_equal(add_disk(&bb, "a", ",reservation=100"), -EINVAL);
    assert_non_null(strstr(err_msg(), "--calibrate"));
    struct blk_capacity cap;
    assert_int_equal(blk_capacity_derive(10000, 400000000, BLK_HEADROOM_DEFAULT_PPM, &cap), 0);
    assert_int_equal(blkback_set_device(&bb, &cap, 8), 0);
    uint64_t r = blk_capacity_reservable(&cap);
    char rest[96];
    snprintf(rest, sizeof(rest), ",reservation=%llu", (unsigned long long)(r * 6 / 10));
    assert_int_equal(add_disk(&bb, "a", rest), 0);
    assert_int_equal(blkback_set_device(&bb, &cap, 8), -EBUSY); /* disks are served */
    assert_int_equal(add_disk(&bb, "b", rest), -ENOSPC);
    assert_non_null(strstr(err_msg(), "a "));
    snprintf(rest, sizeof(rest), ",reservation=%llu", (unsigned long long)(r * 3 / 10));
    assert_int_equal(add_disk(&bb, "b", rest), 0);
    struct blk_qos q = bb.disk[1]->cfg.qos;
    q.reservation = r / 2;
    assert_int_equal(blkback_set_qos(&bb, "b", &q), -ENOSPC);
    assert_int_equal(bb.disk[1]->cfg.qos.reservation, r * 3 / 10);
    /* Above its own IOPS limit: never. */
    assert_int_equal(add_disk(&bb, "c", ",reservation=50,total_iops_sec=10"), -EINVAL);
    /* A group: one set of limits, shared. */
    assert_int_equal(add_disk(&bb, "g1", ",group=db,total_iops_sec=1000,sponsor=bob"), 0); /* two new groups */
    assert_true(bb.disk[2]->sched_g[0] != bb.disk[2]->sched_g[1]);
    assert_int_equal(add_disk(&bb, "g2", ",group=db,total_iops_sec=500"), -EINVAL);
    assert_int_equal(add_disk(&bb, "g2", ",group=db,total_iops_sec=1000,sponsor=alice"), 0);
    assert_true(bb.disk[2]->sched_g[0] != 0);
    assert_int_equal(bb.disk[2]->sched_g[0], bb.disk[3]->sched_g[0]);
    assert_true(bb.disk[3]->sched_g[1] != 0);
    /* A live change of a group's limits applies to every member (libvirt's blkdeviotune). */
    q = bb.disk[3]->cfg.qos;
    q.iotune.total_iops.avg = 2000;
    assert_int_equal(blkback_set_qos(&bb, "g2", &q), 0);
    assert_int_equal(bb.disk[2]->cfg.qos.iotune.total_iops.avg, 2000);
    blkback_fini(&bb);
    close(dirfd);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_disk_spec_qos(void **state)
{
    (void)state;
    struct blk_disk_config c;
    assert_int_equal(blk_disk_spec_parse("name=vda,socket=/s,file=a,total_iops_sec=100,total_iops_sec_max=200,"
                                         "total_iops_sec_max_length=3,read_bytes_sec=1000000,group=g.1,"
                                         "sponsor=alice,sponsor_total_iops_sec=900,weight=300,reservation=50,"
                                         "size_iops_sec=8192",
                                         &c),
                     0);
    assert_int_equal(c.qos.iotune.total_iops.avg, 100);
    assert_int_equal(c.qos.iotune.total_iops.max, 200);
    assert_int_equal(c.qos.iotune.total_iops.max_length_s, 3);
    assert_int_equal(c.qos.iotune.read_bytes.avg, 1000000);
    assert_int_equal(c.qos.iotune.size_iops, 8192);
    assert_string_equal(c.qos.group, "g.1");
    assert_string_equal(c.qos.sponsor, "alice");
    assert_int_equal(c.qos.sponsor_iotune.total_iops.avg, 900);
    assert_int_equal(c.qos.weight, 300);
    assert_int_equal(c.qos.reservation, 50);
    const char *bad[] = {
        "total_iops_sec=100,read_iops_sec=5", /* total with read (libvirt) */
        "weight=0",
        "weight=10001",
        "total_iops_sec_max=5",                     /* _max without the average */
        "total_iops_sec=100,total_iops_sec_max=50", /* _max below the average */
        "total_iops_sec=1,total_iops_sec_max_length=2",
        "group=a/b",
        "group=",
        "sponsor=abcdefghijklmnopqrstuvwxyz0123456",
        "sponsor_total_iops_sec=5", /* without sponsor= */
        "total_bytes_sec=-1",
        "total_bytes_sec=1x",
        "reservation=99999999999999999999",
        "total_iops_sec_maxx=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[160];
        snprintf(spec, sizeof(spec), "name=vda,socket=/s,file=a,%s", bad[i]);
        if (blk_disk_spec_parse(spec, &c) == 0)
            fail_msg("accepted: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_write_flush_id), cmocka_unit_test(test_dirty_log),
        cmocka_unit_test(test_hostile_requests),    cmocka_unit_test(test_readonly_disk),
        cmocka_unit_test(test_disk_spec),           cmocka_unit_test(test_image_confined),
        cmocka_unit_test(test_ring_restricted),     cmocka_unit_test(test_qos_limit_in_path),
        cmocka_unit_test(test_qos_admission),       cmocka_unit_test(test_disk_spec_qos),
        cmocka_unit_test(test_overlay_disk),        cmocka_unit_test(test_qos_stop_finishes),
        cmocka_unit_test(test_config_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
