/* The commands that only read: list, info, host, events, dmesg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/render.h"
#include "ctl/table.h"
#include "ctl/url.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

/* GETs `path`, then prints it as JSON or renders `member` (checked to be an array) as text. */
static int get_and_render(const struct ctl *c, const char *path, const char *member,
                          int (*render)(const json_t *, FILE *))
{
    json_t *doc;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json) {
        ctl_print_json(doc);
    } else {
        const json_t *items = json_object_get(doc, member);
        if (!json_is_array(items)) {
            log_error("xenod's answer to GET %s has no \"%s\" array", path, member);
            rc = CTL_EXIT_FAILED;
        } else if (render(items, stdout) < 0) {
            log_error("out of memory formatting the output");
            rc = CTL_EXIT_FAILED;
        }
    }
    json_decref(doc);
    return rc;
}

/* Appends "?name=VALUE" (or "&...") to path, VALUE percent-encoded. */
static int add_query(char *path, size_t size, const char *name, const char *value)
{
    char esc[1024];
    size_t len = strlen(path);
    if (ctl_url_escape(value, esc, sizeof(esc)) < 0)
        return ctl_usage_error("--%s: too long", name);
    if ((size_t)snprintf(path + len, size - len, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, esc) >= size - len)
        return ctl_usage_error("--%s: too long", name);
    return CTL_EXIT_OK;
}

int ctl_cmd_list(const struct ctl *c, const struct ctl_args *a)
{
    if (a->fleet)
        return ctl_cmd_fleet_list(c, a);
    static const char *const opts[] = {"sponsor", "state", "limit", "after"};
    char path[4500] = "/v1/domains";
    uint64_t n;
    const char *limit = ctl_args_get(a, "limit");
    if (limit && parse_u64_range(limit, 1, 10000, &n) < 0)
        return ctl_usage_error("--limit %s: a number from 1 to 10000", limit);
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const char *v = ctl_args_get(a, opts[i]);
        int rc = v ? add_query(path, sizeof(path), opts[i], v) : CTL_EXIT_OK;
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    json_t *doc;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    const json_t *items = json_object_get(doc, "domains");
    const char *next = json_string_value(json_object_get(doc, "next"));
    if (c->json) {
        ctl_print_json(doc);
    } else if (!json_is_array(items)) {
        log_error("xenod's answer to GET %s has no \"domains\" array", path);
        rc = CTL_EXIT_FAILED;
    } else if (ctl_render_list(items, stdout) < 0) {
        log_error("out of memory formatting the output");
        rc = CTL_EXIT_FAILED;
    } else if (next) {
        /* The rest is one command away; on stderr, so the table stays a table. Names are
         * checked by xenod's XML parser: no control characters. */
        fprintf(stderr, "more: xenctl list --limit %s --after %s\n", limit ? limit : "N", next);
    }
    json_decref(doc);
    return rc;
}

int ctl_cmd_info(const struct ctl *c, const struct ctl_args *a)
{
    char path[1200];
    json_t *dom;
    int rc = ctl_domain_path(a->pos[0], NULL, path, sizeof(path));
    if (rc == CTL_EXIT_OK)
        rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &dom, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(dom);
    else
        ctl_render_info(dom, stdout);
    json_decref(dom);
    return CTL_EXIT_OK;
}

/* One event of the stream: a JSON line, or the row's cells separated by two spaces. */
static int print_event(void *ctx, const char *data)
{
    const struct ctl *c = ctx;
    json_t *ev = json_loads(data, 0, NULL);
    if (!ev)
        return 0; /* not an event this xenctl knows: skipped */
    if (c->json) {
        if (json_dumpf(ev, stdout, JSON_COMPACT) == 0)
            fputc('\n', stdout);
    } else {
        char cells[CTL_EVENT_COLS][CTL_CELL_MAX];
        ctl_render_event_row(ev, cells);
        for (int i = 0; i < CTL_EVENT_COLS; i++) {
            char *clean = ctl_sanitize(cells[i]);
            fprintf(stdout, "%s%s", i ? "  " : "", clean ? clean : "?");
            free(clean);
        }
        fputc('\n', stdout);
    }
    json_decref(ev);
    /* Each event as it comes; a reader that went away ends the stream. */
    return fflush(stdout) != 0 || ferror(stdout);
}

/* --follow: the history as `events` prints it, then every new event from the stream, from the
 * history's last ID on (nothing missed in between). */
static int follow(const struct ctl *c, const char *path)
{
    json_t *doc;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    const json_t *events = json_object_get(doc, "events");
    json_int_t last = json_integer_value(json_object_get(json_array_get(events, json_array_size(events) - 1), "id"));
    if (c->json) {
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            char *text = json_dumps(ev, JSON_COMPACT);
            if (text)
                print_event((void *)c, text);
            free(text);
        }
    } else {
        ctl_render_events(events, stdout);
    }
    fflush(stdout);
    json_decref(doc);
    char spath[1500];
    snprintf(spath, sizeof(spath), "%s%cfollow=1&since=%" JSON_INTEGER_FORMAT, path, strchr(path, '?') ? '&' : '?',
             last);
    return ctl_stream(c, spath, print_event, (void *)c);
}

int ctl_cmd_events(const struct ctl *c, const struct ctl_args *a)
{
    char path[1400] = "/v1/events", ref[1024];
    const char *limit = ctl_args_get(a, "limit");
    uint64_t n;
    char sep = '?';
    if (a->npos > 0) {
        if (!*a->pos[0])
            return ctl_usage_error("the domain reference is empty: give a name, UUID or ID");
        if (ctl_url_escape(a->pos[0], ref, sizeof(ref)) < 0)
            return ctl_usage_error("domain reference %s", err_msg());
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%cdomain=%s", sep, ref);
        sep = '&';
    }
    if (limit) {
        if (parse_u64_range(limit, 1, 1000000, &n) < 0)
            return ctl_usage_error("--limit: %s", err_msg());
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "%climit=%llu", sep, (unsigned long long)n);
    }
    if (ctl_args_get(a, "follow"))
        return follow(c, path);
    return get_and_render(c, path, "events", ctl_render_events);
}

static int render_lines(const json_t *lines, FILE *f)
{
    ctl_render_lines(lines, f);
    return 0;
}

int ctl_cmd_dmesg(const struct ctl *c, const struct ctl_args *a)
{
    (void)a;
    return get_and_render(c, "/v1/log", "lines", render_lines);
}

int ctl_cmd_host(const struct ctl *c, const struct ctl_args *a)
{
    (void)a;
    json_t *host;
    int rc = ctl_call(c, "GET", "/v1/host", NULL, CTL_REQUEST_TIMEOUT_S, &host, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(host);
    else
        ctl_render_host(host, stdout);
    json_decref(host);
    return CTL_EXIT_OK;
}
