/* The audit engine's pipeline: parse, flow table, admission of new flows (rules, scan and
 * SYN flood detectors), per-packet ACK symmetry, TCP state, and the end of flows into the
 * log and the IPFIX export. */
#include "audit/audit_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/eth.h"

static void emit(struct audit *a, enum audit_event_kind kind, enum audit_action act, uint64_t now, uint32_t port,
                 const struct flow_key *k, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static void emit(struct audit *a, enum audit_event_kind kind, enum audit_action act, uint64_t now, uint32_t port,
                 const struct flow_key *k, const char *source, const char *fmt, ...)
{
    a->st.events[kind]++;
    if (!a->cfg.event_fn)
        return;
    struct audit_event ev = {.kind = kind, .action = act, .time_ns = now, .port = port, .source = source};
    ev.domain = ev.sponsor = "";
    if (port < a->max && a->ports[port].bound) {
        ev.domain = a->domains[a->ports[port].domain_id].name;
        ev.sponsor = a->sponsors[a->ports[port].sponsor_id].name;
    }
    if (k)
        ev.flow = *k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.evidence, sizeof(ev.evidence), fmt, ap);
    va_end(ap);
    a->cfg.event_fn(a->cfg.event_opaque, &ev);
}

static void log_error(struct audit *a, uint64_t now, const char *what)
{
    a->st.log_errors++;
    emit(a, AUDIT_EV_LOG_ERROR, AUDIT_PASS, now, UINT32_MAX, NULL, what, "%s", err_msg());
}

static void write_record(struct audit *a, const struct flow_record *r, uint64_t now)
{
    /* Nothing happened in this slice; but a flow whose every frame was held back (throttled,
     * never let through) is an attempt the log must show. */
    if (r->packets[0] + r->packets[1] == 0 && !(r->flags & FLOW_F_THROTTLED))
        return;
    const struct audit_port *p = &a->ports[r->key.port];
    const char *dom = a->domains[p->domain_id].name, *spo = a->sponsors[p->sponsor_id].name;
    if (a->log) {
        if (flowlog_pending(a->log) == 0)
            a->log_oldest_ns = now;
        if (flowlog_append(a->log, r, dom, spo) < 0)
            log_error(a, now, "flow-log");
        else
            a->st.flows_logged++;
    }
    if (a->ipfix && ipfix_add(a->ipfix, r, dom, spo, now) < 0)
        log_error(a, now, "ipfix");
}

static struct audit_domain *domain_of(struct audit *a, const struct flow_entry *e)
{
    return &a->domains[a->ports[e->rec.key.port].domain_id];
}

static void half_open_done(struct audit *a, struct flow_entry *e, uint64_t now)
{
    if (!(e->state & FLOW_S_HALF_OPEN))
        return;
    e->state &= (uint16_t)~FLOW_S_HALF_OPEN;
    struct audit_domain *d = domain_of(a, e);
    uint32_t peak = d->syn.peak;
    if (synflood_closed(&d->syn, &a->cfg.synflood) == SYNFLOOD_ENDED)
        emit(a, AUDIT_EV_SYN_FLOOD_END, AUDIT_PASS, now, e->rec.key.port, &e->rec.key, "syn-flood",
             "half-open connections down to %u (peak %u, limit %u)", d->syn.half_open, peak, a->cfg.synflood.high);
}

