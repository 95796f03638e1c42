/* Hourly roll-ups of the ledger (ledger_rollup.h). Portable SQL like ledger.c: the upsert is
 * INSERT ... ON CONFLICT DO UPDATE, the minimum and maximum are CASE (no LEAST/GREATEST or
 * two-argument MIN/MAX, which differ between SQLite and PostgreSQL). */
#include "daemon/ledger_rollup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

const int ledger_rollup_meter[LEDGER_ROLLUP_METERS] = {
    METER_VCPU_USED,    METER_VCPU_RESERVED, METER_MEMORY_RESIDENT,  METER_MEMORY_ALLOCATED,
    METER_NET_TX_BYTES, METER_NET_RX_BYTES,  METER_NET_TX_PACKETS,   METER_NET_RX_PACKETS,
    METER_DISK_OPS,     METER_DISK_BYTES,    METER_DISK_PROVISIONED, METER_DISK_RESERVED};
/* The one-meter resources (invoice.c): a bucket counts the pieces where each is non-zero. */
static const int single_meter[] = {METER_NET_TX_BYTES, METER_NET_RX_BYTES, METER_NET_TX_PACKETS,   METER_NET_RX_PACKETS,
                                   METER_DISK_OPS,     METER_DISK_BYTES,   METER_DISK_PROVISIONED, METER_DISK_RESERVED};
#define NSINGLE (sizeof(single_meter) / sizeof(single_meter[0]))
_Static_assert(METER_NET_TX_BYTES == 4 && METER_NET_RX_PACKETS == 7 && METER_OVERHEAD_CPU == 8 &&
                   METER_DISK_OPS == 12 && METER__COUNT == 16,
               "a new sponsor meter needs its column in ledger_rollup (and a schema version to add it)");

/* The summed columns after the key, in bind order: the meters (named as the meters), the rule
 * sums, the count of pieces, then per one-meter resource the count of pieces where it is
 * non-zero ("pieces_" and the meter's name). */
#define NSUMMED (LEDGER_ROLLUP_METERS + 3 + NSINGLE)
static const char *column(size_t i, char buf[64])
{
    if (i < LEDGER_ROLLUP_METERS)
        return meter_info[ledger_rollup_meter[i]].name;
    static const char *const rule_cols[] = {"cpu_max", "memory_max", "pieces"};
    if (i < LEDGER_ROLLUP_METERS + 3)
        return rule_cols[i - LEDGER_ROLLUP_METERS];
    snprintf(buf, 64, "pieces_%s", meter_info[single_meter[i - LEDGER_ROLLUP_METERS - 3]].name);
    return buf;
}

int ledger_meter_is_sponsors(int m)
{
    for (int i = 0; i < LEDGER_ROLLUP_METERS; i++)
        if (ledger_rollup_meter[i] == m)
            return 1;
    return 0;
}

/* Schema 4's disk columns on a table made by schema 2 or 3: each one added (0 in every bucket
 * before: no disk was metered then) unless it is there. SQLITE_OK or the error. */
