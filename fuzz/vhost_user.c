/* vhost-user messages (src/proto/vhost_user.c) as either end receives them from the other:
 * the fuzzer's bytes go down a socketpair and vhost_user_recv takes messages off it until
 * the stream ends, with its checks (version, reply or request, payload size per request, fd
 * count, counts inside the payload) as the backend (requests from a front end) or the
 * front end (replies from a backend) applies them. The first byte picks the end (bit 0) and
 * how many fds (bits 1-3, /dev/null) ride with the first message. */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "proto/vhost_user.h"

static void send_all(int sock, const uint8_t *p, size_t len, unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctl;
    int fds[8];
    for (unsigned i = 0; i < nfds; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    /* An empty stream with fds still needs one byte to carry them: skip the fds then. */
    if (len && sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len)
        abort(); /* the socket buffer holds far more than libFuzzer's inputs */
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool from_backend = data[0] & 1;
    unsigned nfds = (data[0] >> 1) & 7;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    send_all(sv[0], data + 1, size - 1, nfds);
    close(sv[0]);
    static struct vhost_user_msg m;
    for (int i = 0; i < 64 && vhost_user_recv(sv[1], &m, from_backend) == 0; i++)
        vhost_user_msg_close_fds(&m);
    close(sv[1]);
    return 0;
}
