/* The audit engine's set-up and bookkeeping (docs/audit.md): its configuration and creation,
 * the names of its events, ports bound to domains and sponsors, rules loading, packet capture
 * and statistics. The packet path is audit.c. */
#include "audit/audit_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/eth.h"

const char *audit_event_kind_name(enum audit_event_kind k)
{
    static const char *const names[] = {"rule",         "ack-throttle", "ack-release",   "scan",
                                        "scan-release", "syn-flood",    "syn-flood-end", "log-error"};
    return (unsigned)k < AUDIT_EV__COUNT ? names[k] : "?";
}

static void fmt_addr(const struct flow_key *k, const uint8_t *addr, uint16_t port, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(k->family == 6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
    if (k->proto == NET_IPPROTO_TCP || k->proto == NET_IPPROTO_UDP)
        snprintf(buf, size, k->family == 6 ? "[%s]:%u" : "%s:%u", a, port);
    else
        snprintf(buf, size, "%s", a);
}

const char *audit_event_detail(const struct audit_event *ev, char *buf, size_t size)
{
    char flow[160] = "";
    if (ev->flow.family) {
        char l[64], r[64];
        fmt_addr(&ev->flow, ev->flow.local, ev->flow.lport, l, sizeof(l));
        fmt_addr(&ev->flow, ev->flow.remote, ev->flow.rport, r, sizeof(r));
        snprintf(flow, sizeof(flow), "flow=\"proto %u %s -> %s\" ", ev->flow.proto, l, r);
    }
    snprintf(buf, size, "%ssource=\"%s\" evidence=\"%s\"", flow, ev->source, ev->evidence);
    return buf;
}

const char *audit_event_format(const struct audit_event *ev, char *buf, size_t size)
{
    char detail[640];
    audit_event_detail(ev, detail, sizeof(detail));
    snprintf(buf, size, "%s %s domain=%s sponsor=%s %s", audit_event_kind_name(ev->kind), audit_action_name(ev->action),
             ev->domain, ev->sponsor, detail);
    return buf;
}

const char *audit_action_name(enum audit_action act)
{
    return act == AUDIT_DROP ? "drop" : act == AUDIT_THROTTLE ? "throttle" : "pass";
}

static void defaults(struct audit_config *c)
{
    if (!c->flow_capacity)
        c->flow_capacity = 65536;
    if (!c->max_ports)
        c->max_ports = 1024;
    if (!c->block_max_age_ns)
        c->block_max_age_ns = 10 * NS;
#define DEF(f, v)                                                                                                      \
    if (!c->f)                                                                                                         \
    c->f = (v)
    DEF(tcp_idle_ns, 300 * NS);
    DEF(tcp_syn_ns, 20 * NS);
    DEF(tcp_closed_ns, 2 * NS);
    DEF(udp_idle_ns, 30 * NS);
    DEF(icmp_idle_ns, 10 * NS);
    DEF(other_idle_ns, 30 * NS);
    DEF(active_ns, 300 * NS);
#undef DEF
    if (!c->ack.min_sample)
        ack_sym_defaults(&c->ack);
    if (c->trw.theta0 == 0)
        trw_defaults(&c->trw);
    if (!c->synflood.high)
        synflood_defaults(&c->synflood);
}

int audit_create(const struct audit_config *cfg, struct audit **out)
{
    *out = NULL;
    struct audit *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(ENOMEM, "audit: out of memory");
    a->cfg = *cfg;
    defaults(&a->cfg);
    int rc;
    if (a->cfg.max_ports > 65536) {
        rc = err_set(EINVAL, "audit: max_ports %u, at most 65536", a->cfg.max_ports);
        goto fail;
    }
    if (a->cfg.ack.high <= 1 || a->cfg.trw.theta1 >= a->cfg.trw.theta0 || a->cfg.synflood.low >= a->cfg.synflood.high) {
        rc = err_set(EINVAL, "audit: detector parameters out of range");
        goto fail;
    }
    if (!a->cfg.flow_quota)
        a->cfg.flow_quota = a->cfg.flow_capacity / 8;
    if (a->cfg.flow_quota > a->cfg.flow_capacity) {
        rc =
            err_set(EINVAL, "audit: flow quota %u above the table's %u flows", a->cfg.flow_quota, a->cfg.flow_capacity);
        goto fail;
    }
    a->max = a->cfg.max_ports;
    rc = flow_table_init(&a->ft, a->cfg.flow_capacity, a->max);
    if (rc < 0)
        goto fail;
    rc = trw_seen_init(&a->seen, a->cfg.flow_capacity);
    if (rc < 0)
        goto fail;
    a->ports = calloc(a->max, sizeof(*a->ports));
    a->domains = calloc(a->max, sizeof(*a->domains));
    a->sponsors = calloc(a->max, sizeof(*a->sponsors));
    if (!a->ports || !a->domains || !a->sponsors) {
        rc = err_set(ENOMEM, "audit: out of memory for %u ports", a->max);
        goto fail;
    }
    rc = audit_rules_parse("", "(none)", a->max, &a->rules);
    if (rc < 0)
        goto fail;
    if (a->cfg.log_path) {
        struct flowlog_options o = {
            .block_records = a->cfg.block_records, .seal_every = a->cfg.seal_every, .sync = a->cfg.log_sync};
        uint8_t key[FLOWLOG_KEY_MAX];
        size_t key_len = 0;
        if (a->cfg.key_path) {
            rc = flowlog_key_load(a->cfg.key_path, key, &key_len);
            if (rc < 0)
                goto fail;
            o.key = key;
            o.key_len = key_len;
        }
        rc = flowlog_open(a->cfg.log_path, &o, &a->log);
        memset(key, 0, sizeof(key));
        if (rc < 0)
            goto fail;
    }
    if (a->cfg.ipfix_collector) {
        rc = ipfix_open(a->cfg.ipfix_collector, 1, &a->ipfix);
        if (rc < 0)
            goto fail;
    }
    a->cfg.log_path = a->cfg.key_path = a->cfg.ipfix_collector = NULL; /* not ours to keep */
    *out = a;
    return 0;
fail:
    audit_rules_free(&a->rules);
    if (a->log)
        flowlog_close(a->log);
    trw_seen_free(&a->seen);
    flow_table_free(&a->ft);
    free(a->ports);
    free(a->domains);
    free(a->sponsors);
    free(a);
    return rc;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AUDIT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int intern(void *table, size_t stride, uint32_t max, const char *name, uint32_t *id)
{
    int free_id = -1;
    for (uint32_t i = 0; i < max; i++) {
        char *entry = (char *)table + i * stride;
        uint32_t refs;
        memcpy(&refs, entry + AUDIT_NAME_MAX + 1, sizeof(refs));
        if (refs && strcmp(entry, name) == 0) {
            *id = i;
            return 0;
        }
        if (!refs && free_id < 0)
            free_id = (int)i;
    }
    if (free_id < 0)
        return -ENOSPC;
    *id = (uint32_t)free_id;
    return 0;
}

_Static_assert(offsetof(struct audit_domain, refs) == AUDIT_NAME_MAX + 1, "intern() finds refs after the name");
_Static_assert(offsetof(struct audit_sponsor, refs) == AUDIT_NAME_MAX + 1, "intern() finds refs after the name");

int audit_port_bind(struct audit *a, uint32_t port, const char *domain, const char *sponsor, uint64_t now_ns)
{
    if (port >= a->max)
        return err_set(EINVAL, "audit: port %u out of range (max %u)", port, a->max);
    if (!name_ok(domain) || !name_ok(sponsor))
        return err_set(EINVAL, "audit: port %u: domain and sponsor names must be 1..%d printable bytes", port,
                       AUDIT_NAME_MAX);
    if (a->ports[port].bound)
        audit_port_unbind(a, port, now_ns);
    uint32_t did, sid;
    if (intern(a->domains, sizeof(*a->domains), a->max, domain, &did) < 0 ||
        intern(a->sponsors, sizeof(*a->sponsors), a->max, sponsor, &sid) < 0)
        return err_set(ENOSPC, "audit: no room for another domain or sponsor (max %u)", a->max);
    struct audit_domain *d = &a->domains[did];
    if (d->refs++ == 0) {
        memset(d, 0, sizeof(*d));
        d->refs = 1;
        snprintf(d->name, sizeof(d->name), "%s", domain);
    }
    struct audit_sponsor *s = &a->sponsors[sid];
    if (s->refs++ == 0)
        snprintf(s->name, sizeof(s->name), "%s", sponsor);
    a->ports[port] = (struct audit_port){true, did, sid};
    return 0;
}

int audit_port_unbind(struct audit *a, uint32_t port, uint64_t now_ns)
{
    if (port >= a->max || !a->ports[port].bound)
        return err_set(EINVAL, "audit: port %u is not bound", port);
    for (uint32_t i = 0; i < a->ft.capacity; i++) {
        struct flow_entry *e = &a->ft.entries[i];
        if (e->in_use && e->rec.key.port == port)
            audit_flow_end(a, e, FLOW_END_SHUTDOWN, now_ns);
    }
    struct audit_port *p = &a->ports[port];
    a->domains[p->domain_id].refs--;
    a->sponsors[p->sponsor_id].refs--;
    p->bound = false;
    return 0;
}

int audit_load_rules_text(struct audit *a, const char *text, const char *name)
{
    struct audit_ruleset rs;
    int rc = audit_rules_parse(text, name, a->max, &rs);
    if (rc < 0)
        return rc;
    audit_rules_free(&a->rules);
    a->rules = rs;
    snprintf(a->rules_name, sizeof(a->rules_name), "%s", name);
    /* A flow refused by a rule that no longer exists must not stay refused. */
    for (uint32_t i = 0; i < a->ft.capacity; i++) {
        struct flow_entry *e = &a->ft.entries[i];
        if (e->in_use && e->rule_index) {
            e->rule_index = 0;
            if (e->state & FLOW_S_DENIED)
                e->state = (uint16_t)((e->state & ~FLOW_S_DENIED) | FLOW_S_UNADMITTED);
        }
    }
    return 0;
}

#define RULES_FILE_MAX (1 << 20)

int audit_load_rules(struct audit *a, const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return err_set(errno, "rules file %s: %s", path, strerror(errno));
    char *text = malloc(RULES_FILE_MAX + 1);
    if (!text) {
        fclose(fp);
        return err_set(ENOMEM, "rules file %s: out of memory", path);
    }
    size_t len = fread(text, 1, RULES_FILE_MAX + 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    int rc;
    if (bad)
        rc = err_set(EIO, "rules file %s: read error", path);
    else if (len > RULES_FILE_MAX)
        rc = err_set(EFBIG, "rules file %s: larger than %d bytes", path, RULES_FILE_MAX);
    else if (memchr(text, 0, len))
        rc = err_set(EINVAL, "rules file %s: contains a NUL byte", path);
    else {
        text[len] = 0;
        rc = audit_load_rules_text(a, text, path);
    }
    free(text);
    return rc;
}

int audit_capture_start(struct audit *a, const char *path, const char *domain, const char *sponsor, uint32_t snaplen)
{
    if (a->cap)
        return err_set(EBUSY, "audit: a capture is already running");
    if ((domain && !name_ok(domain)) || (sponsor && !name_ok(sponsor)))
        return err_set(EINVAL, "audit: capture: bad domain or sponsor name");
    int rc = pcapng_open(path, snaplen ? snaplen : 256, &a->cap);
    if (rc < 0)
        return rc;
    snprintf(a->cap_domain, sizeof(a->cap_domain), "%s", domain ? domain : "");
    snprintf(a->cap_sponsor, sizeof(a->cap_sponsor), "%s", sponsor ? sponsor : "");
    return 0;
}

int audit_capture_stop(struct audit *a)
{
    if (!a->cap)
        return err_set(EINVAL, "audit: no capture is running");
    int rc = pcapng_close(a->cap);
    a->cap = NULL;
    return rc;
}

void audit_get_stats(const struct audit *a, struct audit_stats *out)
{
    *out = a->st;
}

uint32_t audit_flow_count(const struct audit *a)
{
    return a->ft.used;
}

uint32_t audit_flow_quota(const struct audit *a)
{
    return a->cfg.flow_quota;
}
