#include "daemon/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS domains("
    "  uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, sponsor TEXT NOT NULL,"
    "  memory INTEGER NOT NULL, current_memory INTEGER NOT NULL, vcpus INTEGER NOT NULL,"
    "  kernel TEXT NOT NULL, initrd TEXT, cmdline TEXT,"
    "  on_poweroff TEXT NOT NULL, on_reboot TEXT NOT NULL, on_crash TEXT NOT NULL,"
    "  xml TEXT NOT NULL, source TEXT NOT NULL, persistent INTEGER NOT NULL, created REAL NOT NULL,"
    "  domid INTEGER NOT NULL DEFAULT 0, pid INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'shutdown', started_at REAL NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS events("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, uuid TEXT NOT NULL,"
    "  name TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_uuid ON events(uuid, id);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS usage_samples("
    "  time REAL NOT NULL, uuid TEXT NOT NULL, cpu_ns INTEGER NOT NULL, memory_bytes INTEGER NOT NULL,"
    "  memory_target_bytes INTEGER NOT NULL, balloon_bytes INTEGER NOT NULL,"
    "  guest_resident_bytes INTEGER NOT NULL, monitor_rss_bytes INTEGER NOT NULL,"
    "  guest_free_bytes INTEGER, exits_io INTEGER NOT NULL, exits_mmio INTEGER NOT NULL,"
    "  exits_other INTEGER NOT NULL, console_out_bytes INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS usage_samples_uuid ON usage_samples(uuid, time);"
    /* CPU scheduling (docs/scheduling.md): the settings in force per domain (from its XML,
     * changed live), and with every usage sample the exact CPU time of each vCPU and what
     * the scheduler did. */
    "CREATE TABLE IF NOT EXISTS sched_settings("
    "  uuid TEXT PRIMARY KEY, reservation_ppm INTEGER NOT NULL, limit_ppm INTEGER NOT NULL,"
    "  weight INTEGER NOT NULL, period_us INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS usage_cpu("
    "  time REAL NOT NULL, uuid TEXT NOT NULL, vcpu_ns TEXT NOT NULL, reserved_ns INTEGER NOT NULL,"
    "  throttled_ns INTEGER NOT NULL, throttles INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS usage_cpu_uuid ON usage_cpu(uuid, time);"
    /* Network counters of a domain's port on xeno-netback (cumulative since the backend's
     * port was made: a backend restart starts them again, which readers see as a drop). */
    "CREATE TABLE IF NOT EXISTS usage_net("
    " time REAL NOT NULL, uuid TEXT NOT NULL, tx_packets INTEGER, tx_bytes INTEGER, tx_dropped INTEGER,"
    " rx_packets INTEGER, rx_bytes INTEGER, rx_dropped INTEGER);"
    "CREATE INDEX IF NOT EXISTS usage_net_uuid ON usage_net(uuid, time);"
    /* Each disk's counters on xeno-blkback (cumulative since the backend added the disk: a
     * backend restart or a new run of the domain starts them again), and its size and the
     * space its file takes then. */
    "CREATE TABLE IF NOT EXISTS usage_disk("
    " time REAL NOT NULL, uuid TEXT NOT NULL, disk TEXT NOT NULL, reads INTEGER, writes INTEGER,"
    " flushes INTEGER, discards INTEGER, write_zeroes INTEGER, bytes_read INTEGER, bytes_written INTEGER,"
    " errors INTEGER, throttled_ns INTEGER, size_bytes INTEGER, allocated_bytes INTEGER);"
    "CREATE INDEX IF NOT EXISTS usage_disk_uuid ON usage_disk(uuid, time);"
    "CREATE TABLE IF NOT EXISTS sponsor_policies("
    " sponsor TEXT PRIMARY KEY, sched INTEGER NOT NULL, max_reservation_ppm INTEGER NOT NULL,"
    " max_limit_ppm INTEGER NOT NULL, save INTEGER NOT NULL, disk_total_iops_sec INTEGER NOT NULL DEFAULT 0,"
    " disk_total_bytes_sec INTEGER NOT NULL DEFAULT 0);";

