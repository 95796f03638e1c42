/* Admission control of CPU reservations (docs/scheduling.md): the registry's glue to
 * sched/admit.h, and live changes of a domain's scheduling settings. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"

uint64_t adm_reservations_held(struct registry *r, const struct reg_domain *except, char *holders, size_t size)
{
    uint64_t held = 0;
    size_t n = 0;
    holders[0] = 0;
    for (struct reg_domain *o = r->domains; o; o = o->next) {
        if (o == except || o->gone || !(o->mon || o->starting) || !o->sched.reservation_ppm)
            continue;
        held += o->sched.reservation_ppm;
        if (n < size)
            n += (size_t)snprintf(holders + n, size - n, "%s%s %s", n ? ", " : "", o->cfg.name,
                                  SCHED_PCT(o->sched.reservation_ppm));
    }
    return held;
}

int adm_admit_locked(struct registry *r, struct reg_domain *d, uint32_t want)
{
    char holders[1024], why[1600];
    uint64_t held = adm_reservations_held(r, d, holders, sizeof(holders));
    int rc = sched_admit(&r->cpu, held, holders, d->cfg.name, want, d->cfg.vcpus, why, sizeof(why));
    return rc < 0 ? err_set(-rc, "%s", why) : 0;
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
