/* The audit rule language (docs/audit-rules.md): what a domain may open, keyed by sponsor or
 * domain, never by IP address (addresses are per domain and change hands; sponsors pay).
 * Parsing is pure and reports the first error with its line and column. Rate limits are
 * GCRA (a token bucket kept as one "theoretical arrival time" per rule and key), with
 * their state allocated when the set is built, so checking a new flow never allocates. */
#ifndef XENO_AUDIT_RULES_H
#define XENO_AUDIT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#define AUDIT_RULES_MAX 256
#define AUDIT_RULE_TEXT_MAX 120

enum audit_rule_kind { AUDIT_RULE_DENY, AUDIT_RULE_LIMIT, AUDIT_RULE_LOG };
enum audit_rule_action { AUDIT_RULE_DROP, AUDIT_RULE_THROTTLE, AUDIT_RULE_LOG_ONLY };
enum audit_rule_key { AUDIT_KEY_SPONSOR, AUDIT_KEY_DOMAIN };

struct audit_rule {
    enum audit_rule_kind kind;
    enum audit_rule_action action;
    enum audit_rule_key key;
    uint8_t proto; /* 0: any */
    uint16_t dport_lo, dport_hi;
    bool has_dst;
    uint32_t dst_net, dst_mask; /* IPv4, host order */
    uint64_t interval_ns;       /* limit: one new flow per interval on average */
    uint64_t tolerance_ns;      /* limit: (burst - 1) x interval */
    unsigned line;
    char text[AUDIT_RULE_TEXT_MAX]; /* the rule as written, for events */
};

struct audit_ruleset {
    struct audit_rule *rules;
    unsigned n;
    uint32_t nkeys; /* sponsor/domain ids are below this */
    uint64_t *tat;  /* n x nkeys theoretical arrival times */
};

/* What the rules say about one new flow opened by a domain. */
struct audit_rule_match {
    uint8_t proto;
    uint16_t dport;
    bool ipv4;
    uint32_t dst; /* IPv4, host order */
    uint32_t sponsor_id, domain_id;
};

struct audit_rule_result {
    int refused; /* index of the rule that refused (drop or throttle), or -1 */
    enum audit_rule_action action;
    uint64_t retry_ns; /* throttle: when a token will be there */
    /* log rules that matched (and limit rules over with action log), in order */
    unsigned nlogged;
    uint16_t logged[8];
};

/* Parses text (name is for messages, usually the file name). nkeys sizes the rate state.
 * 0, or -EINVAL with "NAME:LINE:COL: what was expected, what was found". */
int audit_rules_parse(const char *text, const char *name, uint32_t nkeys, struct audit_ruleset *out);
void audit_rules_free(struct audit_ruleset *rs);
/* Checks a new flow against every rule in order; a limit rule that lets it through takes a
 * token. */
void audit_rules_check(struct audit_ruleset *rs, const struct audit_rule_match *m, uint64_t now_ns,
                       struct audit_rule_result *res);

#endif
