#include "daemon/api.h"
#include "daemon/api_priv.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_body.h"
#include "daemon/api_access.h"
#include "daemon/api_console_ws.h"
#include "daemon/billing.h"
#include "daemon/fleet_gate.h"
#include "daemon/log_ring.h"
#include "daemon/metrics.h"
#include "daemon/registry_priv.h"
#include "daemon/route.h"
#include "daemon/views.h"
#include "lib/domain_config.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

#define CONSOLE_TAIL_MAX (4 << 20)

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
enum MHD_Result api_send_json(struct MHD_Connection *c, unsigned status, json_t *o)
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
    case EOPNOTSUPP: status = 405, code = "method_not_allowed"; break; /* the path exists, not the method */
    case EINVAL:
    case ENOEXEC:
    case E2BIG:
    case ERANGE:
    case ENODEV: /* e.g. net-qos for a domain without an interface */
    case EBADMSG: status = 400, code = "bad_request"; break;
    default: status = 500, code = "internal"; break;
    }
    return api_send_json(c, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

/* The request body as a JSON object ({} when empty), or NULL after sending a 400. */
static json_t *body_json(struct MHD_Connection *c, struct request *rq, enum MHD_Result *sent)
{
    json_t *o;
    int rc = api_body_parse(rq->body, rq->len, &o);
    if (rc < 0) {
        *sent = send_error(c, -rc, err_msg());
        return NULL;
    }
    return o;
}

/* A query parameter as a number in [min, max] (dflt when absent); -EINVAL with a message
 * naming the parameter when it is not one. */
static int query_u64(struct MHD_Connection *c, const char *name, uint64_t min, uint64_t max, uint64_t dflt,
                     uint64_t *out)
{
    const char *text = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = dflt;
    if (text && parse_u64_range(text, min, max, out) < 0)
        return err_wrap(EINVAL, "query parameter %s", name);
    return 0;
}

void api_call_error(struct api_call *k, int rc)
{
    k->result = rc == -EACCES ? api_send_status(k->c, 403, "forbidden", err_msg()) : send_error(k->c, -rc, err_msg());
}

static void send_call_error(struct api_call *k, int rc)
{
    k->result = send_error(k->c, -rc, err_msg());
}

/* The answer of most domain operations: the domain as it is now, or the error. */
static void reply_domain(struct api_call *k, int rc)
{
    if (rc < 0)
        send_call_error(k, rc);
    else
        k->result = api_send_json(k->c, 200, reg_domain_json(k->reg, k->d));
}

static void bad_request(struct api_call *k, const char *msg)
{
    k->result = send_error(k->c, EINVAL, msg);
}

/* ---- /v1/domains, /v1/restore, /v1/events, /v1/log, /v1/host ---- */

/* The first query parameter GET /v1/domains does not take, into ctx (a char[64]). */
static enum MHD_Result find_unknown_param(void *ctx, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    char *unknown = ctx;
    if (unknown[0] || list_query_known_param(key))
        return MHD_YES;
    int printable = strlen(key) < 48;
    for (const char *p = key; printable && *p; p++)
        printable = *p > 0x20 && *p < 0x7f;
    snprintf(unknown, 64, "%s", printable ? key : "?");
    return MHD_YES;
}

static int principal_sees(const void *ctx, const char *sponsor)
{
    return access_sees(ctx, sponsor);
}

static void h_list(void *ctx)
{
    struct api_call *k = ctx;
    struct list_query q;
    char unknown[64] = "";
    MHD_get_connection_values(k->c, MHD_GET_ARGUMENT_KIND, find_unknown_param, unknown);
    if (unknown[0]) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "unknown query parameter '%s' (GET /v1/domains takes sponsor, state, fields, limit, after)", unknown);
        return bad_request(k, msg);
    }
#define Q(name) MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, name)
    if (list_query_parse(Q("sponsor"), Q("state"), Q("fields"), Q("limit"), Q("after"), &q) < 0)
        return send_call_error(k, -EINVAL);
#undef Q
    /* Scoping first, then the filters, then the page: a sponsor's filter cannot widen what it
     * sees, and its pages hold only its own domains. */
    k->result = api_send_json(k->c, 200, reg_list_page_json(k->reg, &q, principal_sees, k->pr));
}

