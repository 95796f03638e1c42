/* xenod: the host daemon. Keeps the domain registry, supervises one xeno-vmm per running
 * domain, and serves the API (docs/api.md) that xenctl and the web page use. Runs in the
 * foreground, logs to stderr. Stopping xenod does not stop domains: a new xenod re-attaches. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "daemon/api.h"
#include "daemon/billing.h"
#include "daemon/cpu_contract.h"
#include "daemon/fd_budget.h"
#include "daemon/fleet_gate.h"
#include "daemon/fleet_member.h"
#include "daemon/log_ring.h"
#include "daemon/migrate_host.h"
#include "daemon/options.h"
#include "daemon/registry.h"
#include "daemon/start_cache.h"
#include "lib/err.h"
#include "lib/fd_limit.h"
#include "lib/image_name.h" /* IMAGE_DIR_DEFAULT */
#include "lib/log.h"

/* Opens the registry and what serves it (migrations in, the network backend, the API). */
/* Opened by the fleet membership thread, read by the API (fleet_gate.h). */
static struct fleet_gate fleet_gate;

/* --etcd-ca/cert/key as the etcd client takes them: pointers into main()'s options. */
static struct etcd_tls etcd_tls_of(const struct xenod_options *o)
{
    return (struct etcd_tls){o->etcd_ca[0] ? o->etcd_ca : NULL, o->etcd_cert[0] ? o->etcd_cert : NULL,
                             o->etcd_key[0] ? o->etcd_key : NULL};
}

