#include "fleet/etcd_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/http_reply.h"
#include "lib/err.h"

#define ETCD_URL_MAX 256
#define ETCD_PATH_MAX 4096
#define ETCD_REPLY_MAX (64u << 20) /* a range of every domain record stays far below */

struct etcd_client {
    char urls[ETCD_ENDPOINTS_MAX][ETCD_URL_MAX];
    size_t n, current; /* current: the endpoint that answered last */
    long timeout_ms;
    int https;                                                       /* every endpoint is https:// */
    char ca[ETCD_PATH_MAX], cert[ETCD_PATH_MAX], key[ETCD_PATH_MAX]; /* "": none */
    CURL *curl;
};

/* The length of the URL's scheme and "://" (7 or 8), 0 when it is neither http nor https. */
static size_t scheme_len(const char *u, size_t len)
{
    if (len > 7 && strncmp(u, "http://", 7) == 0)
        return 7;
    if (len > 8 && strncmp(u, "https://", 8) == 0)
        return 8;
    return 0;
}

/* An endpoint URL: http(s)://HOST:PORT with printable characters only, no path. */
static int endpoint_valid(const char *u, size_t len)
{
    size_t s = scheme_len(u, len);
    if (!s || len >= ETCD_URL_MAX)
        return 0;
    for (size_t i = s; i < len; i++)
        if (u[i] <= ' ' || u[i] > '~' || u[i] == '/' || u[i] == '?' || u[i] == '#' || u[i] == '@')
            return 0;
    return 1;
}

/* Copies a TLS file's path; 0 or -EINVAL naming the option. */
static int tls_path(char dst[ETCD_PATH_MAX], const char *src, const char *what)
{
    if (!src)
        return 0;
    if (!*src || strlen(src) >= ETCD_PATH_MAX)
        return err_set(EINVAL, "%s: give a file's path", what);
    strcpy(dst, src);
    return 0;
}

/* The TLS settings against the endpoints' scheme (c->https set). */
static int tls_setup(struct etcd_client *c, const struct etcd_tls *tls)
{
    if (!tls)
        return 0;
    if ((tls->ca || tls->cert || tls->key) && !c->https)
        return err_set(EINVAL, "etcd TLS files (CA, certificate, key) go with https:// endpoints only");
    if (!tls->cert != !tls->key)
        return err_set(EINVAL, "an etcd client certificate and its key go together");
    int rc = tls_path(c->ca, tls->ca, "etcd CA");
    if (rc == 0)
        rc = tls_path(c->cert, tls->cert, "etcd client certificate");
    if (rc == 0)
        rc = tls_path(c->key, tls->key, "etcd client key");
    return rc;
}

int etcd_open(struct etcd_client **out, const char *urls, const struct etcd_tls *tls, long timeout_ms)
{
    struct etcd_client *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(ENOMEM, "out of memory");
    for (const char *p = urls; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (c->n == ETCD_ENDPOINTS_MAX || !endpoint_valid(p, len)) {
            free(c);
            return err_set(EINVAL, "etcd endpoints '%.300s': give 1 to %d http(s)://HOST:PORT URLs separated by commas",
                           urls, ETCD_ENDPOINTS_MAX);
        }
        int https = scheme_len(p, len) == 8;
        if (c->n && https != c->https) {
            free(c);
            return err_set(EINVAL, "etcd endpoints '%.300s': all http:// or all https://", urls);
        }
        c->https = https;
        memcpy(c->urls[c->n], p, len);
        c->urls[c->n++][len] = 0;
        p = comma ? comma + 1 : NULL;
    }
    if (!c->n) {
        free(c);
        return err_set(EINVAL, "no etcd endpoint given (http(s)://HOST:PORT[,...])");
    }
    if (tls_setup(c, tls) < 0) {
        free(c);
        return -EINVAL;
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 3000;
    if (!(c->curl = curl_easy_init())) {
        free(c);
        return err_set(ENOMEM, "cannot initialise libcurl");
    }
    *out = c;
    return 0;
}

void etcd_close(struct etcd_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

const char *etcd_endpoint(const struct etcd_client *c)
{
    return c->urls[c->current];
}

/* One POST to one endpoint. 0 with *answer (a JSON object), or -errno with err_set();
 * *retry says whether another endpoint may do better (no connection, timeout, 5xx). */
static int post_one(struct etcd_client *c, size_t ep, const char *path, const char *body, json_t **answer, int *retry)
{
    char url[ETCD_URL_MAX + 64];
    struct http_reply r = {.max = ETCD_REPLY_MAX};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char why[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s%s", c->urls[ep], path);
    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_reply_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, why); /* TLS failures say which check failed */
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, c->https ? "https" : "http");
    if (c->https) { /* the member's certificate and name are always checked */
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->ca[0])
            curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
        if (c->cert[0]) {
            curl_easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
            curl_easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
        }
    }
    CURLcode cc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL); /* why lives on this stack only */
    curl_slist_free_all(hdr);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    *retry = 1;
    int rc = 0;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = err_set(ETIMEDOUT, "etcd %s: no answer in %ld ms", c->urls[ep], c->timeout_ms);
    else if (cc != CURLE_OK)
        rc = err_set(r.too_big ? EMSGSIZE : ECONNREFUSED, "etcd %s: %s", c->urls[ep],
                     r.too_big ? "answer too large"
                     : why[0]  ? why
                               : curl_easy_strerror(cc));
    json_t *j = rc == 0 && r.buf ? json_loadb(r.buf, r.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (rc == 0 && status != 200) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(j, "error"));
        *retry = status >= 500;
        rc = err_set(status >= 500 ? EAGAIN : EINVAL, "etcd %s%s: HTTP %ld: %.300s", c->urls[ep], path, status,
                     msg ? msg : "no message");
    } else if (rc == 0 && !json_is_object(j)) {
        rc = err_set(EPROTO, "etcd %s%s: the answer is not a JSON object", c->urls[ep], path);
    }
    free(r.buf);
    if (rc < 0) {
        json_decref(j);
        return rc;
    }
    *answer = j;
    return 0;
}

