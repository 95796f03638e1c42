/* xeno-netback: the host's network backend (docs/netback.md). One process serves every
 * domain's virtio-net device over vhost-user, connecting to each monitor's socket, and
 * switches their frames (and the tap uplink's) through src/net/switch.h and qos.h. */
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/stats_page.h" /* STATS_PAGE_ASK_SIGNAL */
#include "net/audit_events.h"
#include "net/control.h"
#include "net/netback.h"
#include "net/options.h"
#include "net/sandbox.h"
#include "net/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stats_asked; /* xenod asked for a fresh stats page */

static void on_ask(int sig)
{
    (void)sig;
    stats_asked = 1;
}

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Opens the tap (needs CAP_NET_ADMIN: before the sandbox). */
static int open_tap(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "uplink tap %s: /dev/net/tun: %s", name, strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) {
        close(fd);
        return err_set(EINVAL, "uplink tap %s: a name of at most %d characters", name, IFNAMSIZ - 1);
    }
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "uplink tap %s: TUNSETIFF: %s", name, strerror(e));
    }
    return fd;
}

/* Creates the audit engine (flow log, key, IPFIX socket, rules) and its event file before
 * the sandbox closes the file system and the socket calls. */
static int audit_start(struct netback *nb, int dirfd, const struct nb_options *o, struct nb_audit_events *events)
{
    const char *log_path = o->audit_log, *key_path = o->audit_key, *rules_path = o->audit_rules, *ipfix = o->ipfix;
    int rc = audit_events_open(events, dirfd, 0);
    if (rc < 0)
        return rc;
    struct audit_config cfg = {.max_ports = NET_SWITCH_MAX_PORTS,
                               .flow_quota = o->audit_flow_quota,
                               .log_path = log_path ? log_path : "flows.log",
                               .key_path = key_path,
                               .ipfix_collector = ipfix,
                               .event_fn = audit_events_append,
                               .event_opaque = events};
    struct audit *a;
    rc = audit_create(&cfg, &a);
    if (rc < 0)
        return rc;
    if (rules_path && (rc = audit_load_rules(a, rules_path)) < 0) {
        err_wrap(-rc, "--audit-rules");
        audit_destroy(a, 0);
        return rc;
    }
    rc = netback_audit_attach(nb, a, rules_path);
    if (rc < 0) {
        audit_destroy(a, 0);
        return rc;
    }
    log_info("audit on: flow log %s%s%s%s%s", cfg.log_path, rules_path ? ", rules " : "", rules_path ? rules_path : "",
             ipfix ? ", IPFIX to " : "", ipfix ? ipfix : "");
    return 0;
}

/* SIGTERM and SIGINT stop the loop; they are blocked except inside ppoll (wait_mask), so a
 * stop request never races the check. */
static void stop_on_signals(sigset_t *wait_mask)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction ask = {.sa_handler = on_ask};
    sigemptyset(&ask.sa_mask);
    sigaction(STATS_PAGE_ASK_SIGNAL, &ask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, STATS_PAGE_ASK_SIGNAL);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, STATS_PAGE_ASK_SIGNAL);
}

/* The stats page (state_dir.h) is written when its counters may have changed, at most every
 * STATS_MIN_GAP_NS while frames flow (so it is never older than that while anything
 * changes), and at once when xenod asks with STATS_PAGE_ASK_SIGNAL (its watchdog: the
 * heartbeat moves only when written). Idle and unasked, the backend makes no system call. */
#define STATS_MIN_GAP_NS 100000000ull

