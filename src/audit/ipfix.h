/* IPFIX export (RFC 7011) over UDP: ended flows go to a collector (nfdump's nfcapd, for one)
 * as one data record per direction that carried packets. Two templates, IPv4 (256) and IPv6
 * (257): addresses, ports, protocol, TCP flags, octetDeltaCount, packetDeltaCount,
 * flowStartMilliseconds, flowEndMilliseconds, ingressInterface (the backend port),
 * flowDirection (1: sent by the domain, 0: received) and two enterprise-specific strings,
 * the domain and the sponsor (PEN 32473, the documentation PEN of RFC 5612, until the
 * project has its own). Over UDP templates must be repeated; every message carries them
 * (about 120 bytes) so a collector that starts late or loses a datagram still decodes the
 * next one. */
#ifndef XENO_AUDIT_IPFIX_H
#define XENO_AUDIT_IPFIX_H

#include <stddef.h>
#include <stdint.h>

#include "audit/flow_record.h"

#define IPFIX_PEN 32473u
#define IPFIX_IE_DOMAIN 1
#define IPFIX_IE_SPONSOR 2
#define IPFIX_TEMPLATE_V4 256
#define IPFIX_TEMPLATE_V6 257
#define IPFIX_MAX_MESSAGE 1400 /* fits a 1500-byte MTU with IP and UDP headers */

struct ipfix_exporter;

/* collector: "HOST:PORT" with a numeric IPv4 host, or "[IPv6]:PORT". */
int ipfix_open(const char *collector, uint32_t observation_domain, struct ipfix_exporter **out);
/* Queues a flow's records; sends a message whenever one is full. */
int ipfix_add(struct ipfix_exporter *x, const struct flow_record *r, const char *domain, const char *sponsor,
              uint64_t now_ns);
/* Sends what is queued. */
int ipfix_flush(struct ipfix_exporter *x, uint64_t now_ns);
void ipfix_close(struct ipfix_exporter *x);
uint64_t ipfix_records_sent(const struct ipfix_exporter *x);

#endif
