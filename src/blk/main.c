/* xeno-blkback: the host's block backend (docs/blkback.md). One process serves every
 * configured disk's virtio-blk device over vhost-user, connecting to each monitor's socket,
 * with the images' I/O on io_uring. */
#include "blk/blkback.h"
#include "blk/disk_spec.h"
#include "blk/sandbox.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal, stats_wanted;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        stats_wanted = 1;
    else
        stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xeno-blkback --image-dir DIR --disk name=N,socket=PATH,file=NAME[,readonly]"
               "[,serial=S][,queues=Q] [--disk ...] [--no-sandbox] [-v]\n"
               "  SIGUSR1 logs every disk's counters; SIGTERM/SIGINT stop.\n");
}

static void log_stats(const struct blkback *bb)
{
    static char buf[BLK_MAX_DISKS * 512];
    blkback_stats(bb, buf, sizeof(buf));
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        log_info("stats %s", line);
}

static void serve(struct blkback *bb)
{
    enum { MAX_FDS = BLK_MAX_DISKS * (1 + BLK_MAX_QUEUES) + 1 };
    static struct pollfd pfd[MAX_FDS];
    while (!stop_signal) {
        if (stats_wanted) {
            stats_wanted = 0;
            log_stats(bb);
        }
        int timeout = 1000;
        unsigned n = blkback_poll_fds(bb, pfd, MAX_FDS, &timeout);
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (r >= 0) /* 0: a throttled request's time came (or a reconnect's) */
            blkback_dispatch(bb, pfd, n);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"image-dir", required_argument, NULL, 'd'},
                                         {"disk", required_argument, NULL, 'k'},
                                         {"no-sandbox", no_argument, NULL, 'S'},
                                         {"test-forbidden", no_argument, NULL, 'F'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    static struct blk_disk_config disks[BLK_MAX_DISKS];
    unsigned ndisks = 0;
    const char *image_dir = NULL;
    bool sandbox = true, test_forbidden = false, verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': image_dir = optarg; break;
        case 'k':
            if (ndisks == BLK_MAX_DISKS) {
                fprintf(stderr, "xeno-blkback: at most %u disks\n", BLK_MAX_DISKS);
                return 2;
            }
            if (blk_disk_spec_parse(optarg, &disks[ndisks++]) < 0) {
                fprintf(stderr, "xeno-blkback: %s\n", err_msg());
                return 2;
            }
            break;
        case 'S': sandbox = false; break;
        case 'F': test_forbidden = true; break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!image_dir || !ndisks || optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("xeno-blkback", verbose ? LOG_DEBUG : LOG_INFO);
    int dirfd = open(image_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        log_error("--image-dir %s: %s", image_dir, strerror(errno));
        return 1;
    }
    static struct blkback bb;
    if (blkback_init(&bb, dirfd) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    for (unsigned i = 0; i < ndisks; i++)
        if (blkback_disk_add(&bb, &disks[i]) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sandbox) {
        if (blkback_sandbox_enter(dirfd) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
    }
    if (test_forbidden) {
        log_info("test: calling socket(AF_INET), which the sandbox forbids");
        socket(AF_INET, SOCK_STREAM, 0);
        log_error("test: the forbidden call returned: the sandbox is not in force");
        return 1;
    }
    log_info("serving %u disk(s) from %s%s", ndisks, image_dir, sandbox ? "" : " (no sandbox)");
    serve(&bb);
    log_info("stopping on signal %d", (int)stop_signal);
    log_stats(&bb);
    blkback_fini(&bb);
    return 0;
}
