/* xenctl --fleet URLS create|list|hosts (docs/fleet.md, docs/xenctl.md "Fleet"): the fleet's
 * records in etcd, and placement: plan and claim in etcd (fleet/fleet_place.h), then the
 * chosen host's xenod is asked to create and start the domain at its advertise URL. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl/commands.h"
#include "ctl/ctl.h"
#include "ctl/remote.h"
#include "ctl/table.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_place.h"
#include "lib/domain_config.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/sched_params.h"
#include "sched/admit.h"

#define FLEET_XML_MAX (1u << 20)
#define FLEET_ETCD_TIMEOUT_MS 2000

/* An etcd error's exit code: no endpoint answered (3), or etcd refused (1). */
int ctl_fleet_etcd_failed(int rc)
{
    log_error("%s", err_msg());
    return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EAGAIN ? CTL_EXIT_UNREACHABLE : CTL_EXIT_FAILED;
}

int ctl_fleet_open(const struct ctl_args *a, struct etcd_client **e)
{
    struct etcd_tls tls = {a->etcd_ca, a->etcd_cert, a->etcd_key};
    if (etcd_open(e, a->fleet, &tls, FLEET_ETCD_TIMEOUT_MS) < 0)
        return ctl_usage_error("--fleet: %s", err_msg());
    return CTL_EXIT_OK;
}

/* The file's text, at most FLEET_XML_MAX bytes, and its absolute path. */
static int read_definition(const char *file, char **text, size_t *len, char path[PATH_MAX])
{
    FILE *f = fopen(file, "r");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > FLEET_XML_MAX ||
        !realpath(file, path)) {
        if (f)
            fclose(f);
        return ctl_usage_error("cannot read %s: not a regular file of at most 1 MiB", file);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || n != (size_t)st.st_size) {
        free(buf);
        return ctl_usage_error("cannot read %s", file);
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return CTL_EXIT_OK;
}

/* The fleet record of a definition: its canonical XML (with the UUID it will keep) and what
 * it reserves. */
static int describe(const char *file, struct fleet_domain *d)
{
    char *xml = NULL, path[PATH_MAX], *canon = NULL;
    size_t len = 0, clen;
    struct domain_config cfg;
    int rc = read_definition(file, &xml, &len, path);
    if (rc != CTL_EXIT_OK)
        return rc;
    memset(d, 0, sizeof(*d));
    if (domain_xml_parse(xml, len, path, NULL, &cfg) < 0) {
        free(xml);
        log_error("%s", err_msg());
        return CTL_EXIT_FAILED;
    }
    rc = domain_xml_canonical(xml, len, &cfg, &canon, &clen);
    free(xml);
    if (rc < 0 || !fleet_name_valid(cfg.name) || strlen(cfg.sponsor) > FLEET_TEXT_MAX) {
        log_error("%s: %s", file, rc < 0 ? err_msg() : "a fleet domain's name is 1 to 63 of A-Z a-z 0-9 . - _");
        domain_config_free(&cfg);
        free(canon);
        return CTL_EXIT_FAILED;
    }
    snprintf(d->uuid, sizeof(d->uuid), "%s", cfg.uuid);
    snprintf(d->name, sizeof(d->name), "%s", cfg.name);
    snprintf(d->sponsor, sizeof(d->sponsor), "%s", cfg.sponsor);
    d->reservation_ppm = cfg.sched.reservation_ppm;
    d->vcpus = cfg.vcpus;
    d->mem_mib = (cfg.memory_bytes + (1u << 20) - 1) >> 20;
    d->definition = canon;
    domain_config_free(&cfg);
    return CTL_EXIT_OK;
}

/* Where the chosen host's API is: its socket (unix:/PATH) or its HTTPS URL with the token. */
int ctl_fleet_host_target(const struct ctl_args *a, const char *advertise, struct ctl_api_target *t, char **token)
{
    memset(t, 0, sizeof(*t));
    *token = NULL;
    if (strncmp(advertise, "unix:", 5) == 0) {
        t->socket = advertise + 5;
        return 0;
    }
    const char *env = getenv("XENO_TOKEN");
    int rc = a->token_file ? ctl_token_read_file(a->token_file, token)
             : env && *env ? ctl_token_parse(env, strlen(env), token)
                           : err_set(EINVAL,
                                     "host %s is reached over HTTPS: give --token-file FILE or XENO_TOKEN "
                                     "(an operator token of that host)",
                                     advertise);
    if (rc < 0)
        return rc;
    t->server = advertise;
    t->token = *token;
    t->cacert = a->cacert;
    return 0;
}

