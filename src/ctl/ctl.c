#include "ctl/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/table.h"
#include "ctl/url.h"
#include "lib/err.h"
#include "lib/log.h"

int ctl_usage_error(const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_error("%s", msg);
    return CTL_EXIT_USAGE;
}

const char *ctl_where(const struct ctl *c)
{
    return c->t.server ? c->t.server : c->t.socket;
}

/* Why xenod cannot be reached, with what to do about it, as one line. */
static int report_unreachable(const struct ctl *c, int sock_errno)
{
    const char *hint;
    if (c->t.server) {
        log_error("cannot reach xenod at %s: %s (is xenod running with --listen there, and is --cacert its CA?)",
                  c->t.server, err_msg());
        return CTL_EXIT_UNREACHABLE;
    }
    switch (sock_errno) {
    case ENOENT:
    case ECONNREFUSED:
        hint = "is xenod running? start it with `xenod`, or point --socket or XENOD_SOCKET at its socket";
        break;
    case EACCES:
    case EPERM: hint = "the socket is root's only: run xenctl as root"; break;
    default: hint = "start xenod, or point --socket or XENOD_SOCKET at its socket";
    }
    log_error("cannot reach xenod at %s: %s (%s)", c->t.socket, err_msg(), hint);
    return CTL_EXIT_UNREACHABLE;
}

/* The daemon's answer to a failed request, as one line: its "error" field when there is one. */
static int report_refusal(const struct ctl_reply *r)
{
    const char *msg = json_string_value(json_object_get(r->json, "error"));
    const char *code = json_string_value(json_object_get(r->json, "code"));
    char fallback[160];
    if (!msg || !*msg) {
        snprintf(fallback, sizeof(fallback), "xenod answered HTTP %ld without an error message", r->status);
        msg = fallback;
    }
    /* A refused domain XML: every problem, the count first (docs/domain-xml.md). */
    if (json_array_size(json_object_get(r->json, "errors")) + json_array_size(json_object_get(r->json, "warnings")) >
        1) {
        ctl_print_problems(r->json);
        return CTL_EXIT_FAILED;
    }
    /* The message is meant to be one line already; make sure of it, and that it cannot
     * drive the terminal. */
    char *clean = ctl_sanitize(msg);
    log_error("%s", clean ? clean : msg);
    free(clean);
    if (r->status == 504 || (code && strcmp(code, "timeout") == 0))
        return CTL_EXIT_TIMEOUT;
    return CTL_EXIT_FAILED;
}

int ctl_call(const struct ctl *c, const char *method, const char *path, const json_t *body, long timeout_s,
             json_t **out, struct ctl_reply *raw)
{
    struct ctl_reply r;
    int sock_errno;
    if (out)
        *out = NULL;
    int rc = ctl_api_request(&c->t, method, path, body, timeout_s, &r, &sock_errno);
    switch (rc) {
    case CTL_API_OK: break;
    case CTL_API_UNREACHABLE: return report_unreachable(c, sock_errno);
    case CTL_API_TIMEOUT:
        log_error("xenod at %s gave no answer to %s %s within %ld s", ctl_where(c), method, path, timeout_s);
        return CTL_EXIT_TIMEOUT;
    default:
        log_error("talking to xenod at %s: %s (is it xenod that listens there?)", ctl_where(c), err_msg());
        return CTL_EXIT_UNREACHABLE;
    }
    if (r.status < 200 || r.status > 299) {
        int code = report_refusal(&r);
        ctl_reply_free(&r);
        return code;
    }
    if (raw) {
        *raw = r;
        return CTL_EXIT_OK;
    }
    if (!r.json) {
        log_error("xenod answered %s %s with something that is not JSON (HTTP %ld)", method, path, r.status);
        ctl_reply_free(&r);
        return CTL_EXIT_FAILED;
    }
    if (out) {
        *out = r.json;
        r.json = NULL;
    }
    ctl_reply_free(&r);
    return CTL_EXIT_OK;
}

int ctl_stream(const struct ctl *c, const char *path, int (*on_event)(void *, const char *), void *ctx)
{
    long status;
    char *body;
    int sock_errno;
    /* xenod's heartbeat comes every 15 s: four missed is a dead stream. */
    int rc = ctl_api_stream(&c->t, path, 60, on_event, ctx, &status, &body, &sock_errno);
    switch (rc) {
    case CTL_API_OK: break;
    case CTL_API_UNREACHABLE: return report_unreachable(c, sock_errno);
    case CTL_API_TIMEOUT: log_error("xenod at %s: %s", ctl_where(c), err_msg()); return CTL_EXIT_TIMEOUT;
    default: log_error("following GET %s at %s: %s", path, ctl_where(c), err_msg()); return CTL_EXIT_UNREACHABLE;
    }
    if (status == 200) {
        free(body);
        return CTL_EXIT_OK;
    }
    struct ctl_reply r = {.status = status, .body = body, .len = body ? strlen(body) : 0};
    r.json = body ? json_loads(body, 0, NULL) : NULL;
    int code = report_refusal(&r);
    ctl_reply_free(&r);
    return code;
}

int ctl_domain_path(const char *ref, const char *action, char *buf, size_t size)
{
    char escaped[1024];
    if (!*ref)
        return ctl_usage_error("the domain reference is empty: give a name, UUID or ID");
    if (ctl_url_escape(ref, escaped, sizeof(escaped)) < 0)
        return ctl_usage_error("domain reference %s", err_msg());
    snprintf(buf, size, "/v1/domains/%s%s%s", escaped, action ? "/" : "", action ? action : "");
    return CTL_EXIT_OK;
}

void ctl_print_problems(const json_t *answer)
{
    const json_t *errors = json_object_get(answer, "errors"), *warnings = json_object_get(answer, "warnings");
    size_t ne = json_array_size(errors), nw = json_array_size(warnings);
    json_int_t more = json_integer_value(json_object_get(answer, "problems_not_listed"));
    if (ne + nw == 0)
        return;
    if (ne)
        fprintf(stderr, "%zu problem%s (%zu refused, %zu warning%s):\n", ne + nw + (size_t)more,
                ne + nw + (size_t)more == 1 ? "" : "s", ne, nw, nw == 1 ? "" : "s");
    else
        fprintf(stderr, "%zu warning%s (accepted and ignored):\n", nw, nw == 1 ? "" : "s");
    /* In line order, as xenod sorted them within each list: merge the two. */
    size_t i = 0, j = 0;
    while (i < ne || j < nw) {
        const json_t *e = json_array_get(errors, i), *w = json_array_get(warnings, j);
        bool take_e = e && (!w || json_integer_value(json_object_get(e, "line")) <=
                                      json_integer_value(json_object_get(w, "line")));
        const json_t *p = take_e ? e : w;
        take_e ? i++ : j++;
        const char *msg = json_string_value(json_object_get(p, "message"));
        char *clean = ctl_sanitize(msg ? msg : "?");
        fprintf(stderr, "%s%s\n", take_e ? "error: " : "warning: ", clean ? clean : "?");
        free(clean);
    }
    if (more)
        fprintf(stderr, "(%" JSON_INTEGER_FORMAT " more not listed)\n", more);
}

void ctl_print_json(const json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) == 0)
        fputc('\n', stdout);
}