/* Every state-changing request is an event of its domain that names who asked. */
static void record(struct api_call *k, struct reg_domain *d, const char *method, const char *url)
{
    char who[128];
    principal_describe(k->pr, who, sizeof(who));
    if (!d) {
        log_info("api: %s %s by %s", method, url, who);
        return;
    }
    pthread_mutex_lock(&k->reg->lock);
    reg_event(k->reg, d, "api", "%s %s by %s", method, url, who);
    pthread_mutex_unlock(&k->reg->lock);
}

/* The domain a define or restore made, as 201 Created. */
static void reply_created(struct api_call *k, int rc, struct reg_domain *d)
{
    if (rc < 0) {
        send_call_error(k, rc);
        return;
    }
    record(k, d, "POST", "/v1/restore");
    json_t *o = reg_domain_json(k->reg, d);
    reg_put(k->reg, d);
    k->result = api_send_json(k->c, 201, o);
}

/* The answer to a define or redefine: the domain (201 or 200) or the refusal (400), with
 * every problem of the document, in line order: "errors" (why it was refused) and
 * "warnings" (what was accepted and ignored). Frees rep; drops d's reference. */
static void reply_defined(struct api_call *k, int rc, struct reg_domain *d, struct domain_xml_report *rep,
                          unsigned ok_status)
{
    json_t *errors = json_array(), *warnings = json_array();
    for (size_t i = 0; i < rep->count; i++)
        json_array_append_new(rep->items[i].warning ? warnings : errors,
                              json_pack("{s:I, s:s, s:s}", "line", (json_int_t)rep->items[i].line, "element",
                                        rep->items[i].element, "message", rep->items[i].text));
    size_t dropped = rep->dropped;
    domain_xml_report_free(rep);
    json_t *o = NULL;
    if (rc < 0 && !json_array_size(errors)) {
        send_call_error(k, rc); /* not the XML's fault: the usual error */
    } else if (rc < 0) {
        o = json_pack("{s:s, s:s}", "error", err_msg(), "code", "bad_request");
    } else {
        if (!k->d)
            record(k, d, "POST", "/v1/domains");
        o = reg_domain_json(k->reg, d);
        reg_put(k->reg, d);
    }
    if (o) {
        json_object_set(o, "errors", errors);
        json_object_set(o, "warnings", warnings);
        if (dropped)
            json_object_set_new(o, "problems_not_listed", json_integer((json_int_t)dropped));
    }
    json_decref(errors);
    json_decref(warnings);
    if (o)
        k->result = api_send_json(k->c, rc < 0 ? 400 : ok_status, o);
}

/* A define's or redefine's body, checked against what the principal may define; 0, or -1
 * after the answer (400 or 403) was sent. */
static int define_body(struct api_call *k, struct api_body_create *b)
{
    if (api_body_create(k->body, b) < 0) {
        bad_request(k, err_msg());
        return -1;
    }
    if (access_check_define(k->pr, k->s->image_dir, b->xml, b->xml_len, b->path) < 0) {
        k->result = api_send_json(k->c, 403, json_pack("{s:s, s:s}", "error", err_msg(), "code", "forbidden"));
        return -1;
    }
    return 0;
}

static void h_create(void *ctx)
{
    struct api_call *k = ctx;
    struct reg_domain *d;
    struct api_body_create b;
    if (define_body(k, &b) < 0)
        return;
    const char *no_fleet = b.fleet ? fleet_gate_refusal(k->s->fleet_gate) : NULL;
    if (no_fleet) {
        k->result = api_send_status(k->c, 503, "unavailable", no_fleet);
        return;
    }
    struct domain_xml_report rep = {0};
    /* A sponsor's start goes through its policy (api_sponsor_start): defined, then started. */
    int sponsor_start = b.start && !k->pr->is_operator, refused = 0;
    int rc =
        reg_define(k->reg, b.xml, b.xml_len, b.path, b.persistent, sponsor_start ? 0 : b.start, b.paused, &d, &rep);
    if (rc == 0 && sponsor_start && (rc = api_sponsor_start(k, d, b.paused, &refused)) < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        if (!b.persistent)
            reg_undefine(k->reg, d);
        reg_put(k->reg, d);
        domain_xml_report_free(&rep);
        err_set(-rc, "%s", msg);
        return refused ? api_call_error(k, rc) : send_call_error(k, rc);
    }
    reply_defined(k, rc, d, &rep, 201);
}