/* Asks the chosen host to create and start d. */
static int start_on_host(const struct ctl *c, const struct ctl_args *a, const struct fleet_host *h,
                         const struct fleet_domain *d, json_t **dom)
{
    struct ctl hc = {.json = c->json};
    char *token;
    if (ctl_fleet_host_target(a, h->advertise, &hc.t, &token) < 0)
        return ctl_usage_error("%s", err_msg());
    json_t *body = json_pack("{s:s, s:b, s:b, s:b, s:b}", "xml", d->definition, "start", 1, "paused",
                             ctl_args_get(a, "paused") != NULL, "persistent", 0, "fleet", 1);
    int rc = body ? ctl_call(&hc, "POST", "/v1/domains", body, CTL_REQUEST_TIMEOUT_S, dom, NULL) : CTL_EXIT_FAILED;
    json_decref(body);
    if (token)
        memset(token, 0, strlen(token));
    free(token);
    return rc;
}

int ctl_cmd_fleet_create(const struct ctl *c, const struct ctl_args *a)
{
    enum placement_policy policy = PLACEMENT_BINPACK;
    const char *p = ctl_args_get(a, "policy");
    if (p && placement_policy_parse(p, &policy) < 0)
        return ctl_usage_error("--policy: %s", err_msg());
    if (ctl_args_get(a, "console"))
        return ctl_usage_error("--console does not go with --fleet: attach on the host the domain went to");
    struct fleet_domain d;
    int rc = describe(a->pos[0], &d);
    if (rc != CTL_EXIT_OK)
        return rc;
    struct etcd_client *e;
    if ((rc = ctl_fleet_open(a, &e)) != CTL_EXIT_OK) {
        fleet_domain_free(&d);
        return rc;
    }
    struct fleet_host chosen;
    int attempts = 0, prc = fleet_place(e, &d, policy, &chosen, &attempts);
    json_t *dom = NULL;
    if (prc < 0) {
        rc = prc == -ENOSPC || prc == -EEXIST ? (log_error("%s", err_msg()), CTL_EXIT_FAILED)
                                              : ctl_fleet_etcd_failed(prc);
    } else if ((rc = start_on_host(c, a, &chosen, &d, &dom)) != CTL_EXIT_OK) {
        /* The host refused or cannot be reached: give the claim back so it does not hold room. */
        if (fleet_unplace(e, &d) < 0)
            log_error("the claim on %s stays in etcd: %s", d.host, err_msg());
    } else if (c->json) {
        json_t *out = json_pack("{s:s, s:i, s:O}", "host", d.host, "attempts", attempts, "domain", dom);
        ctl_print_json(out);
        json_decref(out);
    } else {
        char *name = ctl_sanitize(d.name);
        printf("Domain %s created on %s (%s, claimed in %d transaction%s)\n", name ? name : "?", d.host,
               policy == PLACEMENT_SPREAD ? "spread" : "binpack", attempts, attempts == 1 ? "" : "s");
        free(name);
    }
    json_decref(dom);
    etcd_close(e);
    fleet_domain_free(&d);
    return rc;
}

