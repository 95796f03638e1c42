#include "daemon/fleet_failover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fleet_token.h"
#include "daemon/registry_priv.h"
#include "fleet/fleet_move.h"
#include "fleet/fleet_place.h"
#include "fleet/host_client.h"
#include "lib/err.h"
#include "lib/log.h"

#define FAILOVER_HOST_TIMEOUT_S 60
#define FAILOVER_LOST                                                                                                  \
    "restarted from boot after host %s left the fleet (its lease expired): memory and device state "                   \
    "are lost; disk contents survive only where the image is on storage both hosts reach"

/* Whether a host record exists under the name: its key, not whether it parses (a record this
 * xenod cannot read is still a live host, whose domains must not be restarted elsewhere). */
static int host_alive(const struct etcd_range *hosts, const char *name)
{
    size_t plen = strlen(FLEET_HOSTS);
    for (size_t i = 0; i < hosts->n; i++)
        if (strcmp(hosts->kvs[i].key + plen, name) == 0)
            return 1;
    return 0;
}

/* The failover key's transaction: 1 when this xenod won d (as read). */
static int take(struct etcd_client *e, const struct fleet_domain *d, const struct fleet_failover_opts *o)
{
    char lkey[FLEET_KEY_MAX], dkey[FLEET_KEY_MAX];
    snprintf(lkey, sizeof(lkey), FLEET_FAILOVER "%s", d->uuid);
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    const struct etcd_cmp cmps[] = {{lkey, ETCD_CMP_CREATE, 0}, {dkey, ETCD_CMP_MOD, d->mod_revision}};
    const struct etcd_op put = {lkey, o->me, o->lease};
    int won = 0, rc = etcd_txn(e, cmps, 2, &put, 1, &won);
    return rc < 0 ? rc : won;
}

static void give_back_key(struct etcd_client *e, const struct fleet_domain *d)
{
    char lkey[FLEET_KEY_MAX];
    int won;
    snprintf(lkey, sizeof(lkey), FLEET_FAILOVER "%s", d->uuid);
    const struct etcd_op del = {lkey, NULL, 0};
    if (etcd_txn(e, NULL, 0, &del, 1, &won) < 0)
        log_warn("fleet: %s (the key goes with this host's lease)", err_msg());
}

/* Asks target's xenod to create and start d; 0 or -errno. */
static int start_on(const struct fleet_host *t, const struct fleet_domain *d, const struct fleet_failover_opts *o)
{
    char token[320] = "";
    if (strncmp(t->advertise, "unix:", 5) != 0 && o->token_file &&
        fleet_token_read(o->token_file, token, sizeof(token)) < 0)
        return -EACCES;
    json_t *body = json_pack("{s:s, s:b, s:b, s:b, s:b}", "xml", d->definition, "start", 1, "paused", 0, "persistent",
                             0, "fleet", 1),
           *answer = NULL;
    long status = 0;
    int rc = body ? fleet_host_post(t->advertise, token[0] ? token : NULL, o->cacert, "/v1/domains", body,
                                    FAILOVER_HOST_TIMEOUT_S, &status, &answer)
                  : err_set(ENOMEM, "out of memory");
    memset(token, 0, sizeof(token));
    if (rc == 0 && status != 201 && status != 200) {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        rc = err_set(EPROTO, "host %s answered %ld: %.200s", t->name, status, msg ? msg : "(no message)");
    }
    json_decref(body);
    json_decref(answer);
    return rc;
}

/* The record of d as it is now (its mod_revision), for undoing a move. */
static int reread(struct etcd_client *e, struct fleet_domain *d)
{
    char dkey[FLEET_KEY_MAX];
    struct etcd_range r;
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    int rc = etcd_range(e, dkey, 0, &r);
    if (rc < 0)
        return rc;
    rc = r.n == 1 ? 0 : err_set(ENOENT, "fleet record %s is gone", dkey);
    if (rc == 0)
        d->mod_revision = r.kvs[0].mod_revision;
    etcd_range_free(&r);
    return rc;
}

/* d is on a dead host and this xenod holds its failover key: restart it elsewhere. */
static int restart_elsewhere(struct etcd_client *e, struct fleet_domain *d, const struct fleet_failover_opts *o)
{
    char dead[FLEET_NAME_MAX + 1];
    struct fleet_host t;
    snprintf(dead, sizeof(dead), "%s", d->host);
    int rc = fleet_claim_elsewhere(e, d, PLACEMENT_SPREAD, 0, &t);
    if (rc < 0) {
        log_warn("fleet: %s (%s) was on %s, which left the fleet; it cannot be restarted yet: %s", d->name, d->uuid,
                 dead, err_msg());
        return rc;
    }
    snprintf(d->lost_from, sizeof(d->lost_from), "%s", dead);
    if ((rc = fleet_move_record(e, d, t.name)) < 0) {
        log_warn("fleet: restarting %s: %s", d->name, err_msg());
        fleet_release_claim(e, t.name, d);
        return rc;
    }
    if ((rc = start_on(&t, d, o)) < 0) {
        log_warn("fleet: %s could not be restarted on %s: %s; the next round tries again", d->name, t.name, err_msg());
        d->lost_from[0] = 0;
        if (reread(e, d) == 0 && fleet_move_record(e, d, dead) < 0) /* its record and claim go back */
            log_warn("fleet: %s", err_msg());
        return rc;
    }
    log_info("fleet: host %s left the fleet; domain %s (%s) restarted on %s from its definition", dead, d->name,
             d->uuid, t.name);
    return 0;
}

