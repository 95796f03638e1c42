/* The JSON views of the registry (docs/api.md): the API's data model. */
#include "daemon/views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/net_port.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/netback_stats.h"

void reg_ask_stats_locked(struct registry *r)
{
    for (struct reg_domain *d = r->domains; d; d = d->next)
        if (d->mon)
            monitor_ask_stats(d->mon);
}

const char *reg_live_state(struct reg_domain *d, struct stats_page *st, int *have_stats, int peek)
{
    *have_stats = d->mon && (peek ? monitor_peek_stats(d->mon, st) : monitor_read_stats(d->mon, st)) == 0;
    if (d->starting)
        return "running";
    if (!d->mon)
        return d->state;
    /* A monitor that has not published its first sample yet is starting: running. */
    if (!*have_stats || st->state == DOM_STATE_NONE)
        return "running";
    const char *s = dom_state_name((enum dom_state)st->state);
    return s ? s : "running";
}

/* A guest-reported value, or null until the guest's balloon driver has reported it. */
static json_t *guest_value(uint64_t v)
{
    return v == STATS_PAGE_UNKNOWN ? json_null() : json_integer((json_int_t)v);
}

/* The accounting feed of a running domain (docs/control-interface.md): measured by the
 * monitor unless named guest_*, which the guest reports and nobody should bill on. */
static json_t *usage_json(const struct stats_page *st)
{
    static const char *const target_states[] = {"none", "pending", "met", "missed"};
    json_t *u = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I, s:I}", "memory_bytes",
        (json_int_t)st->memory_bytes, "memory_target_bytes", (json_int_t)st->memory_target_bytes,
        "balloon_target_bytes", (json_int_t)st->balloon_target_bytes, "balloon_bytes", (json_int_t)st->balloon_bytes,
        "guest_resident_bytes", (json_int_t)st->guest_resident_bytes, "monitor_rss_bytes",
        (json_int_t)st->monitor_rss_bytes, "exits", "io", (json_int_t)st->exits_io, "mmio", (json_int_t)st->exits_mmio,
        "other", (json_int_t)st->exits_other, "console_out_bytes", (json_int_t)st->console_out_bytes,
        "console_in_bytes", (json_int_t)st->console_in_bytes, "virtio_errors", (json_int_t)st->virtio_errors);
    if (!u)
        return json_null();
    json_object_set_new(u, "memory_target_state",
                        json_string(st->memory_target_state < 4 ? target_states[st->memory_target_state] : "?"));
    json_object_set_new(u, "guest_free_bytes", guest_value(st->guest_free_bytes));
    json_object_set_new(u, "guest_available_bytes", guest_value(st->guest_available_bytes));
    json_object_set_new(u, "guest_total_bytes", guest_value(st->guest_total_bytes));
    return u;
}

/* A share of one CPU in percent, or null for none (a limit of 0). */
static json_t *percent_json(uint32_t ppm, int zero_is_null)
{
    return ppm == 0 && zero_is_null ? json_null() : json_real((double)ppm / 10000.0);
}

/* The CPU scheduling settings (docs/api.md). */
static json_t *sched_json(const struct sched_params *p)
{
    json_t *o = json_pack("{s:o, s:o, s:I, s:I}", "reservation_percent", percent_json(p->reservation_ppm, 0),
                          "limit_percent", percent_json(p->limit_ppm, 1), "weight", (json_int_t)p->weight, "period_us",
                          (json_int_t)p->period_us);
    return o ? o : json_null();
}

/* The exact CPU time of a running domain, per vCPU (thread CPU clocks), and what the CPU
 * scheduler did: the accounting base for billing. */