/* POST /v1/restore {"path", "name"?, "paused"?}: a snapshot file resumed as a domain here. */
static void h_restore(void *ctx)
{
    struct api_call *k = ctx;
    struct reg_domain *d;
    struct api_body_restore b;
    char file[PATH_MAX];
    if (api_body_restore(k->body, &b) < 0)
        return bad_request(k, err_msg());
    if (api_snapshot_file(k, b.path, b.snapshot, 0, file, sizeof(file)) < 0)
        return;
    /* Before d is read: argument order is unspecified. */
    int rc = api_sponsor_restore(k, file, b.name, b.paused, &d);
    if (rc == -EACCES)
        return api_call_error(k, rc);
    reply_created(k, rc, d);
}

static void h_events(void *ctx)
{
    struct api_call *k = ctx;
    const char *ref = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "domain");
    uint64_t limit;
    struct reg_domain *d = NULL;
    if (query_u64(k->c, "limit", 1, 100000, 100, &limit) < 0)
        return bad_request(k, err_msg());
    if (ref && reg_lookup(k->reg, ref, &d) < 0) {
        k->result = send_error(k->c, ENOENT, err_msg());
        return;
    }
    if (d && !access_sees(k->pr, d->cfg.sponsor)) { /* as if there were none: no existence leak */
        reg_put(k->reg, d);
        err_set(ENOENT, "no domain '%s' (see xenctl list)", ref); /* reg_lookup's own words */
        k->result = send_error(k->c, ENOENT, err_msg());
        return;
    }
    const char *follow = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "follow");
    if (follow && strcmp(follow, "0") != 0) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(
            MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_DAEMON)->daemon, MHD_DAEMON_INFO_FLAGS);
        int suspendable = di && (di->flags & MHD_ALLOW_SUSPEND_RESUME) == MHD_ALLOW_SUSPEND_RESUME;
        k->result = events_follow(k->s->events, suspendable, k->reg, k->pr, d, k->c);
        reg_put(k->reg, d);
        return;
    }
    json_t *o = reg_events_json(k->reg, d, (int)limit);
    reg_put(k->reg, d);
    if (!k->pr->is_operator) {
        json_t *ds = reg_list_json(k->reg);
        o = access_filter_events(o, ds, k->pr);
        json_decref(ds);
    }
    k->result = api_send_json(k->c, 200, o);
}

static void h_log(void *ctx)
{
    struct api_call *k = ctx;
    k->result = api_send_json(k->c, 200, log_ring_json());
}

static void h_host(void *ctx)
{
    struct api_call *k = ctx;
    k->result = api_send_json(k->c, 200, reg_host_json(k->reg));
}

/* GET /metrics: the Prometheus text (docs/metrics.md). The registry lock is held only to
 * copy the figures (reg_metrics_snapshot); the text is written after. */
static void h_metrics(void *ctx)
{
    struct api_call *k = ctx;
    struct metrics_snapshot snap;
    struct prom_text w;
    prom_text_init(&w);
    int rc = reg_metrics_snapshot(k->reg, &snap);
    if (rc == 0)
        rc = metrics_format(&snap, XENOD_VERSION, &w);
    metrics_snapshot_free(&snap);
    if (rc < 0)
        send_call_error(k, rc);
    else
        k->result = send_text(k->c, 200, PROM_TEXT_CONTENT_TYPE, w.buf, w.len);
    prom_text_free(&w);
}

/* ---- /v1/domains/{ref}[/...] ---- */

static void h_get(void *ctx)
{
    struct api_call *k = ctx;
    k->result = api_send_json(k->c, 200, reg_domain_json(k->reg, k->d));
}

/* GET /v1/domains/{ref}/xml: the definition as libvirt XML, with what xenod filled in
 * (domain_xml_canonical(): UUID, absolute paths, defaults), so that it defines the same
 * domain again. */
static void h_xml_get(void *ctx)
{
    struct api_call *k = ctx;
    char *xml;
    size_t len;
    /* The disks' QoS may change under reg->lock meanwhile (reg_disk_qos): write a copy taken
     * under it, never a half-changed iotune. The rest of cfg and d->xml do not change. */
    pthread_mutex_lock(&k->reg->lock);
    struct domain_config cfg = k->d->cfg;
    pthread_mutex_unlock(&k->reg->lock);
    int rc = domain_xml_canonical(k->d->xml, strlen(k->d->xml), &cfg, &xml, &len);
    if (rc < 0)
        return send_call_error(k, rc);
    k->result = send_text(k->c, 200, "application/xml; charset=utf-8", xml, len);
    free(xml);
}

/* PUT /v1/domains/{ref}/xml {"xml", "path"?}: a new definition for a domain that is shut
 * off (xenctl edit); 200 with the domain, or 400 with every problem, nothing changed. */
