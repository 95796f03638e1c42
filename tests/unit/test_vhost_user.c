/* The vhost-user wire helpers (src/proto/vhost_user.c) over a real socketpair: messages and
 * their fds arrive intact, and every malformed message a peer can send is refused with
 * -EPROTO and without leaking an fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/vhost_user.h"

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vhost_user_set_timeout(sv[0], 200), 0);
    assert_int_equal(vhost_user_set_timeout(sv[1], 200), 0);
}

/* Writes raw bytes (a header and payload a correct sender would never produce). */
static void send_raw(int s, uint32_t req, uint32_t flags, uint32_t size, const void *payload, size_t plen,
                     const int *fds, unsigned nfds)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, req, 0);
    m.hdr.flags = flags;
    m.hdr.size = size;
    memcpy(&m.payload, payload, plen);
    /* The header with the claimed size, then plen bytes, and the fds as given. */
    struct iovec iov[2] = {{.iov_base = &m.hdr, .iov_len = sizeof(m.hdr)}, {.iov_base = &m.payload, .iov_len = plen}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr a;
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = plen ? 2 : 1};
    if (nfds) {
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    assert_true(sendmsg(s, &mh, 0) == (ssize_t)(sizeof(m.hdr) + plen));
}

static void test_mem_table_round_trip(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    int mfd = memfd_create("t", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, 8192), 0);
    struct vhost_user_msg m, r;
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] = (struct vhost_user_mem_region){
        .guest_phys_addr = 0x1000, .memory_size = 8192, .userspace_addr = 0x7f0000000000ull};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = mfd;
    m.nfds = 1;
    assert_int_equal(vhost_user_send(sv[0], &m), 0);
    assert_int_equal(vhost_user_recv(sv[1], &r, false), 0);
    assert_int_equal(r.hdr.request, VHOST_USER_SET_MEM_TABLE);
    assert_int_equal(r.payload.memory.nregions, 1);
    assert_int_equal(r.payload.memory.regions[0].guest_phys_addr, 0x1000);
    assert_int_equal(r.nfds, 1);
    assert_true(r.fds[0] >= 0 && r.fds[0] != mfd);
    vhost_user_msg_close_fds(&r);
    close(mfd);
    close(sv[0]);
    close(sv[1]);
}

