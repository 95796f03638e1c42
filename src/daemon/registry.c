#include "daemon/registry.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
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

#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/log.h"
#include "daemon/net_port.h"
#include "daemon/migrate_host.h"
#include "proto/migrate_proto.h"
#include "proto/snapshot.h"

#define REQUEST_TIMEOUT_MS 5000
#define DESTROY_GRACE_MS 3000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_dir(struct registry *r, const struct domain *d, char *out, size_t size)
{
    snprintf(out, size, "%s/run/%s", r->state_dir, d->cfg.uuid);
}

static void wake_supervisor(struct registry *r)
{
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("waking the supervisor: %s", strerror(errno));
}

/* Records an event in the store and the log. Caller holds r->lock. */
static void event(struct registry *r, struct domain *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void event(struct registry *r, struct domain *d, const char *kind, const char *fmt, ...)
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
}

static void persist_runtime(struct registry *r, struct domain *d)
{
    struct store_runtime rt = {.domid = d->domid, .pid = d->mon ? d->mon->pid : 0, .started_at = d->started_at};
    snprintf(rt.state, sizeof(rt.state), "%s", d->mon ? "running" : d->state);
    if (store_set_runtime(&r->store, d->cfg.uuid, &rt) < 0)
        log_error("%s", err_msg());
}

static void domain_free(struct domain *d)
{
    domain_config_free(&d->cfg);
    free(d->xml);
    free(d->source);
    pthread_mutex_destroy(&d->op_lock);
    free(d);
}

/* Caller holds r->lock. */
static void unlink_domain(struct registry *r, struct domain *d)
{
    for (struct domain **p = &r->domains; *p; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            break;
        }
    }
    d->gone = 1;
    if (d->refs == 0)
        domain_free(d);
}

void reg_put(struct registry *r, struct domain *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&r->lock);
    if (--d->refs == 0 && d->gone)
        domain_free(d);
    pthread_mutex_unlock(&r->lock);
}

/* A monitor handle for a request, safe against the supervisor detaching it meanwhile. */
static struct monitor *grab_monitor(struct registry *r, struct domain *d)
{
    pthread_mutex_lock(&r->lock);
    struct monitor *m = d->mon;
    if (m)
        m->users++;
    pthread_mutex_unlock(&r->lock);
    return m;
}

static void release_monitor(struct registry *r, struct monitor *m)
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

int reg_lookup(struct registry *r, const char *ref, struct domain **out)
{
    int id = is_number(ref) ? atoi(ref) : -1;
    pthread_mutex_lock(&r->lock);
    for (struct domain *d = r->domains; d; d = d->next) {
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
static struct domain *add_domain(struct registry *r, const struct domain_config *cfg, const char *xml,
                                 const char *source, int persistent)
{
    struct domain *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->cfg.kernel = strdup(cfg->kernel);
    d->cfg.initrd = cfg->initrd ? strdup(cfg->initrd) : NULL;
    d->cfg.cmdline = cfg->cmdline ? strdup(cfg->cmdline) : NULL;
    d->xml = strdup(xml ? xml : "");
    d->source = strdup(source ? source : "<api>");
    d->persistent = persistent;
    snprintf(d->state, sizeof(d->state), "shutdown");
    pthread_mutex_init(&d->op_lock, NULL);
    d->sched = cfg->sched;
    d->net_in = cfg->net.inbound;
    d->net_out = cfg->net.outbound;
    if (!d->cfg.kernel || !d->xml || !d->source) {
        domain_free(d);
        return NULL;
    }
    /* Keep definition order, as `list` shows it. */
    struct domain **p = &r->domains;
    while (*p)
        p = &(*p)->next;
    *p = d;
    return d;
}

/* Removes a domain's run directory, console logs included. Caller holds r->lock. */
static void remove_run_dir(struct registry *r, struct domain *d)
{
    char dir[PATH_MAX + 64], path[PATH_MAX + 96];
    static const char *const logs[] = {"console.log", "console.log.1", "vmm.log"};
    run_dir(r, d, dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, logs[i]);
        unlink(path);
    }
    monitor_clean_run_dir(dir);
    rmdir(dir);
}

/* The monitor of `d` has ended (or was found dead at start-up). Records what happened and
 * applies the lifecycle policy. Caller holds r->lock; returns 1 if d must be restarted. */
static int monitor_ended(struct registry *r, struct domain *d, int pid)
{
    char dir[PATH_MAX + 64], outcome[512] = "";
    run_dir(r, d, dir, sizeof(dir));
    int have = monitor_read_outcome(dir, outcome, sizeof(outcome)) == 0;
    char *reason = strchr(outcome, ' ');
    if (reason)
        *reason++ = 0;
    int crashed = 0, restart = 0;

    if (d->destroying) {
        event(r, d, "destroyed", NULL);
    } else if (!have) {
        /* No outcome: killed outright (SIGKILL, OOM) or it crashed itself. */
        event(r, d, "monitor-died", "the monitor (pid %d) ended without saying why", pid);
        crashed = 1;
    } else if (strcmp(outcome, "poweroff") == 0 || strcmp(outcome, "reboot") == 0 ||
               strcmp(outcome, "destroyed") == 0 || strcmp(outcome, "signal") == 0 ||
               strcmp(outcome, "saved") == 0 || strcmp(outcome, "migrated") == 0) {
        event(r, d, outcome, "%s", reason ? reason : "");
    } else {
        event(r, d, "crash", "%s%s%s", outcome, reason ? ": " : "", reason ? reason : "");
        crashed = 1;
    }
    monitor_clean_run_dir(dir);
    d->domid = 0;
    d->started_at = 0;
    snprintf(d->state, sizeof(d->state), "%s", crashed ? "crashed" : "shutdown");
    if (crashed && !d->destroying) {
        /* The monitor applies on_crash to guest crashes itself; a monitor that died could not. */
        event(r, d, "on_crash", "%s", lifecycle_action_name(d->cfg.on_crash));
        if (d->cfg.on_crash == ACTION_RESTART)
            restart = 1;
    }
    int keep = d->persistent || restart || (crashed && !d->destroying && d->cfg.on_crash == ACTION_PRESERVE);
    d->destroying = 0;
    if (!keep) {
        /* A transient domain is gone once it stops for good: nothing to start again. */
        store_remove_domain(&r->store, d->cfg.uuid);
        log_info("domain %s: transient, forgotten", d->cfg.name);
        remove_run_dir(r, d);
        unlink_domain(r, d);
        return 0;
    }
    persist_runtime(r, d);
    return restart;
}

/* ---- CPU reservations (docs/scheduling.md) ---- */

/* What the domains that run (or start) other than `except` have reserved, with "name 30%, ..."
 * in holders. Caller holds r->lock. */
static uint64_t reservations_held(struct registry *r, const struct domain *except, char *holders, size_t size)
{
    uint64_t held = 0;
    size_t n = 0;
    holders[0] = 0;
    for (struct domain *o = r->domains; o; o = o->next) {
        if (o == except || o->gone || !(o->mon || o->starting) || !o->sched.reservation_ppm)
            continue;
        held += o->sched.reservation_ppm;
        if (n < size)
            n += (size_t)snprintf(holders + n, size - n, "%s%s %s", n ? ", " : "", o->cfg.name,
                                  SCHED_PCT(o->sched.reservation_ppm));
    }
    return held;
}

/* Admission control: may d hold a reservation of `want` now? 0, or -ENOSPC / -EINVAL with
 * the reason and what would fit. Caller holds r->lock. */
static int admit_locked(struct registry *r, struct domain *d, uint32_t want)
{
    char holders[1024], why[1600];
    uint64_t held = reservations_held(r, d, holders, sizeof(holders));
    int rc = sched_admit(&r->cpu, held, holders, d->cfg.name, want, d->cfg.vcpus, why, sizeof(why));
    return rc < 0 ? err_set(-rc, "%s", why) : 0;
}

/* Detaches and closes a finished monitor. Caller holds r->lock. */
static void detach_monitor(struct domain *d)
{
    struct monitor *m = d->mon;
    d->mon = NULL;
    if (m->users)
        m->orphaned = 1;
    else
        monitor_close(m);
}

/* ---- the network backend (netback_sup.h, net_port.h) ---- */

#define NET_REQUEST_TIMEOUT_MS 5000

static void on_netback_event(void *ctx, const char *kind, const char *detail)
{
    struct registry *r = ctx;
    pthread_mutex_lock(&r->lock);
    if (store_add_event(&r->store, "", "(host)", kind, detail) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
}

/* An audit event from the backend: recorded against the domain it names (by the port's
 * domain= label, which is the domain's name), or the host if that domain is gone. */
static void on_audit_event(void *ctx, const char *line)
{
    struct registry *r = ctx;
    char name[DOMAIN_NAME_MAX + 1] = "", kind[64] = "audit";
    const char *p = strstr(line, "domain=");
    if (p)
        sscanf(p + 7, "%63[^ ]", name);
    if ((p = strstr(line, " kind=")))
        snprintf(kind, sizeof(kind), "audit-%.*s", (int)strcspn(p + 6, " "), p + 6);
    pthread_mutex_lock(&r->lock);
    struct domain *d = NULL;
    for (struct domain *o = r->domains; o && name[0]; o = o->next)
        if (!o->gone && strcmp(o->cfg.name, name) == 0)
            d = o;
    if (d)
        event(r, d, kind, "%s", line);
    else if (store_add_event(&r->store, "", "(host)", kind, line) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
}

/* The backend, started if none runs yet. Never called with r->lock held (it may wait for
 * the backend to come up, and its events take r->lock). */
static int ensure_netback(struct registry *r)
{
    int rc = 0;
    pthread_mutex_lock(&r->net_lock);
    if (!r->netback) {
        struct netback_sup_opts o = {.path = r->net_path,
                                     .state_dir = r->net_dir,
                                     .uplink = r->net_uplink[0] ? r->net_uplink : NULL,
                                     .capacity_kib = r->net_capacity_kib,
                                     .audit = r->net_audit,
                                     .audit_rules = r->net_audit_rules[0] ? r->net_audit_rules : NULL,
                                     .audit_key = r->net_audit_key[0] ? r->net_audit_key : NULL,
                                     .ipfix = r->net_ipfix[0] ? r->net_ipfix : NULL,
                                     .on_event = on_netback_event,
                                     .on_audit = on_audit_event,
                                     .ctx = r};
        rc = netback_sup_open(&r->netback, &o);
    }
    pthread_mutex_unlock(&r->net_lock);
    return rc;
}

int reg_set_network(struct registry *r, const char *netback_path, const char *uplink, uint64_t capacity_kib)
{
    snprintf(r->net_path, sizeof(r->net_path), "%s", netback_path);
    snprintf(r->net_dir, sizeof(r->net_dir), "%s/netback", r->state_dir);
    snprintf(r->net_uplink, sizeof(r->net_uplink), "%s", uplink ? uplink : "");
    r->net_capacity_kib = capacity_kib;
    /* A backend an earlier xenod started serves running domains: supervise it again now.
     * With an uplink or the audit asked for, the network is this host's business from the
     * start (the tap exists, the flow log is open) even before a domain has an interface. */
    char pid_path[PATH_MAX + 32];
    snprintf(pid_path, sizeof(pid_path), "%s/pid", r->net_dir);
    return access(pid_path, F_OK) == 0 || r->net_uplink[0] || r->net_audit ? ensure_netback(r) : 0;
}

/* Gives the backend the domain's port (again: a stale one of the same name goes first). */
static int net_port_attach(struct registry *r, const struct domain_config *c, const char *dir)
{
    char sock[PATH_MAX + 32], line[2048], name[NET_PORT_NAME_SIZE];
    int rc = ensure_netback(r);
    if (rc < 0)
        return rc;
    net_port_socket(c, dir, sock, sizeof(sock));
    net_port_name(c, name);
    snprintf(line, sizeof(line), "port-del %s", name);
    netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS);
    if ((rc = net_port_add_line(c, sock, line, sizeof(line))) < 0)
        return rc;
    return netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS);
}

static void net_port_detach(struct registry *r, const char *port)
{
    char line[64];
    snprintf(line, sizeof(line), "port-del %s", port);
    if (r->netback && netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS) < 0)
        log_warn("%s", err_msg());
}