static int add_missing_columns(sqlite3 *db)
{
    char sql[256], buf[64];
    for (size_t i = 0; i < NSUMMED; i++) {
        const char *c = column(i, buf);
        snprintf(sql, sizeof(sql), "SELECT %s FROM ledger_rollup LIMIT 0", c);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_finalize(st);
            continue;
        }
        snprintf(sql, sizeof(sql), "ALTER TABLE ledger_rollup ADD COLUMN %s BIGINT NOT NULL DEFAULT 0", c);
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int ledger_rollup_schema(sqlite3 *db)
{
    char sql[4096], buf[64];
    size_t n = (size_t)snprintf(sql, sizeof(sql),
                                "CREATE TABLE IF NOT EXISTS ledger_rollup(sponsor VARCHAR(136) NOT NULL,"
                                " hour_us BIGINT NOT NULL, domain_uuid VARCHAR(40) NOT NULL,"
                                " domain_name VARCHAR(80) NOT NULL,");
    for (size_t i = 0; i < NSUMMED; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, " %s BIGINT NOT NULL,", column(i, buf));
    snprintf(sql + n, sizeof(sql) - n,
             " first_tx BIGINT NOT NULL, last_tx BIGINT NOT NULL, from_us BIGINT NOT NULL, to_us BIGINT NOT NULL,"
             " PRIMARY KEY(sponsor, hour_us, domain_uuid, domain_name)) WITHOUT ROWID");
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? add_missing_columns(db) : rc;
}

void ledger_piece_shares(const int64_t q[METER__COUNT], int64_t start, int64_t end, int64_t a, int64_t b,
                         int64_t out[METER__COUNT])
{
    int64_t len = end - start;
    for (int m = 0; m < METER__COUNT; m++)
        out[m] =
            len ? (int64_t)((__int128)q[m] * (b - start) / len) - (int64_t)((__int128)q[m] * (a - start) / len) : q[m];
}

static int64_t max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

static sqlite3_stmt *prepare_upsert(sqlite3 *db)
{
    char sql[8192], buf[64];
    /* Columns named: a table upgraded by ALTER TABLE has the disk columns last. */
    size_t n =
        (size_t)snprintf(sql, sizeof(sql), "INSERT INTO ledger_rollup(sponsor, hour_us, domain_uuid, domain_name");
    for (size_t i = 0; i < NSUMMED; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s", column(i, buf));
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", first_tx, last_tx, from_us, to_us) VALUES(?,?,?,?");
    for (size_t i = 0; i < NSUMMED + 4; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ",?");
    n += (size_t)snprintf(sql + n, sizeof(sql) - n,
                          ") ON CONFLICT(sponsor, hour_us, domain_uuid, domain_name) DO UPDATE SET");
    for (size_t i = 0; i < NSUMMED; i++) {
        const char *c = column(i, buf);
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, " %s = ledger_rollup.%s + excluded.%s,", c, c, c);
    }
    static const char *const lower[] = {"first_tx", "from_us"}, *const upper[] = {"last_tx", "to_us"};
    for (int i = 0; i < 2; i++)
        n += (size_t)snprintf(
            sql + n, sizeof(sql) - n,
            " %s = CASE WHEN excluded.%s < ledger_rollup.%s THEN excluded.%s ELSE ledger_rollup.%s END,"
            " %s = CASE WHEN excluded.%s > ledger_rollup.%s THEN excluded.%s ELSE ledger_rollup.%s END%s",
            lower[i], lower[i], lower[i], lower[i], lower[i], upper[i], upper[i], upper[i], upper[i], upper[i],
            i ? "" : ",");
    sqlite3_stmt *st = NULL;
    if (n >= sizeof(sql) || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* The piece [a, b) of tx into its hour's bucket. */
static int add_piece(sqlite3_stmt *st, int64_t id, const struct ledger_tx *tx, int64_t a, int64_t b)
{
    int64_t s[METER__COUNT];
    ledger_piece_shares(tx->q, tx->start_us, tx->end_us, a, b, s);
    int64_t v[NSUMMED];
    for (int k = 0; k < LEDGER_ROLLUP_METERS; k++)
        v[k] = s[ledger_rollup_meter[k]];
    v[LEDGER_ROLLUP_METERS] = max64(s[METER_VCPU_USED], s[METER_VCPU_RESERVED]);
    v[LEDGER_ROLLUP_METERS + 1] = max64(s[METER_MEMORY_RESIDENT], s[METER_MEMORY_ALLOCATED]);
    v[LEDGER_ROLLUP_METERS + 2] = 1;
    for (size_t k = 0; k < NSINGLE; k++)
        v[LEDGER_ROLLUP_METERS + 3 + k] = s[single_meter[k]] != 0;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, tx->sponsor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ledger_hour_of(a));
    sqlite3_bind_text(st, 3, tx->domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, tx->name, -1, SQLITE_STATIC);
    for (size_t i = 0; i < NSUMMED; i++)
        sqlite3_bind_int64(st, 5 + (int)i, v[i]);
    sqlite3_bind_int64(st, 5 + NSUMMED, id);
    sqlite3_bind_int64(st, 6 + NSUMMED, id);
    sqlite3_bind_int64(st, 7 + NSUMMED, a);
    sqlite3_bind_int64(st, 8 + NSUMMED, b);
    return sqlite3_step(st);
}

int ledger_rollup_add(sqlite3 *db, sqlite3_stmt **upsert, int64_t id, const struct ledger_tx *tx)
{
    if (!tx->sponsor[0])
        return SQLITE_DONE; /* the host's own (overhead, idle, their reversals): not rolled up */
    int any = 0;
    for (int m = 0; m < LEDGER_ROLLUP_METERS; m++)
        any |= tx->q[ledger_rollup_meter[m]] != 0;
    if (!any)
        return SQLITE_DONE; /* no lines: a bill never reads it (ledger_for_each) */
    if (!*upsert && !(*upsert = prepare_upsert(db)))
        return SQLITE_ERROR;
    sqlite3_stmt *st = *upsert;
    int rc = SQLITE_DONE;
    if (tx->end_us <= tx->start_us) {
        rc = add_piece(st, id, tx, tx->start_us, tx->start_us);
    } else {
        /* The invoice's cuts at every hour (invoice_add_row). */
        for (int64_t a = tx->start_us; a < tx->end_us && rc == SQLITE_DONE;) {
            int64_t b = ledger_hour_of(a) + LEDGER_HOUR_US;
            b = b < tx->end_us ? b : tx->end_us;
            rc = add_piece(st, id, tx, a, b);
            a = b;
        }
    }
    sqlite3_reset(st);
    return rc;
}

struct rebuild_ctx {
    sqlite3 *db;
    sqlite3_stmt *upsert;
    int rc;
};

static void rebuild_row(void *opaque, const struct ledger_row *row)
{
    struct rebuild_ctx *c = opaque;
    if (c->rc != SQLITE_DONE)
        return;
    struct ledger_tx tx;
    memset(&tx, 0, sizeof(tx));
    snprintf(tx.domain, sizeof(tx.domain), "%s", row->domain);
    snprintf(tx.name, sizeof(tx.name), "%s", row->name);
    snprintf(tx.sponsor, sizeof(tx.sponsor), "%s", row->sponsor);
    tx.start_us = row->start_us;
    tx.end_us = row->end_us;
    memcpy(tx.q, row->q, sizeof(tx.q));
    c->rc = ledger_rollup_add(c->db, &c->upsert, row->id, &tx);
}

int ledger_rollup_rebuild_locked(struct ledger *l)
{
    struct rebuild_ctx c = {l->db, NULL, SQLITE_DONE};
    if (sqlite3_exec(l->db, "DELETE FROM ledger_rollup", NULL, NULL, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
    int r = ledger_for_each(l, NULL, INT64_MIN, INT64_MAX, rebuild_row, &c);
    sqlite3_finalize(c.upsert);
    if (r == 0 && c.rc != SQLITE_DONE)
        r = err_set(EIO, "ledger roll-ups: %s", sqlite3_errstr(c.rc));
    return r;
}

int ledger_rollup_rebuild(struct ledger *l)
{
    if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
    int r = ledger_rollup_rebuild_locked(l);
    if (r == 0 && sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (r == 0)
        r = err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

int ledger_for_each_bucket(struct ledger *l, const char *sponsor, int64_t from_hour, int64_t to_hour,
                           void (*fn)(void *ctx, const struct ledger_bucket *b), void *ctx)
{
    char sql[4096], buf[64];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "SELECT sponsor, hour_us, domain_uuid, domain_name");
    for (size_t i = 0; i < NSUMMED; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s", column(i, buf));
    snprintf(sql + n, sizeof(sql) - n,
             ", first_tx, last_tx, from_us, to_us FROM ledger_rollup WHERE sponsor = ?1 AND hour_us >= ?2"
             " AND hour_us < ?3 ORDER BY hour_us");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
    sqlite3_bind_text(st, 1, sponsor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, from_hour);
    sqlite3_bind_int64(st, 3, to_hour);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ledger_bucket b;
        b.sponsor = (const char *)sqlite3_column_text(st, 0);
        b.hour_us = sqlite3_column_int64(st, 1);
        b.domain = (const char *)sqlite3_column_text(st, 2);
        b.name = (const char *)sqlite3_column_text(st, 3);
        int64_t v[NSUMMED];
        for (size_t i = 0; i < NSUMMED; i++)
            v[i] = sqlite3_column_int64(st, 4 + (int)i);
        memset(b.q, 0, sizeof(b.q));
        memset(b.meter_pieces, 0, sizeof(b.meter_pieces));
        for (int k = 0; k < LEDGER_ROLLUP_METERS; k++)
            b.q[ledger_rollup_meter[k]] = v[k];
        b.cpu_max = v[LEDGER_ROLLUP_METERS];
        b.mem_max = v[LEDGER_ROLLUP_METERS + 1];
        b.pieces = v[LEDGER_ROLLUP_METERS + 2];
        for (size_t k = 0; k < NSINGLE; k++)
            b.meter_pieces[single_meter[k]] = v[LEDGER_ROLLUP_METERS + 3 + k];
        b.first_tx = sqlite3_column_int64(st, 4 + NSUMMED);
        b.last_tx = sqlite3_column_int64(st, 5 + NSUMMED);
        b.from_us = sqlite3_column_int64(st, 6 + NSUMMED);
        b.to_us = sqlite3_column_int64(st, 7 + NSUMMED);
        if (b.sponsor && b.domain && b.name)
            fn(ctx, &b);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
}
