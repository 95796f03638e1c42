#include "ctl/render.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/table.h"

void ctl_fmt_value(const json_t *v, char *buf, size_t size)
{
    if (!v || json_is_null(v)) {
        snprintf(buf, size, "-");
    } else if (json_is_string(v)) {
        snprintf(buf, size, "%s", *json_string_value(v) ? json_string_value(v) : "-");
    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
    } else {
        char *dump = json_dumps(v, JSON_COMPACT);
        snprintf(buf, size, "%s", dump ? dump : "?");
        free(dump);
    }
}

const char *ctl_fmt_micros(json_int_t v, char *buf, size_t size)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, size, "%s%" PRIu64 ".%06" PRIu64, v < 0 ? "-" : "", a / 1000000, a % 1000000);
    return buf;
}

json_int_t ctl_json_int(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

const char *ctl_json_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

void ctl_fmt_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, "%" PRIu64 " %s", bytes, units[u]);
}

void ctl_fmt_epoch(double t, int with_zone, char *buf, size_t size)
{
    struct tm tm;
    time_t secs = (time_t)t;
    if (!isfinite(t) || !localtime_r(&secs, &tm) ||
        !strftime(buf, size, with_zone ? "%Y-%m-%d %H:%M:%S %z" : "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, size, "%g", t);
}

/* A number of bytes from an integer (or, leniently, a real) field; -1 when absent. */
static int get_bytes(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1.8e19) {
        *out = (uint64_t)json_real_value(v);
        return 0;
    }
    return -1;
}

static void fmt_seconds(const json_t *v, const char *suffix, char *buf, size_t size)
{
    if (json_is_number(v))
        snprintf(buf, size, "%.1f%s", json_number_value(v), suffix);
    else
        ctl_fmt_value(v, buf, size);
}

void ctl_render_list_row(const json_t *dom, char cells[CTL_LIST_COLS][CTL_CELL_MAX])
{
    uint64_t bytes;
    ctl_fmt_value(json_object_get(dom, "name"), cells[0], CTL_CELL_MAX);
    ctl_fmt_value(json_object_get(dom, "id"), cells[1], CTL_CELL_MAX);
    ctl_fmt_value(json_object_get(dom, "sponsor"), cells[2], CTL_CELL_MAX);
    /* Like `xl list`, Mem is what the domain has now (currentMemory), not its maximum. */
    if (get_bytes(dom, "current_memory_bytes", &bytes) == 0 || get_bytes(dom, "memory_bytes", &bytes) == 0)
        snprintf(cells[3], CTL_CELL_MAX, "%" PRIu64, bytes >> 20);
    else
        snprintf(cells[3], CTL_CELL_MAX, "-");
    ctl_fmt_value(json_object_get(dom, "vcpus"), cells[4], CTL_CELL_MAX);
    ctl_fmt_value(json_object_get(dom, "state"), cells[5], CTL_CELL_MAX);
    fmt_seconds(json_object_get(dom, "cpu_time_s"), "", cells[6], CTL_CELL_MAX);
}

int ctl_render_list(const json_t *domains, FILE *f)
{
    static const char *const headers[CTL_LIST_COLS] = {"Name", "ID", "Sponsor", "Mem", "VCPUs", "State", "Time(s)"};
    static const enum ctl_align align[CTL_LIST_COLS] = {CTL_ALIGN_LEFT,  CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT,
                                                        CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT,
                                                        CTL_ALIGN_RIGHT};
    struct ctl_table t;
    char cells[CTL_LIST_COLS][CTL_CELL_MAX];
    const char *row[CTL_LIST_COLS];
    size_t i;
    const json_t *dom;
    int r = 0;

    ctl_table_init(&t, CTL_LIST_COLS, headers, align);
    json_array_foreach(domains, i, dom)
    {
        ctl_render_list_row(dom, cells);
        for (int c = 0; c < CTL_LIST_COLS; c++)
            row[c] = cells[c];
        if ((r = ctl_table_add(&t, row)) < 0)
            break;
    }
    if (r == 0)
        ctl_table_print(&t, f);
    ctl_table_free(&t);
    return r;
}

/* The fields `info` knows, in the order it prints them. */
enum info_kind { INFO_PLAIN, INFO_TEXT, INFO_BYTES, INFO_SECONDS, INFO_EPOCH };
static const struct {
    const char *key, *label;
    enum info_kind kind;
} info_fields[] = {
    {"name", "Name", INFO_PLAIN},
    {"uuid", "UUID", INFO_PLAIN},
    {"title", "Title", INFO_PLAIN},
    {"description", "Description", INFO_TEXT},
    {"id", "ID", INFO_PLAIN},
    {"sponsor", "Sponsor", INFO_PLAIN},
    {"state", "State", INFO_PLAIN},
    {"persistent", "Persistent", INFO_PLAIN},
    {"memory_bytes", "Memory", INFO_BYTES},
    {"current_memory_bytes", "Current memory", INFO_BYTES},
    {"vcpus", "VCPUs", INFO_PLAIN},
    {"cpu_time_s", "CPU time", INFO_SECONDS},
    {"boots", "Boots", INFO_PLAIN},
    {"pid", "PID", INFO_PLAIN},
    {"started_at", "Started", INFO_EPOCH},
    {"console_socket", "Console", INFO_PLAIN},
    {"kernel", "Kernel", INFO_PLAIN},
    {"initrd", "Initrd", INFO_PLAIN},
    {"cmdline", "Cmdline", INFO_PLAIN},
    {"on_poweroff", "On poweroff", INFO_PLAIN},
    {"on_reboot", "On reboot", INFO_PLAIN},
    {"on_crash", "On crash", INFO_PLAIN},
    {"memory_enforcement", "Enforcement", INFO_PLAIN},
};
#define INFO_NFIELDS (sizeof(info_fields) / sizeof(info_fields[0]))

static void info_line(const char *label, const char *value, FILE *f)
{
    char *clean_label = ctl_sanitize(label), *clean_value = ctl_sanitize(value);
    char key[64];
    snprintf(key, sizeof(key), "%s:", clean_label ? clean_label : "?");
    /* "Current memory:" is the longest label: values start one column after it. */
    fprintf(f, "%-16s%s\n", key, clean_value ? clean_value : "?");
    free(clean_label);
    free(clean_value);
}

/* A byte count from `obj`, or "-" when absent or null (the guest has not reported it). */
static const char *usage_bytes(const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        ctl_fmt_bytes((uint64_t)json_integer_value(v), buf, size);
    else
        snprintf(buf, size, "-");
    return buf;
}

/* The accounting feed (docs/api.md, "usage") as a few readable lines. */
static void render_usage(const json_t *u, FILE *f)
{
    char a[64], b[64], c[64], line[512];
    const json_t *exits = json_object_get(u, "exits");
    const char *target_state = json_string_value(json_object_get(u, "memory_target_state"));
    if (json_integer_value(json_object_get(u, "memory_target_bytes")) > 0) {
        snprintf(line, sizeof(line), "%s (%s), balloon %s", usage_bytes(u, "memory_target_bytes", a, sizeof(a)),
                 target_state ? target_state : "?", usage_bytes(u, "balloon_bytes", b, sizeof(b)));
        info_line("Mem target", line, f);
    }
    snprintf(line, sizeof(line), "%s of guest RAM; monitor RSS %s",
             usage_bytes(u, "guest_resident_bytes", a, sizeof(a)), usage_bytes(u, "monitor_rss_bytes", b, sizeof(b)));
    info_line("Resident", line, f);
    snprintf(line, sizeof(line), "free %s, available %s (guest's report)",
             usage_bytes(u, "guest_free_bytes", a, sizeof(a)), usage_bytes(u, "guest_available_bytes", c, sizeof(c)));
    info_line("Guest memory", line, f);
    snprintf(line, sizeof(line),
             "io %" JSON_INTEGER_FORMAT ", mmio %" JSON_INTEGER_FORMAT ", other %" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(exits, "io")), json_integer_value(json_object_get(exits, "mmio")),
             json_integer_value(json_object_get(exits, "other")));
    info_line("Exits", line, f);
}

