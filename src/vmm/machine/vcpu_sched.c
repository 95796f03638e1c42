#include "vmm/machine/vcpu_sched.h"
#include "vmm/core/thread_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/thread_stack.h"
#include "vmm/machine/vm.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int needs_rt(const struct sched_params *p)
{
    return p->reservation_ppm || p->limit_ppm;
}

static void add_counters(struct sched_counters *to, const struct sched_counters *c)
{
    to->reserved_ns += c->reserved_ns;
    to->slack_ns += c->slack_ns;
    to->throttled_ns += c->throttled_ns;
    to->throttles += c->throttles;
    to->periods += c->periods;
    to->overrun_ns += c->overrun_ns;
}

/* The scheduler thread's own priority: above the reserved band while there is anything to
 * enforce, an ordinary thread otherwise. */
static void set_own_priority(struct vcpu_sched *sc, int rt)
{
    struct sched_param sp = {.sched_priority = rt ? VCPU_SCHED_THREAD_PRIO : 0};
    int e = pthread_setschedparam(pthread_self(), rt ? SCHED_FIFO : SCHED_OTHER, &sp);
    if (e && rt && !sc->warned_rt) {
        sc->warned_rt = 1;
        log_warn("CPU scheduler: cannot run at real-time priority (%s): limits are enforced late and "
                 "reservations are not guaranteed (run the monitor as root or with CAP_SYS_NICE)",
                 strerror(e));
    }
}

/* Puts vCPU i (thread tid) in `band`; `from` is the band it is in (SCHED_BAND_RESERVED when
 * unknown, so the policy is set for sure). Only a move into or out of the reserved band
 * changes the thread's policy: a system call less on every limited period. */
static void apply_band(struct vcpu_sched *sc, struct vm *vm, unsigned i, pid_t tid, enum sched_band from,
                       enum sched_band band)
{
    struct sched_param sp = {.sched_priority = band == SCHED_BAND_RESERVED ? VCPU_SCHED_RESERVED_PRIO : 0};
    int rt_change = (from == SCHED_BAND_RESERVED) != (band == SCHED_BAND_RESERVED) || from == band;
    if (band == SCHED_BAND_THROTTLED)
        vm_vcpu_throttle(vm, i, 1);
    if (rt_change && sched_setscheduler(tid, band == SCHED_BAND_RESERVED ? SCHED_FIFO : SCHED_OTHER, &sp) < 0 &&
        errno != ESRCH && band == SCHED_BAND_RESERVED && !sc->warned_rt) {
        sc->warned_rt = 1;
        log_warn("CPU scheduler: vCPU %u cannot have real-time priority (%s): its reservation is not guaranteed", i,
                 strerror(errno));
    }
    if (band != SCHED_BAND_THROTTLED)
        vm_vcpu_throttle(vm, i, 0);
}

static void apply_nice(struct vcpu_sched *sc, unsigned i, pid_t tid, int nice)
{
    if (setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0 && errno != ESRCH && !sc->warned_nice) {
        sc->warned_nice = 1;
        log_warn("CPU scheduler: vCPU %u cannot have nice %d for its weight (%s)", i, nice, strerror(errno));
    }
}

/* With autogroups (CONFIG_SCHED_AUTOGROUP, on by default), CFS first shares a CPU between
 * sessions, then between the threads of each: a thread's nice counts only against its own
 * session's threads. Under xenod every monitor is a session of its own (setsid), so the
 * domain's weight is given to its session's autogroup, which makes it the domain's share
 * against the other domains (and the host's sessions). A monitor that is not a session
 * leader (started from a shell) leaves the session's autogroup alone: it is not its own. */
static int autogroup_fd = -2; /* -2: not opened yet; -1: no autogroups */

void vcpu_sched_open_host_files(void)
{
    if (autogroup_fd == -2)
        autogroup_fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
}

static void apply_group_nice(struct vcpu_sched *sc, int nice)
{
    if (nice == sc->group_nice || getsid(0) != getpid())
        return;
    /* Opened once and kept: a sandboxed monitor (vmm/host/sandbox.h) cannot open /proc. */
    vcpu_sched_open_host_files();
    if (autogroup_fd < 0)
        return; /* no autogroups: the threads' nice is the weight */
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d\n", nice);
    if (pwrite(autogroup_fd, buf, (size_t)n, 0) != n && !sc->warned_nice) {
        sc->warned_nice = 1;
        log_warn("CPU scheduler: cannot give the domain's session nice %d for its weight (%s)", nice, strerror(errno));
    }
    sc->group_nice = nice;
}

/* One round: charge, decide, apply. Called with sc->lock held, which it keeps through the
 * system calls: the lock is what keeps the attached VM's threads from being joined under
 * us (detaching takes it), and nobody else holds it for more than a copy. Returns when to
 * come back. */
