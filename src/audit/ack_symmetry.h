/* ACK symmetry per TCP connection, after MULTOPS (Gil and Poletto, 2001): a connection whose
 * domain sends far more packets than ACKs come back (a flood, or a stream to a peer that does
 * not answer) is out of proportion. Past a minimum sample, when sent / ACKs received exceeds
 * the band's upper edge (2.5), the domain's direction is throttled: one probe packet per
 * probe interval goes through, so the peer can answer; the connection is released as soon as
 * the ratio is back within the band. The lower edge (0.66) is not enforced: a domain that
 * downloads sends one ACK per two segments (ratio 0.5) and has done nothing wrong; the
 * remote's share is its own network's business.
 *
 * The counts decay (both halved once their sum reaches 8 x the minimum sample) so the ratio
 * describes the recent past, not the connection's whole life. */
#ifndef XENO_AUDIT_ACK_SYMMETRY_H
#define XENO_AUDIT_ACK_SYMMETRY_H

#include <stdbool.h>
#include <stdint.h>

struct ack_sym_params {
    uint32_t min_sample; /* packets both ways before any verdict (default 32) */
    double high;         /* sent / ACKs received above this: throttle (default 2.5) */
    double low;          /* the band's lower edge, reported in evidence only (default 0.66) */
    uint64_t probe_ns;   /* while throttled, one packet per this (default 100 ms) */
};

struct ack_sym_state {
    uint32_t out, in;
    uint64_t next_probe_ns;
    bool throttled;
};

enum ack_sym_verdict {
    ACK_SYM_PASS,
    ACK_SYM_THROTTLE, /* hold the packet until *retry_ns */
    ACK_SYM_STARTED,  /* pass this one; the connection is now throttled */
    ACK_SYM_RELEASED, /* pass; the connection was throttled and is back in band */
};

void ack_sym_defaults(struct ack_sym_params *p);
/* The domain wants to send a packet on the connection. */
enum ack_sym_verdict ack_sym_out(struct ack_sym_state *s, const struct ack_sym_params *p, uint64_t now_ns,
                                 uint64_t *retry_ns);
/* The remote sent a packet with these TCP flags. */
void ack_sym_in(struct ack_sym_state *s, const struct ack_sym_params *p, uint8_t tcp_flags);

#endif