static void expect_refused(uint32_t req, uint32_t flags, uint32_t size, const void *payload, size_t plen, unsigned nfds,
                           bool from_backend, const char *needle)
{
    int sv[2];
    pair(sv);
    int fds[16];
    for (unsigned i = 0; i < nfds; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    int before = open_fds();
    send_raw(sv[0], req, flags, size, payload, plen, fds, nfds);
    if (plen < size)
        shutdown(sv[0], SHUT_WR); /* the rest never comes */
    struct vhost_user_msg r;
    int rc = vhost_user_recv(sv[1], &r, from_backend);
    if (rc != -EPROTO)
        fail_msg("request %u: rc %d (%s), expected -EPROTO", req, rc, err_msg());
    if (needle && !strstr(err_msg(), needle))
        fail_msg("message '%s' lacks '%s'", err_msg(), needle);
    assert_int_equal(open_fds(), before); /* every fd received was closed */
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    close(sv[0]);
    close(sv[1]);
}

static void test_refusals(void **state)
{
    (void)state;
    uint64_t u = 0;
    struct vhost_user_vring_state st = {0, 256};
    uint8_t big[64] = {0};
    /* wrong version */
    expect_refused(VHOST_USER_SET_FEATURES, 2, 8, &u, 8, 0, false, "version");
    /* a reply where a request is expected, and the other way round */
    expect_refused(VHOST_USER_SET_FEATURES, 1 | VHOST_USER_FLAG_REPLY, 8, &u, 8, 0, false, "got a reply");
    expect_refused(VHOST_USER_GET_FEATURES, 1, 0, &u, 0, 0, true, "got a request");
    /* payload sizes */
    expect_refused(VHOST_USER_SET_VRING_NUM, 1, 4, &st, 4, 0, false, "expected 8");
    expect_refused(VHOST_USER_SET_FEATURES, 1, 16, big, 16, 0, false, "expected 8");
    expect_refused(VHOST_USER_SET_FEATURES, 1, VHOST_USER_MAX_PAYLOAD + 1, big, 0, 0, false, "at most");
    /* fd counts */
    uint64_t kick = 0; /* queue 0, an fd promised */
    expect_refused(VHOST_USER_SET_VRING_KICK, 1, 8, &kick, 8, 0, false, "0 fds, expected 1");
    expect_refused(VHOST_USER_SET_VRING_KICK, 1, 8, &kick, 8, 2, false, "2 fds");
    uint64_t kick_bits = 1ull << 40;
    expect_refused(VHOST_USER_SET_VRING_KICK, 1, 8, &kick_bits, 8, 1, false, "unknown bits");
    expect_refused(VHOST_USER_SET_FEATURES, 1, 8, &u, 8, 12, false, "more than");
    /* memory tables */
    struct vhost_user_mem_table mt = {.nregions = 9};
    expect_refused(VHOST_USER_SET_MEM_TABLE, 1, sizeof(mt), &mt, sizeof(mt), 0, false, "9 regions");
    mt.nregions = 2;
    expect_refused(VHOST_USER_SET_MEM_TABLE, 1, 8 + 2 * 32, &mt, 8 + 2 * 32, 1, false, "2 regions but 1 fds");
    mt.nregions = 0;
    expect_refused(VHOST_USER_SET_MEM_TABLE, 1, 8, &mt, 8, 0, false, "0 regions");
    /* inflight description */
    struct vhost_user_inflight inf = {.mmap_size = 4096, .num_queues = 0, .queue_size = 256};
    expect_refused(VHOST_USER_SET_INFLIGHT_FD, 1, sizeof(inf), &inf, sizeof(inf), 1, false, "0 queues");
    /* a message cut short: the peer stops after the header */
    expect_refused(VHOST_USER_SET_VRING_NUM, 1, 8, &st, 0, 0, false, "closed the socket in the middle");
}

static void test_call_reply_ack(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    /* The "backend" answers the REPLY_ACK with status 1 before the request is even read. */
    struct vhost_user_msg ack;
    vhost_user_msg_u64(&ack, VHOST_USER_SET_VRING_NUM, 1);
    ack.hdr.flags |= VHOST_USER_FLAG_REPLY;
    assert_int_equal(vhost_user_send(sv[1], &ack), 0);
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, 256);
    m.hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    assert_int_equal(vhost_user_call(sv[0], &m, &m), -EIO);
    assert_non_null(strstr(err_msg(), "refused SET_VRING_NUM"));
    /* A reply to another request is refused. */
    vhost_user_msg_u64(&ack, VHOST_USER_GET_PROTOCOL_FEATURES, 7);
    ack.hdr.flags |= VHOST_USER_FLAG_REPLY;
    assert_int_equal(vhost_user_send(sv[1], &ack), 0);
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    assert_int_equal(vhost_user_call(sv[0], &m, &m), -EPROTO);
    /* The peer gone: -ECONNRESET on the next receive. */
    close(sv[1]);
    struct vhost_user_msg r;
    assert_int_equal(vhost_user_recv(sv[0], &r, true) < 0, 1);
    close(sv[0]);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sends a valid SET_VRING_NUM (20 bytes) one byte every 50 ms: each byte comes well within
 * the 200 ms receive timeout, the whole message takes a second. */
static void *dribble(void *arg)
{
    int s = *(int *)arg;
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, 256);
    const uint8_t *b = (const uint8_t *)&m;
    for (size_t i = 0; i < sizeof(m.hdr) + sizeof(m.payload.state); i++) {
        if (send(s, b + i, 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(50000);
    }
    return NULL;
}

/* The socket's receive timeout bounds the WHOLE message, not each read: a peer that dribbles
 * one byte at a time just within it cannot hold the receiver for longer. */
static void test_whole_message_deadline(void **state)
{
    (void)state;
    int sv[2];
    pair(sv); /* 200 ms */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, dribble, &sv[0]), 0);
    struct vhost_user_msg r;
    uint64_t t0 = now_ms();
    int rc = vhost_user_recv(sv[1], &r, false);
    uint64_t took = now_ms() - t0;
    if (rc != -EAGAIN || took > 500)
        fail_msg("recv of a dribbled message: rc %d after %llu ms (want -EAGAIN within the 200 ms budget)", rc,
                 (unsigned long long)took);
    assert_non_null(strstr(err_msg(), "timed out"));
    close(sv[1]);
    pthread_join(t, NULL);
    close(sv[0]);
    /* A message sent whole still arrives, and a slow start counts too: nothing for 300 ms of
     * a 200 ms budget is a timeout, not a wait per read. */
    pair(sv);
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, 256);
    assert_int_equal(vhost_user_send(sv[0], &m), 0);
    assert_int_equal(vhost_user_recv(sv[1], &r, false), 0);
    assert_int_equal(r.payload.state.num, 256);
    t0 = now_ms();
    assert_int_equal(vhost_user_recv(sv[1], &r, false), -EAGAIN);
    took = now_ms() - t0;
    assert_true(took >= 150 && took < 500);
    close(sv[0]);
    close(sv[1]);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(vhost_user_request_name(VHOST_USER_SET_INFLIGHT_FD), "SET_INFLIGHT_FD");
    assert_string_equal(vhost_user_request_name(999), "UNKNOWN");
    assert_true(vhost_user_request_has_reply(VHOST_USER_GET_VRING_BASE));
    assert_false(vhost_user_request_has_reply(VHOST_USER_SET_VRING_BASE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_table_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_call_reply_ack),
        cmocka_unit_test(test_whole_message_deadline),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
