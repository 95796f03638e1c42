/* The usage ledger in SQLite (ledger.h; the tables: ledger_schema.c). Portable SQL only:
 * BIGINT/VARCHAR types, explicit ids (no AUTOINCREMENT), INSERT ... ON CONFLICT for the
 * cursor (SQLite 3.24+, PostgreSQL). */
#include "daemon/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/ledger_rollup.h"
#include "lib/err.h"
#include "lib/log.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ledger_open(struct ledger *l, const char *path)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->path, sizeof(l->path), "%s", path);
    l->backlog = calloc(LEDGER_BACKLOG_MAX, sizeof(*l->backlog));
    if (!l->backlog)
        return err_set(ENOMEM, "ledger: out of memory");
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        /* Perhaps only read-only: open so bills can still be read. */
        sqlite3_close(l->db);
        l->db = NULL;
        if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
            int r = err_set(EIO, "ledger '%s': %s", path, l->db ? sqlite3_errmsg(l->db) : "cannot open");
            ledger_close(l);
            return r;
        }
    }
    sqlite3_busy_timeout(l->db, 2000);
    int r = ledger_schema_open(l);
    if (r < 0) {
        /* A read-only database of this schema is usable for reading. */
        log_warn("%s: postings wait in memory until it can be written", err_msg());
        l->failing = 1;
    }
    l->longest_us = INT64_MAX; /* unknown: ledger_for_each does not bound its reads */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT MAX(longest_us) FROM ledger_span", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            l->longest_us = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (r == -EPROTO) {
        /* A newer xenod's ledger: read what this one understands, never write it. */
        sqlite3_close(l->db);
        if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
            r = err_set(EIO, "ledger '%s': %s", path, l->db ? sqlite3_errmsg(l->db) : "cannot open");
            ledger_close(l);
            return r;
        }
    }
    return 0;
}

void ledger_close(struct ledger *l)
{
    for (int i = 0; i < LEDGER_STMTS; i++) {
        sqlite3_finalize(l->stmt[i]);
        l->stmt[i] = NULL;
    }
    if (l->db)
        sqlite3_close(l->db);
    l->db = NULL;
    free(l->backlog);
    l->backlog = NULL;
}

static int insert_line(sqlite3_stmt *st, int64_t id, int line, int64_t account, int meter, int64_t q)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, line);
    sqlite3_bind_int64(st, 3, account);
    sqlite3_bind_int(st, 4, meter);
    sqlite3_bind_int64(st, 5, q);
    return sqlite3_step(st);
}

/* The statements a posting runs, prepared once per open ledger (ledger_close finalizes). */
enum {
    ST_DOMAIN_GET,
    ST_DOMAIN_ADD,
    ST_ACCOUNT_GET,
    ST_ACCOUNT_ADD,
    ST_NEXT_ID,
    ST_TX_ADD,
    ST_LINE_ADD,
    ST_CURSOR_SET
};
_Static_assert(ST_CURSOR_SET < LEDGER_STMTS - 1, "ledger.h LEDGER_STMTS: one more is the roll-up's");

/* Statement `slot` (prepared from sql the first time), reset and ready to bind; NULL on error. */
static sqlite3_stmt *stmt(struct ledger *l, int slot, const char *sql)
{
    if (!l->stmt[slot] && sqlite3_prepare_v2(l->db, sql, -1, &l->stmt[slot], NULL) != SQLITE_OK) {
        l->stmt[slot] = NULL;
        return NULL;
    }
    sqlite3_reset(l->stmt[slot]);
    return l->stmt[slot];
}

/* Steps a cached statement that returns no row, and resets it. */
static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

/* The id of the row of `table` whose text columns are vals[0..n) (cols names them), made
 * with the next id if there is none. 0, or an SQLite error (inside the caller's transaction).
 * slot: the cached SELECT, slot + 1 the INSERT. */
