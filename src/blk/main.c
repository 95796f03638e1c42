/* xeno-blkback: the host's block backend (docs/blkback.md). One process serves every
 * configured disk's virtio-blk device over vhost-user, connecting to each monitor's socket,
 * with the images' I/O on io_uring. */
#include "blk/blk_state.h"
#include "blk/blkback.h"
#include "blk/calibrate.h"
#include "blk/control.h"
#include "blk/disk_spec.h"
#include "blk/sandbox.h"

#include "lib/err.h"
#include "lib/fd_limit.h"
#include "lib/line_server.h"
#include "lib/log.h"
#include "lib/parse.h"

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

struct options {
    struct blk_disk_config disks[BLK_MAX_DISKS];
    unsigned ndisks, device_depth, calibrate_ms, poll_us, submit_batch;
    const char *image_dir, *state_dir, *calibrate_file, *control;
    bool sandbox, test_forbidden, verbose, calibrate;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: xeno-blkback --image-dir DIR [--disk name=N,socket=PATH,file=NAME[,readonly]"
        "[,serial=S][,queues=Q][,QOS...] ...] [--control PATH] [--state-dir DIR] [--device-depth N]\n"
        "                    [--poll-us US] [--submit-batch N] [--no-sandbox] [-v]\n"
        "       xeno-blkback --calibrate --image-dir DIR --state-dir DIR [--file NAME] [--calibrate-ms MS]\n"
        "  QOS: reservation=UNITS weight=1..10000 group=NAME sponsor=NAME sponsor_total_iops_sec=N\n"
        "       sponsor_total_bytes_sec=N size_iops_sec=N and {total,read,write}_{iops,bytes}_sec[_max[_length]]=N\n"
        "  --control PATH: a control socket there (add-disk, remove-disk, list, stats, status);\n"
        "  without one, at least one --disk. SIGUSR1 logs every disk's counters; SIGTERM/SIGINT stop.\n"
        "  --poll-us US: after a busy turn, look for more work that long before sleeping (0..1000,\n"
        "  0: never; default %u).\n"
        "  --submit-batch N: hand the kernel N prepared requests at a time at most (1..%u, default %u).\n",
        BLK_POLL_US_DEFAULT, BLK_URING_ENTRIES, BLK_SUBMIT_BATCH_DEFAULT);
}

static void log_stats(const struct blkback *bb)
{
    static char buf[BLK_MAX_DISKS * 512];
    blkback_stats(bb, buf, sizeof(buf));
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        log_info("stats %s", line);
}

/* The stats page's refresh: at most every PAGE_BUSY_NS while anything happens, so what xenod
 * meters at a domain's end (its last reading, docs/metering.md "Disk meters") is at most that
 * old; once a second (the heartbeat) while idle, so idle costs no extra wake-ups. */
#define PAGE_BUSY_NS 100000000ull
#define PAGE_IDLE_NS 1000000000ull

/* Serves the disks and the control socket (ctl NULL: none) until a stop signal, writing the
 * stats page (page NULL: none) as above. The control socket is handled after the disks in
 * each turn: a remove-disk then cannot leave a stale descriptor in this turn's poll set. */
