#include "ctl/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "lib/err.h"

static const struct ctl_opt *find_opt(const struct ctl_opt *opts, const char *name, size_t len, int *index)
{
    for (int i = 0; opts && opts[i].name; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
            *index = i;
            return &opts[i];
        }
    }
    return NULL;
}

/* Handles one "--name[=value]" at argv[*i]; advances *i past a separate value. */
static int parse_long(const struct ctl_opt *opts, int argc, char **argv, int *i, int allow_version, struct ctl_args *a)
{
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int index;

    /* Command options first, so a command could redefine a global; none does today. */
    const struct ctl_opt *o = find_opt(opts, name, len, &index);
    if (o) {
        const char *value = "";
        if (o->takes_value) {
            if (eq) {
                value = eq + 1;
            } else if (*i + 1 < argc) {
                value = argv[++*i];
            } else {
                return err_set(EINVAL, "--%s needs a value (--%s %s)", o->name, o->name,
                               o->value_name ? o->value_name : "VALUE");
            }
        } else if (eq) {
            return err_set(EINVAL, "--%.*s takes no value", (int)len, name);
        }
        a->value[index] = value;
        return 0;
    }
    /* The global options with a value: where xenod is, and how to prove who asks. */
    static const struct {
        const char *name, *what;
        size_t off;
    } globals[] = {
        {"socket", "PATH", offsetof(struct ctl_args, socket)},
        {"server", "URL", offsetof(struct ctl_args, server)},
        {"token-file", "FILE", offsetof(struct ctl_args, token_file)},
        {"cacert", "FILE", offsetof(struct ctl_args, cacert)},
        {"fleet", "ETCD_URLS", offsetof(struct ctl_args, fleet)},
        {"etcd-ca", "FILE", offsetof(struct ctl_args, etcd_ca)},
        {"etcd-cert", "FILE", offsetof(struct ctl_args, etcd_cert)},
        {"etcd-key", "FILE", offsetof(struct ctl_args, etcd_key)},
    };
    for (size_t g = 0; g < sizeof(globals) / sizeof(globals[0]); g++) {
        if (len != strlen(globals[g].name) || strncmp(name, globals[g].name, len) != 0)
            continue;
        const char **slot = (const char **)((char *)a + globals[g].off);
        if (eq)
            *slot = eq + 1;
        else if (*i + 1 < argc)
            *slot = argv[++*i];
        else
            return err_set(EINVAL, "--%s needs a value (--%s %s)", globals[g].name, globals[g].name, globals[g].what);
        if (!**slot)
            return err_set(EINVAL, "--%s needs a non-empty %s", globals[g].name, globals[g].what);
        return 0;
    }
    int *flag = NULL;
    if (len == 4 && strncmp(name, "json", 4) == 0)
        flag = &a->json;
    else if (len == 4 && strncmp(name, "help", 4) == 0)
        flag = &a->help;
    else if (allow_version && len == 7 && strncmp(name, "version", 7) == 0)
        flag = &a->version;
    else if (allow_version && len == 11 && strncmp(name, "list-routes", 11) == 0)
        flag = &a->list_routes;
    if (!flag)
        return err_set(EINVAL, "unknown option '%s'", arg);
    if (eq)
        return err_set(EINVAL, "--%.*s takes no value", (int)len, name);
    *flag = 1;
    return 0;
}

/* Handles one "-x", "-x VALUE" or "-xVALUE" at argv[*i] for a command option with a short name. */
static int parse_short(const struct ctl_opt *opts, int argc, char **argv, int *i, struct ctl_args *a)
{
    const char *arg = argv[*i];
    for (int k = 0; opts && opts[k].name; k++) {
        if (!opts[k].short_name || opts[k].short_name != arg[1])
            continue;
        if (!opts[k].takes_value) {
            if (arg[2])
                return err_set(EINVAL, "unknown option '%s' (give one-letter options one per argument)", arg);
            a->value[k] = "";
        } else if (arg[2]) {
            a->value[k] = arg + 2;
        } else if (*i + 1 < argc) {
            a->value[k] = argv[++*i];
        } else {
            return err_set(EINVAL, "-%c needs a value (-%c %s)", arg[1], arg[1],
                           opts[k].value_name ? opts[k].value_name : "VALUE");
        }
        return 0;
    }
    return err_set(EINVAL, "unknown option '%s'", arg);
}

int ctl_args_parse(const struct ctl_opt *opts, int argc, char **argv, int stop_at_positional, struct ctl_args *a)
{
    int only_positional = 0;
    a->opts = opts;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (!only_positional && strncmp(arg, "--", 2) == 0) {
            int r = parse_long(opts, argc, argv, &i, stop_at_positional, a);
            if (r < 0)
                return r;
            continue;
        }
        if (!only_positional && strcmp(arg, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0' && arg[1] != '-' && !stop_at_positional) {
            int r = parse_short(opts, argc, argv, &i, a);
            if (r < 0)
                return r;
            continue;
        }
        /* A lone "-" is an argument (conventionally stdin); "-x" is nothing we know. */
        if (!only_positional && arg[0] == '-' && arg[1] != '\0')
            return err_set(EINVAL, "unknown option '%s'", arg);
        if (stop_at_positional)
            return i;
        if (a->npos == CTL_ARGS_MAX_POS)
            return err_set(EINVAL, "too many arguments");
        a->pos[a->npos++] = arg;
    }
    return stop_at_positional ? argc : 0;
}

const char *ctl_args_get(const struct ctl_args *a, const char *name)
{
    for (int i = 0; a->opts && a->opts[i].name; i++)
        if (strcmp(a->opts[i].name, name) == 0)
            return a->value[i];
    return NULL;
}

int ctl_parse_seconds(const char *text, double max, double *out)
{
    /* strtod alone would take "inf", "nan", hex and leading blanks: insist on digits. */
    const char *p = text;
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0 || *p != '\0')
        return err_set(EINVAL, "'%s' is not a number of seconds (e.g. 0.5 or 3)", text);
    errno = 0;
    double v = strtod(text, NULL);
    if (errno == ERANGE || !isfinite(v) || v > max)
        return err_set(ERANGE, "%s is out of range (0 to %g seconds)", text, max);
    *out = v;
    return 0;
}
