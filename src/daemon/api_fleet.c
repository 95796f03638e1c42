/* POST /v1/fleet/domains (docs/api.md "Fleet", docs/fleet.md): the operator hands a domain to
 * the fleet through any member's xenod, which plans and claims in etcd (fleet/fleet_place.h)
 * and asks the chosen host's xenod to create and start it, as `xenctl --fleet create` does.
 * Runs on the request's connection thread; nothing here takes the registry lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api_priv.h"
#include "daemon/fleet_token.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_place.h"
#include "fleet/host_client.h"
#include "lib/err.h"

#define FLEET_HOST_TIMEOUT_S 60

/* The body: {"xml", "policy"?, "paused"?}; 0 or -EINVAL with err_set(). */
static int fleet_body(const json_t *b, const char **xml, enum placement_policy *policy, int *paused)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)b, key, v)
    {
        if (strcmp(key, "xml") != 0 && strcmp(key, "policy") != 0 && strcmp(key, "paused") != 0)
            return err_set(EINVAL, "unknown member '%.40s' (POST /v1/fleet/domains takes xml, policy, paused)", key);
    }
    *xml = json_string_value(json_object_get(b, "xml"));
    if (!*xml || strlen(*xml) > DOMAIN_XML_MAX)
        return err_set(EINVAL, "\"xml\": the domain XML as a string (at most %d bytes)", DOMAIN_XML_MAX);
    const json_t *p = json_object_get(b, "policy"), *z = json_object_get(b, "paused");
    *policy = PLACEMENT_BINPACK;
    if (p && (!json_is_string(p) || placement_policy_parse(json_string_value(p), policy) < 0))
        return err_set(EINVAL, "\"policy\": binpack or spread");
    if (z && !json_is_boolean(z))
        return err_set(EINVAL, "\"paused\": true or false");
    *paused = json_is_true(z);
    return 0;
}

/* The fleet record of the definition: canonical XML and what it reserves. */
static int describe(const char *xml, struct fleet_domain *d)
{
    struct domain_config cfg;
    char *canon = NULL;
    size_t clen;
    memset(d, 0, sizeof(*d));
    int rc = domain_xml_parse(xml, strlen(xml), "<api>", NULL, &cfg);
    if (rc < 0)
        return rc;
    if ((rc = domain_xml_canonical(xml, strlen(xml), &cfg, &canon, &clen)) == 0 && !fleet_name_valid(cfg.name))
        rc = err_set(EINVAL, "a fleet domain's name is 1 to 63 of A-Z a-z 0-9 . - _");
    if (rc == 0) {
        snprintf(d->uuid, sizeof(d->uuid), "%s", cfg.uuid);
        snprintf(d->name, sizeof(d->name), "%s", cfg.name);
        snprintf(d->sponsor, sizeof(d->sponsor), "%.127s", cfg.sponsor);
        d->reservation_ppm = cfg.sched.reservation_ppm;
        d->vcpus = cfg.vcpus;
        d->mem_mib = (cfg.memory_bytes + (1u << 20) - 1) >> 20;
        d->definition = canon;
    } else {
        free(canon);
    }
    domain_config_free(&cfg);
    return rc;
}

/* Asks the chosen host to create and start d; 0 with the host's answer, or -errno. */
static int start_on_host(struct api_server *s, const struct fleet_host *h, const struct fleet_domain *d, int paused,
                         long *status, json_t **answer)
{
    char token[320] = "";
    if (strncmp(h->advertise, "unix:", 5) != 0 && s->fleet_token &&
        fleet_token_read(s->fleet_token, token, sizeof(token)) < 0)
        return -EACCES;
    json_t *body = json_pack("{s:s, s:b, s:b, s:b, s:b}", "xml", d->definition, "start", 1, "paused", paused,
                             "persistent", 0, "fleet", 1);
    int rc = body ? fleet_host_post(h->advertise, token[0] ? token : NULL, s->fleet_cacert, "/v1/domains", body,
                                    FLEET_HOST_TIMEOUT_S, status, answer)
                  : err_set(ENOMEM, "out of memory");
    memset(token, 0, sizeof(token));
    json_decref(body);
    return rc;
}

void api_h_fleet_create(void *ctx)
{
    struct api_call *k = ctx;
    const char *xml = NULL;
    enum placement_policy policy = PLACEMENT_BINPACK;
    int paused = 0, attempts = 0;
    struct fleet_domain d;
    if (!k->s->fleet_etcd) {
        k->result = api_send_status(k->c, 409, "conflict", "this xenod is not in a fleet (start it with --fleet)");
        return;
    }
    if (fleet_body(k->body, &xml, &policy, &paused) < 0 || describe(xml, &d) < 0) {
        k->result = api_send_status(k->c, 400, "bad_request", err_msg());
        return;
    }
    struct etcd_client *e;
    struct fleet_host chosen;
    int rc = etcd_open(&e, k->s->fleet_etcd, &k->s->fleet_etcd_tls, 2000);
    if (rc == 0)
        rc = fleet_place(e, &d, policy, &chosen, &attempts);
    if (rc < 0) {
        int mine = rc == -ENOSPC || rc == -EEXIST;
        k->result = api_send_status(k->c, mine ? 409 : 503, mine ? "conflict" : "unavailable", err_msg());
        etcd_close(e);
        fleet_domain_free(&d);
        return;
    }
    long status = 0;
    json_t *answer = NULL;
    rc = start_on_host(k->s, &chosen, &d, paused, &status, &answer);
    if (rc < 0 || status != 201) {
        char msg[ERR_MSG_MAX];
        const char *why = json_string_value(json_object_get(answer, "error"));
        snprintf(msg, sizeof(msg), "host %s did not start %s: %s", chosen.name, d.name,
                 rc < 0 ? err_msg()
                 : why  ? why
                        : "no reason given");
        if (fleet_unplace(e, &d) < 0)
            snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (its claim stays in etcd: %s)", err_msg());
        k->result = api_send_status(k->c, 502, "bad_gateway", msg);
    } else {
        k->result = api_send_json(
            k->c, 201, json_pack("{s:s, s:i, s:O}", "host", chosen.name, "attempts", attempts, "domain", answer));
    }
    json_decref(answer);
    etcd_close(e);
    fleet_domain_free(&d);
}
