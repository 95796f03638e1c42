/* xenctl's command line: `xenctl [GLOBAL...] COMMAND [ARG|OPTION...]`. Long options only
 * (`--name`, `--name VALUE`, `--name=VALUE`; `-h` is --help) and the one-letter forms a command
 * gives some of its options (`-n 5` or `-n5`, one letter per argument: `xenctl top -b -n 5`, as
 * xentop spells them), `--` ends options. The global
 * options (--socket, --server, --token-file, --cacert, --fleet, --json, --help) are accepted after the command too, so
 * `xenctl list --json` works like `xenctl --json list`. Pure: no I/O, errors via err_set(). */
#ifndef XENO_CTL_ARGS_H
#define XENO_CTL_ARGS_H

#define CTL_ARGS_MAX_POS 1024 /* create FILE... takes a batch */
#define CTL_ARGS_MAX_OPTS 24  /* disk-qos: libvirt's 19 <iotune> names, --weight, --reservation */

/* One option a command accepts; arrays of them end with a NULL name. */
struct ctl_opt {
    const char *name; /* without the leading "--" */
    int takes_value;
    const char *value_name; /* for messages: "SEC", "N" */
    char short_name;        /* the one-letter form (-n), 0: none */
};

struct ctl_args {
    const struct ctl_opt *opts;           /* the command's options (may be NULL: none) */
    const char *value[CTL_ARGS_MAX_OPTS]; /* per opts[i]: its value, "" for a flag, NULL if absent */
    const char *pos[CTL_ARGS_MAX_POS];    /* positional arguments in order */
    int npos;
    /* Global options. */
    const char *socket;
    const char *server, *token_file, *cacert;   /* remote mode (docs/xenctl.md "Remote") */
    const char *fleet;                          /* --fleet ETCD_URLS (docs/fleet.md) */
    const char *etcd_ca, *etcd_cert, *etcd_key; /* etcd over TLS (https:// URLs in --fleet) */
    int json, help, version;
    int list_routes; /* --list-routes (before the command only): print ctl_verb_routes[] and exit */
};

/* Parses argv[0..argc) against `opts` (plus the global options) into *a, which the caller
 * has zeroed or filled from an earlier call (later values override earlier ones).
 * With `stop_at_positional`, stops at the first positional argument (the command name) and
 * returns its index (argc if none); otherwise returns 0. --version and --list-routes are
 * accepted only then.
 * A repeated option keeps its last value. On a bad option returns -EINVAL with a message. */
int ctl_args_parse(const struct ctl_opt *opts, int argc, char **argv, int stop_at_positional, struct ctl_args *a);

/* The value of option `name`: "" for a flag that was given, NULL when absent. */
const char *ctl_args_get(const struct ctl_args *a, const char *name);

/* Seconds as a decimal ("0.5", "3", "10.25") in [0, max]: for --linger. */
int ctl_parse_seconds(const char *text, double max, double *out);

#endif
