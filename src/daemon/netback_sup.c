#include "daemon/netback_sup.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/backend_sup.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/stats_page.h" /* STATS_PAGE_ASK_SIGNAL */

#define NETBACK_NICE (-10)
/* Audit events the backend appends to STATE/audit-events (docs/netback.md): read each tick. */
#define AUDIT_LINE_MAX 2048

/* The supervision itself is backend_sup's; this is what is netback's: its arguments, its
 * audit events, its stats page. */
struct netback_sup {
    struct netback_sup_opts o;
    struct backend_sup *sup;
    char dir[PATH_MAX], uplink[64], cap[32], quota[16];
    char audit_rules[PATH_MAX], audit_key[PATH_MAX], ipfix[128]; /* "" when not given */
    off_t audit_off; /* how far STATE/audit-events was read (the supervising thread's) */
    ino_t audit_ino; /* ... in this file (0: none seen yet) */
};

static int netback_args(void *ctx, char **argv)
{
    struct netback_sup *s = ctx;
    int argc = 0;
    if (s->uplink[0]) {
        argv[argc++] = "--uplink-tap";
        argv[argc++] = s->uplink;
    }
    if (s->o.capacity_kib) {
        argv[argc++] = "--uplink-capacity";
        argv[argc++] = s->cap;
    }
    if (s->o.audit) {
        argv[argc++] = "--audit";
        const struct {
            const char *opt;
            char *val;
        } a[] = {{"--audit-rules", s->audit_rules}, {"--audit-key", s->audit_key}, {"--ipfix", s->ipfix}};
        for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
            if (a[i].val[0]) {
                argv[argc++] = (char *)a[i].opt;
                argv[argc++] = a[i].val;
            }
        if (s->o.audit_flow_quota) {
            argv[argc++] = "--audit-flow-quota";
            argv[argc++] = s->quota;
        }
    }
    return argc;
}

/* Hands the new complete lines of one events file, from *off on, to on_audit. */
static void read_events_file(struct netback_sup *s, const char *path, off_t *off)
{
    char line[AUDIT_LINE_MAX];
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fseeko(f, *off, SEEK_SET) == 0) {
        for (int n = 0; n < 1000 && fgets(line, sizeof(line), f); n++) {
            size_t len = strlen(line);
            if (line[len - 1] != '\n') {
                if (len < sizeof(line) - 1)
                    break; /* the backend is still writing this one: next time */
                int ch;    /* longer than a line can be: skip to its end */
                while ((ch = fgetc(f)) != EOF && ch != '\n')
                    ;
                *off = ftello(f);
                continue;
            }
            line[len - 1] = 0;
            *off = ftello(f);
            s->o.on_audit(s->o.ctx, line);
        }
    }
    fclose(f);
}

/* STATE/audit-events, followed by its inode: when the backend rotated it (renamed to
 * audit-events.1 at 4 MiB), the rest of the old file is read there first, then the new one
 * from its start, so no event is lost or read twice. */
static void read_audit_events(void *ctx)
{
    struct netback_sup *s = ctx;
    char path[PATH_MAX + 32], old[PATH_MAX + 32];
    struct stat st, ost;
    if (!s->o.on_audit)
        return;
    snprintf(path, sizeof(path), "%s/audit-events", s->dir);
    snprintf(old, sizeof(old), "%s/audit-events.1", s->dir);
    if (stat(path, &st) < 0)
        return;
    if (s->audit_ino && st.st_ino != s->audit_ino) {
        if (stat(old, &ost) == 0 && ost.st_ino == s->audit_ino)
            read_events_file(s, old, &s->audit_off);
        s->audit_off = 0;
    }
    s->audit_ino = st.st_ino;
    read_events_file(s, path, &s->audit_off);
}

/* backend_sup's ctx is this object; the caller's on_event wants its own ctx. */
static void forward_event(void *ctx, const char *kind, const char *detail)
{
    struct netback_sup *s = ctx;
    s->o.on_event(s->o.ctx, kind, detail);
}

