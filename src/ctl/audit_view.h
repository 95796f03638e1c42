/* `xenctl audit`'s pure pieces: parsing its time and address options and formatting a flow
 * record as a text line or a JSON object (tests/unit/test_ctl_audit.c). */
#ifndef XENO_CTL_AUDIT_VIEW_H
#define XENO_CTL_AUDIT_VIEW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/flowlog.h"

/* "1764144000", "1764144000.25" (seconds since the epoch) or "2026-11-26T08:00:00Z" (UTC,
 * optional .fraction) into ns since the epoch. 0 or -EINVAL with a message. */
int ctl_audit_parse_time(const char *text, uint64_t *ns);
/* An IPv4 or IPv6 address (family 4 or 6; IPv4 in the first 4 bytes). */
int ctl_audit_parse_addr(const char *text, uint8_t *family, uint8_t addr[16]);
/* One line: start, duration, protocol, source -> destination, packets and bytes each way,
 * TCP flags, domain, sponsor, why it ended. */
void ctl_audit_format_flow(const struct flowlog_entry *e, char *buf, size_t size);
json_t *ctl_audit_flow_json(const struct flowlog_entry *e);

#endif
