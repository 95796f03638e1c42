/* xenod: the host daemon. Keeps the domain registry, supervises one xeno-vmm per running
 * domain, and serves the API (docs/api.md) that xenctl and the web page use. Runs in the
 * foreground, logs to stderr. Stopping xenod does not stop domains: a new xenod re-attaches. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/api.h"
#include "daemon/log_ring.h"
#include "daemon/migrate_host.h"
#include "daemon/registry.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

#define DEFAULT_STATE_DIR "/var/lib/xeno"
#define DEFAULT_SOCKET "/run/xenod.sock"

static void usage(FILE *f)
{
    fprintf(f, "usage: xenod [--state-dir DIR] [--socket PATH] [--vmm PATH] [--sample-interval TIME] [--verbose]\n"
               "             [--cpu-headroom PCT] [--cpus N] [--netback PATH] [--net-uplink TAP]\n"
               "             [--net-uplink-capacity KIB] [--migrate-listen ADDR:PORT] [--migrate-key FILE]\n"
               "             [--net-audit [--net-audit-rules FILE] [--net-audit-key FILE] [--net-ipfix HOST:PORT]]\n"
               "\n"
               "  --state-dir DIR  domain store, run directories and console logs (default " DEFAULT_STATE_DIR ")\n"
               "  --socket PATH    API socket, mode 0600 (default " DEFAULT_SOCKET ")\n"
               "  --vmm PATH       the monitor to start per domain (default: xeno-vmm beside xenod)\n"
               "  --sample-interval TIME  how often running domains' counters are stored (default 10s)\n"
               "  --cpu-headroom PCT  share of each CPU never promised as a reservation (default 10%%,\n"
               "                   at least 5%%): reservations may add up to CPUs x (100%% - PCT)\n"
               "  --cpus N         CPUs admission control counts (default: those xenod may run on)\n"
               "  --netback PATH   the network backend, started with the first domain that has an\n"
               "                   <interface> (default: xeno-netback beside xenod; docs/netback.md)\n"
               "  --net-uplink TAP the tap device the backend's switch uses as its uplink (default: none)\n"
               "  --net-uplink-capacity KIB  the uplink's rate in KiB/s, what floors and weights share\n"
               "  --net-audit      log every flow with its domain and sponsor (STATE/netback/flows.log) and\n"
               "                   apply the audit rules and detectors (docs/audit.md); events join the\n"
               "                   event stream as audit-KIND\n"
               "  --net-audit-rules FILE  the rules (docs/audit-rules.md); --net-audit-key FILE  seals the log\n"
               "  --net-ipfix HOST:PORT   export the flows by IPFIX to a collector\n"
               "  --migrate-listen ADDR:PORT  accept live migrations from other hosts there (needs --migrate-key)\n"
               "  --migrate-key FILE  the key hosts share (at least 16 bytes, mode 0600): required to\n"
               "                   accept migrations and to send domains away (docs/migration.md)\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"state-dir", required_argument, NULL, 's'},
                                             {"socket", required_argument, NULL, 'S'},
                                             {"vmm", required_argument, NULL, 'm'},
                                             {"sample-interval", required_argument, NULL, 'i'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"cpu-headroom", required_argument, NULL, 'H'},
                                             {"cpus", required_argument, NULL, 'C'},
                                             {"netback", required_argument, NULL, 'N'},
                                             {"migrate-listen", required_argument, NULL, 'L'},
                                             {"net-audit", no_argument, NULL, 'a'},
                                             {"net-audit-rules", required_argument, NULL, 'R'},
                                             {"net-audit-key", required_argument, NULL, 'Y'},
                                             {"net-ipfix", required_argument, NULL, 'X'},
                                             {"migrate-key", required_argument, NULL, 'k'},
                                             {"net-uplink", required_argument, NULL, 'U'},
                                             {"net-uplink-capacity", required_argument, NULL, 'K'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *state_dir = DEFAULT_STATE_DIR, *sock = DEFAULT_SOCKET;
    double sample_interval_s = 10;
    char vmm[PATH_MAX] = "", self[PATH_MAX], abs_state[PATH_MAX], netback[PATH_MAX] = "";
    const char *uplink = NULL, *migrate_listen = NULL;
    char migrate_key[PATH_MAX] = "";
    struct migrate_host *migrate = NULL;
    int net_audit = 0;
    char audit_rules[PATH_MAX] = "", audit_key[PATH_MAX] = "", ipfix[128] = "";
    uint64_t uplink_kib = 0;
    int c, headroom_given = 0;
    unsigned cpus = 0;
    struct sched_host cpu = {0, SCHED_HEADROOM_DEFAULT_PPM};

    log_init("xenod", LOG_INFO);
    log_ring_install();
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': state_dir = optarg; break;
        case 'S': sock = optarg; break;
        case 'm': snprintf(vmm, sizeof(vmm), "%s", optarg); break;
        case 'i': {
            uint64_t ms = 0;
            if (parse_duration_ms(optarg, 24 * 3600 * 1000, &ms) < 0) {
                log_error("--sample-interval: %s", err_msg());
                return 2;
            }
            if (ms < 100) {
                log_error("--sample-interval %s: at least 100ms", optarg);
                return 2;
            }
            sample_interval_s = (double)ms / 1000.0;
            break;
        }
        case 'H': {
            uint64_t ppm = SCHED_HEADROOM_MIN_PPM; /* parse failures leave it: the message is err_msg()'s */
            if (parse_percent_ppm(optarg, 900000, &ppm) < 0 || ppm < SCHED_HEADROOM_MIN_PPM) {
                log_error("--cpu-headroom: %s", ppm < SCHED_HEADROOM_MIN_PPM ? "at least 5% (the kernel keeps 5% of "
                                                                               "each CPU from real-time threads)"
                                                                             : err_msg());
                return 2;
            }
            cpu.headroom_ppm = (uint32_t)ppm;
            headroom_given = 1;
            break;
        }
        case 'C': {
            uint64_t n;
            if (parse_u64_range(optarg, 1, 4096, &n) < 0) {
                log_error("--cpus: %s", err_msg());
                return 2;
            }
            cpus = (unsigned)n;
            break;
        }
        case 'N': snprintf(netback, sizeof(netback), "%s", optarg); break;
        case 'U': uplink = optarg; break;
        case 'L': migrate_listen = optarg; break;
        case 'a': net_audit = 1; break;
        case 'R':
        case 'Y':
            /* The backend runs in its own directory: it gets absolute paths. */
            if (!realpath(optarg, c == 'R' ? audit_rules : audit_key)) {
                log_error("--net-audit-%s %s: %s", c == 'R' ? "rules" : "key", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'X': snprintf(ipfix, sizeof(ipfix), "%s", optarg); break;
        case 'k':
            if (!realpath(optarg, migrate_key)) {
                log_error("--migrate-key %s: %s", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'K':
            if (parse_u64_range(optarg, 1, 1ULL << 40, &uplink_kib) < 0) {
                log_error("--net-uplink-capacity: %s", err_msg());
                return 2;
            }
            break;
        case 'v': log_init("xenod", LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        default: log_error("unknown option or missing value '%s' (see --help)", argv[optind - 1]); return 2;
        }
    }
    if (optind < argc) {
        log_error("unexpected argument '%s' (see --help)", argv[optind]);
        return 2;
    }
    if (!vmm[0]) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0) {
            log_error("cannot find myself: %s; give --vmm PATH", strerror(errno));
            return 1;
        }
        self[n] = 0;
        snprintf(vmm, sizeof(vmm), "%s/xeno-vmm", dirname(self));
    }
    if (!netback[0]) {
        /* Beside the monitor (dirname() may have cut `self` already: use vmm's directory). */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", vmm);
        snprintf(netback, sizeof(netback), "%s/xeno-netback", dirname(dir));
    }
    if (access(vmm, X_OK) < 0) {
        log_error("monitor %s: %s (give --vmm PATH)", vmm, strerror(errno));
        return 1;
    }
    /* Monitors get absolute paths: they outlive us and do not share our working directory. */
    if (!realpath(state_dir, abs_state)) {
        if (errno != ENOENT || snprintf(abs_state, sizeof(abs_state), "%s", state_dir) < 0)
            return 1;
        if (state_dir[0] != '/') {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd)))
                return 1;
            snprintf(abs_state, sizeof(abs_state), "%.2000s/%.2000s", cwd, state_dir);
        }
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct registry reg;
    struct api_server *api;
    if (cpus || headroom_given) {
        cpu_set_t set;
        cpu.cpus = cpus ? cpus : sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
    }
    if (reg_open(&reg, abs_state, vmm, sample_interval_s, cpus || headroom_given ? &cpu : NULL) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    snprintf(reg.migrate_key, sizeof(reg.migrate_key), "%s", migrate_key);
    if (migrate_listen && !migrate_key[0]) {
        log_error("--migrate-listen needs --migrate-key FILE: hosts authenticate each other with it");
        reg_close(&reg);
        return 2;
    }
    if (migrate_listen && migrate_host_listen(&migrate, &reg, migrate_listen, migrate_key) < 0) {
        log_error("--migrate-listen %s: %s", migrate_listen, err_msg());
        reg_close(&reg);
        return 1;
    }
    if ((audit_rules[0] || audit_key[0] || ipfix[0]) && !net_audit) {
        log_error("--net-audit-rules, --net-audit-key and --net-ipfix need --net-audit");
        reg_close(&reg);
        return 2;
    }
    reg.net_audit = net_audit;
    snprintf(reg.net_audit_rules, sizeof(reg.net_audit_rules), "%s", audit_rules);
    snprintf(reg.net_audit_key, sizeof(reg.net_audit_key), "%s", audit_key);
    snprintf(reg.net_ipfix, sizeof(reg.net_ipfix), "%s", ipfix);
    if (reg_set_network(&reg, netback, uplink, uplink_kib) < 0)
        log_error("network backend: %s (domains with an interface will try again)", err_msg());
    if (api_start(&api, &reg, sock) < 0) {
        log_error("%s", err_msg());
        reg_close(&reg);
        return 1;
    }
    log_info("serving %s; state in %s; monitor %s", sock, abs_state, vmm);

    int sig;
    sigwait(&sigs, &sig);
    log_info("stopping on %s; domains keep running", strsignal(sig));
    api_stop(api);
    migrate_host_close(migrate);
    reg_close(&reg);
    return 0;
}