static int serve(struct registry *reg, const struct xenod_options *o, struct migrate_host **migrate,
                 struct api_server **api)
{
    struct billing *bill;
    int rc = reg_open(reg, o->abs_state_dir, o->vmm, o->sample_interval_s, o->have_cpu ? &o->cpu : NULL);
    if (rc < 0)
        return rc;
    /* After reg_open, which makes the state directory; the supervisor posts nothing until
     * reg->billing is set. */
    if ((rc = billing_open(&bill, o->abs_state_dir, o->prices[0] ? o->prices : NULL, o->ledger_interval_s)) < 0) {
        reg_close(reg);
        return rc;
    }
    pthread_mutex_lock(&reg->lock);
    reg->billing = bill;
    pthread_mutex_unlock(&reg->lock);
    reg->max_domains = o->max_domains;
    snprintf(reg->image_dir, sizeof(reg->image_dir), "%s", o->image_dir[0] ? o->image_dir : IMAGE_DIR_DEFAULT);
    reg_resolve_disks(reg);
    snprintf(reg->migrate_key, sizeof(reg->migrate_key), "%s", o->migrate_key);
    if (cpu_contract_probe(o->vmm, &reg->cpu_contract) < 0)
        log_warn("CPU contract unknown (host info shows null): %s", err_msg());
    else if (reg->cpu_contract.extra[0] || reg->cpu_contract.missing[0])
        log_warn("this host does not keep the CPUID policy (docs/machine.md): guests also see [%s] and lack [%s]",
                 reg->cpu_contract.extra, reg->cpu_contract.missing);
    if (start_cache_fill(o->vmm, o->abs_state_dir, reg->cache_dir, sizeof(reg->cache_dir)) < 0)
        log_warn("monitors start without a cache: %s", err_msg());
    if (o->save_dir[0])
        snprintf(reg->save_dir, sizeof(reg->save_dir), "%s", o->save_dir);
    else if (snprintf(reg->save_dir, sizeof(reg->save_dir), "%s/snapshots", o->abs_state_dir) > 0 &&
             mkdir(reg->save_dir, 0700) < 0 && errno != EEXIST)
        log_warn("save directory %s: %s", reg->save_dir, strerror(errno));
    if (o->migrate_listen && (rc = migrate_host_listen(migrate, reg, o->migrate_listen, o->migrate_key)) < 0) {
        rc = err_wrap(-rc, "--migrate-listen %s", o->migrate_listen);
        reg_close(reg);
        billing_close(bill);
        return rc;
    }
    reg->net_audit = o->net_audit;
    snprintf(reg->net_audit_rules, sizeof(reg->net_audit_rules), "%s", o->audit_rules);
    snprintf(reg->net_audit_key, sizeof(reg->net_audit_key), "%s", o->audit_key);
    snprintf(reg->net_ipfix, sizeof(reg->net_ipfix), "%s", o->ipfix);
    reg->net_audit_flow_quota = o->audit_flow_quota;
    if (reg_set_network(reg, o->netback, o->uplink, o->uplink_kib) < 0)
        log_error("network backend: %s (domains with an interface will try again)", err_msg());
    if (reg_set_disks(reg, o->blkback) < 0)
        log_error("disk backend: %s (domains with a disk will try again)", err_msg());
    struct api_opts ao = {.socket = o->socket,
                          .state_dir = o->abs_state_dir,
                          .listen = o->listen,
                          .tls_cert = o->tls_cert,
                          .tls_key = o->tls_key,
                          .image_dir = o->image_dir[0] ? o->image_dir : NULL,
                          .web_dir = o->web_dir[0] ? o->web_dir : NULL,
                          .fleet = o->fleet,
                          .fleet_token = o->fleet_token[0] ? o->fleet_token : NULL,
                          .fleet_cacert = o->fleet_cacert[0] ? o->fleet_cacert : NULL,
                          .fleet_gate = o->fleet ? &fleet_gate : NULL,
                          .fleet_etcd_tls = etcd_tls_of(o)};
    if ((rc = api_start(api, reg, &ao)) < 0) {
        migrate_host_close(*migrate);
        reg_close(reg);
        billing_close(bill);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static struct xenod_options o;
    log_init("xenod", LOG_INFO);
    log_ring_install();
    int rc = xenod_options_parse(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            log_error("%s", err_msg());
        return rc < 0 ? 2 : 0;
    }
    if (o.list_routes) {
        size_t n;
        const struct route *t = api_routes(&n);
        for (size_t i = 0; i < n; i++)
            printf("%s %s\n", t[i].method, t[i].pattern);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (o.verbose)
        log_init("xenod", LOG_DEBUG);
    /* Every descriptor the hard limit allows: the API's connection caps are set below it
     * (api_access.c), and a flood of connections must meet those caps, not this limit. */
    if (fd_limit_raise() < 0)
        log_info("%s", err_msg());
    /* A limit too low for --max-domains fails here, saying what to do, rather than at
     * domain 900 with EMFILE in the middle of a start. Without --max-domains the default
     * shrinks to what the limit holds, said in the log. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
        if (!o.max_domains) {
            o.max_domains = fd_budget_default_max(nofile.rlim_cur);
            if (o.max_domains && o.max_domains < XENOD_MAX_DOMAINS_DEFAULT)
                log_warn("the file descriptor limit (RLIMIT_NOFILE, %llu) holds %u domains, not the default %d: "
                         "xenod takes at most %u (a limit of %llu holds %d)",
                         (unsigned long long)nofile.rlim_cur, o.max_domains, XENOD_MAX_DOMAINS_DEFAULT, o.max_domains,
                         (unsigned long long)fd_budget_need(XENOD_MAX_DOMAINS_DEFAULT), XENOD_MAX_DOMAINS_DEFAULT);
        }
        if (fd_budget_check(nofile.rlim_cur, o.max_domains ? o.max_domains : 1) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
    } else if (!o.max_domains) {
        o.max_domains = XENOD_MAX_DOMAINS_DEFAULT;
    }
    fd_budget_set_max_domains(o.max_domains);
    if (xenod_options_resolve(&o) < 0) {
        log_error("%s", err_msg());
        return 1;
    }

    /* Before any thread starts: curl_global_init is not thread-safe (the fleet's etcd client). */
    if (o.fleet && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("cannot initialise libcurl (--fleet)");
        return 1;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    static struct registry reg;
    struct api_server *api = NULL;
    struct migrate_host *migrate = NULL;
    if (serve(&reg, &o, &migrate, &api) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    log_info("serving %s; state in %s; monitor %s", o.socket, o.abs_state_dir, o.vmm);
    struct fleet_member *fleet = NULL;
    struct fleet_member_opts fo = {o.fleet,
                                   o.host_name,
                                   o.advertise,
                                   o.fleet_ttl_s,
                                   o.migrate_listen,
                                   o.fleet_token[0] ? o.fleet_token : NULL,
                                   o.fleet_cacert[0] ? o.fleet_cacert : NULL,
                                   &fleet_gate,
                                   etcd_tls_of(&o)};
    if (o.fleet && fleet_member_start(&fleet, &reg, &fo) < 0) {
        log_error("%s", err_msg());
        api_stop(api);
        migrate_host_close(migrate);
        struct billing *bill = reg.billing;
        reg_close(&reg);
        billing_close(bill);
        return 1;
    }

    int sig;
    /* SIGHUP reads the price list again (docs/billing.md); the others stop xenod. */
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        if (billing_reload_prices(reg.billing) == -ENOENT)
            log_info("SIGHUP: %s", err_msg()); /* other errors are logged with file:line */
    log_info("stopping on %s; domains keep running", strsignal(sig));
    fleet_member_stop(fleet);
    api_stop(api);
    migrate_host_close(migrate);
    struct billing *bill = reg.billing;
    reg_close(&reg);
    reg_billing_stop(bill); /* the supervisor is gone: xenod's last CPU time is its stop's */
    billing_close(bill);
    return 0;
}
