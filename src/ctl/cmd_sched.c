/* CPU scheduling from the command line (docs/xenctl.md, docs/scheduling.md): `sched` shows
 * every domain's settings, or one domain's settings and counters, or changes them live;
 * `top` refreshes a table of what each domain uses. */
#include "ctl/sched_view.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/commands.h"
#include "ctl/render.h"
#include "ctl/table.h"
#include "ctl/top_cost.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/sched_params.h"

/* A percentage field ("reservation_percent") as "30%", "12.5%"; null as `none`. */
static void fmt_percent(const json_t *v, const char *none, char *buf, size_t size)
{
    if (json_is_number(v) && json_number_value(v) >= 0)
        snprintf(buf, size, "%s", SCHED_PCT((uint64_t)(json_number_value(v) * 10000.0 + 0.5)));
    else if (!v || json_is_null(v))
        snprintf(buf, size, "%s", none);
    else
        ctl_fmt_value(v, buf, size);
}

static void fmt_period(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v) && json_integer_value(v) % 1000 == 0)
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT " ms", json_integer_value(v) / 1000);
    else if (json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT " us", json_integer_value(v));
    else
        ctl_fmt_value(v, buf, size);
}

static double ns_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int ctl_render_sched_list(const json_t *domains, FILE *f)
{
    enum { NCOLS = 8 };
    static const char *const headers[NCOLS] = {"Name",  "ID",     "State",  "Reservation",
                                               "Limit", "Weight", "Period", "Time(s)"};
    static const enum ctl_align align[NCOLS] = {CTL_ALIGN_LEFT,  CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT,  CTL_ALIGN_RIGHT,
                                                CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT};
    struct ctl_table t;
    char cells[NCOLS][CTL_CELL_MAX];
    const char *row[NCOLS];
    size_t i;
    const json_t *dom;
    int r = 0;
    ctl_table_init(&t, NCOLS, headers, align);
    json_array_foreach(domains, i, dom)
    {
        const json_t *s = json_object_get(dom, "sched"), *secs = json_object_get(dom, "cpu_time_s");
        ctl_fmt_value(json_object_get(dom, "name"), cells[0], CTL_CELL_MAX);
        ctl_fmt_value(json_object_get(dom, "id"), cells[1], CTL_CELL_MAX);
        ctl_fmt_value(json_object_get(dom, "state"), cells[2], CTL_CELL_MAX);
        fmt_percent(json_object_get(s, "reservation_percent"), "-", cells[3], CTL_CELL_MAX);
        fmt_percent(json_object_get(s, "limit_percent"), "none", cells[4], CTL_CELL_MAX);
        ctl_fmt_value(json_object_get(s, "weight"), cells[5], CTL_CELL_MAX);
        fmt_period(json_object_get(s, "period_us"), cells[6], CTL_CELL_MAX);
        if (json_is_number(secs))
            snprintf(cells[7], CTL_CELL_MAX, "%.1f", json_number_value(secs));
        else
            ctl_fmt_value(secs, cells[7], CTL_CELL_MAX);
        for (int c = 0; c < NCOLS; c++)
            row[c] = cells[c];
        if ((r = ctl_table_add(&t, row)) < 0)
            break;
    }
    if (r == 0)
        ctl_table_print(&t, f);
    ctl_table_free(&t);
    return r;
}

static void line(FILE *f, const char *label, const char *value)
{
    char *clean = ctl_sanitize(value);
    fprintf(f, "%-13s%s\n", label, clean ? clean : "?");
    free(clean);
}