static void trw_outcome(struct audit *a, struct flow_entry *e, bool success, uint64_t now)
{
    if (!(e->state & FLOW_S_TRW_PENDING))
        return;
    e->state &= (uint16_t)~FLOW_S_TRW_PENDING;
    struct audit_domain *d = domain_of(a, e);
    uint32_t f = d->trw.failures, s = d->trw.successes;
    switch (trw_observe(&d->trw, &a->cfg.trw, success)) {
    case TRW_DETECTED:
        /* The contact that decided it does not open the allowance: the next new destination
         * waits a full interval. */
        d->trw.next_new_ns = now + a->cfg.trw.release_ns;
        emit(a, AUDIT_EV_SCAN, AUDIT_THROTTLE, now, e->rec.key.port, &e->rec.key, "scan-trw",
             "first contacts: %u failed, %u answered; likelihood ratio over %.0f: new destinations limited to one "
             "per %.1f s",
             d->trw.failures, d->trw.successes, a->cfg.trw.p_d / a->cfg.trw.p_f, a->cfg.trw.release_ns / 1e9);
        break;
    case TRW_RELEASED:
        emit(a, AUDIT_EV_SCAN_RELEASE, AUDIT_PASS, now, e->rec.key.port, &e->rec.key, "scan-trw",
             "first contacts since detection: %u failed, %u answered; walk reached benign", f + !success, s + success);
        break;
    case TRW_NO_CHANGE: break;
    }
}

void audit_flow_end(struct audit *a, struct flow_entry *e, enum flow_end_reason why, uint64_t now)
{
    half_open_done(a, e, now);
    e->rec.end_reason = (uint8_t)why;
    write_record(a, &e->rec, now);
    a->st.flows_ended++;
    if (why == FLOW_END_EVICTED)
        a->st.flows_evicted++;
    flow_table_remove(&a->ft, e);
}

static void make_key(const struct net_frame *f, const struct audit_ctx *ctx, struct flow_key *k)
{
    memset(k, 0, sizeof(*k));
    uint8_t src[16] = {0}, dst[16] = {0};
    if (f->l3 == NET_L3_IPV4) {
        k->family = 4;
        for (int i = 0; i < 4; i++) {
            src[i] = (uint8_t)(f->ip4_src >> (24 - 8 * i));
            dst[i] = (uint8_t)(f->ip4_dst >> (24 - 8 * i));
        }
    } else {
        k->family = 6;
        memcpy(src, f->ip6_src, 16);
        memcpy(dst, f->ip6_dst, 16);
    }
    k->proto = f->ip_proto;
    k->port = (uint16_t)ctx->port;
    uint16_t sport = 0, dport = 0;
    if (f->l4_present) {
        if (f->ip_proto == NET_IPPROTO_TCP || f->ip_proto == NET_IPPROTO_UDP) {
            sport = f->src_port;
            dport = f->dst_port;
        } else if (f->ip_proto == NET_IPPROTO_ICMP || f->ip_proto == NET_IPPROTO_ICMPV6) {
            /* An echo reply belongs to its request's flow (ping is one conversation). */
            uint8_t type = f->icmp_type;
            if (f->ip_proto == NET_IPPROTO_ICMP && type == 0)
                type = 8;
            else if (f->ip_proto == NET_IPPROTO_ICMPV6 && type == 129)
                type = 128;
            dport = (uint16_t)(type << 8 | f->icmp_code);
        }
    }
    bool icmp = f->ip_proto == NET_IPPROTO_ICMP || f->ip_proto == NET_IPPROTO_ICMPV6;
    if (ctx->dir == AUDIT_DIR_OUT) {
        memcpy(k->local, src, 16);
        memcpy(k->remote, dst, 16);
        k->lport = sport;
        k->rport = dport;
    } else {
        memcpy(k->local, dst, 16);
        memcpy(k->remote, src, 16);
        k->lport = icmp ? 0 : dport;
        k->rport = icmp ? dport : sport;
    }
}

static const char *rule_source(struct audit *a, int idx, char *buf, size_t size)
{
    const struct audit_rule *r = &a->rules.rules[idx];
    snprintf(buf, size, "rule %d (%s:%u): %s", idx + 1, a->rules_name, r->line, r->text);
    return buf;
}

