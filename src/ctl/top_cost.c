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