int reg_net_qos(struct registry *r, struct domain *d, const struct domain_bandwidth *in,
                const struct domain_bandwidth *out)
{
    char name[NET_PORT_NAME_SIZE], words[512], line[768];
    if (!d->cfg.net.present)
        return err_set(ENODEV, "domain '%s' has no network interface", d->cfg.name);
    int rc = net_port_qos_words(in, out, words, sizeof(words));
    if (rc < 0)
        return rc;
    net_port_name(&d->cfg, name);
    pthread_mutex_lock(&r->lock);
    int running = d->mon != NULL;
    pthread_mutex_unlock(&r->lock);
    if (running) {
        /* Fields left out go back to no limit: the request says the whole setting. */
        snprintf(line, sizeof(line), "port-qos %s in-average=0 in-peak=0 in-burst=0 out-average=0 out-peak=0 "
                                     "out-burst=0 floor=0 %s", name, words);
        if ((rc = ensure_netback(r)) < 0 || (rc = netback_sup_request(r->netback, line, NULL, 0,
                                                                      NET_REQUEST_TIMEOUT_MS)) < 0) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            return err_set(rc == -EIO ? EINVAL : -rc, "domain '%s': %s", d->cfg.name, msg);
        }
    }
    pthread_mutex_lock(&r->lock);
    d->net_in = *in;
    d->net_out = *out;
    event(r, d, "net-qos", "%s%s", words[0] ? words : "no limits", running ? "" : " (from the next start)");
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* How a monitor starts: a boot of the domain's kernel (all zero), a resume of a snapshot, or
 * the destination of a live migration. */
struct start_how {
    int paused;
    const char *restore_file;
    const char *migrate_listen; /* ADDR:0: the monitor listens there for the source monitor */
    const char *migrate_key;
    /* Incoming: called once the monitor listens, with its port (the source may go ahead);
     * a negative return abandons the start. */
    int (*on_listening)(void *ctx, int port);
    void *ctx;
    const char *peer; /* incoming: the source host, for the event */
};

#define INCOMING_LISTEN_TIMEOUT_MS 10000
#define INCOMING_READY_TIMEOUT_MS (30 * 60 * 1000)

/* An incoming monitor's port: it writes RUN_DIR/migrate-port once it listens. */
static int wait_incoming_port(struct monitor *m, int *port)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/migrate-port", m->run_dir);
    for (int waited = 0; waited < INCOMING_LISTEN_TIMEOUT_MS; waited += 10) {
        FILE *f = fopen(path, "re");
        if (f) {
            int ok = fscanf(f, "%d", port) == 1 && *port > 0 && *port < 65536;
            fclose(f);
            if (ok)
                return 0;
        }
        struct pollfd p = {m->pidfd, POLLIN, 0};
        if (poll(&p, 1, 10) > 0)
            return err_set(EIO, "the receiving monitor exited before it listened (see %s/vmm.log)", m->run_dir);
    }
    return err_set(ETIMEDOUT, "the receiving monitor did not listen within %d s", INCOMING_LISTEN_TIMEOUT_MS / 1000);
}

