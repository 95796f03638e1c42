/* unixcat: a tiny, dependency-free unix-socket client for the integration tests.
 *
 * usage: unixcat [-t SECONDS] [-u STRING] [-l LINES] SOCKET
 *
 * Connects to the unix stream socket SOCKET, copies stdin to it and what it sends to
 * stdout (unbuffered). At the end of stdin it shuts down its sending side and keeps
 * reading. It ends with status 0 when the socket closes, when STRING (-u) has appeared in
 * the output, or when LINES (-l) lines have arrived; after SECONDS (-t) it ends with
 * status 0, or 124 when -u or -l was given and not met. Status 2: it could not connect. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double timeout = -1;
    const char *until = NULL;
    long lines = -1, seen_lines = 0;
    int c;
    while ((c = getopt(argc, argv, "t:u:l:")) != -1) {
        switch (c) {
        case 't': timeout = atof(optarg); break;
        case 'u': until = optarg; break;
        case 'l': lines = atol(optarg); break;
        default: fprintf(stderr, "usage: unixcat [-t SECONDS] [-u STRING] [-l LINES] SOCKET\n"); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: unixcat [-t SECONDS] [-u STRING] [-l LINES] SOCKET\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* the server may close while we still send: that ends our sending only */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[optind]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "unixcat: %s: path too long\n", argv[optind]);
        return 2;
    }
    strcpy(sa.sun_path, argv[optind]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "unixcat: %s: %s\n", argv[optind], strerror(errno));
        return 2;
    }

    static char window[4096 + 65536]; /* the last ulen-1 bytes seen, then the new ones */
    size_t ulen = until ? strlen(until) : 0;
    if (ulen > 4096) {
        fprintf(stderr, "unixcat: -u: at most 4096 bytes\n");
        return 2;
    }
    size_t wlen = 0;
    int stdin_open = 1;
    double deadline = timeout >= 0 ? now() + timeout : 0;
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        int ms = -1;
        if (timeout >= 0) {
            double left = deadline - now();
            if (left <= 0)
                return (until || lines >= 0) ? 124 : 0;
            ms = (int)(left * 1000) + 1;
        }
        if (poll(p, stdin_open ? 2 : 1, ms) < 0) {
            if (errno == EINTR)
                continue;
            perror("unixcat: poll");
            return 2;
        }
        if (stdin_open && p[1].revents) {
            char buf[4096];
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) {
                stdin_open = 0;
                shutdown(fd, SHUT_WR);
            } else if (write_all(fd, buf, (size_t)n) < 0) {
                stdin_open = 0;
            }
        }
        if (p[0].revents) {
            char *buf = window + wlen;
            ssize_t n = read(fd, buf, 65536);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0;
            write_all(STDOUT_FILENO, buf, (size_t)n);
            for (ssize_t i = 0; i < n; i++)
                seen_lines += buf[i] == '\n';
            if (lines >= 0 && seen_lines >= lines)
                return 0;
            if (until) {
                wlen += (size_t)n;
                if (memmem(window, wlen, until, ulen))
                    return 0;
                size_t keep = ulen ? ulen - 1 : 0;
                if (wlen > keep) {
                    memmove(window, window + wlen - keep, keep);
                    wlen = keep;
                }
            }
        }
    }
}
