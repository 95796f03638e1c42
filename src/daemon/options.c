#include "daemon/options.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/billing.h"
#include "daemon/fd_budget.h"
#include "daemon/fleet_member.h"
#include "lib/err.h"
#include "lib/parse.h"

void xenod_options_usage(FILE *f)
{
    fprintf(f,
            "usage: xenod [--state-dir DIR] [--socket PATH] [--vmm PATH] [--sample-interval TIME] [--verbose]\n"
            "             [--cpu-headroom PCT] [--cpus N] [--netback PATH] [--blkback PATH]\n"
            "             [--net-uplink TAP] [--net-uplink-capacity KIB] [--migrate-listen ADDR:PORT] [--migrate-key "
            "FILE]\n"
            "             [--save-dir DIR] [--web-dir DIR | --no-web] [--prices FILE]\n"
            "             [--ledger-interval TIME] [--max-domains N] [--list-routes]\n"
            "             [--fleet ETCD_URLS --host-name NAME --advertise URL [--fleet-ttl S]\n"
            "              [--fleet-token FILE] [--fleet-cacert FILE]\n"
            "              [--etcd-ca FILE] [--etcd-cert FILE --etcd-key FILE]]\n"
            "             [--net-audit [--net-audit-rules FILE] [--net-audit-key FILE] [--net-ipfix HOST:PORT]\n"
            "                          [--net-audit-flow-quota N]]\n"
            "\n"
            "  --state-dir DIR  domain store, run directories and console logs (default " XENOD_DEFAULT_STATE_DIR ")\n"
            "  --socket PATH    API socket, mode 0600 (default " XENOD_DEFAULT_SOCKET ")\n"
            "  --vmm PATH       the monitor to start per domain (default: xeno-vmm beside xenod)\n"
            "  --sample-interval TIME  how often running domains' counters are stored (default 10s)\n"
            "  --cpu-headroom PCT  share of each CPU never promised as a reservation (default 10%%,\n"
            "                   at least 5%%): reservations may add up to CPUs x (100%% - PCT)\n"
            "  --cpus N         CPUs admission control counts (default: those xenod may run on)\n"
            "  --netback PATH   the network backend, started with the first domain that has an\n"
            "                   <interface> (default: xeno-netback beside xenod; docs/netback.md)\n"
            "  --blkback PATH   the disk backend, started with the first domain that has a <disk>\n"
            "                   (default: xeno-blkback beside xenod; docs/blkback.md)\n"
            "  --net-uplink TAP the tap device the backend's switch uses as its uplink (default: none)\n"
            "  --net-uplink-capacity KIB  the uplink's rate in KiB/s, what floors and weights share\n"
            "  --net-audit      log every flow with its domain and sponsor (STATE/netback/flows.log) and\n"
            "                   apply the audit rules and detectors (docs/audit.md); events join the\n"
            "                   event stream as audit-KIND\n"
            "  --net-audit-rules FILE  the rules (docs/audit-rules.md); --net-audit-key FILE  seals the log\n"
            "  --net-ipfix HOST:PORT   export the flows by IPFIX to a collector\n"
            "  --net-audit-flow-quota N  flows one domain may hold in the backend's flow table\n"
            "                   (1..65536, default 8192: an eighth of it)\n"
            "  --migrate-listen ADDR:PORT  accept live migrations from other hosts there (needs --migrate-key)\n"
            "  --migrate-key FILE  the key hosts share (at least 16 bytes, mode 0600): required to\n"
            "                   accept migrations and to send domains away (docs/migration.md)\n"
            "  --save-dir DIR   where `save` may write snapshots (default STATE/snapshots): each monitor's\n"
            "                   sandbox lets it write there and nowhere else (docs/security.md)\n"
            "  --listen ADDR:PORT  serve the API over HTTPS there too, for tokens (docs/api.md)\n"
            "  --tls-cert FILE, --tls-key FILE  the PEM certificate and key of --listen\n"
            "  --image-dir DIR  sponsors' domains boot kernels and initrds from there only; domains'\n"
            "                   disk images are named relative to it (default /var/lib/xeno/images)\n"
            "  --prices FILE    the price list bills are made with (docs/billing.md); read again on\n"
            "                   SIGHUP or POST /v1/prices (an error keeps the list in force)\n"
            "  --ledger-interval TIME  how often running domains' usage goes into the ledger\n"
            "                   (STATE/ledger.db; 1s to 60s, default 60s) besides every domain end\n"
            "  --max-domains N  domains xenod holds at most (1..65536, default 1024, or fewer when the\n"
            "                   descriptor limit holds fewer); it needs 4 descriptors per domain plus\n"
            "                   320 (RLIMIT_NOFILE is checked at start)\n"
            "  --list-routes    print the API's route table (METHOD PATTERN, one a line) and exit; the\n"
            "                   parity test checks it against docs/openapi.yaml\n"
            "  --fleet ETCD_URLS  join the fleet kept in etcd (http(s)://HOST:PORT[,...]; docs/fleet.md): this\n"
            "                   host is registered under a lease with its capacity and reservations\n"
            "  --host-name NAME  this host's name in the fleet; --advertise URL  where placers reach this\n"
            "                   host's API (https://HOST:PORT of --listen, or unix:/PATH of --socket)\n"
            "  --fleet-ttl S    the lease's TTL in seconds (2..3600, default 10): a host silent that long\n"
            "                   is out of the fleet\n"
            "  --fleet-token FILE  the operator token other hosts accept (mode 0600), sent when POST\n"
            "                   /v1/fleet/domains starts a domain on a host advertised as https://;\n"
            "                   --fleet-cacert FILE  the CA that signed their certificates\n"
            "  --etcd-ca FILE   the CA that signed the etcd members' certificates (https:// endpoints);\n"
            "                   --etcd-cert FILE --etcd-key FILE  this host's client certificate for etcd\n"
            "  --web-dir DIR    the web console's files, served at / (default: " XENOD_DEFAULT_WEB_DIR "\n"
            "                   or the source tree's web/ beside the build; docs/web.md); --no-web: none\n");
}