static int id_of(struct ledger *l, int slot, const char *table, const char *const cols[], const char *const vals[],
                 int n, int64_t *id)
{
    char sql[512];
    size_t k = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE", table);
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(sql + k, sizeof(sql) - k, "%s %s = ?%d", i ? " AND" : "", cols[i], i + 1);
    sqlite3_stmt *st = stmt(l, slot, sql);
    if (!st)
        return SQLITE_ERROR;
    for (int i = 0; i < n; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return rc;
    k = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s(id", table);
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(sql + k, sizeof(sql) - k, ", %s", cols[i]);
    k += (size_t)snprintf(sql + k, sizeof(sql) - k, ") SELECT COALESCE(MAX(id), 0) + 1");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(sql + k, sizeof(sql) - k, ", ?%d", i + 1);
    snprintf(sql + k, sizeof(sql) - k, " FROM %s RETURNING id", table);
    if (!(st = stmt(l, slot + 1, sql)))
        return SQLITE_ERROR;
    for (int i = 0; i < n; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc;
}

static int save_cursor(struct ledger *l, const char *domain, const struct meter_cursor *c)
{
    sqlite3_stmt *st = stmt(l, ST_CURSOR_SET,
                            "INSERT INTO meter_cursor VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(domain_uuid, source)"
                            " DO UPDATE SET instance=excluded.instance, time_ns=excluded.time_ns, c0=excluded.c0,"
                            " c1=excluded.c1, c2=excluded.c2, c3=excluded.c3, r0=excluded.r0, r1=excluded.r1,"
                            " r2=excluded.r2, r3=excluded.r3");
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, c->source);
    sqlite3_bind_int64(st, 3, (int64_t)c->instance);
    sqlite3_bind_int64(st, 4, (int64_t)c->time_ns);
    for (int i = 0; i < 4; i++) {
        sqlite3_bind_int64(st, 5 + i, (int64_t)c->counter[i]);
        sqlite3_bind_int64(st, 9 + i, (int64_t)c->rem[i]);
    }
    return step_reset(st);
}

/* The transaction's row and its lines (inside post_one's SQL transaction). */
static int insert_tx(struct ledger *l, const struct ledger_tx *tx, int64_t id, int64_t domain_id, int64_t account_id)
{
    sqlite3_stmt *st = stmt(l, ST_TX_ADD, "INSERT INTO ledger_txn VALUES(?,?,?,?,?,?,?,?)");
    if (!st)
        return SQLITE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, tx->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tx->reverses ? "reversal" : tx->sponsor[0] ? "usage" : "host", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, domain_id);
    sqlite3_bind_int64(st, 5, tx->start_us);
    sqlite3_bind_int64(st, 6, tx->end_us);
    sqlite3_bind_int64(st, 7, now_us());
    if (tx->reverses)
        sqlite3_bind_int64(st, 8, tx->reverses);
    else
        sqlite3_bind_null(st, 8);
    int rc = step_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (!(st = stmt(l, ST_LINE_ADD, "INSERT INTO ledger_line VALUES(?,?,?,?,?)")))
        return SQLITE_ERROR;
    int line = 0;
    for (int m = 0; m < METER__COUNT && rc == SQLITE_DONE; m++)
        if (tx->q[m] && (rc = insert_line(st, id, ++line, account_id, m, tx->q[m])) == SQLITE_DONE)
            rc = insert_line(st, id, ++line, LEDGER_HOST_ACCOUNT, m, -tx->q[m]);
    sqlite3_reset(st);
    return rc;
}

/* One transaction in one SQL transaction. SQLITE_DONE, SQLITE_CONSTRAINT for a key already
 * posted, or the error. */
static int post_one(struct ledger *l, const struct ledger_tx *tx)
{
    int rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    int64_t id = 1, domain_id, account_id;
    char account[LEDGER_ACCOUNT_MAX];
    if (tx->account[0])
        snprintf(account, sizeof(account), "%s", tx->account);
    else
        snprintf(account, sizeof(account), "sponsor:%s/domain:%s", tx->sponsor, tx->domain);
    static const char *const dcols[] = {"sponsor", "domain_uuid", "domain_name"}, *const acols[] = {"name"};
    const char *const dvals[] = {tx->sponsor, tx->domain, tx->name}, *const avals[] = {account};
    if ((rc = id_of(l, ST_DOMAIN_GET, "ledger_domain", dcols, dvals, 3, &domain_id)) != 0 ||
        (rc = id_of(l, ST_ACCOUNT_GET, "ledger_account", acols, avals, 1, &account_id)) != 0)
        goto fail;
    sqlite3_stmt *st = stmt(l, ST_NEXT_ID, "SELECT COALESCE(MAX(id), 0) + 1 FROM ledger_txn");
    if (!st) {
        rc = SQLITE_ERROR;
        goto fail;
    }
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        goto fail;
    if ((rc = insert_tx(l, tx, id, domain_id, account_id)) != SQLITE_DONE ||
        (rc = ledger_rollup_add(l->db, &l->stmt[LEDGER_STMTS - 1], id, tx)) != SQLITE_DONE)
        goto fail;
    if (tx->has_cursor && (rc = save_cursor(l, tx->domain, &tx->cursor)) != SQLITE_DONE)
        goto fail;
    int64_t len = tx->end_us - tx->start_us;
    if (len > l->longest_us) {
        char sql[96];
        snprintf(sql, sizeof(sql), "UPDATE ledger_span SET longest_us = %lld", (long long)len);
        if ((rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
            goto fail;
    }
    rc = sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if (len > l->longest_us)
        l->longest_us = len;
    return SQLITE_DONE;
fail:
    sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_DONE || rc == SQLITE_OK || rc == SQLITE_ROW ? SQLITE_ERROR : rc;
}

/* Posts the backlog's head; 0 done (posted or a duplicate), -1 the database failed. */
static int post_head(struct ledger *l)
{
    struct ledger_tx *tx = &l->backlog[l->backlog_head];
    int rc = post_one(l, tx);
    if (rc == SQLITE_CONSTRAINT) {
        l->duplicates++;
    } else if (rc != SQLITE_DONE) {
        if (!l->failing)
            log_error("ledger '%s': cannot post (%s): usage waits in memory (%zu waiting, at most %d)", l->path,
                      sqlite3_errstr(rc), l->backlog_n, LEDGER_BACKLOG_MAX);
        l->failing = 1;
        err_set(EIO, "ledger '%s': %s", l->path, sqlite3_errstr(rc));
        return -1;
    } else {
        l->posted++;
    }
    l->backlog_head = (l->backlog_head + 1) % LEDGER_BACKLOG_MAX;
    l->backlog_n--;
    return rc == SQLITE_CONSTRAINT;
}

size_t ledger_flush(struct ledger *l)
{
    size_t before = l->backlog_n;
    while (l->backlog_n && post_head(l) >= 0)
        ;
    if (l->failing && l->backlog_n == 0) {
        log_info("ledger '%s': writable again; %zu waiting transactions posted", l->path, before);
        l->failing = 0;
    }
    return l->backlog_n;
}

/* A full backlog: the domain's last waiting transaction of the same source takes tx's usage
 * (its interval and cursor grow). 0, or -ENOSPC when there is none to merge into. */
static int merge_into_backlog(struct ledger *l, const struct ledger_tx *tx)
{
    for (size_t k = l->backlog_n; k-- > 0;) {
        struct ledger_tx *o = &l->backlog[(l->backlog_head + k) % LEDGER_BACKLOG_MAX];
        if (strcmp(o->domain, tx->domain) || o->cursor.source != tx->cursor.source || o->reverses || tx->reverses)
            continue;
        for (int m = 0; m < METER__COUNT; m++)
            o->q[m] += tx->q[m];
        o->end_us = tx->end_us;
        o->cursor = tx->cursor;
        snprintf(o->key, sizeof(o->key), "%s", tx->key);
        l->merged++;
        return 0;
    }
    l->dropped++;
    return err_set(ENOSPC, "ledger: backlog full (%d) and nothing of domain %s waits: usage lost", LEDGER_BACKLOG_MAX,
                   tx->domain);
}

int ledger_submit(struct ledger *l, const struct ledger_tx *tx, int *queued)
{
    *queued = 0;
    if (l->backlog_n)
        ledger_flush(l);
    if (l->backlog_n == 0) {
        int rc = post_one(l, tx);
        if (rc == SQLITE_CONSTRAINT) {
            l->duplicates++;
            return 1;
        }
        if (rc == SQLITE_DONE) {
            l->posted++;
            if (l->failing)
                log_info("ledger '%s': writable again", l->path);
            l->failing = 0;
            return 0;
        }
        if (!l->failing)
            log_error("ledger '%s': cannot post (%s): usage waits in memory (at most %d transactions)", l->path,
                      sqlite3_errstr(rc), LEDGER_BACKLOG_MAX);
        l->failing = 1;
    }
    *queued = 1;
    if (l->backlog_n == LEDGER_BACKLOG_MAX)
        return merge_into_backlog(l, tx);
    l->backlog[(l->backlog_head + l->backlog_n) % LEDGER_BACKLOG_MAX] = *tx;
    l->backlog_n++;
    return 0;
}

int ledger_get_cursor(struct ledger *l, const char *domain, int source, struct meter_cursor *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT instance,time_ns,c0,c1,c2,c3,r0,r1,r2,r3 FROM meter_cursor"
                           " WHERE domain_uuid=? AND source=?",
                           -1, &st, NULL) != SQLITE_OK)
        return -ENOENT; /* no table: nothing was ever posted */
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, source);
    int r = -ENOENT;
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->source = source;
        out->instance = (uint64_t)sqlite3_column_int64(st, 0);
        out->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
        for (int i = 0; i < 4; i++) {
            out->counter[i] = (uint64_t)sqlite3_column_int64(st, 2 + i);
            out->rem[i] = (uint64_t)sqlite3_column_int64(st, 6 + i);
        }
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

/* Transactions as rows: the tx columns, then (meter, quantity) of its sponsor-side lines. */
static int for_each_sql(struct ledger *l, const char *where, const char *sponsor, int64_t a, int64_t b,
                        void (*fn)(void *ctx, const struct ledger_row *row), void *ctx)
{
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT t.id, d.domain_uuid, d.domain_name, d.sponsor, t.period_start_us, t.period_end_us, p.meter_id,"
             " p.quantity, t.idem_key, a.name FROM ledger_txn t JOIN ledger_domain d ON d.id = t.domain_id"
             " JOIN ledger_line p ON p.tx_id = t.id JOIN ledger_account a ON a.id = p.account_id"
             " WHERE p.account_id <> %d AND %s ORDER BY t.id, p.line",
             LEDGER_HOST_ACCOUNT, where);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db));
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (sponsor)
        sqlite3_bind_text(st, 3, sponsor, -1, SQLITE_TRANSIENT);
    /* What ends after b + the longest transaction cannot start before b. */
    sqlite3_bind_int64(st, 4, b > INT64_MAX - l->longest_us ? INT64_MAX : b + l->longest_us);
    struct ledger_row row = {0};
    char dom[LEDGER_UUID_MAX] = "", name[LEDGER_NAME_MAX] = "", sp[LEDGER_SPONSOR_MAX] = "", key[LEDGER_KEY_MAX] = "",
         account[LEDGER_ACCOUNT_MAX] = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != row.id) {
            if (row.id)
                fn(ctx, &row);
            memset(&row, 0, sizeof(row));
            row.id = id;
            snprintf(dom, sizeof(dom), "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 2));
            snprintf(sp, sizeof(sp), "%s", (const char *)sqlite3_column_text(st, 3));
            snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(st, 8));
            snprintf(account, sizeof(account), "%s", (const char *)sqlite3_column_text(st, 9));
            row.key = key;
            row.account = account;
            row.domain = dom;
            row.name = name;
            row.sponsor = sp;
            row.start_us = sqlite3_column_int64(st, 4);
            row.end_us = sqlite3_column_int64(st, 5);
        }
        int m = sqlite3_column_int(st, 6);
        if (m >= 0 && m < METER__COUNT)
            row.q[m] += sqlite3_column_int64(st, 7);
    }
    if (row.id)
        fn(ctx, &row);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db));
}