/* Rules and the new-flow detectors on a flow the domain opens. */
static struct audit_verdict admit_new(struct audit *a, const struct flow_key *k, bool syn, bool first_event,
                                      uint64_t now, bool *first_contact)
{
    struct audit_verdict v = {AUDIT_PASS, 0};
    const struct audit_port *p = &a->ports[k->port];
    struct audit_rule_match m = {.proto = k->proto,
                                 .dport = (k->proto == 6 || k->proto == 17) ? k->rport : 0,
                                 .ipv4 = k->family == 4,
                                 .dst = (uint32_t)k->remote[0] << 24 | (uint32_t)k->remote[1] << 16 |
                                        (uint32_t)k->remote[2] << 8 | k->remote[3],
                                 .sponsor_id = p->sponsor_id,
                                 .domain_id = p->domain_id};
    struct audit_rule_result res;
    char src[AUDIT_RULE_TEXT_MAX + 160];
    if (a->rules.n) {
        audit_rules_check(&a->rules, &m, now, &res);
        for (unsigned i = 0; i < res.nlogged && first_event; i++)
            emit(a, AUDIT_EV_RULE, AUDIT_PASS, now, k->port, k, rule_source(a, res.logged[i], src, sizeof(src)),
                 "new flow matched");
        if (res.refused >= 0) {
            v.action = res.action == AUDIT_RULE_THROTTLE ? AUDIT_THROTTLE : AUDIT_DROP;
            v.retry_ns = v.action == AUDIT_THROTTLE ? res.retry_ns : 0;
            if (first_event) {
                const struct audit_rule *r = &a->rules.rules[res.refused];
                if (r->kind == AUDIT_RULE_LIMIT)
                    emit(a, AUDIT_EV_RULE, v.action, now, k->port, k, rule_source(a, res.refused, src, sizeof(src)),
                         "new flow over the limit of one per %.3f s per %s (burst %llu)", r->interval_ns / 1e9,
                         r->key == AUDIT_KEY_SPONSOR ? "sponsor" : "domain",
                         (unsigned long long)(r->tolerance_ns / r->interval_ns + 1));
                else
                    emit(a, AUDIT_EV_RULE, v.action, now, k->port, k, rule_source(a, res.refused, src, sizeof(src)),
                         "new flow denied");
            }
            return v;
        }
    }
    *first_contact = false;
    if (k->proto == 6 && syn) {
        struct audit_domain *d = &a->domains[p->domain_id];
        *first_contact = !trw_seen_contains(&a->seen, p->domain_id, k->remote, k->rport);
        if (*first_contact && !trw_admit_new(&d->trw, &a->cfg.trw, now, &v.retry_ns)) {
            v.action = AUDIT_THROTTLE;
            return v;
        }
        if (!synflood_admit(&d->syn, &a->cfg.synflood, now, &v.retry_ns)) {
            v.action = AUDIT_THROTTLE;
            return v;
        }
    }
    return v;
}

static void admitted(struct audit *a, struct flow_entry *e, bool syn, bool first_contact, uint64_t now)
{
    e->state &= (uint16_t)~FLOW_S_UNADMITTED;
    if (e->rec.key.proto != 6 || !syn)
        return;
    e->state |= FLOW_S_SYN_OUT | FLOW_S_HALF_OPEN;
    struct audit_domain *d = domain_of(a, e);
    if (synflood_opened(&d->syn, &a->cfg.synflood) == SYNFLOOD_STARTED)
        emit(a, AUDIT_EV_SYN_FLOOD, AUDIT_THROTTLE, now, e->rec.key.port, &e->rec.key, "syn-flood",
             "%u half-open connections (limit %u): new connections paced to one per %.3f s until %u or fewer",
             d->syn.half_open, a->cfg.synflood.high, a->cfg.synflood.interval_ns / 1e9, a->cfg.synflood.low);
    if (first_contact) {
        trw_seen_insert(&a->seen, a->ports[e->rec.key.port].domain_id, e->rec.key.remote, e->rec.key.rport);
        e->state |= FLOW_S_TRW_PENDING;
    }
}

/* A domain at its quota makes room among its own flows; otherwise a full pool, or (by rare
 * chance) the key's two full buckets, end the table's choice of victim: at most two victims,
 * since ending one frees a pool entry and a bucket slot at once. */
