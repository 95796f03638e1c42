#include "audit/rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define TOK_MAX 24

struct tok {
    const char *s;
    size_t len;
    unsigned col;
};

struct line_ctx {
    const char *name;
    unsigned line;
    struct tok t[TOK_MAX];
    unsigned n, i;
    unsigned end_col; /* where "end of line" is, for messages */
};

static int fail_at(const struct line_ctx *c, unsigned col, const char *what, const struct tok *got)
{
    if (got)
        return err_set(EINVAL, "%s:%u:%u: expected %s, got '%.*s'", c->name, c->line, col, what, (int)got->len, got->s);
    return err_set(EINVAL, "%s:%u:%u: expected %s, got end of line", c->name, c->line, col, what);
}

static const struct tok *peek(struct line_ctx *c)
{
    return c->i < c->n ? &c->t[c->i] : NULL;
}

static bool tok_is(const struct tok *t, const char *word)
{
    return t && t->len == strlen(word) && strncmp(t->s, word, t->len) == 0;
}

static bool accept(struct line_ctx *c, const char *word)
{
    if (tok_is(peek(c), word)) {
        c->i++;
        return true;
    }
    return false;
}

static unsigned here(const struct line_ctx *c)
{
    return c->i < c->n ? c->t[c->i].col : c->end_col;
}