const char *const store_sample_names[STORE_SAMPLE_FIELDS] = {"cpu_ns",
                                                             "memory_bytes",
                                                             "memory_target_bytes",
                                                             "balloon_bytes",
                                                             "guest_resident_bytes",
                                                             "monitor_rss_bytes",
                                                             "guest_free_bytes",
                                                             "exits_io",
                                                             "exits_mmio",
                                                             "exits_other",
                                                             "console_out_bytes"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int db_err(struct store *s, const char *what)
{
    return err_set(EIO, "state store: %s: %s", what, sqlite3_errmsg(s->db));
}

int store_open(struct store *s, const char *path)
{
    char *msg = NULL;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        int r = err_set(EIO, "state store '%s': %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sqlite3_close(s->db);
        s->db = NULL;
        return r;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        int r = err_set(EIO, "state store '%s': creating schema: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(s->db);
        s->db = NULL;
        return r;
    }
    /* Columns added after the first release: a store written by an older xenod gains them
     * with their defaults ("duplicate column" means it already has them). */
    static const char *const added[] = {
        "ALTER TABLE domains ADD COLUMN memory_enforcement TEXT NOT NULL DEFAULT 'report'",
        "ALTER TABLE sponsor_policies ADD COLUMN disk_total_iops_sec INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sponsor_policies ADD COLUMN disk_total_bytes_sec INTEGER NOT NULL DEFAULT 0"};
    for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++)
        sqlite3_exec(s->db, added[i], NULL, NULL, NULL);
    return 0;
}

void store_close(struct store *s)
{
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* Prepares, binds text/int64 arguments from a format ("t" text, "i" int64, "d" double),
 * steps once and finalizes. Returns the sqlite result code. */
static int exec_bound(struct store *s, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 't')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (fmt[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

/* The message for a definition whose name or UUID is taken: which one clashed, and with
 * which domain (as libvirt says it). */
static int clash(struct store *s, const struct domain_config *c)
{
    sqlite3_stmt *st;
    char name[DOMAIN_NAME_MAX + 1] = "", uuid[DOMAIN_UUID_LEN + 1] = "";
    if (sqlite3_prepare_v2(s->db, "SELECT name, uuid FROM domains WHERE uuid=?1 OR name=?2 ORDER BY uuid=?1 DESC", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *n = sqlite3_column_text(st, 0), *u = sqlite3_column_text(st, 1);
            snprintf(name, sizeof(name), "%s", n ? (const char *)n : "");
            snprintf(uuid, sizeof(uuid), "%s", u ? (const char *)u : "");
        }
        sqlite3_finalize(st);
    }
    if (strcmp(uuid, c->uuid) == 0 && strcmp(name, c->name) == 0)
        return err_set(EEXIST, "domain '%s' is already defined with UUID %s; undefine it first to define it anew", name,
                       uuid);
    if (strcmp(uuid, c->uuid) == 0)
        return err_set(EEXIST,
                       "UUID %s is already domain '%s': the UUID of '%s' clashes; leave <uuid> out to have a new one "
                       "generated",
                       uuid, name, c->name);
    if (uuid[0])
        return err_set(EEXIST,
                       "domain '%s' already exists with UUID %s: the name clashes (the new definition's UUID is %s); "
                       "choose another <name>",
                       name, uuid, c->uuid);
    return err_set(EEXIST, "a domain named '%s' or with UUID %s already exists", c->name, c->uuid);
}

int store_add_domain(struct store *s, const struct domain_config *c, const char *xml, const char *source,
                     int persistent)
{
    int rc = exec_bound(s,
                        "INSERT INTO domains(uuid,name,sponsor,memory,current_memory,vcpus,kernel,initrd,cmdline,"
                        "on_poweroff,on_reboot,on_crash,xml,source,persistent,created,memory_enforcement)"
                        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        "tttiiittttttttidt", c->uuid, c->name, c->sponsor, (int64_t)c->memory_bytes,
                        (int64_t)c->current_memory_bytes, (int64_t)c->vcpus, c->kernel, c->initrd, c->cmdline,
                        lifecycle_action_name(c->on_poweroff), lifecycle_action_name(c->on_reboot),
                        lifecycle_action_name(c->on_crash), xml, source, (int64_t)persistent, now_s(),
                        memory_enforcement_name(c->memory_enforcement));
    if (rc == SQLITE_CONSTRAINT)
        return clash(s, c);
    return rc == SQLITE_DONE ? 0 : db_err(s, "adding domain");
}

int store_remove_domain(struct store *s, const char *uuid)
{
    exec_bound(s, "DELETE FROM sched_settings WHERE uuid=?", "t", uuid);
    return exec_bound(s, "DELETE FROM domains WHERE uuid=?", "t", uuid) == SQLITE_DONE ? 0
                                                                                       : db_err(s, "removing domain");
}

int store_set_runtime(struct store *s, const char *uuid, const struct store_runtime *rt)
{
    int rc = exec_bound(s, "UPDATE domains SET domid=?, pid=?, state=?, started_at=? WHERE uuid=?", "iitdt",
                        (int64_t)rt->domid, (int64_t)rt->pid, rt->state, rt->started_at, uuid);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording domain state");
}

int store_set_persistent(struct store *s, const char *uuid, int persistent)
{
    int rc = exec_bound(s, "UPDATE domains SET persistent=? WHERE uuid=?", "it", (int64_t)persistent, uuid);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording persistence");
}

int store_set_xml(struct store *s, const char *uuid, const char *xml)
{
    int rc = exec_bound(s, "UPDATE domains SET xml=? WHERE uuid=?", "tt", xml, uuid);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording the definition");
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int store_for_each_domain(struct store *s, void (*fn)(void *ctx, const struct store_domain *d), void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT uuid,name,sponsor,memory,current_memory,vcpus,kernel,initrd,cmdline,"
                           "on_poweroff,on_reboot,on_crash,xml,source,persistent,domid,pid,state,started_at,"
                           "memory_enforcement FROM domains ORDER BY created",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "listing domains");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_domain d;
        memset(&d, 0, sizeof(d));
        copy_col(st, 0, d.cfg.uuid, sizeof(d.cfg.uuid));
        copy_col(st, 1, d.cfg.name, sizeof(d.cfg.name));
        copy_col(st, 2, d.cfg.sponsor, sizeof(d.cfg.sponsor));
        d.cfg.memory_bytes = (uint64_t)sqlite3_column_int64(st, 3);
        d.cfg.current_memory_bytes = (uint64_t)sqlite3_column_int64(st, 4);
        d.cfg.vcpus = (unsigned)sqlite3_column_int(st, 5);
        d.cfg.kernel = dup_col(st, 6);
        d.cfg.initrd = dup_col(st, 7);
        d.cfg.cmdline = dup_col(st, 8);
        lifecycle_action_parse((const char *)sqlite3_column_text(st, 9), &d.cfg.on_poweroff);
        lifecycle_action_parse((const char *)sqlite3_column_text(st, 10), &d.cfg.on_reboot);
        lifecycle_action_parse((const char *)sqlite3_column_text(st, 11), &d.cfg.on_crash);
        d.xml = dup_col(st, 12);
        d.source = dup_col(st, 13);
        d.persistent = sqlite3_column_int(st, 14);
        d.rt.domid = sqlite3_column_int(st, 15);
        d.rt.pid = sqlite3_column_int(st, 16);
        copy_col(st, 17, d.rt.state, sizeof(d.rt.state));
        d.rt.started_at = sqlite3_column_double(st, 18);
        memory_enforcement_parse((const char *)sqlite3_column_text(st, 19), &d.cfg.memory_enforcement);
        fn(ctx, &d);
        domain_config_free(&d.cfg);
        free(d.xml);
        free(d.source);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing domains");
}

int store_add_event(struct store *s, const char *uuid, const char *name, const char *kind, const char *detail)
{
    int rc = exec_bound(s, "INSERT INTO events(time,uuid,name,kind,detail) VALUES(?,?,?,?,?)", "dtttt", now_s(), uuid,
                        name, kind, detail ? detail : "");
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording event");
}

int store_for_each_event(struct store *s, const char *uuid, int limit,
                         void (*fn)(void *ctx, int64_t id, double time, const char *uuid, const char *name,
                                    const char *kind, const char *detail),
                         void *ctx)
{
    sqlite3_stmt *st;
    const char *sql = uuid ? "SELECT * FROM (SELECT id,time,uuid,name,kind,detail FROM events WHERE uuid=?1"
                             " ORDER BY id DESC LIMIT ?2) ORDER BY id"
                           : "SELECT * FROM (SELECT id,time,uuid,name,kind,detail FROM events"
                             " ORDER BY id DESC LIMIT ?2) ORDER BY id";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "listing events");
    if (uuid)
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1), (const char *)sqlite3_column_text(st, 2),
           (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
           (const char *)sqlite3_column_text(st, 5));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing events");
}

int store_for_each_event_after(struct store *s, int64_t after_id, int limit,
                               void (*fn)(void *ctx, int64_t id, double time, const char *uuid, const char *name,
                                          const char *kind, const char *detail),
                               void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT id,time,uuid,name,kind,detail FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "listing events");
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1), (const char *)sqlite3_column_text(st, 2),
           (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
           (const char *)sqlite3_column_text(st, 5));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing events");
}

