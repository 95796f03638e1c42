/* STATE_DIR/audit-events: every audit engine event (docs/audit.md) as one line that xenod tails
 * into its event stream (docs/netback.md, "Audit"):
 *
 *   domain=NAME sponsor=SPONSOR kind=KIND action=ACTION [flow="..."] source="..." evidence="..."
 *
 * The prefix order is a contract with xenod. Lines are written with one write() on an O_APPEND
 * fd, so a reader never sees half a line; bytes below 0x20 or at 0x7f become '?', so a line has
 * no newline inside. Size is bounded by rotation: once the file would pass its limit it is
 * renamed to audit-events.1 (replacing the previous one) and a new one begins; a reader follows
 * the name (as `tail -F`). */
#ifndef XENO_NET_AUDIT_EVENTS_H
#define XENO_NET_AUDIT_EVENTS_H

#include <stdint.h>

#include "audit/audit.h"

#define AUDIT_EVENTS_FILE "audit-events"
#define AUDIT_EVENTS_OLD "audit-events.1"
#define AUDIT_EVENTS_MAX_BYTES (4u << 20) /* per file: at most twice this on disk */
#define AUDIT_EVENTS_LINE_MAX 1024

struct nb_audit_events {
    int dirfd; /* the state directory */
    int fd;
    uint64_t size, max_bytes;
    uint64_t lines, rotations, errors;
};

/* Opens (appends to) AUDIT_EVENTS_FILE under dirfd. max_bytes 0: AUDIT_EVENTS_MAX_BYTES. */
int audit_events_open(struct nb_audit_events *e, int dirfd, uint64_t max_bytes);
void audit_events_close(struct nb_audit_events *e);
/* Formats one event as its line (with '\n'); returns the length. */
size_t audit_events_format(const struct audit_event *ev, char *buf, size_t size);
/* The engine's event callback (opaque: struct nb_audit_events). */
void audit_events_append(void *opaque, const struct audit_event *ev);

#endif