int netback_sup_open(struct netback_sup **out, const struct netback_sup_opts *o)
{
    *out = NULL;
    struct netback_sup *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->o = *o;
    snprintf(s->dir, sizeof(s->dir), "%s", o->state_dir);
    snprintf(s->uplink, sizeof(s->uplink), "%s", o->uplink ? o->uplink : "");
    snprintf(s->cap, sizeof(s->cap), "%" PRIu64, o->capacity_kib);
    snprintf(s->quota, sizeof(s->quota), "%u", o->audit_flow_quota);
    snprintf(s->audit_rules, sizeof(s->audit_rules), "%s", o->audit_rules ? o->audit_rules : "");
    snprintf(s->audit_key, sizeof(s->audit_key), "%s", o->audit_key ? o->audit_key : "");
    snprintf(s->ipfix, sizeof(s->ipfix), "%s", o->ipfix ? o->ipfix : "");
    /* Events from before this xenod are in the store already (or were, before a crash of
     * xenod: then a few are lost rather than recorded twice). */
    char ev[PATH_MAX + 32];
    struct stat st;
    snprintf(ev, sizeof(ev), "%s/audit-events", s->dir);
    s->audit_off = stat(ev, &st) == 0 ? st.st_size : 0;
    s->audit_ino = s->audit_off ? st.st_ino : 0;
    struct backend_sup_opts b = {.name = "netback",
                                 .path = o->path,
                                 .state_dir = o->state_dir,
                                 .nice = NETBACK_NICE,
                                 .watchdog_ms = o->watchdog_ms,
                                 .page_size = sizeof(struct nb_stats_page),
                                 .seq_off = offsetof(struct nb_stats_page, seq),
                                 .heartbeat_off = offsetof(struct nb_stats_page, heartbeat),
                                 .pid_off = -1,
                                 .ask_signal = STATS_PAGE_ASK_SIGNAL,
                                 .args = netback_args,
                                 .on_tick = o->on_audit ? read_audit_events : NULL,
                                 .on_event = o->on_event ? forward_event : NULL,
                                 .ctx = s};
    /* Every domain's frames wait on this one process: it runs ahead of the vCPUs (QoS
     * floors are missed at nice 0 on a loaded host, bench/README.md). */
    int rc = backend_sup_open(&s->sup, &b);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void netback_sup_close(struct netback_sup *s)
{
    if (!s)
        return;
    backend_sup_close(s->sup);
    free(s);
}

void netback_sup_status(struct netback_sup *s, int *pid, uint64_t *restarts)
{
    backend_sup_status(s->sup, pid, restarts);
}

int netback_sup_request(struct netback_sup *s, const char *line, char *reply, size_t size, int timeout_ms)
{
    return backend_sup_request(s->sup, line, reply, size, timeout_ms);
}

int netback_sup_read_stats(struct netback_sup *s, struct nb_stats_page *pg)
{
    int rc = backend_sup_read_page(s->sup, pg, sizeof(*pg));
    if (rc == 0 && pg->nports > NB_STATS_MAX_PORTS)
        pg->nports = NB_STATS_MAX_PORTS;
    return rc;
}

int netback_sup_port_stats(struct netback_sup *s, const char *port, struct nb_stats_port *out)
{
    struct nb_stats_page *pg = malloc(sizeof(*pg)); /* a private copy: the file is the backend's */
    if (!pg)
        return -ENOMEM;
    int rc = netback_sup_read_stats(s, pg);
    if (rc == 0) {
        rc = -ENOENT;
        for (uint32_t i = 0; i < pg->nports; i++)
            if (strncmp(pg->ports[i].name, port, sizeof(pg->ports[i].name)) == 0) {
                memcpy(out, &pg->ports[i], sizeof(*out));
                rc = 0;
                break;
            }
    }
    free(pg);
    return rc;
}
