/* The ledger's tables and their migration (ledger.h, docs/billing.md "Ledger"). Portable SQL
 * but for WITHOUT ROWID (left out on PostgreSQL): BIGINT/VARCHAR, explicit ids, views.
 *
 * Schema 3 stores what repeats once: domains (UUID, name, sponsor) and accounts in their own
 * tables referenced by id, meters by their fixed number (meter.h), the lines of a transaction
 * in a WITHOUT ROWID table keyed (tx_id, line), and transactions stored by their id
 * (WITHOUT ROWID: no second copy of the id in an index). ledger_span keeps the longest
 * transaction's length, so that reading the transactions that overlap a short period is a
 * bounded range of the index on period_end_us (ledger_for_each). The views ledger_tx and ledger_posting show
 * the tables of schema 1 and 2 as they were (names, not ids), for the operator's queries and
 * the integration tests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/ledger.h"
#include "daemon/ledger_rollup.h"
#include "lib/err.h"
#include "lib/log.h"

static const char tables[] =
    "CREATE TABLE IF NOT EXISTS ledger_schema(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ledger_domain("
    "  id BIGINT PRIMARY KEY, sponsor VARCHAR(136) NOT NULL, domain_uuid VARCHAR(40) NOT NULL,"
    "  domain_name VARCHAR(80) NOT NULL, UNIQUE(sponsor, domain_uuid, domain_name));"
    "CREATE TABLE IF NOT EXISTS ledger_account(id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS ledger_meter(id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS ledger_txn("
    "  id BIGINT PRIMARY KEY, idem_key VARCHAR(160) NOT NULL UNIQUE, kind VARCHAR(16) NOT NULL,"
    "  domain_id BIGINT NOT NULL REFERENCES ledger_domain(id),"
    "  period_start_us BIGINT NOT NULL, period_end_us BIGINT NOT NULL, posted_us BIGINT NOT NULL,"
    "  reverses BIGINT REFERENCES ledger_txn(id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS ledger_txn_domain ON ledger_txn(domain_id, period_end_us);"
    "CREATE TABLE IF NOT EXISTS ledger_line("
    "  tx_id BIGINT NOT NULL REFERENCES ledger_txn(id), line INTEGER NOT NULL,"
    "  account_id BIGINT NOT NULL REFERENCES ledger_account(id),"
    "  meter_id INTEGER NOT NULL REFERENCES ledger_meter(id), quantity BIGINT NOT NULL,"
    "  PRIMARY KEY(tx_id, line)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meter_cursor("
    "  domain_uuid VARCHAR(40) NOT NULL, source INTEGER NOT NULL, instance BIGINT NOT NULL,"
    "  time_ns BIGINT NOT NULL, c0 BIGINT NOT NULL, c1 BIGINT NOT NULL, c2 BIGINT NOT NULL,"
    "  c3 BIGINT NOT NULL, r0 BIGINT NOT NULL, r1 BIGINT NOT NULL, r2 BIGINT NOT NULL, r3 BIGINT NOT NULL,"
    "  PRIMARY KEY(domain_uuid, source));"
    "CREATE TABLE IF NOT EXISTS ledger_span(longest_us BIGINT NOT NULL);"
    "INSERT INTO ledger_account VALUES(1, 'host') ON CONFLICT DO NOTHING;";

static const char views[] =
    "CREATE VIEW IF NOT EXISTS ledger_tx AS SELECT t.id AS id, t.idem_key AS idem_key, t.kind AS kind,"
    "  d.domain_uuid AS domain_uuid, d.domain_name AS domain_name, d.sponsor AS sponsor,"
    "  t.period_start_us AS period_start_us, t.period_end_us AS period_end_us, t.posted_us AS posted_us,"
    "  t.reverses AS reverses FROM ledger_txn t JOIN ledger_domain d ON d.id = t.domain_id;"
    "CREATE VIEW IF NOT EXISTS ledger_posting AS SELECT p.tx_id AS tx_id, p.line AS line, a.name AS account,"
    "  m.name AS meter, p.quantity AS quantity FROM ledger_line p JOIN ledger_account a ON a.id = p.account_id"
    "  JOIN ledger_meter m ON m.id = p.meter_id;";

/* Schema 1 and 2 kept names in every row (ledger_tx, ledger_posting as tables): into the
 * tables of schema 3, every row and value kept (ids, keys, times, lines), then the old tables
 * go and the views of the same names take their place. */
