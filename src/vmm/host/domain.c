#include "vmm/host/domain_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/boot/acpi.h"
#include "vmm/host/cpu_report.h"
#include "vmm/virtio/virtio_net.h"
#include "vmm/state/disk_hold.h"
#include "vmm/state/net_hold.h"
#include "vmm/state/save_shrink.h"

void domain__notify(struct domain *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (d->notify)
        d->notify(d->notify_opaque, line);
}

void domain__set_state(struct domain *d, enum dom_state s)
{
    if (d->state == s)
        return;
    d->state = s;
    domain__notify(d, "state %s", dom_state_name(s));
}

/* The first line of a reason (crash reasons carry a register dump on the next lines). */
static void first_line(char *out, size_t size, const char *reason)
{
    size_t n = strcspn(reason, "\r\n");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), reason);
}

void domain__finish(struct domain *d, int status, const char *word, const char *reason)
{
    char line[900];
    first_line(line, sizeof(line), reason);
    d->finished = 1;
    d->exit_status = status;
    snprintf(d->outcome, sizeof(d->outcome), "%s %s", word, line);
    /* For the last stats page: the domain is gone (a preserved crash stays a crash). */
    if (strcmp(word, "crash") == 0 || d->state == DOM_STATE_CRASHED)
        d->state = DOM_STATE_CRASHED;
    else
        d->state = DOM_STATE_SHUTDOWN;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t vcpu_ns(struct domain *d, unsigned i)
{
    return d->base_ns[i] + (d->vm_running ? vm_vcpu_cpu_ns(&d->vm, i) : 0);
}

void domain__restart_sampling(struct domain *d)
{
    for (unsigned i = 0; i < d->vm.nvcpus; i++)
        d->last_ns[i] = vcpu_ns(d, i);
    d->last_tick_ns = mono_ns();
}

/* The machine the options describe (boots and --dump-acpi alike). */
static struct vm_config vm_config_of(const struct domain *d, int paused)
{
    const struct options *o = d->opt;
    return (struct vm_config){.mem_size = o->mem_size,
                              .nvcpus = o->nvcpus,
                              .console_out = d->console_out,
                              .console_write = d->console_write,
                              .console_opaque = d->console_opaque,
                              .start_paused = paused,
                              .net = o->have_net ? &o->net : NULL,
                              .blk = o->disks,
                              .nblk = o->ndisks,
                              .cpu_off = o->have_cpu_off ? &o->cpu_off : NULL,
                              .cache_dir = o->cache_dir,
                              .vcpu_pin_given = o->vcpu_pin_given,
                              .vcpu_pin = o->vcpu_pin};
}

/* Starts a fresh VM. On failure the domain is finished (or stopping, once threads exist). */
static int boot(struct domain *d, int paused)
{
    const struct options *o = d->opt;
    struct vm_config cfg = vm_config_of(d, paused);
    d->have_vm = 1; /* even a half-made VM needs vm_destroy */
    if (vm_create(&d->vm, &cfg) < 0) {
        log_error("%s", err_msg());
        domain__finish(d, EXIT_HOST_ERROR, "host-error", err_msg());
        return -1;
    }
    int restoring = (d->snap || d->incoming) && d->boots == 0;
    /* Before the VM runs: a domain that relies on CPU features this host's guests lack is
     * refused here (docs/machine.md, "CPUID"); a migration's source keeps it. */
    if (restoring &&
        (d->incoming ? migrate_recv_adopt_cpu(d->incoming, &d->vm) : vm_snapshot_adopt_cpu(&d->vm, d->snap)) < 0) {
        log_error("%s", err_msg());
        if (d->incoming)
            migrate_recv_abort(d->incoming, err_msg());
        domain__finish(d, EXIT_BAD_INPUT, "bad-input", err_msg());
        return -1;
    }
    /* A restored disk's rings go to a backend only once guest RAM holds them (the devices'
     * state is loaded before RAM, and the backend starts from the used index in RAM) and,
     * for a migration, only after GO: until then the source may still run the domain, its
     * disks included (state/disk_hold.h), and the network's (state/net_hold.h). No kernel:
     * RAM, devices and vCPUs come from the snapshot once the threads are parked. */
    if (restoring) {
        if (vm_disks_hold(&d->vm) == 0) /* no backend has the rings yet: cannot fail */
            vm_net_hold(&d->vm);
    } else if (vm_load_pvh(&d->vm, d->kernel, d->kernel_len, o->kernel, o->cmdline, o->initrd ? d->initrd : NULL,
                           d->initrd_len) < 0) {
        log_error("%s", err_msg());
        domain__finish(d, EXIT_BAD_INPUT, "bad-input", err_msg());
        return -1;
    }
    d->boots++;
    d->vm_running = 1;
    d->balloon = (struct virtio_balloon_state){0};
    /* A restarted VM keeps the domain's memory target: its fresh balloon gets it at once. */
    if (d->mt.state != STATS_MEMTARGET_NONE && d->vm.vballoon)
        virtio_balloon_set_target(d->vm.vballoon, (uint32_t)((o->mem_size - d->mt.target_bytes) / 4096));
    for (unsigned i = 0; i < o->nvcpus; i++)
        d->last_ns[i] = d->base_ns[i];
    d->last_tick_ns = mono_ns();
    if (restoring)
        d->vm.paused = 1; /* the vCPU threads park before their first KVM_RUN */
    if (vm_start(&d->vm) < 0) {
        /* Threads may have started: end them through the stop path. No pid file (failed). */
        vm_request_stop(&d->vm, VM_HOST_ERROR, "%s", err_msg());
        return -1;
    }
    if (restoring && domain__arrive(d, paused) < 0)
        return -1;                        /* no pid file: xenod sees a failed start, not a domain restored or arrived */
    vcpu_sched_attach(&d->sched, &d->vm); /* its vCPU threads get their bands (joined threads are detached first) */
    return 0;
}

int domain_dump_acpi(struct domain *d, const char *dir)
{
    struct vm_config cfg = vm_config_of(d, 1);
    struct vm *vm = &d->vm;
    int status = 0;
    if (vm_create(vm, &cfg) < 0) {
        log_error("%s", err_msg());
        status = EXIT_HOST_ERROR;
    } else if (acpi_dump(dir, vm->nvcpus, vm->virtio.descs, vm->virtio.ndescs) < 0) {
        log_error("%s", err_msg()); /* DIR missing or not writable */
        status = EXIT_BAD_INPUT;
    } else {
        printf("acpi: %u vCPUs, %u devices; tables in %s\n", vm->nvcpus, vm->virtio.ndescs, dir);
        for (unsigned i = 0; i < vm->virtio.ndescs; i++) {
            const struct mmio_dev_desc *m = &vm->virtio.descs[i];
            printf("acpi: device VR%02X %s base=0x%llx size=0x%x gsi=%u\n", i, m->name ? m->name : "?",
                   (unsigned long long)m->base, m->size, m->gsi);
        }
    }
    vm_destroy(vm);
    return status;
}

static void arm_mem_timer(struct domain *d);

int domain_boot(struct domain *d)
{
    d->state = DOM_STATE_NONE;
    d->mt_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    d->mt_timer_open = d->mt_timer_fd >= 0;
    if (!d->mt_timer_open)
        log_warn("timerfd for memory deadlines: %s; they are checked every 100 ms instead", strerror(errno));
    if (vcpu_sched_start(&d->sched, &d->opt->sched, d->opt->nvcpus) < 0) {
        log_error("%s", err_msg());
        domain__finish(d, EXIT_HOST_ERROR, "host-error", err_msg());
        return -1;
    }
    const struct snap_section *mts = d->snap ? snap_find(&d->snap->img, SNAP_SEC_MEM_TARGET, 0) : NULL;
    if (mts) {
        /* The saved target again, with a fresh deadline: the time the domain spent in the
         * file is not the guest's fault. The balloon's own target comes back with the
         * virtio state. */
        struct snap_mem_target t;
        memcpy(&t, mts->data, sizeof(t));
        mem_target_set(&d->mt, t.target_bytes, t.deadline_ms, mono_ns());
        log_info("memory target %llu bytes within %llu ms, from the snapshot", (unsigned long long)t.target_bytes,
                 (unsigned long long)t.deadline_ms);
    }
    if (boot(d, d->opt->paused) < 0)
        return -1;
    if (mts)
        arm_mem_timer(d);
    domain__set_state(d, d->opt->paused ? DOM_STATE_PAUSED : DOM_STATE_RUNNING);
    return 0;
}

int domain_stop_fd(const struct domain *d)
{
    return d->vm_running ? d->vm.stop_efd : -1;
}

int domain_rx_space_fd(const struct domain *d)
{
    return d->vm_running ? d->vm.rx_space_efd : -1;
}

struct uart *domain_uart(struct domain *d)
{
    return d->vm_running ? &d->vm.com1 : NULL;
}

size_t domain_console_input(void *opaque, const uint8_t *buf, size_t len)
{
    struct domain *d = opaque;
    return d->vm_running ? vm_console_input(&d->vm, buf, len) : 0;
}

/* Folds the stopped VM's counters into the totals, which outlive restarts. */
static void account_final(struct domain *d)
{
    for (unsigned i = 0; i < d->vm.nvcpus; i++) {
        d->base_ns[i] += vm_vcpu_cpu_ns(&d->vm, i);
        d->base_io += __atomic_load_n(&d->vm.vcpus[i].exits_io, __ATOMIC_RELAXED);
        d->base_mmio += __atomic_load_n(&d->vm.vcpus[i].exits_mmio, __ATOMIC_RELAXED);
        d->base_exits_other += __atomic_load_n(&d->vm.vcpus[i].exits_other, __ATOMIC_RELAXED);
    }
    d->base_virtio_errors += vm_virtio_errors(&d->vm);
    if (d->vm.vballoon)
        virtio_balloon_get(d->vm.vballoon, &d->balloon);
    d->base_released += d->balloon.released_bytes;
    d->base_reported += d->balloon.reported_bytes;
    d->balloon = (struct virtio_balloon_state){0};
}

static void restart(struct domain *d)
{
    vm_destroy(&d->vm);
    d->have_vm = 0;
    if (boot(d, 0) == 0) {
        domain__notify(d, "restarted %u", d->boots);
        domain__set_state(d, DOM_STATE_RUNNING);
    }
}

/* How the guest stopped: the outcome word (also the --on-WORD option), the lifecycle
 * action that applies and the exit status if it is destroy. 0, or -1 for a host error. */
struct stop_kind {
    const char *word;
    enum lifecycle_action action;
    int status;
};

static int stop_kind(const struct domain *d, struct stop_kind *k)
{
    switch (d->vm.outcome) {
    case VM_POWEROFF: *k = (struct stop_kind){"poweroff", d->opt->on_poweroff, EXIT_POWEROFF}; return 0;
    case VM_REBOOT: *k = (struct stop_kind){"reboot", d->opt->on_reboot, EXIT_REBOOT}; return 0;
    case VM_CRASH: *k = (struct stop_kind){"crash", d->opt->on_crash, EXIT_CRASH}; return 0;
    default: return -1;
    }
}

void domain_stopped(struct domain *d)
{
    struct stop_kind k;
    char line[900];

    if (d->mig) { /* the VM stops under it: end the migration first (it never commits now) */
        migrate_send_cancel(d->mig);
        domain__migration_ended(d);
    }
    vcpu_sched_attach(&d->sched, NULL); /* before the vCPU threads are joined */
    vm_join(&d->vm);
    account_final(d);
    d->vm_running = 0;
    const char *reason = d->vm.reason;
    int crashed = d->vm.outcome == VM_CRASH;
    first_line(line, sizeof(line), reason);

    /* Stops from outside end the process, whatever the guest did meanwhile. */
    if (d->migrated) {
        log_info("migrated to %s", d->migrated_to);
        domain__finish(d, EXIT_POWEROFF, "migrated", d->migrated_to);
        return;
    }
    if (d->save_requested) {
        log_info("saved to %s", d->saved_path);
        domain__finish(d, EXIT_POWEROFF, "saved", d->saved_path);
        return;
    }
    if (d->destroy_requested) {
        const char *why = d->destroy_why[0] ? d->destroy_why : "over the control channel";
        log_info("destroyed %s", why);
        domain__finish(d, EXIT_POWEROFF, "destroyed", why);
        return;
    }
    if (d->signo) {
        log_info("%s", d->stop_why);
        domain__finish(d, 128 + d->signo, "signal", d->stop_why);
        return;
    }
    if (stop_kind(d, &k) < 0) { /* a refused restore is the file's fault, not the host's */
        const char *w = d->restore_refused ? "bad-input" : "host-error";
        log_error("%s", reason);
        domain__notify(d, "stopped %s %s", w, line);
        domain__finish(d, d->restore_refused ? EXIT_BAD_INPUT : EXIT_HOST_ERROR, w, reason);
        return;
    }
    if (crashed)
        log_error("guest crashed: %s", reason);
    domain__notify(d, "stopped %s %s", k.word, line);
    switch (k.action) {
    case ACTION_RESTART:
        if (crashed)
            log_info("restarting (--on-crash restart)");
        else
            log_info("%s; restarting", reason);
        restart(d);
        break;
    case ACTION_PRESERVE:
        if (!crashed)
            log_info("%s", reason);
        log_info("keeping the stopped domain until it is destroyed (--on-%s preserve)", k.word);
        snprintf(d->preserved, sizeof(d->preserved), "%s %.400s", k.word, line);
        domain__set_state(d, crashed ? DOM_STATE_CRASHED : DOM_STATE_SHUTDOWN);
        break;
    case ACTION_DESTROY:
    default:
        if (!crashed)
            log_info("%s", reason);
        domain__finish(d, k.status, k.word, reason);
        break;
    }
}

void domain_signal(struct domain *d, int signo, const char *why)
{
    if (d->finished || d->signo)
        return;
    d->signo = signo;
    snprintf(d->stop_why, sizeof(d->stop_why), "%s", why);
    if (d->vm_running) {
        vm_request_stop(&d->vm, VM_SIGNALLED, "%s", why);
    } else {
        log_info("%s", why);
        domain__finish(d, 128 + signo, "signal", why);
    }
}

/* why: the outcome's reason, or NULL for a destroy over the control channel. */
static void destroy(struct domain *d, const char *why_destroyed)
{
    if (d->finished)
        return;
    if (d->mig) {
        migrate_send_cancel(d->mig);
        domain__migration_ended(d);
        if (d->migrated)
            return; /* it had committed: the domain is gone from here already */
    }
    d->destroy_requested = 1;
    snprintf(d->destroy_why, sizeof(d->destroy_why), "%s", why_destroyed ? why_destroyed : "");
    if (d->vm_running) {
        vm_request_stop(&d->vm, VM_DESTROYED, "destroyed %s",
                        why_destroyed ? why_destroyed : "over the control channel");
        return;
    }
    char why[600];
    snprintf(why, sizeof(why), "over the control channel, preserved after %.500s", d->preserved);
    log_info("destroyed %s", why);
    domain__finish(d, EXIT_POWEROFF, "destroyed", why);
}

/* ---- memory target ---------------------------------------------------------------- */

static void arm_mem_timer(struct domain *d)
{
    uint64_t due = d->vm_running ? mem_target_due(&d->mt) : 0;
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (!d->mt_timer_open)
        return;
    if (due) {
        its.it_value.tv_sec = (time_t)(due / 1000000000u);
        its.it_value.tv_nsec = (long)(due % 1000000000u);
        if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
            its.it_value.tv_nsec = 1;
    }
    if (timerfd_settime(d->mt_timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        log_warn("memory deadline timer: %s", strerror(errno));
}

static uint64_t balloon_bytes(const struct domain *d)
{
    return (uint64_t)d->balloon.actual * 4096u;
}

/* Measures the guest's RAM on the host and applies what it means for the target. */
static void mem_check(struct domain *d)
{
    if (!d->vm_running || d->mt.state == STATS_MEMTARGET_NONE) {
        arm_mem_timer(d);
        return;
    }
    uint64_t now = mono_ns(), target = d->mt.target_bytes;
    uint64_t resident = mem_resident_bytes(d->vm.mem.fd);
    d->resident_bytes = resident;
    if (d->vm.vballoon)
        virtio_balloon_get(d->vm.vballoon, &d->balloon);
    enum mem_verdict v = mem_target_check(&d->mt, resident, now);
    if (v == MEM_REACHED) {
        d->mt_reached++;
        log_info("memory target reached: %llu bytes resident for a target of %llu, %llu ms after it was set",
                 (unsigned long long)resident, (unsigned long long)target,
                 (unsigned long long)mem_target_elapsed_ms(&d->mt, now));
        domain__notify(d, "memory-target reached target=%llu resident=%llu after_ms=%llu deadline_ms=%llu balloon=%llu",
                       (unsigned long long)target, (unsigned long long)resident,
                       (unsigned long long)mem_target_elapsed_ms(&d->mt, now), (unsigned long long)d->mt.deadline_ms,
                       (unsigned long long)balloon_bytes(d));
    } else if (v == MEM_MISSED || v == MEM_MISSED_REGROWN) {
        enum memory_enforcement e = d->opt->memory_enforcement;
        const char *action = memory_enforcement_name(e), *why = v == MEM_MISSED ? "deadline" : "regrown";
        char reason[300];
        d->mt_missed++;
        snprintf(reason, sizeof(reason), "memory target missed: %llu bytes resident for a target of %llu (%s, %llu ms)",
                 (unsigned long long)resident, (unsigned long long)target,
                 v == MEM_MISSED ? "deadline passed" : "grew past it again for the deadline",
                 (unsigned long long)d->mt.deadline_ms);
        log_warn("%s; enforcement: %s", reason, action);
        domain__notify(d,
                       "memory-target missed target=%llu resident=%llu over=%llu deadline_ms=%llu action=%s why=%s "
                       "after_ms=%llu balloon=%llu",
                       (unsigned long long)target, (unsigned long long)resident,
                       (unsigned long long)(resident - target), (unsigned long long)d->mt.deadline_ms, action, why,
                       (unsigned long long)mem_target_elapsed_ms(&d->mt, now), (unsigned long long)balloon_bytes(d));
        if (e == MEMORY_ENFORCE_PAUSE) {
            d->mt_enforced++;
            if (d->state != DOM_STATE_PAUSED) {
                vm_pause(&d->vm);
                domain__set_state(d, DOM_STATE_PAUSED);
            }
        } else if (e == MEMORY_ENFORCE_DESTROY) {
            d->mt_enforced++;
            destroy(d, reason);
        }
    }
    arm_mem_timer(d);
}

/* mem-set TARGET_BYTES DEADLINE_MS */
static void mem_set(struct domain *d, const struct control_args *args, char *reply, size_t size)
{
    uint64_t mem = d->opt->mem_size, target = args ? args->v[0] : 0, deadline = args ? args->v[1] : 0;
    if (!args || args->n != 2) {
        snprintf(reply, size, "err mem-set takes TARGET_BYTES DEADLINE_MS");
        return;
    }
    if (target % 4096 || target < VM_MIN_MEMORY || target > mem) {
        snprintf(reply, size,
                 "err memory target %llu bytes: must be a multiple of 4096 from %llu up to the domain's memory, "
                 "%llu",
                 (unsigned long long)target, (unsigned long long)VM_MIN_MEMORY, (unsigned long long)mem);
        return;
    }
    uint32_t pages = (uint32_t)((mem - target) / 4096);
    mem_target_set(&d->mt, target, deadline, mono_ns());
    log_info("memory target %llu bytes within %llu ms: balloon of %u pages", (unsigned long long)target,
             (unsigned long long)deadline, pages);
    if (d->vm.vballoon)
        virtio_balloon_set_target(d->vm.vballoon, pages);
    mem_check(d); /* already there (a target above what it uses): reached at once */
    snprintf(reply, size, "ok");
}

int domain_mem_timer_fd(const struct domain *d)
{
    return d->mt_timer_open ? d->mt_timer_fd : -1;
}

void domain_mem_timer(struct domain *d)
{
    uint64_t n;
    if (read(d->mt_timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("memory deadline timer: %s", strerror(errno));
    mem_check(d);
}

/* ---- CPU scheduling ------------------------------------------------------------------ */

/* sched [reservation=PPM] [limit=PPM] [weight=N] [period=US]: changes what is given, then
 * answers with the settings in force. */
static void sched_request(struct domain *d, const struct control_args *args, char *reply, size_t size)
{
    struct sched_params p = vcpu_sched_params(&d->sched);
    unsigned has = args ? args->sched_has : 0;
    char why[300];
    if (has & (1u << CONTROL_SCHED_RESERVATION))
        p.reservation_ppm = (uint32_t)args->sched[CONTROL_SCHED_RESERVATION];
    if (has & (1u << CONTROL_SCHED_LIMIT))
        p.limit_ppm = (uint32_t)args->sched[CONTROL_SCHED_LIMIT];
    if (has & (1u << CONTROL_SCHED_WEIGHT))
        p.weight = (uint32_t)args->sched[CONTROL_SCHED_WEIGHT];
    if (has & (1u << CONTROL_SCHED_PERIOD))
        p.period_us = (uint32_t)args->sched[CONTROL_SCHED_PERIOD];
    if (has) {
        if (sched_params_check(&p, d->opt->nvcpus, why, sizeof(why)) < 0) {
            snprintf(reply, size, "err %s", why);
            return;
        }
        vcpu_sched_set(&d->sched, &p);
        log_info("CPU scheduling: reservation %s, limit %s, weight %u, period %u us", SCHED_PCT(p.reservation_ppm),
                 p.limit_ppm ? SCHED_PCT(p.limit_ppm) : "none", p.weight, p.period_us);
    }
    snprintf(reply, size, "ok reservation=%u limit=%u weight=%u period=%u", p.reservation_ppm, p.limit_ppm, p.weight,
             p.period_us);
}

int domain_control(void *opaque, enum control_req req, const struct control_args *args, char *reply, size_t size)
{
    struct domain *d = opaque;
    if (req == CONTROL_STATUS) {
        snprintf(reply, size, "ok state=%s boots=%u", dom_state_name(d->state), d->boots);
        return 0;
    }
    if (req == CONTROL_CPU) { /* what the start-up probe found (docs/machine.md, "CPUID") */
        size_t n = (size_t)snprintf(reply, size, "ok ");
        if (n < size)
            cpu_report_info(&d->vm, reply + n, size - n);
        return 0;
    }
    if (req == CONTROL_DESTROY) {
        destroy(d, NULL);
        snprintf(reply, size, "ok");
        return 1;
    }
    if (req == CONTROL_SCHED) { /* settings may change whatever the state: they apply when vCPUs run */
        sched_request(d, args, reply, size);
        return 0;
    }
    if (!d->vm_running) {
        snprintf(reply, size, "err the domain is not running (state %s): only status and destroy work now",
                 dom_state_name(d->state));
        return 0;
    }
    if (d->mig && (req == CONTROL_PAUSE || req == CONTROL_UNPAUSE || req == CONTROL_SAVE || req == CONTROL_MEM_SET ||
                   req == CONTROL_MIGRATE)) {
        snprintf(reply, size, "err a migration to %s is in progress", d->mig->p.dest);
        return 0;
    }
    switch (req) {
    case CONTROL_PAUSE:
        if (d->state != DOM_STATE_PAUSED) {
            vm_pause(&d->vm);
            domain__set_state(d, DOM_STATE_PAUSED);
        }
        break;
    case CONTROL_UNPAUSE:
        if (d->state == DOM_STATE_PAUSED) {
            domain__restart_sampling(d);
            vm_unpause(&d->vm);
            domain__set_state(d, DOM_STATE_RUNNING);
        }
        break;
    case CONTROL_SHUTDOWN: vm_power_request(&d->vm, POWER_REQUEST_OFF); break;
    case CONTROL_REBOOT: vm_power_request(&d->vm, POWER_REQUEST_REBOOT); break;
    case CONTROL_RESET: vm_request_stop(&d->vm, VM_REBOOT, "reset over the control channel"); break;
    case CONTROL_MEM_SET: mem_set(d, args, reply, size); return 0;
    case CONTROL_SAVE: domain__save_request(d, args, reply, size); return 0;
    case CONTROL_MIGRATE: return domain__migrate_request(d, args, reply, size);
    default: snprintf(reply, size, "err %s is handled elsewhere (internal error)", control_req_name(req)); return 0;
    }
    snprintf(reply, size, "ok");
    return 0;
}

/* The memory side of a tick: host measurements, the balloon's state, the target. Only
 * timed ticks ask the guest for statistics: a request wakes the guest. */
static void mem_tick(struct domain *d, int ask_guest)
{
    d->rss_bytes = mem_self_rss_bytes();
    if (!d->vm_running)
        return;
    d->resident_bytes = mem_resident_bytes(d->vm.mem.fd);
    if (d->vm.vballoon) {
        virtio_balloon_get(d->vm.vballoon, &d->balloon);
        if (ask_guest && ++d->ticks % 10 == 0) /* fresh guest statistics every second */
            virtio_balloon_request_stats(d->vm.vballoon);
    }
    mem_check(d);
}

void domain_measure(struct domain *d)
{
    mem_tick(d, 0);
}

void domain_wake(struct domain *d)
{
    domain_watch_activity(d, 0);
    domain__restart_sampling(d);
}

int domain_idle(const struct domain *d)
{
    return d->state != DOM_STATE_RUNNING && !mem_target_due(&d->mt) && !d->mig && !d->finished;
}

int domain_activity_fd(const struct domain *d)
{
    return d->vm_running ? d->vm.activity.efd : -1;
}

void domain_watch_activity(struct domain *d, int on)
{
    if (d->vm_running)
        __atomic_store_n(&d->vm.activity.watch, on, __ATOMIC_SEQ_CST);
}

uint64_t domain_cpu_ns(struct domain *d)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < d->opt->nvcpus; i++)
        total += d->base_ns[i] + (d->vm_running ? vm_vcpu_cpu_ns(&d->vm, i) : 0);
    return total;
}

void domain_tick(struct domain *d)
{
    uint64_t now = mono_ns(), interval = now - d->last_tick_ns;
    int busy = 0;
    mem_tick(d, 1);
    if (!d->vm_running || d->state == DOM_STATE_PAUSED || d->finished)
        return;
    for (unsigned i = 0; i < d->vm.nvcpus; i++) {
        uint64_t ns = vcpu_ns(d, i);
        if ((ns - d->last_ns[i]) * 100 >= interval * DOMAIN_BUSY_PERCENT)
            busy = 1;
        d->last_ns[i] = ns;
    }
    /* A domain its limit keeps off the CPU wants to run: running, not blocked. */
    struct vcpu_sched_stats ss;
    vcpu_sched_stats(&d->sched, &ss);
    if (ss.c.throttled_ns != d->sched_last_throttled_ns)
        busy = 1;
    d->sched_last_throttled_ns = ss.c.throttled_ns;
    d->last_tick_ns = now;
    domain__set_state(d, busy ? DOM_STATE_RUNNING : DOM_STATE_BLOCKED);
}

void domain_fill_stats(struct domain *d, struct stats_page *p)
{
    uint64_t total = 0, io = d->base_io, mmio = d->base_mmio;
    p->state = d->state;
    p->nvcpus = d->opt->nvcpus;
    p->boots = d->boots;
    p->memory_bytes = d->opt->mem_size;
    /* Before the vCPUs' clocks: the difference is then never more than the overhead. */
    struct timespec ts;
    p->process_cpu_ns = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0
                            ? (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec
                            : 0;
    for (unsigned i = 0; i < d->opt->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++) {
        p->vcpu_ns[i] = vcpu_ns(d, i);
        total += p->vcpu_ns[i];
        if (d->vm_running) {
            io += __atomic_load_n(&d->vm.vcpus[i].exits_io, __ATOMIC_RELAXED);
            mmio += __atomic_load_n(&d->vm.vcpus[i].exits_mmio, __ATOMIC_RELAXED);
        }
    }
    p->cpu_ns = total;
    p->migrate_incoming_pending = d->incoming && !d->held_from_ns;
    p->held_from_ns = d->held_from_ns;
    p->held_until_ns = d->held_until_ns;
    p->exits_io = io;
    p->exits_mmio = mmio;
    p->virtio_errors = d->base_virtio_errors + (d->vm_running ? vm_virtio_errors(&d->vm) : 0);

    uint64_t other = d->base_exits_other;
    for (unsigned i = 0; d->vm_running && i < d->opt->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        other += __atomic_load_n(&d->vm.vcpus[i].exits_other, __ATOMIC_RELAXED);
    const struct virtio_balloon_state *b = &d->balloon;
    uint64_t mem = d->opt->mem_size;
    p->exits_other = other;
    p->memory_target_bytes = d->mt.state != STATS_MEMTARGET_NONE ? d->mt.target_bytes : 0;
    p->memory_target_deadline_ms = d->mt.state != STATS_MEMTARGET_NONE ? d->mt.deadline_ms : 0;
    p->memory_target_state = d->mt.state;
    p->memory_enforcement = d->opt->memory_enforcement;
    p->balloon_target_bytes = d->mt.state != STATS_MEMTARGET_NONE ? mem - d->mt.target_bytes : 0;
    p->balloon_bytes = d->vm_running ? balloon_bytes(d) : 0;
    p->guest_resident_bytes = d->vm_running ? d->resident_bytes : 0;
    p->monitor_rss_bytes = d->rss_bytes;
    p->guest_free_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_MEMFREE] : STATS_PAGE_UNKNOWN;
    p->guest_available_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_AVAIL] : STATS_PAGE_UNKNOWN;
    p->guest_total_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_MEMTOT] : STATS_PAGE_UNKNOWN;
    p->guest_caches_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_CACHES] : STATS_PAGE_UNKNOWN;
    p->guest_swap_in_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_SWAP_IN] : STATS_PAGE_UNKNOWN;
    p->guest_swap_out_bytes = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_SWAP_OUT] : STATS_PAGE_UNKNOWN;
    p->guest_major_faults = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_MAJFLT] : STATS_PAGE_UNKNOWN;
    p->guest_minor_faults = b->stats_updates ? b->stats[VIRTIO_BALLOON_S_MINFLT] : STATS_PAGE_UNKNOWN;
    p->guest_stats_ns = b->stats_realtime_ns;
    p->balloon_released_bytes = d->base_released + b->released_bytes;
    p->balloon_reported_bytes = d->base_reported + b->reported_bytes;
    p->memory_target_reached = d->mt_reached;
    p->memory_target_missed = d->mt_missed;
    p->memory_enforcements = d->mt_enforced;

    struct vcpu_sched_stats ss;
    vcpu_sched_stats(&d->sched, &ss);
    if (!d->sched.started) /* before domain_boot: what the options say */
        ss.p = d->opt->sched;
    p->sched_reservation_ppm = ss.p.reservation_ppm;
    p->sched_limit_ppm = ss.p.limit_ppm;
    p->sched_weight = ss.p.weight;
    p->sched_period_us = ss.p.period_us;
    p->sched_band = ss.band;
    p->sched_reserved_ns = ss.c.reserved_ns;
    p->sched_throttled_ns = ss.c.throttled_ns;
    p->sched_throttles = ss.c.throttles;
    p->sched_overrun_ns = ss.c.overrun_ns;
    p->sched_periods = ss.c.periods;
    p->sched_overhead_ns = ss.overhead_ns;
    p->sched_changes = ss.changes;

    if (d->vm_running && d->vm.vnet) {
        struct virtio_net_stats ns;
        virtio_net_get_stats(d->vm.vnet, &ns);
        p->net_present = 1;
        p->net_backend_connected = ns.backend_connected;
        p->net_backend_connects = ns.front.connects;
        p->net_backend_handovers = ns.front.handovers;
        p->net_backend_errors = ns.front.protocol_errors;
        p->net_driver_resets = ns.driver_resets;
    }
}

void domain_cleanup(struct domain *d)
{
    if (d->mig) { /* an early exit: the migration never commits now */
        migrate_send_cancel(d->mig);
        migrate_send_free(d->mig);
        d->mig = NULL;
    }
    vcpu_sched_attach(&d->sched, NULL);
    if (d->vm_running) { /* only on an early exit: stop and join what runs */
        vm_request_stop(&d->vm, VM_HOST_ERROR, "monitor exiting");
        vm_join(&d->vm);
        d->vm_running = 0;
    }
    vcpu_sched_stop(&d->sched);
    if (d->have_vm)
        vm_destroy(&d->vm);
    d->have_vm = 0;
    if (d->mt_timer_open)
        close(d->mt_timer_fd);
    d->mt_timer_open = 0;
}
