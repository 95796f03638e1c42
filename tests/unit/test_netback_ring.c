/* xeno-netback's view of guest memory and rings (src/vhost/mem_table.c, vring.c) with a real
 * memfd as guest memory: what a guest may put in its rings is taken, everything else breaks
 * that ring and only that ring. Also a port's words (port_config.c) and the device's answers
 * to a front end's messages (vu_dev.c) over a socketpair. */
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
#include "net/inflight.h"
#include "vhost/mem_table.h"
#include "net/port_config.h"
#include "vhost/vring.h"
#include "vhost/vu_dev.h"

#define MEM 65536u
#define GPA 0x100000u /* guest-physical base of the region */
#define NUM 8u

struct guest {
    int fd;
    uint8_t *mem; /* the "front end's" mapping */
    struct mem_table mt;
    struct vring vr;
    struct vu_desc *desc;
    struct vu_avail *avail;
    struct vu_used *used;
};

static void guest_setup(struct guest *g)
{
    memset(g, 0, sizeof(*g));
    g->fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(g->fd >= 0);
    assert_int_equal(ftruncate(g->fd, MEM), 0);
    assert_int_equal(fcntl(g->fd, F_ADD_SEALS, F_SEAL_SHRINK), 0); /* what the backend requires */
    g->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
    assert_true(g->mem != MAP_FAILED);
    struct vhost_user_mem_table t = {.nregions = 1};
    t.regions[0] =
        (struct vhost_user_mem_region){.guest_phys_addr = GPA, .memory_size = MEM, .userspace_addr = (uintptr_t)g->mem};
    int fds[1] = {dup(g->fd)};
    assert_int_equal(mem_table_map(&g->mt, &t, fds), 0);
    g->desc = (void *)g->mem;
    g->avail = (void *)(g->mem + 0x400);
    g->used = (void *)(g->mem + 0x800);
    vring_init(&g->vr);
    g->vr.num = NUM;
    g->vr.desc_uva = (uintptr_t)g->desc;
    g->vr.avail_uva = (uintptr_t)g->avail;
    g->vr.used_uva = (uintptr_t)g->used;
    g->vr.addr_set = true;
    assert_int_equal(vring_start(&g->vr, &g->mt, 0, "test"), 0);
}

static void guest_teardown(struct guest *g)
{
    mem_table_unmap(&g->mt);
    munmap(g->mem, MEM);
    close(g->fd);
}

static void post(struct guest *g, uint16_t head)
{
    g->avail->ring[g->avail->idx % NUM] = head;
    g->avail->idx++;
}

static void test_mem_table_checks(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g);
    /* translation: inside, up to the exact end, and not one byte beyond */
    assert_ptr_equal(mem_table_gpa(&g.mt, GPA, 16), g.mt.r[0].host);
    assert_non_null(mem_table_gpa(&g.mt, GPA + MEM - 16, 16));
    assert_null(mem_table_gpa(&g.mt, GPA + MEM - 16, 17));
    assert_null(mem_table_gpa(&g.mt, GPA - 1, 1));
    assert_null(mem_table_gpa(&g.mt, UINT64_MAX - 4, 16));
    /* a region beyond its fd's size, and overlapping regions, are refused; the old table stays */
    struct vhost_user_mem_table t = {.nregions = 1};
    t.regions[0] = (struct vhost_user_mem_region){.guest_phys_addr = 0, .memory_size = MEM * 2, .userspace_addr = 0};
    int fds[2] = {dup(g.fd), dup(g.fd)};
    assert_int_equal(mem_table_map(&g.mt, &t, fds), -EINVAL);
    assert_non_null(strstr(err_msg(), "needs"));
    t.nregions = 2;
    t.regions[0].memory_size = 4096;
    t.regions[1] =
        (struct vhost_user_mem_region){.guest_phys_addr = 2048, .memory_size = 4096, .userspace_addr = 1 << 20};
    fds[0] = dup(g.fd);
    fds[1] = dup(g.fd);
    assert_int_equal(mem_table_map(&g.mt, &t, fds), -EINVAL);
    assert_non_null(strstr(err_msg(), "overlap"));
    assert_int_equal(g.mt.n, 1);
    assert_non_null(mem_table_gpa(&g.mt, GPA, 16));
    guest_teardown(&g);
}

