/* xeno-netback's command line (see nb_options_usage() in options.c and docs/netback.md). */
#ifndef XENO_NET_OPTIONS_H
#define XENO_NET_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct nb_options {
    const char *state_dir; /* required */
    const char *tap_name;  /* --uplink-tap or NULL */
    uint64_t uplink_kib;   /* 0: unlimited */
    bool verbose, test_forbidden, audit_on;
    /* Absolute (the process moves into the state directory), malloc'd: nb_options_free. */
    char *audit_log, *audit_key, *audit_rules;
    const char *ipfix;
    uint32_t audit_flow_quota; /* --audit-flow-quota (0: the engine's default) */
    unsigned crash_point;      /* --test-crash-at P:N (0: none) */
    uint64_t crash_after;
};

/* 0, 1 when --help was printed (exit 0), or -EINVAL with err_set() (exit 2). An empty
 * message means the command line's shape is wrong: show the usage. */
int nb_options_parse(int argc, char **argv, struct nb_options *o);
void nb_options_free(struct nb_options *o);
void nb_options_usage(FILE *f);

#endif