static void h_xml_put(void *ctx)
{
    struct api_call *k = ctx;
    struct reg_domain *d;
    struct api_body_create b; /* only xml and path are read: a redefinition starts nothing */
    if (define_body(k, &b) < 0)
        return;
    struct domain_xml_report rep = {0};
    int rc = reg_redefine(k->reg, k->d, b.xml, b.xml_len, b.path, &d, &rep);
    reply_defined(k, rc, d, &rep, 200);
}

static void h_undefine(void *ctx)
{
    struct api_call *k = ctx;
    int rc = reg_undefine(k->reg, k->d);
    if (rc < 0)
        send_call_error(k, rc);
    else
        k->result = api_send_json(k->c, 200, json_object());
}

/* Appends a chunk of console output to the last `tail` bytes kept in buf. */
static void keep_tail(char *buf, size_t *len, size_t tail, const char *chunk, size_t n)
{
    if (n >= tail) {
        memcpy(buf, chunk + n - tail, tail);
        *len = tail;
        return;
    }
    if (*len + n > tail) {
        size_t drop = *len + n - tail;
        memmove(buf, buf + drop, *len - drop);
        *len -= drop;
    }
    memcpy(buf + *len, chunk, n);
    *len += n;
}

static void h_console(void *ctx)
{
    struct api_call *k = ctx;
    uint64_t want;
    if (console_ws_requested(k->c)) {
        k->result = console_ws_upgrade(k->s, k->pr, k->c, k->d, k->rq);
        return;
    }
    /* 0 or more than is kept: all of it. */
    if (query_u64(k->c, "tail", 0, UINT64_MAX, CONSOLE_TAIL_MAX, &want) < 0)
        return bad_request(k, err_msg());
    size_t tail = want == 0 || want > CONSOLE_TAIL_MAX ? CONSOLE_TAIL_MAX : (size_t)want;
    char *buf = malloc(tail);
    size_t len = 0;
    if (!buf) {
        k->result = send_error(k->c, ENOMEM, "out of memory");
        return;
    }
    /* The rotated part holds the older output; read it first, then keep the last `tail` bytes. */
    for (int rotated = 1; rotated >= 0; rotated--) {
        char path[PATH_MAX + 128];
        reg_console_log_path(k->reg, k->d, rotated, path, sizeof(path));
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            keep_tail(buf, &len, tail, chunk, n);
        fclose(f);
    }
    k->result = send_text(k->c, 200, "text/plain; charset=utf-8", buf, len);
    free(buf);
}

static void h_usage(void *ctx)
{
    struct api_call *k = ctx;
    uint64_t limit;
    if (query_u64(k->c, "limit", 1, 100000, 100, &limit) < 0)
        return bad_request(k, err_msg());
    k->result = api_send_json(k->c, 200, reg_usage_json(k->reg, k->d, (int)limit));
}

static void h_sched_get(void *ctx)
{
    struct api_call *k = ctx;
    k->result = api_send_json(k->c, 200, reg_sched_json(k->reg, k->d));
}

/* POST .../sched: {"reservation_percent", "limit_percent" (null or 0: none), "weight",
 * "period_us"}, each optional; what is not given stays. */
static void h_sched_set(void *ctx)
{
    struct api_call *k = ctx;
    struct sched_params p;
    pthread_mutex_lock(&k->reg->lock);
    p = k->d->sched;
    pthread_mutex_unlock(&k->reg->lock);
    if (api_body_sched(k->body, &p) < 0)
        return bad_request(k, err_msg());
    if (api_sponsor_sched_begin(k, &p) < 0)
        return;
    int rc = reg_sched(k->reg, k->d, &p);
    api_sponsor_sched_done(k);
    if (rc < 0)
        send_call_error(k, rc);
    else
        k->result = api_send_json(k->c, 200, reg_sched_json(k->reg, k->d));
}

static void h_start(void *ctx)
{
    struct api_call *k = ctx;
    int refused, rc = api_sponsor_start(k, k->d, api_body_bool(k->body, "paused", 0), &refused);
    if (refused)
        return api_call_error(k, rc);
    reply_domain(k, rc);
}

/* pause, unpause, reboot, reset: the verb is the path's last segment. */
static void h_request(void *ctx)
{
    struct api_call *k = ctx;
    reply_domain(k, reg_request(k->reg, k->d, k->action));
}

