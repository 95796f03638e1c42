#include "daemon/api_body.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

int api_body_parse(const char *body, size_t len, json_t **out)
{
    json_error_t je;
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return *out ? 0 : err_set(ENOMEM, "out of memory");
    }
    json_t *o = json_loadb(body, len, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return err_set(EINVAL, "request body is not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
    }
    *out = o;
    return 0;
}

int api_body_bool(json_t *b, const char *key, int dflt)
{
    json_t *v = json_object_get(b, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* An optional integer field in [min, max]: 0 and *out (dflt when absent or null), or -EINVAL.
 * The range is checked on the JSON value itself, before any narrowing. */
static int int_field(json_t *b, const char *key, json_int_t min, json_int_t max, json_int_t dflt, json_int_t *out)
{
    json_t *v = json_object_get(b, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -EINVAL;
    *out = json_integer_value(v);
    return 0;
}

int api_body_create(json_t *b, struct api_body_create *out)
{
    json_t *xml = json_object_get(b, "xml"), *path = json_object_get(b, "path");
    memset(out, 0, sizeof(*out));
    if (!json_is_string(xml))
        return err_set(EINVAL, "body needs \"xml\": the domain definition as a string");
    if (path && !json_is_null(path) && (!json_is_string(path) || json_string_value(path)[0] != '/'))
        return err_set(EINVAL, "\"path\" must be the absolute path of the XML file");
    out->xml = json_string_value(xml);
    out->xml_len = json_string_length(xml);
    out->path = json_is_string(path) ? json_string_value(path) : NULL;
    out->start = api_body_bool(b, "start", 1);
    out->persistent = api_body_bool(b, "persistent", !out->start);
    out->paused = api_body_bool(b, "paused", 0);
    out->fleet = api_body_bool(b, "fleet", 0);
    return 0;
}

/* "path" or "snapshot", exactly one, each a string: 0, or -1 when not. */
static int path_or_snapshot(json_t *b, const char **path, const char **snapshot)
{
    json_t *p = json_object_get(b, "path"), *n = json_object_get(b, "snapshot");
    *path = json_string_value(p);
    *snapshot = json_string_value(n);
    return (p && !json_is_string(p)) || (n && !json_is_string(n)) || !*path == !*snapshot ? -1 : 0;
}

int api_body_restore(json_t *b, struct api_body_restore *out)
{
    json_t *name = json_object_get(b, "name");
    memset(out, 0, sizeof(*out));
    if (path_or_snapshot(b, &out->path, &out->snapshot) < 0 || (name && !json_is_null(name) && !json_is_string(name)))
        return err_set(EINVAL, "body needs \"path\": the absolute path of the snapshot file (the operator's), or "
                               "\"snapshot\": a snapshot's name (a sponsor's), and optionally \"name\": a string, "
                               "\"paused\": a boolean");
    out->name = json_is_string(name) ? json_string_value(name) : NULL;
    out->paused = api_body_bool(b, "paused", 0);
    return 0;
}

int api_body_sched(json_t *b, struct sched_params *p)
{
    struct sched_params n = *p;
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        int pct = strcmp(key, "reservation_percent") == 0 || strcmp(key, "limit_percent") == 0;
        if (pct) {
            double x = json_is_null(v) && strcmp(key, "limit_percent") == 0 ? 0 : json_number_value(v);
            if ((!json_is_number(v) && !json_is_null(v)) || (json_is_null(v) && key[0] == 'r') || !(x >= 0) ||
                x > 100.0 * SCHED_MAX_VCPUS)
                return err_set(EINVAL, "\"%s\" must be a number of percent of one CPU, 0 to %d%s", key,
                               100 * SCHED_MAX_VCPUS, key[0] == 'l' ? " (0 or null: no limit)" : "");
            *(key[0] == 'r' ? &n.reservation_ppm : &n.limit_ppm) = (uint32_t)(x * 10000.0 + 0.5);
        } else if (strcmp(key, "weight") == 0 || strcmp(key, "period_us") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000)
                return err_set(EINVAL, "\"%s\" must be a whole number", key);
            *(key[0] == 'w' ? &n.weight : &n.period_us) = (uint32_t)json_integer_value(v);
        } else {
            return err_set(EINVAL,
                           "unknown field \"%.64s\"; give reservation_percent, limit_percent, weight or period_us "
                           "(see docs/api.md)",
                           key);
        }
    }
    *p = n;
    return 0;
}

int api_body_shutdown(json_t *b, int *timeout_s, int *wait)
{
    /* Checked as the JSON integer: narrowed first, 4294967301 used to pass as 5 s. */
    json_int_t t;
    if (int_field(b, "timeout_s", 0, API_SHUTDOWN_TIMEOUT_MAX_S, API_SHUTDOWN_TIMEOUT_DEFAULT_S, &t) < 0)
        return err_set(EINVAL, "\"timeout_s\" must be 0 to %d seconds", API_SHUTDOWN_TIMEOUT_MAX_S);
    *timeout_s = (int)t;
    *wait = api_body_bool(b, "wait", 0);
    return 0;
}

int api_body_save(json_t *b, struct api_body_save *out)
{
    memset(out, 0, sizeof(*out));
    if (path_or_snapshot(b, &out->path, &out->snapshot) < 0)
        return err_set(EINVAL, "body needs \"path\": the absolute path of the snapshot file (the operator's), or "
                               "\"snapshot\": a snapshot's name (a sponsor's)");
    out->keep_running = api_body_bool(b, "keep_running", 0);
    out->shrink = api_body_bool(b, "shrink", 0);
    return 0;
}

int api_body_migrate(json_t *b, const char **host, struct reg_migrate_opts *o)
{
    json_t *h = json_object_get(b, "host");
    json_int_t bw, dt;
    if (!json_is_string(h) || int_field(b, "bandwidth_mbps", 0, 1000000, 0, &bw) < 0 ||
        int_field(b, "max_downtime_ms", 1, 600000, 0, &dt) < 0)
        return err_set(EINVAL, "body needs \"host\": \"HOST:PORT\" and may have \"live\" (boolean), "
                               "\"bandwidth_mbps\" (0 to 1000000) and \"max_downtime_ms\" (1 to 600000)");
    *host = json_string_value(h);
    *o = (struct reg_migrate_opts){
        .live = api_body_bool(b, "live", 1), .bandwidth_mbps = (unsigned)bw, .max_downtime_ms = (unsigned)dt};
    return 0;
}

/* One direction of a net-qos body, in libvirt's <bandwidth> units: average, peak and floor
 * in kilobytes/s (1000 bytes), burst in kibibytes; each optional, 0 or absent for none. */
static int bandwidth_field(json_t *b, const char *dir, struct domain_bandwidth *out)
{
    static const char *const keys[] = {"average", "peak", "burst", "floor"};
    uint64_t *slots[] = {&out->average, &out->peak, &out->burst, &out->floor};
    json_t *o = json_object_get(b, dir);
    memset(out, 0, sizeof(*out));
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return err_set(EINVAL, "\"%s\" must be an object: {\"average\", \"peak\", \"burst\", \"floor\"}", dir);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (i < 4 && strcmp(k, keys[i]) != 0)
            i++;
        if (i == 4 || (i == 3 && strcmp(dir, "outbound") != 0))
            return err_set(EINVAL, "\"%s.%s\": unknown (average, peak, burst%s)", dir, k,
                           strcmp(dir, "outbound") == 0 ? ", floor" : "");
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > DOMAIN_NET_RATE_MAX_KB)
            return err_set(EINVAL, "\"%s.%s\" must be an integer from 0 to %llu", dir, k, DOMAIN_NET_RATE_MAX_KB);
        *slots[i] = (uint64_t)json_integer_value(v) * (i == 2 ? 1024 : 1000);
    }
    out->given = 1;
    return 0;
}