static uint64_t round_locked(struct vcpu_sched *sc)
{
    struct vm *vm = sc->vm;
    uint64_t cpu[SCHED_MAX_VCPUS] = {0}, now = mono_ns();
    unsigned n = sc->nvcpus;
    if (!vm) {
        /* No VM (preserved, or between restarts): the next one starts with sc->p. */
        if (sc->changed)
            sc->changes++;
        sc->changed = 0;
        return SCHED_NEVER;
    }
    for (unsigned i = 0; i < n; i++)
        cpu[i] = vm_vcpu_cpu_ns(vm, i);
    if (sc->fresh || sc->changed) {
        if (sc->fresh) {
            /* A new VM: its clocks start from zero. The counters so far are in base. */
            sched_server_init(&sc->server, &sc->p, n, now, cpu);
            memset(&sc->server.c, 0, sizeof(sc->server.c));
        } else {
            sched_server_set(&sc->server, &sc->p, now);
            sc->changes++;
        }
        sc->fresh = sc->changed = 0;
        sc->nice = sched_weight_to_nice(sc->p.weight, n);
        apply_group_nice(sc, sched_weight_to_nice(sc->p.weight, 1));
        memset(sc->tid, 0, sizeof(sc->tid)); /* give every thread its band and nice again */
        set_own_priority(sc, needs_rt(&sc->p));
    }
    uint64_t next = sched_server_step(&sc->server, now, cpu);
    enum sched_band band = sc->server.band;
    int waiting = 0;
    for (unsigned i = 0; i < n; i++) {
        pid_t tid = vm_vcpu_tid(vm, i);
        if (!tid) {
            waiting = 1; /* not started yet */
            continue;
        }
        if (tid == sc->tid[i] && band == sc->applied[i])
            continue;
        int new_thread = tid != sc->tid[i];
        if (new_thread)
            apply_nice(sc, i, tid, sc->nice);
        /* A thread seen for the first time gets its policy set whatever it is. */
        apply_band(sc, vm, i, tid, new_thread ? band : sc->applied[i], band);
        sc->tid[i] = tid;
        sc->applied[i] = band;
    }
    if (waiting && now + 1000000 < next)
        next = now + 1000000; /* a vCPU thread still starting: look again in 1 ms */
    return next;
}

static void *sched_thread(void *opaque)
{
    struct vcpu_sched *sc = opaque;
    thread_kind_enter(THREAD_SCHED, "xeno-sched");
    pthread_mutex_lock(&sc->lock);
    while (!sc->stop) {
        uint64_t next = round_locked(sc);
        sc->overhead_ns = thread_cpu_ns();
        if (sc->stop || sc->changed || sc->fresh)
            continue;
        if (next == SCHED_NEVER) {
            pthread_cond_wait(&sc->cond, &sc->lock);
        } else {
            struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
            pthread_cond_timedwait(&sc->cond, &sc->lock, &ts);
        }
    }
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

int vcpu_sched_start(struct vcpu_sched *sc, const struct sched_params *p, unsigned nvcpus)
{
    pthread_condattr_t ca;
    memset(sc, 0, sizeof(*sc));
    sc->p = *p;
    sc->nvcpus = nvcpus > SCHED_MAX_VCPUS ? SCHED_MAX_VCPUS : nvcpus;
    sc->group_nice = 0; /* a new session's autogroup starts at nice 0 */
    sched_server_init(&sc->server, p, sc->nvcpus, mono_ns(), NULL);
    memset(&sc->server.c, 0, sizeof(sc->server.c));
    pthread_mutex_init(&sc->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_attr_t attr;
    int e = thread_attr_init_sized(&attr);
    if (e == 0) {
        e = pthread_create(&sc->thread, &attr, sched_thread, sc);
        pthread_attr_destroy(&attr);
    }
    if (e)
        return err_set(e, "starting the CPU scheduler thread: %s", strerror(e));
    sc->started = 1;
    return 0;
}

void vcpu_sched_set(struct vcpu_sched *sc, const struct sched_params *p)
{
    pthread_mutex_lock(&sc->lock);
    sc->p = *p;
    sc->changed = 1;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
}

struct sched_params vcpu_sched_params(struct vcpu_sched *sc)
{
    pthread_mutex_lock(&sc->lock);
    struct sched_params p = sc->p;
    pthread_mutex_unlock(&sc->lock);
    return p;
}

void vcpu_sched_attach(struct vcpu_sched *sc, struct vm *vm)
{
    if (!sc->started)
        return;
    pthread_mutex_lock(&sc->lock);
    struct vm *old = sc->vm;
    sc->vm = vm;
    sc->fresh = vm != NULL;
    if (!vm) {
        /* Whatever the thread was doing with the old VM is over (it holds the lock for
         * that). Its vCPUs leave the bands: ordinary threads, none parked. */
        add_counters(&sc->base, &sc->server.c);
        memset(&sc->server.c, 0, sizeof(sc->server.c));
        for (unsigned i = 0; old && i < sc->nvcpus; i++) {
            pid_t tid = sc->tid[i];
            struct sched_param sp = {0};
            if (tid && sc->applied[i] == SCHED_BAND_RESERVED)
                sched_setscheduler(tid, SCHED_OTHER, &sp);
            vm_vcpu_throttle(old, i, 0);
        }
        memset(sc->tid, 0, sizeof(sc->tid));
    }
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
}

void vcpu_sched_stats(struct vcpu_sched *sc, struct vcpu_sched_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!sc->started)
        return;
    pthread_mutex_lock(&sc->lock);
    out->p = sc->p;
    out->band = sc->server.band;
    out->c = sc->base;
    add_counters(&out->c, &sc->server.c);
    out->overhead_ns = sc->overhead_ns;
    out->changes = sc->changes;
    pthread_mutex_unlock(&sc->lock);
}

void vcpu_sched_stop(struct vcpu_sched *sc)
{
    if (!sc->started)
        return;
    pthread_mutex_lock(&sc->lock);
    sc->stop = 1;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
    pthread_join(sc->thread, NULL);
    pthread_cond_destroy(&sc->cond);
    pthread_mutex_destroy(&sc->lock);
    sc->started = 0;
}
