#include "daemon/api.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log_ring.h"
#include "daemon/views.h"
#include "lib/err.h"
#include "lib/log.h"

#define MAX_BODY (1 << 20)
#define DEFAULT_SHUTDOWN_TIMEOUT_S 30
#define DEFAULT_MEM_DEADLINE_MS 10000
#define CONSOLE_TAIL_MAX (4 << 20)

struct api_server {
    struct MHD_Daemon *mhd;
    struct registry *reg;
    int listen_fd;
    char path[108];
};

struct request {
    char *body;
    size_t len;
    int too_big;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type, const char *text,
                                 size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Sends `o` (and drops the reference). */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return send_text(c, 500, "application/json", "{\"error\":\"out of memory\",\"code\":\"internal\"}", 44);
    enum MHD_Result r = send_text(c, status, "application/json", text, strlen(text));
    free(text);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int err, const char *msg)
{
    unsigned status;
    const char *code;
    switch (err) {
    case ENOENT: status = 404, code = "not_found"; break;
    case EEXIST:
    case ENOSPC: /* a CPU reservation that does not fit beside the running domains' */
    case EBUSY: status = 409, code = "conflict"; break;
    case ETIMEDOUT: status = 504, code = "timeout"; break;
    case EINVAL:
    case ENOEXEC:
    case E2BIG:
    case ERANGE:
    case ENODEV: /* e.g. net-qos for a domain without an interface */
    case EBADMSG: status = 400, code = "bad_request"; break;
    default: status = 500, code = "internal"; break;
    }
    return send_json(c, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

/* The request body as a JSON object ({} when empty), or NULL after sending a 400. */
static json_t *body_json(struct MHD_Connection *c, struct request *rq, enum MHD_Result *sent)
{
    json_error_t je;
    if (rq->len == 0)
        return json_object();
    json_t *o = json_loadb(rq->body, rq->len, 0, &je);
    if (!o || !json_is_object(o)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "request body is not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
        json_decref(o);
        *sent = send_error(c, EINVAL, msg);
        return NULL;
    }
    return o;
}

static int json_bool_field(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static enum MHD_Result handle_create(struct MHD_Connection *c, struct registry *reg, struct request *rq)
{
    enum MHD_Result sent;
    struct reg_domain *d;
    json_t *b = body_json(c, rq, &sent);
    if (!b)
        return sent;
    json_t *xml = json_object_get(b, "xml"), *path = json_object_get(b, "path");
    if (!json_is_string(xml)) {
        json_decref(b);
        return send_error(c, EINVAL, "body needs \"xml\": the domain definition as a string");
    }
    if (path && !json_is_null(path) && (!json_is_string(path) || json_string_value(path)[0] != '/')) {
        json_decref(b);
        return send_error(c, EINVAL, "\"path\" must be the absolute path of the XML file");
    }
    int start = json_bool_field(b, "start", 1);
    int persistent = json_bool_field(b, "persistent", !start);
    int rc = reg_define(reg, json_string_value(xml), json_string_length(xml),
                        json_is_string(path) ? json_string_value(path) : NULL, persistent, start,
                        json_bool_field(b, "paused", 0), &d);
    json_decref(b);
    if (rc < 0)
        return send_error(c, -rc, err_msg());
    json_t *o = reg_domain_json(reg, d);
    reg_put(reg, d);
    return send_json(c, 201, o);
}

/* POST /v1/restore {"path", "name"?, "paused"?}: a snapshot file resumed as a domain here. */
static enum MHD_Result handle_restore(struct MHD_Connection *c, struct registry *reg, struct request *rq)
{
    enum MHD_Result sent;
    struct reg_domain *d;
    json_t *b = body_json(c, rq, &sent);
    if (!b)
        return sent;
    json_t *path = json_object_get(b, "path"), *name = json_object_get(b, "name");
    if (!json_is_string(path) || (name && !json_is_null(name) && !json_is_string(name))) {
        json_decref(b);
        return send_error(c, EINVAL,
                          "body needs \"path\": the absolute path of the snapshot file (and optionally "
                          "\"name\": a string, \"paused\": a boolean)");
    }
    int rc = reg_restore(reg, json_string_value(path), json_is_string(name) ? json_string_value(name) : NULL,
                         json_bool_field(b, "paused", 0), &d);
    json_decref(b);
    if (rc < 0)
        return send_error(c, -rc, err_msg());
    json_t *o = reg_domain_json(reg, d);
    reg_put(reg, d);
    return send_json(c, 201, o);
}

static enum MHD_Result handle_console(struct MHD_Connection *c, struct registry *reg, struct reg_domain *d)
{
    const char *tail_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tail");
    long tail = tail_arg ? atol(tail_arg) : CONSOLE_TAIL_MAX;
    if (tail <= 0 || tail > CONSOLE_TAIL_MAX)
        tail = CONSOLE_TAIL_MAX;
    char *buf = malloc((size_t)tail);
    size_t len = 0;
    if (!buf)
        return send_error(c, ENOMEM, "out of memory");
    /* The rotated part holds the older output; read it first, then keep the last `tail` bytes. */
    for (int rotated = 1; rotated >= 0; rotated--) {
        char path[PATH_MAX + 128];
        reg_console_log_path(reg, d, rotated, path, sizeof(path));
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            if (n >= (size_t)tail) {
                memcpy(buf, chunk + n - (size_t)tail, (size_t)tail);
                len = (size_t)tail;
            } else {
                if (len + n > (size_t)tail) {
                    size_t drop = len + n - (size_t)tail;
                    memmove(buf, buf + drop, len - drop);
                    len -= drop;
                }
                memcpy(buf + len, chunk, n);
                len += n;
            }
        }
        fclose(f);
    }
    enum MHD_Result r = send_text(c, 200, "text/plain; charset=utf-8", buf, len);
    free(buf);
    return r;
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

static int net_qos_body(json_t *b, struct domain_bandwidth *in, struct domain_bandwidth *out)
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
    json_t *w = json_object_get(b, "weight");
    if (w && !json_is_null(w)) {
        if (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > DOMAIN_NET_WEIGHT_MAX)
            return err_set(EINVAL, "\"weight\" must be an integer from 1 to %d", DOMAIN_NET_WEIGHT_MAX);
        out->weight = (uint32_t)json_integer_value(w);
    }
    return 0;
}

static enum MHD_Result handle_action(struct MHD_Connection *c, struct registry *reg, struct reg_domain *d,
                                     const char *action, struct request *rq)
{
    enum MHD_Result sent;
    int rc;
    json_t *b = body_json(c, rq, &sent);
    if (!b)
        return sent;
    if (strcmp(action, "start") == 0) {
        rc = reg_start(reg, d, json_bool_field(b, "paused", 0));
    } else if (strcmp(action, "pause") == 0 || strcmp(action, "unpause") == 0 || strcmp(action, "reboot") == 0 ||
               strcmp(action, "reset") == 0) {
        rc = reg_request(reg, d, action);
    } else if (strcmp(action, "shutdown") == 0) {
        json_t *t = json_object_get(b, "timeout_s");
        int timeout = json_is_integer(t) ? (int)json_integer_value(t) : DEFAULT_SHUTDOWN_TIMEOUT_S;
        if (timeout < 0 || timeout > 3600) {
            json_decref(b);
            return send_error(c, EINVAL, "\"timeout_s\" must be 0 to 3600 seconds");
        }
        rc = reg_request(reg, d, "shutdown");
        if (rc == 0 && json_bool_field(b, "wait", 0))
            rc = reg_wait_stopped(reg, d, timeout * 1000);
    } else if (strcmp(action, "destroy") == 0) {
        rc = reg_destroy(reg, d);
    } else if (strcmp(action, "save") == 0) {
        json_t *path = json_object_get(b, "path");
        if (!json_is_string(path)) {
            json_decref(b);
            return send_error(c, EINVAL, "body needs \"path\": the absolute path of the snapshot file");
        }
        rc = reg_save(reg, d, json_string_value(path), json_bool_field(b, "keep_running", 0),
                      json_bool_field(b, "shrink", 0));
    } else if (strcmp(action, "migrate") == 0) {
        json_t *host = json_object_get(b, "host"), *bw = json_object_get(b, "bandwidth_mbps"),
               *dt = json_object_get(b, "max_downtime_ms");
        if (!json_is_string(host) ||
            (bw && !json_is_null(bw) &&
             (!json_is_integer(bw) || json_integer_value(bw) < 0 || json_integer_value(bw) > 1000000)) ||
            (dt && !json_is_null(dt) &&
             (!json_is_integer(dt) || json_integer_value(dt) < 1 || json_integer_value(dt) > 600000))) {
            json_decref(b);
            return send_error(c, EINVAL,
                              "body needs \"host\": \"HOST:PORT\" and may have \"live\" (boolean), "
                              "\"bandwidth_mbps\" (0 to 1000000) and \"max_downtime_ms\" (1 to 600000)");
        }
        struct reg_migrate_opts mo = {.live = json_bool_field(b, "live", 1),
                                      .bandwidth_mbps = bw ? (unsigned)json_integer_value(bw) : 0,
                                      .max_downtime_ms = dt ? (unsigned)json_integer_value(dt) : 0};
        char result[512] = "";
        rc = reg_migrate(reg, d, json_string_value(host), &mo, result, sizeof(result));
        json_decref(b);
        if (rc < 0)
            return send_error(c, -rc, err_msg());
        json_t *o = reg_domain_json(reg, d);
        if (o)
            json_object_set_new(o, "migration_result", json_string(result));
        return send_json(c, 200, o);
    } else if (strcmp(action, "net-qos") == 0) {
        struct domain_bandwidth in, out;
        if (net_qos_body(b, &in, &out) < 0) {
            json_decref(b);
            return send_error(c, EINVAL, err_msg());
        }
        rc = reg_net_qos(reg, d, &in, &out);
    } else if (strcmp(action, "memory") == 0) {
        json_t *t = json_object_get(b, "target_bytes"), *dl = json_object_get(b, "deadline_ms");
        if (!json_is_integer(t) || json_integer_value(t) <= 0 ||
            (dl && (!json_is_integer(dl) || json_integer_value(dl) < 0))) {
            json_decref(b);
            return send_error(c, EINVAL, "body needs \"target_bytes\" (bytes) and may have \"deadline_ms\"");
        }
        rc = reg_mem_set(reg, d, (uint64_t)json_integer_value(t),
                         dl ? (uint64_t)json_integer_value(dl) : DEFAULT_MEM_DEADLINE_MS);
    } else {
        json_decref(b);
        return send_error(c, ENOENT, "unknown action (see docs/api.md)");
    }
    json_decref(b);
    if (rc < 0)
        return send_error(c, -rc, err_msg());
    return send_json(c, 200, reg_domain_json(reg, d));
}

/* POST .../sched: {"reservation_percent", "limit_percent" (null or 0: none), "weight",
 * "period_us"}, each optional; what is not given stays. */
static enum MHD_Result handle_sched(struct MHD_Connection *c, struct registry *reg, struct reg_domain *d,
                                    struct request *rq)
{
    enum MHD_Result sent;
    json_t *b = body_json(c, rq, &sent);
    if (!b)
        return sent;
    struct sched_params p;
    pthread_mutex_lock(&reg->lock);
    p = d->sched;
    pthread_mutex_unlock(&reg->lock);
    const char *key;
    json_t *v;
    char msg[300] = "";
    json_object_foreach(b, key, v)
    {
        int pct = strcmp(key, "reservation_percent") == 0 || strcmp(key, "limit_percent") == 0;
        if (pct) {
            double x = json_is_null(v) && strcmp(key, "limit_percent") == 0 ? 0 : json_number_value(v);
            if ((!json_is_number(v) && !json_is_null(v)) || (json_is_null(v) && key[0] == 'r') || x < 0 ||
                x > 100.0 * SCHED_MAX_VCPUS) {
                snprintf(msg, sizeof(msg), "\"%s\" must be a number of percent of one CPU, 0 to %d%s", key,
                         100 * SCHED_MAX_VCPUS, key[0] == 'l' ? " (0 or null: no limit)" : "");
                break;
            }
            *(key[0] == 'r' ? &p.reservation_ppm : &p.limit_ppm) = (uint32_t)(x * 10000.0 + 0.5);
        } else if (strcmp(key, "weight") == 0 || strcmp(key, "period_us") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000) {
                snprintf(msg, sizeof(msg), "\"%s\" must be a whole number", key);
                break;
            }
            *(key[0] == 'w' ? &p.weight : &p.period_us) = (uint32_t)json_integer_value(v);
        } else {
            snprintf(msg, sizeof(msg),
                     "unknown field \"%.64s\"; give reservation_percent, limit_percent, weight or period_us "
                     "(see docs/api.md)",
                     key);
            break;
        }
    }
    json_decref(b);
    if (msg[0])
        return send_error(c, EINVAL, msg);
    int rc = reg_sched(reg, d, &p);
    if (rc < 0)
        return send_error(c, -rc, err_msg());
    return send_json(c, 200, reg_sched_json(reg, d));
}

/* /v1/domains/{ref}[/{action}] */
static enum MHD_Result route_domain(struct MHD_Connection *c, struct registry *reg, const char *method,
                                    const char *rest, struct request *rq)
{
    char ref[256];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n >= sizeof(ref))
        return send_error(c, ENOENT, "no such resource (see docs/api.md)");
    memcpy(ref, rest, n);
    ref[n] = 0;
    const char *action = slash ? slash + 1 : "";

    struct reg_domain *d;
    if (reg_lookup(reg, ref, &d) < 0)
        return send_error(c, ENOENT, err_msg());
    enum MHD_Result r;
    if (!*action && strcmp(method, "GET") == 0)
        r = send_json(c, 200, reg_domain_json(reg, d));
    else if (!*action && strcmp(method, "DELETE") == 0) {
        int rc = reg_undefine(reg, d);
        r = rc < 0 ? send_error(c, -rc, err_msg()) : send_json(c, 200, json_object());
    } else if (strcmp(action, "console") == 0 && strcmp(method, "GET") == 0) {
        r = handle_console(c, reg, d);
    } else if (strcmp(action, "usage") == 0 && strcmp(method, "GET") == 0) {
        const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        int limit = lim ? atoi(lim) : 100;
        r = limit > 0 && limit <= 100000 ? send_json(c, 200, reg_usage_json(reg, d, limit))
                                         : send_error(c, EINVAL, "limit must be 1 to 100000");
    } else if (strcmp(action, "sched") == 0 && strcmp(method, "GET") == 0)
        r = send_json(c, 200, reg_sched_json(reg, d));
    else if (strcmp(action, "sched") == 0 && strcmp(method, "POST") == 0)
        r = handle_sched(c, reg, d, rq);
    else if (*action && strcmp(method, "POST") == 0)
        r = handle_action(c, reg, d, action, rq);
    else
        r = send_error(c, ENOENT, "no such resource or method (see docs/api.md)");
    reg_put(reg, d);
    return r;
}