/* A domain restarted here by a failover: the event, then lost_from cleared (once). */
static void announce(struct registry *reg, struct etcd_client *e, struct fleet_domain *d)
{
    struct reg_domain *rd;
    if (reg_lookup(reg, d->uuid, &rd) < 0)
        return; /* not created here yet */
    pthread_mutex_lock(&reg->lock);
    reg_event(reg, rd, "failover", FAILOVER_LOST, d->lost_from);
    pthread_mutex_unlock(&reg->lock);
    reg_put(reg, rd);
    char dkey[FLEET_KEY_MAX];
    fleet_domain_key(d->uuid, dkey, sizeof(dkey));
    d->lost_from[0] = 0;
    char *v = fleet_domain_format(d);
    const struct etcd_cmp cmp = {dkey, ETCD_CMP_MOD, d->mod_revision};
    const struct etcd_op put = {dkey, v, 0};
    int won;
    if (v && etcd_txn(e, &cmp, 1, &put, 1, &won) < 0)
        log_warn("fleet: %s", err_msg());
    free(v);
}

int fleet_failover_round(struct registry *reg, struct etcd_client *e, const struct fleet_failover_opts *o)
{
    struct etcd_range hosts;
    struct fleet_domain *d;
    size_t nd;
    int rc = etcd_range_keys(e, FLEET_HOSTS, &hosts), restarted = 0;
    if (rc < 0)
        return rc;
    if ((rc = fleet_read_domains(e, &d, &nd)) < 0) {
        etcd_range_free(&hosts);
        return rc;
    }
    for (size_t i = 0; i < nd && rc >= 0; i++) {
        if (strcmp(d[i].host, o->me) == 0 && d[i].lost_from[0]) {
            announce(reg, e, &d[i]);
            continue;
        }
        if (host_alive(&hosts, d[i].host))
            continue;
        int won = take(e, &d[i], o);
        if (won <= 0) {
            rc = won;
            continue;
        }
        if (restart_elsewhere(e, &d[i], o) == 0)
            restarted++;
        give_back_key(e, &d[i]);
    }
    fleet_domains_free(d, nd);
    etcd_range_free(&hosts);
    return rc < 0 ? rc : restarted;
}

/* The UUIDs of the domains that run here (malloc'd, *n). */
static char (*running_here(struct registry *reg, size_t *n))[DOMAIN_UUID_LEN + 1]
{
    size_t cap = 0;
    *n = 0;
    pthread_mutex_lock(&reg->lock);
    for (struct reg_domain *d = reg->domains; d; d = d->next)
        cap++;
    char(*u)[DOMAIN_UUID_LEN + 1] = calloc(cap ? cap : 1, sizeof(*u));
    for (struct reg_domain *d = reg->domains; u && d; d = d->next)
        if (d->mon || d->starting)
            snprintf(u[(*n)++], sizeof(u[0]), "%s", d->cfg.uuid);
    pthread_mutex_unlock(&reg->lock);
    return u;
}

int fleet_fence(struct registry *reg, struct etcd_client *e, const char *me)
{
    size_t n, nd;
    char(*uuids)[DOMAIN_UUID_LEN + 1] = running_here(reg, &n);
    struct fleet_domain *d;
    if (!uuids)
        return err_set(ENOMEM, "out of memory");
    int rc = n ? fleet_read_domains(e, &d, &nd) : 0, stopped = 0;
    if (rc < 0 || n == 0) {
        free(uuids);
        return rc;
    }
    for (size_t i = 0; i < nd; i++) {
        if (strcmp(d[i].host, me) == 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            struct reg_domain *rd;
            if (strcmp(uuids[k], d[i].uuid) != 0 || reg_lookup(reg, d[i].uuid, &rd) < 0)
                continue;
            pthread_mutex_lock(&reg->lock);
            reg_event(reg, rd, "fenced",
                      "this host's lease expired and the fleet restarted the domain on %s: the copy here is stopped",
                      d[i].host);
            pthread_mutex_unlock(&reg->lock);
            if (reg_destroy(reg, rd) < 0)
                log_error("fleet: cannot stop the stale copy of %s: %s", d[i].name, err_msg());
            else
                stopped++;
            reg_put(reg, rd);
        }
    }
    fleet_domains_free(d, nd);
    free(uuids);
    return stopped;
}