int store_next_domid(struct store *s, int *out)
{
    sqlite3_stmt *st;
    int rc = exec_bound(s,
                        "INSERT INTO meta(key,value) VALUES('next_domid',2)"
                        " ON CONFLICT(key) DO UPDATE SET value=value+1",
                        "");
    if (rc != SQLITE_DONE)
        return db_err(s, "allocating a domain ID");
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='next_domid'", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "allocating a domain ID");
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) - 1 : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_err(s, "allocating a domain ID");
}

int store_add_sample(struct store *s, const char *uuid, const struct stats_page *st)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO usage_samples VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &q, NULL) !=
        SQLITE_OK)
        return db_err(s, "recording a usage sample");
    const uint64_t vals[] = {st->cpu_ns,
                             st->memory_bytes,
                             st->memory_target_bytes,
                             st->balloon_bytes,
                             st->guest_resident_bytes,
                             st->monitor_rss_bytes,
                             st->guest_free_bytes,
                             st->exits_io,
                             st->exits_mmio,
                             st->exits_other,
                             st->console_out_bytes};
    double t = now_s();
    sqlite3_bind_double(q, 1, t);
    sqlite3_bind_text(q, 2, uuid, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < (int)(sizeof(vals) / sizeof(vals[0])); i++) {
        if (vals[i] == STATS_PAGE_UNKNOWN)
            sqlite3_bind_null(q, i + 3); /* the guest has not reported it */
        else
            sqlite3_bind_int64(q, i + 3, (sqlite3_int64)vals[i]);
    }
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_err(s, "recording a usage sample");
    /* The same sample's CPU time per vCPU, at the same time (GET .../usage joins them). */
    char vcpus[STATS_PAGE_MAX_VCPUS * 21 + 1] = "";
    size_t n = 0;
    for (unsigned i = 0; i < st->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        n += (size_t)snprintf(vcpus + n, sizeof(vcpus) - n, "%s%llu", i ? "," : "", (unsigned long long)st->vcpu_ns[i]);
    rc = exec_bound(s, "INSERT INTO usage_cpu VALUES(?,?,?,?,?,?)", "dttiii", t, uuid, vcpus,
                    (int64_t)st->sched_reserved_ns, (int64_t)st->sched_throttled_ns, (int64_t)st->sched_throttles);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording a usage sample");
}