/* POSTs body to path on the endpoints in turn, from the one that answered last. */
static int post(struct etcd_client *c, const char *path, json_t *body, json_t **answer)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return err_set(ENOMEM, "out of memory building an etcd request");
    int rc = -EIO, retry = 1;
    for (size_t i = 0; i < c->n && retry; i++) {
        size_t ep = (c->current + i) % c->n;
        rc = post_one(c, ep, path, text, answer, &retry);
        if (rc == 0) {
            c->current = ep;
            break;
        }
    }
    free(text);
    if (rc < 0 && c->n > 1 && retry)
        return err_append(-rc, " (and the other %zu etcd endpoints failed too: no quorum or none running)", c->n - 1);
    return rc;
}

static json_t *b64(const char *s, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
    json_t *j = json_string(out);
    free(out);
    return j;
}

/* Decodes base64 text into a NUL-terminated malloc'd string; NULL on a bad one. */
static char *unb64(const char *s, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    if (n % 4 || n / 4 * 3 > ETCD_VALUE_MAX + 2)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int got = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t m = (size_t)got;
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        m--; /* EVP_DecodeBlock counts the padding as zero bytes */
    out[m] = 0;
    *len = m;
    return (char *)out;
}

static json_t *num(int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string(buf);
}

/* A 64-bit field: the gateway writes them as decimal strings and leaves out zeros. */
static int64_t field(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

static int kv_parse(const json_t *j, struct etcd_kv *kv)
{
    size_t klen;
    kv->key = unb64(json_string_value(json_object_get(j, "key")), &klen);
    kv->value =
        unb64(json_string_value(json_object_get(j, "value")) ? json_string_value(json_object_get(j, "value")) : "",
              &kv->value_len);
    if (!kv->key || !kv->value)
        return err_set(EPROTO, "etcd: a key or value is not base64");
    kv->create_revision = field(j, "create_revision");
    kv->mod_revision = field(j, "mod_revision");
    kv->version = field(j, "version");
    kv->lease = field(j, "lease");
    return 0;
}

void etcd_range_free(struct etcd_range *r)
{
    for (size_t i = 0; r->kvs && i < r->n; i++) {
        free(r->kvs[i].key);
        free(r->kvs[i].value);
    }
    free(r->kvs);
    memset(r, 0, sizeof(*r));
}

/* The end of a prefix range: the prefix with its last byte incremented. */
static json_t *prefix_end(const char *key)
{
    size_t n = strlen(key);
    char *end = strdup(key);
    if (!end || !n) {
        free(end);
        return b64("\0", 1); /* every key */
    }
    end[n - 1]++;
    json_t *j = b64(end, n);
    free(end);
    return j;
}

static int range(struct etcd_client *c, const char *key, int prefix_only, int keys_only, struct etcd_range *out)
{
    json_t *ans, *body = json_pack("{s:o}", "key", b64(key, strlen(key)));
    memset(out, 0, sizeof(*out));
    if (body && prefix_only)
        json_object_set_new(body, "range_end", prefix_end(key));
    if (body && keys_only)
        json_object_set_new(body, "keys_only", json_true());
    int rc = body ? post(c, "/v3/kv/range", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc < 0)
        return rc;
    const json_t *kvs = json_object_get(ans, "kvs");
    out->revision = field(json_object_get(ans, "header"), "revision");
    size_t n = json_array_size(kvs);
    if (n && !(out->kvs = calloc(n, sizeof(*out->kvs))))
        rc = err_set(ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++, out->n++)
        rc = kv_parse(json_array_get(kvs, i), &out->kvs[i]);
    if (rc < 0)
        etcd_range_free(out);
    json_decref(ans);
    return rc;
}

int etcd_range(struct etcd_client *c, const char *key, int prefix_only, struct etcd_range *out)
{
    return range(c, key, prefix_only, 0, out);
}

int etcd_range_keys(struct etcd_client *c, const char *prefix, struct etcd_range *out)
{
    return range(c, prefix, 1, 1, out);
}

int etcd_put(struct etcd_client *c, const char *key, const char *value, int64_t lease)
{
    json_t *ans, *body = json_pack("{s:o, s:o, s:o}", "key", b64(key, strlen(key)), "value", b64(value, strlen(value)),
                                   "lease", num(lease));
    int rc = body ? post(c, "/v3/kv/put", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc == 0)
        json_decref(ans);
    return rc;
}

static json_t *txn_body(const struct etcd_cmp *cmps, size_t ncmp, const struct etcd_op *ops, size_t nops)
{
    json_t *cmp = json_array(), *succ = json_array();
    for (size_t i = 0; cmp && i < ncmp; i++) {
        int mod = cmps[i].target == ETCD_CMP_MOD;
        json_array_append_new(cmp, json_pack("{s:o, s:s, s:s, s:o}", "key", b64(cmps[i].key, strlen(cmps[i].key)),
                                             "result", "EQUAL", "target", mod ? "MOD" : "CREATE",
                                             mod ? "mod_revision" : "create_revision", num(cmps[i].value)));
    }
    for (size_t i = 0; succ && i < nops; i++) {
        json_t *k = b64(ops[i].key, strlen(ops[i].key));
        if (ops[i].value)
            json_array_append_new(succ, json_pack("{s:{s:o, s:o, s:o}}", "request_put", "key", k, "value",
                                                  b64(ops[i].value, strlen(ops[i].value)), "lease", num(ops[i].lease)));
        else
            json_array_append_new(succ, json_pack("{s:{s:o}}", "request_delete_range", "key", k));
    }
    if (!cmp || !succ || json_array_size(cmp) != ncmp || json_array_size(succ) != nops) {
        json_decref(cmp);
        json_decref(succ);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:[]}", "compare", cmp, "success", succ, "failure");
}

int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmps, size_t ncmp, const struct etcd_op *ops, size_t nops,
             int *succeeded)
{
    json_t *ans, *body = txn_body(cmps, ncmp, ops, nops);
    int rc = body ? post(c, "/v3/kv/txn", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc < 0)
        return rc;
    *succeeded = json_is_true(json_object_get(ans, "succeeded"));
    json_decref(ans);
    return 0;
}