void ctl_render_sched_info(const json_t *o, FILE *f)
{
    char v[CTL_CELL_MAX * 2];
    const json_t *s = json_object_get(o, "sched"), *cpu = json_object_get(o, "cpu"), *host = json_object_get(o, "host");
    ctl_fmt_value(json_object_get(o, "name"), v, sizeof(v));
    line(f, "Name:", v);
    fmt_percent(json_object_get(s, "reservation_percent"), "none", v, sizeof(v));
    line(f, "Reservation:", v);
    fmt_percent(json_object_get(s, "limit_percent"), "none", v, sizeof(v));
    line(f, "Limit:", v);
    ctl_fmt_value(json_object_get(s, "weight"), v, sizeof(v));
    line(f, "Weight:", v);
    fmt_period(json_object_get(s, "period_us"), v, sizeof(v));
    line(f, "Period:", v);
    if (json_is_object(cpu)) {
        const json_t *vcpus = json_object_get(cpu, "vcpu_ns"), *x;
        size_t i, n = (size_t)snprintf(v, sizeof(v), "%.6f s", ns_field(cpu, "total_ns") / 1e9);
        json_array_foreach(vcpus, i, x)
        {
            if (n >= sizeof(v))
                break;
            n += (size_t)snprintf(v + n, sizeof(v) - n, "%svcpu%zu %.6f", i ? ", " : " (", i,
                                  json_is_number(x) ? json_number_value(x) / 1e9 : NAN);
        }
        if (json_array_size(vcpus) && n < sizeof(v))
            snprintf(v + n, sizeof(v) - n, ")");
        line(f, "CPU time:", v);
        ctl_fmt_value(json_object_get(cpu, "band"), v, sizeof(v));
        line(f, "Band:", v);
        snprintf(v, sizeof(v), "%.6f s of CPU time", ns_field(cpu, "reserved_ns") / 1e9);
        line(f, "Reserved:", v);
        snprintf(v, sizeof(v), "%.3f s, %.0f times (overrun %.3f ms, paid back)", ns_field(cpu, "throttled_ns") / 1e9,
                 ns_field(cpu, "throttles"), ns_field(cpu, "overrun_ns") / 1e6);
        line(f, "Throttled:", v);
        snprintf(v, sizeof(v), "%.3f ms of CPU time in %.0f periods", ns_field(cpu, "sched_overhead_ns") / 1e6,
                 ns_field(cpu, "periods"));
        line(f, "Scheduler:", v);
    } else {
        line(f, "CPU time:", "- (not running)");
    }
    if (json_is_object(host)) {
        char cap[32], held[32], head[32];
        fmt_percent(json_object_get(host, "capacity_percent"), "-", cap, sizeof(cap));
        fmt_percent(json_object_get(host, "reserved_percent"), "-", held, sizeof(held));
        fmt_percent(json_object_get(host, "headroom_percent"), "-", head, sizeof(head));
        snprintf(v, sizeof(v), "%s of %s reserved (%.0f CPUs less %s headroom each)", held, cap, ns_field(host, "cpus"),
                 head);
        line(f, "Host:", v);
    }
}

/* The domain with this uuid in a GET /v1/domains answer, or NULL. */
static const json_t *find_uuid(const json_t *doc, const char *uuid)
{
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(doc, "domains"), i, d)
    {
        const char *u = json_string_value(json_object_get(d, "uuid"));
        if (u && uuid && strcmp(u, uuid) == 0)
            return d;
    }
    return NULL;
}

static double cpu_ns(const json_t *dom, const char *key)
{
    return ns_field(json_object_get(json_object_get(dom, "usage"), "cpu"), key);
}

/* top's per-sponsor totals of the cost column. */
struct top_sponsors {
    struct {
        char name[136];
        int domains;
        double cost;
    } * v;
    size_t n;
};

static void top_sponsor_add(struct top_sponsors *sp, const char *name, double cost)
{
    name = name ? name : "";
    for (size_t i = 0; i < sp->n; i++)
        if (strcmp(sp->v[i].name, name) == 0) {
            sp->v[i].domains++;
            sp->v[i].cost += cost;
            return;
        }
    void *nv = realloc(sp->v, (sp->n + 1) * sizeof(*sp->v));
    if (!nv)
        return;
    sp->v = nv;
    snprintf(sp->v[sp->n].name, sizeof(sp->v[sp->n].name), "%s", name);
    sp->v[sp->n].domains = 1;
    sp->v[sp->n].cost = cost;
    sp->n++;
}

/* A blank line, then Sponsor Domains Cost/h. */
static int top_sponsors_print(const struct top_sponsors *sp, FILE *f)
{
    static const char *const headers[] = {"Sponsor", "Domains", "Cost/h"};
    static const enum ctl_align align[] = {CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT};
    struct ctl_table t;
    int r = 0;
    ctl_table_init(&t, 3, headers, align);
    for (size_t i = 0; r == 0 && i < sp->n; i++) {
        char d[16], c[32];
        snprintf(d, sizeof(d), "%d", sp->v[i].domains);
        snprintf(c, sizeof(c), "%.6f", sp->v[i].cost);
        const char *row[] = {sp->v[i].name[0] ? sp->v[i].name : "-", d, c};
        r = ctl_table_add(&t, row);
    }
    if (r == 0) {
        fputc('\n', f);
        ctl_table_print(&t, f);
    }
    ctl_table_free(&t);
    return r;
}

static void top_sponsors_free(struct top_sponsors *sp)
{
    free(sp->v);
}