static json_t *cpu_usage_json(const struct stats_page *st)
{
    static const char *const bands[] = {"slack", "reserved", "throttled"};
    json_t *vcpus = json_array();
    for (unsigned i = 0; i < st->nvcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        json_array_append_new(vcpus, json_integer((json_int_t)st->vcpu_ns[i]));
    json_t *o = json_pack("{s:I, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total_ns", (json_int_t)st->cpu_ns,
                          "vcpu_ns", vcpus, "band", st->sched_band < 3 ? bands[st->sched_band] : "?", "reserved_ns",
                          (json_int_t)st->sched_reserved_ns, "throttled_ns", (json_int_t)st->sched_throttled_ns,
                          "throttles", (json_int_t)st->sched_throttles, "overrun_ns", (json_int_t)st->sched_overrun_ns,
                          "periods", (json_int_t)st->sched_periods, "sched_overhead_ns",
                          (json_int_t)st->sched_overhead_ns, "sched_changes", (json_int_t)st->sched_changes);
    return o ? o : json_null();
}

/* <memtune>: the limits as defined and, while the domain runs, the hard limit its memory
 * cgroup holds (read back from the cgroup file: what the kernel enforces). */
static json_t *memtune_json(const struct registry *r, const struct reg_domain *d, int running)
{
    const struct domain_memtune *t = &d->cfg.memtune;
    char dir[PATH_MAX + 64];
    uint64_t eff;
    json_t *o = json_object();
    json_object_set_new(o, "hard_limit_bytes", t->hard_limit ? json_integer((json_int_t)t->hard_limit) : json_null());
    json_object_set_new(o, "soft_limit_bytes", t->soft_limit ? json_integer((json_int_t)t->soft_limit) : json_null());
    json_object_set_new(o, "swap_hard_limit_bytes",
                        t->swap_hard_limit ? json_integer((json_int_t)t->swap_hard_limit) : json_null());
    mcg_path(&r->mcg, d->cfg.uuid, dir, sizeof(dir));
    int have = running && mcg_read_limit(&r->mcg, d->cfg.uuid, &eff) == 0;
    json_object_set_new(o, "cgroup", have ? json_string(dir) : json_null());
    json_object_set_new(o, "effective_hard_limit_bytes",
                        have && eff != UINT64_MAX ? json_integer((json_int_t)eff) : json_null());
    return o;
}

/* The domain's <disk>s as defined: [{target, file (relative to the image directory), format,
 * readonly, serial (null: none), stats (xeno-blkback's counters while it serves the disk,
 * else null: disk_stats_json)}]. Caller holds r->lock. */
static json_t *disks_json(struct registry *r, const struct reg_domain *d)
{
    const struct domain_config *c = &d->cfg;
    json_t *a = json_array();
    for (unsigned i = 0; a && i < c->ndisks; i++) {
        const struct domain_disk *k = &c->disks[i];
        const struct bb_stats_disk *st = reg_disk_stats_locked(r, d, i);
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "target", k->target, "file", k->file,
                                        "format", k->format == DISK_FORMAT_OVERLAY ? "xeno-overlay" : "raw", "readonly",
                                        k->readonly, "serial", k->serial[0] ? json_string(k->serial) : json_null(),
                                        "stats", st ? disk_stats_json(st) : json_null()));
    }
    return a;
}

