/* The registry's table: the domains xenod knows, lookups by name, UUID or domain ID, their
 * references, and loading them from the store at start (registry.h says who does the rest). */
#include "daemon/registry.h"

#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

double reg_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void reg_run_dir(struct registry *r, const struct reg_domain *d, char *out, size_t size)
{
    snprintf(out, size, "%s/run/%s", r->state_dir, d->cfg.uuid);
}

void reg_wake_supervisor(struct registry *r)
{
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("waking the supervisor: %s", strerror(errno));
}

void reg_event(struct registry *r, struct reg_domain *d, const char *kind, const char *fmt, ...)
{
    char detail[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    log_info("domain %s: %s%s%s", d->cfg.name, kind, detail[0] ? ": " : "", detail);
    if (store_add_event(&r->store, d->cfg.uuid, d->cfg.name, kind, detail) < 0)
        log_error("%s", err_msg());
    reg_events_added(r);
}

void reg_events_added(struct registry *r)
{
    r->event_seq++;
    pthread_cond_broadcast(&r->event_added);
}

void reg_persist_runtime(struct registry *r, struct reg_domain *d)
{
    struct store_runtime rt = {.domid = d->domid, .pid = d->mon ? d->mon->pid : 0, .started_at = d->started_at};
    snprintf(rt.state, sizeof(rt.state), "%s", d->mon ? "running" : d->state);
    if (store_set_runtime(&r->store, d->cfg.uuid, &rt) < 0)
        log_error("%s", err_msg());
}

static void domain_free(struct reg_domain *d)
{
    domain_config_free(&d->cfg);
    free(d->xml);
    free(d->source);
    pthread_mutex_destroy(&d->op_lock);
    free(d);
}

/* Caller holds r->lock. */
void reg_unlink_domain(struct registry *r, struct reg_domain *d)
{
    for (struct reg_domain **p = &r->domains; *p; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            break;
        }
    }
    d->gone = 1;
    if (d->refs == 0)
        domain_free(d);
}

void reg_put(struct registry *r, struct reg_domain *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&r->lock);
    if (--d->refs == 0 && d->gone)
        domain_free(d);
    pthread_mutex_unlock(&r->lock);
}

struct monitor *reg_grab_monitor(struct registry *r, struct reg_domain *d)
{
    pthread_mutex_lock(&r->lock);
    struct monitor *m = d->mon;
    if (m)
        m->users++;
    pthread_mutex_unlock(&r->lock);
    return m;
}