int ctl_render_top(const json_t *prev, const json_t *cur, const json_t *prices, double interval_s, FILE *f)
{
    enum { NCOLS = 9 };
    static const char *const headers[NCOLS] = {"Name", "ID",    "State",   "CPU%",  "Thr%",
                                               "Res",  "Limit", "Time(s)", "Cost/h"};
    static const enum ctl_align align[NCOLS] = {CTL_ALIGN_LEFT,  CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT,
                                                CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
                                                CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT};
    int ncols = prices ? NCOLS : NCOLS - 1; /* no price list asked: no cost column */
    struct ctl_table t;
    char cells[NCOLS][CTL_CELL_MAX];
    const char *row[NCOLS];
    size_t i;
    const json_t *dom;
    int r = 0;
    struct top_sponsors sp = {0};
    ctl_table_init(&t, ncols, headers, align);
    json_array_foreach(json_object_get(cur, "domains"), i, dom)
    {
        const json_t *s = json_object_get(dom, "sched");
        const json_t *old = prev ? find_uuid(prev, json_string_value(json_object_get(dom, "uuid"))) : NULL;
        double now_cpu = cpu_ns(dom, "total_ns"), old_cpu = old ? cpu_ns(old, "total_ns") : NAN;
        double now_thr = cpu_ns(dom, "throttled_ns"), old_thr = old ? cpu_ns(old, "throttled_ns") : NAN;
        ctl_fmt_value(json_object_get(dom, "name"), cells[0], CTL_CELL_MAX);
        ctl_fmt_value(json_object_get(dom, "id"), cells[1], CTL_CELL_MAX);
        ctl_fmt_value(json_object_get(dom, "state"), cells[2], CTL_CELL_MAX);
        /* Rates need two frames of the same monitor (its counters restart with a new one). */
        double rate = interval_s > 0 && isfinite(now_cpu) && isfinite(old_cpu) && now_cpu >= old_cpu
                          ? (now_cpu - old_cpu) / 1e9 / interval_s
                          : NAN;
        if (isfinite(rate))
            snprintf(cells[3], CTL_CELL_MAX, "%.1f", rate * 100);
        else
            snprintf(cells[3], CTL_CELL_MAX, "-");
        double cost = prices ? ctl_top_cost_per_hour(prices, dom, rate) : NAN;
        if (isfinite(cost))
            cost += ctl_top_disk_cost_per_hour(prices, dom, old, interval_s);
        snprintf(cells[8], CTL_CELL_MAX, "-");
        if (isfinite(cost)) {
            snprintf(cells[8], CTL_CELL_MAX, "%.6f", cost);
            top_sponsor_add(&sp, json_string_value(json_object_get(dom, "sponsor")), cost);
        }
        if (interval_s > 0 && isfinite(now_thr) && isfinite(old_thr) && now_thr >= old_thr)
            snprintf(cells[4], CTL_CELL_MAX, "%.1f", (now_thr - old_thr) / 1e9 / interval_s * 100);
        else
            snprintf(cells[4], CTL_CELL_MAX, "-");
        fmt_percent(json_object_get(s, "reservation_percent"), "-", cells[5], CTL_CELL_MAX);
        fmt_percent(json_object_get(s, "limit_percent"), "-", cells[6], CTL_CELL_MAX);
        if (isfinite(now_cpu))
            snprintf(cells[7], CTL_CELL_MAX, "%.2f", now_cpu / 1e9);
        else
            ctl_fmt_value(json_object_get(dom, "cpu_time_s"), cells[7], CTL_CELL_MAX);
        for (int c = 0; c < ncols; c++)
            row[c] = cells[c];
        if ((r = ctl_table_add(&t, row)) < 0)
            break;
    }
    if (r == 0)
        ctl_table_print(&t, f);
    ctl_table_free(&t);
    if (r == 0 && sp.n)
        r = top_sponsors_print(&sp, f);
    top_sponsors_free(&sp);
    return r;
}

/* --reservation / --limit: "25%", "12.5", or for the limit "none". */
static int opt_percent(const struct ctl_args *a, const char *name, int none_ok, json_t *body)
{
    const char *text = ctl_args_get(a, name);
    uint64_t ppm;
    char key[32];
    if (!text)
        return CTL_EXIT_OK;
    snprintf(key, sizeof(key), "%s_percent", name);
    if (none_ok && strcmp(text, "none") == 0) {
        json_object_set_new(body, key, json_null());
        return CTL_EXIT_OK;
    }
    if (parse_percent_ppm(text, (uint64_t)SCHED_MAX_VCPUS * SCHED_PPM, &ppm) < 0)
        return ctl_usage_error("--%s: %s", name, err_msg());
    json_object_set_new(body, key, json_real((double)ppm / 10000.0));
    return CTL_EXIT_OK;
}

