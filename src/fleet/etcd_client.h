/* A small client of etcd's v3 API through its JSON gateway (POST /v3/kv/range, /v3/kv/put,
 * /v3/kv/txn, /v3/lease/grant|keepalive|revoke; keys and values base64, 64-bit numbers as
 * decimal strings), with libcurl and jansson. etcd does the consensus; this only speaks to it.
 *
 * Several endpoints: a request goes to the endpoint that answered last and, when that one
 * cannot be reached, times out or answers 5xx, to the next, each once. Every error is a
 * negative errno with err_set() naming the endpoint(s) and what etcd said.
 *
 * Threads: one etcd_client per thread (it holds one curl handle); curl_global_init() must
 * have run before etcd_open. */
#ifndef XENO_FLEET_ETCD_CLIENT_H
#define XENO_FLEET_ETCD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define ETCD_ENDPOINTS_MAX 8
#define ETCD_VALUE_MAX (1u << 20) /* the largest value we read or write (a domain definition) */

struct etcd_client;

struct etcd_kv {
    char *key;   /* NUL-terminated */
    char *value; /* NUL-terminated (values we write are JSON text) */
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range {
    struct etcd_kv *kvs;
    size_t n;
    int64_t revision; /* the store's revision when it was read */
};

/* How to reach etcd over TLS (docs/fleet.md "etcd over TLS"): ca, the CA file that signed the
 * members' certificates (NULL: the system's CAs); cert and key, this client's certificate and
 * key for etcd's --client-cert-auth (both or neither). Files are read at each connection. */
struct etcd_tls {
    const char *ca, *cert, *key;
};

/* urls: "SCHEME://HOST:PORT[,...]" (1..ETCD_ENDPOINTS_MAX), SCHEME http or https, all the
 * same. tls (may be NULL) goes with https only: TLS files with http:// URLs are refused, so a
 * typo cannot send the fleet's records in clear text. The paths are copied. timeout_ms bounds
 * each request to one endpoint. 0 or -EINVAL/-ENOMEM. */
int etcd_open(struct etcd_client **out, const char *urls, const struct etcd_tls *tls, long timeout_ms);
void etcd_close(struct etcd_client *c);

/* Every key that starts with prefix (with prefix_only 0: exactly that key) into *out
 * (etcd_range_free it). 0 or -errno. */
int etcd_range(struct etcd_client *c, const char *key, int prefix_only, struct etcd_range *out);
/* The keys only (values empty) of every key that starts with prefix. */
int etcd_range_keys(struct etcd_client *c, const char *prefix, struct etcd_range *out);
void etcd_range_free(struct etcd_range *r);

/* Writes key = value (lease 0: none). 0 or -errno. */
int etcd_put(struct etcd_client *c, const char *key, const char *value, int64_t lease);

/* One condition of a transaction: the key's mod_revision (or create_revision) equals value.
 * create_revision 0 means "the key does not exist". */
enum etcd_cmp_target { ETCD_CMP_MOD, ETCD_CMP_CREATE };
struct etcd_cmp {
    const char *key;
    enum etcd_cmp_target target;
    int64_t value;
};
/* One operation of the success branch: a put (value != NULL, with lease) or a delete. */
struct etcd_op {
    const char *key;
    const char *value; /* NULL: delete the key */
    int64_t lease;
};
/* If every comparison holds, does every op, atomically. 0 with *succeeded 1 or 0 (a
 * comparison failed: someone changed a key since it was read), or -errno. */
int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmps, size_t ncmp, const struct etcd_op *ops, size_t nops,
             int *succeeded);

/* Leases: grant one of ttl_s seconds; keep it alive once (-ENOENT when it has expired or
 * was revoked); revoke it. 0 or -errno. */
int etcd_lease_grant(struct etcd_client *c, long ttl_s, int64_t *id);
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, long *ttl_left);
int etcd_lease_revoke(struct etcd_client *c, int64_t id);
/* The seconds a lease has left and was granted with (-ENOENT when it is gone). */
int etcd_lease_ttl(struct etcd_client *c, int64_t id, long *left, long *granted);

/* The endpoint that answered last (for messages). */
const char *etcd_endpoint(const struct etcd_client *c);

#endif