/* Caller holds r->lock. peek: as reg_live_state's. */
static json_t *domain_json_locked(struct registry *r, struct reg_domain *d, int peek)
{
    struct stats_page st;
    int have_stats;
    char dir[PATH_MAX + 64], sock[PATH_MAX + 96];
    const char *state = reg_live_state(d, &st, &have_stats, peek);
    reg_run_dir(r, d, dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/console.sock", dir);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:i, s:f, s:s, s:s?, s:s?, s:s, s:s, s:s}", "name", d->cfg.name, "uuid",
        d->cfg.uuid, "sponsor", d->cfg.sponsor, "state", state, "persistent", d->persistent, "memory_bytes",
        (json_int_t)d->cfg.memory_bytes, "current_memory_bytes", (json_int_t)d->cfg.current_memory_bytes, "vcpus",
        (int)d->cfg.vcpus, "cpu_time_s", have_stats ? (double)st.cpu_ns / 1e9 : 0.0, "kernel", d->cfg.kernel, "initrd",
        d->cfg.initrd, "cmdline", d->cfg.cmdline, "on_poweroff", lifecycle_action_name(d->cfg.on_poweroff), "on_reboot",
        lifecycle_action_name(d->cfg.on_reboot), "on_crash", lifecycle_action_name(d->cfg.on_crash));
    if (!o)
        return NULL;
    int running = d->mon != NULL;
    json_object_set_new(o, "id", running ? json_integer(d->domid) : json_null());
    json_object_set_new(o, "pid", running ? json_integer(d->mon->pid) : json_null());
    json_object_set_new(o, "started_at", running ? json_real(d->started_at) : json_null());
    json_object_set_new(o, "console_socket", running ? json_string(sock) : json_null());
    json_object_set_new(o, "boots", json_integer(have_stats ? (json_int_t)st.boots : 0));
    json_object_set_new(o, "title", d->cfg.title ? json_string(d->cfg.title) : json_null());
    json_object_set_new(o, "description", d->cfg.description ? json_string(d->cfg.description) : json_null());
    json_object_set_new(o, "memory_enforcement", json_string(memory_enforcement_name(d->cfg.memory_enforcement)));
    if (have_stats)
        json_object_set_new(o, "usage", usage_json(&st));
    json_object_set_new(o, "sched", sched_json(&d->sched));
    if (domain_memtune_given(&d->cfg.memtune))
        json_object_set_new(o, "memtune", memtune_json(r, d, running));
    if (d->cfg.ndisks)
        json_object_set_new(o, "disks", disks_json(r, d));
    if (d->migration[0])
        json_object_set_new(o, "migration", json_pack("{s:s}", "progress", d->migration));
    if (d->cfg.net.present) {
        char port[NET_PORT_NAME_SIZE];
        struct nb_stats_port np;
        net_port_name(&d->cfg, port);
        json_object_set_new(o, "net",
                            running && r->netback && netback_sup_port_stats(r->netback, port, &np) == 0
                                ? net_port_json(port, &np)
                                : json_pack("{s:s, s:b}", "port", port, "connected", 0));
    }
    if (have_stats && json_is_object(json_object_get(o, "usage")))
        json_object_set_new(json_object_get(o, "usage"), "cpu", cpu_usage_json(&st));
    return o;
}

json_t *reg_domain_json(struct registry *r, struct reg_domain *d)
{
    pthread_mutex_lock(&r->lock);
    json_t *o = domain_json_locked(r, d, 0);
    pthread_mutex_unlock(&r->lock);
    return o;
}

json_t *reg_list_json(struct registry *r)
{
    struct list_query all = {0};
    return reg_list_page_json(r, &all, NULL, NULL);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct reg_domain *const *)a)->cfg.name, (*(struct reg_domain *const *)b)->cfg.name);
}

/* The members ?fields= did not select taken out of a domain object. */
static json_t *project(json_t *o, const struct list_query *q)
{
    if (!o || !q->fields)
        return o;
    const char *key;
    json_t *v, *tmp;
    json_object_foreach_safe(o, tmp, key, v)
    {
        if (!list_query_selects(q, key))
            json_object_del(o, key);
    }
    return o;
}

json_t *reg_list_page_json(struct registry *r, const struct list_query *q,
                           int (*sees)(const void *ctx, const char *sponsor), const void *ctx)
{
    json_t *arr = json_array();
    const char *next = NULL;
    pthread_mutex_lock(&r->lock);
    size_t n = 0, cap = 0, first = 0, end;
    for (struct reg_domain *d = r->domains; d; d = d->next)
        cap++;
    /* The domains the caller may see that pass the filters, before any JSON is made: a page
     * of 50 out of thousands costs 50 objects, not thousands. */
    struct reg_domain **pick = malloc((cap ? cap : 1) * sizeof(*pick));
    if (!pick) {
        pthread_mutex_unlock(&r->lock);
        json_decref(arr);
        return NULL;
    }
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        struct stats_page st;
        int have_stats;
        if (sees && !sees(ctx, d->cfg.sponsor))
            continue;
        if (list_query_matches(q, d->cfg.sponsor, q->state[0] ? reg_live_state(d, &st, &have_stats, 1) : ""))
            pick[n++] = d;
    }
    end = n;
    if (q->paged) {
        /* Pages are in name order (names are unique), so the cursor stays valid while
         * domains come and go between pages. */
        qsort(pick, n, sizeof(*pick), by_name);
        while (q->after[0] && first < n && strcmp(pick[first]->cfg.name, q->after) <= 0)
            first++;
        if (q->limit && n - first > q->limit) {
            end = first + q->limit;
            next = pick[end - 1]->cfg.name;
        }
    }
    for (size_t i = first; i < end; i++)
        json_array_append_new(arr, project(domain_json_locked(r, pick[i], 1), q));
    json_t *o = json_pack("{s:o, s:o}", "domains", arr, "next", next ? json_string(next) : json_null());
    pthread_mutex_unlock(&r->lock);
    free(pick);
    return o;
}

