/* Moving a domain out of this monitor: `save PATH` (suspend to a snapshot file) and live
 * migration out (state/migrate_send.c on its own thread, its end handled on the main loop);
 * and into it: a restore's or an incoming migration's state loaded at boot (domain__arrive).
 * Main loop only; the domain's internals are shared with domain.c through domain_priv.h. */
#include "vmm/host/domain_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/state/disk_hold.h"
#include "vmm/state/net_hold.h"
#include "vmm/state/save_shrink.h"
#include "vmm/host/sandbox.h"

/* save PATH [keep-running]: pauses the vCPUs, writes the snapshot, then stops the domain
 * (outcome "saved PATH") or lets it run on. */
void domain__save_request(struct domain *d, const struct control_args *args, char *reply, size_t size)
{
    const struct options *o = d->opt;
    int was_paused = d->state == DOM_STATE_PAUSED;
    if (d->save_requested) {
        snprintf(reply, size, "err already saved to %s; the domain is stopping", d->saved_path);
        return;
    }
    if (vmm_sandbox_check_save(args->path) < 0 || vm_disks_recordable(&d->vm) < 0) {
        snprintf(reply, size, "err %s", err_msg());
        return;
    }
    struct snap_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        snprintf(reply, size, "err out of memory");
        return;
    }
    cfg->mem_size = o->mem_size;
    cfg->nvcpus = o->nvcpus;
    cfg->on_poweroff = o->on_poweroff;
    cfg->on_reboot = o->on_reboot;
    cfg->on_crash = o->on_crash;
    cfg->memory_enforcement = o->memory_enforcement;
    snprintf(cfg->kernel, sizeof(cfg->kernel), "%s", o->kernel ? o->kernel : "");
    snprintf(cfg->cmdline, sizeof(cfg->cmdline), "%s", o->cmdline ? o->cmdline : "");
    struct snap_mem_target mt = {.target_bytes = d->mt.target_bytes, .deadline_ms = d->mt.deadline_ms};
    struct snap_cpu_features cpu;
    cpuf_to_wire(&d->vm.cpu_domain, &cpu);
    struct snap_domain_state ds = {.cfg = cfg,
                                   .domain_xml = d->domain_xml,
                                   .domain_xml_len = d->domain_xml_len,
                                   .mem_target = d->mt.state != STATS_MEMTARGET_NONE ? &mt : NULL,
                                   .cpu = &cpu};
    struct save_shrink shrink = {0};
    if (args->shrink && was_paused)
        snprintf(shrink.why_not, sizeof(shrink.why_not), "the domain is paused");
    else if (args->shrink)
        save_shrink_begin(d->vm.vballoon, o->mem_size, &shrink); /* the guest runs while it inflates */
    if (args->shrink && !shrink.asked)
        log_info("save shrink: nothing asked of the guest: %s", shrink.why_not);
    /* The file records the target from before the shrink: the guest gets its memory back
     * after the resume. */
    if (shrink.asked)
        virtio_balloon_record_target(d->vm.vballoon, 1, shrink.old_target);
    if (!was_paused)
        vm_pause(&d->vm);
    uint64_t bytes = 0, pages = 0;
    /* The disks first: their backends finish and flush what they took, so guest RAM and the
     * images are final before either is recorded (state/disk_hold.h). */
    int r = vm_disks_hold(&d->vm);
    /* The network's backend too: it would go on filling receive buffers and the used ring
     * of the paused guest while RAM is written out (state/net_hold.h). */
    if (r == 0)
        r = vm_net_hold(&d->vm);
    if (r == 0)
        r = vm_snapshot_save(&d->vm, &ds, args->path, &bytes, &pages);
    if (shrink.asked)
        virtio_balloon_record_target(d->vm.vballoon, 0, 0);
    free(cfg);
    if (r < 0) {
        log_error("save: %s", err_msg());
        snprintf(reply, size, "err %s", err_msg());
    } else {
        log_info("saved to %s: %llu bytes, %llu pages of RAM", args->path, (unsigned long long)bytes,
                 (unsigned long long)pages);
        snprintf(reply, size, "ok bytes=%llu pages=%llu", (unsigned long long)bytes, (unsigned long long)pages);
        if (args->shrink)
            snprintf(reply + strlen(reply), size - strlen(reply), " shrunk=%llu",
                     (unsigned long long)shrink.given_bytes);
    }
    if (r < 0 || args->keep_running) {
        save_shrink_end(d->vm.vballoon, &shrink); /* the guest takes its memory back */
        vm_disks_release(&d->vm);
        vm_net_release(&d->vm);
    }
    if (r == 0 && !args->keep_running) {
        d->save_requested = 1;
        snprintf(d->saved_path, sizeof(d->saved_path), "%s", args->path);
        vm_request_stop(&d->vm, VM_DESTROYED, "saved to %s", args->path);
        return;
    }
    if (!was_paused) {
        domain__restart_sampling(d);
        vm_unpause(&d->vm);
    }
}

