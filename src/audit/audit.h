/* The network audit engine (docs/audit.md): called by xeno-netback for every frame a domain
 * sends or receives, it keeps the flow table, applies the rules (docs/audit-rules.md) and the
 * detectors (ACK symmetry, scan detection by TRW, SYN flood), says what to do with the frame,
 * reports every action as an event, and writes ended flows to the flow log
 * (docs/flowlog-format.md) and optionally to an IPFIX collector.
 *
 * Single-threaded: one thread (the backend's datapath) calls every function of one engine.
 * Memory is fixed at audit_create; audit_frame never allocates.
 * Times are nanoseconds since the epoch (CLOCK_REALTIME): they end up in the log. */
#ifndef XENO_AUDIT_AUDIT_H
#define XENO_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/ack_symmetry.h"
#include "audit/flow_record.h"
#include "audit/scan_trw.h"
#include "audit/syn_flood.h"

#define AUDIT_NAME_MAX 255

enum audit_dir {
    AUDIT_DIR_OUT = 0, /* sent by the domain */
    AUDIT_DIR_IN = 1,  /* delivered to the domain */
};

/* Who the frame belongs to: the backend's port (bound to a domain with audit_port_bind). */
struct audit_ctx {
    uint32_t port;
    enum audit_dir dir;
};

enum audit_action {
    AUDIT_PASS = 0,
    AUDIT_DROP,
    AUDIT_THROTTLE, /* hold the frame (or drop it and let the sender retry) until retry_ns */
};

struct audit_verdict {
    enum audit_action action;
    uint64_t retry_ns;
};

enum audit_event_kind {
    AUDIT_EV_RULE,         /* a rule dropped, throttled or logged a new flow */
    AUDIT_EV_ACK_THROTTLE, /* a connection went out of the ACK symmetry band */
    AUDIT_EV_ACK_RELEASE,
    AUDIT_EV_SCAN, /* TRW decided: scanner */
    AUDIT_EV_SCAN_RELEASE,
    AUDIT_EV_SYN_FLOOD,
    AUDIT_EV_SYN_FLOOD_END,
    AUDIT_EV_LOG_ERROR, /* the flow log or the IPFIX export failed */
    AUDIT_EV__COUNT
};

struct audit_event {
    enum audit_event_kind kind;
    enum audit_action action; /* what was done to the frame that caused it */
    uint64_t time_ns;
    uint32_t port;
    const char *domain, *sponsor; /* "" for engine-wide events */
    const char *source;           /* "rule 2 (rules.conf:3): limit tcp dport 25 ...", "ack-symmetry", ... */
    struct flow_key flow;         /* the flow concerned (zero for engine-wide events) */
    char evidence[200];           /* the numbers behind the decision */
};

/* Called synchronously from audit_frame / audit_tick; must not call back into the engine. */
typedef void (*audit_event_fn)(void *opaque, const struct audit_event *ev);

const char *audit_event_kind_name(enum audit_event_kind k);
/* One line for a log or the daemon's event detail: "KIND ACTION domain=D sponsor=S
 * flow=PROTO LOCAL -> REMOTE source=\"...\" evidence=\"...\"" (the flow only when there is one).
 * Returns buf. */
const char *audit_event_format(const struct audit_event *ev, char *buf, size_t size);
/* The part after the names: "[flow=\"PROTO LOCAL -> REMOTE\" ]source=\"...\" evidence=\"...\"".
 * Returns buf. */
const char *audit_event_detail(const struct audit_event *ev, char *buf, size_t size);
const char *audit_action_name(enum audit_action a);