/* Starts d's monitor as `how` says. Admission control first; the event says which. */
static int start_monitor(struct registry *r, struct domain *d, const struct start_how *how)
{
    int paused = how->paused;
    const char *restore_file = how->restore_file;
    char dir[PATH_MAX + 64];
    struct monitor *m;
    int r_;

    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    if (d->gone || d->mon || d->starting) {
        r_ = err_set(d->gone ? ENOENT : EBUSY, "domain '%s' is %s", d->cfg.name,
                     d->gone ? "no longer defined" : "already running");
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return r_;
    }
    /* Its reservation is held from here on (starting counts), so two starts cannot both
     * take the last free share. */
    if ((r_ = admit_locked(r, d, d->sched.reservation_ppm)) < 0) {
        char msg[1600];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        event(r, d, "start-failed", "%s", msg);
        err_set(-r_, "%s", msg);
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return r_;
    }
    d->starting = 1;
    struct sched_params sched = d->sched;
    run_dir(r, d, dir, sizeof(dir));
    pthread_mutex_unlock(&r->lock);

    /* Spawning waits for the monitor to listen: do it without the registry lock. The XML
     * goes with the monitor so that its snapshots carry the definition (reg_restore). */
    char *xml = NULL, net_arg[PATH_MAX + 64] = "", sock[PATH_MAX + 32];
    size_t xml_len;
    r_ = domain_xml_canonical(d->xml, strlen(d->xml), &d->cfg, &xml, &xml_len);
    if (r_ == 0 && d->cfg.net.present) {
        /* The backend first: it connects to the monitor's socket as soon as that listens. */
        struct domain_config c = d->cfg;
        c.net.inbound = d->net_in;
        c.net.outbound = d->net_out;
        net_port_socket(&c, dir, sock, sizeof(sock));
        if ((r_ = net_port_monitor_arg(&c, sock, net_arg, sizeof(net_arg))) == 0)
            r_ = net_port_attach(r, &c, dir);
    }
    if (r_ == 0) {
        struct monitor_spawn_args a = {.vmm_path = r->vmm_path,
                                       .run_dir = dir,
                                       .cfg = &d->cfg,
                                       .paused = paused,
                                       .sched = &sched,
                                       .domain_xml = xml,
                                       .restore_file = restore_file,
                                       .net = net_arg[0] ? net_arg : NULL,
                                       .migrate_incoming = how->migrate_listen,
                                       .migrate_key = how->migrate_key,
                                       .no_wait = how->migrate_listen != NULL};
        r_ = monitor_spawn(&m, &a);
        if (r_ == 0 && how->migrate_listen) {
            /* Tell the source where to send, then wait for the domain to arrive and run. */
            int port = 0;
            if ((r_ = wait_incoming_port(m, &port)) == 0)
                r_ = how->on_listening(how->ctx, port);
            if (r_ == 0)
                r_ = monitor_wait_ready(m, INCOMING_READY_TIMEOUT_MS); /* frees m on failure */
            else {
                kill(m->pid, SIGKILL);
                monitor_close(m);
            }
        }
        if (r_ < 0 && net_arg[0]) {
            char port[NET_PORT_NAME_SIZE], msg[1024];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            net_port_name(&d->cfg, port);
            net_port_detach(r, port);
            err_set(-r_, "%s", msg);
        }
    }
    free(xml);

    pthread_mutex_lock(&r->lock);
    d->starting = 0;
    if (r_ < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        event(r, d, "start-failed", "%s", msg);
        err_set(-r_, "domain '%s': %s", d->cfg.name, msg);
    } else {
        int id = 0;
        store_next_domid(&r->store, &id);
        d->mon = m;
        d->domid = id;
        d->started_at = now_s();
        persist_runtime(r, d);
        if (how->migrate_listen)
            event(r, d, "migrated-in", "from %s: id %d, monitor pid %d", how->peer, id, m->pid);
        else if (restore_file)
            event(r, d, "restored", "from %s: id %d, monitor pid %d%s", restore_file, id, m->pid,
                  paused ? ", paused" : "");
        else
            event(r, d, "started", "id %d, monitor pid %d%s", id, m->pid, paused ? ", paused" : "");
        pthread_cond_broadcast(&r->changed);
        wake_supervisor(r);
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return r_;
}

int reg_start(struct registry *r, struct domain *d, int paused)
{
    struct start_how how = {.paused = paused};
    return start_monitor(r, d, &how);
}

int reg_define(struct registry *r, const char *xml, size_t len, const char *source, int persistent, int start,
               int paused, struct domain **out)
{
    struct domain_config cfg;
    int rc = domain_xml_parse(xml, len, source ? source : "<api>", NULL, &cfg);
    *out = NULL;
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        /* Whatever the parser's errno (a missing kernel is ENOENT), the request was bad. */
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(EBADMSG, "%s", msg);
    }
    /* A reservation this host can never give is refused now, not at every start. */
    char why[1024];
    if (sched_admit(&r->cpu, 0, "", cfg.name, cfg.sched.reservation_ppm, cfg.vcpus, why, sizeof(why)) < 0) {
        rc = err_set(EBADMSG, "%s: <xeno:cpu>: %s", source ? source : "<api>", why);
        domain_config_free(&cfg);
        return rc;
    }
    pthread_mutex_lock(&r->lock);
    rc = store_add_domain(&r->store, &cfg, xml, source ? source : "<api>", persistent);
    if (rc == 0 && (rc = store_set_sched(&r->store, cfg.uuid, &cfg.sched)) < 0)
        store_remove_domain(&r->store, cfg.uuid); /* all or nothing */
    struct domain *d = NULL;
    if (rc == 0) {
        d = add_domain(r, &cfg, xml, source, persistent);
        if (!d) {
            store_remove_domain(&r->store, cfg.uuid);
            rc = err_set(ENOMEM, "out of memory");
        } else {
            d->refs++;
            event(r, d, "defined", "%s (%s)", source ? source : "<api>", persistent ? "persistent" : "transient");
        }
    }
    pthread_mutex_unlock(&r->lock);
    domain_config_free(&cfg);
    if (rc < 0)
        return rc;
    if (start && (rc = reg_start(r, d, paused)) < 0) {
        if (!persistent) {
            /* A create that cannot start leaves nothing behind. */
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_lock(&r->lock);
            store_remove_domain(&r->store, d->cfg.uuid);
            unlink_domain(r, d);
            pthread_mutex_unlock(&r->lock);
            reg_put(r, d);
            return err_set(-rc, "%s", msg);
        }
        reg_put(r, d);
        return rc;
    }
    *out = d;
    return 0;
}

int reg_request(struct registry *r, struct domain *d, const char *verb)
{
    char reply[512];
    struct monitor *m = grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running (start it first)", d->cfg.name);
    int rc = monitor_request(m, verb, reply, sizeof(reply), REQUEST_TIMEOUT_MS);
    if (rc == 0) {
        static const struct {
            const char *verb, *kind;
        } kinds[] = {{"pause", "paused"},
                     {"unpause", "unpaused"},
                     {"shutdown", "shutdown-requested"},
                     {"reboot", "reboot-requested"},
                     {"reset", "reset"}};
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            if (strcmp(kinds[i].verb, verb) == 0)
                event(r, d, kinds[i].kind, NULL);
        pthread_mutex_unlock(&r->lock);
    } else {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        rc = err_set(-rc, "domain '%s': %s", d->cfg.name, msg);
    }
    release_monitor(r, m);
    return rc;
}

