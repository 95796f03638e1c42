#include "daemon/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"

#define SECRET_BYTES 32
#define SALT_BYTES 16
#define FAIL_SLOTS 1024 /* source addresses remembered; the oldest is replaced */

/* Why SHA-256 and not a slow password KDF: the secret is 256 random bits, so guessing it is
 * 2^256 work whatever the hash costs; a slow KDF only protects low-entropy passwords, and
 * would make every API request pay for it. The salt makes equal secrets' rows differ. */
static const char schema[] = "CREATE TABLE IF NOT EXISTS tokens ("
                             " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " sponsor TEXT NOT NULL,"
                             " read_only INTEGER NOT NULL,"
                             " created REAL NOT NULL,"
                             " expires REAL NOT NULL,"
                             " revoked REAL NOT NULL DEFAULT 0,"
                             " salt BLOB NOT NULL,"
                             " hash BLOB NOT NULL);";

struct fail_slot {
    char addr[64];
    double window_start;
    int count;
};

struct auth {
    pthread_mutex_t lock;
    sqlite3 *db;
    uint64_t revocations; /* auth_revocations() */
    struct fail_slot fails[FAIL_SLOTS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int auth_open(struct auth **out, const char *db_path)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(ENOMEM, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    char *msg = NULL;
    if (sqlite3_open_v2(db_path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        (sqlite3_busy_timeout(a->db, 5000), sqlite3_exec(a->db, schema, NULL, NULL, &msg)) != SQLITE_OK) {
        int r = err_set(EIO, "token store '%s': %s", db_path, msg ? msg : a->db ? sqlite3_errmsg(a->db) : "?");
        sqlite3_free(msg);
        auth_close(a);
        return r;
    }
    *out = a;
    return 0;
}

void auth_close(struct auth *a)
{
    if (!a)
        return;
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int sha256(const unsigned char *salt, const unsigned char *secret, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) && EVP_DigestUpdate(m, salt, SALT_BYTES) &&
             EVP_DigestUpdate(m, secret, len) && EVP_DigestFinal_ex(m, out, &n) && n == 32;
    EVP_MD_CTX_free(m);
    return ok ? 0 : err_set(EIO, "SHA-256 failed (OpenSSL)");
}

int auth_token_create(struct auth *a, const char *sponsor, int read_only, double expires_at,
                      char secret[AUTH_SECRET_MAX], int64_t *id)
{
    unsigned char raw[SECRET_BYTES], salt[SALT_BYTES], hash[32];
    char hex[2 * SECRET_BYTES + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(salt, sizeof(salt)) != 1)
        return err_set(EIO, "no random bytes (OpenSSL RAND_bytes)");
    for (int i = 0; i < SECRET_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    /* The hash covers the hex text the client sends, so the check needs no decoding. */
    if (sha256(salt, (unsigned char *)hex, strlen(hex), hash) < 0)
        return -EIO;
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(a->db,
                                "INSERT INTO tokens (sponsor, read_only, created, expires, salt, hash) "
                                "VALUES (?, ?, ?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sponsor, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, read_only != 0);
        sqlite3_bind_double(st, 3, now_s());
        sqlite3_bind_double(st, 4, expires_at);
        sqlite3_bind_blob(st, 5, salt, sizeof(salt), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 6, hash, sizeof(hash), SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(a->db);
    int r = rc == SQLITE_DONE ? 0 : err_set(EIO, "storing the token: %s", sqlite3_errmsg(a->db));
    pthread_mutex_unlock(&a->lock);
    OPENSSL_cleanse(raw, sizeof(raw));
    if (r == 0)
        snprintf(secret, AUTH_SECRET_MAX, "xeno_%" PRId64 "_%s", *id, hex);
    OPENSSL_cleanse(hex, sizeof(hex));
    return r;
}

json_t *auth_token_list(struct auth *a)
{
    json_t *arr = json_array();
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&a->lock);
    if (sqlite3_prepare_v2(a->db, "SELECT id, sponsor, read_only, created, expires, revoked FROM tokens ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *sp = (const char *)sqlite3_column_text(st, 1);
            json_array_append_new(
                arr, json_pack("{s:I, s:s?, s:b, s:b, s:f, s:f, s:b}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                               "sponsor", sp && *sp ? sp : NULL, "operator", !sp || !*sp, "read_only",
                               sqlite3_column_int(st, 2), "created", sqlite3_column_double(st, 3), "expires",
                               sqlite3_column_double(st, 4), "revoked", sqlite3_column_double(st, 5) > 0));
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    return arr;
}

int auth_token_revoke(struct auth *a, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int r = 0;
    pthread_mutex_lock(&a->lock);
    if (sqlite3_prepare_v2(a->db, "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0", -1, &st, NULL) !=
        SQLITE_OK) {
        r = err_set(EIO, "revoking token %" PRId64 ": %s", id, sqlite3_errmsg(a->db));
    } else {
        sqlite3_bind_double(st, 1, now_s());
        sqlite3_bind_int64(st, 2, id);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = err_set(EIO, "revoking token %" PRId64 ": %s", id, sqlite3_errmsg(a->db));
        else if (sqlite3_changes(a->db) == 0)
            r = err_set(ENOENT, "no token %" PRId64 " that is not revoked (see xenctl token list)", id);
        else
            a->revocations++;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    return r;
}

uint64_t auth_revocations(struct auth *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t n = a->revocations;
    pthread_mutex_unlock(&a->lock);
    return n;
}

int auth_token_valid(struct auth *a, int64_t id, const char **why)
{
    sqlite3_stmt *st = NULL;
    *why = "unknown";
    pthread_mutex_lock(&a->lock);
    if (sqlite3_prepare_v2(a->db, "SELECT expires, revoked FROM tokens WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            double expires = sqlite3_column_double(st, 0);
            *why = sqlite3_column_double(st, 1) != 0    ? "revoked"
                   : expires != 0 && expires <= now_s() ? "expired"
                                                        : NULL;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    return *why ? err_set(EACCES, "the token was %s", *why) : 0;
}

/* "Bearer xeno_ID_HEX" -> ID and HEX; 0 or -EACCES. */
static int parse_bearer(const char *h, int64_t *id, const char **hex)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return -EACCES;
    h += 7;
    if (strncmp(h, "xeno_", 5) != 0)
        return -EACCES;
    h += 5;
    char *end;
    errno = 0;
    long long v = strtoll(h, &end, 10);
    if (errno || end == h || *end != '_' || v <= 0 || h[0] == '+' || h[0] == '-')
        return -EACCES;
    *id = v;
    *hex = end + 1;
    if (strlen(*hex) != 2 * SECRET_BYTES || strspn(*hex, "0123456789abcdef") != 2 * SECRET_BYTES)
        return -EACCES;
    return 0;
}

int auth_check(struct auth *a, const char *authorization, struct principal *out)
{
    int64_t id;
    const char *hex;
    memset(out, 0, sizeof(*out));
    if (!authorization)
        return err_set(EACCES, "authentication required: send \"Authorization: Bearer TOKEN\" (xenctl token create)");
    if (parse_bearer(authorization, &id, &hex) < 0)
        return err_set(EACCES, "the Authorization header is not \"Bearer TOKEN\" with a xenod token");
    sqlite3_stmt *st = NULL;
    int r = err_set(EACCES, "the token is unknown, revoked or expired");
    pthread_mutex_lock(&a->lock);
    if (sqlite3_prepare_v2(a->db, "SELECT sponsor, read_only, expires, revoked, salt, hash FROM tokens WHERE id = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 4) == SALT_BYTES &&
            sqlite3_column_bytes(st, 5) == 32) {
            unsigned char hash[32];
            double expires = sqlite3_column_double(st, 2);
            /* The hash is compared in constant time before anything else decides, so the
             * answer's timing tells nothing about the secret. */
            int match = sha256(sqlite3_column_blob(st, 4), (const unsigned char *)hex, strlen(hex), hash) == 0 &&
                        CRYPTO_memcmp(hash, sqlite3_column_blob(st, 5), 32) == 0;
            if (match && sqlite3_column_double(st, 3) == 0 && (expires == 0 || expires > now_s())) {
                const char *sp = (const char *)sqlite3_column_text(st, 0);
                snprintf(out->sponsor, sizeof(out->sponsor), "%s", sp ? sp : "");
                out->is_operator = out->sponsor[0] == 0;
                out->read_only = sqlite3_column_int(st, 1);
                out->token_id = id;
                out->expires_at = expires;
                r = 0;
            }
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    return r;
}

static struct fail_slot *slot_of(struct auth *a, const char *addr, int make)
{
    struct fail_slot *oldest = &a->fails[0];
    for (int i = 0; i < FAIL_SLOTS; i++) {
        if (strcmp(a->fails[i].addr, addr) == 0)
            return &a->fails[i];
        if (a->fails[i].window_start < oldest->window_start)
            oldest = &a->fails[i];
    }
    if (!make)
        return NULL;
    snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
    oldest->window_start = now_s();
    oldest->count = 0;
    return oldest;
}

int auth_throttled(struct auth *a, const char *addr, int *retry_s)
{
    pthread_mutex_lock(&a->lock);
    struct fail_slot *s = slot_of(a, addr, 0);
    double left = s ? s->window_start + AUTH_FAIL_WINDOW_S - now_s() : 0;
    int t = s && left > 0 && s->count >= AUTH_FAIL_MAX;
    *retry_s = t ? (int)left + 1 : 0;
    pthread_mutex_unlock(&a->lock);
    return t;
}

void auth_failed(struct auth *a, const char *addr)
{
    pthread_mutex_lock(&a->lock);
    struct fail_slot *s = slot_of(a, addr, 1);
    if (now_s() - s->window_start > AUTH_FAIL_WINDOW_S) {
        s->window_start = now_s();
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&a->lock);
}

void principal_describe(const struct principal *p, char *out, size_t size)
{
    if (p->is_operator && !p->token_id)
        snprintf(out, size, "operator (unix socket)");
    else if (p->is_operator)
        snprintf(out, size, "operator token %" PRId64, p->token_id);
    else
        snprintf(out, size, "sponsor %s token %" PRId64 "%s", p->sponsor, p->token_id,
                 p->read_only ? " (read-only)" : "");
}