static struct flow_entry *new_entry(struct audit *a, const struct flow_key *k, uint64_t hash, uint64_t now)
{
    uint32_t group = a->ports[k->port].domain_id;
    if (flow_table_group_count(&a->ft, group) >= a->cfg.flow_quota) {
        a->st.flows_over_quota++;
        audit_flow_end(a, flow_table_group_victim(&a->ft, group), FLOW_END_EVICTED, now);
    }
    struct flow_entry *e = flow_table_insert(&a->ft, k, hash, group);
    for (int tries = 0; !e && tries < 2; tries++) {
        audit_flow_end(a, flow_table_victim(&a->ft, hash, group), FLOW_END_EVICTED, now);
        e = flow_table_insert(&a->ft, k, hash, group);
    }
    a->st.flows_created++;
    return e;
}

static void capture(struct audit *a, const struct audit_ctx *ctx, const uint8_t *frame, size_t len, uint64_t now,
                    struct audit_verdict v)
{
    const struct audit_port *p = &a->ports[ctx->port];
    const char *dom = a->domains[p->domain_id].name, *spo = a->sponsors[p->sponsor_id].name;
    if ((a->cap_domain[0] && strcmp(dom, a->cap_domain) != 0) ||
        (a->cap_sponsor[0] && strcmp(spo, a->cap_sponsor) != 0))
        return;
    char comment[AUDIT_NAME_MAX * 2 + 64];
    snprintf(comment, sizeof(comment), "domain=%s sponsor=%s dir=%s verdict=%s", dom, spo,
             ctx->dir == AUDIT_DIR_OUT ? "out" : "in", audit_action_name(v.action));
    if (pcapng_write(a->cap, now, frame, len, comment) < 0)
        log_error(a, now, "pcap-ng");
    else
        a->st.captured++;
}

struct audit_verdict audit_frame(struct audit *a, const struct audit_ctx *ctx, const uint8_t *frame, size_t len,
                                 uint64_t now_ns)
{
    struct net_frame f;
    net_eth_parse(frame, len, &f);
    return audit_frame_parsed(a, ctx, &f, now_ns);
}