int ctl_cmd_sched(const struct ctl *c, const struct ctl_args *a)
{
    char path[1200];
    json_t *doc = NULL, *body;
    uint64_t v;
    int rc;
    if (a->npos == 0) {
        if (ctl_args_get(a, "reservation") || ctl_args_get(a, "limit") || ctl_args_get(a, "weight") ||
            ctl_args_get(a, "period"))
            return ctl_usage_error("sched: name the domain to change (usage: xenctl sched REF [--reservation PCT] "
                                   "[--limit PCT] [--weight N] [--period TIME])");
        rc = ctl_call(c, "GET", "/v1/domains", NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
        if (rc != CTL_EXIT_OK)
            return rc;
        if (c->json)
            ctl_print_json(doc);
        else if (!json_is_array(json_object_get(doc, "domains")) ||
                 ctl_render_sched_list(json_object_get(doc, "domains"), stdout) < 0)
            rc = CTL_EXIT_FAILED;
        json_decref(doc);
        return rc;
    }
    if (!(body = json_object()))
        return CTL_EXIT_FAILED;
    if ((rc = opt_percent(a, "reservation", 0, body)) != CTL_EXIT_OK ||
        (rc = opt_percent(a, "limit", 1, body)) != CTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }
    if (ctl_args_get(a, "weight")) {
        if (parse_u64_range(ctl_args_get(a, "weight"), SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX, &v) < 0) {
            json_decref(body);
            return ctl_usage_error("--weight: %s", err_msg());
        }
        json_object_set_new(body, "weight", json_integer((json_int_t)v));
    }
    if (ctl_args_get(a, "period")) {
        if (parse_duration_us(ctl_args_get(a, "period"), SCHED_PERIOD_MAX_US, &v) < 0 || v < SCHED_PERIOD_MIN_US) {
            json_decref(body);
            return ctl_usage_error("--period: %s", v < SCHED_PERIOD_MIN_US ? "from 1ms to 1s" : err_msg());
        }
        json_object_set_new(body, "period_us", json_integer((json_int_t)v));
    }
    int change = json_object_size(body) > 0;
    rc = ctl_domain_path(a->pos[0], "sched", path, sizeof(path));
    if (rc == CTL_EXIT_OK)
        rc = ctl_call(c, change ? "POST" : "GET", path, change ? body : NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(doc);
    else
        ctl_render_sched_info(doc, stdout);
    json_decref(doc);
    return CTL_EXIT_OK;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctl_cmd_top(const struct ctl *c, const struct ctl_args *a)
{
    double delay = 1, prev_t = 0;
    uint64_t iterations = 0;
    json_t *prev = NULL;
    /* Batch mode (-b) never clears the screen, even on a terminal: frames follow each other. */
    int tty = isatty(STDOUT_FILENO) && !ctl_args_get(a, "batch"), rc = CTL_EXIT_OK;
    if (ctl_args_get(a, "delay") && (ctl_parse_seconds(ctl_args_get(a, "delay"), 3600, &delay) < 0 || delay < 0.1))
        return ctl_usage_error("--delay: %s", delay < 0.1 ? "at least 0.1 s" : err_msg());
    if (ctl_args_get(a, "iterations") && parse_u64_range(ctl_args_get(a, "iterations"), 1, 1000000, &iterations) < 0)
        return ctl_usage_error("--iterations: %s", err_msg());
    for (uint64_t n = 0; iterations == 0 || n < iterations; n++) {
        json_t *doc;
        if (n) {
            struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
            nanosleep(&ts, NULL);
        }
        rc = ctl_call(c, "GET", "/v1/domains", NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
        if (rc != CTL_EXIT_OK)
            break;
        double t = mono_s();
        /* The list in force, each frame (a reload changes it); without it, no cost column. */
        json_t *prices = NULL;
        if (!c->json && ctl_call(c, "GET", "/v1/prices", NULL, CTL_REQUEST_TIMEOUT_S, &prices, NULL) != CTL_EXIT_OK)
            prices = NULL;
        if (c->json) {
            ctl_print_json(doc);
        } else {
            if (tty)
                fputs("\033[H\033[2J", stdout); /* home, clear: a refreshing screen */
            else if (n)
                fputc('\n', stdout);
            if (ctl_render_top(prev, doc, prices, prev ? t - prev_t : 0, stdout) < 0)
                rc = CTL_EXIT_FAILED;
        }
        json_decref(prices);
        fflush(stdout);
        json_decref(prev);
        prev = doc;
        prev_t = t;
        if (rc != CTL_EXIT_OK || ferror(stdout))
            break;
    }
    json_decref(prev);
    return rc;
}