static void h_shutdown(void *ctx)
{
    struct api_call *k = ctx;
    int timeout, wait;
    if (api_body_shutdown(k->body, &timeout, &wait) < 0)
        return bad_request(k, err_msg());
    int rc = reg_request(k->reg, k->d, "shutdown");
    if (rc == 0 && wait)
        rc = reg_wait_stopped(k->reg, k->d, timeout * 1000);
    reply_domain(k, rc);
}

static void h_destroy(void *ctx)
{
    struct api_call *k = ctx;
    reply_domain(k, reg_destroy(k->reg, k->d));
}

static void h_save(void *ctx)
{
    struct api_call *k = ctx;
    struct api_body_save b;
    char file[PATH_MAX];
    if (api_body_save(k->body, &b) < 0)
        return bad_request(k, err_msg());
    if (api_snapshot_file(k, b.path, b.snapshot, 1, file, sizeof(file)) < 0)
        return;
    reply_domain(k, reg_save(k->reg, k->d, file, b.keep_running, b.shrink));
}

static void h_migrate(void *ctx)
{
    struct api_call *k = ctx;
    const char *host;
    struct reg_migrate_opts mo;
    if (api_body_migrate(k->body, &host, &mo) < 0)
        return bad_request(k, err_msg());
    char result[512] = "";
    int rc = reg_migrate(k->reg, k->d, host, &mo, result, sizeof(result));
    if (rc < 0)
        return send_call_error(k, rc);
    json_t *o = reg_domain_json(k->reg, k->d);
    if (o)
        json_object_set_new(o, "migration_result", json_string(result));
    k->result = api_send_json(k->c, 200, o);
}

static void h_net_qos(void *ctx)
{
    struct api_call *k = ctx;
    struct domain_bandwidth in, out;
    if (api_body_net_qos(k->body, &in, &out) < 0)
        return bad_request(k, err_msg());
    reply_domain(k, reg_net_qos(k->reg, k->d, &in, &out));
}

static void h_memory(void *ctx)
{
    struct api_call *k = ctx;
    uint64_t target, deadline;
    if (api_body_memory(k->body, &target, &deadline) < 0)
        return bad_request(k, err_msg());
    reply_domain(k, reg_mem_set(k->reg, k->d, target, deadline));
}

/* ---- /v1/tokens (operator only) ---- */

static void h_tokens(void *ctx)
{
    struct api_call *k = ctx;
    k->result = api_send_json(k->c, 200, json_pack("{s:o}", "tokens", auth_token_list(k->s->auth)));
}

/* POST /v1/tokens {"sponsor" (absent or null: an operator token), "read_only", "expires_s"
 * (seconds from now; 0 or absent: never)}: the secret, in this answer only. */
static void h_token_create(void *ctx)
{
    struct api_call *k = ctx;
    struct api_body_token t;
    if (api_body_token(k->body, &t) < 0)
        return bad_request(k, err_msg());
    char secret[AUTH_SECRET_MAX];
    int64_t id;
    double expires = t.expires_s > 0 ? reg_now_s() + (double)t.expires_s : 0;
    int rc = auth_token_create(k->s->auth, t.sponsor ? t.sponsor : "", t.read_only, expires, secret, &id);
    if (rc < 0)
        return send_call_error(k, rc);
    k->result = api_send_json(k->c, 201,
                              json_pack("{s:I, s:s, s:s?, s:b, s:f}", "id", (json_int_t)id, "secret", secret, "sponsor",
                                        t.sponsor, "read_only", t.read_only, "expires", expires));
    memset(secret, 0, sizeof(secret));
}

static void h_token_revoke(void *ctx)
{
    struct api_call *k = ctx;
    uint64_t id;
    if (parse_u64_range(route_param(&k->params, "id"), 1, INT64_MAX, &id) < 0)
        return bad_request(k, "a token ID is a positive number (see xenctl token list)");
    int rc = auth_token_revoke(k->s->auth, (int64_t)id);
    if (rc < 0)
        return send_call_error(k, rc);
    events_hub_wake(k->s->events); /* its event streams end now (api_events.h) */
    k->result = api_send_json(k->c, 200, json_object());
}

/* ---- the route table (docs/api.md lists the same) ---- */

