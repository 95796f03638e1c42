#include "net/options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/parse.h"
#include "net/qos.h"

void nb_options_usage(FILE *f)
{
    fprintf(f, "usage: xeno-netback --state-dir DIR [--uplink-tap NAME] [--uplink-capacity KIB]\n"
               "                    [--audit] [--audit-log FILE] [--audit-key FILE] [--audit-rules FILE]\n"
               "                    [--audit-flow-quota N] [--ipfix HOST:PORT]\n"
               "                    [--verbose] [--test-forbidden-syscall] [--test-crash-at P:N]\n"
               "Serves the virtio-net devices of the domains on this host over vhost-user (docs/netback.md).\n");
}

void nb_options_free(struct nb_options *o)
{
    free(o->audit_log);
    free(o->audit_key);
    free(o->audit_rules);
    o->audit_log = o->audit_key = o->audit_rules = NULL;
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

/* --audit-log, --audit-key, --audit-rules (getopt codes L, k, r). */
static int audit_path(struct nb_options *o, int c, const char *arg)
{
    const char *name = c == 'L' ? "--audit-log" : c == 'k' ? "--audit-key" : "--audit-rules";
    char *path = absolute_path(name, arg, c == 'L');
    if (!path)
        return -EINVAL;
    char **slot = c == 'L' ? &o->audit_log : c == 'k' ? &o->audit_key : &o->audit_rules;
    free(*slot);
    *slot = path;
    o->audit_on = true;
    return 0;
}

/* P:N: behave as if killed the Nth time kill point P (1-5) is reached. */
static int crash_at(struct nb_options *o, const char *arg)
{
    unsigned pt;
    unsigned long long after;
    if (sscanf(arg, "%u:%llu", &pt, &after) != 2 || pt < 1 || pt > 5 || after < 1)
        return err_set(EINVAL, "--test-crash-at %s: POINT:N, POINT 1 to 5, N at least 1", arg);
    o->crash_point = pt;
    o->crash_after = after;
    return 0;
}

int nb_options_parse(int argc, char **argv, struct nb_options *o)
{
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
        {"audit-flow-quota", required_argument, NULL, 'Q'},
        {"ipfix", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c, rc = 0;
    memset(o, 0, sizeof(*o));
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->state_dir = optarg; break;
        case 't': o->tap_name = optarg; break;
        case 'c':
            if (parse_u64_range(optarg, 0, NET_QOS_MAX_RATE_KIB, &o->uplink_kib) < 0)
                rc = err_wrap(EINVAL, "--uplink-capacity %s", optarg);
            break;
        case 'v': o->verbose = true; break;
        case 'A': o->audit_on = true; break;
        case 'L':
        case 'k':
        case 'r': rc = audit_path(o, c, optarg); break;
        case 'Q': {
            /* At most the engine's table (65536 flows in xeno-netback). */
            uint64_t q = 0;
            if (parse_u64_range(optarg, 1, 65536, &q) < 0)
                rc = err_wrap(EINVAL, "--audit-flow-quota %s", optarg);
            o->audit_flow_quota = (uint32_t)q;
            o->audit_on = true;
            break;
        }
        case 'x':
            o->ipfix = optarg;
            o->audit_on = true;
            break;
        case 'F': o->test_forbidden = true; break;
        case 'K': rc = crash_at(o, optarg); break;
        case 'h': nb_options_usage(stdout); return 1;
        default: return err_set(EINVAL, "%s", "");
        }
    }
    if (rc == 0 && (!o->state_dir || optind != argc))
        rc = err_set(EINVAL, "%s", "");
    if (rc < 0)
        nb_options_free(o);
    return rc;
}
