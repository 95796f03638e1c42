/* The API's request bodies (docs/api.md): each POST body parsed and checked whole into plain
 * values before its handler acts (src/daemon/api.c). Every body comes from an API client and
 * is untrusted: a field of the wrong type, out of range or unknown (where the route says
 * unknown fields are errors) is -EINVAL with err_set() naming it; nothing is half applied.
 * Strings returned point into the json_t body: valid while the caller holds it. Pure
 * functions, no locks; fuzz/api_body.c drives each of them. */
#ifndef XENO_DAEMON_API_BODY_H
#define XENO_DAEMON_API_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/registry.h"
#include "lib/domain_config.h"
#include "lib/sched_params.h"

/* The body as a JSON object ({} when empty): 0 and *out (the caller decrefs), or -EINVAL
 * with a message (not JSON, or not an object). */
int api_body_parse(const char *body, size_t len, json_t **out);

/* A boolean field, dflt when absent or not a boolean. */
int api_body_bool(json_t *b, const char *key, int dflt);

/* POST /v1/domains {"xml", "path"?, "start"?, "persistent"?, "paused"?} */
struct api_body_create {
    const char *xml;
    size_t xml_len;
    const char *path; /* NULL: none; else absolute */
    int start, persistent, paused;
    int fleet; /* "fleet": true: sent by a placer (refused while this host cannot reach etcd) */
};
int api_body_create(json_t *b, struct api_body_create *out);

/* POST /v1/restore {"path" | "snapshot", "name"?, "paused"?}: exactly one of path (the
 * operator's: a file) and snapshot (a sponsor's: a name in its own directory). */
struct api_body_restore {
    const char *path, *snapshot, *name; /* name NULL: the snapshot's own */
    int paused;
};
int api_body_restore(json_t *b, struct api_body_restore *out);

/* POST .../sched: the fields given change *p (the domain's current parameters). */
int api_body_sched(json_t *b, struct sched_params *p);

/* POST .../shutdown {"timeout_s"? 0..3600, "wait"?} */
int api_body_shutdown(json_t *b, int *timeout_s, int *wait);

/* POST .../save {"path" | "snapshot", "keep_running"?, "shrink"?}: exactly one of the two. */
struct api_body_save {
    const char *path, *snapshot;
    int keep_running, shrink;
};
int api_body_save(json_t *b, struct api_body_save *out);

/* POST .../migrate {"host", "live"?, "bandwidth_mbps"?, "max_downtime_ms"?} */
int api_body_migrate(json_t *b, const char **host, struct reg_migrate_opts *o);

/* POST /v1/tokens {"sponsor"? (1..DOMAIN_SPONSOR_MAX bytes; absent or null: an operator
 * token), "read_only"?, "expires_s"? (seconds from now, 0..10 years; 0 or absent: never)} */
struct api_body_token {
    const char *sponsor; /* NULL: operator */
    int read_only;
    int64_t expires_s;
};
int api_body_token(json_t *b, struct api_body_token *out);

/* POST .../net-qos {"inbound"?, "outbound"?, "weight"?}: in libvirt's units (KB/s, KiB)
 * into bytes/s and bytes. */
int api_body_net_qos(json_t *b, struct domain_bandwidth *in, struct domain_bandwidth *out);

/* PUT .../disks/{target}/qos {KEY: N, ...}: `virsh blkdeviotune`'s names (domain_iotune_names:
 * "total_iops_sec", "read_bytes_sec_max", ...), "weight" (<blkiotune>: 100..1000) and
 * "reservation" (<xeno:iotune>: units/s). Each given key replaces that value (0: none), the
 * others keep theirs; {} changes nothing. */
int api_body_disk_qos(json_t *b, struct domain_disk_qos *out);

/* POST .../memory {"target_bytes" > 0, "deadline_ms"?} */
int api_body_memory(json_t *b, uint64_t *target_bytes, uint64_t *deadline_ms);

#define API_SHUTDOWN_TIMEOUT_DEFAULT_S 30
#define API_SHUTDOWN_TIMEOUT_MAX_S 3600
#define API_MEM_DEADLINE_DEFAULT_MS 10000

#endif