/* Memory the front end could shrink under our mapping (SIGBUS in the backend every domain
 * shares) is refused before it is mapped: a memfd without F_SEAL_SHRINK, one that cannot be
 * sealed at all, and a file that is not a memfd; the table in force stays. */
static void test_mem_table_seals(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g);
    struct vhost_user_mem_table t = {.nregions = 1};
    t.regions[0] = (struct vhost_user_mem_region){.guest_phys_addr = 0, .memory_size = 4096, .userspace_addr = 0};
    int unsealed = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int grow_only = memfd_create("grow-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int unsealable = memfd_create("unsealable", MFD_CLOEXEC);
    int file = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    int cases[] = {unsealed, grow_only, unsealable, file};
    for (unsigned i = 0; i < 4; i++) {
        if (cases[i] < 0)
            continue; /* no O_TMPFILE on this /tmp */
        assert_int_equal(ftruncate(cases[i], 8192), 0);
        if (cases[i] == grow_only)
            assert_int_equal(fcntl(grow_only, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL), 0);
        int fds[1] = {dup(cases[i])};
        assert_int_equal(mem_table_map(&g.mt, &t, fds), -EPERM);
        assert_non_null(strstr(err_msg(), "memory table: region 0"));
        assert_non_null(strstr(err_msg(), "seal"));
        close(cases[i]);
    }
    assert_int_equal(g.mt.n, 1);
    assert_non_null(mem_table_gpa(&g.mt, GPA, 16));
    /* Sealed against shrinking, a second region maps (the seal alone is what is required). */
    assert_int_equal(mem_fd_check(g.fd, MEM, "guest"), 0);
    assert_int_equal(mem_fd_check(g.fd, MEM + 1, "guest"), -EINVAL);
    guest_teardown(&g);
}

/* The commit in the inflight region is copied once and checked in the copy: a count the front
 * end changes after the check cannot reach the code that uses it. */
