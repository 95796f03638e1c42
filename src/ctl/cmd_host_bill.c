/* `xenctl bill --host --from T --to T [--csv]`: the operator's host bill (docs/billing.md,
 * "The host's bill"; GET /v1/host/bill): each sponsor's charges, the idle capacity, the
 * overhead of XenoServer's own processes and the rest ("other") against the host's capacity,
 * in CPU-seconds and memory GiB-seconds. Exact decimals of integer micro-units. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl/commands.h"
#include "ctl/render.h"
#include "ctl/table.h"
#include "ctl/url.h"
#include "lib/err.h"

/* Rows: each line, then the capacity; cells kind, name, cpu, memory, amount ("" when none). */
static void row_cells(const json_t *l, char v[3][32], const char *cells[5])
{
    cells[0] = ctl_json_str(l, "kind");
    cells[1] = ctl_json_str(l, "name");
    cells[2] = ctl_fmt_micros(ctl_json_int(l, "cpu_seconds_micros"), v[0], 32);
    cells[3] = ctl_fmt_micros(ctl_json_int(l, "memory_gib_seconds_micros"), v[1], 32);
    cells[4] = json_object_get(l, "amount_micros") ? ctl_fmt_micros(ctl_json_int(l, "amount_micros"), v[2], 32) : "";
}

static void print_host_csv(const json_t *hb)
{
    puts("\"kind\",\"name\",\"cpu_seconds\",\"memory_gib_seconds\",\"amount\"");
    const json_t *l;
    size_t i;
    json_array_foreach(json_object_get(hb, "lines"), i, l)
    {
        char v[3][32];
        const char *cells[5];
        row_cells(l, v, cells);
        char *name = ctl_sanitize(cells[1]);
        /* Sponsor names are [A-Za-z0-9._-] (domain_config.h): nothing in them to quote. */
        printf("\"%s\",\"%s\",%s,%s,%s\n", cells[0], name ? name : "", cells[2], cells[3], cells[4]);
        free(name);
    }
    const json_t *cap = json_object_get(hb, "capacity");
    char c[32], m[32];
    printf("\"capacity\",\"\",%s,%s,\n", ctl_fmt_micros(ctl_json_int(cap, "cpu_seconds_micros"), c, 32),
           ctl_fmt_micros(ctl_json_int(cap, "memory_gib_seconds_micros"), m, 32));
}

static void print_host_table(const json_t *hb)
{
    static const char *const head[] = {"Kind", "Name", "CPU-seconds", "Memory GiB-seconds", "Amount"};
    static const enum ctl_align al[] = {CTL_ALIGN_LEFT, CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
                                        CTL_ALIGN_RIGHT};
    struct ctl_table t;
    ctl_table_init(&t, 5, head, al);
    const json_t *l, *cap = json_object_get(hb, "capacity");
    size_t i;
    json_array_foreach(json_object_get(hb, "lines"), i, l)
    {
        char v[3][32];
        const char *cells[5];
        row_cells(l, v, cells);
        ctl_table_add(&t, cells);
    }
    char c[32], m[32], tot[32], cov[32];
    const char *cap_cells[] = {"capacity", "-", ctl_fmt_micros(ctl_json_int(cap, "cpu_seconds_micros"), c, 32),
                               ctl_fmt_micros(ctl_json_int(cap, "memory_gib_seconds_micros"), m, 32), ""};
    ctl_table_add(&t, cap_cells);
    printf("Host, %s to %s: %" JSON_INTEGER_FORMAT " CPUs, %" JSON_INTEGER_FORMAT
           " bytes of memory; the host meter saw %s s of it\n",
           ctl_json_str(hb, "from"), ctl_json_str(hb, "to"), ctl_json_int(cap, "cpus"),
           ctl_json_int(cap, "memory_bytes"), ctl_fmt_micros(ctl_json_int(hb, "covered_seconds_micros"), cov, 32));
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    printf("Sponsors' total (price list %s): %s\n",
           *ctl_json_str(hb, "price_list") ? ctl_json_str(hb, "price_list") : "none",
           ctl_fmt_micros(ctl_json_int(hb, "total_micros"), tot, 32));
}

int ctl_cmd_host_bill(const struct ctl *c, const struct ctl_args *a)
{
    const char *from = ctl_args_get(a, "from"), *to = ctl_args_get(a, "to");
    if (a->npos)
        return ctl_usage_error("bill --host takes no SPONSOR: it is the whole host's");
    if (ctl_args_get(a, "by") || ctl_args_get(a, "explain"))
        return ctl_usage_error("bill --host: --by and --explain are for a sponsor's bill");
    if (!from || !to)
        return ctl_usage_error("bill needs --from TIME and --to TIME (YYYY-MM-DDTHH:MM:SSZ or seconds)");
    char f[128], t[128], path[400];
    if (ctl_url_escape(from, f, sizeof(f)) < 0 || ctl_url_escape(to, t, sizeof(t)) < 0)
        return ctl_usage_error("bill: %s", err_msg());
    snprintf(path, sizeof(path), "/v1/host/bill?from=%s&to=%s", f, t);
    json_t *hb;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &hb, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(hb);
    else if (ctl_args_get(a, "csv"))
        print_host_csv(hb);
    else
        print_host_table(hb);
    json_decref(hb);
    return CTL_EXIT_OK;
}