/* A decimal number in [lo, hi] filling the whole of s[0..len). */
static bool number(const char *s, size_t len, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (len == 0 || len > 12)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int parse_ports(struct line_ctx *c, struct audit_rule *r)
{
    const struct tok *t = peek(c);
    if (!t)
        return fail_at(c, here(c), "a port or range after 'dport' (25, 6000-6100)", NULL);
    const char *dash = memchr(t->s, '-', t->len);
    uint64_t lo, hi;
    bool ok = dash ? number(t->s, (size_t)(dash - t->s), 0, 65535, &lo) &&
                         number(dash + 1, t->len - (size_t)(dash - t->s) - 1, 0, 65535, &hi) && lo <= hi
                   : number(t->s, t->len, 0, 65535, &lo);
    if (!ok)
        return fail_at(c, t->col, "a port 0-65535 or a range LO-HI", t);
    r->dport_lo = (uint16_t)lo;
    r->dport_hi = (uint16_t)(dash ? hi : lo);
    c->i++;
    return 0;
}

static int parse_cidr(struct line_ctx *c, struct audit_rule *r)
{
    const struct tok *t = peek(c);
    if (!t)
        return fail_at(c, here(c), "an IPv4 address or prefix after 'dst' (192.0.2.0/24)", NULL);
    char buf[32];
    if (t->len >= sizeof(buf))
        return fail_at(c, t->col, "an IPv4 address or prefix", t);
    memcpy(buf, t->s, t->len);
    buf[t->len] = 0;
    unsigned a, b, cc, d, plen = 32;
    int used = 0;
    char tail;
    int got = sscanf(buf, "%u.%u.%u.%u%n", &a, &b, &cc, &d, &used);
    bool ok = got == 4 && a < 256 && b < 256 && cc < 256 && d < 256;
    if (ok && buf[used] == '/') {
        uint64_t p;
        ok = number(buf + used + 1, strlen(buf + used + 1), 0, 32, &p);
        plen = (unsigned)p;
    } else if (ok && sscanf(buf + used, "%c", &tail) == 1)
        ok = false;
    if (!ok)
        return fail_at(c, t->col, "an IPv4 address or prefix (192.0.2.0/24)", t);
    r->has_dst = true;
    r->dst_mask = plen ? 0xffffffffu << (32 - plen) : 0;
    r->dst_net = (a << 24 | b << 16 | cc << 8 | d) & r->dst_mask;
    c->i++;
    return 0;
}

/* N/PERIOD: "1/10s", "100/s", "5/m", "30/2h", "10/500ms". */
static int parse_rate(struct line_ctx *c, struct audit_rule *r, uint64_t *count)
{
    const struct tok *t = peek(c);
    const char *what = "a rate COUNT/PERIOD (1/10s, 100/s, 5/m)";
    if (!t)
        return fail_at(c, here(c), what, NULL);
    const char *slash = memchr(t->s, '/', t->len);
    if (!slash || !number(t->s, (size_t)(slash - t->s), 1, 1000000000, count))
        return fail_at(c, t->col, what, t);
    const char *p = slash + 1, *end = t->s + t->len;
    const char *u = p;
    while (u < end && isdigit((unsigned char)*u))
        u++;
    uint64_t mult = 1, unit;
    if (u > p && !number(p, (size_t)(u - p), 1, 1000000, &mult))
        return fail_at(c, t->col, what, t);
    size_t ul = (size_t)(end - u);
    if (ul == 1 && *u == 's')
        unit = 1000000000ull;
    else if (ul == 2 && strncmp(u, "ms", 2) == 0)
        unit = 1000000ull;
    else if (ul == 1 && *u == 'm')
        unit = 60000000000ull;
    else if (ul == 1 && *u == 'h')
        unit = 3600000000000ull;
    else
        return fail_at(c, t->col + (unsigned)(u - t->s), "a time unit ms, s, m or h", t);
    r->interval_ns = mult * unit / *count;
    if (r->interval_ns == 0)
        return fail_at(c, t->col, "a rate of at most one per nanosecond", t);
    c->i++;
    return 0;
}

static int parse_action(struct line_ctx *c, struct audit_rule *r)
{
    if (!accept(c, "action"))
        return 0;
    const struct tok *t = peek(c);
    if (tok_is(t, "drop"))
        r->action = AUDIT_RULE_DROP;
    else if (tok_is(t, "throttle"))
        r->action = AUDIT_RULE_THROTTLE;
    else if (tok_is(t, "log"))
        r->action = AUDIT_RULE_LOG_ONLY;
    else
        return fail_at(c, here(c), "an action: drop, throttle or log", t);
    c->i++;
    return 0;
}

static int parse_line(struct line_ctx *c, struct audit_rule *r)
{
    memset(r, 0, sizeof(*r));
    r->dport_hi = 65535;
    r->line = c->line;
    const struct tok *t = peek(c);
    if (accept(c, "deny"))
        r->kind = AUDIT_RULE_DENY;
    else if (accept(c, "limit"))
        r->kind = AUDIT_RULE_LIMIT;
    else if (accept(c, "log"))
        r->kind = AUDIT_RULE_LOG;
    else
        return fail_at(c, t->col, "a rule: deny, limit or log", t);
    r->action = r->kind == AUDIT_RULE_LOG ? AUDIT_RULE_LOG_ONLY : AUDIT_RULE_DROP;

    if (accept(c, "tcp"))
        r->proto = 6;
    else if (accept(c, "udp"))
        r->proto = 17;
    else if (accept(c, "icmp"))
        r->proto = 1;
    else
        accept(c, "any");
    for (;;) {
        if (accept(c, "dport")) {
            if (r->proto != 6 && r->proto != 17)
                return fail_at(c, c->t[c->i - 1].col, "'tcp' or 'udp' before 'dport'", &c->t[c->i - 1]);
            if (parse_ports(c, r) < 0)
                return -EINVAL;
        } else if (accept(c, "dst")) {
            if (parse_cidr(c, r) < 0)
                return -EINVAL;
        } else
            break;
    }
    if (r->kind == AUDIT_RULE_LIMIT) {
        uint64_t count, burst;
        if (!accept(c, "new"))
            return fail_at(c, here(c), "'new' (limit ... new RATE per sponsor|domain)", peek(c));
        if (parse_rate(c, r, &count) < 0)
            return -EINVAL;
        if (!accept(c, "per"))
            return fail_at(c, here(c), "'per sponsor' or 'per domain'", peek(c));
        if (accept(c, "sponsor"))
            r->key = AUDIT_KEY_SPONSOR;
        else if (accept(c, "domain"))
            r->key = AUDIT_KEY_DOMAIN;
        else
            return fail_at(c, here(c), "'sponsor' or 'domain' (rules are never keyed by address)", peek(c));
        burst = count;
        if (accept(c, "burst")) {
            const struct tok *b = peek(c);
            if (!b || !number(b->s, b->len, 1, 1000000000, &burst))
                return fail_at(c, here(c), "a burst size 1..1000000000", b);
            c->i++;
        }
        r->tolerance_ns = (burst - 1) * r->interval_ns;
    }
    if (r->kind != AUDIT_RULE_LOG && parse_action(c, r) < 0)
        return -EINVAL;
    if (peek(c))
        return fail_at(c, here(c), r->kind == AUDIT_RULE_LOG ? "end of line" : "'action' or end of line", peek(c));
    return 0;
}

int audit_rules_parse(const char *text, const char *name, uint32_t nkeys, struct audit_ruleset *out)
{
    memset(out, 0, sizeof(*out));
    struct audit_rule *rules = calloc(AUDIT_RULES_MAX, sizeof(*rules));
    if (!rules)
        return err_set(ENOMEM, "%s: out of memory", name);
    unsigned n = 0;
    struct line_ctx c = {.name = name};
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        c.line++;
        c.n = c.i = 0;
        const char *q = p;
        for (const char *x = p; x < eol; x++)
            if (!isprint((unsigned char)*x) && *x != '\t' && *x != '\r') {
                free(rules);
                return err_set(EINVAL, "%s:%u:%u: unexpected byte 0x%02x", name, c.line, (unsigned)(x - p) + 1,
                               (unsigned char)*x);
            }
        while (q < eol && *q != '#') {
            if (*q == ' ' || *q == '\t' || *q == '\r') {
                q++;
                continue;
            }
            if (c.n == TOK_MAX) {
                free(rules);
                return err_set(EINVAL, "%s:%u:%u: line has more than %d words", name, c.line, (unsigned)(q - p) + 1,
                               TOK_MAX);
            }
            struct tok *t = &c.t[c.n++];
            t->s = q;
            t->col = (unsigned)(q - p) + 1;
            while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && *q != '#')
                q++;
            t->len = (size_t)(q - t->s);
        }
        c.end_col = (unsigned)(q - p) + 1;
        if (c.n > 0) {
            if (n == AUDIT_RULES_MAX) {
                free(rules);
                return err_set(EINVAL, "%s:%u:1: more than %d rules", name, c.line, AUDIT_RULES_MAX);
            }
            if (parse_line(&c, &rules[n]) < 0) {
                free(rules);
                return -EINVAL;
            }
            /* The rule's own words, single-spaced, for events. */
            size_t w = 0;
            for (unsigned i = 0; i < c.n && w + 1 < AUDIT_RULE_TEXT_MAX; i++)
                w += (size_t)snprintf(rules[n].text + w, AUDIT_RULE_TEXT_MAX - w, "%s%.*s", i ? " " : "",
                                      (int)c.t[i].len, c.t[i].s);
            n++;
        }
        p = *eol ? eol + 1 : eol;
    }
    out->rules = rules;
    out->n = n;
    out->nkeys = nkeys;
    out->tat = calloc((size_t)(n ? n : 1) * (nkeys ? nkeys : 1), sizeof(*out->tat));
    if (!out->tat) {
        free(rules);
        memset(out, 0, sizeof(*out));
        return err_set(ENOMEM, "%s: out of memory for rate state", name);
    }
    return 0;
}