int ledger_for_each(struct ledger *l, const char *sponsor, int64_t from_us, int64_t to_us,
                    void (*fn)(void *ctx, const struct ledger_row *row), void *ctx)
{
    return for_each_sql(l,
                        sponsor ? "t.period_end_us >= ?1 AND t.period_end_us <= ?4 AND t.period_start_us < ?2"
                                  " AND d.sponsor = ?3"
                                : "t.period_end_us >= ?1 AND t.period_end_us <= ?4 AND t.period_start_us < ?2"
                                  " AND d.sponsor <> ''",
                        sponsor, from_us, to_us, fn, ctx);
}

int ledger_for_each_sponsor(struct ledger *l, void (*fn)(void *ctx, const char *sponsor), void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT DISTINCT sponsor FROM ledger_domain WHERE sponsor <> '' ORDER BY sponsor", -1,
                           &st, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db));
}

int ledger_for_each_host(struct ledger *l, int64_t from_us, int64_t to_us,
                         void (*fn)(void *ctx, const struct ledger_row *row), void *ctx)
{
    /* Reversals of the host's transactions are the host's too (their domain's sponsor is ""). */
    return for_each_sql(l,
                        "d.sponsor = '' AND t.period_end_us >= ?1 AND t.period_end_us <= ?4"
                        " AND t.period_start_us < ?2 AND t.period_end_us > ?1",
                        NULL, from_us, to_us, fn, ctx);
}