int ctl_cmd_fleet_list(const struct ctl *c, const struct ctl_args *a)
{
    if (ctl_args_get(a, "state") || ctl_args_get(a, "limit") || ctl_args_get(a, "after"))
        return ctl_usage_error("list --fleet takes --sponsor only");
    const char *sponsor = ctl_args_get(a, "sponsor");
    struct etcd_client *e;
    struct fleet_domain *d;
    size_t n;
    int rc = ctl_fleet_open(a, &e);
    if (rc != CTL_EXIT_OK)
        return rc;
    if ((rc = fleet_read_domains(e, &d, &n)) < 0) {
        etcd_close(e);
        return ctl_fleet_etcd_failed(rc);
    }
    static const char *const head[] = {"Name", "Host", "Sponsor", "Reservation", "Mem(MiB)", "VCPUs", "UUID"};
    static const enum ctl_align al[] = {CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT,
                                        CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT};
    struct ctl_table t;
    json_t *arr = json_array();
    ctl_table_init(&t, 7, head, al);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (sponsor && strcmp(sponsor, d[i].sponsor) != 0)
            continue;
        char mem[24], vcpus[12];
        snprintf(mem, sizeof(mem), "%" PRIu64, d[i].mem_mib);
        snprintf(vcpus, sizeof(vcpus), "%u", d[i].vcpus);
        const char *row[] = {
            d[i].name, d[i].host, d[i].sponsor[0] ? d[i].sponsor : "-", SCHED_PCT(d[i].reservation_ppm), mem,
            vcpus,     d[i].uuid};
        rc = ctl_table_add(&t, row);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "name", d[i].name, "uuid",
                                             d[i].uuid, "host", d[i].host, "sponsor", d[i].sponsor, "reservation_ppm",
                                             (json_int_t)d[i].reservation_ppm, "mem_mib", (json_int_t)d[i].mem_mib,
                                             "vcpus", (int)d[i].vcpus));
    }
    if (c->json) {
        json_t *doc = json_pack("{s:O}", "domains", arr);
        ctl_print_json(doc);
        json_decref(doc);
    } else {
        ctl_table_print(&t, stdout);
    }
    json_decref(arr);
    ctl_table_free(&t);
    fleet_domains_free(d, n);
    etcd_close(e);
    return rc < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

/* One row of `hosts`: the lease's time left, from etcd ("-" when it cannot say). */
static void host_row(struct etcd_client *e, const struct fleet_host *h, char cells[7][48])
{
    long left, granted;
    struct sched_host sh = {.cpus = h->cpus, .headroom_ppm = h->headroom_ppm};
    snprintf(cells[0], 48, "%s", h->state == FLEET_DRAINING ? "draining" : "active");
    snprintf(cells[1], 48, "%u", h->cpus);
    snprintf(cells[2], 48, "%s", SCHED_PCT(sched_capacity_ppm(&sh)));
    snprintf(cells[3], 48, "%s", SCHED_PCT(fleet_host_used_ppm(h)));
    snprintf(cells[4], 48, "%" PRIu64 "/%" PRIu64, h->claimed_mib, h->mem_mib);
    snprintf(cells[5], 48, "%u", h->claimed_domains);
    if (etcd_lease_ttl(e, h->lease, &left, &granted) == 0)
        snprintf(cells[6], 48, "%lds/%lds", left, granted);
    else
        snprintf(cells[6], 48, "-");
}

int ctl_cmd_hosts(const struct ctl *c, const struct ctl_args *a)
{
    if (!a->fleet)
        return ctl_usage_error("hosts needs --fleet ETCD_URLS (the fleet's etcd; docs/fleet.md)");
    struct etcd_client *e;
    struct fleet_host *h;
    size_t n;
    int rc = ctl_fleet_open(a, &e);
    if (rc != CTL_EXIT_OK)
        return rc;
    if ((rc = fleet_read_hosts(e, &h, &n)) < 0) {
        etcd_close(e);
        return ctl_fleet_etcd_failed(rc);
    }
    static const char *const head[] = {"Host", "State", "CPUs", "Capacity", "Reserved", "Mem(MiB)", "Domains", "Lease"};
    static const enum ctl_align al[] = {CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT,  CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT,
                                        CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT, CTL_ALIGN_RIGHT};
    struct ctl_table t;
    json_t *arr = json_array();
    ctl_table_init(&t, 8, head, al);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char cells[7][48];
        host_row(e, &h[i], cells);
        const char *row[] = {h[i].name, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]};
        rc = ctl_table_add(&t, row);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:i, s:s}", "name",
                                             h[i].name, "state", cells[0], "advertise", h[i].advertise, "version",
                                             h[i].version, "cpus", (int)h[i].cpus, "headroom_ppm",
                                             (json_int_t)h[i].headroom_ppm, "held_ppm", (json_int_t)h[i].held_ppm,
                                             "claimed_ppm", (json_int_t)h[i].claimed_ppm, "mem_mib",
                                             (json_int_t)h[i].mem_mib, "claimed_mib", (json_int_t)h[i].claimed_mib,
                                             "domains", (int)h[i].claimed_domains, "lease", cells[6]));
    }
    if (c->json) {
        json_t *doc = json_pack("{s:O}", "hosts", arr);
        ctl_print_json(doc);
        json_decref(doc);
    } else {
        ctl_table_print(&t, stdout);
    }
    json_decref(arr);
    ctl_table_free(&t);
    free(h);
    etcd_close(e);
    return rc < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
