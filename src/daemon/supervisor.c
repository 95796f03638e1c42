/* The supervisor thread: watches every monitor (its exit through the pidfd, its events on
 * the control socket), applies the lifecycle policy when one ends (end_policy.h), and stores
 * the running domains' usage samples every sample_interval_s. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/billing.h"
#include "daemon/end_policy.h"
#include "daemon/net_port.h"
#include "daemon/registry_priv.h"
#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/log.h"

int reg_monitor_ended(struct registry *r, struct reg_domain *d, int pid)
{
    char dir[PATH_MAX + 64], outcome[512] = "";
    reg_run_dir(r, d, dir, sizeof(dir));
    int have = monitor_read_outcome(dir, outcome, sizeof(outcome)) == 0;
    char *reason = strchr(outcome, ' ');
    if (reason)
        *reason++ = 0;
    struct end_decision e = end_policy_decide(have ? outcome : NULL, d->destroying, d->persistent, d->cfg.on_crash);
    /* A monitor over its <memtune> hard limit is killed by the kernel (SIGKILL): say so. */
    if (domain_memtune_given(&d->cfg.memtune)) {
        /* The limit as the cgroup holds it (what the kernel enforced), the XML's otherwise. */
        uint64_t ooms = mcg_oom_kills(&r->mcg, d->cfg.uuid), limit = d->cfg.memtune.hard_limit;
        if (ooms)
            mcg_read_limit(&r->mcg, d->cfg.uuid, &limit);
        if (ooms)
            reg_event(r, d, "memory-limit",
                      "the kernel's OOM killer ended the monitor (pid %d): its memory cgroup reached its hard limit "
                      "of %llu bytes (<memtune>: the guest's memory, the monitor's own and what the kernel charges "
                      "for the VM); raise <hard_limit> or give the guest less <memory>",
                      pid, (unsigned long long)limit);
        mcg_remove(&r->mcg, d->cfg.uuid);
    }

    switch (e.kind) {
    case END_DESTROYED: reg_event(r, d, "destroyed", NULL); break;
    case END_MONITOR_DIED:
        if (d->end_signal)
            reg_event(r, d, "monitor-died", "the monitor (pid %d) was killed by signal %d (%s)", pid, d->end_signal,
                      strsignal(d->end_signal));
        else
            reg_event(r, d, "monitor-died", "the monitor (pid %d) ended without saying why", pid);
        break;
    case END_STOPPED: reg_event(r, d, outcome, "%s", reason ? reason : ""); break;
    case END_CRASH: reg_event(r, d, "crash", "%s%s%s", outcome, reason ? ": " : "", reason ? reason : ""); break;
    }
    d->end_signal = 0;
    monitor_clean_run_dir(dir);
    d->domid = 0;
    d->started_at = 0;
    snprintf(d->state, sizeof(d->state), "%s", e.crashed ? "crashed" : "shutdown");
    /* The monitor applies on_crash to guest crashes itself; a monitor that died could not. */
    if (e.crashed)
        reg_event(r, d, "on_crash", "%s", lifecycle_action_name(d->cfg.on_crash));
    d->destroying = 0;
    if (!e.keep) {
        /* A transient domain is gone once it stops for good: nothing to start again. */
        store_remove_domain(&r->store, d->cfg.uuid);
        log_info("domain %s: transient, forgotten", d->cfg.name);
        reg_remove_run_dir(r, d);
        reg_unlink_domain(r, d);
        return 0;
    }
    reg_persist_runtime(r, d);
    return e.restart;
}

/* Detaches and closes a finished monitor. Caller holds r->lock. */
static void detach_monitor(struct reg_domain *d)
{
    struct monitor *m = d->mon;
    d->mon = NULL;
    if (m->users)
        m->orphaned = 1;
    else
        monitor_close(m);
}

/* Every sample_interval_s, each running domain's counters go into the store: the record
 * metering and billing read, which survives the monitors and xenod itself. */
