/* Domain lifecycle: define, start (and the start of restored and incoming domains), the
 * one-line requests to a monitor (pause, shutdown, memory targets), destroy and undefine. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/file_wait.h"
#include "daemon/net_port.h"
#include "daemon/registry_priv.h"
#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/mac_addr.h"
#include "proto/control_proto.h"

#define DESTROY_GRACE_MS 3000

#define INCOMING_LISTEN_TIMEOUT_MS 10000
#define INCOMING_READY_TIMEOUT_MS (30 * 60 * 1000)
/* After GO: the source's xenod sees its monitor end and takes the disks off its backend, the
 * images' flock going with them; within this the images must be free here. The guest's disk
 * requests wait meanwhile (the test kernels time out after 10 s, Linux after 30 s). */
#define MOVED_DISKS_TIMEOUT_MS 20000

/* An incoming monitor's port: it writes RUN_DIR/migrate-port (by rename: whole) once it
 * listens. Woken by that file or the monitor's end (file_wait), not by looking every 10 ms. */
static int wait_incoming_port(struct monitor *m, int *port, const struct reg_start_how *how)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/migrate-port", m->run_dir);
    int rc = file_wait(m->run_dir, "migrate-port", m->pidfd, INCOMING_LISTEN_TIMEOUT_MS, how->cancelled, how->ctx);
    if (rc == -ECANCELED)
        return err_set(ECANCELED, "xenod is stopping");
    if (rc == -ECHILD)
        return err_set(EIO, "the receiving monitor exited before it listened (see %s/vmm.log)", m->run_dir);
    if (rc < 0)
        return err_set(ETIMEDOUT, "the receiving monitor did not listen within %d s",
                       INCOMING_LISTEN_TIMEOUT_MS / 1000);
    FILE *f = fopen(path, "re");
    int ok = f && fscanf(f, "%d", port) == 1 && *port > 0 && *port < 65536;
    if (f)
        fclose(f);
    return ok ? 0 : err_set(EIO, "the receiving monitor's %s does not hold a port", path);
}

/* A domain with <memtune>: its memory cgroup made, *fd open on its cgroup.procs (else -1). */
static int memory_cgroup_open(struct registry *r, struct reg_domain *d, int *fd)
{
    *fd = -1;
    if (!domain_memtune_given(&d->cfg.memtune))
        return 0;
    int rc = mcg_prepare(&r->mcg, d->cfg.uuid, &d->cfg.memtune);
    if (rc < 0)
        return err_wrap(-rc, "domain '%s': <memtune>", d->cfg.name);
    *fd = rc;
    return 0;
}

/* After the spawn: the descriptor is the child's business no more; a failed start leaves
 * no cgroup behind. */
static void memory_cgroup_close(struct registry *r, struct reg_domain *d, int fd, int failed)
{
    if (fd >= 0)
        close(fd);
    if (failed && domain_memtune_given(&d->cfg.memtune))
        mcg_remove(&r->mcg, d->cfg.uuid);
}

/* The domain's port on the network backend, before its monitor starts: the backend connects
 * to the monitor's socket as soon as that listens. Fills the monitor's --net argument. */
static int attach_net(struct registry *r, const struct reg_domain *d, const char *dir, char *net_arg, size_t size)
{
    char sock[PATH_MAX + 32];
    struct domain_config c = d->cfg;
    c.net.inbound = d->net_in;
    c.net.outbound = d->net_out;
    int rc = net_port_socket(&c, dir, sock, sizeof(sock));
    if (rc == 0)
        rc = net_port_monitor_arg(&c, sock, net_arg, size);
    return rc == 0 ? reg_net_attach(r, &c, dir) : rc;
}

/* A start that failed leaves nothing on the backends: its port, its disks. The error stays. */
static void detach_backends(struct registry *r, struct reg_domain *d, int net, int disks, int rc)
{
    char port[NET_PORT_NAME_SIZE], msg[ERR_MSG_MAX];
    if (!net && !disks)
        return;
    snprintf(msg, sizeof(msg), "%s", err_msg());
    if (net) {
        net_port_name(&d->cfg, port);
        reg_net_detach(r, port);
    }
    if (disks)
        reg_disks_detach(r, &d->cfg, d->cfg.ndisks);
    err_set(-rc, "%s", msg);
}