int api_body_net_qos(json_t *b, struct domain_bandwidth *in, struct domain_bandwidth *out)
{
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        if (strcmp(k, "inbound") && strcmp(k, "outbound") && strcmp(k, "weight"))
            return err_set(EINVAL, "\"%s\": unknown (inbound, outbound, weight)", k);
    }
    if (bandwidth_field(b, "inbound", in) < 0 || bandwidth_field(b, "outbound", out) < 0)
        return -EINVAL;
    json_int_t w;
    if (int_field(b, "weight", 1, DOMAIN_NET_WEIGHT_MAX, 0, &w) < 0)
        return err_set(EINVAL, "\"weight\" must be an integer from 1 to %d", DOMAIN_NET_WEIGHT_MAX);
    if (w)
        out->weight = (uint32_t)w;
    return 0;
}

int api_body_memory(json_t *b, uint64_t *target_bytes, uint64_t *deadline_ms)
{
    json_t *t = json_object_get(b, "target_bytes"), *dl = json_object_get(b, "deadline_ms");
    if (!json_is_integer(t) || json_integer_value(t) <= 0 ||
        (dl && (!json_is_integer(dl) || json_integer_value(dl) < 0)))
        return err_set(EINVAL, "body needs \"target_bytes\" (bytes) and may have \"deadline_ms\"");
    *target_bytes = (uint64_t)json_integer_value(t);
    *deadline_ms = dl ? (uint64_t)json_integer_value(dl) : API_MEM_DEADLINE_DEFAULT_MS;
    return 0;
}

