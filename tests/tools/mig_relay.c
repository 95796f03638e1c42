/* mig_relay: a host in the middle of a migration for tests/integration/migrate.sh. Listens
 * on LISTEN (IPv4 "ADDR:PORT"), takes one connection, connects to TARGET and copies bytes
 * both ways until either side ends. It holds no key: it can only pass bytes on, record
 * them, or change them. --flip-at N flips the lowest bit of the N-th byte (from 0) the
 * source sends; --record FILE keeps every byte the source sent, as relayed. Prints
 * `mig_relay up=N down=N flipped=0|1` at the end; exit 0 unless setting up failed.
 * usage: mig_relay LISTEN TARGET [--flip-at N] [--record FILE] [--ready FILE] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int addr_of(const char *s, struct sockaddr_in *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long long flip_at = -1;
    const char *record = NULL, *ready = NULL;
    struct sockaddr_in la, ta;
    if (argc < 3 || addr_of(argv[1], &la) < 0 || addr_of(argv[2], &ta) < 0) {
        fprintf(stderr, "usage: mig_relay LISTEN TARGET [--flip-at N] [--record FILE] [--ready FILE]\n");
        return 2;
    }
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--flip-at"))
            flip_at = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--record"))
            record = argv[i + 1];
        else if (!strcmp(argv[i], "--ready"))
            ready = argv[i + 1];
    }
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, 1) < 0) {
        perror("mig_relay: listen");
        return 1;
    }
    if (ready)
        close(open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    int src = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    int dst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (src < 0 || dst < 0 || connect(dst, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
        perror("mig_relay: connect");
        return 1;
    }
    FILE *rec = record ? fopen(record, "we") : NULL;
    if (record && !rec) {
        perror(record);
        return 1;
    }
    static uint8_t buf[1 << 16];
    unsigned long long up = 0, down = 0;
    int flipped = 0;
    struct pollfd p[2] = {{src, POLLIN, 0}, {dst, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, 60000) <= 0)
            break;
        int from = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
        ssize_t n = recv(p[from].fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        if (from == 0) {
            if (flip_at >= (long long)up && flip_at < (long long)(up + (unsigned long long)n)) {
                buf[flip_at - (long long)up] ^= 1;
                flipped = 1;
            }
            if (rec)
                fwrite(buf, 1, (size_t)n, rec);
            up += (unsigned long long)n;
        } else {
            down += (unsigned long long)n;
        }
        if (write_all(p[1 - from].fd, buf, (size_t)n) < 0)
            break;
    }
    if (rec)
        fclose(rec);
    close(src);
    close(dst);
    printf("mig_relay up=%llu down=%llu flipped=%d\n", up, down, flipped);
    return 0;
}