struct audit_verdict audit_frame_parsed(struct audit *a, const struct audit_ctx *ctx, const struct net_frame *pf,
                                        uint64_t now_ns)
{
    struct audit_verdict v = {AUDIT_PASS, 0};
    const uint8_t *frame = pf->data;
    size_t len = pf->len;
    a->st.frames++;
    a->st.bytes += len;
    if (ctx->port >= a->max || !a->ports[ctx->port].bound) {
        a->st.unbound++;
        return v;
    }
    const struct net_frame f = *pf;
    if (f.error != NET_PARSE_OK) {
        a->st.malformed++;
        return v;
    }
    if (f.l3 != NET_L3_IPV4 && f.l3 != NET_L3_IPV6) {
        a->st.not_ip++;
        return v;
    }
    struct flow_key k;
    make_key(&f, ctx, &k);
    uint64_t hash = flow_table_hash(&a->ft, &k);
    struct flow_entry *e = flow_table_find(&a->ft, &k, hash);
    int d = ctx->dir == AUDIT_DIR_OUT ? 0 : 1;
    bool tcp = f.ip_proto == NET_IPPROTO_TCP && f.l4_present;
    uint8_t fl = tcp ? f.tcp_flags : 0;
    bool syn = tcp && (fl & (NET_TCP_SYN | NET_TCP_ACK)) == NET_TCP_SYN;
    bool first_contact = false;

    if (!e || (d == 0 && (e->state & FLOW_S_UNADMITTED))) {
        bool fresh = !e;
        if (d == 0)
            v = admit_new(a, &k, syn, fresh || !(e->rec.flags & FLOW_F_THROTTLED), now_ns, &first_contact);
        if (fresh) {
            e = new_entry(a, &k, hash, now_ns);
            e->rec.dir = (uint8_t)d;
            e->rec.owner = a->ports[ctx->port].domain_id;
            e->slice_start_ns = now_ns;
        }
        if (v.action == AUDIT_DROP) {
            e->state |= FLOW_S_DENIED;
            e->rule_index = 1;
        } else if (v.action == AUDIT_THROTTLE)
            e->state |= FLOW_S_UNADMITTED;
        else if (d == 0)
            admitted(a, e, syn, first_contact, now_ns);
    } else if (e->state & FLOW_S_DENIED) {
        v.action = AUDIT_DROP;
    }

    /* A throttled frame has not gone: the backend holds it and asks again, so it is counted
     * once, when it passes (or is dropped). */
    if (e->rec.packets[0] + e->rec.packets[1] == 0)
        e->rec.start_ns = now_ns;
    if (v.action != AUDIT_THROTTLE) {
        e->rec.packets[d]++;
        e->rec.bytes[d] += len;
    }
    e->rec.tcp_flags[d] |= fl;
    e->rec.end_ns = now_ns;

    if (tcp && v.action == AUDIT_PASS) {
        if (d == 0) {
            uint64_t retry = 0;
            switch (ack_sym_out(&e->ack, &a->cfg.ack, now_ns, &retry)) {
            case ACK_SYM_THROTTLE:
                v.action = AUDIT_THROTTLE;
                v.retry_ns = retry;
                break;
            case ACK_SYM_STARTED:
                emit(a, AUDIT_EV_ACK_THROTTLE, AUDIT_THROTTLE, now_ns, ctx->port, &k, "ack-symmetry",
                     "sent %u packets, %u ACKs back (ratio %.2f, band %.2f-%.2f): one packet per %.3f s", e->ack.out,
                     e->ack.in, e->ack.in ? (double)e->ack.out / e->ack.in : 0.0, a->cfg.ack.low, a->cfg.ack.high,
                     a->cfg.ack.probe_ns / 1e9);
                break;
            case ACK_SYM_RELEASED:
                emit(a, AUDIT_EV_ACK_RELEASE, AUDIT_PASS, now_ns, ctx->port, &k, "ack-symmetry",
                     "sent %u packets, %u ACKs back (ratio %.2f): back in band", e->ack.out, e->ack.in,
                     e->ack.in ? (double)e->ack.out / e->ack.in : 0.0);
                break;
            case ACK_SYM_PASS: break;
            }
        } else {
            ack_sym_in(&e->ack, &a->cfg.ack, fl);
        }
    }
    if (tcp) {
        if (d == 1 && (fl & (NET_TCP_SYN | NET_TCP_ACK)) == (NET_TCP_SYN | NET_TCP_ACK)) {
            e->state |= FLOW_S_SYNACK_IN;
            half_open_done(a, e, now_ns);
            trw_outcome(a, e, true, now_ns);
        }
        if (fl & NET_TCP_RST) {
            e->state |= FLOW_S_RST;
            half_open_done(a, e, now_ns);
            if (d == 1)
                trw_outcome(a, e, false, now_ns);
        }
        if (fl & NET_TCP_FIN)
            e->state |= d == 0 ? FLOW_S_FIN_OUT : FLOW_S_FIN_IN;
    }
    if (d == 1)
        e->state |= FLOW_S_ANY_IN;
    if (v.action == AUDIT_DROP) {
        e->rec.flags |= FLOW_F_DROPPED;
        a->st.dropped++;
    } else if (v.action == AUDIT_THROTTLE) {
        e->rec.flags |= FLOW_F_THROTTLED;
        a->st.throttled++;
    }
    if (a->cap)
        capture(a, ctx, frame, len, now_ns, v);
    return v;
}