static const char from_2[] =
    "INSERT INTO ledger_domain(id, sponsor, domain_uuid, domain_name)"
    "  SELECT ROW_NUMBER() OVER (ORDER BY sponsor, domain_uuid, domain_name), sponsor, domain_uuid, domain_name"
    "  FROM (SELECT DISTINCT sponsor, domain_uuid, domain_name FROM ledger_tx) AS x;"
    "INSERT INTO ledger_account(id, name) SELECT 1 + ROW_NUMBER() OVER (ORDER BY account), account"
    "  FROM (SELECT DISTINCT account FROM ledger_posting WHERE account <> 'host') AS x;"
    "INSERT INTO ledger_txn SELECT t.id, t.idem_key, t.kind, d.id, t.period_start_us, t.period_end_us,"
    "  t.posted_us, t.reverses FROM ledger_tx t JOIN ledger_domain d ON d.sponsor = t.sponsor"
    "  AND d.domain_uuid = t.domain_uuid AND d.domain_name = t.domain_name;"
    "INSERT INTO ledger_line SELECT p.tx_id, p.line, a.id, m.id, p.quantity FROM ledger_posting p"
    "  JOIN ledger_account a ON a.name = p.account JOIN ledger_meter m ON m.name = p.meter;"
    "DROP TABLE ledger_posting; DROP TABLE ledger_tx;";

static int exec(struct ledger *l, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int r = err_set(EIO, "ledger '%s': %s", l->path, msg ? msg : sqlite3_errmsg(l->db));
    sqlite3_free(msg);
    return r;
}

static int query_int(struct ledger *l, const char *sql)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int add_meters(struct ledger *l)
{
    char sql[160];
    for (int m = 0; m < METER__COUNT; m++) {
        snprintf(sql, sizeof(sql), "INSERT INTO ledger_meter VALUES(%d, '%s') ON CONFLICT DO NOTHING", m,
                 meter_info[m].name);
        if (exec(l, sql) < 0)
            return -EIO;
    }
    return 0;
}

/* From version v (0: an empty file, or schema 1 which had no version) to this one, in one SQL
 * transaction: all of it or nothing. */
static int migrate(struct ledger *l, int v)
{
    int old = query_int(l, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_tx'");
    if (exec(l, "BEGIN IMMEDIATE") < 0)
        return -EIO;
    int r = exec(l, tables);
    if (r == 0)
        r = add_meters(l);
    if (r == 0 && old)
        r = exec(l, from_2);
    if (r == 0)
        r = exec(l, "DELETE FROM ledger_span; INSERT INTO ledger_span"
                    " SELECT COALESCE(MAX(period_end_us - period_start_us), 0) FROM ledger_txn");
    if (r == 0)
        r = exec(l, views);
    if (r == 0 && ledger_rollup_schema(l->db) != SQLITE_OK)
        r = err_set(EIO, "ledger roll-ups: %s", sqlite3_errmsg(l->db));
    if (r == 0 && v < 2)
        r = ledger_rollup_rebuild_locked(l);
    char sql[96];
    snprintf(sql, sizeof(sql), "DELETE FROM ledger_schema; INSERT INTO ledger_schema VALUES(%d)",
             LEDGER_SCHEMA_VERSION);
    if (r == 0)
        r = exec(l, sql);
    if (r == 0 && exec(l, "COMMIT") == 0) {
        if (old)
            log_info("ledger '%s': schema %d -> %d", l->path, v ? v : 1, LEDGER_SCHEMA_VERSION);
        return 0;
    }
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return r < 0 ? r : -EIO;
}

int ledger_schema_open(struct ledger *l)
{
    int v = query_int(l, "SELECT MAX(version) FROM ledger_schema");
    if (v > LEDGER_SCHEMA_VERSION)
        return err_set(EPROTO, "ledger '%s': schema %d is newer than this xenod's %d", l->path, v,
                       LEDGER_SCHEMA_VERSION);
    if (v == LEDGER_SCHEMA_VERSION) /* a meter added since (meter.h) gets its row */
        return query_int(l, "SELECT COUNT(*) FROM ledger_meter") < METER__COUNT ? add_meters(l) : 0;
    return migrate(l, v);
}
