#include "vmm/domain.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

static void notify(struct domain *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(struct domain *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (d->notify)
        d->notify(d->notify_opaque, line);
}

static void set_state(struct domain *d, enum dom_state s)
{
    if (d->state == s)
        return;
    d->state = s;
    notify(d, "state %s", dom_state_name(s));
}

/* The first line of a reason (crash reasons carry a register dump on the next lines). */
static void first_line(char *out, size_t size, const char *reason)
{
    size_t n = strcspn(reason, "\r\n");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), reason);
}

static void finish(struct domain *d, int status, const char *word, const char *reason)
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

/* Starts a fresh VM. On failure the domain is finished (or stopping, once threads exist). */
static int boot(struct domain *d, int paused)
{
    const struct options *o = d->opt;
    struct vm_config cfg = {.mem_size = o->mem_size,
                            .nvcpus = o->nvcpus,
                            .console_out = d->console_out,
                            .console_opaque = d->console_opaque,
                            .start_paused = paused};
    d->have_vm = 1; /* even a half-made VM needs vm_destroy */
    if (vm_create(&d->vm, &cfg) < 0) {
        log_error("%s", err_msg());
        finish(d, EXIT_HOST_ERROR, "host-error", err_msg());
        return -1;
    }
    if (vm_load_pvh(&d->vm, d->kernel, d->kernel_len, o->kernel, o->cmdline, o->initrd ? d->initrd : NULL,
                    d->initrd_len) < 0) {
        log_error("%s", err_msg());
        finish(d, EXIT_BAD_INPUT, "bad-input", err_msg());
        return -1;
    }
    d->boots++;
    d->vm_running = 1;
    for (unsigned i = 0; i < o->nvcpus; i++)
        d->last_ns[i] = d->base_ns[i];
    d->last_tick_ns = mono_ns();
    if (vm_start(&d->vm) < 0) {
        /* Threads may have started: end them through the normal stop path. */
        vm_request_stop(&d->vm, VM_HOST_ERROR, "%s", err_msg());
    }
    return 0;
}