int reg_mem_set(struct registry *r, struct domain *d, uint64_t target_bytes, uint64_t deadline_ms)
{
    char line[96], reply[512];
    if (deadline_ms > 365ULL * 24 * 3600 * 1000)
        return err_set(EINVAL, "memory deadline %llu ms: at most a year", (unsigned long long)deadline_ms);
    if (target_bytes < DOMAIN_MEMORY_MIN || target_bytes > d->cfg.memory_bytes || target_bytes % 4096)
        return err_set(EINVAL, "memory target %llu bytes for '%s': must be a multiple of 4 KiB from %llu MiB up to its "
                               "memory, %llu MiB",
                       (unsigned long long)target_bytes, d->cfg.name, (unsigned long long)(DOMAIN_MEMORY_MIN >> 20),
                       (unsigned long long)(d->cfg.memory_bytes >> 20));
    struct monitor *m = grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running (start it first)", d->cfg.name);
    snprintf(line, sizeof(line), "mem-set %llu %llu", (unsigned long long)target_bytes,
             (unsigned long long)deadline_ms);
    int rc = monitor_request(m, line, reply, sizeof(reply), REQUEST_TIMEOUT_MS);
    pthread_mutex_lock(&r->lock);
    if (rc == 0)
        event(r, d, "mem-set", "target %llu bytes (%llu pages), deadline %llu ms", (unsigned long long)target_bytes,
              (unsigned long long)(target_bytes / 4096), (unsigned long long)deadline_ms);
    pthread_mutex_unlock(&r->lock);
    release_monitor(r, m);
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(-rc, "domain '%s': %s", d->cfg.name, msg);
    }
    return 0;
}

#define SAVE_TIMEOUT_MS 120000 /* writing a large guest's memory takes its time */
#define MIGRATE_TIMEOUT_MS (30 * 60 * 1000) /* pre-copy of a large, busy guest over a slow link */

int reg_save(struct registry *r, struct domain *d, const char *path, int keep_running, int shrink)
{
    char line[PATH_MAX + 32], reply[512];
    if (path[0] != '/' || strpbrk(path, " \t\r\n") || strlen(path) >= PATH_MAX)
        return err_set(EINVAL, "snapshot path '%s': give an absolute path without blanks", path);
    struct monitor *m = grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running (start it first)", d->cfg.name);
    snprintf(line, sizeof(line), "save %s%s%s", path, keep_running ? " keep-running" : "", shrink ? " shrink" : "");
    int rc = monitor_request(m, line, reply, sizeof(reply), SAVE_TIMEOUT_MS);
    /* A save that stops the domain is recorded when the monitor ends, from its outcome. */
    pthread_mutex_lock(&r->lock);
    if (rc == 0 && keep_running)
        event(r, d, "saved", "%s (%s), still running", path, reply[2] ? reply + 3 : "");
    pthread_mutex_unlock(&r->lock);
    release_monitor(r, m);
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(-rc, "domain '%s': %s", d->cfg.name, msg);
    }
    /* Without keep-running the monitor ends now: answer once it has. */
    return keep_running ? 0 : reg_wait_stopped(r, d, 10000);
}

/* The domain a snapshot belongs to here: the one with its UUID if defined and stopped, else a
 * new transient one (as libvirt's restore of an undefined domain). Caller holds r->lock. */
static int restore_target(struct registry *r, const struct domain_config *cfg, const char *xml, const char *path,
                          int persistent, struct domain **out, int *created)
{
    *out = NULL;
    *created = 0;
    for (struct domain *o = r->domains; o; o = o->next) {
        if (o->gone)
            continue;
        int same_uuid = strcmp(o->cfg.uuid, cfg->uuid) == 0;
        if (same_uuid && (o->mon || o->starting))
            return err_set(EBUSY, "domain '%s' (%s) from %s is running here; restore a copy with --name NEW",
                           o->cfg.name, o->cfg.uuid, path);
        if (same_uuid && (o->cfg.memory_bytes != cfg->memory_bytes || o->cfg.vcpus != cfg->vcpus))
            return err_set(EINVAL,
                           "%s: domain '%s' is defined here with %llu bytes and %u vCPUs, the incoming one "
                           "has %llu bytes and %u vCPUs",
                           path, o->cfg.name, (unsigned long long)o->cfg.memory_bytes, o->cfg.vcpus,
                           (unsigned long long)cfg->memory_bytes, cfg->vcpus);
        if (same_uuid) {
            *out = o;
            o->refs++;
            return 0;
        }
        if (strcmp(o->cfg.name, cfg->name) == 0)
            return err_set(EEXIST, "%s: a domain named '%s' with another UUID exists here",
                           path, cfg->name);
    }
    int rc = store_add_domain(&r->store, cfg, xml, path, persistent);
    if (rc == 0 && (rc = store_set_sched(&r->store, cfg->uuid, &cfg->sched)) < 0)
        store_remove_domain(&r->store, cfg->uuid);
    if (rc < 0)
        return rc;
    struct domain *d = add_domain(r, cfg, xml, path, persistent);
    if (!d) {
        store_remove_domain(&r->store, cfg->uuid);
        return err_set(ENOMEM, "out of memory");
    }
    d->refs++;
    event(r, d, "defined", "from %s (%s)", path, persistent ? "persistent" : "transient");
    *out = d;
    *created = 1;
    return 0;
}

int reg_restore(struct registry *r, const char *path, const char *new_name, int paused, struct domain **out)
{
    struct snap_info info;
    struct domain_config cfg;
    char *xml = NULL, *renamed = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (path[0] != '/' || strpbrk(path, " \t\r\n") || strlen(path) >= PATH_MAX)
        return err_set(EINVAL, "snapshot path '%s': give an absolute path without blanks", path);
    if (new_name && !domain_name_valid(new_name))
        return err_set(EINVAL, "--name '%s': use letters, digits, '_', '.' and '-' (not all digits, at most %d)",
                       new_name, DOMAIN_NAME_MAX);
    /* The whole file is checked here first, so a bad one is refused with nothing defined. */
    if ((rc = snapshot_inspect(path, &info, &xml, &len)) < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(rc == -ENOMEM ? ENOMEM : EBADMSG, "%s", msg); /* a bad request, whatever the file's fault */
    }
    if (!xml)
        return err_set(EBADMSG,
                       "snapshot %s holds no domain definition (its monitor was not started by xenod); resume it "
                       "with xeno-vmm --restore",
                       path);
    rc = domain_xml_parse(xml, len, path, NULL, &cfg);
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        free(xml);
        return err_set(rc == -ENOMEM ? ENOMEM : EBADMSG, "snapshot %s: its domain definition: %s", path, msg);
    }
    if (cfg.memory_bytes != info.mem_bytes || cfg.vcpus != info.nvcpus) {
        rc = err_set(EBADMSG, "snapshot %s: its definition says %llu bytes and %u vCPUs, its state %llu and %u", path,
                     (unsigned long long)cfg.memory_bytes, cfg.vcpus, (unsigned long long)info.mem_bytes,
                     info.nvcpus);
        goto out;
    }
    if (new_name) {
        /* A copy: its own name and identity, so it can run beside the original. */
        snprintf(cfg.name, sizeof(cfg.name), "%s", new_name);
        if ((rc = domain_uuid_generate(cfg.uuid)) < 0) {
            rc = err_set(-rc, "cannot generate a UUID: %s", strerror(-rc));
            goto out;
        }
    }
    /* What is stored is the definition with this identity, ready for the next snapshot. */
    size_t renamed_len;
    if ((rc = domain_xml_canonical(xml, len, &cfg, &renamed, &renamed_len)) < 0)
        goto out;

    struct domain *d;
    int created;
    pthread_mutex_lock(&r->lock);
    rc = restore_target(r, &cfg, renamed, path, 0, &d, &created);
    pthread_mutex_unlock(&r->lock);
    if (rc < 0)
        goto out;
    struct start_how how = {.paused = paused, .restore_file = path};
    if ((rc = start_monitor(r, d, &how)) < 0) {
        if (created) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_lock(&r->lock);
            store_remove_domain(&r->store, d->cfg.uuid);
            unlink_domain(r, d);
            pthread_mutex_unlock(&r->lock);
            err_set(-rc, "%s", msg);
        }
        reg_put(r, d);
        goto out;
    }
    *out = d;