static void serve(struct blkback *bb, struct bb_stats_page *page, struct line_server *ctl)
{
    enum { MAX_FDS = 2 + 1 }; /* the control socket's two, the disks' epoll set */
    static struct pollfd pfd[MAX_FDS];
    uint64_t page_at = 0, written_at = 0;
    int dirty = 0; /* something happened since the page was written */
    while (!stop_signal) {
        if (stats_wanted) {
            stats_wanted = 0;
            log_stats(bb);
        }
        uint64_t now = blk_now_ns();
        if (page && (now >= page_at || (dirty && now - written_at >= PAGE_BUSY_NS))) {
            blk_state_update_stats(page, bb);
            written_at = now;
            page_at = now + PAGE_IDLE_NS;
            dirty = 0;
        }
        int timeout = 1000;
        if (page && dirty) { /* the last of a burst reaches the page within PAGE_BUSY_NS */
            uint64_t due = written_at + PAGE_BUSY_NS, ms = due > now ? (due - now + 999999) / 1000000 : 0;
            timeout = ms < (uint64_t)timeout ? (int)ms : timeout;
        }
        unsigned nc = ctl ? line_server_poll_fds(ctl, pfd, 2) : 0;
        unsigned n = blkback_poll_fds(bb, pfd + nc, MAX_FDS - nc, &timeout);
        if (blkback_kicks_on(bb)) /* requests came while the guest was told not to kick */
            timeout = 0;
        int r = poll(pfd, nc + n, timeout);
        if (r < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return;
        }
        if (r >= 0) { /* 0: a throttled request's time came (or a reconnect's) */
            blkback_dispatch(bb, pfd + nc, n);
            if (ctl && r > 0)
                line_server_handle(ctl, pfd, nc);
            if (r > 0) /* something woke us: more may follow within microseconds */
                blkback_busy_poll(bb);
        }
        dirty |= r > 0;
    }
}