static void test_inflight_commit_snapshot(void **state)
{
    (void)state;
    struct inflight_map m = {0};
    int fd = -1;
    assert_int_equal(inflight_create(&m, 2, 256, 7, &fd), 0);
    /* The region we hand out is sealed for good: no shrink, no grow, no seal changes. */
    assert_int_equal(fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    assert_int_equal(ftruncate(fd, 0), -1);
    struct inflight_commit *c = &m.ext->commit, copy;
    assert_false(inflight_commit_snapshot(&m, &copy)); /* none live */
    c->ndest = INFLIGHT_MAX_DEST + 1;
    c->state = INFLIGHT_COMMIT_LIVE;
    assert_false(inflight_commit_snapshot(&m, &copy)); /* a count out of bounds */
    c->ndest = 2;
    c->dest[1].port_id = 42;
    assert_true(inflight_commit_snapshot(&m, &copy));
    c->ndest = 1000000; /* the front end rewrites the region after the check */
    c->dest[1].port_id = 1;
    assert_int_equal(copy.ndest, 2);
    assert_int_equal(copy.dest[1].port_id, 42);
    /* A region handed back unsealed is refused before it is mapped. */
    int bad = memfd_create("inflight", MFD_CLOEXEC);
    assert_int_equal(ftruncate(bad, (off_t)inflight_region_size(2, 256)), 0);
    struct vhost_user_inflight d = {.mmap_size = inflight_region_size(2, 256), .num_queues = 2, .queue_size = 256};
    struct inflight_map m2 = {0};
    assert_int_equal(inflight_attach(&m2, bad, &d, 7), -EPERM);
    assert_non_null(strstr(err_msg(), "inflight region"));
    /* Ours, handed back, maps. */
    assert_int_equal(inflight_attach(&m2, fd, &d, 7), 0);
    assert_int_equal(m2.ext->owner_id, 7);
    inflight_detach(&m2);
    inflight_detach(&m);
}

static void test_good_chain(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g);
    struct vring_chain c;
    assert_int_equal(vring_pop(&g.vr, &g.mt, &c), 0); /* nothing posted */
    g.desc[3] = (struct vu_desc){.addr = GPA + 0x1000, .len = 100, .flags = VU_DESC_F_NEXT, .next = 5};
    g.desc[5] = (struct vu_desc){.addr = GPA + 0x2000, .len = 0, .flags = VU_DESC_F_NEXT, .next = 6};
    g.desc[6] = (struct vu_desc){.addr = GPA + 0x3000, .len = 200, .flags = VU_DESC_F_WRITE};
    post(&g, 3);
    assert_int_equal(vring_pop(&g.vr, &g.mt, &c), 1);
    assert_int_equal(c.head, 3);
    assert_int_equal(c.pos, 0);
    assert_int_equal(c.nrd, 2);
    assert_int_equal(c.rd_len, 100);
    assert_int_equal(c.nwr, 1);
    assert_int_equal(c.wr_len, 200);
    memcpy(g.mem + 0x1000, "hello", 5);
    char buf[8] = {0};
    assert_int_equal(vring_chain_read(&c, 1, buf, 4), 4);
    assert_string_equal(buf, "ello");
    struct iovec src = {.iov_base = "xyz", .iov_len = 3};
    assert_int_equal(vring_chain_write(&c, &src, 1), 3);
    assert_memory_equal(g.mem + 0x3000, "xyz", 3);
    vring_push(&g.vr, c.head, 3);
    assert_int_equal(g.used->idx, 1);
    assert_int_equal(g.used->ring[0].id, 3);
    assert_int_equal(g.used->ring[0].len, 3);
    /* unpop gives the same chain again */
    post(&g, 6);
    assert_int_equal(vring_pop(&g.vr, &g.mt, &c), 1);
    vring_unpop(&g.vr);
    assert_int_equal(vring_pop(&g.vr, &g.mt, &c), 1);
    assert_int_equal(c.head, 6);
    guest_teardown(&g);
}

/* Each way a guest can break a ring: -EPROTO, broken, counted, and the ring stays stopped. */
static void expect_broken(void (*setup)(struct guest *g), const char *needle)
{
    struct guest g;
    guest_setup(&g);
    setup(&g);
    struct vring_chain c;
    int rc = vring_pop(&g.vr, &g.mt, &c);
    if (rc != -EPROTO || !strstr(err_msg(), needle))
        fail_msg("rc %d, message '%s', expected -EPROTO and '%s'", rc, err_msg(), needle);
    assert_true(g.vr.broken);
    assert_int_equal(g.vr.errors, 1);
    /* a good chain afterwards is not taken: the ring is stopped until set up anew */
    g.desc[0] = (struct vu_desc){.addr = GPA, .len = 10};
    post(&g, 0);
    assert_int_equal(vring_pop(&g.vr, &g.mt, &c), 0);
    guest_teardown(&g);
}

static void s_avail_ahead(struct guest *g)
{
    g->avail->idx = NUM + 1;
}
static void s_head_range(struct guest *g)
{
    post(g, NUM);
}
static void s_outside(struct guest *g)
{
    g->desc[1] = (struct vu_desc){.addr = GPA + MEM - 10, .len = 11};
    post(g, 1);
}
static void s_loop(struct guest *g)
{
    g->desc[1] = (struct vu_desc){.addr = GPA, .len = 1, .flags = VU_DESC_F_NEXT, .next = 2};
    g->desc[2] = (struct vu_desc){.addr = GPA, .len = 1, .flags = VU_DESC_F_NEXT, .next = 1};
    post(g, 1);
}
static void s_indirect(struct guest *g)
{
    g->desc[1] = (struct vu_desc){.addr = GPA, .len = 16, .flags = VU_DESC_F_INDIRECT};
    post(g, 1);
}
static void s_next_range(struct guest *g)
{
    g->desc[1] = (struct vu_desc){.addr = GPA, .len = 1, .flags = VU_DESC_F_NEXT, .next = 100};
    post(g, 1);
}
static void s_read_after_write(struct guest *g)
{
    g->desc[1] = (struct vu_desc){.addr = GPA, .len = 1, .flags = VU_DESC_F_NEXT | VU_DESC_F_WRITE, .next = 2};
    g->desc[2] = (struct vu_desc){.addr = GPA, .len = 1};
    post(g, 1);
}