out:
    free(xml);
    free(renamed);
    domain_config_free(&cfg);
    return rc;
}

/* ---- live migration between hosts (migrate_host.h) ---- */

int reg_migrate_in(struct registry *r, const char *offer, size_t len, const char *console, size_t console_len,
                   const char *peer, const char *listen, const char *key_path, int (*on_listening)(void *, int),
                   void *ctx)
{
    char source[256], dir[PATH_MAX + 64];
    struct domain_config cfg;
    json_error_t jerr;
    (void)len;
    snprintf(source, sizeof(source), "<migration from %s>", peer);
    json_t *j = json_loads(offer, 0, &jerr);
    json_t *xml = json_object_get(j, "xml");
    if (!json_is_string(xml)) {
        json_decref(j);
        return err_set(EPROTO, "%s: an offer without a domain definition", source);
    }
    int persistent = json_is_true(json_object_get(j, "persistent"));
    int rc = domain_xml_parse(json_string_value(xml), json_string_length(xml), source, NULL, &cfg);
    if (rc < 0) {
        json_decref(j);
        return rc;
    }
    struct domain *d;
    int created;
    pthread_mutex_lock(&r->lock);
    rc = restore_target(r, &cfg, json_string_value(xml), source, persistent, &d, &created);
    if (rc == 0)
        run_dir(r, d, dir, sizeof(dir));
    pthread_mutex_unlock(&r->lock);
    json_decref(j);
    domain_config_free(&cfg);
    if (rc < 0)
        return rc;
    /* The console history comes along: `xenctl console --dump` here shows what it printed
     * there, and the monitor appends to it. */
    if (console_len && mkdir(dir, 0700) < 0 && errno != EEXIST)
        log_warn("run directory %s: %s", dir, strerror(errno));
    if (console_len) {
        char path[PATH_MAX + 96];
        snprintf(path, sizeof(path), "%s/console.log", dir);
        FILE *f = fopen(path, "ae");
        if (f) {
            fwrite(console, 1, console_len, f);
            fclose(f);
        }
    }
    struct start_how how = {.migrate_listen = listen,
                            .migrate_key = key_path,
                            .on_listening = on_listening,
                            .ctx = ctx,
                            .peer = peer};
    rc = start_monitor(r, d, &how);
    if (rc < 0 && created) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        pthread_mutex_lock(&r->lock);
        event(r, d, "migrate-in-failed", "from %s: %s", peer, msg);
        store_remove_domain(&r->store, d->cfg.uuid);
        remove_run_dir(r, d);
        unlink_domain(r, d);
        pthread_mutex_unlock(&r->lock);
        err_set(-rc, "%s", msg);
    }
    reg_put(r, d);
    return rc;
}

int reg_migrate(struct registry *r, struct domain *d, const char *hostport, const struct reg_migrate_opts *o,
                char *result, size_t size)
{
    char host[128], port_s[16], line[PATH_MAX + 256], reply[512], dir[PATH_MAX + 64], path[PATH_MAX + 96];
    if (!r->migrate_key[0])
        return err_set(EINVAL, "xenod runs without --migrate-key: it cannot authenticate to another host");
    if (mig_split_hostport(hostport, host, sizeof(host), port_s, sizeof(port_s)) < 0)
        return -EINVAL;
    struct monitor *m = grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running", d->cfg.name);

    /* The offer: the definition as it travels (name, UUID, sponsor, absolute paths). */
    char *xml = NULL, *console = NULL;
    size_t xml_len, console_len = 0;
    int rc = domain_xml_canonical(d->xml, strlen(d->xml), &d->cfg, &xml, &xml_len);
    json_t *offer = rc == 0 ? json_pack("{s:s, s:b}", "xml", xml, "persistent", d->persistent) : NULL;
    char *offer_text = offer ? json_dumps(offer, JSON_COMPACT) : NULL;
    json_decref(offer);
    free(xml);
    pthread_mutex_lock(&r->lock);
    run_dir(r, d, dir, sizeof(dir));
    snprintf(d->migration, sizeof(d->migration), "offering to %s", hostport);
    pthread_mutex_unlock(&r->lock);
    snprintf(path, sizeof(path), "%s/console.log", dir);
    FILE *f = fopen(path, "re");
    if (f) {
        /* The last 64 KiB of the console log go along with it. */
        if (fseek(f, -(64 << 10), SEEK_END) < 0)
            rewind(f);
        console = malloc(64 << 10);
        console_len = console ? fread(console, 1, 64 << 10, f) : 0;
        fclose(f);
    }
    int port = 0;
    if (rc == 0 && !offer_text)
        rc = err_set(ENOMEM, "out of memory");
    if (rc == 0)
        rc = migrate_host_offer(hostport, r->migrate_key, offer_text, console ? console : "", console_len, &port);
    free(offer_text);
    free(console);
    if (rc == 0) {
        int n = snprintf(line, sizeof(line), "migrate %s:%d key=%s", host, port, r->migrate_key);
        if (o->bandwidth_mbps)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " bandwidth=%u", o->bandwidth_mbps);
        if (o->max_downtime_ms)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " max-downtime=%u", o->max_downtime_ms);
        if (!o->live)
            snprintf(line + n, sizeof(line) - (size_t)n, " max-rounds=0");
        rc = monitor_request(m, line, reply, sizeof(reply), MIGRATE_TIMEOUT_MS);
    }
    pthread_mutex_lock(&r->lock);
    d->migration[0] = 0;
    if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        event(r, d, "migrate-failed", "to %s: %s", hostport, msg);
        err_set(-rc, "domain '%s': migration to %s failed: %s", d->cfg.name, hostport, msg);
    } else {
        snprintf(result, size, "%s", reply[2] ? reply + 3 : "");
    }
    pthread_mutex_unlock(&r->lock);
    release_monitor(r, m);
    /* The monitor ends now (outcome `migrated`): answer once it has. */
    return rc < 0 ? rc : reg_wait_stopped(r, d, 10000);
}

