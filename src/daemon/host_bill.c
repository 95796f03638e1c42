/* The operator's host bill (host_bill.h). */
#include "daemon/host_bill.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/host_meter.h"
#include "daemon/invoice.h"
#include "daemon/prices.h"
#include "lib/err.h"

struct make_ctx {
    struct host_bill *hb;
    int failed;
};

/* The part of q that falls in the period, in proportion to time: the same telescoping floors
 * as an invoice's (docs/billing.md, "Explain"), so pieces add up to exactly q. */
static int64_t share(const struct host_bill *hb, const struct ledger_row *row, int64_t q)
{
    int64_t s = row->start_us, e = row->end_us;
    if (e <= s)
        return s >= hb->from_us && s < hb->to_us ? q : 0;
    int64_t a = hb->from_us > s ? hb->from_us : s, z = hb->to_us < e ? hb->to_us : e;
    if (z <= a)
        return 0;
    __int128 len = e - s;
    return (int64_t)((__int128)q * (z - s) / len - (__int128)q * (a - s) / len);
}

static int64_t overlap_us(const struct host_bill *hb, const struct ledger_row *row)
{
    int64_t a = hb->from_us > row->start_us ? hb->from_us : row->start_us;
    int64_t z = hb->to_us < row->end_us ? hb->to_us : row->end_us;
    return z > a ? z - a : 0;
}

static struct host_bill_line *line_of(struct host_bill_line **v, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].name, name) == 0)
            return &(*v)[i];
    struct host_bill_line *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    *v = nv;
    memset(&nv[*n], 0, sizeof(*nv));
    snprintf(nv[*n].name, sizeof(nv->name), "%s", name);
    return &nv[(*n)++];
}

static void add_sponsor_row(void *opaque, const struct ledger_row *row)
{
    struct make_ctx *c = opaque;
    if (!row->sponsor[0])
        return; /* the host's own (ledger_for_each_host reads those) */
    struct host_bill_line *l = line_of(&c->hb->sponsors, &c->hb->nsponsors, row->sponsor);
    if (!l) {
        c->failed = 1;
        return;
    }
    l->cpu_used += share(c->hb, row, row->q[METER_VCPU_USED]);
    l->memory_resident += share(c->hb, row, row->q[METER_MEMORY_RESIDENT]);
}

static void add_host_row(void *opaque, const struct ledger_row *row)
{
    struct make_ctx *c = opaque;
    struct host_bill *hb = c->hb;
    hb->transactions++;
    if (row->q[METER_HOST_CPU_IDLE] || row->q[METER_HOST_MEMORY_AVAILABLE]) {
        hb->idle_measured_cpu += share(hb, row, row->q[METER_HOST_CPU_IDLE]);
        hb->idle_measured_memory += share(hb, row, row->q[METER_HOST_MEMORY_AVAILABLE]);
        hb->covered_us += overlap_us(hb, row);
        return;
    }
    /* Every monitor is one "xeno-vmm" line: per domain is the monitor's business, not the bill's. */
    const char *name = strncmp(row->name, "xeno-vmm:", 9) == 0 ? "xeno-vmm" : row->name;
    struct host_bill_line *l = line_of(&hb->overhead, &hb->noverhead, name);
    if (!l) {
        c->failed = 1;
        return;
    }
    l->cpu += share(hb, row, row->q[METER_OVERHEAD_CPU]);
    l->memory += share(hb, row, row->q[METER_OVERHEAD_MEMORY]);
}

/* A sponsor's charged quantities and amount: its own bill of the period, line by line. */
static int price_sponsor(struct ledger *l, const struct price_list *p, struct host_bill *hb, struct host_bill_line *s)
{
    struct invoice inv;
    int r = invoice_init(&inv, s->name, hb->from_us, hb->to_us, INVOICE_BY_RESOURCE, p);
    if (r < 0)
        return r;
    /* As billing_bill makes it: whole hours from the roll-ups (the same lines as raw). */
    if ((r = invoice_build(&inv, l, 1)) == 0 && (r = invoice_finish(&inv)) == 0) {
        for (size_t i = 0; i < inv.n; i++) {
            if (inv.lines[i].resource == RES_CPU)
                s->cpu += inv.lines[i].quantity;
            else if (inv.lines[i].resource == RES_MEMORY)
                s->memory += inv.lines[i].quantity;
        }
        s->amount = inv.total;
        hb->total += inv.total;
        hb->transactions += inv.txs;
    }
    invoice_free(&inv);
    return r;
}