static int parse_sample_interval(const char *text, double *out)
{
    uint64_t ms = 0;
    if (parse_duration_ms(text, 24 * 3600 * 1000, &ms) < 0)
        return err_wrap(EINVAL, "--sample-interval");
    if (ms < 100)
        return err_set(EINVAL, "--sample-interval %s: at least 100ms", text);
    *out = (double)ms / 1000.0;
    return 0;
}

static int parse_headroom(const char *text, uint32_t *out)
{
    uint64_t ppm;
    if (parse_percent_ppm(text, 900000, &ppm) < 0)
        return err_wrap(EINVAL, "--cpu-headroom");
    if (ppm < SCHED_HEADROOM_MIN_PPM)
        return err_set(EINVAL,
                       "--cpu-headroom: at least 5%% (the kernel keeps 5%% of each CPU from real-time threads)");
    *out = (uint32_t)ppm;
    return 0;
}

/* An option's file, made absolute: the backend runs in its own directory, monitors elsewhere. */
static int absolute(const char *opt, const char *path, char out[PATH_MAX])
{
    if (!realpath(path, out))
        return err_set(errno, "%s %s: %s", opt, path, strerror(errno));
    return 0;
}

/* One option (getopt's code c, its value arg); 1 after --help. */
static int parse_one(struct xenod_options *o, int c, const char *arg, const char *prev)
{
    uint64_t n;
    switch (c) {
    case 's': o->state_dir = arg; return 0;
    case 'S': o->socket = arg; return 0;
    case 'm': snprintf(o->vmm, sizeof(o->vmm), "%s", arg); return 0;
    case 'i': return parse_sample_interval(arg, &o->sample_interval_s);
    case 'H': o->have_cpu = 1; return parse_headroom(arg, &o->cpu.headroom_ppm);
    case 'C':
        if (parse_u64_range(arg, 1, 4096, &n) < 0)
            return err_wrap(EINVAL, "--cpus");
        o->cpus = (unsigned)n;
        o->have_cpu = 1;
        return 0;
    case 'N': snprintf(o->netback, sizeof(o->netback), "%s", arg); return 0;
    case 'B': snprintf(o->blkback, sizeof(o->blkback), "%s", arg); return 0;
    case 'U': o->uplink = arg; return 0;
    case 'L': o->migrate_listen = arg; return 0;
    case 'a': o->net_audit = 1; return 0;
    case 'R': return absolute("--net-audit-rules", arg, o->audit_rules);
    case 'Y': return absolute("--net-audit-key", arg, o->audit_key);
    case 'X': snprintf(o->ipfix, sizeof(o->ipfix), "%s", arg); return 0;
    case 'q':
        /* At most the backend's flow table (65536 flows), as xeno-netback checks too. */
        if (parse_u64_range(arg, 1, 65536, &n) < 0)
            return err_wrap(EINVAL, "--net-audit-flow-quota");
        o->audit_flow_quota = (uint32_t)n;
        return 0;
    case 'k': return absolute("--migrate-key", arg, o->migrate_key);
    case 'D': return absolute("--save-dir", arg, o->save_dir);
    case 'K':
        if (parse_u64_range(arg, 1, 1ULL << 40, &o->uplink_kib) < 0)
            return err_wrap(EINVAL, "--net-uplink-capacity");
        return 0;
    case 'l': o->listen = arg; return 0;
    case 'c': return absolute("--tls-cert", arg, o->tls_cert);
    case 'e': return absolute("--tls-key", arg, o->tls_key);
    case 'I': return absolute("--image-dir", arg, o->image_dir);
    case 'W': return absolute("--web-dir", arg, o->web_dir);
    case 'w': o->no_web = 1; return 0;
    case 'P': return absolute("--prices", arg, o->prices);
    case 'G':
        if (parse_duration_ms(arg, BILLING_POST_INTERVAL_S * 1000, &n) < 0 || n < 1000)
            return err_set(EINVAL, "--ledger-interval %s: from 1s to %ds", arg, BILLING_POST_INTERVAL_S);
        o->ledger_interval_s = (double)n / 1000.0;
        return 0;
    case 'M':
        if (parse_u64_range(arg, 1, XENOD_MAX_DOMAINS_LIMIT, &n) < 0)
            return err_set(EINVAL, "--max-domains %s: a number from 1 to %d", arg, XENOD_MAX_DOMAINS_LIMIT);
        o->max_domains = (unsigned)n;
        return 0;
    case 'F': o->fleet = arg; return 0;
    case 'n': o->host_name = arg; return 0;
    case 'A': o->advertise = arg; return 0;
    case 't':
        if (parse_u64_range(arg, 2, 3600, &n) < 0)
            return err_wrap(EINVAL, "--fleet-ttl (seconds, 2..3600)");
        o->fleet_ttl_s = (long)n;
        return 0;
    case 'o': return absolute("--fleet-token", arg, o->fleet_token);
    case 'r': return absolute("--fleet-cacert", arg, o->fleet_cacert);
    case 'j': return absolute("--etcd-ca", arg, o->etcd_ca);
    case 'y': return absolute("--etcd-cert", arg, o->etcd_cert);
    case 'z': return absolute("--etcd-key", arg, o->etcd_key);
    case 'v': o->verbose = 1; return 0;
    case 'T': o->list_routes = 1; return 0;
    case 'h': xenod_options_usage(stdout); return 1;
    default: return err_set(EINVAL, "unknown option or missing value '%s' (see --help)", prev);
    }
}

