/* A bill as JSON (bill_view.h). Quantities stay integers of micro-units with their unit
 * named beside them: a reader divides by 10^6 itself, nothing is rounded here. */
#include "daemon/bill_view.h"

#include "daemon/prices.h"

#include <stdio.h>

static const char *const by_name[] = {"resource", "domain", "day"};

static json_t *line_json(const struct invoice_line *l)
{
    char from[32], to[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:{s:I, s:I, s:I}}", "resource",
                          bill_resource_name[l->resource], "unit", bill_resource_unit[l->resource], "group", l->group,
                          "quantity_micros", (json_int_t)l->quantity, "unit_price_micros", (json_int_t)l->unit_price,
                          "per", (json_int_t)l->per, "amount_micros", (json_int_t)l->amount, "from",
                          prices_format_time(l->from_us, from, sizeof(from)), "to",
                          prices_format_time(l->to_us, to, sizeof(to)), "ledger", "first_tx", (json_int_t)l->first_tx,
                          "last_tx", (json_int_t)l->last_tx, "pieces", (json_int_t)l->txs);
    if (o && l->group_id[0])
        json_object_set_new(o, "domain_uuid", json_string(l->group_id));
    return o;
}

json_t *bill_json(const struct invoice *inv, const char *price_version)
{
    char from[32], to[32];
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < inv->n; i++)
        json_array_append_new(lines, line_json(&inv->lines[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:I, s:I, s:I}", "sponsor", inv->sponsor, "from",
                     prices_format_time(inv->from_us, from, sizeof(from)), "to",
                     prices_format_time(inv->to_us, to, sizeof(to)), "by", by_name[inv->by], "price_list",
                     price_version[0] ? price_version : NULL, "lines", lines, "total_micros", (json_int_t)inv->total,
                     "transactions", (json_int_t)inv->txs, "buckets", (json_int_t)inv->buckets);
}

static const char *const rule_name[] = {"max", "used", "reserved"};

static json_t *piece_json(const struct invoice_piece *p, const int m[2], int nm)
{
    json_t *raw = json_object(), *part = json_object();
    for (int k = 0; k < nm; k++) {
        json_object_set_new(raw, meter_info[m[k]].name, json_integer(p->raw[k]));
        json_object_set_new(part, meter_info[m[k]].name, json_integer(p->part[k]));
    }
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "tx", (json_int_t)p->tx_id, "idem_key",
                     p->key, "domain_uuid", p->domain, "tx_from_us", (json_int_t)p->tx_start_us, "tx_to_us",
                     (json_int_t)p->tx_end_us, "from_us", (json_int_t)p->from_us, "to_us", (json_int_t)p->to_us,
                     "postings", raw, "share", part, "billable", (json_int_t)p->billable);
}

json_t *bill_explain_json(const struct invoice *inv, long index, const char *price_version)
{
    const struct invoice_line *l = &inv->lines[index];
    int m[2];
    int nm = invoice_line_meters(l->resource, m);
    int rule = nm == 2 && inv->npieces ? inv->pieces[0].rule : -1;
    json_t *meters = json_array(), *pieces = json_array();
    for (int k = 0; k < nm; k++)
        json_array_append_new(meters, json_string(meter_info[m[k]].name));
    __int128 sum = 0;
    for (size_t i = 0; i < inv->npieces; i++) {
        json_array_append_new(pieces, piece_json(&inv->pieces[i], m, nm));
        sum += inv->pieces[i].billable;
    }
    __int128 amount = sum > 0 ? sum * l->unit_price / ((__int128)l->per * 1000000) : 0;
    char share[200], pick[160], total[160];
    snprintf(share, sizeof(share),
             "share = floor(posting x (to_us - tx_from_us) / (tx_to_us - tx_from_us))"
             " - floor(posting x (from_us - tx_from_us) / (tx_to_us - tx_from_us))");
    if (nm == 2)
        snprintf(pick, sizeof(pick), "billable = %s(share of %s, share of %s)", rule >= 0 ? rule_name[rule] : "max",
                 meter_info[m[0]].name, meter_info[m[1]].name);
    else
        snprintf(pick, sizeof(pick), "billable = share of %s", meter_info[m[0]].name);
    snprintf(total, sizeof(total), "amount_micros = floor(quantity_micros x %lld / (%lld x 10^6)) = %lld",
             (long long)l->unit_price, (long long)l->per, (long long)amount);
    json_t *o = bill_json(inv, price_version);
    json_object_del(o, "lines");
    json_object_del(o, "total_micros");
    json_object_set_new(o, "number", json_integer(index + 1));
    json_object_set_new(o, "line", line_json(l));
    json_object_set_new(o, "rule", rule >= 0 ? json_string(rule_name[rule]) : json_null());
    json_object_set_new(o, "meters", meters);
    json_object_set_new(o, "pieces", pieces);
    json_object_set_new(o, "quantity_micros", json_integer((json_int_t)sum));
    json_object_set_new(o, "amount_micros", json_integer((json_int_t)amount));
    json_object_set_new(o, "arithmetic",
                        json_pack("[s, s, s, s]", share, pick, "quantity_micros = sum of billable", total));
    return o;
}