int etcd_lease_grant(struct etcd_client *c, long ttl_s, int64_t *id)
{
    json_t *ans, *body = json_pack("{s:o}", "TTL", num(ttl_s));
    int rc = body ? post(c, "/v3/lease/grant", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc < 0)
        return rc;
    *id = field(ans, "ID");
    const char *e = json_string_value(json_object_get(ans, "error"));
    if (!*id)
        rc = err_set(EPROTO, "etcd %s: lease grant: %s", etcd_endpoint(c), e ? e : "no lease ID in the answer");
    json_decref(ans);
    return rc;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, long *ttl_left)
{
    json_t *ans, *body = json_pack("{s:o}", "ID", num(id));
    int rc = body ? post(c, "/v3/lease/keepalive", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc < 0)
        return rc;
    /* The gateway streams keepalive answers as {"result": {...}}, one per request: the first is
     * ours (post_one reads the first JSON document). */
    const json_t *res = json_object_get(ans, "result");
    int64_t ttl = field(res ? res : ans, "TTL");
    json_decref(ans);
    if (ttl <= 0)
        return err_set(ENOENT, "etcd %s: lease %" PRIx64 " has expired", etcd_endpoint(c), (uint64_t)id);
    if (ttl_left)
        *ttl_left = (long)ttl;
    return 0;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
    json_t *ans, *body = json_pack("{s:o}", "ID", num(id));
    int rc = body ? post(c, "/v3/lease/revoke", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc == 0)
        json_decref(ans);
    return rc;
}

int etcd_lease_ttl(struct etcd_client *c, int64_t id, long *left, long *granted)
{
    json_t *ans, *body = json_pack("{s:o}", "ID", num(id));
    int rc = body ? post(c, "/v3/lease/timetolive", body, &ans) : err_set(ENOMEM, "out of memory");
    if (rc < 0)
        return rc;
    int64_t ttl = field(ans, "TTL"), g = field(ans, "grantedTTL");
    json_decref(ans);
    if (ttl < 0)
        return err_set(ENOENT, "etcd %s: lease %" PRIx64 " has expired", etcd_endpoint(c), (uint64_t)id);
    *left = (long)ttl;
    *granted = (long)g;
    return 0;
}
