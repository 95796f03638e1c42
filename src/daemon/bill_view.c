/* A bill as JSON (bill_view.h). Quantities stay integers of micro-units with their unit
 * named beside them: a reader divides by 10^6 itself, nothing is rounded here. */
#include "daemon/bill_view.h"

#include "daemon/prices.h"

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
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:I, s:I}", "sponsor", inv->sponsor, "from",
                     prices_format_time(inv->from_us, from, sizeof(from)), "to",
                     prices_format_time(inv->to_us, to, sizeof(to)), "by", by_name[inv->by], "price_list",
                     price_version[0] ? price_version : NULL, "lines", lines, "total_micros", (json_int_t)inv->total,
                     "transactions", (json_int_t)inv->txs);
}
