/* `xenctl bill SPONSOR --from T --to T [--by resource|domain|day] [--csv] [--explain LINE]`: a
 * sponsor's bill (docs/billing.md, GET /v1/sponsors/{sponsor}/bill), or one of its lines rebuilt
 * from the ledger's postings (GET /v1/sponsors/{sponsor}/bill/explain). Money and quantities come as integer
 * micro-units and are printed as exact decimals with six places: no floating point. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/render.h"
#include "ctl/table.h"
#include "ctl/url.h"
#include "lib/err.h"

/* A CSV field: quoted, quotes doubled, control characters replaced (ctl_sanitize). */
static void csv_field(const char *s, int last)
{
    char *clean = ctl_sanitize(s);
    putchar('"');
    for (const char *p = clean ? clean : ""; *p; p++) {
        if (*p == '"')
            putchar('"');
        putchar(*p);
    }
    putchar('"');
    putchar(last ? '\n' : ',');
    free(clean);
}

static void print_csv(const json_t *bill)
{
    static const char *const head[] = {"group", "domain_uuid", "resource",   "unit", "from",
                                       "to",    "quantity",    "unit_price", "per",  "amount"};
    for (size_t i = 0; i < 10; i++)
        csv_field(head[i], i == 9);
    const json_t *l;
    size_t i;
    json_array_foreach(json_object_get(bill, "lines"), i, l)
    {
        char q[32], p[32], a[32], per[32];
        snprintf(per, sizeof(per), "%" JSON_INTEGER_FORMAT, ctl_json_int(l, "per"));
        const char *f[] = {ctl_json_str(l, "group"),
                           ctl_json_str(l, "domain_uuid"),
                           ctl_json_str(l, "resource"),
                           ctl_json_str(l, "unit"),
                           ctl_json_str(l, "from"),
                           ctl_json_str(l, "to"),
                           ctl_fmt_micros(ctl_json_int(l, "quantity_micros"), q, sizeof(q)),
                           ctl_fmt_micros(ctl_json_int(l, "unit_price_micros"), p, sizeof(p)),
                           per,
                           ctl_fmt_micros(ctl_json_int(l, "amount_micros"), a, sizeof(a))};
        for (size_t k = 0; k < 10; k++)
            csv_field(f[k], k == 9);
    }
}

static void print_table(const json_t *bill)
{
    static const char *const head[] = {"Group", "Resource", "From", "To", "Quantity", "Unit price", "Amount"};
    static const enum ctl_align al[] = {CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT, CTL_ALIGN_LEFT,
                                        CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT};
    struct ctl_table t;
    ctl_table_init(&t, 7, head, al);
    const json_t *l;
    size_t i;
    json_array_foreach(json_object_get(bill, "lines"), i, l)
    {
        char q[64], qq[32], p[96], pp[32], a[32];
        snprintf(q, sizeof(q), "%s %s", ctl_fmt_micros(ctl_json_int(l, "quantity_micros"), qq, sizeof(qq)),
                 ctl_json_str(l, "unit"));
        if (ctl_json_int(l, "per") > 1)
            snprintf(p, sizeof(p), "%s per %" JSON_INTEGER_FORMAT " %s",
                     ctl_fmt_micros(ctl_json_int(l, "unit_price_micros"), pp, 32), ctl_json_int(l, "per"),
                     ctl_json_str(l, "unit"));
        else
            snprintf(p, sizeof(p), "%s per %s", ctl_fmt_micros(ctl_json_int(l, "unit_price_micros"), pp, 32),
                     ctl_json_str(l, "unit"));
        const char *cells[] = {*ctl_json_str(l, "group") ? ctl_json_str(l, "group") : "-",
                               ctl_json_str(l, "resource"),
                               ctl_json_str(l, "from"),
                               ctl_json_str(l, "to"),
                               q,
                               p,
                               ctl_fmt_micros(ctl_json_int(l, "amount_micros"), a, sizeof(a))};
        ctl_table_add(&t, cells);
    }
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    char total[32];
    char *sp = ctl_sanitize(ctl_json_str(bill, "sponsor")), *pl = ctl_sanitize(ctl_json_str(bill, "price_list"));
    printf("Total for %s, %s to %s (price list %s): %s\n", sp ? sp : "", ctl_json_str(bill, "from"),
           ctl_json_str(bill, "to"), pl && *pl ? pl : "none: everything free",
           ctl_fmt_micros(ctl_json_int(bill, "total_micros"), total, sizeof(total)));
    free(sp);
    free(pl);
}