/* <memtune> (docs/domain-xml.md, "Memory limits"): the limits, and the one the domain's
 * memory cgroup holds while it runs. */
static void render_memtune(const json_t *m, FILE *f)
{
    char a[64], b[64], c[64], d[64], line[512];
    snprintf(line, sizeof(line), "hard %s, soft %s, swap %s", usage_bytes(m, "hard_limit_bytes", a, sizeof(a)),
             usage_bytes(m, "soft_limit_bytes", b, sizeof(b)), usage_bytes(m, "swap_hard_limit_bytes", c, sizeof(c)));
    info_line("Memory limits", line, f);
    const char *cg = json_string_value(json_object_get(m, "cgroup"));
    if (cg) {
        snprintf(line, sizeof(line), "%s (hard limit in force: %s)", cg,
                 usage_bytes(m, "effective_hard_limit_bytes", d, sizeof(d)));
        info_line("Memory cgroup", line, f);
    }
}

/* Free text of several lines (<description>): each line on its own, under the first,
 * control characters shown as '?' (ctl_sanitize). */
static void render_text(const char *label, const char *text, FILE *f)
{
    char *copy = strdup(text ? text : "");
    char *line = copy, *save = NULL;
    for (int first = 1; copy && (line = strtok_r(first ? copy : NULL, "\n", &save)); first = 0) {
        if (first) {
            info_line(label, line, f);
        } else {
            char *clean = ctl_sanitize(line);
            fprintf(f, "%-16s%s\n", "", clean ? clean : "?");
            free(clean);
        }
    }
    free(copy);
}

