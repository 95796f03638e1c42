/* xenod's command line (see xenod_options_usage() in options.c and docs/api.md). */
#ifndef XENO_DAEMON_OPTIONS_H
#define XENO_DAEMON_OPTIONS_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "sched/admit.h"

#define XENOD_DEFAULT_STATE_DIR "/var/lib/xeno"
#define XENOD_DEFAULT_SOCKET "/run/xenod.sock"
#define XENOD_DEFAULT_WEB_DIR "/usr/share/xeno/web"

struct xenod_options {
    const char *state_dir, *socket;
    char vmm[PATH_MAX];     /* "": beside xenod (xenod_options_resolve) */
    char netback[PATH_MAX]; /* "": beside the monitor */
    char blkback[PATH_MAX]; /* "": beside the monitor */
    double sample_interval_s;
    unsigned max_domains; /* --max-domains: domains defined at once (fd_budget.h: descriptors) */
    int verbose;
    int list_routes; /* --list-routes: print the API's route table and exit (tests/integration/api_parity.sh) */
    /* Admission control: `cpus` CPUs (0: those xenod may run on) with cpu.headroom_ppm kept
     * free; have_cpu says whether either was given (else the registry's defaults). */
    unsigned cpus;
    int have_cpu;
    struct sched_host cpu;
    const char *uplink; /* --net-uplink TAP or NULL */
    uint64_t uplink_kib;
    int net_audit;
    char audit_rules[PATH_MAX], audit_key[PATH_MAX], ipfix[128]; /* absolute paths; "": none */
    uint32_t audit_flow_quota;                                   /* --net-audit-flow-quota; 0: the backend's default */
    const char *migrate_listen;
    char migrate_key[PATH_MAX]; /* absolute; "": none */
    char save_dir[PATH_MAX];    /* --save-dir, absolute; "": STATE/snapshots (main.c) */
    const char *listen;         /* --listen ADDR:PORT or NULL */
    char tls_cert[PATH_MAX], tls_key[PATH_MAX], image_dir[PATH_MAX]; /* absolute; "": none */
    char web_dir[PATH_MAX];       /* --web-dir, absolute; "": the first of the defaults that holds the page */
    int no_web;                   /* --no-web: serve no web console */
    double ledger_interval_s;     /* --ledger-interval: how often usage is posted (at most 60 s) */
    char prices[PATH_MAX];        /* --prices FILE, absolute; "": none (usage is free) */
    char abs_state_dir[PATH_MAX]; /* state_dir made absolute (xenod_options_resolve) */
    /* --fleet ETCD_URLS --host-name NAME --advertise URL [--fleet-ttl S] (docs/fleet.md);
     * fleet NULL: not in a fleet. */
    const char *fleet, *host_name, *advertise;
    long fleet_ttl_s;
    char fleet_token[PATH_MAX], fleet_cacert[PATH_MAX];              /* absolute; "": none (POST /v1/fleet/domains) */
    char etcd_ca[PATH_MAX], etcd_cert[PATH_MAX], etcd_key[PATH_MAX]; /* etcd over TLS; absolute, "": none */
};

/* 0, 1 when --help was printed (exit 0), or -EINVAL and err_set() saying what is wrong
 * (exit 2). Checks the options together (--migrate-listen needs --migrate-key, ...). */
int xenod_options_parse(int argc, char **argv, struct xenod_options *o);
/* What needs the file system: the monitor and backend beside xenod unless given, the monitor
 * executable, the state directory absolute (monitors outlive us and do not share our working
 * directory). 0 or -errno with err_set() (exit 1). */
int xenod_options_resolve(struct xenod_options *o);
void xenod_options_usage(FILE *f);

#endif