static void sample_usage(struct registry *r)
{
    if (!period_tick(&r->next_sample, r->sample_interval_s, reg_now_s()))
        return;
    pthread_mutex_lock(&r->lock);
    /* One transaction for all domains: one disk sync per round, not two per domain, while
     * the registry lock (and so every API request) waits. */
    store_begin(&r->store);
    reg_ask_stats_locked(r);
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        struct stats_page st;
        if (d->mon && monitor_read_stats(d->mon, &st) == 0 && store_add_sample(&r->store, d->cfg.uuid, &st) < 0)
            log_error("%s", err_msg());
        if (d->mon && d->cfg.ndisks)
            reg_disk_samples_locked(r, d); /* its disks' counters on xeno-blkback */
        /* Its network traffic, from the backend's page: the same record, for the sponsor's bill. */
        char port[NET_PORT_NAME_SIZE];
        struct nb_stats_port np;
        if (d->mon && d->cfg.net.present && r->netback) {
            net_port_name(&d->cfg, port);
            if (netback_sup_port_stats(r->netback, port, &np) == 0) {
                int64_t v[6] = {(int64_t)np.packets[NET_DIR_FROM_PORT], (int64_t)np.bytes[NET_DIR_FROM_PORT], 0,
                                (int64_t)np.packets[NET_DIR_TO_PORT],   (int64_t)np.bytes[NET_DIR_TO_PORT],   0};
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
    struct reg_domain *d;
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
            reg_event(c->r, c->d, recorded[i].kind, "%s", line[n] ? line + n + 1 : "");
            pthread_mutex_unlock(&c->r->lock);
            return;
        }
    }
}

void *reg_supervisor_main(void *opaque)
{
    struct registry *r = opaque;
    for (;;) {
        struct pollfd *pfds = NULL;
        struct reg_domain **doms = NULL;
        size_t n = 0, cap = 0;

        pthread_mutex_lock(&r->lock);
        if (r->stopping) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        for (struct reg_domain *d = r->domains; d; d = d->next)
            cap += d->mon ? 2 : 0;
        pfds = calloc(cap + 1, sizeof(*pfds));
        doms = calloc(cap + 1, sizeof(*doms));
        pfds[n++] = (struct pollfd){r->wake_fd, POLLIN, 0};
        for (struct reg_domain *d = r->domains; d && pfds && doms; d = d->next) {
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

        /* At most 1 s (the billing tick's pace), less when the usage samples are due sooner. */
        if (poll(pfds, n, period_wait_ms(r->next_sample, reg_now_s(), 1000)) < 0 && errno != EINTR)
            log_warn("supervisor poll: %s", strerror(errno));
        if (pfds[0].revents) {
            uint64_t v;
            if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("supervisor wakeup: %s", strerror(errno));
        }
        for (size_t i = 1; i < n; i += 2) {
            struct reg_domain *d = doms[i];
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
                    int have_st = monitor_read_stats(m, &st) == 0;
                    if (have_st && store_add_sample(&r->store, d->cfg.uuid, &st) < 0)
                        log_error("%s", err_msg());
                    if (d->cfg.ndisks)
                        reg_disk_samples_locked(r, d); /* and its disks' last counters */
                    /* ... and the ledger's final posting (stop, crash, destroy, save,
                     * migration out), its port's counters read before the port goes. */
                    struct billing_reading last;
                    struct billing *bill = r->billing;
                    reg_billing_reading(r, d, have_st ? &st : NULL, &last);
                    /* Before the reap in detach_monitor: a monitor killed by a signal (its
                     * sandbox's SIGSYS) wrote no outcome; the event says which signal. */
                    siginfo_t si = {0};
                    d->end_signal = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                                            si.si_pid == pid && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
                                        ? si.si_status
                                        : 0;
                    detach_monitor(d);
                    char port[NET_PORT_NAME_SIZE] = "";
                    if (d->cfg.net.present)
                        net_port_name(&d->cfg, port);
                    struct domain_config *gone_disks = NULL; /* its disks, taken off the backend below */
                    if (d->cfg.ndisks && (gone_disks = malloc(sizeof(*gone_disks))))
                        *gone_disks = d->cfg;
                    restart = reg_monitor_ended(r, d, pid);
                    /* Stopped once the backends let go of its disks and port: a restore or a
                     * start answered before would add them, then see them removed here. */
                    int detaching = !restart && (port[0] || gone_disks) && reg_detach_begin_locked(r, d->cfg.uuid) == 0;
                    pthread_cond_broadcast(&r->changed);
                    if (restart)
                        d->refs++;
                    pthread_mutex_unlock(&r->lock);
                    if (bill)
                        billing_observe(bill, &last, 1);
                    if (port[0] && !restart)
                        reg_net_detach(r, port);
                    if (gone_disks && !restart)
                        reg_disks_detach(r, gone_disks, gone_disks->ndisks);
                    free(gone_disks);
                    if (detaching) {
                        pthread_mutex_lock(&r->lock);
                        reg_detach_end_locked(r, d->cfg.uuid);
                        pthread_mutex_unlock(&r->lock);
                    }
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
        reg_billing_tick(r);
    }
    return NULL;
}
