#include "daemon/fleet_member.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "daemon/fleet_claims.h"
#include "daemon/fleet_failover.h"
#include "daemon/registry_priv.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_model.h"
#include "lib/err.h"
#include "lib/log.h"

#define XENOD_VERSION "0.1.0"
#define CAS_TRIES 8

struct fleet_member {
    struct registry *reg;
    struct fleet_member_opts o;
    char name[FLEET_NAME_MAX + 1], advertise[FLEET_URL_MAX + 1];
    struct etcd_client *etcd; /* the thread's own */
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop */
    pthread_cond_t wake;
    int stop;
    int64_t lease;              /* 0: not registered */
    struct fleet_host wrote;    /* what this host last wrote of its own fields */
    int healthy;                /* last round reached etcd (log only on a change) */
    struct fleet_claims claims; /* records missing here, waiting out their grace */
    char last_error[256];       /* the last round's error ("": none), to log each reason once */
};

/* This host's own fields now: capacity and the reservations its admission holds. */
static void local_view(struct fleet_member *m, struct fleet_host *h)
{
    char holders[8];
    struct sysinfo si;
    pthread_mutex_lock(&m->reg->lock);
    h->cpus = m->reg->cpu.cpus;
    h->headroom_ppm = m->reg->cpu.headroom_ppm;
    h->held_ppm = adm_reservations_held(m->reg, NULL, holders, 0);
    pthread_mutex_unlock(&m->reg->lock);
    h->mem_mib = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit / (1024 * 1024) : 0;
    snprintf(h->name, sizeof(h->name), "%s", m->name);
    snprintf(h->advertise, sizeof(h->advertise), "%s", m->advertise);
    snprintf(h->version, sizeof(h->version), "%s", XENOD_VERSION);
    snprintf(h->migrate, sizeof(h->migrate), "%s", m->o.migrate ? m->o.migrate : "");
}

/* What placers claimed here, from the domain records (after a lease was lost the host record
 * is gone, but the domains placed here are not). */
static int claims_from_domains(struct fleet_member *m, struct fleet_host *h)
{
    struct etcd_range r;
    int rc = etcd_range(m->etcd, FLEET_DOMAINS, 1, &r);
    if (rc < 0)
        return rc;
    h->claimed_ppm = h->claimed_mib = 0;
    h->claimed_domains = 0;
    for (size_t i = 0; i < r.n; i++) {
        struct fleet_domain d;
        if (fleet_domain_parse(r.kvs[i].value, r.kvs[i].value_len, r.kvs[i].key, &d) < 0)
            continue;
        if (strcmp(d.host, m->name) == 0) {
            h->claimed_ppm += d.reservation_ppm;
            h->claimed_mib += d.mem_mib;
            h->claimed_domains++;
        }
        fleet_domain_free(&d);
    }
    etcd_range_free(&r);
    return 0;
}

/* Writes the host record: this host's fields over what is there (placers' claims kept), in a
 * transaction on the record's mod_revision so a claim made meanwhile is never overwritten. */
static int write_record(struct fleet_member *m, const struct fleet_host *mine)
{
    char key[FLEET_KEY_MAX];
    fleet_host_key(m->name, key, sizeof(key));
    for (int attempt = 0; attempt < CAS_TRIES; attempt++) {
        struct etcd_range r;
        struct fleet_host h = *mine;
        int rc = etcd_range(m->etcd, key, 0, &r);
        if (rc < 0)
            return rc;
        struct etcd_cmp cmp = {key, ETCD_CMP_CREATE, 0};
        struct fleet_host old;
        if (r.n && fleet_host_parse(r.kvs[0].value, r.kvs[0].value_len, key, &old) == 0 && r.kvs[0].lease == m->lease) {
            h.claimed_ppm = old.claimed_ppm;
            h.claimed_mib = old.claimed_mib;
            h.claimed_domains = old.claimed_domains;
            h.state = old.state;
        } else if ((rc = claims_from_domains(m, &h)) < 0) {
            etcd_range_free(&r);
            return rc;
        }
        if (r.n)
            cmp = (struct etcd_cmp){key, ETCD_CMP_MOD, r.kvs[0].mod_revision};
        etcd_range_free(&r);
        char *value = fleet_host_format(&h);
        if (!value)
            return err_set(ENOMEM, "out of memory");
        struct etcd_op put = {key, value, m->lease};
        int ok = 0;
        rc = etcd_txn(m->etcd, &cmp, 1, &put, 1, &ok);
        free(value);
        if (rc < 0)
            return rc;
        if (ok)
            return 0;
    }
    return err_set(EAGAIN, "fleet: host record %s kept changing; will try again", key);
}

static int changed(const struct fleet_host *a, const struct fleet_host *b)
{
    return a->cpus != b->cpus || a->headroom_ppm != b->headroom_ppm || a->held_ppm != b->held_ppm ||
           a->mem_mib != b->mem_mib;
}

/* The lease part of a round: a lease (granted and the record written), kept alive, the
 * record up to date. */