/* ---- live migration out ----------------------------------------------------------- */

static uint64_t ms_of(uint64_t us)
{
    return (us + 500) / 1000;
}

/* The config section of a snapshot, and the migration's config message. */
static void fill_snap_config(const struct domain *d, struct snap_config *cfg)
{
    const struct options *o = d->opt;
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_size = o->mem_size;
    cfg->nvcpus = o->nvcpus;
    cfg->on_poweroff = o->on_poweroff;
    cfg->on_reboot = o->on_reboot;
    cfg->on_crash = o->on_crash;
    cfg->memory_enforcement = o->memory_enforcement;
    snprintf(cfg->kernel, sizeof(cfg->kernel), "%s", o->kernel ? o->kernel : "");
    snprintf(cfg->cmdline, sizeof(cfg->cmdline), "%s", o->cmdline ? o->cmdline : "");
}

/* GO went out but the destination never said it runs the domain: it may run it, or GO may
 * have been lost and nobody runs it. We must not run it (it may run there), but we keep it:
 * the paused domain goes to a snapshot file next to the run directory's other files, for
 * an operator to restore once the destination is known not to run it. The path, or "" if
 * the save failed (then the domain may be lost; the log says why). */
static void keep_unconfirmed(struct domain *d, char *path, size_t size)
{
    struct snap_config *cfg = calloc(1, sizeof(*cfg));
    uint64_t bytes = 0, pages = 0;
    if (d->opt->run_dir)
        snprintf(path, size, "%s/migrate-unconfirmed.snap", d->opt->run_dir);
    else
        snprintf(path, size, "migrate-unconfirmed-%d.snap", (int)getpid());
    if (!cfg) {
        log_error("keeping the unconfirmed domain: out of memory");
        path[0] = 0;
        return;
    }
    fill_snap_config(d, cfg);
    struct snap_mem_target mt = {.target_bytes = d->mt.target_bytes, .deadline_ms = d->mt.deadline_ms};
    struct snap_cpu_features cpu;
    cpuf_to_wire(&d->vm.cpu_domain, &cpu);
    struct snap_domain_state ds = {.cfg = cfg,
                                   .domain_xml = d->domain_xml,
                                   .domain_xml_len = d->domain_xml_len,
                                   .mem_target = d->mt.state != STATS_MEMTARGET_NONE ? &mt : NULL,
                                   .cpu = &cpu};
    if (vm_snapshot_save(&d->vm, &ds, path, &bytes, &pages) < 0) {
        log_error("keeping the unconfirmed domain in %s: %s", path, err_msg());
        path[0] = 0;
    } else {
        log_warn("migration unconfirmed: the paused domain is saved in %s (%llu bytes); restore it only if the "
                 "destination does not run it",
                 path, (unsigned long long)bytes);
    }
    free(cfg);
}