int domain_boot(struct domain *d)
{
    d->state = DOM_STATE_NONE;
    if (boot(d, d->opt->paused) < 0)
        return -1;
    set_state(d, d->opt->paused ? DOM_STATE_PAUSED : DOM_STATE_RUNNING);
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

/* Folds the stopped VM's counters into the totals, which outlive restarts. */
static void account_final(struct domain *d)
{
    for (unsigned i = 0; i < d->vm.nvcpus; i++) {
        d->base_ns[i] += vm_vcpu_cpu_ns(&d->vm, i);
        d->base_io += __atomic_load_n(&d->vm.vcpus[i].exits_io, __ATOMIC_RELAXED);
        d->base_mmio += __atomic_load_n(&d->vm.vcpus[i].exits_mmio, __ATOMIC_RELAXED);
    }
}

static void restart(struct domain *d)
{
    vm_destroy(&d->vm);
    d->have_vm = 0;
    if (boot(d, 0) == 0) {
        notify(d, "restarted %u", d->boots);
        set_state(d, DOM_STATE_RUNNING);
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

    vm_join(&d->vm);
    account_final(d);
    d->vm_running = 0;
    const char *reason = d->vm.reason;
    int crashed = d->vm.outcome == VM_CRASH;
    first_line(line, sizeof(line), reason);

    /* Stops from outside end the process, whatever the guest did meanwhile. */
    if (d->destroy_requested) {
        log_info("destroyed over the control channel");
        finish(d, EXIT_POWEROFF, "destroyed", "over the control channel");
        return;
    }
    if (d->signo) {
        log_info("%s", d->stop_why);
        finish(d, 128 + d->signo, "signal", d->stop_why);
        return;
    }
    if (stop_kind(d, &k) < 0) {
        log_error("%s", reason);
        notify(d, "stopped host-error %s", line);
        finish(d, EXIT_HOST_ERROR, "host-error", reason);
        return;
    }
    if (crashed)
        log_error("guest crashed: %s", reason);
    notify(d, "stopped %s %s", k.word, line);
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
        set_state(d, crashed ? DOM_STATE_CRASHED : DOM_STATE_SHUTDOWN);
        break;
    case ACTION_DESTROY:
    default:
        if (!crashed)
            log_info("%s", reason);
        finish(d, k.status, k.word, reason);
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
        finish(d, 128 + signo, "signal", why);
    }
}

static void destroy(struct domain *d)
{
    if (d->finished)
        return;
    d->destroy_requested = 1;
    if (d->vm_running) {
        vm_request_stop(&d->vm, VM_DESTROYED, "destroyed over the control channel");
        return;
    }
    char why[600];
    snprintf(why, sizeof(why), "over the control channel, preserved after %.500s", d->preserved);
    log_info("destroyed %s", why);
    finish(d, EXIT_POWEROFF, "destroyed", why);
}

int domain_control(void *opaque, enum control_req req, char *reply, size_t size)
{
    struct domain *d = opaque;
    if (req == CONTROL_STATUS) {
        snprintf(reply, size, "ok state=%s boots=%u", dom_state_name(d->state), d->boots);
        return 0;
    }
    if (req == CONTROL_DESTROY) {
        destroy(d);
        snprintf(reply, size, "ok");
        return 1;
    }
    if (!d->vm_running) {
        snprintf(reply, size, "err the domain is not running (state %s): only status and destroy work now",
                 dom_state_name(d->state));
        return 0;
    }
    switch (req) {
    case CONTROL_PAUSE:
        if (d->state != DOM_STATE_PAUSED) {
            vm_pause(&d->vm);
            set_state(d, DOM_STATE_PAUSED);
        }
        break;
    case CONTROL_UNPAUSE:
        if (d->state == DOM_STATE_PAUSED) {
            for (unsigned i = 0; i < d->vm.nvcpus; i++)
                d->last_ns[i] = vcpu_ns(d, i);
            d->last_tick_ns = mono_ns();
            vm_unpause(&d->vm);
            set_state(d, DOM_STATE_RUNNING);
        }
        break;
    case CONTROL_SHUTDOWN: vm_power_request(&d->vm, POWER_REQUEST_OFF); break;
    case CONTROL_REBOOT: vm_power_request(&d->vm, POWER_REQUEST_REBOOT); break;
    case CONTROL_RESET: vm_request_stop(&d->vm, VM_REBOOT, "reset over the control channel"); break;
    default: snprintf(reply, size, "err %s is not implemented", control_req_name(req)); return 0;
    }
    snprintf(reply, size, "ok");
    return 0;
}

void domain_tick(struct domain *d)
{
    uint64_t now = mono_ns(), interval = now - d->last_tick_ns;
    int busy = 0;
    if (!d->vm_running || d->state == DOM_STATE_PAUSED)
        return;
    for (unsigned i = 0; i < d->vm.nvcpus; i++) {
        uint64_t ns = vcpu_ns(d, i);
        if ((ns - d->last_ns[i]) * 100 >= interval * DOMAIN_BUSY_PERCENT)
            busy = 1;
        d->last_ns[i] = ns;
    }
    d->last_tick_ns = now;
    set_state(d, busy ? DOM_STATE_RUNNING : DOM_STATE_BLOCKED);
}

void domain_fill_stats(struct domain *d, struct stats_page *p)
{
    uint64_t total = 0, io = d->base_io, mmio = d->base_mmio;
    p->state = d->state;
    p->nvcpus = d->opt->nvcpus;
    p->boots = d->boots;
    p->memory_bytes = d->opt->mem_size;
    for (unsigned i = 0; i < d->opt->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++) {
        p->vcpu_ns[i] = vcpu_ns(d, i);
        total += p->vcpu_ns[i];
        if (d->vm_running) {
            io += __atomic_load_n(&d->vm.vcpus[i].exits_io, __ATOMIC_RELAXED);
            mmio += __atomic_load_n(&d->vm.vcpus[i].exits_mmio, __ATOMIC_RELAXED);
        }
    }
    p->cpu_ns = total;
    p->exits_io = io;
    p->exits_mmio = mmio;
}

void domain_cleanup(struct domain *d)
{
    if (d->vm_running) { /* only on an early exit: stop and join what runs */
        vm_request_stop(&d->vm, VM_HOST_ERROR, "monitor exiting");
        vm_join(&d->vm);
        d->vm_running = 0;
    }
    if (d->have_vm)
        vm_destroy(&d->vm);
    d->have_vm = 0;
}