static void test_broken_rings(void **state)
{
    (void)state;
    expect_broken(s_avail_ahead, "runs more than the queue size");
    expect_broken(s_head_range, "names descriptor 8 of 8");
    expect_broken(s_outside, "outside guest memory");
    expect_broken(s_loop, "a loop");
    expect_broken(s_indirect, "indirect");
    expect_broken(s_next_range, "next 100");
    expect_broken(s_read_after_write, "readable after writable");
}

static void test_ring_outside_memory(void **state)
{
    (void)state;
    struct guest g;
    guest_setup(&g);
    vring_stop(&g.vr);
    g.vr.used_uva = (uintptr_t)g.mem + MEM - 8; /* the used ring would run past the region */
    assert_int_equal(vring_start(&g.vr, &g.mt, 0, "q"), -EINVAL);
    assert_non_null(strstr(err_msg(), "used ring"));
    guest_teardown(&g);
}

static void test_port_config(void **state)
{
    (void)state;
    char line[] = "web socket=/run/x/vhost.sock mac=52:54:00:12:34:56 ip=10.0.0.2 domain=d1 sponsor=acme "
                  "out-average=1000 in-burst=64 weight=5 floor=100";
    char *w[32];
    int n = port_words(line, w, 32);
    struct port_config pc;
    assert_int_equal(port_config_parse(&pc, w, n), 0);
    assert_string_equal(pc.name, "web");
    assert_int_equal(pc.ipv4, 0x0a000002);
    assert_int_equal(pc.qos.outbound.average_kib, 1000);
    assert_int_equal(pc.qos.inbound.burst_kib, 64);
    assert_int_equal(pc.qos.weight, 5);
    pc.id = 7;
    char out[512];
    assert_true(port_config_format(&pc, out, sizeof(out)) > 0);
    assert_string_equal(out, "web id=7 socket=/run/x/vhost.sock mac=52:54:00:12:34:56 ip=10.0.0.2 domain=d1 "
                             "sponsor=acme in-burst=64 out-average=1000 weight=5 floor=100");
    /* the formatted line parses back to the same settings */
    char copy[512];
    strcpy(copy, out);
    n = port_words(copy, w, 32);
    struct port_config back;
    assert_int_equal(port_config_parse(&back, w, n), 0);
    assert_int_equal(back.id, 7);
    assert_memory_equal(&back.qos, &pc.qos, sizeof(pc.qos));

    const char *bad[] = {
        "x mac=52:54:00:12:34:56",                          /* no socket */
        "x socket=/s",                                      /* no mac */
        "x socket=rel mac=52:54:00:12:34:56",               /* relative socket */
        "x socket=/s mac=01:00:5e:00:00:01",                /* multicast MAC */
        "x socket=/s mac=52:54:00:12:34:56 ip=10.0.0.300",  /* bad address */
        "x socket=/s mac=52:54:00:12:34:56 weight=0",       /* weight range */
        "x socket=/s mac=52:54:00:12:34:56 colour=blue",    /* unknown key */
        "x socket=/s mac=52:54:00:12:34:56 out-average=-1", /* not a number */
        "x socket=/s mac=52:54:00:12:34:56 domain",         /* not KEY=VALUE */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char b[256];
        strcpy(b, bad[i]);
        n = port_words(b, w, 32);
        if (port_config_parse(&pc, w, n) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
}

/* The control lines (and the ports file) are split by spaces alone, and a line with a
 * control character in it is refused whole: a tab is not a separator, and a carriage return
 * or other control byte cannot hide in a word. */
static void test_port_words_strict(void **state)
{
    (void)state;
    char *w[32];
    char ok[] = "port-add  x socket=/s mac=52:54:00:12:34:56\n"; /* the final newline ends the line */
    assert_int_equal(port_words(ok, w, 32), 4);
    assert_string_equal(w[3], "mac=52:54:00:12:34:56");
    const char *bad[] = {
        "port-add x socket=/s\tmac=52:54:00:12:34:56",
        "port-add x socket=/s mac=52:54:00:12:34:56\r",
        "port-add x socket=/s\nport-del y mac=52:54:00:12:34:56",
        "port-add x socket=/s\x01 mac=52:54:00:12:34:56",
        "port-add x socket=/s\x7f mac=52:54:00:12:34:56",
        "port-del y\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char b[128];
        strcpy(b, bad[i]);
        if (port_words(b, w, 32) != -EINVAL)
            fail_msg("accepted line %zu", i);
        assert_non_null(strstr(err_msg(), "control character"));
    }
}

/* ---- vu_dev: the answers a front end gets ---- */

static unsigned started, stopping;
static void hook_started(struct vu_dev *d, unsigned q)
{
    (void)d;
    (void)q;
    started++;
}
static void hook_stopping(struct vu_dev *d, unsigned q)
{
    (void)d;
    (void)q;
    stopping++;
}
/* The class xeno-netback gives its ports, with a region of the net layout (inflight.h). */
static struct inflight_map test_inflight;
static int hook_inflight_get(struct vu_dev *d, const struct vhost_user_inflight *want, struct vhost_user_inflight *out,
                             int *fd_out)
{
    (void)d;
    int rc = inflight_create(&test_inflight, want->num_queues, want->queue_size, 1, fd_out);
    if (rc == 0)
        *out = (struct vhost_user_inflight){
            .mmap_size = test_inflight.len, .num_queues = test_inflight.nq, .queue_size = test_inflight.qsize};
    return rc;
}
static int hook_inflight_set(struct vu_dev *d, int fd, const struct vhost_user_inflight *f)
{
    (void)d;
    return inflight_attach(&test_inflight, fd, f, 1);
}
static const struct vu_dev_class hooks = {.kind = "port",
                                          .features = VHOST_USER_NET_FEATURES,
                                          .protocol_features = VHOST_USER_NET_PROTOCOL_FEATURES,
                                          .nq = VHOST_USER_NET_NQUEUES,
                                          .ring_started = hook_started,
                                          .ring_stopping = hook_stopping,
                                          .inflight_get = hook_inflight_get,
                                          .inflight_set = hook_inflight_set};

/* Sends m from the "front end" (fe), lets the device handle it, returns the REPLY_ACK status
 * or the reply in *reply. */
static int exchange(struct vu_dev *d, int fe, int be, struct vhost_user_msg *m, struct vhost_user_msg *reply)
{
    assert_int_equal(vhost_user_send(fe, m), 0);
    struct vhost_user_msg in;
    assert_int_equal(vhost_user_recv(be, &in, false), 0);
    int rc = vu_dev_handle(d, be, &in);
    if (rc < 0)
        return rc;
    if (vhost_user_request_has_reply(m->hdr.request) || (m->hdr.flags & VHOST_USER_FLAG_NEED_REPLY)) {
        assert_int_equal(vhost_user_recv(fe, reply, true), 0);
        assert_int_equal(reply->hdr.request, m->hdr.request);
    }
    return 0;
}

static void test_vu_dev_answers(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    vhost_user_set_timeout(sv[0], 500);
    vhost_user_set_timeout(sv[1], 500);
    struct vu_dev d;
    vu_dev_init(&d, "p", &hooks);
    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    /* The port's features and the dirty log every device keeps (vu_dev.h). */
    assert_int_equal(r.payload.u64, VHOST_USER_NET_FEATURES | (1ull << VU_F_LOG_ALL));
    /* SET_FEATURES without VERSION_1 and without REPLY_ACK: the connection must end */
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, 1ull << VU_F_PROTOCOL_FEATURES);
    assert_true(exchange(&d, sv[0], sv[1], &m, &r) < 0);
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, VHOST_USER_NET_FEATURES);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_NET_PROTOCOL_FEATURES);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    /* with REPLY_ACK, refusals are a status of 1 and the device goes on */
    struct {
        uint32_t q, num;
    } bad[] = {{0, 3}, {0, 0}, {0, 2048}, {2, 256}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, bad[i].q, bad[i].num);
        m.hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
        assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
        if (r.payload.u64 != 1)
            fail_msg("SET_VRING_NUM queue %u size %u accepted", bad[i].q, bad[i].num);
    }
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 1, 256);
    m.hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    assert_int_equal(r.payload.u64, 0);
    vhost_user_msg_init(&m, VHOST_USER_POSTCOPY_ADVISE, VHOST_USER_FLAG_NEED_REPLY);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    assert_int_equal(r.payload.u64, 1);
    /* GET_INFLIGHT_FD gives a region of the layout's size; GET_VRING_BASE answers the base */
    vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
    m.payload.inflight = (struct vhost_user_inflight){.num_queues = 2, .queue_size = 256};
    m.hdr.size = sizeof(m.payload.inflight);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    assert_int_equal(r.nfds, 1);
    assert_int_equal(r.payload.inflight.mmap_size, inflight_region_size(2, 256));
    assert_int_equal(fcntl(r.fds[0], F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    vhost_user_msg_close_fds(&r);
    /* ... but not while a ring runs: it writes the region a new one would unmap (a stale
     * mapping in the backend every domain shares). Refused (no region, a protocol error),
     * nothing replaced. */
    void *region = test_inflight.base;
    uint64_t errors = d.protocol_errors;
    d.vq[0].started = true;
    vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
    m.payload.inflight = (struct vhost_user_inflight){.num_queues = 2, .queue_size = 256};
    m.hdr.size = sizeof(m.payload.inflight);
    assert_int_equal(vhost_user_send(sv[0], &m), 0);
    struct vhost_user_msg in;
    assert_int_equal(vhost_user_recv(sv[1], &in, false), 0);
    vu_dev_handle(&d, sv[1], &in);
    assert_int_equal(d.protocol_errors, errors + 1);
    assert_ptr_equal(test_inflight.base, region);
    d.vq[0].started = false;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, 1, 77);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    vhost_user_msg_state(&m, VHOST_USER_GET_VRING_BASE, 1, 0);
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), 0);
    assert_int_equal(r.payload.state.num, 77);
    assert_int_equal(started, 0); /* no ring had all it needs */
    assert_true(d.protocol_errors >= 5);
    /* Unsealed guest memory: refused (status 1 with REPLY_ACK) and the connection dropped. */
    int mfd = memfd_create("unsealed", MFD_CLOEXEC);
    assert_int_equal(ftruncate(mfd, 8192), 0);
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, VHOST_USER_FLAG_NEED_REPLY);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] = (struct vhost_user_mem_region){.memory_size = 8192, .userspace_addr = 0x10000};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = mfd;
    m.nfds = 1;
    assert_int_equal(exchange(&d, sv[0], sv[1], &m, &r), -EPERM);
    assert_int_equal(vhost_user_recv(sv[0], &r, true), 0);
    assert_int_equal(r.payload.u64, 1);
    assert_int_equal(d.mem.n, 0);
    close(mfd);
    vu_dev_reset(&d);
    inflight_detach(&test_inflight);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_table_checks),
        cmocka_unit_test(test_mem_table_seals),
        cmocka_unit_test(test_inflight_commit_snapshot),
        cmocka_unit_test(test_good_chain),
        cmocka_unit_test(test_broken_rings),
        cmocka_unit_test(test_ring_outside_memory),
        cmocka_unit_test(test_port_config),
        cmocka_unit_test(test_port_words_strict),
        cmocka_unit_test(test_vu_dev_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