/* The migration thread has ended (its result is final): reply, then stop for good or run
 * on here. */
void domain__migration_ended(struct domain *d)
{
    struct migrate_send *m = d->mig;
    const struct migrate_result *r = &m->res;
    char line[CONTROL_LINE_MAX];
    d->mig = NULL;
    if (r->committed) {
        d->held_until_ns = r->go_realtime_ns; /* from GO on the destination bills it */
        snprintf(line, sizeof(line),
                 "ok dest=%s rounds=%llu pages=%llu bytes=%llu touched_bytes=%llu downtime_ms=%llu.%03llu "
                 "total_ms=%llu confirmed=%s",
                 m->p.dest, (unsigned long long)r->rounds, (unsigned long long)r->pages, (unsigned long long)r->bytes,
                 (unsigned long long)r->touched_pages * 4096, (unsigned long long)(r->downtime_us / 1000),
                 (unsigned long long)(r->downtime_us % 1000), (unsigned long long)ms_of(r->total_us),
                 r->confirmed ? "yes" : "no");
        char kept[1200] = "";
        if (r->confirmed)
            snprintf(d->migrated_to, sizeof(d->migrated_to), "%s", m->p.dest);
        else
            keep_unconfirmed(d, kept, sizeof(kept));
        if (!r->confirmed && kept[0])
            snprintf(d->migrated_to, sizeof(d->migrated_to),
                     "%.120s (unconfirmed: %.120s; saved paused in %.200s: restore it only if the destination does "
                     "not run it)",
                     m->p.dest, r->why, kept);
        else if (!r->confirmed)
            snprintf(d->migrated_to, sizeof(d->migrated_to), "%.255s (unconfirmed: %.300s)", m->p.dest, r->why);
        d->migrated = 1;
        log_info("migrated to %s: %llu rounds, %llu pages, %llu bytes, downtime %llu us, total %llu ms", d->migrated_to,
                 (unsigned long long)r->rounds, (unsigned long long)r->pages, (unsigned long long)r->bytes,
                 (unsigned long long)r->downtime_us, (unsigned long long)ms_of(r->total_us));
        /* The vCPUs are paused and stay so: the stop wakes them only to end. */
        vm_request_stop(&d->vm, VM_DESTROYED, "migrated to %s", m->p.dest);
    } else {
        snprintf(line, sizeof(line), "err migration to %s failed: %.3000s; the domain runs on here", m->p.dest, r->why);
        log_warn("migration to %s failed: %s; the domain runs on here", m->p.dest, r->why);
        if (r->paused_vcpus && d->state != DOM_STATE_PAUSED) {
            domain__restart_sampling(d);
            vm_unpause(&d->vm);
        }
    }
    if (d->reply)
        d->reply(d->notify_opaque, line);
    migrate_send_free(m);
}

static void emit_progress(void *opaque, const char *line)
{
    domain__notify(opaque, "%s", line);
}

int domain_migrate_fd(const struct domain *d)
{
    return d->mig ? migrate_send_fd(d->mig) : -1;
}

void domain_migrate_event(struct domain *d)
{
    if (d->mig && migrate_send_poll(d->mig, emit_progress, d))
        domain__migration_ended(d);
}