/* Moves frames and answers the control socket until a stop signal. */
static void serve(struct netback *nb, struct nb_control *ctl, int dirfd, struct nb_stats_page *stats,
                  const sigset_t *wait_mask)
{
    static struct pollfd fds[2 + 1 + 3 * NET_SWITCH_MAX_PORTS];
    uint64_t next_ns = 0, stats_due = 1 /* 0: the page is current */, stats_at = 0;
    unsigned moved = 0;
    while (!stop_signal) {
        unsigned nc = nb_control_poll_fds(ctl, fds, 2);
        unsigned nn = netback_poll_fds(nb, fds + nc, sizeof(fds) / sizeof(fds[0]) - nc);
        uint64_t now = nb_now_ns(), until = moved ? now : next_ns, pump_at = next_ns;
        if (stats_due && stats_due < until)
            until = stats_due;
        uint64_t wait = until > now ? until - now : 0;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
        int r = ppoll(fds, nc + nn, until == UINT64_MAX ? NULL : &ts, wait_mask);
        if (r < 0 && errno != EINTR) {
            log_error("ppoll: %s", strerror(errno));
            break;
        }
        if (r > 0) {
            netback_handle(nb, fds + nc, nn);
            nb_control_handle(ctl, fds, nc);
        }
        unsigned was_moving = moved;
        moved = netback_pump(nb, &next_ns);
        if (nb->ports_dirty && state_dir_save_ports(dirfd, nb) < 0)
            log_error("%s", err_msg());
        now = nb_now_ns();
        /* A descriptor, a deadline of the datapath or frames moved: counters may differ. A
         * bare signal or the stats deadline alone changes none. */
        if ((r > 0 || moved || was_moving || (r == 0 && now >= pump_at)) && !stats_due)
            stats_due = stats_at + STATS_MIN_GAP_NS > now ? stats_at + STATS_MIN_GAP_NS : now;
        if (stats_asked || (stats_due && now >= stats_due)) {
            stats_asked = 0;
            state_dir_update_stats(stats, nb);
            stats_at = now;
            stats_due = 0;
        }
    }
}

int main(int argc, char **argv)
{
    struct nb_options o;
    int rc = nb_options_parse(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0 && err_msg()[0])
            fprintf(stderr, "xeno-netback: %s\n", err_msg());
        else if (rc < 0)
            nb_options_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    nb_test_crash_point = o.crash_point;
    nb_test_crash_after = o.crash_after;
    const char *state_dir = o.state_dir, *tap_name = o.tap_name;
    log_init("xeno-netback", o.verbose ? LOG_DEBUG : LOG_INFO);

    static struct netback nb; /* large (frame buffers): not on the stack */
    static struct nb_control ctl;
    struct nb_stats_page *stats = NULL;
    int dirfd = state_dir_open(state_dir);
    if (dirfd < 0 || fchdir(dirfd) < 0) {
        log_error("%s", dirfd < 0 ? err_msg() : strerror(errno));
        return 1;
    }
    if (netback_init(&nb, o.uplink_kib) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    if (tap_name) {
        int tap = open_tap(tap_name);
        if (tap < 0 || netback_set_uplink(&nb, tap) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
    }
    if (state_dir_map_stats(dirfd, &stats) < 0 || nb_control_open(&ctl, &nb) < 0 ||
        state_dir_load_ports(dirfd, &nb) < 0) {
        log_error("%s", err_msg());
        return 1;
    }

    static struct nb_audit_events events = {.fd = -1};
    int rules_dirfd = -1;
    if (o.audit_on) {
        if (audit_start(&nb, dirfd, &o, &events) < 0) {
            log_error("audit: %s", err_msg());
            return 1;
        }
        if (o.audit_rules) {
            char *copy = strdup(o.audit_rules);
            rules_dirfd = copy ? open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
            free(copy);
            if (rules_dirfd < 0)
                log_warn("audit: the rules file's directory: %s; audit-rules will not be able to reload it",
                         strerror(errno));
        }
    }

    sigset_t wait_mask;
    stop_on_signals(&wait_mask);

    if (netback_sandbox_enter(dirfd, rules_dirfd) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    if (rules_dirfd >= 0)
        close(rules_dirfd); /* the Landlock rule holds the directory now */
    if (o.test_forbidden) {
        /* For tests of the filter: a TCP socket is not on the allow-list; this must kill us. */
        log_info("test: calling socket(AF_INET), which the sandbox forbids");
        socket(AF_INET, SOCK_STREAM, 0);
        log_error("test: the forbidden call returned: the sandbox is not in force");
        return 1;
    }
    if (state_dir_write_pid(dirfd) < 0)
        log_warn("%s", err_msg());
    log_info("serving (state directory %s, uplink %s)", state_dir, tap_name ? tap_name : "none");

    serve(&nb, &ctl, dirfd, stats, &wait_mask);
    log_info("stopping on signal %d", (int)stop_signal);
    /* Every flow ends and the log's last block is written and sealed before anything else goes. */
    netback_audit_detach(&nb);
    audit_events_close(&events);
    nb_options_free(&o);
    unlinkat(dirfd, "pid", 0);
    nb_control_close(&ctl);
    unlinkat(dirfd, "control.sock", 0);
    netback_fini(&nb);
    return 0;
}
