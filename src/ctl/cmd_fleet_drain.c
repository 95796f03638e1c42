/* xenctl --fleet URLS drain HOST [--parallel N] [--policy P] (docs/fleet.md "Drain"): marks
 * the host draining (placers skip it), then moves each domain the fleet placed there to a
 * host the placer chooses, live: the claim on the target first (fleet_move.h), then the
 * source's xenod migrates it (POST /v1/domains/UUID/migrate to the target's --migrate-listen),
 * then the record follows it and the source's claim is given back. A move that fails gives
 * the target's claim back and leaves the domain where it runs; it is reported, and the
 * exit status is 1.
 *
 * Threads: N workers take the domains in turn; each has its own etcd client (one per thread,
 * etcd_client.h) and curl handles; output lines go out under out_lock. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/commands.h"
#include "ctl/ctl.h"
#include "ctl/remote.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_move.h"
#include "fleet/fleet_place.h"
#include "lib/err.h"
#include "lib/log.h"

#define DRAIN_PARALLEL_MAX 16
#define DRAIN_MIGRATE_TIMEOUT_S 300
#define DRAIN_ETCD_TIMEOUT_MS 2000

struct drain {
    const struct ctl_args *a;
    enum placement_policy policy;
    struct fleet_host source;
    struct fleet_domain *doms; /* the domains whose record names the source */
    size_t n, next, moved, stayed;
    pthread_mutex_t lock; /* guards next, moved, stayed and stdout/stderr lines */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Asks the source's xenod to migrate d live to target's migrate address. */
static int migrate_on_source(struct drain *dr, const struct fleet_domain *d, const struct fleet_host *target, char *why,
                             size_t why_size)
{
    struct ctl hc = {0};
    char *token = NULL, path[96];
    if (ctl_fleet_host_target(dr->a, dr->source.advertise, &hc.t, &token) < 0) {
        snprintf(why, why_size, "%s", err_msg());
        return -1;
    }
    snprintf(path, sizeof(path), "/v1/domains/%s/migrate", d->uuid);
    json_t *body = json_pack("{s:s, s:b}", "host", target->migrate, "live", 1), *dom = NULL;
    int rc = body ? ctl_call(&hc, "POST", path, body, DRAIN_MIGRATE_TIMEOUT_S, &dom, NULL) : CTL_EXIT_FAILED;
    if (rc != CTL_EXIT_OK)
        snprintf(why, why_size, "the migration failed (xenctl's error line above; exit %d)", rc);
    json_decref(body);
    json_decref(dom);
    if (token)
        memset(token, 0, strlen(token));
    free(token);
    return rc == CTL_EXIT_OK ? 0 : -1;
}

/* One domain: claim on a target, migrate, record follows (or the claim is given back). */
static int move_one(struct drain *dr, struct etcd_client *e, struct fleet_domain *d, size_t idx)
{
    struct fleet_host target;
    char why[600] = "";
    double t0 = now_ms();
    int rc = fleet_claim_elsewhere(e, d, dr->policy, 1, &target);
    if (rc < 0) {
        snprintf(why, sizeof(why), "%s", err_msg());
    } else {
        pthread_mutex_lock(&dr->lock);
        printf("drain %s: moving %s (%zu/%zu) to %s\n", dr->source.name, d->name, idx + 1, dr->n, target.name);
        fflush(stdout);
        pthread_mutex_unlock(&dr->lock);
        if (migrate_on_source(dr, d, &target, why, sizeof(why)) < 0) {
            if (fleet_release_claim(e, target.name, d) < 0)
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "; the claim on %s stays: %s", target.name,
                         err_msg());
            rc = -1;
        } else if (fleet_move_record(e, d, target.name) < 0) {
            /* It runs on the target now; the record still names the source. */
            snprintf(why, sizeof(why), "moved to %s, but its fleet record was not updated: %s", target.name, err_msg());
            rc = -1;
        }
    }
    pthread_mutex_lock(&dr->lock);
    if (rc == 0) {
        printf("drain %s: %s moved to %s in %.0f ms\n", dr->source.name, d->name, target.name, now_ms() - t0);
        dr->moved++;
    } else {
        printf("drain %s: %s stays: %s\n", dr->source.name, d->name, why);
        dr->stayed++;
    }
    fflush(stdout);
    pthread_mutex_unlock(&dr->lock);
    return rc;
}