void audit_rules_free(struct audit_ruleset *rs)
{
    free(rs->rules);
    free(rs->tat);
    memset(rs, 0, sizeof(*rs));
}

static bool matches(const struct audit_rule *r, const struct audit_rule_match *m)
{
    if (r->proto && r->proto != m->proto && !(r->proto == 1 && m->proto == 58))
        return false;
    if ((r->dport_lo != 0 || r->dport_hi != 65535) && (m->dport < r->dport_lo || m->dport > r->dport_hi))
        return false;
    if (r->has_dst && (!m->ipv4 || (m->dst & r->dst_mask) != r->dst_net))
        return false;
    return true;
}

void audit_rules_check(struct audit_ruleset *rs, const struct audit_rule_match *m, uint64_t now_ns,
                       struct audit_rule_result *res)
{
    res->refused = -1;
    res->retry_ns = 0;
    res->nlogged = 0;
    for (unsigned i = 0; i < rs->n; i++) {
        const struct audit_rule *r = &rs->rules[i];
        if (!matches(r, m))
            continue;
        bool over = true;
        if (r->kind == AUDIT_RULE_LIMIT) {
            uint32_t key = r->key == AUDIT_KEY_SPONSOR ? m->sponsor_id : m->domain_id;
            if (key >= rs->nkeys)
                continue;
            uint64_t *tat = &rs->tat[(size_t)i * rs->nkeys + key];
            uint64_t t = *tat > now_ns ? *tat : now_ns;
            if (t - now_ns <= r->tolerance_ns) {
                *tat = t + r->interval_ns; /* conforming: take the token */
                over = false;
            } else if (r->action == AUDIT_RULE_THROTTLE) {
                res->retry_ns = t - r->tolerance_ns;
            }
        }
        if (r->kind == AUDIT_RULE_LOG || (over && r->action == AUDIT_RULE_LOG_ONLY)) {
            if (res->nlogged < sizeof(res->logged) / sizeof(res->logged[0]))
                res->logged[res->nlogged++] = (uint16_t)i;
            continue;
        }
        if (over) {
            res->refused = (int)i;
            res->action = r->action;
            if (r->kind == AUDIT_RULE_DENY && r->action == AUDIT_RULE_THROTTLE)
                res->retry_ns = now_ns + 1000000000ull; /* a deny never admits: retrying is pointless */
            return;
        }
    }
}