static void event_to_json(void *ctx, int64_t id, double time, const char *uuid, const char *name, const char *kind,
                          const char *detail)
{
    json_array_append_new(ctx, json_pack("{s:I, s:f, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "time", time, "uuid",
                                         uuid, "domain", name, "kind", kind, "detail", detail));
}

json_t *reg_events_json(struct registry *r, struct reg_domain *d, int limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&r->lock);
    if (store_for_each_event(&r->store, d ? d->cfg.uuid : NULL, limit, event_to_json, arr) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:o}", "events", arr);
}

/* The host's CPU reservations: what admission control counts with. Caller holds r->lock. */
static json_t *host_cpu_json(struct registry *r)
{
    char holders[16];
    uint64_t held = adm_reservations_held(r, NULL, holders, sizeof(holders));
    json_t *o = json_pack("{s:i, s:f, s:f, s:f}", "cpus", (int)r->cpu.cpus, "headroom_percent",
                          (double)r->cpu.headroom_ppm / 10000.0, "capacity_percent",
                          (double)sched_capacity_ppm(&r->cpu) / 10000.0, "reserved_percent", (double)held / 10000.0);
    return o ? o : json_null();
}

/* A comma-separated list of feature names as a JSON array. */
static json_t *name_list_json(const char *list)
{
    json_t *a = json_array();
    for (const char *p = list; a && *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a ? a : json_null();
}

/* The machine contract (docs/machine.md, "CPUID"): null when the probe failed. */
static json_t *cpu_contract_json(const struct cpu_contract *c)
{
    if (!c->known)
        return json_null();
    json_t *o =
        json_pack("{s:b, s:o, s:o, s:I}", "honoured", !c->extra[0] && !c->missing[0], "extra", name_list_json(c->extra),
                  "missing", name_list_json(c->missing), "probe_us", (json_int_t)c->probe_us);
    return o ? o : json_null();
}

json_t *reg_host_json(struct registry *r)
{
    int n = 0, running = 0;
    pthread_mutex_lock(&r->lock);
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        n++;
        running += d->mon != NULL;
    }
    json_t *cpu = host_cpu_json(r);
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:s, s:s, s:i, s:i, s:o, s:o}", "version", "0.1", "state_dir", r->state_dir, "domains", n,
                     "running", running, "cpu", cpu, "cpu_contract", cpu_contract_json(&r->cpu_contract));
}

json_t *reg_sched_json(struct registry *r, struct reg_domain *d)
{
    struct stats_page st;
    pthread_mutex_lock(&r->lock);
    int have_stats = d->mon && monitor_read_stats(d->mon, &st) == 0;
    json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "name", d->cfg.name, "sched", sched_json(&d->sched), "cpu",
                          have_stats ? cpu_usage_json(&st) : json_null(), "host", host_cpu_json(r));
    pthread_mutex_unlock(&r->lock);
    return o;
}

static void sample_to_json(void *ctx, double time, const int64_t *vals, const int *is_null, int n)
{
    json_t *o = json_pack("{s:f}", "time", time);
    for (int i = 0; i < n; i++)
        json_object_set_new(o, store_sample_names[i], is_null[i] ? json_null() : json_integer(vals[i]));
    json_array_append_new(ctx, o);
}

/* Adds the CPU side of a sample (per-vCPU time, scheduler counters) to the sample of the
 * same time; the samples arrive oldest first, like the array. */
struct cpu_merge {
    json_t *arr;
    size_t i;
};