int store_for_each_sample(struct store *s, const char *uuid, int limit,
                          void (*fn)(void *ctx, double time, const int64_t *vals, const int *is_null, int n), void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT * FROM (SELECT * FROM usage_samples WHERE uuid=?1 ORDER BY time DESC LIMIT ?2)"
                           " ORDER BY time",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "listing usage samples");
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t vals[STORE_SAMPLE_FIELDS];
        int nulls[STORE_SAMPLE_FIELDS];
        for (int i = 0; i < STORE_SAMPLE_FIELDS; i++) {
            nulls[i] = sqlite3_column_type(q, i + 2) == SQLITE_NULL;
            vals[i] = sqlite3_column_int64(q, i + 2);
        }
        fn(ctx, sqlite3_column_double(q, 0), vals, nulls, STORE_SAMPLE_FIELDS);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing usage samples");
}

int store_set_sched(struct store *s, const char *uuid, const struct sched_params *p)
{
    int rc = exec_bound(s, "INSERT OR REPLACE INTO sched_settings VALUES(?,?,?,?,?)", "tiiii", uuid,
                        (int64_t)p->reservation_ppm, (int64_t)p->limit_ppm, (int64_t)p->weight, (int64_t)p->period_us);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording CPU scheduling settings");
}

int store_get_sched(struct store *s, const char *uuid, struct sched_params *p)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT reservation_ppm,limit_ppm,weight,period_us FROM sched_settings WHERE uuid=?",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "reading CPU scheduling settings");
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        p->reservation_ppm = (uint32_t)sqlite3_column_int64(q, 0);
        p->limit_ppm = (uint32_t)sqlite3_column_int64(q, 1);
        p->weight = (uint32_t)sqlite3_column_int64(q, 2);
        p->period_us = (uint32_t)sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_err(s, "reading CPU scheduling settings");
}

int store_set_sponsor_policy(struct store *s, const char *sponsor, const struct sponsor_policy *p)
{
    int rc =
        exec_bound(s,
                   "INSERT OR REPLACE INTO sponsor_policies(sponsor,sched,max_reservation_ppm,max_limit_ppm,save,"
                   "disk_total_iops_sec,disk_total_bytes_sec) VALUES(?,?,?,?,?,?,?)",
                   "tiiiiii", sponsor, (int64_t)p->sched, (int64_t)p->max_reservation_ppm, (int64_t)p->max_limit_ppm,
                   (int64_t)p->save, (int64_t)p->disk_total_iops_sec, (int64_t)p->disk_total_bytes_sec);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording a sponsor's policy");
}