/* migrate HOST:PORT [key=FILE] [bandwidth=MBPS] [max-downtime=MS] [max-rounds=N] [to=ID] */
int domain__migrate_request(struct domain *d, const struct control_args *args, char *reply, size_t size)
{
    const struct options *o = d->opt;
    struct migrate_params p = {.max_downtime_ms = MIGRATE_DEFAULT_MAX_DOWNTIME_MS,
                               .max_rounds = MIGRATE_DEFAULT_MAX_ROUNDS};
    if (d->state == DOM_STATE_PAUSED) {
        snprintf(reply, size, "err the domain is paused: unpause it first (it would run at the destination)");
        return 0;
    }
    if (vm_disks_recordable(&d->vm) < 0) {
        snprintf(reply, size, "err %s", err_msg());
        return 0;
    }
    const char *key = args->key[0] ? args->key : o->migrate_key;
    if (!key) {
        snprintf(reply, size, "err no migration key: give key=FILE or start the monitor with --migrate-key FILE");
        return 0;
    }
    snprintf(p.dest, sizeof(p.dest), "%.255s", args->path);
    snprintf(p.key_path, sizeof(p.key_path), "%.1023s", key);
    snprintf(p.dest_id, sizeof(p.dest_id), "%s", args->mig_to);
    if (args->mig_has & (1u << CONTROL_MIG_BANDWIDTH))
        p.bandwidth_mbps = args->mig[CONTROL_MIG_BANDWIDTH];
    if (args->mig_has & (1u << CONTROL_MIG_MAX_DOWNTIME))
        p.max_downtime_ms = args->mig[CONTROL_MIG_MAX_DOWNTIME];
    if (args->mig_has & (1u << CONTROL_MIG_MAX_ROUNDS))
        p.max_rounds = args->mig[CONTROL_MIG_MAX_ROUNDS];
    struct snap_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        snprintf(reply, size, "err out of memory");
        return 0;
    }
    fill_snap_config(d, cfg);
    int r = migrate_send_start(&d->mig, &d->vm, cfg, &p);
    free(cfg);
    if (r < 0) {
        d->mig = NULL;
        snprintf(reply, size, "err %s", err_msg());
        return 0;
    }
    log_info("migrating to %s (bandwidth %s%llu MB/s, max downtime %llu ms, max rounds %llu)", p.dest,
             p.bandwidth_mbps ? "" : "unlimited, ", (unsigned long long)p.bandwidth_mbps,
             (unsigned long long)p.max_downtime_ms, (unsigned long long)p.max_rounds);
    return CONTROL_REPLY_LATER;
}

int domain__arrive(struct domain *d, int paused)
{
    const struct options *o = d->opt;
    vm_pause(&d->vm); /* returns once every thread is parked */
    if (d->incoming) {
        /* Memory and state from the source; the vCPUs run only once it said GO. */
        if (migrate_recv_load(d->incoming, &d->vm) < 0) {
            log_error("incoming migration from %s: %s", d->incoming->c.peer, err_msg());
            migrate_recv_abort(d->incoming, err_msg());
            vm_request_stop(&d->vm, VM_HOST_ERROR, "incoming migration from %s failed: %s", d->incoming->c.peer,
                            err_msg());
            return -1;
        }
        struct timespec go;
        clock_gettime(CLOCK_REALTIME, &go); /* the hand-over: this side bills from here */
        d->held_from_ns = (uint64_t)go.tv_sec * 1000000000u + (uint64_t)go.tv_nsec;
        vm_disks_release(&d->vm); /* GO: the disks and the network are ours now */
        vm_net_release(&d->vm);
        if (!paused)
            vm_unpause(&d->vm);
        migrate_recv_started(d->incoming);
        log_info("migrated in from %s: %llu pages in %llu rounds, state loaded in %llu us", d->incoming->c.peer,
                 (unsigned long long)d->incoming->pages, (unsigned long long)d->incoming->rounds,
                 (unsigned long long)d->incoming->apply_us);
    } else {
        int r = vm_snapshot_restore(&d->vm, d->snap, !o->restore_eager);
        d->restore_refused = r == -EINVAL; /* refused: a changed disk image, say */
        if (r < 0) {
            log_error("%s", err_msg());
            vm_request_stop(&d->vm, VM_HOST_ERROR, "restoring %s: %s", o->restore, err_msg());
            return -1;
        }
        log_info("restored %s", o->restore);
        vm_disks_release(&d->vm);
        vm_net_release(&d->vm); /* RAM is in: the rings' used indices are the saved ones */
        if (!paused)
            vm_unpause(&d->vm);
    }
    return 0;
}
