/* xenod's side of the host's network backend, xeno-netback (docs/netback.md): it keeps one
 * running, restarts it when it dies or hangs, and talks to it for the registry.
 *
 * The backend is a driver outside the monitors (the brief's "restricted environment"): if it
 * crashes, or its heartbeat stops moving (a hang: the watchdog), xenod kills it and starts a
 * new one on the same state directory. The new one reads its ports file, reconnects to
 * every monitor and resumes the rings from the in-flight regions the monitors kept, so
 * guests do not notice. Like the monitors, it outlives xenod: a restarted xenod finds it by
 * its pid file (checked against /proc/PID/cmdline) and supervises it again.
 *
 * One thread watches the process (pidfd) and the heartbeat (the stats page); requests
 * (port-add, port-del, port-qos) are one line each on a fresh control-socket connection. */
#ifndef XENO_DAEMON_NETBACK_SUP_H
#define XENO_DAEMON_NETBACK_SUP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/netback_stats.h" /* struct nb_stats_port */

struct netback_sup;

struct netback_sup_opts {
    const char *path;      /* the xeno-netback program */
    const char *state_dir; /* its --state-dir */
    const char *uplink;    /* --uplink-tap NAME, or NULL */
    uint64_t capacity_kib; /* --uplink-capacity (KiB/s), 0: none */
    unsigned watchdog_ms;  /* a heartbeat older than this is a hang (0: 3000) */
    /* The network audit (docs/audit.md): on, and its rules, seal key and IPFIX collector
     * (each NULL: none). The flow log is STATE_DIR/flows.log. */
    int audit;
    const char *audit_rules, *audit_key, *ipfix;
    uint32_t audit_flow_quota; /* --audit-flow-quota N; 0: the backend's default */
    /* Called (from the supervising thread, no lock held) for each thing worth an event:
     * kind "netback-started", "netback-died", "netback-hung", "netback-restart-failed". */
    void (*on_event)(void *ctx, const char *kind, const char *detail);
    /* Called (same thread) with each audit event line the backend wrote:
     * "domain=NAME sponsor=SPONSOR kind=KIND action=ACTION EVIDENCE..." (docs/netback.md). */
    void (*on_audit)(void *ctx, const char *line);
    void *ctx;
};

/* Starts (or re-attaches to) the backend and its supervising thread. */
int netback_sup_open(struct netback_sup **out, const struct netback_sup_opts *o);
/* Stops supervising; the backend keeps running (the next xenod attaches to it). */
void netback_sup_close(struct netback_sup *s);
/* One request line (without newline); 0 for an "ok ..." reply (copied to reply), else
 * -EIO with the backend's "err ..." text, or the connection's errno, as the message. Waits
 * up to timeout_ms, also for a backend that is being restarted. */
int netback_sup_request(struct netback_sup *s, const char *line, char *reply, size_t size, int timeout_ms);
/* A consistent copy of the backend's whole stats page (nports clamped to NB_STATS_MAX_PORTS;
 * about 100 KiB: allocate it); -ENOENT while there is none. */
int netback_sup_read_stats(struct netback_sup *s, struct nb_stats_page *pg);
/* A consistent copy of one port's counters; -ENOENT if the backend has no such port. */
int netback_sup_port_stats(struct netback_sup *s, const char *port, struct nb_stats_port *out);
/* The backend's pid (0 while none runs) and how many times it was restarted. */
void netback_sup_status(struct netback_sup *s, int *pid, uint64_t *restarts);

#endif
