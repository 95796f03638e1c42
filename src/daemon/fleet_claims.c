#include "daemon/fleet_claims.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/fleet_place.h"
#include "lib/err.h"
#include "lib/log.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int have_domain(struct registry *reg, const char *uuid)
{
    struct reg_domain *d;
    if (reg_lookup(reg, uuid, &d) < 0)
        return 0;
    reg_put(reg, d);
    return 1;
}

/* The entry of a record missing here (added now if it is new or changed since). */
static struct fleet_missing *track(struct fleet_claims *st, const struct fleet_domain *d, double now,
                                   struct fleet_missing *next, size_t *kept)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->missing[i].uuid, d->uuid) == 0 && st->missing[i].mod_revision == d->mod_revision) {
            next[*kept] = st->missing[i];
            return &next[(*kept)++];
        }
    if (*kept >= FLEET_MISSING_MAX)
        return NULL;
    struct fleet_missing *m = &next[(*kept)++];
    snprintf(m->uuid, sizeof(m->uuid), "%s", d->uuid);
    m->mod_revision = d->mod_revision;
    m->since = now;
    return m;
}

int fleet_claims_reconcile(struct fleet_claims *st, struct registry *reg, struct etcd_client *e, const char *host)
{
    if (!st->missing && !(st->missing = calloc(FLEET_MISSING_MAX, sizeof(*st->missing))))
        return err_set(ENOMEM, "out of memory");
    struct fleet_missing *next = calloc(FLEET_MISSING_MAX, sizeof(*next));
    struct fleet_domain *d;
    size_t n, kept = 0;
    int rc = next ? fleet_read_domains(e, &d, &n) : err_set(ENOMEM, "out of memory"), released = 0;
    if (rc < 0) {
        free(next);
        return rc;
    }
    double now = mono_s();
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(d[i].host, host) != 0 || have_domain(reg, d[i].uuid))
            continue;
        struct fleet_missing *m = track(st, &d[i], now, next, &kept);
        if (!m || now - m->since < FLEET_RELEASE_GRACE_S)
            continue;
        if ((rc = fleet_unplace(e, &d[i])) == 0) {
            log_info("fleet: domain %s (%s) no longer runs here: its claim is given back", d[i].name, d[i].uuid);
            released++;
        }
        if (rc == 0 || rc == -ESTALE) /* released, or moved meanwhile: not tracked any more */
            kept--, rc = 0;
    }
    fleet_domains_free(d, n);
    free(st->missing);
    st->missing = next;
    st->n = kept;
    return rc < 0 ? rc : released;
}

void fleet_claims_free(struct fleet_claims *st)
{
    free(st->missing);
    st->missing = NULL;
    st->n = 0;
}
