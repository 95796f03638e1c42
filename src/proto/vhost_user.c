#include "proto/vhost_user.h"

#include "lib/err.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const request_names[VHOST_USER_REQUEST_MAX] = {
    [VHOST_USER_NONE] = "NONE",
    [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
    [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
    [VHOST_USER_SET_OWNER] = "SET_OWNER",
    [VHOST_USER_RESET_OWNER] = "RESET_OWNER",
    [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
    [VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
    [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
    [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
    [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
    [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
    [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
    [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
    [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VHOST_USER_SEND_RARP] = "SEND_RARP",
    [VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
    [VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
    [VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
    [VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
    [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
    [VHOST_USER_SET_CONFIG] = "SET_CONFIG",
    [VHOST_USER_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
    [VHOST_USER_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
    [VHOST_USER_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
    [VHOST_USER_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
    [VHOST_USER_POSTCOPY_END] = "POSTCOPY_END",
    [VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
    [VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
    [VHOST_USER_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
    [VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
    [VHOST_USER_VRING_KICK] = "VRING_KICK",
    [VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
    [VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
    [VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
    [VHOST_USER_SET_STATUS] = "SET_STATUS",
    [VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *vhost_user_request_name(uint32_t request)
{
    if (request < VHOST_USER_REQUEST_MAX && request_names[request])
        return request_names[request];
    return "UNKNOWN";
}

bool vhost_user_request_has_reply(uint32_t request)
{
    switch (request) {
    case VHOST_USER_GET_FEATURES:
    case VHOST_USER_GET_PROTOCOL_FEATURES:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_GET_QUEUE_NUM:
    case VHOST_USER_GET_INFLIGHT_FD:
    case VHOST_USER_GET_CONFIG:
    case VHOST_USER_GET_MAX_MEM_SLOTS:
    case VHOST_USER_GET_STATUS:
    case VHOST_USER_SET_LOG_BASE: return true; /* an empty reply: the log is in use */
    default: return false;
    }
}

void vhost_user_msg_init(struct vhost_user_msg *m, uint32_t request, uint32_t flags)
{
    memset(&m->hdr, 0, sizeof(m->hdr));
    memset(&m->payload, 0, sizeof(struct vhost_user_mem_table)); /* the largest used part */
    m->hdr.request = request;
    m->hdr.flags = VHOST_USER_VERSION | flags;
    m->hdr.size = 0;
    m->nfds = 0;
    for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
        m->fds[i] = -1;
}

void vhost_user_msg_u64(struct vhost_user_msg *m, uint32_t request, uint64_t value)
{
    vhost_user_msg_init(m, request, 0);
    m->payload.u64 = value;
    m->hdr.size = sizeof(uint64_t);
}

void vhost_user_msg_state(struct vhost_user_msg *m, uint32_t request, uint32_t index, uint32_t num)
{
    vhost_user_msg_init(m, request, 0);
    m->payload.state.index = index;
    m->payload.state.num = num;
    m->hdr.size = sizeof(struct vhost_user_vring_state);
}

void vhost_user_msg_make_reply(struct vhost_user_msg *m)
{
    m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
    m->hdr.size = 0;
    m->nfds = 0;
    for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
        m->fds[i] = -1;
}

void vhost_user_msg_close_fds(struct vhost_user_msg *m)
{
    for (unsigned i = 0; i < m->nfds && i < VHOST_USER_MAX_FDS; i++) {
        if (m->fds[i] >= 0)
            close(m->fds[i]);
        m->fds[i] = -1;
    }
    m->nfds = 0;
}

int vhost_user_set_timeout(int sock, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return err_set(errno, "vhost-user: setting socket timeouts: %s", strerror(errno));
    return 0;
}

int vhost_user_send(int sock, const struct vhost_user_msg *m)
{
    if (m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->nfds > VHOST_USER_MAX_FDS)
        return err_set(EINVAL, "vhost-user: %s: refusing to send %u bytes / %u fds",
                       vhost_user_request_name(m->hdr.request), m->hdr.size, m->nfds);
    struct iovec iov[2] = {
        {.iov_base = (void *)&m->hdr, .iov_len = sizeof(m->hdr)},
        {.iov_base = (void *)&m->payload, .iov_len = m->hdr.size},
    };
    union {
        char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = m->hdr.size ? 2 : 1};
    if (m->nfds) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
        memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
    }
    size_t total = sizeof(m->hdr) + m->hdr.size;
    size_t done = 0;
    while (done < total) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return err_set(e, "vhost-user: sending %s: %s", vhost_user_request_name(m->hdr.request), strerror(e));
        }
        done += (size_t)n;
        /* A short send (rare on a unix stream socket): the fds went with the first part. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        size_t skip = (size_t)n;
        while (mh.msg_iovlen && skip >= mh.msg_iov[0].iov_len) {
            skip -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + skip;
            mh.msg_iov[0].iov_len -= skip;
        }
    }
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The deadline of a message that starts now: the socket's SO_RCVTIMEO from now, for the
 * whole message; 0 when the socket has no receive timeout (blocking reads, tests only). */
static uint64_t message_deadline(int sock)
{
    struct timeval tv = {0};
    socklen_t l = sizeof(tv);
    if (getsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return 0;
    return mono_ms() + (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u + 1;
}

/* Waits until `sock` is readable or the deadline passes: 0 or -EAGAIN. Each read of a message
 * waits only for what is left of the message's budget, so a peer that dribbles one byte just
 * within a per-read timeout cannot stretch one message to minutes. */
static int wait_readable(int sock, uint64_t deadline, const char *what)
{
    if (!deadline)
        return 0;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            return err_set(EAGAIN,
                           "vhost-user: reading %s: timed out (the whole message must arrive within the "
                           "socket's timeout)",
                           what);
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        uint64_t left = deadline - now;
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return err_set(errno, "vhost-user: reading %s: poll: %s", what, strerror(errno));
    }
}

/* Reads exactly len bytes (no fds expected) by the message's deadline. */
static int read_full(int sock, void *buf, size_t len, uint64_t deadline, const char *what)
{
    size_t done = 0;
    while (done < len) {
        int rc = wait_readable(sock, deadline, what);
        if (rc < 0)
            return rc;
        ssize_t n = recv(sock, (char *)buf + done, len - done, deadline ? MSG_DONTWAIT : 0);
        if (n == 0)
            return err_set(EPROTO, "vhost-user: peer closed the socket in the middle of %s", what);
        if (n < 0) {
            if (errno == EINTR || (deadline && errno == EAGAIN))
                continue;
            int e = errno;
            return err_set(e, "vhost-user: reading %s: %s", what,
                           e == EAGAIN ? "timed out (peer sent half a message)" : strerror(e));
        }
        done += (size_t)n;
    }
    return 0;
}

/* Exact payload size of each request (in the given direction); -1: variable or unknown. */
static long expected_size(uint32_t request, bool reply)
{
    switch (request) {
    case VHOST_USER_GET_FEATURES:
    case VHOST_USER_GET_PROTOCOL_FEATURES:
    case VHOST_USER_GET_QUEUE_NUM:
    case VHOST_USER_GET_MAX_MEM_SLOTS:
    case VHOST_USER_GET_STATUS: return reply ? 8 : 0;
    case VHOST_USER_GET_VRING_BASE: return sizeof(struct vhost_user_vring_state);
    case VHOST_USER_GET_INFLIGHT_FD:
    case VHOST_USER_SET_INFLIGHT_FD: return sizeof(struct vhost_user_inflight);
    case VHOST_USER_SET_LOG_BASE: return reply ? 0 : (long)sizeof(struct vhost_user_log);
    case VHOST_USER_SET_OWNER:
    case VHOST_USER_RESET_OWNER:
    case VHOST_USER_RESET_DEVICE: return reply ? 8 : 0;
    case VHOST_USER_SET_FEATURES:
    case VHOST_USER_SET_PROTOCOL_FEATURES:
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR:
    case VHOST_USER_SET_STATUS: return 8;
    case VHOST_USER_SET_VRING_NUM:
    case VHOST_USER_SET_VRING_BASE:
    case VHOST_USER_SET_VRING_ENABLE:
    case VHOST_USER_SET_VRING_ENDIAN: return reply ? 8 : (long)sizeof(struct vhost_user_vring_state);
    case VHOST_USER_SET_VRING_ADDR: return reply ? 8 : (long)sizeof(struct vhost_user_vring_addr);
    default: return -1;
    }
}

int vhost_user_msg_check(const struct vhost_user_msg *m, bool from_backend)
{
    const char *name = vhost_user_request_name(m->hdr.request);
    if ((m->hdr.flags & VHOST_USER_FLAG_VERSION_MASK) != VHOST_USER_VERSION)
        return err_set(EPROTO, "vhost-user: %s: version %u, expected %u", name,
                       m->hdr.flags & VHOST_USER_FLAG_VERSION_MASK, VHOST_USER_VERSION);
    bool is_reply = (m->hdr.flags & VHOST_USER_FLAG_REPLY) != 0;
    if (is_reply != from_backend)
        return err_set(EPROTO, "vhost-user: %s: %s", name,
                       from_backend ? "expected a reply, got a request" : "expected a request, got a reply");
    if (m->hdr.size > VHOST_USER_MAX_PAYLOAD)
        return err_set(EPROTO, "vhost-user: %s: payload of %u bytes (at most %u)", name, m->hdr.size,
                       VHOST_USER_MAX_PAYLOAD);
    long want = expected_size(m->hdr.request, is_reply);
    /* A REPLY_ACK status is a u64 whatever the request was. */
    if (is_reply && !vhost_user_request_has_reply(m->hdr.request))
        want = 8;
    if (m->hdr.request == VHOST_USER_SET_MEM_TABLE && !is_reply) {
        uint32_t n = m->payload.memory.nregions;
        if (m->hdr.size < 8 || n == 0 || n > VHOST_USER_MAX_REGIONS)
            return err_set(EPROTO, "vhost-user: SET_MEM_TABLE with %u regions (1 to %u)", m->hdr.size < 8 ? 0 : n,
                           VHOST_USER_MAX_REGIONS);
        /* QEMU sends the whole 8-region array; others send only nregions entries. */
        size_t min = 8 + n * sizeof(struct vhost_user_mem_region);
        if (m->hdr.size < min || m->hdr.size > sizeof(struct vhost_user_mem_table))
            return err_set(EPROTO, "vhost-user: SET_MEM_TABLE of %u bytes for %u regions", m->hdr.size, n);
        if (m->nfds != n)
            return err_set(EPROTO, "vhost-user: SET_MEM_TABLE with %u regions but %u fds", n, m->nfds);
        return 0;
    }
    if (want >= 0 && m->hdr.size != (uint32_t)want)
        return err_set(EPROTO, "vhost-user: %s%s: payload of %u bytes, expected %ld", name, is_reply ? " reply" : "",
                       m->hdr.size, want);

    unsigned fds_min = 0, fds_max = 0;
    if (!is_reply) {
        switch (m->hdr.request) {
        case VHOST_USER_SET_VRING_KICK:
        case VHOST_USER_SET_VRING_CALL:
        case VHOST_USER_SET_VRING_ERR:
            if (m->payload.u64 & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
                return err_set(EPROTO, "vhost-user: %s: unknown bits in 0x%llx", name,
                               (unsigned long long)m->payload.u64);
            fds_min = fds_max = (m->payload.u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
            break;
        case VHOST_USER_SET_INFLIGHT_FD:
        case VHOST_USER_SET_LOG_FD:
        case VHOST_USER_SET_BACKEND_REQ_FD: fds_min = fds_max = 1; break;
        case VHOST_USER_SET_LOG_BASE: fds_max = 1; break;
        default: break;
        }
    } else if (m->hdr.request == VHOST_USER_GET_INFLIGHT_FD) {
        fds_min = fds_max = 1;
    }
    if (m->nfds < fds_min || m->nfds > fds_max)
        return err_set(EPROTO, "vhost-user: %s%s with %u fds, expected %u", name, is_reply ? " reply" : "", m->nfds,
                       fds_min);
    /* The inflight description: in GET_INFLIGHT_FD's reply and in SET_INFLIGHT_FD (a REPLY_ACK
     * to SET_INFLIGHT_FD is a plain status). */
    if ((m->hdr.request == VHOST_USER_GET_INFLIGHT_FD && is_reply) ||
        (m->hdr.request == VHOST_USER_SET_INFLIGHT_FD && !is_reply)) {
        const struct vhost_user_inflight *f = &m->payload.inflight;
        if (f->num_queues == 0 || f->queue_size == 0 || f->queue_size > VU_MAX_QUEUE_SIZE)
            return err_set(EPROTO, "vhost-user: %s: %u queues of %u entries", name, f->num_queues, f->queue_size);
    }
    return 0;
}

int vhost_user_recv(int sock, struct vhost_user_msg *m, bool from_backend)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * (VHOST_USER_MAX_FDS + 8))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = &m->hdr, .iov_len = sizeof(m->hdr)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    m->nfds = 0;
    for (unsigned i = 0; i < VHOST_USER_MAX_FDS; i++)
        m->fds[i] = -1;
    /* One deadline for the whole message (header, fds, payload), from this call on. */
    uint64_t deadline = message_deadline(sock);
    ssize_t n;
    do {
        int w = wait_readable(sock, deadline, "a header");
        if (w < 0)
            return w;
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (deadline ? MSG_DONTWAIT : 0));
    } while (n < 0 && (errno == EINTR || (deadline && errno == EAGAIN)));
    if (n == 0)
        return err_set(ECONNRESET, "vhost-user: peer closed the socket");
    if (n < 0) {
        int e = errno;
        return err_set(e, "vhost-user: reading a header: %s", strerror(e));
    }
    /* Collect every fd first, so that whatever is wrong below, none leaks. */
    int extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fd;
        for (size_t i = 0; i < cnt; i++) {
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (m->nfds < VHOST_USER_MAX_FDS)
                m->fds[m->nfds++] = fd;
            else {
                close(fd);
                extra++;
            }
        }
    }
    int rc;
    if (mh.msg_flags & MSG_CTRUNC || extra) {
        rc = err_set(EPROTO, "vhost-user: more than %u fds with one message", VHOST_USER_MAX_FDS);
        goto bad;
    }
    if ((size_t)n < sizeof(m->hdr)) {
        rc = read_full(sock, (char *)&m->hdr + n, sizeof(m->hdr) - (size_t)n, deadline, "a header");
        if (rc < 0)
            goto bad;
    }
    if (m->hdr.size > VHOST_USER_MAX_PAYLOAD) {
        rc = err_set(EPROTO, "vhost-user: %s: payload of %u bytes (at most %u)",
                     vhost_user_request_name(m->hdr.request), m->hdr.size, VHOST_USER_MAX_PAYLOAD);
        goto bad;
    }
    memset(&m->payload, 0, sizeof(struct vhost_user_mem_table));
    if (m->hdr.size) {
        rc = read_full(sock, &m->payload, m->hdr.size, deadline, vhost_user_request_name(m->hdr.request));
        if (rc < 0)
            goto bad;
    }
    rc = vhost_user_msg_check(m, from_backend);
    if (rc < 0)
        goto bad;
    return 0;
bad:
    vhost_user_msg_close_fds(m);
    return rc == -ECONNRESET ? -EPROTO : rc;
}

int vhost_user_call(int sock, struct vhost_user_msg *req, struct vhost_user_msg *reply)
{
    uint32_t code = req->hdr.request;
    bool want = vhost_user_request_has_reply(code);
    bool ack = (req->hdr.flags & VHOST_USER_FLAG_NEED_REPLY) != 0;
    int rc = vhost_user_send(sock, req);
    if (rc < 0 || (!want && !ack))
        return rc;
    rc = vhost_user_recv(sock, reply, true);
    if (rc < 0)
        return rc;
    if (reply->hdr.request != code) {
        vhost_user_msg_close_fds(reply);
        return err_set(EPROTO, "vhost-user: sent %s, the reply is for %s", vhost_user_request_name(code),
                       vhost_user_request_name(reply->hdr.request));
    }
    if (!want && reply->payload.u64 != 0)
        return err_set(EIO, "vhost-user: the backend refused %s (status %llu)", vhost_user_request_name(code),
                       (unsigned long long)reply->payload.u64);
    return 0;
}