int reg_wait_stopped(struct registry *r, struct domain *d, int timeout_ms)
{
    struct timespec deadline = deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    while (!d->gone && (d->mon || d->starting))
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == ETIMEDOUT) {
            rc = err_set(ETIMEDOUT, "domain '%s' is still running after %d s (the guest may refuse; "
                                    "xenctl destroy stops it at once)",
                         d->cfg.name, timeout_ms / 1000);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int reg_destroy(struct registry *r, struct domain *d)
{
    char reply[64];
    int rc = 0;
    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    struct monitor *m = d->mon;
    if (!m) {
        rc = err_set(EBUSY, "domain '%s' is not running", d->cfg.name);
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return rc;
    }
    d->destroying = 1;
    m->users++;
    int pid = m->pid;
    pthread_mutex_unlock(&r->lock);

    /* Ask first, so the monitor can write its outcome; kill it if it does not go. */
    if (monitor_request(m, "destroy", reply, sizeof(reply), DESTROY_GRACE_MS) < 0)
        log_warn("domain %s: destroy request: %s; killing the monitor", d->cfg.name, err_msg());
    release_monitor(r, m);
    if (reg_wait_stopped(r, d, DESTROY_GRACE_MS) < 0) {
        kill(pid, SIGKILL);
        rc = reg_wait_stopped(r, d, DESTROY_GRACE_MS);
    }
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

int reg_undefine(struct registry *r, struct domain *d)
{
    int rc = 0;
    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    if (d->gone) {
        rc = err_set(ENOENT, "domain '%s' is no longer defined", d->cfg.name);
    } else if (d->mon || d->starting) {
        rc = err_set(EBUSY, "domain '%s' is running; destroy it first", d->cfg.name);
    } else if ((rc = store_remove_domain(&r->store, d->cfg.uuid)) == 0) {
        event(r, d, "undefined", NULL);
        remove_run_dir(r, d);
        unlink_domain(r, d);
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

/* ---- JSON views (the API's data model) ---- */

static const char *live_state(struct domain *d, struct stats_page *st, int *have_stats)
{
    *have_stats = d->mon && monitor_read_stats(d->mon, st) == 0;
    if (d->starting)
        return "running";
    if (!d->mon)
        return d->state;
    /* A monitor that has not published its first sample yet is starting: running. */
    if (!*have_stats || st->state == DOM_STATE_NONE)
        return "running";
    const char *s = dom_state_name((enum dom_state)st->state);
    return s ? s : "running";
}

/* A guest-reported value, or null until the guest's balloon driver has reported it. */
static json_t *guest_value(uint64_t v)
{
    return v == STATS_PAGE_UNKNOWN ? json_null() : json_integer((json_int_t)v);
}

/* The accounting feed of a running domain (docs/control-interface.md): measured by the
 * monitor unless named guest_*, which the guest reports and nobody should bill on. */
static json_t *usage_json(const struct stats_page *st)
{
    static const char *const target_states[] = {"none", "pending", "met", "missed"};
    json_t *u = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I, s:I}", "memory_bytes",
                          (json_int_t)st->memory_bytes, "memory_target_bytes", (json_int_t)st->memory_target_bytes,
                          "balloon_target_bytes", (json_int_t)st->balloon_target_bytes, "balloon_bytes",
                          (json_int_t)st->balloon_bytes, "guest_resident_bytes", (json_int_t)st->guest_resident_bytes,
                          "monitor_rss_bytes", (json_int_t)st->monitor_rss_bytes, "exits", "io",
                          (json_int_t)st->exits_io, "mmio", (json_int_t)st->exits_mmio, "other",
                          (json_int_t)st->exits_other, "console_out_bytes", (json_int_t)st->console_out_bytes,
                          "console_in_bytes", (json_int_t)st->console_in_bytes, "virtio_errors",
                          (json_int_t)st->virtio_errors);
    if (!u)
        return json_null();
    json_object_set_new(u, "memory_target_state",
                        json_string(st->memory_target_state < 4 ? target_states[st->memory_target_state] : "?"));
    json_object_set_new(u, "guest_free_bytes", guest_value(st->guest_free_bytes));
    json_object_set_new(u, "guest_available_bytes", guest_value(st->guest_available_bytes));
    json_object_set_new(u, "guest_total_bytes", guest_value(st->guest_total_bytes));
    return u;
}

/* A share of one CPU in percent, or null for none (a limit of 0). */
static json_t *percent_json(uint32_t ppm, int zero_is_null)
{
    return ppm == 0 && zero_is_null ? json_null() : json_real((double)ppm / 10000.0);
}

/* The CPU scheduling settings (docs/api.md). */
static json_t *sched_json(const struct sched_params *p)
{
    json_t *o = json_pack("{s:o, s:o, s:I, s:I}", "reservation_percent", percent_json(p->reservation_ppm, 0),
                          "limit_percent", percent_json(p->limit_ppm, 1), "weight", (json_int_t)p->weight, "period_us",
                          (json_int_t)p->period_us);
    return o ? o : json_null();
}

/* The exact CPU time of a running domain, per vCPU (thread CPU clocks), and what the CPU
 * scheduler did: the accounting base for billing. */
static json_t *cpu_usage_json(const struct stats_page *st)
{
    static const char *const bands[] = {"slack", "reserved", "throttled"};
    json_t *vcpus = json_array();
    for (unsigned i = 0; i < st->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        json_array_append_new(vcpus, json_integer((json_int_t)st->vcpu_ns[i]));
    json_t *o = json_pack("{s:I, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total_ns", (json_int_t)st->cpu_ns,
                          "vcpu_ns", vcpus, "band", st->sched_band < 3 ? bands[st->sched_band] : "?", "reserved_ns",
                          (json_int_t)st->sched_reserved_ns, "throttled_ns", (json_int_t)st->sched_throttled_ns,
                          "throttles", (json_int_t)st->sched_throttles, "overrun_ns", (json_int_t)st->sched_overrun_ns,
                          "periods", (json_int_t)st->sched_periods, "sched_overhead_ns",
                          (json_int_t)st->sched_overhead_ns, "sched_changes", (json_int_t)st->sched_changes);
    return o ? o : json_null();
}

/* Caller holds r->lock. */
static json_t *domain_json_locked(struct registry *r, struct domain *d)
{
    struct stats_page st;
    int have_stats;
    char dir[PATH_MAX + 64], sock[PATH_MAX + 96];
    const char *state = live_state(d, &st, &have_stats);
    run_dir(r, d, dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/console.sock", dir);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:i, s:f, s:s, s:s?, s:s?, s:s, s:s, s:s}", "name",
                          d->cfg.name, "uuid", d->cfg.uuid, "sponsor", d->cfg.sponsor, "state", state, "persistent",
                          d->persistent, "memory_bytes", (json_int_t)d->cfg.memory_bytes, "current_memory_bytes",
                          (json_int_t)d->cfg.current_memory_bytes, "vcpus", (int)d->cfg.vcpus, "cpu_time_s",
                          have_stats ? (double)st.cpu_ns / 1e9 : 0.0, "kernel", d->cfg.kernel, "initrd",
                          d->cfg.initrd, "cmdline", d->cfg.cmdline, "on_poweroff",
                          lifecycle_action_name(d->cfg.on_poweroff), "on_reboot",
                          lifecycle_action_name(d->cfg.on_reboot), "on_crash", lifecycle_action_name(d->cfg.on_crash));
    if (!o)
        return NULL;
    int running = d->mon != NULL;
    json_object_set_new(o, "id", running ? json_integer(d->domid) : json_null());
    json_object_set_new(o, "pid", running ? json_integer(d->mon->pid) : json_null());
    json_object_set_new(o, "started_at", running ? json_real(d->started_at) : json_null());
    json_object_set_new(o, "console_socket", running ? json_string(sock) : json_null());
    json_object_set_new(o, "boots", json_integer(have_stats ? (json_int_t)st.boots : 0));
    json_object_set_new(o, "memory_enforcement", json_string(memory_enforcement_name(d->cfg.memory_enforcement)));
    if (have_stats)
        json_object_set_new(o, "usage", usage_json(&st));
    json_object_set_new(o, "sched", sched_json(&d->sched));
    if (d->migration[0])
        json_object_set_new(o, "migration", json_pack("{s:s}", "progress", d->migration));
    if (d->cfg.net.present) {
        char port[NET_PORT_NAME_SIZE];
        struct nb_stats_port np;
        net_port_name(&d->cfg, port);
        json_object_set_new(o, "net", running && r->netback && netback_sup_port_stats(r->netback, port, &np) == 0
                                          ? net_port_json(port, &np)
                                          : json_pack("{s:s, s:b}", "port", port, "connected", 0));
    }
    if (have_stats && json_is_object(json_object_get(o, "usage")))
        json_object_set_new(json_object_get(o, "usage"), "cpu", cpu_usage_json(&st));
    return o;
}

json_t *reg_domain_json(struct registry *r, struct domain *d)
{
    pthread_mutex_lock(&r->lock);
    json_t *o = domain_json_locked(r, d);
    pthread_mutex_unlock(&r->lock);
    return o;
}

json_t *reg_list_json(struct registry *r)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&r->lock);
    for (struct domain *d = r->domains; d; d = d->next)
        json_array_append_new(arr, domain_json_locked(r, d));
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:o}", "domains", arr);
}

