/* xeno-netback: the host's network backend (docs/netback.md). One process serves every
 * domain's virtio-net device over vhost-user, connecting to each monitor's socket, and
 * switches their frames (and the tap uplink's) through src/net/switch.h and qos.h. */
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "net/audit_events.h"
#include "net/control.h"
#include "net/netback.h"
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

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xeno-netback --state-dir DIR [--uplink-tap NAME] [--uplink-capacity KIB]\n"
               "                    [--audit] [--audit-log FILE] [--audit-key FILE] [--audit-rules FILE]\n"
               "                    [--ipfix HOST:PORT]\n"
               "                    [--verbose] [--test-forbidden-syscall] [--test-crash-at P:N]\n"
               "Serves the virtio-net devices of the domains on this host over vhost-user (docs/netback.md).\n");
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

/* An option's path made absolute before the process moves into the state directory. The
 * file must exist unless may_be_new. Returns a malloc'd path or NULL with a message. */
static char *absolute_path(const char *opt, const char *path, bool may_be_new)
{
    char *r = realpath(path, NULL);
    if (r)
        return r;
    int e = errno;
    if (!may_be_new || e != ENOENT) {
        err_set(e, "%s %s: %s", opt, path, strerror(e));
        return NULL;
    }
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) {
        err_set(errno, "%s %s: getcwd: %s", opt, path, strerror(errno));
        return NULL;
    }
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    r = malloc(n);
    if (!r) {
        err_set(ENOMEM, "%s %s: out of memory", opt, path);
        return NULL;
    }
    snprintf(r, n, "%s/%s", cwd, path);
    return r;
}

/* Creates the audit engine (flow log, key, IPFIX socket, rules) and its event file before
 * the sandbox closes the file system and the socket calls. */