int store_get_sponsor_policy(struct store *s, const char *sponsor, struct sponsor_policy *p)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT sched,max_reservation_ppm,max_limit_ppm,save,disk_total_iops_sec,disk_total_bytes_sec "
            "FROM sponsor_policies WHERE sponsor=?",
            -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "reading a sponsor's policy");
    sqlite3_bind_text(q, 1, sponsor, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        p->sched = sqlite3_column_int(q, 0) != 0;
        p->max_reservation_ppm = (uint32_t)sqlite3_column_int64(q, 1);
        p->max_limit_ppm = (uint32_t)sqlite3_column_int64(q, 2);
        p->save = sqlite3_column_int(q, 3) != 0;
        p->disk_total_iops_sec = (uint64_t)sqlite3_column_int64(q, 4);
        p->disk_total_bytes_sec = (uint64_t)sqlite3_column_int64(q, 5);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_err(s, "reading a sponsor's policy");
}

int store_for_each_cpu_sample(struct store *s, const char *uuid, int limit,
                              void (*fn)(void *ctx, double time, const char *vcpu_ns, int64_t reserved_ns,
                                         int64_t throttled_ns, int64_t throttles),
                              void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT * FROM (SELECT time,vcpu_ns,reserved_ns,throttled_ns,throttles FROM usage_cpu"
                           " WHERE uuid=?1 ORDER BY time DESC LIMIT ?2) ORDER BY time",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "listing usage samples");
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_double(q, 0), (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
           sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4));
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing usage samples");
}

int store_add_net_sample(struct store *s, const char *uuid, const int64_t v[6])
{
    int rc = exec_bound(s, "INSERT INTO usage_net VALUES(?,?,?,?,?,?,?,?)", "dtiiiiii", now_s(), uuid, v[0], v[1], v[2],
                        v[3], v[4], v[5]);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording a network usage sample");
}

int store_for_each_net_sample(struct store *s, const char *uuid, int limit,
                              void (*fn)(void *ctx, double time, const int64_t v[6]), void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT * FROM (SELECT time,tx_packets,tx_bytes,tx_dropped,rx_packets,rx_bytes,rx_dropped"
                           " FROM usage_net WHERE uuid=?1 ORDER BY time DESC LIMIT ?2) ORDER BY time",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "listing network usage samples");
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t v[6];
        for (int i = 0; i < 6; i++)
            v[i] = sqlite3_column_int64(q, i + 1);
        fn(ctx, sqlite3_column_double(q, 0), v);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing network usage samples");
}

const char *const store_disk_sample_names[STORE_DISK_FIELDS] = {
    "reads",         "writes", "flushes",      "discards",   "write_zeroes",   "bytes_read",
    "bytes_written", "errors", "throttled_ns", "size_bytes", "allocated_bytes"};

int store_add_disk_sample(struct store *s, const char *uuid, const char *disk, const int64_t v[STORE_DISK_FIELDS])
{
    int rc = exec_bound(s, "INSERT INTO usage_disk VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)", "dttiiiiiiiiiii", now_s(),
                        uuid, disk, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
    return rc == SQLITE_DONE ? 0 : db_err(s, "recording a disk usage sample");
}

int store_for_each_disk_sample(struct store *s, const char *uuid, int limit,
                               void (*fn)(void *ctx, double time, const char *disk, const int64_t v[STORE_DISK_FIELDS]),
                               void *ctx)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT * FROM (SELECT time,disk,reads,writes,flushes,discards,write_zeroes,bytes_read,"
                           "bytes_written,errors,throttled_ns,size_bytes,allocated_bytes FROM usage_disk WHERE uuid=?1"
                           " ORDER BY time DESC LIMIT ?2) ORDER BY time, disk",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(s, "listing disk usage samples");
    sqlite3_bind_text(q, 1, uuid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t v[STORE_DISK_FIELDS];
        for (int i = 0; i < STORE_DISK_FIELDS; i++)
            v[i] = sqlite3_column_int64(q, i + 2);
        const unsigned char *disk = sqlite3_column_text(q, 1);
        fn(ctx, sqlite3_column_double(q, 0), disk ? (const char *)disk : "", v);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : db_err(s, "listing disk usage samples");
}

void store_begin(struct store *s)
{
    sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
}

void store_commit(struct store *s)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(s, "committing");
        log_error("%s", err_msg());
    }
}