int xenod_options_parse(int argc, char **argv, struct xenod_options *o)
{
    static const struct option longopts[] = {{"state-dir", required_argument, NULL, 's'},
                                             {"socket", required_argument, NULL, 'S'},
                                             {"vmm", required_argument, NULL, 'm'},
                                             {"sample-interval", required_argument, NULL, 'i'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"cpu-headroom", required_argument, NULL, 'H'},
                                             {"cpus", required_argument, NULL, 'C'},
                                             {"netback", required_argument, NULL, 'N'},
                                             {"blkback", required_argument, NULL, 'B'},
                                             {"migrate-listen", required_argument, NULL, 'L'},
                                             {"net-audit", no_argument, NULL, 'a'},
                                             {"net-audit-rules", required_argument, NULL, 'R'},
                                             {"net-audit-key", required_argument, NULL, 'Y'},
                                             {"net-ipfix", required_argument, NULL, 'X'},
                                             {"net-audit-flow-quota", required_argument, NULL, 'q'},
                                             {"migrate-key", required_argument, NULL, 'k'},
                                             {"net-uplink", required_argument, NULL, 'U'},
                                             {"net-uplink-capacity", required_argument, NULL, 'K'},
                                             {"save-dir", required_argument, NULL, 'D'},
                                             {"listen", required_argument, NULL, 'l'},
                                             {"tls-cert", required_argument, NULL, 'c'},
                                             {"tls-key", required_argument, NULL, 'e'},
                                             {"image-dir", required_argument, NULL, 'I'},
                                             {"prices", required_argument, NULL, 'P'},
                                             {"ledger-interval", required_argument, NULL, 'G'},
                                             {"list-routes", no_argument, NULL, 'T'},
                                             {"max-domains", required_argument, NULL, 'M'},
                                             {"web-dir", required_argument, NULL, 'W'},
                                             {"no-web", no_argument, NULL, 'w'},
                                             {"fleet", required_argument, NULL, 'F'},
                                             {"host-name", required_argument, NULL, 'n'},
                                             {"advertise", required_argument, NULL, 'A'},
                                             {"fleet-ttl", required_argument, NULL, 't'},
                                             {"fleet-token", required_argument, NULL, 'o'},
                                             {"fleet-cacert", required_argument, NULL, 'r'},
                                             {"etcd-ca", required_argument, NULL, 'j'},
                                             {"etcd-cert", required_argument, NULL, 'y'},
                                             {"etcd-key", required_argument, NULL, 'z'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c, rc;
    memset(o, 0, sizeof(*o));
    o->state_dir = XENOD_DEFAULT_STATE_DIR;
    o->socket = XENOD_DEFAULT_SOCKET;
    o->sample_interval_s = 10;
    o->max_domains = 0; /* not given: main() takes the default, or what the descriptor limit holds */
    o->ledger_interval_s = BILLING_POST_INTERVAL_S;
    o->cpu.headroom_ppm = SCHED_HEADROOM_DEFAULT_PPM;
    o->fleet_ttl_s = FLEET_TTL_DEFAULT_S;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if ((rc = parse_one(o, c, optarg, argv[optind - 1])) != 0)
            return rc;
    if (optind < argc)
        return err_set(EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
    if (o->migrate_listen && !o->migrate_key[0])
        return err_set(EINVAL, "--migrate-listen needs --migrate-key FILE: hosts authenticate each other with it");
    if (!o->fleet != !o->host_name || !o->fleet != !o->advertise)
        return err_set(EINVAL, "--fleet, --host-name and --advertise go together");
    if (!o->fleet && (o->fleet_token[0] || o->fleet_cacert[0]))
        return err_set(EINVAL, "--fleet-token and --fleet-cacert go with --fleet");
    if (!o->fleet && (o->etcd_ca[0] || o->etcd_cert[0] || o->etcd_key[0]))
        return err_set(EINVAL, "--etcd-ca, --etcd-cert and --etcd-key go with --fleet");
    if (!o->etcd_cert[0] != !o->etcd_key[0])
        return err_set(EINVAL, "--etcd-cert and --etcd-key go together");
    if (o->no_web && o->web_dir[0])
        return err_set(EINVAL, "--web-dir and --no-web: give one");
    if (o->listen && (!o->tls_cert[0] || !o->tls_key[0]))
        return err_set(EINVAL,
                       "--listen needs --tls-cert FILE and --tls-key FILE: the API goes over TCP with TLS only");
    if ((o->audit_rules[0] || o->audit_key[0] || o->ipfix[0] || o->audit_flow_quota) && !o->net_audit)
        return err_set(EINVAL,
                       "--net-audit-rules, --net-audit-key, --net-ipfix and --net-audit-flow-quota need --net-audit");
    if (o->have_cpu) {
        cpu_set_t set;
        o->cpu.cpus = o->cpus ? o->cpus : sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
    }
    return 0;
}

/* The web console's directory when --web-dir is not given: the installed one, else the
 * source tree's web/ when xenod runs from its build (build/bin or build/san/bin); the first
 * that holds index.html. None: "" (xenod serves no page and says so). */
static void default_web_dir(char out[PATH_MAX])
{
    char self[PATH_MAX], cand[PATH_MAX + 32], idx[PATH_MAX + 48];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *bin = n > 0 ? (self[n] = 0, dirname(self)) : NULL;
    const char *up[] = {"/../../web", "/../../../web"};
    out[0] = 0;
    for (int i = -1; i < 2 && !out[0]; i++) {
        if (i < 0)
            snprintf(cand, sizeof(cand), "%s", XENOD_DEFAULT_WEB_DIR);
        else if (bin)
            snprintf(cand, sizeof(cand), "%s%s", bin, up[i]);
        else
            break;
        snprintf(idx, sizeof(idx), "%s/index.html", cand);
        if (access(idx, R_OK) == 0 && !realpath(cand, out))
            out[0] = 0;
    }
}

int xenod_options_resolve(struct xenod_options *o)
{
    if (!o->web_dir[0] && !o->no_web)
        default_web_dir(o->web_dir);
    if (!o->vmm[0]) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
            return err_set(errno, "cannot find myself: %s; give --vmm PATH", strerror(errno));
        self[n] = 0;
        snprintf(o->vmm, sizeof(o->vmm), "%s/xeno-vmm", dirname(self));
    }
    if (!o->netback[0]) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", o->vmm);
        snprintf(o->netback, sizeof(o->netback), "%s/xeno-netback", dirname(dir));
    }
    if (!o->blkback[0]) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", o->vmm);
        snprintf(o->blkback, sizeof(o->blkback), "%s/xeno-blkback", dirname(dir));
    }
    if (access(o->vmm, X_OK) < 0)
        return err_set(errno, "monitor %s: %s (give --vmm PATH)", o->vmm, strerror(errno));
    if (realpath(o->state_dir, o->abs_state_dir))
        return 0;
    if (errno != ENOENT)
        return err_set(errno, "state directory %s: %s", o->state_dir, strerror(errno));
    if (o->state_dir[0] == '/') {
        snprintf(o->abs_state_dir, sizeof(o->abs_state_dir), "%s", o->state_dir);
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return err_set(errno, "getcwd: %s", strerror(errno));
    snprintf(o->abs_state_dir, sizeof(o->abs_state_dir), "%.2000s/%.2000s", cwd, o->state_dir);
    return 0;
}