/* A percentile of a disk's latency: "< 128 us" (the bucket's upper edge), ">= 262 ms" past
 * the last edge, "-" with no requests. */
static const char *fmt_latency(const json_t *lat, const json_t *hist_base, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(lat, key);
    if (json_is_null(v) && json_is_integer(hist_base)) {
        double last = (double)json_integer_value(hist_base) * (double)(1u << 14) / 1e3; /* the open bucket's edge */
        snprintf(buf, size, ">= %.0f ms", last / 1e3);
    } else if (!json_is_integer(v) || json_integer_value(v) == 0) {
        snprintf(buf, size, "-");
    } else if (json_integer_value(v) >= 1000000) {
        snprintf(buf, size, "< %g ms", (double)json_integer_value(v) / 1e6);
    } else {
        snprintf(buf, size, "< %g us", (double)json_integer_value(v) / 1e3);
    }
    return buf;
}

/* While the backend serves a disk: its requests, bytes, latency and space (the stats object
 * of GET /v1/domains/{ref}, docs/api.md). */
static void render_disk_stats(const char *target, const json_t *s, FILE *f)
{
    char label[32], line[512], a[32], b[32], c[32];
    const json_t *ops = json_object_get(s, "ops"), *lat = json_object_get(s, "latency_ns");
    snprintf(label, sizeof(label), "  %.8s ops", target);
    snprintf(line, sizeof(line),
             "read %" JSON_INTEGER_FORMAT ", write %" JSON_INTEGER_FORMAT ", flush %" JSON_INTEGER_FORMAT
             ", discard %" JSON_INTEGER_FORMAT ", write-zeroes %" JSON_INTEGER_FORMAT "%s",
             json_integer_value(json_object_get(ops, "read")), json_integer_value(json_object_get(ops, "write")),
             json_integer_value(json_object_get(ops, "flush")), json_integer_value(json_object_get(ops, "discard")),
             json_integer_value(json_object_get(ops, "write_zeroes")),
             json_is_true(json_object_get(s, "connected")) ? "" : " (not connected)");
    info_line(label, line, f);
    snprintf(label, sizeof(label), "  %.8s bytes", target);
    ctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes_read")), a, sizeof(a));
    ctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes_written")), b, sizeof(b));
    snprintf(line, sizeof(line), "read %s, written %s; throttled %.3f s", a, b,
             (double)json_integer_value(json_object_get(s, "throttled_ns")) / 1e9);
    info_line(label, line, f);
    snprintf(label, sizeof(label), "  %.8s latency", target);
    const json_t *base = json_object_get(s, "latency_base_ns");
    char d[32];
    snprintf(line, sizeof(line), "p50 %s, p90 %s, p99 %s, max %s", fmt_latency(lat, base, "p50", a, sizeof(a)),
             fmt_latency(lat, base, "p90", b, sizeof(b)), fmt_latency(lat, base, "p99", c, sizeof(c)),
             fmt_latency(lat, base, "max", d, sizeof(d)));
    info_line(label, line, f);
    snprintf(label, sizeof(label), "  %.8s space", target);
    ctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "size_bytes")), a, sizeof(a));
    ctl_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "allocated_bytes")), b, sizeof(b));
    snprintf(line, sizeof(line), "size %s, allocated %s", a, b);
    info_line(label, line, f);
}