/* 0: go on; else the exit status (2: usage). */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"image-dir", required_argument, NULL, 'd'},
                                         {"disk", required_argument, NULL, 'k'},
                                         {"state-dir", required_argument, NULL, 's'},
                                         {"device-depth", required_argument, NULL, 'D'},
                                         {"poll-us", required_argument, NULL, 'P'},
                                         {"submit-batch", required_argument, NULL, 'B'},
                                         {"calibrate", no_argument, NULL, 'C'},
                                         {"calibrate-ms", required_argument, NULL, 'M'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"control", required_argument, NULL, 'c'},
                                         {"no-sandbox", no_argument, NULL, 'S'},
                                         {"test-forbidden", no_argument, NULL, 'F'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    uint64_t x;
    int c;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->image_dir = optarg; break;
        case 'c': o->control = optarg; break;
        case 'k':
            if (o->ndisks == BLK_MAX_DISKS) {
                fprintf(stderr, "xeno-blkback: at most %u disks\n", BLK_MAX_DISKS);
                return 2;
            }
            if (blk_disk_spec_parse(optarg, &o->disks[o->ndisks++]) < 0) {
                fprintf(stderr, "xeno-blkback: %s\n", err_msg());
                return 2;
            }
            break;
        case 's': o->state_dir = optarg; break;
        case 'P':
            if (parse_u64_range(optarg, 0, BLK_POLL_US_MAX, &x) < 0) {
                fprintf(stderr, "xeno-blkback: --poll-us '%.20s' (0..%u)\n", optarg, BLK_POLL_US_MAX);
                return 2;
            }
            o->poll_us = (unsigned)x;
            break;
        case 'D':
        case 'B':
        case 'M':
            if (parse_u64_range(optarg, c == 'M' ? 100 : 1, c == 'M' ? 10000 : BLK_URING_ENTRIES, &x) < 0) {
                fprintf(stderr, "xeno-blkback: %s '%.20s' (%s)\n",
                        c == 'D'   ? "--device-depth"
                        : c == 'B' ? "--submit-batch"
                                   : "--calibrate-ms",
                        optarg, c == 'M' ? "100..10000" : "1..256");
                return 2;
            }
            *(c == 'D' ? &o->device_depth : c == 'B' ? &o->submit_batch : &o->calibrate_ms) = (unsigned)x;
            break;
        case 'C': o->calibrate = true; break;
        case 'f': o->calibrate_file = optarg; break;
        case 'S': o->sandbox = false; break;
        case 'F': o->test_forbidden = true; break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    bool ok =
        o->image_dir && optind == argc &&
        (o->calibrate ? o->state_dir && !o->ndisks && !o->control : (o->ndisks || o->control) && !o->calibrate_file);
    if (!ok) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* --calibrate: measure, store, say what was found. */
static int calibrate(const struct options *o, int dirfd)
{
    int sfd = blk_state_open(o->state_dir);
    if (sfd < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    close(sfd);
    struct blk_capacity cap;
    if (blk_calibrate(dirfd, o->image_dir, o->calibrate_file, o->calibrate_ms, &cap) < 0 ||
        blk_capacity_store(o->state_dir, &cap) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    printf("iops=%llu bytes_per_sec=%llu ref_bytes=%u units_per_sec=%llu reservable=%llu\n",
           (unsigned long long)cap.iops, (unsigned long long)cap.bytes_per_sec, cap.ref_bytes,
           (unsigned long long)cap.units_per_sec, (unsigned long long)blk_capacity_reservable(&cap));
    return 0;
}

/* The state directory's capacity and stats page, before any disk. 0 or exit status 1. */
static int open_state(const struct options *o, struct blkback *bb, struct bb_stats_page **page)
{
    struct blk_capacity cap;
    int sfd = -1, rc = 0;
    if (o->state_dir) {
        if ((sfd = blk_state_open(o->state_dir)) < 0)
            rc = sfd;
        else if ((rc = blk_capacity_load(sfd, &cap)) == -ENOENT)
            log_info("no %s/%s: no reservation is admitted (run xeno-blkback --calibrate)", o->state_dir,
                     BLK_CALIBRATE_FILE);
    }
    bool have = o->state_dir && rc == 0;
    if (rc == -ENOENT)
        rc = 0;
    if (rc == 0)
        rc = blkback_set_device(bb, have ? &cap : NULL, o->device_depth);
    if (rc == 0 && sfd >= 0)
        rc = blk_state_map_stats(sfd, page);
    if (sfd >= 0)
        close(sfd);
    if (rc < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct options o = {.sandbox = true,
                               .calibrate_ms = 2000,
                               .poll_us = BLK_POLL_US_DEFAULT,
                               .submit_batch = BLK_SUBMIT_BATCH_DEFAULT};
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    log_init("xeno-blkback", o.verbose ? LOG_DEBUG : LOG_INFO);
    int dirfd = open(o.image_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        log_error("--image-dir %s: %s", o.image_dir, strerror(errno));
        return 1;
    }
    if (o.calibrate)
        return calibrate(&o, dirfd);
    static struct blkback bb;
    struct bb_stats_page *page = NULL;
    /* Each disk holds a few descriptors (its socket, kick and call eventfds per queue, guest
     * memory, its image's two), about 11 with 4 queues: 256 disks need more than the usual
     * soft limit of 1024, raised while the sandbox still allows it. */
    if (fd_limit_raise() < 0)
        log_warn("%s", err_msg());
    if (blkback_init(&bb, dirfd) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    if (open_state(&o, &bb, &page))
        return 1;
    bb.poll_ns = (uint64_t)o.poll_us * 1000u;
    bb.submit_batch = o.submit_batch;
    for (unsigned i = 0; i < o.ndisks; i++)
        if (blkback_disk_add(&bb, &o.disks[i]) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
    static struct line_server ctl;
    if (o.control && line_server_open(&ctl, o.control, blk_control_request, &bb) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (o.sandbox && blkback_sandbox_enter(dirfd) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    if (o.test_forbidden) {
        log_info("test: calling socket(AF_INET), which the sandbox forbids");
        socket(AF_INET, SOCK_STREAM, 0);
        log_error("test: the forbidden call returned: the sandbox is not in force");
        return 1;
    }
    log_info("serving %u disk(s) from %s%s%s%s", o.ndisks, o.image_dir, o.control ? ", control socket " : "",
             o.control ? o.control : "", o.sandbox ? "" : " (no sandbox)");
    serve(&bb, page, o.control ? &ctl : NULL);
    if (o.control)
        line_server_close(&ctl);
    log_info("stopping on signal %d", (int)stop_signal);
    log_stats(&bb);
    blkback_fini(&bb);
    return 0;
}