static void *worker(void *arg)
{
    struct drain *dr = arg;
    struct etcd_client *e;
    struct etcd_tls tls = {dr->a->etcd_ca, dr->a->etcd_cert, dr->a->etcd_key};
    if (etcd_open(&e, dr->a->fleet, &tls, DRAIN_ETCD_TIMEOUT_MS) < 0)
        return NULL; /* checked by the caller's own open: cannot fail here but for memory */
    for (;;) {
        pthread_mutex_lock(&dr->lock);
        size_t i = dr->next < dr->n ? dr->next++ : dr->n;
        pthread_mutex_unlock(&dr->lock);
        if (i >= dr->n)
            break;
        move_one(dr, e, &dr->doms[i], i);
    }
    etcd_close(e);
    return NULL;
}

/* The source's record and the domains placed on it (those kept in dr->doms). */
static int read_source(struct etcd_client *e, const char *name, struct drain *dr)
{
    struct fleet_host *hosts;
    struct fleet_domain *all;
    size_t nh, nd, k = 0;
    int rc = fleet_read_hosts(e, &hosts, &nh), found = 0;
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nh; i++)
        if (strcmp(hosts[i].name, name) == 0)
            dr->source = hosts[i], found = 1;
    free(hosts);
    if (!found)
        return err_set(ENOENT, "host %s is not in the fleet (no record: unknown, or its lease expired)", name);
    if ((rc = fleet_read_domains(e, &all, &nd)) < 0)
        return rc;
    for (size_t i = 0; i < nd; i++) {
        if (strcmp(all[i].host, name) == 0)
            all[k++] = all[i];
        else
            fleet_domain_free(&all[i]);
    }
    dr->doms = all;
    dr->n = k;
    return 0;
}

static int parse_options(const struct ctl_args *a, struct drain *dr, long *parallel)
{
    const char *p = ctl_args_get(a, "policy"), *par = ctl_args_get(a, "parallel");
    if (!a->fleet)
        return ctl_usage_error("drain needs --fleet ETCD_URLS (the fleet's etcd; docs/fleet.md)");
    if (p && placement_policy_parse(p, &dr->policy) < 0)
        return ctl_usage_error("--policy: %s", err_msg());
    char *end;
    *parallel = par ? strtol(par, &end, 10) : 1;
    if (par && (*end || *parallel < 1 || *parallel > DRAIN_PARALLEL_MAX))
        return ctl_usage_error("--parallel %s: 1 to %d domains moving at once", par, DRAIN_PARALLEL_MAX);
    if (!fleet_name_valid(a->pos[0]))
        return ctl_usage_error("HOST %s: not a fleet host name", a->pos[0]);
    return CTL_EXIT_OK;
}

int ctl_cmd_drain(const struct ctl *c, const struct ctl_args *a)
{
    (void)c;
    struct drain dr = {.a = a, .policy = PLACEMENT_SPREAD};
    long parallel = 1;
    struct etcd_client *e;
    int rc = parse_options(a, &dr, &parallel);
    if (rc != CTL_EXIT_OK || (rc = ctl_fleet_open(a, &e)) != CTL_EXIT_OK)
        return rc;
    int erc = fleet_set_state(e, a->pos[0], FLEET_DRAINING);
    if (erc == 0)
        erc = read_source(e, a->pos[0], &dr);
    etcd_close(e);
    if (erc < 0)
        return erc == -ENOENT ? (log_error("%s", err_msg()), CTL_EXIT_FAILED) : ctl_fleet_etcd_failed(erc);
    printf("drain %s: draining (no new placements); %zu domain%s to move, %ld at a time\n", dr.source.name, dr.n,
           dr.n == 1 ? "" : "s", parallel);
    fflush(stdout);
    pthread_mutex_init(&dr.lock, NULL);
    pthread_t th[DRAIN_PARALLEL_MAX];
    long started = 0;
    for (long i = 0; i < parallel && (size_t)i < dr.n; i++)
        if (pthread_create(&th[started], NULL, worker, &dr) == 0)
            started++;
    if (started == 0 && dr.n)
        worker(&dr);
    for (long i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&dr.lock);
    printf("drain %s: %zu moved, %zu stayed%s\n", dr.source.name, dr.moved, dr.stayed,
           dr.moved + dr.stayed < dr.n ? " (the others were not tried: etcd could not be reached)" : "");
    fleet_domains_free(dr.doms, dr.n);
    return dr.moved == dr.n ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
