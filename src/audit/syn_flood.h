/* SYN flood detection per domain: the number of connections it opened that the far end has
 * not answered yet (half-open: SYN sent, no SYN+ACK or RST back). A client has a handful at a
 * time; a domain flooding a victim, or hammering a dead service, piles them up. Above
 * `high` the domain's new connections are paced (one per interval) until the count falls to `low`, as answers arrive or
 * the half-open entries time out. Its existing connections are untouched. Complements the scan detector, which looks at
 * distinct destinations and so misses a flood aimed at one. */
#ifndef XENO_AUDIT_SYN_FLOOD_H
#define XENO_AUDIT_SYN_FLOOD_H

#include <stdbool.h>
#include <stdint.h>

struct synflood_params {
    uint32_t high;        /* half-open connections that start pacing (default 64) */
    uint32_t low;         /* ... and that end it (default 16) */
    uint64_t interval_ns; /* while pacing: one new connection per this (default 100 ms) */
};

struct synflood_state {
    uint32_t half_open;
    uint32_t peak; /* highest count during the current flood, for events */
    bool flooding;
    uint64_t next_ns;
};

enum synflood_change { SYNFLOOD_NO_CHANGE, SYNFLOOD_STARTED, SYNFLOOD_ENDED };

void synflood_defaults(struct synflood_params *p);
/* A new connection may open now? (always, unless the domain is flooding) */
bool synflood_admit(struct synflood_state *s, const struct synflood_params *p, uint64_t now_ns, uint64_t *retry_ns);
enum synflood_change synflood_opened(struct synflood_state *s, const struct synflood_params *p);
/* A half-open connection was answered, refused or forgotten. */
enum synflood_change synflood_closed(struct synflood_state *s, const struct synflood_params *p);

#endif