static int make_locked(void *opaque, struct ledger *l, const struct price_list *p)
{
    struct make_ctx *c = opaque;
    struct host_bill *hb = c->hb;
    int r = ledger_for_each(l, NULL, hb->from_us, hb->to_us, add_sponsor_row, c);
    for (size_t i = 0; r == 0 && i < hb->nsponsors; i++)
        r = price_sponsor(l, p, hb, &hb->sponsors[i]);
    if (r == 0)
        r = ledger_for_each_host(l, hb->from_us, hb->to_us, add_host_row, c);
    if (r == 0 && c->failed)
        r = err_set(ENOMEM, "host bill: out of memory");
    return r;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int host_bill_make(struct billing *b, int64_t from_us, int64_t to_us, struct host_bill *out)
{
    memset(out, 0, sizeof(*out));
    out->from_us = from_us;
    out->to_us = to_us;
    struct invoice probe;
    int r = invoice_init(&probe, "", from_us, to_us, INVOICE_BY_RESOURCE, NULL); /* the period's checks */
    if (r < 0)
        return r;
    invoice_free(&probe);
    if ((r = host_capacity(&out->cpus, &out->memory_bytes)) < 0)
        return r;
    struct make_ctx c = {out, 0};
    if ((r = billing_with_ledger(b, make_locked, &c)) < 0) {
        host_bill_free(out);
        return r;
    }
    __int128 us = to_us - from_us;
    out->capacity_cpu = (int64_t)(us * out->cpus);
    out->capacity_memory = (int64_t)((__int128)out->memory_bytes * us / 1073741824);
    /* Charged but not used (a reservation's idle part, allocated memory not resident): the
     * host meter saw it idle, and the sponsor pays for it: it is not idle capacity. */
    int64_t unused_cpu = 0, unused_memory = 0, cpu = 0, memory = 0;
    for (size_t i = 0; i < out->nsponsors; i++) {
        unused_cpu += out->sponsors[i].cpu - out->sponsors[i].cpu_used;
        unused_memory += out->sponsors[i].memory - out->sponsors[i].memory_resident;
        cpu += out->sponsors[i].cpu;
        memory += out->sponsors[i].memory;
    }
    for (size_t i = 0; i < out->noverhead; i++) {
        cpu += out->overhead[i].cpu;
        memory += out->overhead[i].memory;
    }
    /* Taken from what the host meter saw idle; when it saw less (other work ran on the
     * reservation's slack, or on memory allocated and not yet touched), the rest comes out of
     * "other": it was lent to that work. */
    out->idle_cpu = out->idle_measured_cpu - clamp(unused_cpu, 0, out->idle_measured_cpu);
    out->idle_memory = out->idle_measured_memory - clamp(unused_memory, 0, out->idle_measured_memory);
    out->other_cpu = out->capacity_cpu - cpu - out->idle_cpu;
    out->other_memory = out->capacity_memory - memory - out->idle_memory;
    return 0;
}

void host_bill_free(struct host_bill *hb)
{
    free(hb->sponsors);
    free(hb->overhead);
    hb->sponsors = hb->overhead = NULL;
    hb->nsponsors = hb->noverhead = 0;
}

static json_t *line_json(const char *kind, const char *name, int64_t cpu, int64_t memory)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "kind", kind, "name", name, "cpu_seconds_micros", (json_int_t)cpu,
                     "memory_gib_seconds_micros", (json_int_t)memory);
}

json_t *host_bill_json(const struct host_bill *hb, const char *price_version)
{
    char from[32], to[32];
    json_t *lines = json_array();
    for (size_t i = 0; i < hb->nsponsors; i++) {
        const struct host_bill_line *s = &hb->sponsors[i];
        json_t *o = line_json("sponsor", s->name, s->cpu, s->memory);
        json_object_set_new(o, "cpu_used_seconds_micros", json_integer(s->cpu_used));
        json_object_set_new(o, "memory_resident_gib_seconds_micros", json_integer(s->memory_resident));
        json_object_set_new(o, "amount_micros", json_integer(s->amount));
        json_array_append_new(lines, o);
    }
    json_t *idle = line_json("idle", "idle", hb->idle_cpu, hb->idle_memory);
    json_object_set_new(idle, "measured_cpu_seconds_micros", json_integer(hb->idle_measured_cpu));
    json_object_set_new(idle, "measured_memory_gib_seconds_micros", json_integer(hb->idle_measured_memory));
    json_array_append_new(lines, idle);
    for (size_t i = 0; i < hb->noverhead; i++)
        json_array_append_new(lines,
                              line_json("overhead", hb->overhead[i].name, hb->overhead[i].cpu, hb->overhead[i].memory));
    json_array_append_new(lines, line_json("other", "other", hb->other_cpu, hb->other_memory));
    return json_pack(
        "{s:s, s:s, s:s?, s:o, s:{s:I, s:I, s:i, s:I}, s:I, s:I, s:I}", "from",
        prices_format_time(hb->from_us, from, sizeof(from)), "to", prices_format_time(hb->to_us, to, sizeof(to)),
        "price_list", price_version[0] ? price_version : NULL, "lines", lines, "capacity", "cpu_seconds_micros",
        (json_int_t)hb->capacity_cpu, "memory_gib_seconds_micros", (json_int_t)hb->capacity_memory, "cpus", hb->cpus,
        "memory_bytes", (json_int_t)hb->memory_bytes, "covered_seconds_micros", (json_int_t)hb->covered_us,
        "total_micros", (json_int_t)hb->total, "transactions", (json_int_t)hb->transactions);
}
