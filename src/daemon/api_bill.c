/* A sponsor's bill, the explanation of one of its lines, and the price list's reload: the
 * API side of billing (docs/billing.md). The host's bill is api_host_bill.c. */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>

#include "daemon/api_access.h"
#include "daemon/api_priv.h"
#include "daemon/bill_view.h"
#include "daemon/billing.h"
#include "daemon/prices.h"
#include "daemon/registry_priv.h"
#include "daemon/route.h"
#include "lib/err.h"
#include "lib/parse.h"

static struct billing *billing_of(struct registry *r)
{
    pthread_mutex_lock(&r->lock);
    struct billing *b = r->billing;
    pthread_mutex_unlock(&r->lock);
    return b;
}

/* The query of a bill (from, to, by): 0, or an answer was sent (404 or 400) and -1. A
 * sponsor token sees its own bill only: another sponsor's answers 404, as an unknown one does. */
static int bill_query(struct api_call *k, struct billing *b, const char *sponsor, int64_t *f, int64_t *t, int *how)
{
    const char *from = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "to");
    const char *by = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "by");
    *how = INVOICE_BY_RESOURCE;
    if (!access_sees(k->pr, sponsor) || !b) {
        err_set(ENOENT, "no usage of sponsor '%s' in the ledger", sponsor);
        api_call_error(k, -ENOENT);
        return -1;
    }
    if (!from || !to) {
        err_set(EINVAL, "query parameters from and to are required (YYYY-MM-DDTHH:MM:SSZ or seconds)");
        api_call_error(k, -EINVAL);
        return -1;
    }
    if (prices_parse_time(from, f) < 0 || prices_parse_time(to, t) < 0 || (by && invoice_by_parse(by, how) < 0)) {
        api_call_error(k, -EINVAL);
        return -1;
    }
    return 0;
}

/* GET /v1/sponsors/{sponsor}/bill?from=T&to=T[&by=resource|domain|day]. */
void api_h_bill(void *ctx)
{
    struct api_call *k = ctx;
    const char *sponsor = route_param(&k->params, "sponsor");
    struct billing *b = billing_of(k->reg);
    int64_t f, t;
    int how;
    if (bill_query(k, b, sponsor, &f, &t, &how) < 0)
        return;
    struct invoice inv;
    int rc = billing_bill(b, sponsor, f, t, how, &inv);
    if (rc < 0)
        return api_call_error(k, rc);
    char version[64];
    billing_prices_version(b, version, sizeof(version));
    k->result = api_send_json(k->c, 200, bill_json(&inv, version));
    invoice_free(&inv);
}

/* GET /v1/sponsors/{sponsor}/bill/explain?from=T&to=T[&by=...]&line=N: line N (1-based) of
 * that bill rebuilt from the ledger's raw postings (docs/billing.md, "Explain"). */
void api_h_bill_explain(void *ctx)
{
    struct api_call *k = ctx;
    const char *sponsor = route_param(&k->params, "sponsor");
    struct billing *b = billing_of(k->reg);
    int64_t f, t;
    int how;
    if (bill_query(k, b, sponsor, &f, &t, &how) < 0)
        return;
    const char *line = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "line");
    uint64_t n;
    if (!line) {
        err_set(EINVAL, "query parameter line is required: the bill's line number, from 1");
        return api_call_error(k, -EINVAL);
    }
    if (parse_u64_range(line, 1, 1000000, &n) < 0) {
        err_wrap(EINVAL, "query parameter line");
        return api_call_error(k, -EINVAL);
    }
    struct invoice inv;
    long index = -1;
    int rc = billing_explain(b, sponsor, f, t, how, (long)n, &inv, &index);
    if (rc < 0)
        return api_call_error(k, rc);
    char version[64];
    billing_prices_version(b, version, sizeof(version));
    k->result = api_send_json(k->c, 200, bill_explain_json(&inv, index, version));
    invoice_free(&inv);
}

/* POST /v1/prices: reads the --prices file again; an error (file:line) keeps the old list. */
void api_h_prices_reload(void *ctx)
{
    struct api_call *k = ctx;
    struct billing *b = billing_of(k->reg);
    int rc = b ? billing_reload_prices(b) : err_set(ENOENT, "billing is not running");
    if (rc == -ENOENT)
        return api_call_error(k, -EINVAL);
    if (rc < 0)
        return api_call_error(k, rc);
    char version[64];
    billing_prices_version(b, version, sizeof(version));
    k->result = api_send_json(k->c, 200, json_pack("{s:s}", "version", version));
}
