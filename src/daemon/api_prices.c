/* GET /v1/prices: the price list in force now (docs/billing.md, "Price list"), for `xenctl
 * top`'s cost column and for sponsors who want to know what they pay. A sponsor token sees
 * the general prices and its own overrides only: another sponsor's price is its business. */
#include <pthread.h>
#include <time.h>

#include "daemon/api_access.h"
#include "daemon/api_priv.h"
#include "daemon/billing.h"
#include "daemon/prices.h"
#include "daemon/registry_priv.h"

struct prices_ctx {
    const struct principal *pr;
    json_t *out;
};

static const char *const rule_name[] = {"max", "used", "reserved"};

static int prices_json_locked(void *opaque, struct ledger *l, const struct price_list *list)
{
    (void)l;
    struct prices_ctx *c = opaque;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const struct price_period *p =
        list ? prices_period_at(list, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000) : NULL;
    json_t *entries = json_array();
    char from[32];
    for (size_t i = 0; p && i < p->n; i++) {
        const struct price_entry *e = &p->entries[i];
        if (e->sponsor[0] && !access_sees(c->pr, e->sponsor))
            continue;
        json_array_append_new(
            entries, json_pack("{s:s, s:s, s:I, s:I, s:s?}", "resource", bill_resource_name[e->resource], "unit",
                               bill_resource_unit[e->resource], "unit_price_micros", (json_int_t)e->micros, "per",
                               (json_int_t)e->per, "sponsor", e->sponsor[0] ? e->sponsor : NULL));
    }
    c->out = json_pack("{s:s?, s:s?, s:{s:s, s:s}, s:o}", "version", list ? list->version : NULL, "effective",
                       p ? prices_format_time(p->from_us, from, sizeof(from)) : NULL, "rules", "cpu",
                       rule_name[p ? p->rule_cpu : 0], "memory", rule_name[p ? p->rule_memory : 0], "prices", entries);
    return 0;
}

void api_h_prices_get(void *ctx)
{
    struct api_call *k = ctx;
    pthread_mutex_lock(&k->reg->lock);
    struct billing *b = k->reg->billing;
    pthread_mutex_unlock(&k->reg->lock);
    struct prices_ctx c = {k->pr, NULL};
    if (b)
        billing_with_ledger(b, prices_json_locked, &c);
    else
        prices_json_locked(&c, NULL, NULL);
    k->result = api_send_json(k->c, 200, c.out);
}