static int audit_start(struct netback *nb, int dirfd, const char *log_path, const char *key_path,
                       const char *rules_path, const char *ipfix, struct nb_audit_events *events)
{
    int rc = audit_events_open(events, dirfd, 0);
    if (rc < 0)
        return rc;
    struct audit_config cfg = {.max_ports = NET_SWITCH_MAX_PORTS,
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
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        audit_destroy(a, 0);
        return err_set(-rc, "--audit-rules: %s", msg);
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

int main(int argc, char **argv)
{
    const char *state_dir = NULL, *tap_name = NULL;
    uint64_t uplink_kib = 0;
    bool verbose = false, test_forbidden = false, audit_on = false;
    char *audit_log = NULL, *audit_key = NULL, *audit_rules = NULL;
    const char *ipfix = NULL;
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"uplink-tap", required_argument, NULL, 't'},
        {"uplink-capacity", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"test-forbidden-syscall", no_argument, NULL, 'F'},
        {"test-crash-at", required_argument, NULL, 'K'},
        {"audit", no_argument, NULL, 'A'},
        {"audit-log", required_argument, NULL, 'L'},
        {"audit-key", required_argument, NULL, 'k'},
        {"audit-rules", required_argument, NULL, 'r'},
        {"ipfix", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd': state_dir = optarg; break;
        case 't': tap_name = optarg; break;
        case 'c':
            if (parse_u64_range(optarg, 0, NET_QOS_MAX_RATE_KIB, &uplink_kib) < 0) {
                fprintf(stderr, "xeno-netback: --uplink-capacity %s: %s\n", optarg, err_msg());
                return 2;
            }
            break;
        case 'v': verbose = true; break;
        case 'A': audit_on = true; break;
        case 'L':
        case 'k':
        case 'r': {
            /* Made absolute now: the process moves into the state directory. */
            const char *name = o == 'L' ? "--audit-log" : o == 'k' ? "--audit-key" : "--audit-rules";
            char *path = absolute_path(name, optarg, o == 'L');
            if (!path) {
                fprintf(stderr, "xeno-netback: %s\n", err_msg());
                return 2;
            }
            char **slot = o == 'L' ? &audit_log : o == 'k' ? &audit_key : &audit_rules;
            free(*slot);
            *slot = path;
            audit_on = true;
            break;
        }
        case 'x':
            ipfix = optarg;
            audit_on = true;
            break;
        case 'F': test_forbidden = true; break;
        case 'K': {
            /* P:N: behave as if killed the Nth time kill point P (1-5) is reached. */
            unsigned pt;
            unsigned long long after;
            if (sscanf(optarg, "%u:%llu", &pt, &after) != 2 || pt < 1 || pt > 5 || after < 1) {
                fprintf(stderr, "xeno-netback: --test-crash-at %s: POINT:N, POINT 1 to 5, N at least 1\n", optarg);
                return 2;
            }
            nb_test_crash_point = pt;
            nb_test_crash_after = after;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!state_dir || optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init("xeno-netback", verbose ? LOG_DEBUG : LOG_INFO);

    static struct netback nb; /* large (frame buffers): not on the stack */
    static struct nb_control ctl;
    struct nb_stats_page *stats = NULL;
    int dirfd = state_dir_open(state_dir);
    if (dirfd < 0 || fchdir(dirfd) < 0) {
        log_error("%s", dirfd < 0 ? err_msg() : strerror(errno));
        return 1;
    }
    if (netback_init(&nb, uplink_kib) < 0) {
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
    if (audit_on) {
        if (audit_start(&nb, dirfd, audit_log, audit_key, audit_rules, ipfix, &events) < 0) {
            log_error("audit: %s", err_msg());
            return 1;
        }
        if (audit_rules) {
            char *copy = strdup(audit_rules);
            rules_dirfd = copy ? open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
            free(copy);
            if (rules_dirfd < 0)
                log_warn("audit: the rules file's directory: %s; audit-rules will not be able to reload it",
                         strerror(errno));
        }
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Signals are blocked except inside ppoll, so a stop request never races the check. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);

    if (netback_sandbox_enter(dirfd, rules_dirfd) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    if (rules_dirfd >= 0)
        close(rules_dirfd); /* the Landlock rule holds the directory now */
    if (test_forbidden) {
        /* For tests of the filter: a TCP socket is not on the allow-list; this must kill us. */
        log_info("test: calling socket(AF_INET), which the sandbox forbids");
        socket(AF_INET, SOCK_STREAM, 0);
        log_error("test: the forbidden call returned: the sandbox is not in force");
        return 1;
    }
    if (state_dir_write_pid(dirfd) < 0)
        log_warn("%s", err_msg());
    log_info("serving (state directory %s, uplink %s)", state_dir, tap_name ? tap_name : "none");

    static struct pollfd fds[2 + 1 + 3 * NET_SWITCH_MAX_PORTS];
    uint64_t next_ns = 0, next_stats = 0;
    unsigned moved = 0;
    while (!stop_signal) {
        unsigned nc = nb_control_poll_fds(&ctl, fds, 2);
        unsigned nn = netback_poll_fds(&nb, fds + nc, sizeof(fds) / sizeof(fds[0]) - nc);
        uint64_t now = nb_now_ns();
        uint64_t wait = moved ? 0 : next_ns > now ? next_ns - now : 0;
        if (next_stats > now && wait > next_stats - now)
            wait = next_stats - now;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
        int r = ppoll(fds, nc + nn, &ts, &wait_mask);
        if (r < 0 && errno != EINTR) {
            log_error("ppoll: %s", strerror(errno));
            break;
        }
        if (r > 0) {
            netback_handle(&nb, fds + nc, nn);
            nb_control_handle(&ctl, fds, nc);
        }
        moved = netback_pump(&nb, &next_ns);
        if (nb.ports_dirty && state_dir_save_ports(dirfd, &nb) < 0)
            log_error("%s", err_msg());
        now = nb_now_ns();
        if (now >= next_stats) {
            state_dir_update_stats(stats, &nb);
            next_stats = now + 100000000ull;
        }
    }
    log_info("stopping on signal %d", (int)stop_signal);
    /* Every flow ends and the log's last block is written and sealed before anything else goes. */
    netback_audit_detach(&nb);
    audit_events_close(&events);
    free(audit_log);
    free(audit_key);
    free(audit_rules);
    unlinkat(dirfd, "pid", 0);
    nb_control_close(&ctl);
    unlinkat(dirfd, "control.sock", 0);
    netback_fini(&nb);
    return 0;
}