int api_body_token(json_t *b, struct api_body_token *out)
{
    json_t *sp = json_object_get(b, "sponsor"), *ex = json_object_get(b, "expires_s");
    memset(out, 0, sizeof(*out));
    if (sp && !json_is_null(sp)) {
        if (!json_is_string(sp) || !json_string_length(sp) || json_string_length(sp) > DOMAIN_SPONSOR_MAX)
            return err_set(EINVAL, "\"sponsor\" must be a name of 1 to %d bytes (absent: an operator token)",
                           DOMAIN_SPONSOR_MAX);
        out->sponsor = json_string_value(sp);
    }
    if (ex && !json_is_null(ex)) {
        /* Ten years at most: a bound that keeps "now + expires_s" far from overflow. */
        if (!json_is_integer(ex) || json_integer_value(ex) < 0 || json_integer_value(ex) > 315360000)
            return err_set(EINVAL, "\"expires_s\" must be whole seconds from now, 0 to 315360000 (0: never)");
        out->expires_s = json_integer_value(ex);
    }
    out->read_only = api_body_bool(b, "read_only", 0);
    return 0;
}

int api_body_disk_qos(json_t *b, struct domain_disk_qos *out)
{
    const char *k;
    json_t *v;
    memset(out, 0, sizeof(*out));
    json_object_foreach(b, k, v)
    {
        int i = 0;
        while (i < IOTUNE_KEYS && strcmp(k, domain_iotune_names[i]) != 0)
            i++;
        uint64_t max = i < IOTUNE_KEYS ? DOMAIN_DISK_IOTUNE_VALUE_MAX : DOMAIN_DISK_RESERVATION_MAX;
        if (i == IOTUNE_KEYS && !strcmp(k, "weight"))
            max = DOMAIN_DISK_WEIGHT_MAX;
        else if (i == IOTUNE_KEYS && strcmp(k, "reservation") != 0)
            return err_set(EINVAL,
                           "\"%s\": unknown (libvirt's blkdeviotune names such as total_iops_sec, "
                           "read_bytes_sec_max; weight; reservation)",
                           k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
            return err_set(EINVAL, "\"%s\" must be an integer from 0 (none) to %llu", k, (unsigned long long)max);
        uint64_t x = (uint64_t)json_integer_value(v);
        if (i < IOTUNE_KEYS) {
            out->iotune[i] = x;
            out->given |= 1u << i;
        } else if (!strcmp(k, "weight")) {
            if (x && x < DOMAIN_DISK_WEIGHT_MIN)
                return err_set(EINVAL, "\"weight\" must be 0 (none) or from %d to %d (libvirt's <blkiotune>)",
                               DOMAIN_DISK_WEIGHT_MIN, DOMAIN_DISK_WEIGHT_MAX);
            out->weight = (uint32_t)x;
            out->given |= 1u << DISK_QOS_WEIGHT;
        } else {
            out->reservation = x;
            out->given |= 1u << DISK_QOS_RESERVATION;
        }
    }
    return 0;
}