static uint64_t idle_timeout(const struct audit *a, const struct flow_entry *e)
{
    switch (e->rec.key.proto) {
    case NET_IPPROTO_TCP:
        if ((e->state & FLOW_S_RST) ||
            (e->state & (FLOW_S_FIN_OUT | FLOW_S_FIN_IN)) == (FLOW_S_FIN_OUT | FLOW_S_FIN_IN))
            return a->cfg.tcp_closed_ns;
        if ((e->state & FLOW_S_SYN_OUT) && !(e->state & FLOW_S_SYNACK_IN))
            return a->cfg.tcp_syn_ns;
        return a->cfg.tcp_idle_ns;
    case NET_IPPROTO_UDP: return a->cfg.udp_idle_ns;
    case NET_IPPROTO_ICMP:
    case NET_IPPROTO_ICMPV6: return a->cfg.icmp_idle_ns;
    default: return a->cfg.other_idle_ns;
    }
}

int audit_tick(struct audit *a, uint64_t now)
{
    uint64_t errors = a->st.log_errors;
    for (uint32_t i = 0; i < a->ft.capacity; i++) {
        struct flow_entry *e = &a->ft.entries[i];
        if (!e->in_use)
            continue;
        /* A clock that stepped back (or a caller's stale time) must not expire anything. */
        if (now < e->rec.end_ns || now < e->slice_start_ns)
            continue;
        if ((e->state & FLOW_S_TRW_PENDING) && now - e->rec.start_ns >= a->cfg.trw.timeout_ns)
            trw_outcome(a, e, false, now);
        if (now - e->rec.end_ns >= idle_timeout(a, e)) {
            bool closed = e->state & (FLOW_S_RST | FLOW_S_FIN_OUT | FLOW_S_FIN_IN);
            audit_flow_end(a, e, closed && e->rec.key.proto == NET_IPPROTO_TCP ? FLOW_END_TCP : FLOW_END_IDLE, now);
        } else if (now - e->slice_start_ns >= a->cfg.active_ns) {
            /* A long-lived flow is logged in slices so the log is never far behind. */
            struct flow_record r = e->rec;
            r.end_reason = FLOW_END_ACTIVE;
            write_record(a, &r, now);
            memset(e->rec.packets, 0, sizeof(e->rec.packets));
            memset(e->rec.bytes, 0, sizeof(e->rec.bytes));
            memset(e->rec.tcp_flags, 0, sizeof(e->rec.tcp_flags));
            e->rec.flags = 0;
            e->slice_start_ns = now;
        }
    }
    if (a->log && flowlog_pending(a->log) && now >= a->log_oldest_ns &&
        now - a->log_oldest_ns >= a->cfg.block_max_age_ns && flowlog_flush(a->log) < 0)
        log_error(a, now, "flow-log");
    if (a->ipfix && ipfix_flush(a->ipfix, now) < 0)
        log_error(a, now, "ipfix");
    if (a->st.log_errors != errors) {
        return err_wrap(EIO, "audit");
    }
    return 0;
}

static int end_all(struct audit *a, uint64_t now)
{
    for (uint32_t i = 0; i < a->ft.capacity; i++) {
        struct flow_entry *e = &a->ft.entries[i];
        if (e->in_use)
            audit_flow_end(a, e, FLOW_END_SHUTDOWN, now);
    }
    if (a->ipfix && ipfix_flush(a->ipfix, now) < 0) {
        log_error(a, now, "ipfix");
        return -EIO;
    }
    return 0;
}

int audit_flush(struct audit *a, uint64_t now)
{
    int rc = end_all(a, now);
    if (a->log && flowlog_flush(a->log) < 0) {
        log_error(a, now, "flow-log");
        rc = -EIO;
    }
    return rc;
}

int audit_destroy(struct audit *a, uint64_t now_ns)
{
    if (!a)
        return 0;
    /* flowlog_close writes the last block itself, so that it is sealed. */
    int rc = end_all(a, now_ns);
    if (a->log && flowlog_close(a->log) < 0 && rc == 0)
        rc = -EIO;
    ipfix_close(a->ipfix);
    if (a->cap && pcapng_close(a->cap) < 0 && rc == 0)
        rc = -EIO;
    audit_rules_free(&a->rules);
    trw_seen_free(&a->seen);
    flow_table_free(&a->ft);
    free(a->ports);
    free(a->domains);
    free(a->sponsors);
    free(a);
    return rc;
}
