/* GET /v1/events?follow=1: the event history as it grows, as Server-Sent Events
 * (docs/api.md "Live events"), scoped to what the principal may see.
 *
 * A stream is a cursor (the last event ID sent) over the store's events table, woken by the
 * registry's event_added condition: nothing is queued per client but the one batch being
 * written (at most API_EVENTS_BATCH events), so a client that never reads costs one batch and
 * its socket buffers, and is dropped once nothing could be written for API_EVENTS_TIMEOUT_S.
 * On the unix socket (a thread per connection) the reader waits in place, up to a second at a
 * time; on the TCP listener (a small epoll pool) a stream with nothing to send is suspended
 * and the hub's pump thread resumes it when an event arrives or a heartbeat is due, so a
 * stream never holds a pool thread.
 * A stream lives no longer than its token: revoked or expired, it gets a last "end" event
 * saying which and closes, within a second (the pump looks at every suspended stream's token
 * each second and at once after a revocation; a reader waiting in place wakes each second).
 * Threads: streams run on libmicrohttpd's threads; the hub's lock guards its list and is never
 * held with the registry's lock. */
#ifndef XENO_DAEMON_API_EVENTS_H
#define XENO_DAEMON_API_EVENTS_H

#include <microhttpd.h>

#include "daemon/auth.h"

#define API_EVENTS_BATCH 64       /* events read from the store per refill */
#define API_EVENTS_HEARTBEAT_S 15 /* a ": keepalive" comment after this long without an event */
#define API_EVENTS_TIMEOUT_S 45   /* no byte written for this long: the client is dropped */

struct api_server;
struct registry;
struct reg_domain;
struct events_hub;

/* The hub of the suspendable (TCP) streams: its pump thread runs until events_hub_stop().
 * auth: where the streams' tokens are looked at again (revoked or expired: the stream ends). */
int events_hub_start(struct events_hub **out, struct registry *r, struct auth *auth);
/* Wakes the pump and every stream waiting in place at once: after a token was revoked, so
 * that its streams end now rather than at the next second's check. */
void events_hub_wake(struct events_hub *h);
/* Resumes every suspended stream, ends them all and joins the pump: before MHD_stop_daemon of
 * the listener the streams run on. Also ends the unix socket's streams (within a second). */
void events_hub_stop(struct events_hub *h);
/* After the listeners stopped (their streams are freed by then). */
void events_hub_free(struct events_hub *h);

/* Answers a follow request: the stream for principal p, of one domain (d, may be NULL: all
 * that p may see), starting after the event ID in Last-Event-ID or ?since= (default: the newest
 * now). suspendable: the listener allows suspend/resume (else the reader waits in place). */
enum MHD_Result events_follow(struct events_hub *hub, int suspendable, struct registry *r, const struct principal *p,
                              struct reg_domain *d, struct MHD_Connection *c);

#endif