/* The domain's disks before its monitor starts: given to the backend (a boot, a restore), or
 * for an incoming domain only their --disk values (its backend gets them after GO:
 * await_incoming). *on: the backend has them, to be taken off again if the start fails. */
static int prepare_disks(struct registry *r, const struct reg_domain *d, const struct reg_start_how *how,
                         const char *dir, char args[][REG_DISK_ARG_SIZE], int *on)
{
    *on = 0;
    if (!d->cfg.ndisks)
        return 0;
    if (how->migrate_listen)
        return reg_disks_args(r, &d->cfg, dir, how->disk_bytes, args);
    int rc = reg_disks_attach(r, &d->cfg, dir, args);
    *on = rc == 0;
    return rc;
}

/* Incoming: tells the source where to send, waits until the domain runs here (m freed on
 * failure), then gives this host's backend its disks: after GO, when the source's backend lets
 * go of the images (its xenod's remove-disk once the source monitor ended). A disk the backend
 * does not take fails nothing (the domain runs here now and the source has let it go): the
 * event says so, and the guest's requests for it wait in the ring. */
static int await_incoming(struct registry *r, struct reg_domain *d, struct monitor *m, const struct reg_start_how *how,
                          const char *dir)
{
    int port = 0;
    int rc = wait_incoming_port(m, &port, how);
    if (rc == 0)
        rc = how->on_listening(how->ctx, port);
    if (rc < 0) {
        kill(m->pid, SIGKILL);
        monitor_close(m);
        return rc;
    }
    if ((rc = monitor_wait_ready_or(m, INCOMING_READY_TIMEOUT_MS, how->cancelled, how->ctx)) < 0)
        return rc;
    if (!d->cfg.ndisks)
        return 0;
    pthread_mutex_lock(&r->lock);
    d->disks_after_go = 0; /* a backend (re)started from here on gives them too */
    pthread_mutex_unlock(&r->lock);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (reg_disks_attach_moved(r, &d->cfg, dir, how->disk_bytes, MOVED_DISKS_TIMEOUT_MS) < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        pthread_mutex_lock(&r->lock);
        reg_event(r, d, "disk-failed", "after the migration from %s: %s (its requests wait)", how->peer, msg);
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_info("domain '%s': %u disk(s) on the backend %ld ms after the domain ran here", d->cfg.name, d->cfg.ndisks,
             (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    return 0;
}

/* Caller holds r->lock (released while it waits). */
static int wait_detached_locked(struct registry *r, struct reg_domain *d, int timeout_ms)
{
    struct timespec deadline = deadline_after_ms(timeout_ms);
    while (reg_detaching_locked(r, d->cfg.uuid))
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == ETIMEDOUT &&
            reg_detaching_locked(r, d->cfg.uuid))
            return err_set(EBUSY, "domain '%s': its last run's disks and port are still coming off the backends",
                           d->cfg.name);
    return 0;
}

int reg_wait_detached(struct registry *r, struct reg_domain *d, int timeout_ms)
{
    pthread_mutex_lock(&r->lock);
    int rc = wait_detached_locked(r, d, timeout_ms);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* 0 when d may start now, else why not. Caller holds r->lock (released while it waits): the
 * last monitor's disks and port may still be coming off the backends (the supervisor does it
 * after the stop), and this start's, of the same names, would be taken with them. */
static int startable_locked(struct registry *r, struct reg_domain *d)
{
    int rc = wait_detached_locked(r, d, REG_DETACH_WAIT_MS);
    if (rc == 0 && (d->gone || d->mon || d->starting))
        rc = err_set(d->gone ? ENOENT : EBUSY, "domain '%s' is %s", d->cfg.name,
                     d->gone ? "no longer defined" : "already running");
    return rc;
}

int reg_start_monitor(struct registry *r, struct reg_domain *d, const struct reg_start_how *how)
{
    int paused = how->paused;
    const char *restore_file = how->restore_file;
    char dir[PATH_MAX + 64];
    struct monitor *m;
    int r_;

    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    if ((r_ = startable_locked(r, d)) < 0) {
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return r_;
    }
    /* Its reservation is held from here on (starting counts), so two starts cannot both
     * take the last free share. */
    if ((r_ = adm_check_affinity(r, &d->cfg, d->sched.reservation_ppm, NULL)) < 0 ||
        (r_ = adm_admit_locked(r, d, d->sched.reservation_ppm)) < 0) {
        char msg[1600];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        reg_event(r, d, "start-failed", "%s", msg);
        err_set(-r_, "%s", msg);
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return r_;
    }
    d->starting = 1;
    d->disks_after_go = how->migrate_listen && d->cfg.ndisks;
    struct sched_params sched = d->sched;
    reg_run_dir(r, d, dir, sizeof(dir));
    pthread_mutex_unlock(&r->lock);

    /* Spawning waits for the monitor to listen: do it without the registry lock. The XML
     * goes with the monitor so that its snapshots carry the definition (reg_restore). */
    char *xml = NULL, net_arg[PATH_MAX + 64] = "";
    char disk_args[DOMAIN_DISKS_MAX][REG_DISK_ARG_SIZE];
    const char *disks[DOMAIN_DISKS_MAX];
    size_t xml_len;
    int disks_on = 0; /* the backend has them: taken off again if the start fails */
    r_ = domain_xml_canonical(d->xml, strlen(d->xml), &d->cfg, &xml, &xml_len);
    if (r_ == 0 && d->cfg.net.present)
        r_ = attach_net(r, d, dir, net_arg, sizeof(net_arg));
    if (r_ == 0)
        r_ = prepare_disks(r, d, how, dir, disk_args, &disks_on);
    for (unsigned i = 0; i < d->cfg.ndisks; i++)
        disks[i] = disk_args[i];
    int cgroup_procs = -1; /* the memory cgroup (<memtune>): the monitor joins it before exec */
    if (r_ == 0)
        r_ = memory_cgroup_open(r, d, &cgroup_procs);
    if (r_ == 0) {
        struct monitor_spawn_args a = {.vmm_path = r->vmm_path,
                                       .cgroup_procs = cgroup_procs >= 0 ? &cgroup_procs : NULL,
                                       .run_dir = dir,
                                       .cfg = &d->cfg,
                                       .paused = paused,
                                       .sched = &sched,
                                       .domain_xml = xml,
                                       .restore_file = restore_file,
                                       .net = net_arg[0] ? net_arg : NULL,
                                       .disks = disks,
                                       .ndisks = d->cfg.ndisks,
                                       .migrate_incoming = how->migrate_listen,
                                       .migrate_key = how->migrate_key,
                                       .save_dir = r->save_dir[0] ? r->save_dir : NULL,
                                       .cache_dir = r->cache_dir[0] ? r->cache_dir : NULL,
                                       .out_key = r->migrate_key[0] ? r->migrate_key : NULL,
                                       .no_wait = how->migrate_listen != NULL};
        r_ = monitor_spawn(&m, &a);
        if (r_ == 0 && how->migrate_listen)
            r_ = await_incoming(r, d, m, how, dir);
    }
    if (r_ < 0)
        detach_backends(r, d, net_arg[0], disks_on, r_);
    free(xml);
    memory_cgroup_close(r, d, cgroup_procs, r_ < 0);

    pthread_mutex_lock(&r->lock);
    /* The domain ID, the runtime row and the event in one transaction (one disk sync). */
    store_begin(&r->store);
    d->starting = 0;
    d->disks_after_go = 0;
    if (r_ < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        reg_event(r, d, "start-failed", "%s", msg);
        err_set(-r_, "domain '%s': %s", d->cfg.name, msg);
    } else {
        int id = 0;
        store_next_domid(&r->store, &id);
        d->mon = m;
        d->domid = id;
        d->started_at = reg_now_s();
        reg_persist_runtime(r, d);
        if (how->migrate_listen)
            reg_event(r, d, "migrated-in", "from %s: id %d, monitor pid %d", how->peer, id, m->pid);
        else if (restore_file)
            reg_event(r, d, "restored", "from %s: id %d, monitor pid %d%s", restore_file, id, m->pid,
                      paused ? ", paused" : "");
        else
            reg_event(r, d, "started", "id %d, monitor pid %d%s", id, m->pid, paused ? ", paused" : "");
        pthread_cond_broadcast(&r->changed);
        reg_wake_supervisor(r);
    }
    store_commit(&r->store);
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return r_;
}

int reg_start(struct registry *r, struct reg_domain *d, int paused)
{
    struct reg_start_how how = {.paused = paused};
    return reg_start_monitor(r, d, &how);
}

int reg_claim_mac_locked(struct registry *r, struct domain_config *c, const struct reg_domain *self, const char *source)
{
    if (!c->net.present)
        return 0;
    for (int tries = 0; tries < 16; tries++) {
        const struct reg_domain *o = r->domains;
        while (o && (o == self || o->gone || !o->cfg.net.present || memcmp(o->cfg.net.mac, c->net.mac, 6) != 0))
            o = o->next;
        if (!o)
            return 0;
        /* A generated MAC (24 random bits) that is taken is drawn again. */
        if (!c->net.mac_generated || domain_mac_generate(c->net.mac) < 0) {
            char mac[MAC_ADDR_TEXT];
            mac_addr_format(c->net.mac, mac);
            return err_set(EEXIST,
                           "%s: <mac>: address %s is already that of domain '%s' (UUID %s): the MAC clashes; "
                           "leave <mac> out to have one generated, or choose another",
                           source, mac, o->cfg.name, o->cfg.uuid);
        }
    }
    return err_set(EEXIST, "%s: <mac>: no free generated MAC address after 16 draws", source);
}

/* The checks of a definition before anything is stored: the XML (every problem into *rep),
 * the interface's socket path, and a reservation the host could ever give. *cfg is to be
 * freed on success only. */
static int check_definition(struct registry *r, const char *xml, size_t len, const char *source,
                            struct domain_config *cfg, struct domain_xml_report *rep)
{
    struct domain_xml_report none = {0};
    int rc = domain_xml_parse_report(xml, len, source ? source : "<api>", NULL, cfg, rep ? rep : &none);
    domain_xml_report_free(&none);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        /* Whatever the parser's errno (a missing kernel is ENOENT), the request was bad. */
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(EBADMSG, "%s", msg);
    }
    /* So is a disk image outside the image directory; inside, it is kept by its name there. */
    if ((rc = domain_disks_resolve(cfg, r->image_dir, source ? source : "<api>")) < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        domain_config_free(cfg);
        return err_set(EBADMSG, "%s", msg);
    }
    /* So is an interface socket path xenod would not use (net_port_socket). */
    if ((rc = reg_net_check_source(r, cfg, source ? source : "<api>")) < 0) {
        domain_config_free(cfg);
        return rc;
    }
    /* Limits this host cannot enforce are refused, never ignored. */
    char why[ERR_MSG_MAX];
    if (mcg_check(&r->mcg, &cfg->memtune, why, sizeof(why)) < 0) {
        rc = err_set(EBADMSG, "%s:%ld: <memtune>: %s", source ? source : "<api>", cfg->memtune.line, why);
        domain_config_free(cfg);
        return rc;
    }
    /* A reservation this host can never give is refused now, not at every start. */
    if (sched_admit(&r->cpu, 0, "", cfg->name, cfg->sched.reservation_ppm, cfg->vcpus, why, sizeof(why)) < 0) {
        rc = err_set(EBADMSG, "%s: <xeno:cpu>: %s", source ? source : "<api>", why);
        domain_config_free(cfg);
        return rc;
    }
    if (adm_check_affinity(r, cfg, cfg->sched.reservation_ppm, source ? source : "<api>") < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        rc = err_set(EBADMSG, "%s", msg);
        domain_config_free(cfg);
        return rc;
    }
    return 0;
}

int reg_define(struct registry *r, const char *xml, size_t len, const char *source, int persistent, int start,
               int paused, struct reg_domain **out, struct domain_xml_report *rep)
{
    struct domain_config cfg;
    *out = NULL;
    int rc = check_definition(r, xml, len, source, &cfg, rep);
    if (rc < 0)
        return rc;
    /* The clash checks and the insert under one hold of r->lock, so that of two concurrent
     * defines with the same MAC, name or UUID only one gets in (name and UUID: the store's
     * UNIQUE constraints, store_add_domain names the clash). */
    pthread_mutex_lock(&r->lock);
    /* The row, its scheduling and its "defined" event in one transaction: one disk sync per
     * define instead of three, while every other request waits on r->lock. */
    store_begin(&r->store);
    rc = reg_room_locked(r);
    if (rc == 0)
        rc = reg_claim_mac_locked(r, &cfg, NULL, source ? source : "<api>");
    if (rc == 0)
        rc = store_add_domain(&r->store, &cfg, xml, source ? source : "<api>", persistent);
    if (rc == 0 && (rc = store_set_sched(&r->store, cfg.uuid, &cfg.sched)) < 0)
        store_remove_domain(&r->store, cfg.uuid); /* all or nothing */
    struct reg_domain *d = NULL;
    if (rc == 0) {
        d = reg_add_domain(r, &cfg, xml, source, persistent);
        if (!d) {
            store_remove_domain(&r->store, cfg.uuid);
            rc = err_set(ENOMEM, "out of memory");
        } else {
            d->refs++;
            reg_event(r, d, "defined", "%s (%s)", source ? source : "<api>", persistent ? "persistent" : "transient");
        }
    }
    store_commit(&r->store);
    pthread_mutex_unlock(&r->lock);
    domain_config_free(&cfg);
    if (rc < 0)
        return rc;
    if (start && (rc = reg_start(r, d, paused)) < 0) {
        if (!persistent) {
            /* A create that cannot start leaves nothing behind. */
            char msg[ERR_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_lock(&r->lock);
            store_remove_domain(&r->store, d->cfg.uuid);
            reg_unlink_domain(r, d);
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

int reg_request(struct registry *r, struct reg_domain *d, const char *verb)
{
    char reply[CONTROL_LINE_MAX];
    struct monitor *m = reg_grab_monitor(r, d);
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
                reg_event(r, d, kinds[i].kind, NULL);
        pthread_mutex_unlock(&r->lock);
    } else {
        rc = err_wrap(-rc, "domain '%s'", d->cfg.name);
    }
    reg_release_monitor(r, m);
    return rc;
}

int reg_mem_set(struct registry *r, struct reg_domain *d, uint64_t target_bytes, uint64_t deadline_ms)
{
    char line[96], reply[CONTROL_LINE_MAX];
    if (deadline_ms > 365ULL * 24 * 3600 * 1000)
        return err_set(EINVAL, "memory deadline %llu ms: at most a year", (unsigned long long)deadline_ms);
    if (target_bytes < DOMAIN_MEMORY_MIN || target_bytes > d->cfg.memory_bytes || target_bytes % 4096)
        return err_set(EINVAL,
                       "memory target %llu bytes for '%s': must be a multiple of 4 KiB from %llu MiB up to its "
                       "memory, %llu MiB",
                       (unsigned long long)target_bytes, d->cfg.name, (unsigned long long)(DOMAIN_MEMORY_MIN >> 20),
                       (unsigned long long)(d->cfg.memory_bytes >> 20));
    struct monitor *m = reg_grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running (start it first)", d->cfg.name);
    snprintf(line, sizeof(line), "mem-set %llu %llu", (unsigned long long)target_bytes,
             (unsigned long long)deadline_ms);
    int rc = monitor_request(m, line, reply, sizeof(reply), REQUEST_TIMEOUT_MS);
    pthread_mutex_lock(&r->lock);
    if (rc == 0)
        reg_event(r, d, "mem-set", "target %llu bytes (%llu pages), deadline %llu ms", (unsigned long long)target_bytes,
                  (unsigned long long)(target_bytes / 4096), (unsigned long long)deadline_ms);
    pthread_mutex_unlock(&r->lock);
    reg_release_monitor(r, m);
    if (rc < 0) {
        return err_wrap(-rc, "domain '%s'", d->cfg.name);
    }
    return 0;
}

int reg_wait_stopped(struct registry *r, struct reg_domain *d, int timeout_ms)
{
    struct timespec deadline = deadline_after_ms(timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    while (!d->gone && (d->mon || d->starting))
        if (pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == ETIMEDOUT) {
            rc = err_set(ETIMEDOUT,
                         "domain '%s' is still running after %d s (the guest may refuse; "
                         "xenctl destroy stops it at once)",
                         d->cfg.name, timeout_ms / 1000);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int reg_destroy(struct registry *r, struct reg_domain *d)
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
    reg_release_monitor(r, m);
    if (reg_wait_stopped(r, d, DESTROY_GRACE_MS) < 0) {
        kill(pid, SIGKILL);
        rc = reg_wait_stopped(r, d, DESTROY_GRACE_MS);
    }
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

int reg_undefine(struct registry *r, struct reg_domain *d)
{
    int rc = 0;
    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    if (d->gone) {
        rc = err_set(ENOENT, "domain '%s' is no longer defined", d->cfg.name);
    } else if (d->mon || d->starting) {
        rc = err_set(EBUSY, "domain '%s' is running; destroy it first", d->cfg.name);
    } else if ((rc = store_remove_domain(&r->store, d->cfg.uuid)) == 0) {
        reg_event(r, d, "undefined", NULL);
        reg_remove_run_dir(r, d);
        reg_unlink_domain(r, d);
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

/* Puts back what a failed redefinition removed from the store: the old row, its settings. */
static void restore_row(struct registry *r, struct reg_domain *old, const char *new_uuid, int rc)
{
    char msg[1600];
    snprintf(msg, sizeof(msg), "%s", err_msg());
    store_remove_domain(&r->store, new_uuid);
    if (store_add_domain(&r->store, &old->cfg, old->xml, old->source, 1) < 0 ||
        store_set_sched(&r->store, old->cfg.uuid, &old->sched) < 0)
        log_error("domain %s: cannot put its definition back in the store: %s", old->cfg.name, err_msg());
    reg_persist_runtime(r, old);
    err_set(-rc, "%s; the definition is unchanged", msg);
}

int reg_redefine(struct registry *r, struct reg_domain *d, const char *xml, size_t len, const char *source,
                 struct reg_domain **out, struct domain_xml_report *rep)
{
    struct domain_config cfg;
    *out = NULL;
    int rc = check_definition(r, xml, len, source, &cfg, rep);
    if (rc < 0)
        return rc;
    const char *src = source ? source : "<api>";
    pthread_mutex_lock(&d->op_lock);
    pthread_mutex_lock(&r->lock);
    struct reg_domain *n = NULL;
    if (d->gone) {
        rc = err_set(ENOENT, "domain '%s' is no longer defined", d->cfg.name);
    } else if (d->mon || d->starting || !d->persistent) {
        /* The monitor runs what it was given; a definition changed under it would be a lie
         * about what runs. libvirt keeps the change for the next start: here it must stop. */
        rc = err_set(EBUSY,
                     "domain '%s' is running: its definition can be changed only while it is shut off (xenctl "
                     "shutdown or destroy it first); the definition is unchanged",
                     d->cfg.name);
    } else if (strcmp(cfg.uuid, d->cfg.uuid) != 0) {
        rc = err_set(EBADMSG,
                     "%s: <uuid>: %s is not the UUID of domain '%s' (%s): a redefinition keeps the UUID (write it "
                     "as dumpxml does, or define a new domain); the definition is unchanged",
                     src, cfg.uuid, d->cfg.name, d->cfg.uuid);
    } else if ((rc = reg_claim_mac_locked(r, &cfg, d, src)) < 0) {
        /* the message names the domain whose MAC it is; nothing was changed */
    } else if ((rc = store_remove_domain(&r->store, d->cfg.uuid)) == 0) {
        /* Replace the row; on any failure put the old one back (the name may clash). */
        if ((rc = store_add_domain(&r->store, &cfg, xml, src, 1)) < 0 ||
            (rc = store_set_sched(&r->store, cfg.uuid, &cfg.sched)) < 0)
            restore_row(r, d, cfg.uuid, rc);
        else if (!(n = reg_add_domain(r, &cfg, xml, source, 1))) {
            rc = err_set(ENOMEM, "out of memory");
            restore_row(r, d, cfg.uuid, rc);
        } else {
            snprintf(n->state, sizeof(n->state), "%s", d->state);
            n->domid = d->domid;
            n->started_at = d->started_at;
            reg_persist_runtime(r, n);
            n->refs++;
            reg_unlink_domain(r, d); /* events, samples, run directory: keyed by UUID, kept */
            reg_event(r, n, "redefined", "%s%s%s", src, strcmp(d->cfg.name, n->cfg.name) ? ", was " : "",
                      strcmp(d->cfg.name, n->cfg.name) ? d->cfg.name : "");
        }
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    domain_config_free(&cfg);
    *out = n;
    return rc;
}
