/* The cost per hour of a domain in `xenctl top` (top_cost.h). */
#include "ctl/top_cost.h"

#include <math.h>
#include <string.h>

/* Money micro-units per unit of `resource` for the sponsor: its override, else the general
 * price, else 0 (free). */
static double unit_price(const json_t *prices, const char *resource, const char *sponsor)
{
    const json_t *e, *general = NULL;
    size_t i;
    json_array_foreach(json_object_get(prices, "prices"), i, e)
    {
        const char *r = json_string_value(json_object_get(e, "resource"));
        const char *s = json_string_value(json_object_get(e, "sponsor"));
        if (!r || strcmp(r, resource) != 0)
            continue;
        if (s && sponsor && strcmp(s, sponsor) == 0) {
            general = e;
            break;
        }
        if (!s)
            general = e;
    }
    double per = (double)json_integer_value(json_object_get(general, "per"));
    return general && per > 0 ? (double)json_integer_value(json_object_get(general, "unit_price_micros")) / per : 0;
}

static double by_rule(const char *rule, double used, double reserved)
{
    if (rule && (strcmp(rule, "used") == 0 || strcmp(rule, "resident") == 0))
        return used;
    if (rule && (strcmp(rule, "reserved") == 0 || strcmp(rule, "allocated") == 0))
        return reserved;
    return used > reserved ? used : reserved;
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

double ctl_top_cost_per_hour(const json_t *prices, const json_t *dom, double cpu_vcpus)
{
    const json_t *usage = json_object_get(dom, "usage"), *rules = json_object_get(prices, "rules");
    if (!isfinite(cpu_vcpus) || !json_is_object(usage))
        return NAN;
    const char *sponsor = json_string_value(json_object_get(dom, "sponsor"));
    double reserved = num(json_object_get(dom, "sched"), "reservation_percent") / 100.0;
    double cpu = by_rule(json_string_value(json_object_get(rules, "cpu")), cpu_vcpus, reserved);
    double target = num(usage, "memory_target_bytes");
    double gib = 1024.0 * 1024.0 * 1024.0;
    double memory =
        by_rule(json_string_value(json_object_get(rules, "memory")), num(usage, "guest_resident_bytes") / gib,
                (target > 0 ? target : num(usage, "memory_bytes")) / gib);
    /* Per second: vCPU-seconds and GiB-seconds at their unit prices; an hour of it, in units. */
    double micros_per_s = cpu * unit_price(prices, "cpu", sponsor) + memory * unit_price(prices, "memory", sponsor);
    return micros_per_s * 3600.0 / 1e6;
}

/* A served disk's requests (as the ledger's disk_ops counts them) and bytes. */
static double disk_ops(const json_t *st)
{
    const json_t *o = json_object_get(st, "ops");
    return num(o, "read") + num(o, "write") + num(o, "flush") + num(o, "discard") + num(o, "write_zeroes");
}

static const json_t *disk_stats(const json_t *dom, const char *target)
{
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(dom, "disks"), i, k)
    {
        const char *t = json_string_value(json_object_get(k, "target"));
        if (t && target && strcmp(t, target) == 0)
            return json_object_get(k, "stats");
    }
    return NULL;
}

double ctl_top_disk_cost_per_hour(const json_t *prices, const json_t *dom, const json_t *old, double interval_s)
{
    const char *sponsor = json_string_value(json_object_get(dom, "sponsor"));
    double gib = 1024.0 * 1024.0 * 1024.0, micros_per_s = 0;
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(dom, "disks"), i, k)
    {
        const json_t *st = json_object_get(k, "stats");
        if (!json_is_object(st))
            continue;
        micros_per_s += num(st, "size_bytes") / gib * unit_price(prices, "disk_provisioned", sponsor) +
                        num(st, "reservation") * unit_price(prices, "disk_reserved", sponsor);
        const json_t *was = old ? disk_stats(old, json_string_value(json_object_get(k, "target"))) : NULL;
        double d_ops = json_is_object(was) ? disk_ops(st) - disk_ops(was) : -1;
        double d_bytes = json_is_object(was) ? num(st, "bytes_read") + num(st, "bytes_written") -
                                                   num(was, "bytes_read") - num(was, "bytes_written")
                                             : -1;
        if (interval_s > 0 && d_ops >= 0 && d_bytes >= 0) /* a drop: the disk was added again */
            micros_per_s += (d_ops * unit_price(prices, "disk_ops", sponsor) +
                             d_bytes * unit_price(prices, "disk_bytes", sponsor)) /
                            interval_s;
    }
    return micros_per_s * 3600.0 / 1e6;
}