static void cpu_sample_to_json(void *ctx, double time, const char *vcpu_ns, int64_t reserved_ns, int64_t throttled_ns,
                               int64_t throttles)
{
    struct cpu_merge *c = ctx;
    for (; c->i < json_array_size(c->arr); c->i++) {
        json_t *o = json_array_get(c->arr, c->i);
        double t = json_real_value(json_object_get(o, "time"));
        if (t > time)
            return;
        if (t < time)
            continue;
        json_t *v = json_array();
        for (const char *p = vcpu_ns; p && *p;) {
            char *end;
            json_array_append_new(v, json_integer((json_int_t)strtoll(p, &end, 10)));
            p = *end == ',' ? end + 1 : "";
        }
        json_object_set_new(o, "vcpu_ns", v);
        json_object_set_new(o, "cpu_reserved_ns", json_integer(reserved_ns));
        json_object_set_new(o, "cpu_throttled_ns", json_integer(throttled_ns));
        json_object_set_new(o, "cpu_throttles", json_integer(throttles));
        c->i++;
        return;
    }
}

static void net_sample_to_json(void *ctx, double time, const int64_t v[6])
{
    json_array_append_new(ctx,
                          json_pack("{s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "time", time, "tx_packets", (json_int_t)v[0],
                                    "tx_bytes", (json_int_t)v[1], "tx_dropped", (json_int_t)v[2], "rx_packets",
                                    (json_int_t)v[3], "rx_bytes", (json_int_t)v[4], "rx_dropped", (json_int_t)v[5]));
}

static void disk_sample_to_json(void *ctx, double time, const char *disk, const int64_t v[STORE_DISK_FIELDS])
{
    json_t *o = json_pack("{s:f, s:s}", "time", time, "disk", disk);
    for (int i = 0; o && i < STORE_DISK_FIELDS; i++)
        json_object_set_new(o, store_disk_sample_names[i], json_integer((json_int_t)v[i]));
    json_array_append_new(ctx, o);
}

json_t *reg_usage_json(struct registry *r, struct reg_domain *d, int limit)
{
    json_t *arr = json_array(), *net = json_array(), *disk = json_array();
    struct cpu_merge merge = {arr, 0};
    pthread_mutex_lock(&r->lock);
    if (store_for_each_sample(&r->store, d->cfg.uuid, limit, sample_to_json, arr) < 0 ||
        store_for_each_cpu_sample(&r->store, d->cfg.uuid, limit, cpu_sample_to_json, &merge) < 0 ||
        store_for_each_net_sample(&r->store, d->cfg.uuid, limit, net_sample_to_json, net) < 0 ||
        store_for_each_disk_sample(&r->store, d->cfg.uuid, limit, disk_sample_to_json, disk) < 0)
        log_error("%s", err_msg());
    pthread_mutex_unlock(&r->lock);
    return json_pack("{s:o, s:o, s:o}", "samples", arr, "net", net, "disk", disk);
}

json_t *net_port_json(const char *name, const struct nb_stats_port *p)
{
    json_t *drops_out = json_object(), *drops_in = json_object();
    uint64_t dropped[2] = {0, 0};
    for (int r = 0; r < NET_DROP__COUNT; r++) {
        if (p->drops[NET_DIR_FROM_PORT][r])
            json_object_set_new(drops_out, net_drop_reason_name((enum net_drop_reason)r),
                                json_integer((json_int_t)p->drops[NET_DIR_FROM_PORT][r]));
        if (p->drops[NET_DIR_TO_PORT][r])
            json_object_set_new(drops_in, net_drop_reason_name((enum net_drop_reason)r),
                                json_integer((json_int_t)p->drops[NET_DIR_TO_PORT][r]));
        dropped[0] += p->drops[NET_DIR_FROM_PORT][r];
        dropped[1] += p->drops[NET_DIR_TO_PORT][r];
    }
    /* tx: what the domain sent; rx: what it received (as `ip -s link` in the guest). */
    return json_pack("{s:s, s:b, s:I, s:{s:I, s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:o}}", "port", name, "connected",
                     p->connected != 0, "connects", (json_int_t)p->connects, "tx", "packets",
                     (json_int_t)p->packets[NET_DIR_FROM_PORT], "bytes", (json_int_t)p->bytes[NET_DIR_FROM_PORT],
                     "dropped", (json_int_t)dropped[0], "drops", drops_out, "rx", "packets",
                     (json_int_t)p->packets[NET_DIR_TO_PORT], "bytes", (json_int_t)p->bytes[NET_DIR_TO_PORT], "dropped",
                     (json_int_t)dropped[1], "drops", drops_in);
}
