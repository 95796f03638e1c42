/* Admission control of CPU reservations (docs/scheduling.md): the registry's glue to
 * sched/admit.h, and live changes of a domain's scheduling settings. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "sched/admit_cpus.h"

/* Whether another domain holds a reservation now (running, starting or paused: a paused domain keeps its promise). */
static int holds_reservation(const struct reg_domain *o, const struct reg_domain *except)
{
    return o != except && !o->gone && (o->mon || o->starting) && o->sched.reservation_ppm;
}

uint64_t adm_reservations_held(struct registry *r, const struct reg_domain *except, char *holders, size_t size)
{
    uint64_t held = 0;
    size_t n = 0;
    holders[0] = 0;
    for (struct reg_domain *o = r->domains; o; o = o->next) {
        if (!holds_reservation(o, except))
            continue;
        held += o->sched.reservation_ppm;
        if (n < size)
            n += (size_t)snprintf(holders + n, size - n, "%s%s %s", n ? ", " : "", o->cfg.name,
                                  SCHED_PCT(o->sched.reservation_ppm));
    }
    return held;
}

/* The host CPUs the per-CPU model spreads over: those xenod may run on (all CPUs the kernel
 * has, if it cannot say). */
static void host_cpus(struct cpumask *host)
{
    cpu_set_t set;
    memset(host, 0, sizeof(*host));
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (unsigned i = 0; i < CPU_SETSIZE && i < CPUMASK_MAX; i++)
            if (CPU_ISSET(i, &set))
                cpumask_set(host, i);
    }
    if (!cpumask_count(host))
        for (unsigned i = 0; i < CPU_SETSIZE && i < CPUMASK_MAX && i < (unsigned)sysconf(_SC_NPROCESSORS_ONLN); i++)
            cpumask_set(host, i);
}

/* Adds a domain's reservation of `ppm`, spread as its vCPUs are pinned, to *l. */
static void domain_load(struct sched_cpu_load *l, const struct cpumask *host, const struct domain_config *c,
                        uint32_t ppm)
{
    const struct cpumask *masks[DOMAIN_VCPUS_MAX];
    unsigned n = c->vcpus < DOMAIN_VCPUS_MAX ? c->vcpus : DOMAIN_VCPUS_MAX;
    for (unsigned i = 0; i < n; i++)
        masks[i] = domain_vcpu_mask(&c->affinity, i);
    sched_load_add(l, host, ppm, n, masks);
}

/* Per-CPU admission of a pinned domain (sched/admit_cpus.h). Caller holds r->lock. */
static int admit_pinned_locked(struct registry *r, struct reg_domain *d, uint32_t want)
{
    struct cpumask pinned = {{0}}, host;
    for (unsigned i = 0; i < d->cfg.vcpus; i++) {
        const struct cpumask *m = domain_vcpu_mask(&d->cfg.affinity, i);
        for (size_t w = 0; m && w < CPUMASK_MAX / 64; w++)
            pinned.bits[w] |= m->bits[w];
    }
    if (!want || !cpumask_count(&pinned))
        return 0;
    struct sched_cpu_load *load = calloc(3, sizeof(*load)); /* held, mine, one holder's */
    if (!load)
        return err_set(ENOMEM, "out of memory");
    host_cpus(&host);
    for (struct reg_domain *o = r->domains; o; o = o->next)
        if (holds_reservation(o, d))
            domain_load(&load[0], &host, &o->cfg, o->sched.reservation_ppm);
    domain_load(&load[1], &host, &d->cfg, want);
    char why[1600], holders[1024];
    int cpu, rc = sched_admit_cpus(&r->cpu, &load[0], &load[1], &pinned, d->cfg.name, want, "", &cpu, why, sizeof(why));
    if (rc < 0) {
        /* Name who holds what on that CPU, then say it again with them. */
        size_t n = 0;
        holders[0] = 0;
        for (struct reg_domain *o = r->domains; o && n < sizeof(holders); o = o->next) {
            if (!holds_reservation(o, d))
                continue;
            memset(&load[2], 0, sizeof(load[2]));
            domain_load(&load[2], &host, &o->cfg, o->sched.reservation_ppm);
            if (load[2].ppm[cpu])
                n += (size_t)snprintf(holders + n, sizeof(holders) - n, "%s%s %s", n ? ", " : "", o->cfg.name,
                                      SCHED_PCT(load[2].ppm[cpu]));
        }
        sched_admit_cpus(&r->cpu, &load[0], &load[1], &pinned, d->cfg.name, want, holders, &cpu, why, sizeof(why));
        rc = err_set(-rc, "%s", why);
    }
    free(load);
    return rc;
}

int adm_admit_locked(struct registry *r, struct reg_domain *d, uint32_t want)
{
    char holders[1024], why[1600];
    uint64_t held = adm_reservations_held(r, d, holders, sizeof(holders));
    int rc = sched_admit(&r->cpu, held, holders, d->cfg.name, want, d->cfg.vcpus, why, sizeof(why));
    if (rc < 0)
        return err_set(-rc, "%s", why);
    return admit_pinned_locked(r, d, want);
}

