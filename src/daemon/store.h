/* xenod's persistent state in SQLite (STATE_DIR/xenod.db): domain definitions, what runs
 * where (so a restarted xenod can re-attach), the event log, and counters such as the next
 * domain ID. Every write is one transaction, so a crash of xenod never leaves a half-made
 * domain. The store is not thread-safe; the registry serialises calls with its lock. */
#ifndef XENO_DAEMON_STORE_H
#define XENO_DAEMON_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "lib/domain_config.h"
#include "lib/stats_page.h"

/* Columns of a usage sample after time and uuid, in this order. */
#define STORE_SAMPLE_FIELDS 11
extern const char *const store_sample_names[STORE_SAMPLE_FIELDS];

struct store {
    sqlite3 *db;
};

/* What the store keeps of a running (or stopped) domain besides its definition. */
struct store_runtime {
    int domid;      /* 0: not running */
    int pid;        /* 0: no monitor */
    char state[16]; /* last known state: running, shutdown, crashed, ... */
    double started_at;
};

struct store_domain {
    struct domain_config cfg; /* owned strings: free with domain_config_free */
    char *xml;                /* the definition as submitted */
    char *source;             /* the file it came from, or "<api>" */
    int persistent;
    struct store_runtime rt;
};

int store_open(struct store *s, const char *path);
void store_close(struct store *s);

/* -EEXIST (with a message naming the clash) if the name or UUID is taken. */
int store_add_domain(struct store *s, const struct domain_config *c, const char *xml, const char *source,
                     int persistent);
int store_remove_domain(struct store *s, const char *uuid);
int store_set_runtime(struct store *s, const char *uuid, const struct store_runtime *rt);
int store_set_persistent(struct store *s, const char *uuid, int persistent);
/* The definition's XML replaced (a live change kept for the next xenod: `xenctl disk-qos`). */
int store_set_xml(struct store *s, const char *uuid, const char *xml);

/* Calls `fn` for every stored domain (fn owns nothing: copy what it keeps). */
int store_for_each_domain(struct store *s, void (*fn)(void *ctx, const struct store_domain *d), void *ctx);

int store_add_event(struct store *s, const char *uuid, const char *name, const char *kind, const char *detail);
/* The last `limit` events, oldest first, optionally of one domain (uuid or NULL). */
int store_for_each_event(struct store *s, const char *uuid, int limit,
                         void (*fn)(void *ctx, int64_t id, double time, const char *uuid, const char *name,
                                    const char *kind, const char *detail),
                         void *ctx);

/* At most `limit` events with an ID above after_id, oldest first (the live stream's cursor). */
int store_for_each_event_after(struct store *s, int64_t after_id, int limit,
                               void (*fn)(void *ctx, int64_t id, double time, const char *uuid, const char *name,
                                          const char *kind, const char *detail),
                               void *ctx);

/* Groups the writes between them into one transaction (and one disk sync). */
void store_begin(struct store *s);
void store_commit(struct store *s);

/* A usage sample of a running domain, from its stats page: the metering record. */
int store_add_sample(struct store *s, const char *uuid, const struct stats_page *st);
/* The last `limit` samples of a domain, oldest first; is_null marks values the guest had not reported. */
int store_for_each_sample(struct store *s, const char *uuid, int limit,
                          void (*fn)(void *ctx, double time, const int64_t *vals, const int *is_null, int n),
                          void *ctx);

/* CPU scheduling settings of a domain (docs/scheduling.md): set at define and by live
 * changes, removed with the domain. get: 0, or -ENOENT when none were stored. */
/* What the operator allows a sponsor (sponsor_policy.h). */
struct sponsor_policy {
    int sched;                    /* may change its domains' CPU scheduling at all */
    uint32_t max_reservation_ppm; /* its running domains' reservations together, at most */
    uint32_t max_limit_ppm;       /* 0: any limit or none; else each limit in (0, this] */
    int save;                     /* may save and restore snapshots by name */
    /* A limit over all the sponsor's disks on this host, whatever their domains (xeno-blkback's
     * sponsor group, docs/blkback.md "Scheduler"); 0: none. */
    uint64_t disk_total_iops_sec, disk_total_bytes_sec;
};
int store_set_sponsor_policy(struct store *s, const char *sponsor, const struct sponsor_policy *p);
/* -ENOENT when the operator set none. */
int store_get_sponsor_policy(struct store *s, const char *sponsor, struct sponsor_policy *p);

int store_set_sched(struct store *s, const char *uuid, const struct sched_params *p);
int store_get_sched(struct store *s, const char *uuid, struct sched_params *p);
/* The CPU side of the last `limit` usage samples of a domain, oldest first, at the same
 * times as store_for_each_sample's: vcpu_ns is "NS,NS,..." (one per vCPU). */
/* A domain's network port counters: tx packets, bytes, dropped; rx packets, bytes, dropped. */
int store_add_net_sample(struct store *s, const char *uuid, const int64_t v[6]);
int store_for_each_net_sample(struct store *s, const char *uuid, int limit,
                              void (*fn)(void *ctx, double time, const int64_t v[6]), void *ctx);
/* A domain's disk on xeno-blkback (disk: its target, "vda"): the counters
 * store_disk_sample_names names, in that order. The last `limit` samples (of all its disks
 * together), oldest first. */
#define STORE_DISK_FIELDS 11
extern const char *const store_disk_sample_names[STORE_DISK_FIELDS];
int store_add_disk_sample(struct store *s, const char *uuid, const char *disk, const int64_t v[STORE_DISK_FIELDS]);
int store_for_each_disk_sample(struct store *s, const char *uuid, int limit,
                               void (*fn)(void *ctx, double time, const char *disk, const int64_t v[STORE_DISK_FIELDS]),
                               void *ctx);
int store_for_each_cpu_sample(struct store *s, const char *uuid, int limit,
                              void (*fn)(void *ctx, double time, const char *vcpu_ns, int64_t reserved_ns,
                                         int64_t throttled_ns, int64_t throttles),
                              void *ctx);

/* The next domain ID (1, 2, ...), persisted so IDs are not reused across restarts. */
int store_next_domid(struct store *s, int *out);

#endif