/* "Disk vda:       acme/web.raw (raw, read-only, serial WEB-1)", one line per disk, then its
 * counters while it is served; the values are the sponsor's, so they go through info_line's
 * sanitising. */
static void render_disks(const json_t *disks, FILE *f)
{
    size_t i;
    const json_t *k;
    json_array_foreach(disks, i, k)
    {
        char label[32], value[1024];
        const char *serial = json_string_value(json_object_get(k, "serial"));
        snprintf(label, sizeof(label), "Disk %.8s", json_string_value(json_object_get(k, "target")) ?: "?");
        snprintf(value, sizeof(value), "%s (%s%s%s%s)", json_string_value(json_object_get(k, "file")) ?: "?",
                 json_string_value(json_object_get(k, "format")) ?: "?",
                 json_is_true(json_object_get(k, "readonly")) ? ", read-only" : "", serial ? ", serial " : "",
                 serial ? serial : "");
        info_line(label, value, f);
        const json_t *st = json_object_get(k, "stats");
        if (json_is_object(st))
            render_disk_stats(json_string_value(json_object_get(k, "target")) ?: "?", st, f);
    }
}

void ctl_render_info(const json_t *dom, FILE *f)
{
    char value[4096];
    uint64_t bytes;
    for (size_t i = 0; i < INFO_NFIELDS; i++) {
        const json_t *v = json_object_get(dom, info_fields[i].key);
        /* A field an older or newer xenod does not send is left out rather than shown as "-". */
        if (!v && strcmp(info_fields[i].key, "name") != 0)
            continue;
        if (json_is_null(v) && (info_fields[i].kind == INFO_TEXT || strcmp(info_fields[i].key, "title") == 0))
            continue; /* no <title>/<description>: nothing to say */
        if (info_fields[i].kind == INFO_TEXT) {
            render_text(info_fields[i].label, json_string_value(v), f);
            continue;
        }
        switch (info_fields[i].kind) {
        case INFO_BYTES:
            if (get_bytes(dom, info_fields[i].key, &bytes) == 0)
                ctl_fmt_bytes(bytes, value, sizeof(value));
            else
                ctl_fmt_value(v, value, sizeof(value));
            break;
        case INFO_SECONDS: fmt_seconds(v, " s", value, sizeof(value)); break;
        case INFO_EPOCH:
            if (json_is_number(v))
                ctl_fmt_epoch(json_number_value(v), 1, value, sizeof(value));
            else
                ctl_fmt_value(v, value, sizeof(value));
            break;
        case INFO_PLAIN:
        case INFO_TEXT: ctl_fmt_value(v, value, sizeof(value)); break;
        }
        info_line(info_fields[i].label, value, f);
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)dom, key, v)
    {
        size_t i = 0;
        while (i < INFO_NFIELDS && strcmp(info_fields[i].key, key) != 0)
            i++;
        if (i < INFO_NFIELDS)
            continue;
        if (strcmp(key, "usage") == 0 && json_is_object(v)) {
            render_usage(v, f);
            continue;
        }
        if (strcmp(key, "memtune") == 0 && json_is_object(v)) {
            render_memtune(v, f);
            continue;
        }
        if (strcmp(key, "disks") == 0 && json_is_array(v)) {
            render_disks(v, f);
            continue;
        }
        if (strcmp(key, "sched") == 0 && json_is_object(v)) {
            /* `xenctl sched REF` has the details. */
            const json_t *lim = json_object_get(v, "limit_percent");
            char limit[32] = "none";
            if (json_is_number(lim))
                snprintf(limit, sizeof(limit), "%g%%", json_number_value(lim));
            snprintf(value, sizeof(value), "reservation %g%%, limit %s, weight %" JSON_INTEGER_FORMAT ", period %g ms",
                     json_number_value(json_object_get(v, "reservation_percent")), limit,
                     json_integer_value(json_object_get(v, "weight")),
                     (double)json_integer_value(json_object_get(v, "period_us")) / 1000.0);
            info_line("CPU sched", value, f);
            continue;
        }
        ctl_fmt_value(v, value, sizeof(value));
        info_line(key, value, f);
    }
}