void reg_release_monitor(struct registry *r, struct monitor *m)
{
    pthread_mutex_lock(&r->lock);
    if (--m->users == 0 && m->orphaned)
        monitor_close(m);
    pthread_mutex_unlock(&r->lock);
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

int reg_lookup(struct registry *r, const char *ref, struct reg_domain **out)
{
    /* A number too large for a domain ID is a name (or nothing), never an overflow. */
    uint64_t v = 0;
    int id = is_number(ref) && parse_u64_range(ref, 1, INT_MAX, &v) == 0 ? (int)v : -1;
    pthread_mutex_lock(&r->lock);
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        if ((id > 0 && d->domid == id) || strcmp(d->cfg.name, ref) == 0 || strcasecmp(d->cfg.uuid, ref) == 0) {
            d->refs++;
            *out = d;
            pthread_mutex_unlock(&r->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    *out = NULL;
    return err_set(ENOENT, "no domain '%s' (see xenctl list)", ref);
}

/* Caller holds r->lock. */
int reg_room_locked(struct registry *r)
{
    unsigned n = 0;
    for (struct reg_domain *d = r->domains; d; d = d->next)
        n += !d->gone;
    if (!r->max_domains || n < r->max_domains)
        return 0;
    return err_set(ENOSPC,
                   "this host holds %u domains, xenod's maximum (--max-domains %u, sized to its file descriptors): "
                   "undefine one, or restart xenod with a higher --max-domains",
                   n, r->max_domains);
}

struct reg_domain *reg_add_domain(struct registry *r, const struct domain_config *cfg, const char *xml,
                                  const char *source, int persistent)
{
    struct reg_domain *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->cfg.kernel = strdup(cfg->kernel);
    d->cfg.initrd = cfg->initrd ? strdup(cfg->initrd) : NULL;
    d->cfg.cmdline = cfg->cmdline ? strdup(cfg->cmdline) : NULL;
    d->cfg.title = cfg->title ? strdup(cfg->title) : NULL;
    d->cfg.description = cfg->description ? strdup(cfg->description) : NULL;
    d->xml = strdup(xml ? xml : "");
    d->source = strdup(source ? source : "<api>");
    d->persistent = persistent;
    snprintf(d->state, sizeof(d->state), "shutdown");
    pthread_mutex_init(&d->op_lock, NULL);
    d->sched = cfg->sched;
    d->net_in = cfg->net.inbound;
    d->net_out = cfg->net.outbound;
    if (!d->cfg.kernel || !d->xml || !d->source || (cfg->title && !d->cfg.title) ||
        (cfg->description && !d->cfg.description)) {
        domain_free(d);
        return NULL;
    }
    /* Keep definition order, as `list` shows it. */
    struct reg_domain **p = &r->domains;
    while (*p)
        p = &(*p)->next;
    *p = d;
    return d;
}

void reg_remove_run_dir(struct registry *r, struct reg_domain *d)
{
    char dir[PATH_MAX + 64], path[PATH_MAX + 96];
    static const char *const logs[] = {"console.log", "console.log.1", "vmm.log"};
    reg_run_dir(r, d, dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, logs[i]);
        unlink(path);
    }
    monitor_clean_run_dir(dir);
    rmdir(dir);
}

void reg_console_log_path(struct registry *r, struct reg_domain *d, int rotated, char *out, size_t size)
{
    char dir[PATH_MAX + 64];
    reg_run_dir(r, d, dir, sizeof(dir));
    snprintf(out, size, "%s/console.log%s", dir, rotated ? ".1" : "");
}

/* ---- loading ---- */

/* What only the stored XML holds (the store's columns do not): CPU affinity, title and
 * description, taken from a fresh parse of it. A definition that no longer parses (its
 * kernel gone) keeps the columns' values, and its start will say what is wrong. */
static void load_from_xml(struct domain_config *cfg, const struct store_domain *sd)
{
    struct domain_config x;
    if (domain_xml_parse(sd->xml, strlen(sd->xml), sd->source, NULL, &x) < 0) {
        log_warn("domain %s: its stored XML does not parse now (%s): no CPU affinity, title or description until "
                 "it is redefined",
                 sd->cfg.name, err_msg());
        return;
    }
    cfg->affinity = x.affinity;
    cfg->memtune = x.memtune;
    cfg->ndisks = x.ndisks; /* <disk>s are in the XML only (names as written at define) */
    memcpy(cfg->disks, x.disks, sizeof(x.disks));
    cfg->blkio_weight = x.blkio_weight;
    cfg->title = x.title;
    cfg->description = x.description;
    x.title = x.description = NULL;
    domain_config_free(&x);
}

void reg_resolve_disks(struct registry *r)
{
    pthread_mutex_lock(&r->lock);
    for (struct reg_domain *d = r->domains; d; d = d->next)
        if (d->cfg.ndisks && domain_disks_resolve(&d->cfg, r->image_dir, d->source) < 0)
            log_warn("domain %s: %s (was --image-dir changed?)", d->cfg.name, err_msg());
    pthread_mutex_unlock(&r->lock);
}

static void load_one(void *ctx, const struct store_domain *sd)
{
    struct registry *r = ctx;
    struct domain_config cfg = sd->cfg;
    load_from_xml(&cfg, sd);
    struct reg_domain *d = reg_add_domain(r, &cfg, sd->xml, sd->source, sd->persistent);
    free(cfg.title);
    free(cfg.description);
    if (!d) {
        log_error("out of memory loading domain %s", sd->cfg.name);
        return;
    }
    snprintf(d->state, sizeof(d->state), "%s", strcmp(sd->rt.state, "running") == 0 ? "shutdown" : sd->rt.state);
    d->domid = sd->rt.domid;
    d->started_at = sd->rt.started_at;
    /* Definitions stored before CPU scheduling existed have no settings: the defaults. */
    if (store_get_sched(&r->store, d->cfg.uuid, &d->sched) < 0)
        d->sched = sched_params_default();
    d->cfg.sched = d->sched;
    if (sd->rt.pid > 0) {
        char dir[PATH_MAX + 64];
        reg_run_dir(r, d, dir, sizeof(dir));
        int rc = monitor_attach(&d->mon, sd->rt.pid, dir);
        /* A live monitor that does not answer yet (busy restarting its guest) gets a moment;
         * one that never answers is killed, so no domain runs that nobody supervises. */
        for (int tries = 0; rc < 0 && rc != -ESRCH && tries < 40; tries++) {
            usleep(50 * 1000);
            rc = monitor_attach(&d->mon, sd->rt.pid, dir);
        }
        if (rc < 0 && rc != -ESRCH) {
            log_warn("domain %s: monitor %d does not answer (%s); killing it", d->cfg.name, sd->rt.pid, err_msg());
            kill(sd->rt.pid, SIGKILL);
        }
        if (rc == 0) {
            reg_event(r, d, "reattached", "id %d, monitor pid %d", d->domid, sd->rt.pid);
        } else {
            log_warn("domain %s: %s", d->cfg.name, err_msg());
            d->lost_pid = sd->rt.pid; /* ended while we were away: reg_open records it */
        }
    }
}

int reg_open(struct registry *r, const char *state_dir, const char *vmm_path, double sample_interval_s,
             const struct sched_host *cpu)
{
    char path[PATH_MAX + 32];
    int rc;
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->net_lock, NULL);
    pthread_mutex_init(&r->blk_lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->event_added, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(r->state_dir, sizeof(r->state_dir), "%s", state_dir);
    snprintf(r->vmm_path, sizeof(r->vmm_path), "%s", vmm_path);
    r->sample_interval_s = sample_interval_s;
    if (cpu) {
        r->cpu = *cpu;
    } else {
        cpu_set_t set;
        r->cpu.cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 0;
        if (!r->cpu.cpus) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            r->cpu.cpus = n > 0 ? (unsigned)n : 1;
        }
        r->cpu.headroom_ppm = SCHED_HEADROOM_DEFAULT_PPM;
    }
    mcg_detect(&r->mcg);
    if (r->mcg.version == MCG_NONE)
        log_info("memory limits (<memtune>): %s", r->mcg.why);
    else
        log_info("memory limits (<memtune>): cgroup v%d under %s%s", r->mcg.version == MCG_V2 ? 2 : 1, r->mcg.base,
                 r->mcg.has_swap ? ", swap accounted" : "");
    r->next_sample = reg_now_s() + sample_interval_s;
    snprintf(path, sizeof(path), "%s/run", state_dir);
    if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "state directory %s: %s", state_dir, strerror(errno));
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "%s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/xenod.db", state_dir);
    if ((rc = store_open(&r->store, path)) < 0)
        return rc;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0)
        return err_set(errno, "eventfd: %s", strerror(errno));

    pthread_mutex_lock(&r->lock);
    rc = store_for_each_domain(&r->store, load_one, r);
    /* Monitors that ended while xenod was down: record and apply their policy now. */
    struct reg_domain *restart[256];
    size_t nrestart = 0;
    for (struct reg_domain *d = r->domains, *next; d; d = next) {
        next = d->next;
        if (!d->lost_pid)
            continue;
        int pid = d->lost_pid;
        d->lost_pid = 0;
        if (reg_monitor_ended(r, d, pid) && nrestart < 256) {
            d->refs++;
            restart[nrestart++] = d;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nrestart; i++) {
        if (reg_start(r, restart[i], 0) < 0)
            log_error("%s", err_msg());
        reg_put(r, restart[i]);
    }
    int e = pthread_create(&r->supervisor, NULL, reg_supervisor_main, r);
    if (e)
        return err_set(e, "starting the supervisor: %s", strerror(e));
    return 0;
}