static const struct route routes[] = {
    {"GET", "/v1/domains", h_list},
    {"POST", "/v1/domains", h_create},
    {"GET", "/v1/domains/{ref}", h_get},
    {"DELETE", "/v1/domains/{ref}", h_undefine},
    {"GET", "/v1/domains/{ref}/xml", h_xml_get},
    {"PUT", "/v1/domains/{ref}/xml", h_xml_put},
    {"GET", "/v1/domains/{ref}/console", h_console},
    {"GET", "/v1/domains/{ref}/usage", h_usage},
    {"GET", "/v1/domains/{ref}/sched", h_sched_get},
    {"POST", "/v1/domains/{ref}/sched", h_sched_set},
    {"POST", "/v1/domains/{ref}/start", h_start},
    {"POST", "/v1/domains/{ref}/pause", h_request},
    {"POST", "/v1/domains/{ref}/unpause", h_request},
    {"POST", "/v1/domains/{ref}/reboot", h_request},
    {"POST", "/v1/domains/{ref}/reset", h_request},
    {"POST", "/v1/domains/{ref}/shutdown", h_shutdown},
    {"POST", "/v1/domains/{ref}/destroy", h_destroy},
    {"POST", "/v1/domains/{ref}/save", h_save},
    {"POST", "/v1/domains/{ref}/migrate", h_migrate},
    {"POST", "/v1/domains/{ref}/net-qos", h_net_qos},
    {"PUT", "/v1/domains/{ref}/disks/{target}/qos", api_h_disk_qos},
    {"POST", "/v1/domains/{ref}/memory", h_memory},
    {"GET", "/v1/events", h_events},
    {"POST", "/v1/restore", h_restore},
    {"GET", "/v1/log", h_log},
    {"GET", "/v1/host", h_host},
    {"GET", "/v1/host/bill", api_h_host_bill},
    {"GET", "/metrics", h_metrics},
    {"GET", "/v1/tokens", h_tokens},
    {"POST", "/v1/tokens", h_token_create},
    {"DELETE", "/v1/tokens/{id}", h_token_revoke},
    {"GET", "/v1/sponsors/{sponsor}/bill", api_h_bill},
    {"GET", "/v1/sponsors/{sponsor}/bill/explain", api_h_bill_explain},
    {"GET", "/v1/sponsors/{sponsor}/policy", api_h_policy_get},
    {"PUT", "/v1/sponsors/{sponsor}/policy", api_h_policy_put},
    {"GET", "/v1/prices", api_h_prices_get},
    {"POST", "/v1/prices", api_h_prices_reload},
    {"POST", "/v1/fleet/domains", api_h_fleet_create},
};

const struct route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

enum MHD_Result api_send_status(struct MHD_Connection *c, unsigned status, const char *code, const char *msg)
{
    return api_send_json(c, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

enum MHD_Result api_route(struct api_server *s, const struct principal *p, struct MHD_Connection *c, const char *url,
                          const char *method, struct request *rq)
{
    struct registry *reg = s->reg;
    struct principal pr = *p;
    struct api_call k = {.c = c, .reg = reg, .s = s, .rq = rq, .pr = &pr};
    const struct route *rt;
    int rc = route_find(routes, sizeof(routes) / sizeof(routes[0]), method, url, &rt, &k.params);
    if (rc < 0)
        return send_error(c, -rc, err_msg());
    int writes = strcmp(method, "GET") != 0;
    if (!pr.is_operator && access_operator_only(method, rt->pattern))
        return api_send_status(c, 403, "forbidden", "only the operator may do this (docs/api.md, Scoping)");
    if (pr.read_only && writes)
        return api_send_status(c, 403, "forbidden", "a read-only token may not change anything");
    const char *ref = route_param(&k.params, "ref");
    if (ref && reg_lookup(reg, ref, &k.d) < 0)
        return send_error(c, ENOENT, err_msg());
    if (k.d && !access_sees(&pr, k.d->cfg.sponsor)) {
        reg_put(reg, k.d);
        err_set(ENOENT, "no domain '%s' (see xenctl list)", ref); /* reg_lookup's own words */
        return send_error(c, ENOENT, err_msg());
    }
    if ((strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) && !(k.body = body_json(c, rq, &k.result))) {
        reg_put(reg, k.d);
        return k.result;
    }
    k.action = strrchr(rt->pattern, '/') + 1;
    rt->handler(&k);
    /* After the handler (a live change must not wait for a database write under the registry
     * lock): its event, or for a host-wide change (tokens, prices, policies) its log line, names
     * who asked. A define or restore recorded itself on the domain it made. */
    if (writes && (k.d || (strcmp(rt->pattern, "/v1/domains") && strcmp(rt->pattern, "/v1/restore"))))
        record(&k, k.d, method, url);
    json_decref(k.body);
    reg_put(reg, k.d);
    return k.result;
}
