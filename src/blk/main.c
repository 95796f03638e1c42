/* xeno-blkback: the host's block backend (docs/blkback.md). One process serves every
 * configured disk's virtio-blk device over vhost-user, connecting to each monitor's socket,
 * with the images' I/O on io_uring. */
#include "blk/blkback.h"
#include "blk/control.h"
#include "blk/disk_spec.h"
#include "blk/sandbox.h"

#include "lib/err.h"
#include "lib/line_server.h"
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
    fprintf(f, "usage: xeno-blkback --image-dir DIR [--disk name=N,socket=PATH,file=NAME[,readonly]"
               "[,serial=S][,queues=Q] ...] [--control PATH] [--no-sandbox] [-v]\n"
               "  --control PATH: a control socket there (add-disk, remove-disk, list, stats, status);\n"
               "  without one, at least one --disk. SIGUSR1 logs every disk's counters; SIGTERM/SIGINT stop.\n");
}

static void log_stats(const struct blkback *bb)
{
    static char buf[BLK_MAX_DISKS * 512];
    blkback_stats(bb, buf, sizeof(buf));
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        log_info("stats %s", line);
}

/* Serves the disks and the control socket (ctl NULL: none) until a stop signal. The control
 * socket is handled after the disks in each turn: a remove-disk then cannot leave a stale
 * descriptor in this turn's poll set. */
static void serve(struct blkback *bb, struct line_server *ctl)
{
    enum { MAX_FDS = BLK_MAX_DISKS * (1 + BLK_MAX_QUEUES) + 1 + 2 };
    static struct pollfd pfd[MAX_FDS];
    while (!stop_signal) {
        if (stats_wanted) {
            stats_wanted = 0;
            log_stats(bb);
        }
        int timeout = 1000;
        unsigned nc = ctl ? line_server_poll_fds(ctl, pfd, 2) : 0;
        unsigned n = blkback_poll_fds(bb, pfd + nc, MAX_FDS - nc, &timeout);
        int r = poll(pfd, nc + n, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (r > 0) {
            blkback_dispatch(bb, pfd + nc, n);
            if (ctl)
                line_server_handle(ctl, pfd, nc);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"image-dir", required_argument, NULL, 'd'},
                                         {"disk", required_argument, NULL, 'k'},
                                         {"control", required_argument, NULL, 'c'},
                                         {"no-sandbox", no_argument, NULL, 'S'},
                                         {"test-forbidden", no_argument, NULL, 'F'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    static struct blk_disk_config disks[BLK_MAX_DISKS];
    unsigned ndisks = 0;
    const char *image_dir = NULL, *control = NULL;
    bool sandbox = true, test_forbidden = false, verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': image_dir = optarg; break;
        case 'c': control = optarg; break;
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
    if (!image_dir || (!ndisks && !control) || optind != argc) {
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
    static struct line_server ctl;
    if (control && line_server_open(&ctl, control, blk_control_request, &bb) < 0) {
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
    log_info("serving %u disk(s) from %s%s%s%s", ndisks, image_dir, control ? ", control socket " : "",
             control ? control : "", sandbox ? "" : " (no sandbox)");
    serve(&bb, control ? &ctl : NULL);
    if (control)
        line_server_close(&ctl);
    log_info("stopping on signal %d", (int)stop_signal);
    log_stats(&bb);
    blkback_fini(&bb);
    return 0;
}