struct reg_detaching {
    char uuid[DOMAIN_UUID_LEN + 1];
    struct reg_detaching *next;
};

int reg_detach_begin_locked(struct registry *r, const char *uuid)
{
    struct reg_detaching *e = calloc(1, sizeof(*e));
    if (!e) {
        log_error("domain %s: out of memory to note its detach (a restore right now could lose its disks)", uuid);
        return -ENOMEM;
    }
    snprintf(e->uuid, sizeof(e->uuid), "%s", uuid);
    e->next = r->detaching;
    r->detaching = e;
    return 0;
}

void reg_detach_end_locked(struct registry *r, const char *uuid)
{
    for (struct reg_detaching **p = &r->detaching; *p; p = &(*p)->next)
        if (strcmp((*p)->uuid, uuid) == 0) {
            struct reg_detaching *e = *p;
            *p = e->next;
            free(e);
            break;
        }
    pthread_cond_broadcast(&r->changed);
}

int reg_detaching_locked(const struct registry *r, const char *uuid)
{
    for (const struct reg_detaching *e = r->detaching; e; e = e->next)
        if (strcmp(e->uuid, uuid) == 0)
            return 1;
    return 0;
}

void reg_close(struct registry *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_mutex_unlock(&r->lock);
    reg_wake_supervisor(r);
    pthread_join(r->supervisor, NULL);
    netback_sup_close(r->netback); /* the backend itself keeps running, as the monitors do */
    r->netback = NULL;
    backend_sup_close(r->blkback); /* so does the disk backend */
    r->blkback = NULL;
    while (r->domains) {
        struct reg_domain *d = r->domains;
        r->domains = d->next;
        if (d->mon)
            monitor_close(d->mon); /* the monitor itself keeps running */
        domain_free(d);
    }
    while (r->detaching) { /* the supervisor was joined: none is under way */
        struct reg_detaching *e = r->detaching;
        r->detaching = e->next;
        free(e);
    }
    reg_disks_close(r);
    store_close(&r->store);
    close(r->wake_fd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->changed);
    pthread_cond_destroy(&r->event_added);
}
