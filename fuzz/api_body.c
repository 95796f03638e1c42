/* xenod's API request bodies (src/daemon/api_body.c): the input is a POST body, parsed as
 * the API does (api_body_parse: a JSON object, {} when empty) and handed to every route's
 * body parser in turn: create, restore, sched, shutdown, save, migrate, net-qos, memory, token.
 * Oracles: what a parser accepts is what its handler may use: strings present, numbers in
 * the ranges docs/api.md gives, a sched body that fails changes nothing. */
#include <stdio.h>

#include "daemon/api_body.h"
#include "fuzz/fuzz.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "accepted body breaks: %s\n", #cond);                                                      \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

static void sched(json_t *b)
{
    struct sched_params p = {.reservation_ppm = 1, .limit_ppm = 2, .weight = 3, .period_us = 4}, before = p;
    if (api_body_sched(b, &p) == 0) {
        CHECK(p.reservation_ppm <= 100u * 10000u * SCHED_MAX_VCPUS && p.limit_ppm <= 100u * 10000u * SCHED_MAX_VCPUS);
        CHECK(p.weight <= 100000000 && p.period_us <= 100000000);
    } else {
        CHECK(!memcmp(&p, &before, sizeof(p)));
    }
}

static void bandwidth_ok(const struct domain_bandwidth *d)
{
    CHECK(d->average <= DOMAIN_NET_RATE_MAX_KB * 1000 && d->peak <= DOMAIN_NET_RATE_MAX_KB * 1000);
    CHECK(d->burst <= DOMAIN_NET_RATE_MAX_KB * 1024 && d->floor <= DOMAIN_NET_RATE_MAX_KB * 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *b;
    if (api_body_parse((const char *)data, size, &b) < 0)
        return 0;
    CHECK(json_is_object(b));
    struct api_body_create c;
    if (api_body_create(b, &c) == 0)
        CHECK(c.xml && strlen(c.xml) <= c.xml_len && (!c.path || c.path[0] == '/'));
    struct api_body_restore r;
    if (api_body_restore(b, &r) == 0)
        CHECK(!r.path != !r.snapshot); /* exactly one */
    sched(b);
    int timeout, wait;
    if (api_body_shutdown(b, &timeout, &wait) == 0)
        CHECK(timeout >= 0 && timeout <= API_SHUTDOWN_TIMEOUT_MAX_S);
    struct api_body_save s;
    if (api_body_save(b, &s) == 0)
        CHECK(!s.path != !s.snapshot);
    const char *host;
    struct reg_migrate_opts mo;
    if (api_body_migrate(b, &host, &mo) == 0)
        CHECK(host && mo.bandwidth_mbps <= 1000000 && mo.max_downtime_ms <= 600000);
    struct domain_disk_qos dq;
    if (api_body_disk_qos(b, &dq) == 0) {
        CHECK(dq.given < (1u << (DISK_QOS_RESERVATION + 1)));
        CHECK(!dq.weight || (dq.weight >= DOMAIN_DISK_WEIGHT_MIN && dq.weight <= DOMAIN_DISK_WEIGHT_MAX));
        CHECK(dq.reservation <= DOMAIN_DISK_RESERVATION_MAX);
        for (int i = 0; i < IOTUNE_KEYS; i++)
            CHECK(dq.iotune[i] <= DOMAIN_DISK_IOTUNE_VALUE_MAX);
    }
    struct domain_bandwidth in, out;
    if (api_body_net_qos(b, &in, &out) == 0) {
        bandwidth_ok(&in);
        bandwidth_ok(&out);
        CHECK(out.weight <= DOMAIN_NET_WEIGHT_MAX);
    }
    struct api_body_token t;
    if (api_body_token(b, &t) == 0)
        CHECK((!t.sponsor || (t.sponsor[0] && strlen(t.sponsor) <= DOMAIN_SPONSOR_MAX)) && t.expires_s >= 0 &&
              t.expires_s <= 315360000);
    uint64_t target, deadline;
    if (api_body_memory(b, &target, &deadline) == 0)
        CHECK(target > 0);
    json_decref(b);
    return 0;
}
