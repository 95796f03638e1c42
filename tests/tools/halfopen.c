/* halfopen: holds many connections that never finish their request, for the connection
 * exhaustion test (tests/integration/api_tls.sh, docs/security.md "Sponsor API").
 *
 * usage: halfopen -n N (-u SOCKET | -a IPV4:PORT [-p PER_SOURCE]) [-x] [-t SECONDS]
 *
 * Opens N connections to the unix socket or the TCP address and sends each half a request:
 * "GET /v1/domains HTTP/1.1\r\nHost: x\r\nX-Hal" (or with -x, for a TLS port, the first 3 bytes
 * of a TLS record: half a ClientHello). TCP connections come from 127.1.A.B source addresses,
 * PER_SOURCE (default 30) from each, so a per-address cap does not refuse them. Prints
 * "open K" (K: the connections that were accepted and not closed by the peer after 1 s) and
 * holds them all for SECONDS (default 60), then exits 0. Raises its descriptor limit first. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int open_one(const char *unix_path, const struct sockaddr_in *dst, int index, int per_source)
{
    int fd;
    if (unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    int src = index / per_source;
    struct sockaddr_in me = {.sin_family = AF_INET};
    me.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(src / 250) << 8) | (unsigned)(src % 250 + 1));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    int n = 0, per_source = 30, tls = 0, opt;
    double hold_s = 60;
    const char *unix_path = NULL, *addr = NULL;
    while ((opt = getopt(argc, argv, "n:u:a:p:xt:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'u': unix_path = optarg; break;
        case 'a': addr = optarg; break;
        case 'p': per_source = atoi(optarg); break;
        case 'x': tls = 1; break;
        case 't': hold_s = atof(optarg); break;
        default: return 2;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET};
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (n <= 0 || per_source <= 0 || !unix_path == !addr ||
        (addr && (!colon || inet_pton(AF_INET, strndup(addr, (size_t)(colon - addr)), &dst.sin_addr) != 1))) {
        fprintf(stderr, "usage: halfopen -n N (-u SOCKET | -a IPV4:PORT [-p PER_SOURCE]) [-x] [-t SECONDS]\n");
        return 2;
    }
    if (colon)
        dst.sin_port = htons((uint16_t)atoi(colon + 1));
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    static const char http_half[] = "GET /v1/domains HTTP/1.1\r\nHost: x\r\nX-Hal";
    static const char tls_half[] = "\x16\x03\x01";
    const char *half = tls ? tls_half : http_half;
    size_t half_len = tls ? 3 : sizeof(http_half) - 1;
    struct pollfd *fds = calloc((size_t)n, sizeof(*fds));
    int opened = 0;
    for (int i = 0; i < n && fds; i++) {
        int fd = open_one(unix_path, &dst, i, per_source);
        if (fd < 0)
            continue;
        if (write(fd, half, half_len) != (ssize_t)half_len) {
            close(fd);
            continue;
        }
        fds[opened].fd = fd;
        fds[opened++].events = POLLIN;
    }
    /* Accepted and still open a second later: a refusal closes at once. */
    usleep(1000000);
    int alive = 0;
    if (poll(fds, (nfds_t)opened, 0) >= 0)
        for (int i = 0; i < opened; i++) {
            char b;
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)) || recv(fds[i].fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
                alive++;
        }
    printf("open %d\n", alive);
    fflush(stdout);
    usleep((useconds_t)(hold_s * 1e6) > 0 ? (useconds_t)(hold_s * 1e6) : 0);
    return 0;
}