int ledger_has_sponsor(struct ledger *l, const char *sponsor)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT 1 FROM ledger_domain WHERE sponsor = ? LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, sponsor, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

struct reverse_ctx {
    struct ledger_tx tx;
    int found;
};

static void take_row(void *opaque, const struct ledger_row *row)
{
    struct reverse_ctx *c = opaque;
    c->found = 1;
    snprintf(c->tx.domain, sizeof(c->tx.domain), "%s", row->domain);
    snprintf(c->tx.name, sizeof(c->tx.name), "%s", row->name);
    snprintf(c->tx.sponsor, sizeof(c->tx.sponsor), "%s", row->sponsor);
    if (!row->sponsor[0]) /* the host's own: the reversal credits the very account it debited */
        snprintf(c->tx.account, sizeof(c->tx.account), "%s", row->account);
    c->tx.start_us = row->start_us;
    c->tx.end_us = row->end_us;
    for (int m = 0; m < METER__COUNT; m++)
        c->tx.q[m] = -row->q[m];
}

int ledger_reverse(struct ledger *l, int64_t id)
{
    struct reverse_ctx c;
    memset(&c, 0, sizeof(c));
    int r = for_each_sql(l, "t.id = ?1 AND ?2 = ?2", NULL, id, 0, take_row, &c);
    if (r < 0)
        return r;
    if (!c.found)
        return err_set(ENOENT, "ledger: no transaction %lld", (long long)id);
    snprintf(c.tx.key, sizeof(c.tx.key), "reversal/%lld", (long long)id);
    c.tx.reverses = id;
    int rc = post_one(l, &c.tx);
    if (rc == SQLITE_CONSTRAINT)
        return 1;
    return rc == SQLITE_DONE ? 0 : err_set(EIO, "ledger: reversing %lld: %s", (long long)id, sqlite3_errstr(rc));
}

int ledger_check_balance(struct ledger *l)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_line GROUP BY tx_id, meter_id"
                           " HAVING SUM(quantity) <> 0) AS unbalanced",
                           -1, &st, NULL) != SQLITE_OK)
        return err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db));
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return n < 0 ? err_set(EIO, "ledger: %s", sqlite3_errmsg(l->db)) : n;
}