void ctl_render_event_row(const json_t *ev, char cells[CTL_EVENT_COLS][CTL_CELL_MAX])
{
    const json_t *time = json_object_get(ev, "time");
    ctl_fmt_value(json_object_get(ev, "id"), cells[0], CTL_CELL_MAX);
    if (json_is_number(time))
        ctl_fmt_epoch(json_number_value(time), 0, cells[1], CTL_CELL_MAX);
    else
        ctl_fmt_value(time, cells[1], CTL_CELL_MAX);
    /* A domain that is gone is still named; fall back to its UUID if the name is not kept. */
    const json_t *dom = json_object_get(ev, "domain");
    if (!json_is_string(dom) || !*json_string_value(dom))
        dom = json_object_get(ev, "uuid");
    ctl_fmt_value(dom, cells[2], CTL_CELL_MAX);
    ctl_fmt_value(json_object_get(ev, "kind"), cells[3], CTL_CELL_MAX);
    ctl_fmt_value(json_object_get(ev, "detail"), cells[4], CTL_CELL_MAX);
}

int ctl_render_events(const json_t *events, FILE *f)
{
    enum { NCOLS = 5 };
    static const char *const headers[NCOLS] = {"ID", "Time", "Domain", "Kind", "Detail"};
    static const enum ctl_align align[NCOLS] = {CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT, CTL_ALIGN_LEFT, CTL_ALIGN_LEFT,
                                                CTL_ALIGN_LEFT};
    struct ctl_table t;
    char cells[NCOLS][CTL_CELL_MAX];
    const char *row[NCOLS];
    size_t i;
    const json_t *ev;
    int r = 0;

    ctl_table_init(&t, NCOLS, headers, align);
    json_array_foreach(events, i, ev)
    {
        ctl_render_event_row(ev, cells);
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

void ctl_render_lines(const json_t *lines, FILE *f)
{
    size_t i;
    const json_t *line;
    json_array_foreach(lines, i, line)
    {
        char value[CTL_CELL_MAX];
        if (!json_is_string(line))
            ctl_fmt_value(line, value, sizeof(value));
        char *clean = ctl_sanitize(json_is_string(line) ? json_string_value(line) : value);
        fprintf(f, "%s\n", clean ? clean : "?");
        free(clean);
    }
}

/* Joins a JSON array of names with ", " ("none" when empty). */
static void name_list(const json_t *a, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a) && n < size; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", s ? s : "?");
    }
    if (!buf[0])
        snprintf(buf, size, "none");
}

void ctl_render_host(const json_t *host, FILE *f)
{
    char value[4096], a[64], b[64];
    ctl_fmt_value(json_object_get(host, "version"), value, sizeof(value));
    info_line("Version", value, f);
    ctl_fmt_value(json_object_get(host, "state_dir"), value, sizeof(value));
    info_line("State dir", value, f);
    ctl_fmt_value(json_object_get(host, "domains"), a, sizeof(a));
    ctl_fmt_value(json_object_get(host, "running"), b, sizeof(b));
    snprintf(value, sizeof(value), "%s defined, %s running", a, b);
    info_line("Domains", value, f);
    const json_t *cpu = json_object_get(host, "cpu");
    ctl_fmt_value(json_object_get(cpu, "cpus"), value, sizeof(value));
    info_line("CPUs", value, f);
    const json_t *cc = json_object_get(host, "cpu_contract");
    if (!json_is_object(cc)) {
        info_line("CPU contract", "unknown (the probe failed: see xenod's log)", f);
        return;
    }
    if (json_is_true(json_object_get(cc, "honoured"))) {
        info_line("CPU contract", "kept: guests see exactly the CPUID policy (docs/machine.md)", f);
        return;
    }
    info_line("CPU contract", "NOT kept by this host's KVM (docs/machine.md, \"CPUID\")", f);
    name_list(json_object_get(cc, "extra"), value, sizeof(value));
    info_line("CPU extra", value, f);
    name_list(json_object_get(cc, "missing"), value, sizeof(value));
    info_line("CPU missing", value, f);
}
