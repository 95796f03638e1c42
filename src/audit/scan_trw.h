/* Scan detection by Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan, "Fast Portscan
 * Detection Using Sequential Hypothesis Testing", IEEE S&P 2004). Each first contact a domain
 * makes (a TCP connection to a destination it has not contacted recently) is a Bernoulli
 * trial: success if the destination answers (SYN+ACK), failure if it refuses (RST) or stays
 * silent. A benign host succeeds with probability theta0 (0.8), a scanner with theta1 (0.2).
 * The log likelihood ratio moves by ln(theta1/theta0) per success and
 * ln((1-theta1)/(1-theta0)) per failure; crossing ln(P_D/P_F) means "scanner", crossing
 * ln((1-P_D)/(1-P_F)) means "benign" (and the walk restarts). With the paper's values
 * (P_D 0.99, P_F 0.01) four failures in a row decide.
 *
 * A scanner's new destinations are then rate-limited (one per release interval); contacts to
 * destinations it already knows are untouched. It is released when the walk, fed by those
 * admitted contacts, reaches "benign" again. */
#ifndef XENO_AUDIT_SCAN_TRW_H
#define XENO_AUDIT_SCAN_TRW_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/siphash.h"

struct trw_params {
    double theta0, theta1, p_d, p_f;
    uint64_t timeout_ns; /* no answer within this: failure (default 3 s) */
    uint64_t release_ns; /* a detected scanner: one new destination per this (default 1 s) */
};

struct trw_state {
    double llr;
    bool scanner;
    uint32_t failures, successes; /* since the walk last restarted: evidence for events */
    uint64_t next_new_ns;
};

enum trw_change { TRW_NO_CHANGE, TRW_DETECTED, TRW_RELEASED };

void trw_defaults(struct trw_params *p);
/* Feeds one first-contact outcome to the walk. */
enum trw_change trw_observe(struct trw_state *s, const struct trw_params *p, bool success);
/* Whether a first contact may go now (always, unless the domain is a scanner). */
bool trw_admit_new(struct trw_state *s, const struct trw_params *p, uint64_t now_ns, uint64_t *retry_ns);

/* Destinations each domain contacted recently: a fixed-size, 4-way set-associative cache of
 * (domain, address, TCP port) fingerprints. A destination is a service, not a host, so a
 * vertical scan (many ports of one host) is seen as well as a horizontal one. Forgetting an
 * old destination only makes its next contact count as a first contact again. The
 * fingerprint is keyed (SipHash-1-3, random key at init): a domain cannot aim its contacts at
 * the set of another domain's destinations to make it forget them. */
struct trw_seen {
    uint64_t *fp;
    uint32_t sets; /* power of two; 4 ways each */
    uint8_t key[SIPHASH_KEY_LEN];
};

int trw_seen_init(struct trw_seen *s, uint32_t entries);
void trw_seen_free(struct trw_seen *s);
/* Whether (domain, addr, port) is in the cache (a hit refreshes it). */
bool trw_seen_contains(struct trw_seen *s, uint32_t domain_id, const uint8_t addr[16], uint16_t port);
/* Adds (domain, addr, port), forgetting the least recently used of its set. */
void trw_seen_insert(struct trw_seen *s, uint32_t domain_id, const uint8_t addr[16], uint16_t port);

#endif