struct audit_config {
    uint32_t flow_capacity;      /* flows tracked at once (0: 65536) */
    uint32_t flow_quota;         /* flows one domain may hold at once (0: flow_capacity / 8); a
                                    domain at its quota ends its own least recently seen of its
                                    oldest flows to open another, never another domain's */
    uint32_t max_ports;          /* port ids are below this (0: 1024); also the domain/sponsor limit */
    const char *log_path;        /* flow log, or NULL for none */
    const char *key_path;        /* HMAC key file for seals, or NULL */
    uint32_t block_records;      /* 0: 4096 */
    uint64_t block_max_age_ns;   /* a block is written at the latest this long after its first
                                    record (0: 10 s) */
    unsigned seal_every;         /* 0: every block */
    bool log_sync;               /* fdatasync after every block */
    const char *ipfix_collector; /* "HOST:PORT", or NULL */
    /* idle timeouts (0: the defaults of docs/audit.md) */
    uint64_t tcp_idle_ns, tcp_syn_ns, tcp_closed_ns, udp_idle_ns, icmp_idle_ns, other_idle_ns, active_ns;
    struct ack_sym_params ack;       /* zeroed: defaults */
    struct trw_params trw;           /* zeroed: defaults */
    struct synflood_params synflood; /* zeroed: defaults */
    audit_event_fn event_fn;
    void *event_opaque;
};

struct audit_stats {
    uint64_t frames, bytes, not_ip, malformed, unbound;
    uint64_t flows_created, flows_ended, flows_evicted, flows_logged;
    uint64_t flows_over_quota; /* flows ended (as evicted) for a domain at its flow quota */
    uint64_t dropped, throttled;
    uint64_t events[AUDIT_EV__COUNT];
    uint64_t log_errors;
    uint64_t captured;
};

struct audit;

int audit_create(const struct audit_config *cfg, struct audit **out);
/* Ends every flow (FLOW_END_SHUTDOWN), writes and seals the log, frees. */
int audit_destroy(struct audit *a, uint64_t now_ns);

/* Names the domain and sponsor behind a port (names of 1..AUDIT_NAME_MAX printable bytes).
 * Rebinding a port ends its flows first. */
int audit_port_bind(struct audit *a, uint32_t port, const char *domain, const char *sponsor, uint64_t now_ns);
int audit_port_unbind(struct audit *a, uint32_t port, uint64_t now_ns);

/* Replaces the rule set. On any error the old set stays in force and the message says
 * FILE:LINE:COL what is wrong. Rate-limit state starts afresh. */
int audit_load_rules(struct audit *a, const char *path);
int audit_load_rules_text(struct audit *a, const char *text, const char *name);

/* The hot path: one frame, in either direction. */
struct audit_verdict audit_frame(struct audit *a, const struct audit_ctx *ctx, const uint8_t *frame, size_t len,
                                 uint64_t now_ns);
/* The same for a frame the caller has parsed already with net_eth_parse (the switch's
 * net_route.frame): saves the second parse. f->data and f->len are the frame. */
struct net_frame;
struct audit_verdict audit_frame_parsed(struct audit *a, const struct audit_ctx *ctx, const struct net_frame *f,
                                        uint64_t now_ns);

/* Expires flows, resolves scan-detector timeouts, writes due log blocks and IPFIX messages.
 * Call about once a second. Returns 0 or the first log error (also reported as an event). */
int audit_tick(struct audit *a, uint64_t now_ns);

/* Ends every flow now and writes the log's pending block (for tests, rotation, shutdown). */
int audit_flush(struct audit *a, uint64_t now_ns);

/* Captures every IP frame of the selected traffic (a domain's, a sponsor's, or with both NULL
 * all) into a new pcap-ng file for tshark, frames cut at snaplen (0: 256), each with a
 * comment naming domain, sponsor, direction and verdict. One capture at a time. */
int audit_capture_start(struct audit *a, const char *path, const char *domain, const char *sponsor, uint32_t snaplen);
int audit_capture_stop(struct audit *a);

void audit_get_stats(const struct audit *a, struct audit_stats *out);
uint32_t audit_flow_count(const struct audit *a);
/* The flow quota in force (the configured one, or the default it became). */
uint32_t audit_flow_quota(const struct audit *a);

#endif