int reg_sched(struct registry *r, struct reg_domain *d, const struct sched_params *p)
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
        (rc = adm_admit_locked(r, d, p->reservation_ppm)) < 0) {
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&d->op_lock);
        return rc;
    }
    if (p->reservation_ppm &&
        (rc = sched_admit(&r->cpu, 0, "", d->cfg.name, p->reservation_ppm, d->cfg.vcpus, why, sizeof(why))) < 0) {
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
            rc = err_wrap(-rc, "domain '%s'", d->cfg.name);
        }
        reg_release_monitor(r, m);
    }
    pthread_mutex_lock(&r->lock);
    if (rc < 0) {
        d->sched = old;
    } else {
        if (store_set_sched(&r->store, d->cfg.uuid, p) < 0)
            log_error("%s", err_msg());
        reg_event(r, d, "sched", "reservation %s, limit %s, weight %u, period %u us%s", SCHED_PCT(p->reservation_ppm),
                  p->limit_ppm ? SCHED_PCT(p->limit_ppm) : "none", p->weight, p->period_us,
                  m ? "" : " (from its next start)");
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

/* "FILE:LINE: <el>: " at define, "domain 'NAME': line LINE of its XML: <el>: " at start. */
static void where(char *out, size_t size, const char *file, const struct domain_config *c, long line, const char *el)
{
    if (file)
        snprintf(out, size, "%s:%ld: <%s>: ", file, line, el);
    else
        snprintf(out, size, "domain '%s': line %ld of its XML: <%s>: ", c->name, line, el);
}

int adm_check_affinity(const struct registry *r, const struct domain_config *c, uint32_t reservation_ppm,
                       const char *file)
{
    const struct domain_affinity *a = &c->affinity;
    struct pin {
        int given;
        const struct cpumask *m;
        long line;
        const char *el;
    } pins[DOMAIN_VCPUS_MAX + 2];
    size_t n = 0;
    pins[n++] = (struct pin){a->has_cpuset, &a->cpuset, a->cpuset_line, "vcpu"};
    pins[n++] = (struct pin){a->has_emulatorpin, &a->emulatorpin, a->emulatorpin_line, "emulatorpin"};
    for (unsigned i = 0; i < DOMAIN_VCPUS_MAX; i++)
        pins[n++] = (struct pin){(int)(a->vcpupin_given >> i & 1), &a->vcpupin[i], a->vcpupin_line[i], "vcpupin"};

    /* The monitor inherits xenod's affinity: a CPU outside it cannot be given. Checked where
     * the domain runs (at define and at every start), as libvirt checks at start. */
    cpu_set_t set;
    struct cpumask host = {{0}};
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 0; /* nothing to check against; the monitor's own call will say */
    for (unsigned i = 0; i < CPU_SETSIZE && i < CPUMASK_MAX; i++)
        if (CPU_ISSET(i, &set))
            cpumask_set(&host, i);
    char pre[PATH_MAX + 128], list[256], mine[256];
    for (size_t i = 0; i < n; i++) {
        int cpu = pins[i].given ? cpumask_first_outside(pins[i].m, &host) : -1;
        if (cpu < 0)
            continue;
        where(pre, sizeof(pre), file, c, pins[i].line, pins[i].el);
        cpumask_format(&host, list, sizeof(list));
        return err_set(EINVAL,
                       "%scpuset names CPU %d, which this host does not give its domains (it has %s); pin to "
                       "those",
                       pre, cpu, list);
    }
    /* A reservation is CPU time on the CPUs the vCPUs may run on: at most one CPU per vCPU,
     * and no more than those CPUs have less the headroom (sched/admit.h). */
    struct cpumask all = {{0}};
    unsigned i;
    for (i = 0; i < c->vcpus; i++) {
        const struct cpumask *m = domain_vcpu_mask(a, i);
        if (!m)
            break; /* a vCPU that may run anywhere: the host's own limits apply */
        for (size_t w = 0; w < CPUMASK_MAX / 64; w++)
            all.bits[w] |= m->bits[w];
    }
    if (i < c->vcpus || !reservation_ppm)
        return 0;
    unsigned cpus = cpumask_count(&all) < c->vcpus ? cpumask_count(&all) : c->vcpus;
    uint64_t most = (uint64_t)cpus * (SCHED_PPM - r->cpu.headroom_ppm);
    if (reservation_ppm <= most)
        return 0;
    cpumask_format(&all, mine, sizeof(mine));
    where(pre, sizeof(pre), file, c,
          a->vcpupin_given ? a->vcpupin_line[__builtin_ctz(a->vcpupin_given)] : a->cpuset_line,
          a->vcpupin_given ? "vcpupin" : "vcpu");
    return err_set(EINVAL,
                   "%sa reservation of %s is more than the CPUs its vCPUs are pinned to (%s) can give: at most %s "
                   "(%u CPU%s less the host's %s headroom each); pin to more CPUs or reserve less",
                   pre, SCHED_PCT(reservation_ppm), mine, SCHED_PCT(most), cpus, cpus == 1 ? "" : "s",
                   SCHED_PCT(r->cpu.headroom_ppm));
}