static void event_to_json(void *ctx, int64_t id, double time, const char *uuid, const char *name, const char *kind,
                          const char *detail)
{
    json_array_append_new(ctx, json_pack("{s:I, s:f, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "time", time,
                                         "uuid", uuid, "domain", name, "kind", kind, "detail", detail));
}

json_t *reg_events_json(struct registry *r, struct domain *d, int limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&r->lock);
    if (store_for_each_event(&r->store, d ? d->cfg.uuid : NULL, limit, event_to_json, arr) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:o}", "events", arr);
}

/* The host's CPU reservations: what admission control counts with. Caller holds r->lock. */
static json_t *host_cpu_json(struct registry *r)
{
    char holders[16];
    uint64_t held = reservations_held(r, NULL, holders, sizeof(holders));
    json_t *o = json_pack("{s:i, s:f, s:f, s:f}", "cpus", (int)r->cpu.cpus, "headroom_percent",
                          (double)r->cpu.headroom_ppm / 10000.0, "capacity_percent",
                          (double)sched_capacity_ppm(&r->cpu) / 10000.0, "reserved_percent", (double)held / 10000.0);
    return o ? o : json_null();
}

json_t *reg_host_json(struct registry *r)
{
    int n = 0, running = 0;
    pthread_mutex_lock(&r->lock);
    for (struct domain *d = r->domains; d; d = d->next) {
        n++;
        running += d->mon != NULL;
    }
    json_t *cpu = host_cpu_json(r);
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:s, s:s, s:i, s:i, s:o}", "version", "0.1", "state_dir", r->state_dir, "domains", n, "running",
                     running, "cpu", cpu);
}

json_t *reg_sched_json(struct registry *r, struct domain *d)
{
    struct stats_page st;
    pthread_mutex_lock(&r->lock);
    int have_stats = d->mon && monitor_read_stats(d->mon, &st) == 0;
    json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "name", d->cfg.name, "sched", sched_json(&d->sched), "cpu",
                          have_stats ? cpu_usage_json(&st) : json_null(), "host", host_cpu_json(r));
    pthread_mutex_unlock(&r->lock);
    return o;
}