/* --explain: the pieces of transactions, their raw postings and shares, then the sums. */
static void print_explain(const json_t *e)
{
    const json_t *meters = json_object_get(e, "meters"), *line = json_object_get(e, "line");
    const char *m0 = json_string_value(json_array_get(meters, 0)), *m1 = json_string_value(json_array_get(meters, 1));
    static const char *const head[] = {"Tx",     "Domain", "Tx from us", "Tx to us", "From us", "To us",
                                       "Posted", "Share",  "Posted 2",   "Share 2",  "Billable"};
    enum ctl_align al[11];
    for (int i = 0; i < 11; i++)
        al[i] = i == 1 ? CTL_ALIGN_LEFT : CTL_ALIGN_RIGHT;
    struct ctl_table t;
    ctl_table_init(&t, 11, head, al);
    const json_t *p;
    size_t i;
    json_array_foreach(json_object_get(e, "pieces"), i, p)
    {
        char v[10][32];
        const json_t *raw = json_object_get(p, "postings"), *part = json_object_get(p, "share");
        snprintf(v[0], 32, "%" JSON_INTEGER_FORMAT, ctl_json_int(p, "tx"));
        snprintf(v[1], 32, "%" JSON_INTEGER_FORMAT, ctl_json_int(p, "tx_from_us"));
        snprintf(v[2], 32, "%" JSON_INTEGER_FORMAT, ctl_json_int(p, "tx_to_us"));
        snprintf(v[3], 32, "%" JSON_INTEGER_FORMAT, ctl_json_int(p, "from_us"));
        snprintf(v[4], 32, "%" JSON_INTEGER_FORMAT, ctl_json_int(p, "to_us"));
        ctl_fmt_micros(ctl_json_int(raw, m0 ? m0 : ""), v[5], 32);
        ctl_fmt_micros(ctl_json_int(part, m0 ? m0 : ""), v[6], 32);
        snprintf(v[7], 32, "%s", "-");
        snprintf(v[8], 32, "%s", "-");
        if (m1) {
            ctl_fmt_micros(ctl_json_int(raw, m1), v[7], 32);
            ctl_fmt_micros(ctl_json_int(part, m1), v[8], 32);
        }
        ctl_fmt_micros(ctl_json_int(p, "billable"), v[9], 32);
        const char *cells[] = {v[0], ctl_json_str(p, "domain_uuid"), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                               v[9]};
        ctl_table_add(&t, cells);
    }
    printf("Line %" JSON_INTEGER_FORMAT ": %s %s, %s to %s. Posted, Share: %s; Posted 2, Share 2: %s\n",
           ctl_json_int(e, "number"), *ctl_json_str(line, "group") ? ctl_json_str(line, "group") : "-",
           ctl_json_str(line, "resource"), ctl_json_str(line, "from"), ctl_json_str(line, "to"), m0 ? m0 : "?",
           m1 ? m1 : "-");
    ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    const json_t *s;
    json_array_foreach(json_object_get(e, "arithmetic"), i, s) printf("  %s\n", json_string_value(s));
    char q[32], lq[32], a[32], la[32];
    printf("Rebuilt: quantity %s (the line: %s), amount %s (the line: %s)\n",
           ctl_fmt_micros(ctl_json_int(e, "quantity_micros"), q, 32),
           ctl_fmt_micros(ctl_json_int(line, "quantity_micros"), lq, 32),
           ctl_fmt_micros(ctl_json_int(e, "amount_micros"), a, 32),
           ctl_fmt_micros(ctl_json_int(line, "amount_micros"), la, 32));
}

int ctl_cmd_bill(const struct ctl *c, const struct ctl_args *a)
{
    const char *from = ctl_args_get(a, "from"), *to = ctl_args_get(a, "to"), *by = ctl_args_get(a, "by");
    if (ctl_args_get(a, "host"))
        return ctl_cmd_host_bill(c, a);
    if (a->npos == 0)
        return ctl_usage_error("bill needs a SPONSOR (or --host)");
    if (!from || !to)
        return ctl_usage_error("bill needs --from TIME and --to TIME (YYYY-MM-DDTHH:MM:SSZ or seconds)");
    char sp[512], f[128], t[128], b[64], path[1024];
    if (ctl_url_escape(a->pos[0], sp, sizeof(sp)) < 0 || ctl_url_escape(from, f, sizeof(f)) < 0 ||
        ctl_url_escape(to, t, sizeof(t)) < 0 || ctl_url_escape(by ? by : "resource", b, sizeof(b)) < 0)
        return ctl_usage_error("bill: %s", err_msg());
    if (!*a->pos[0])
        return ctl_usage_error("bill needs a SPONSOR");
    const char *explain = ctl_args_get(a, "explain");
    char line[32];
    if (explain && ctl_url_escape(explain, line, sizeof(line)) < 0)
        return ctl_usage_error("bill: --explain LINE: a line number of the bill");
    if (explain)
        snprintf(path, sizeof(path), "/v1/sponsors/%s/bill/explain?from=%s&to=%s&by=%s&line=%s", sp, f, t, b, line);
    else
        snprintf(path, sizeof(path), "/v1/sponsors/%s/bill?from=%s&to=%s&by=%s", sp, f, t, b);
    json_t *bill;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &bill, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(bill);
    else if (explain)
        print_explain(bill);
    else if (ctl_args_get(a, "csv"))
        print_csv(bill);
    else
        print_table(bill);
    json_decref(bill);
    return CTL_EXIT_OK;
}
