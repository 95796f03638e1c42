/* The JSON of a bill (docs/api.md, "Bills"): GET /v1/sponsors/{sponsor}/bill and what
 * `xenctl bill` prints. */
#ifndef XENO_DAEMON_BILL_VIEW_H
#define XENO_DAEMON_BILL_VIEW_H

#include <jansson.h>

#include "daemon/invoice.h"

/* {"sponsor", "from", "to", "by", "price_list", "lines": [...], "total_micros",
 * "transactions"}; price_version: the list's version ("": none). */
json_t *bill_json(const struct invoice *inv, const char *price_version);

/* --explain (docs/billing.md, "Explain"): line `index` of inv (built by billing_explain) and
 * the pieces of ledger transactions it was made of, each with its raw postings, its share
 * and what the rule made of it, then the sums rebuilt from them and the arithmetic in words. */
json_t *bill_explain_json(const struct invoice *inv, long index, const char *price_version);

#endif
