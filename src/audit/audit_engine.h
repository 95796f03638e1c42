/* Private to the audit engine (src/audit/audit*.c): the engine's state and the one step the
 * set-up half (audit_setup.c: configuration, ports, rules, capture, stats) borrows from the
 * packet half (audit.c: frames, flows, ticks, the end of flows). Like struct audit itself,
 * one thread at a time (audit.h). */
#ifndef XENO_AUDIT_AUDIT_ENGINE_H
#define XENO_AUDIT_AUDIT_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "audit/flow_table.h"
#include "audit/flowlog.h"
#include "audit/ipfix.h"
#include "audit/pcapng.h"
#include "audit/rules.h"

#define NS 1000000000ull

struct audit_domain {
    char name[AUDIT_NAME_MAX + 1];
    uint32_t refs;
    struct trw_state trw;
    struct synflood_state syn;
};

struct audit_sponsor {
    char name[AUDIT_NAME_MAX + 1];
    uint32_t refs;
};

struct audit_port {
    bool bound;
    uint32_t domain_id, sponsor_id;
};

struct audit {
    struct audit_config cfg;
    struct flow_table ft;
    uint32_t max;
    struct audit_port *ports;
    struct audit_domain *domains;
    struct audit_sponsor *sponsors;
    struct audit_ruleset rules;
    char rules_name[128];
    struct trw_seen seen;
    struct flowlog_writer *log;
    uint64_t log_oldest_ns; /* when the log's pending block got its first record */
    struct ipfix_exporter *ipfix;
    struct pcapng_writer *cap;
    char cap_domain[AUDIT_NAME_MAX + 1], cap_sponsor[AUDIT_NAME_MAX + 1]; /* "" : any */
    struct audit_stats st;
};

/* Ends flow e for `why`: its record goes to the log and the export, and it leaves the table. */
void audit_flow_end(struct audit *a, struct flow_entry *e, enum flow_end_reason why, uint64_t now);

#endif