int reg_sched(struct registry *r, struct domain *d, const struct sched_params *p)
{
    char why[300], line[160], reply[512];
    int rc;
    if (sched_params_check(p, d->cfg.vcpus, why, sizeof(why)) < 0)
        return err_set(EINVAL, "domain '%s': %s", d->cfg.name, why);
    /* The op lock keeps starts and destroys out; the registry lock makes the new reservation
     * count at once for everyone else's admission. */
    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    struct sched_params old = d->sched;
    if (p->reservation_ppm > old.reservation_ppm && (d->mon || d->starting) &&
        (rc = admit_locked(r, d, p->reservation_ppm)) < 0) {
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return rc;
    }
    if (p->reservation_ppm && (rc = sched_admit(&r->cpu, 0, "", d->cfg.name, p->reservation_ppm, d->cfg.vcpus, why,
                                                sizeof(why))) < 0) {
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return err_set(-rc, "%s", why);
    }
    d->sched = *p;
    struct monitor *m = d->mon;
    if (m)
        m->users++;
    pthread_mutex_unlock(&r->lock);

    rc = 0;
    if (m) {
        snprintf(line, sizeof(line), "sched reservation=%u limit=%u weight=%u period=%u", p->reservation_ppm,
                 p->limit_ppm, p->weight, p->period_us);
        rc = monitor_request(m, line, reply, sizeof(reply), REQUEST_TIMEOUT_MS);
        if (rc < 0) {
            snprintf(why, sizeof(why), "%s", err_msg());
            rc = err_set(-rc, "domain '%s': %s", d->cfg.name, why);
        }
        release_monitor(r, m);
    }
    pthread_mutex_lock(&r->lock);
    if (rc < 0) {
        d->sched = old;
    } else {
        if (store_set_sched(&r->store, d->cfg.uuid, p) < 0)
            log_error("%s", err_msg());
        event(r, d, "sched", "reservation %s, limit %s, weight %u, period %u us%s", SCHED_PCT(p->reservation_ppm),
              p->limit_ppm ? SCHED_PCT(p->limit_ppm) : "none", p->weight, p->period_us, m ? "" : " (from its next start)");
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

void reg_console_log_path(struct registry *r, struct domain *d, int rotated, char *out, size_t size)
{
    char dir[PATH_MAX + 64];
    run_dir(r, d, dir, sizeof(dir));
    snprintf(out, size, "%s/console.log%s", dir, rotated ? ".1" : "");
}

static void sample_to_json(void *ctx, double time, const int64_t *vals, const int *is_null, int n)
{
    json_t *o = json_pack("{s:f}", "time", time);
    for (int i = 0; i < n; i++)
        json_object_set_new(o, store_sample_names[i], is_null[i] ? json_null() : json_integer(vals[i]));
    json_array_append_new(ctx, o);
}

/* Adds the CPU side of a sample (per-vCPU time, scheduler counters) to the sample of the
 * same time; the samples arrive oldest first, like the array. */
struct cpu_merge {
    json_t *arr;
    size_t i;
};

static void cpu_sample_to_json(void *ctx, double time, const char *vcpu_ns, int64_t reserved_ns, int64_t throttled_ns,
                               int64_t throttles)
{
    struct cpu_merge *c = ctx;
    for (; c->i < json_array_size(c->arr); c->i++) {
        json_t *o = json_array_get(c->arr, c->i);
        double t = json_real_value(json_object_get(o, "time"));
        if (t > time)
            return;
        if (t < time)
            continue;
        json_t *v = json_array();
        for (const char *p = vcpu_ns; p && *p;) {
            char *end;
            json_array_append_new(v, json_integer((json_int_t)strtoll(p, &end, 10)));
            p = *end == ',' ? end + 1 : "";
        }
        json_object_set_new(o, "vcpu_ns", v);
        json_object_set_new(o, "cpu_reserved_ns", json_integer(reserved_ns));
        json_object_set_new(o, "cpu_throttled_ns", json_integer(throttled_ns));
        json_object_set_new(o, "cpu_throttles", json_integer(throttles));
        c->i++;
        return;
    }
}

static void net_sample_to_json(void *ctx, double time, const int64_t v[6])
{
    json_array_append_new(ctx, json_pack("{s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "time", time, "tx_packets",
                                         (json_int_t)v[0], "tx_bytes", (json_int_t)v[1], "tx_dropped",
                                         (json_int_t)v[2], "rx_packets", (json_int_t)v[3], "rx_bytes",
                                         (json_int_t)v[4], "rx_dropped", (json_int_t)v[5]));
}

json_t *reg_usage_json(struct registry *r, struct domain *d, int limit)
{
    json_t *arr = json_array(), *net = json_array();
    struct cpu_merge merge = {arr, 0};
    pthread_mutex_lock(&r->lock);
    if (store_for_each_sample(&r->store, d->cfg.uuid, limit, sample_to_json, arr) < 0 ||
        store_for_each_cpu_sample(&r->store, d->cfg.uuid, limit, cpu_sample_to_json, &merge) < 0 ||
        store_for_each_net_sample(&r->store, d->cfg.uuid, limit, net_sample_to_json, net) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:o, s:o}", "samples", arr, "net", net);
}

/* ---- the supervisor ---- */

/* Every sample_interval_s, each running domain's counters go into the store: the record
 * metering and billing read, which survives the monitors and xenod itself. */
static void sample_usage(struct registry *r)
{
    double t = now_s();
    if (t - r->last_sample < r->sample_interval_s)
        return;
    r->last_sample = t;
    pthread_mutex_lock(&r->lock);
    /* One transaction for all domains: one disk sync per round, not two per domain, while
     * the registry lock (and so every API request) waits. */
    store_begin(&r->store);
    for (struct domain *d = r->domains; d; d = d->next) {
        struct stats_page st;
        if (d->mon && monitor_read_stats(d->mon, &st) == 0 && store_add_sample(&r->store, d->cfg.uuid, &st) < 0)
            log_error("%s", err_msg());
        /* Its network traffic, from the backend's page: the same record, for the sponsor's bill. */
        char port[NET_PORT_NAME_SIZE];
        struct nb_stats_port np;
        if (d->mon && d->cfg.net.present && r->netback) {
            net_port_name(&d->cfg, port);
            if (netback_sup_port_stats(r->netback, port, &np) == 0) {
                int64_t v[6] = {(int64_t)np.packets[NET_DIR_FROM_PORT], (int64_t)np.bytes[NET_DIR_FROM_PORT], 0,
                                (int64_t)np.packets[NET_DIR_TO_PORT], (int64_t)np.bytes[NET_DIR_TO_PORT], 0};
                for (int k = 0; k < NET_DROP__COUNT; k++) {
                    v[2] += (int64_t)np.drops[NET_DIR_FROM_PORT][k];
                    v[5] += (int64_t)np.drops[NET_DIR_TO_PORT][k];
                }
                if (store_add_net_sample(&r->store, d->cfg.uuid, v) < 0)
                    log_error("%s", err_msg());
            }
        }
    }
    store_commit(&r->store);
    pthread_mutex_unlock(&r->lock);
}

struct ev_ctx {
    struct registry *r;
    struct domain *d;
};

static void on_monitor_event(void *opaque, const char *line)
{
    struct ev_ctx *c = opaque;
    /* State changes are visible through the stats page; what matters for the record is
     * what the guest did: restarts after reboot/crash, why it stopped, and whether it met
     * its memory target ("memory-target missed ..." names who failed what by how much). */
    static const struct {
        const char *prefix, *kind;
    } recorded[] = {{"restarted", "restarted"},
                    {"stopped", "guest-stopped"},
                    {"memory-target missed", "memory-target-missed"},
                    {"memory-target reached", "memory-target-reached"}};
    if (strncmp(line, "migrate ", 8) == 0) {
        /* Progress of a live migration: shown while it runs, not kept. */
        pthread_mutex_lock(&c->r->lock);
        snprintf(c->d->migration, sizeof(c->d->migration), "%s", line + 8);
        pthread_mutex_unlock(&c->r->lock);
        return;
    }
    for (size_t i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
        size_t n = strlen(recorded[i].prefix);
        if (strncmp(line, recorded[i].prefix, n) == 0 && (line[n] == ' ' || line[n] == 0)) {
            pthread_mutex_lock(&c->r->lock);
            event(c->r, c->d, recorded[i].kind, "%s", line[n] ? line + n + 1 : "");
            pthread_mutex_unlock(&c->r->lock);
            return;
        }
    }
}

static void *supervisor_main(void *opaque)
{
    struct registry *r = opaque;
    for (;;) {
        struct pollfd *pfds = NULL;
        struct domain **doms = NULL;
        size_t n = 0, cap = 0;

        pthread_mutex_lock(&r->lock);
        if (r->stopping) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        for (struct domain *d = r->domains; d; d = d->next)
            cap += d->mon ? 2 : 0;
        pfds = calloc(cap + 1, sizeof(*pfds));
        doms = calloc(cap + 1, sizeof(*doms));
        pfds[n++] = (struct pollfd){r->wake_fd, POLLIN, 0};
        for (struct domain *d = r->domains; d && pfds && doms; d = d->next) {
            if (!d->mon)
                continue;
            d->refs += 2;
            doms[n] = d;
            pfds[n++] = (struct pollfd){d->mon->pidfd, POLLIN, 0};
            doms[n] = d;
            /* A closed control socket stays readable (EOF): leave it out, or poll spins
             * until the process is gone, which takes a VM teardown. */
            pfds[n++] = (struct pollfd){d->mon->dead ? -1 : d->mon->ctl_fd, POLLIN, 0};
        }
        pthread_mutex_unlock(&r->lock);

        if (poll(pfds, n, 1000) < 0 && errno != EINTR)
            log_warn("supervisor poll: %s", strerror(errno));
        if (pfds[0].revents) {
            uint64_t v;
            if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("supervisor wakeup: %s", strerror(errno));
        }
        for (size_t i = 1; i < n; i += 2) {
            struct domain *d = doms[i];
            struct monitor *m = d->mon;
            /* Events first, so "stopped" is recorded before the exit it explains. */
            if (m && pfds[i + 1].revents) {
                struct ev_ctx ctx = {r, d};
                monitor_read(m, on_monitor_event, &ctx);
            }
            if (m && pfds[i].revents) {
                pthread_mutex_lock(&r->lock);
                if (d->mon == m) {
                    int pid = m->pid, restart;
                    /* The monitor's last page: the exact CPU time to the end, for billing. */
                    struct stats_page st;
                    if (monitor_read_stats(m, &st) == 0 && store_add_sample(&r->store, d->cfg.uuid, &st) < 0)
                        log_error("%s", err_msg());
                    detach_monitor(d);
                    char port[NET_PORT_NAME_SIZE] = "";
                    if (d->cfg.net.present)
                        net_port_name(&d->cfg, port);
                    restart = monitor_ended(r, d, pid);
                    pthread_cond_broadcast(&r->changed);
                    if (restart)
                        d->refs++;
                    pthread_mutex_unlock(&r->lock);
                    if (port[0] && !restart)
                        net_port_detach(r, port);
                    if (restart) {
                        if (reg_start(r, d, 0) < 0)
                            log_error("%s", err_msg());
                        reg_put(r, d);
                    }
                } else {
                    pthread_mutex_unlock(&r->lock);
                }
            }
        }
        for (size_t i = 1; i < n; i++)
            reg_put(r, doms[i]);
        free(pfds);
        free(doms);
        sample_usage(r);
    }
    return NULL;
}

/* ---- loading ---- */

static void load_one(void *ctx, const struct store_domain *sd)
{
    struct registry *r = ctx;
    struct domain *d = add_domain(r, &sd->cfg, sd->xml, sd->source, sd->persistent);
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
        run_dir(r, d, dir, sizeof(dir));
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
            event(r, d, "reattached", "id %d, monitor pid %d", d->domid, sd->rt.pid);
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
    pthread_cond_init(&r->changed, NULL);
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
    r->last_sample = now_s();
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
    struct domain *restart[256];
    size_t nrestart = 0;
    for (struct domain *d = r->domains, *next; d; d = next) {
        next = d->next;
        if (!d->lost_pid)
            continue;
        int pid = d->lost_pid;
        d->lost_pid = 0;
        if (monitor_ended(r, d, pid) && nrestart < 256) {
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
    int e = pthread_create(&r->supervisor, NULL, supervisor_main, r);
    if (e)
        return err_set(e, "starting the supervisor: %s", strerror(e));
    return 0;
}

void reg_close(struct registry *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_mutex_unlock(&r->lock);
    wake_supervisor(r);
    pthread_join(r->supervisor, NULL);
    netback_sup_close(r->netback); /* the backend itself keeps running, as the monitors do */
    r->netback = NULL;
    while (r->domains) {
        struct domain *d = r->domains;
        r->domains = d->next;
        if (d->mon)
            monitor_close(d->mon); /* the monitor itself keeps running */
        domain_free(d);
    }
    store_close(&r->store);
    close(r->wake_fd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->changed);
}
