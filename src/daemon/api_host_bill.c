/* GET /v1/host/bill?from=T&to=T: the operator's host bill (host_bill.h, docs/billing.md "The
 * host's bill"). Operator only (api_access.c): it names every sponsor. */
#include <errno.h>
#include <pthread.h>

#include "daemon/api_priv.h"
#include "daemon/host_bill.h"
#include "daemon/prices.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"

void api_h_host_bill(void *ctx)
{
    struct api_call *k = ctx;
    const char *from = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "from");
    const char *to = MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, "to");
    pthread_mutex_lock(&k->reg->lock);
    struct billing *b = k->reg->billing;
    pthread_mutex_unlock(&k->reg->lock);
    int64_t f, t;
    if (!b) {
        err_set(ENOENT, "billing is not running");
        return api_call_error(k, -ENOENT);
    }
    if (!from || !to) {
        err_set(EINVAL, "query parameters from and to are required (YYYY-MM-DDTHH:MM:SSZ or seconds)");
        return api_call_error(k, -EINVAL);
    }
    if (prices_parse_time(from, &f) < 0 || prices_parse_time(to, &t) < 0)
        return api_call_error(k, -EINVAL);
    struct host_bill hb;
    int rc = host_bill_make(b, f, t, &hb);
    if (rc < 0)
        return api_call_error(k, rc);
    char version[64];
    billing_prices_version(b, version, sizeof(version));
    k->result = api_send_json(k->c, 200, host_bill_json(&hb, version));
    host_bill_free(&hb);
}