static enum MHD_Result route(struct MHD_Connection *c, struct registry *reg, const char *url, const char *method,
                             struct request *rq)
{
    if (strcmp(url, "/v1/domains") == 0) {
        if (strcmp(method, "GET") == 0)
            return send_json(c, 200, reg_list_json(reg));
        if (strcmp(method, "POST") == 0)
            return handle_create(c, reg, rq);
    } else if (strncmp(url, "/v1/domains/", 12) == 0) {
        return route_domain(c, reg, method, url + 12, rq);
    } else if (strcmp(url, "/v1/events") == 0 && strcmp(method, "GET") == 0) {
        const char *ref = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "domain");
        const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        int limit = lim ? atoi(lim) : 100;
        struct reg_domain *d = NULL;
        if (limit <= 0 || limit > 100000)
            return send_error(c, EINVAL, "limit must be 1 to 100000");
        if (ref && reg_lookup(reg, ref, &d) < 0)
            return send_error(c, ENOENT, err_msg());
        json_t *o = reg_events_json(reg, d, limit);
        reg_put(reg, d);
        return send_json(c, 200, o);
    } else if (strcmp(url, "/v1/restore") == 0 && strcmp(method, "POST") == 0) {
        return handle_restore(c, reg, rq);
    } else if (strcmp(url, "/v1/log") == 0 && strcmp(method, "GET") == 0) {
        return send_json(c, 200, log_ring_json());
    } else if (strcmp(url, "/v1/host") == 0 && strcmp(method, "GET") == 0) {
        return send_json(c, 200, reg_host_json(reg));
    }
    return send_error(c, ENOENT, "no such resource or method (see docs/api.md)");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct api_server *s = cls;
    struct request *rq = *con_cls;
    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->len + *upload_size > MAX_BODY) {
            rq->too_big = 1;
        } else {
            char *nb = realloc(rq->body, rq->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return send_json(c, 413, json_pack("{s:s, s:s}", "error", "request body over 1 MiB", "code", "bad_request"));
    return route(c, s->reg, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct request *rq = *con_cls;
    (void)cls, (void)c, (void)toe;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *con_cls = NULL;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(errno, "socket: %s", strerror(errno));
    /* A socket file that answers belongs to a live xenod: never steal it. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(fd);
        return err_set(EADDRINUSE, "another xenod is serving %s", path);
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "listening on %s: %s", path, strerror(e));
    }
    return fd;
}

int api_start(struct api_server **out, struct registry *r, const char *path)
{
    struct api_server *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->reg = r;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->listen_fd = listen_unix(path);
    if (s->listen_fd < 0) {
        int rc = s->listen_fd;
        free(s);
        return rc;
    }
    /* A thread per connection: shutdown --wait may block one request for a long time, and
     * that must not hold up anybody else's. */
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                              on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
                              on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)3700, MHD_OPTION_END);
    if (!s->mhd) {
        close(s->listen_fd);
        unlink(path);
        free(s);
        return err_set(EIO, "starting the HTTP server on %s failed", path);
    }
    *out = s;
    return 0;
}

void api_stop(struct api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->mhd);
    close(s->listen_fd);
    unlink(s->path);
    free(s);
}