static int lease_round(struct fleet_member *m)
{
    struct fleet_host now = {0};
    int rc;
    local_view(m, &now);
    if (m->lease) {
        rc = etcd_lease_keepalive(m->etcd, m->lease, NULL);
        if (rc == -ENOENT) {
            log_warn("fleet: %s; this host left the fleet and registers again", err_msg());
            m->lease = 0;
        } else if (rc < 0) {
            return rc;
        } else if (!changed(&now, &m->wrote)) {
            return 0;
        } else if ((rc = write_record(m, &now)) < 0) {
            return rc;
        } else {
            m->wrote = now;
            return 0;
        }
    }
    if ((rc = etcd_lease_grant(m->etcd, m->o.ttl_s, &m->lease)) < 0)
        return rc;
    /* Fencing: what the fleet restarted elsewhere while this host had no lease stops here
     * before this host is back in the fleet. */
    if ((rc = fleet_fence(m->reg, m->etcd, m->name)) > 0)
        log_warn("fleet: stopped %d stale cop%s of domains the fleet restarted elsewhere", rc, rc == 1 ? "y" : "ies");
    if (rc < 0 || (rc = write_record(m, &now)) < 0) {
        etcd_lease_revoke(m->etcd, m->lease);
        m->lease = 0;
        return rc;
    }
    m->wrote = now;
    log_info("fleet: registered as %s (lease %" PRIx64 ", TTL %lds) at %s", m->name, (uint64_t)m->lease, m->o.ttl_s,
             etcd_endpoint(m->etcd));
    return 0;
}

/* One round: the lease, the claims of domains that ended here, the domains of dead hosts. */
static int round_once(struct fleet_member *m)
{
    struct fleet_failover_opts fo = {m->name, m->lease, m->o.token_file, m->o.cacert};
    int rc = lease_round(m);
    if (rc == 0 && (rc = fleet_claims_reconcile(&m->claims, m->reg, m->etcd, m->name)) > 0)
        rc = 0;
    fo.lease = m->lease;
    if (rc == 0 && (rc = fleet_failover_round(m->reg, m->etcd, &fo)) > 0)
        rc = 0;
    return rc;
}

static void *member_thread(void *arg)
{
    struct fleet_member *m = arg;
    /* A third of the TTL between rounds: two keepalives may fail before the lease expires. */
    long period_ms = m->o.ttl_s * 1000 / 3;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        int rc = round_once(m);
        /* Logged when it starts failing, and again when the reason changes (not every round). */
        if (rc < 0 && (m->healthy || strcmp(m->last_error, err_msg()) != 0))
            log_warn("fleet: %s (domains keep running; nothing new is placed here until etcd answers)", err_msg());
        else if (rc == 0 && !m->healthy && m->lease)
            log_info("fleet: etcd answers again (%s)", etcd_endpoint(m->etcd));
        snprintf(m->last_error, sizeof(m->last_error), "%s", rc < 0 ? err_msg() : "");
        m->healthy = rc == 0;
        fleet_gate_set(m->o.gate, rc == 0 && m->lease);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += period_ms / 1000;
        until.tv_nsec += (period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&m->lock);
        while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int fleet_member_start(struct fleet_member **out, struct registry *reg, const struct fleet_member_opts *o)
{
    if (!o->name || !fleet_name_valid(o->name))
        return err_set(EINVAL, "--host-name: 1 to %d of A-Z a-z 0-9 . - _ (not starting with '.')", FLEET_NAME_MAX);
    if (!o->advertise || !fleet_url_valid(o->advertise))
        return err_set(EINVAL,
                       "--advertise: https://HOST:PORT (the API of --listen) or unix:/PATH (this host's socket)");
    if (o->migrate && !fleet_migrate_addr_valid(o->migrate))
        return err_set(EINVAL, "--migrate-listen %s: the fleet needs ADDR:PORT other hosts reach", o->migrate);
    if (o->ttl_s < 2 || o->ttl_s > 3600)
        return err_set(EINVAL, "--fleet-ttl: 2 to 3600 seconds");
    struct fleet_member *m = calloc(1, sizeof(*m));
    if (!m)
        return err_set(ENOMEM, "out of memory");
    m->reg = reg;
    m->o = *o;
    m->healthy = 1;
    snprintf(m->name, sizeof(m->name), "%s", o->name);
    snprintf(m->advertise, sizeof(m->advertise), "%s", o->advertise);
    int rc = etcd_open(&m->etcd, o->etcd, &o->tls, 2000);
    if (rc < 0) {
        free(m);
        return err_wrap(-rc, "--fleet");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&m->lock, NULL);
    if ((rc = pthread_create(&m->thread, NULL, member_thread, m)) != 0) {
        etcd_close(m->etcd);
        free(m);
        return err_set(rc, "fleet thread: %s", strerror(rc));
    }
    *out = m;
    return 0;
}

void fleet_member_stop(struct fleet_member *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    fleet_gate_set(m->o.gate, 0);
    etcd_close(m->etcd);
    fleet_claims_free(&m->claims);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
