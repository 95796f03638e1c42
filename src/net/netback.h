/* xeno-netback's core: the ports (one vhost-user connection to a monitor each, plus the tap
 * uplink), the forwarding path through the switch and QoS libraries, and the exactly-once
 * protocol across backend restarts (docs/netback.md). Single-threaded: main.c's loop calls
 * netback_poll_fds / netback_handle / netback_pump; nothing here blocks for long (sockets
 * have timeouts, the tap is non-blocking). */
#ifndef XENO_NET_NETBACK_H
#define XENO_NET_NETBACK_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/audit.h"
#include "net/port_config.h"
#include "net/qos.h"
#include "net/switch.h"
#include "net/inflight.h"
#include "vhost/vu_dev.h"

#define NB_MAX_FRAME 65535u                /* largest frame (without the virtio-net header) */
#define NB_VNET_HDR 12u                    /* virtio-net header with VERSION_1 */
#define NB_RECONNECT_MIN_MS 20u            /* first retry after a failed connect */
#define NB_RECONNECT_MAX_MS 1000u          /* backoff ceiling: a monitor back within a second is found */
#define NB_RECOVERY_WAIT_NS 10000000000ull /* how long a receiver waits for a sender's recovery */
#define NB_SOCKET_TIMEOUT_MS 2000u         /* a whole vhost-user message stalls us at most this */
/* A front end that broke the protocol (a malformed or refused message, one that took longer
 * than NB_SOCKET_TIMEOUT_MS, memory it could shrink) is quarantined: no connection to it for
 * NB_QUARANTINE_MIN_MS, doubling with each violation in a row up to NB_QUARANTINE_MAX_MS. A
 * connection that ran NB_QUARANTINE_FORGIVE_NS without one clears the count. */
#define NB_QUARANTINE_MIN_MS 1000u
#define NB_QUARANTINE_MAX_MS 60000u
#define NB_QUARANTINE_FORGIVE_NS 60000000000ull

struct netback;

struct nb_port {
    struct netback *nb;
    struct port_config cfg;
    unsigned sw; /* the switch's port id */
    struct vu_dev dev;
    struct inflight_map inflight; /* the region of dev's front end, or a private ext */
    int sock;                     /* -1: not connected */
    uint64_t retry_at_ns;
    unsigned backoff_ms;
    uint64_t connects; /* successful connections (the first one included) */
    uint64_t connected_at_ns;
    bool quarantined;     /* waiting out a quarantine (stats: quarantined=1) */
    unsigned strikes;     /* protocol violations in a row (see NB_QUARANTINE_*) */
    uint64_t quarantines; /* how many times this port's front end was quarantined */

    /* TX: the chain taken from the transmit queue and not yet completed. */
    bool tx_held;
    bool tx_uplink;                 /* its frame waits for the uplink scheduler */
    bool tx_recovering;             /* the inflight commit must be resolved first */
    struct inflight_commit recover; /* its private copy, checked (inflight_commit_snapshot) */
    uint64_t tx_recover_deadline;
    uint64_t tx_wait_ns; /* QoS: not before this */
    struct vring_chain tx_chain;
    uint8_t *frame;
    size_t frame_len;
    struct net_route route;
    bool tx_audit_pending; /* the audit engine has not passed the held frame yet */

    /* RX */
    struct vring_chain rx_chain;
    bool rx_held; /* a sender's recovery may still deliver here: no new frames */
    uint64_t rx_hold_deadline;

    uint64_t recovered_resent, recovered_skipped, recovery_timeouts;
};

/* The audit engine in the datapath (docs/audit.md, "In xeno-netback"). */
struct nb_audit {
    struct audit *engine;  /* NULL: audit off */
    char rules_path[4096]; /* "" : none (the control request audit-rules then refuses) */
    uint64_t clock_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC: the engine's times are wall clock */
    uint64_t next_tick_ns;
    uint64_t throttled; /* throttle verdicts (each one holds a TX chain until the retry time) */
};

struct netback {
    struct net_switch *sw;
    struct net_qos *qos;
    struct nb_port *by_sw[NET_SWITCH_MAX_PORTS];
    int tap_fd;
    unsigned uplink_sw;
    uint64_t uplink_kib;
    uint64_t uplink_retry_ns;
    uint64_t grace_until_ns; /* until then, frames for a port not connected yet wait */
    uint64_t next_id;
    bool ports_dirty; /* the ports file needs rewriting */
    uint64_t tap_rx_frames, tap_tx_frames, tap_errors;
    struct nb_audit audit;
    uint8_t tap_buf[NB_VNET_HDR + NB_MAX_FRAME];
    /* poll bookkeeping (netback_poll_fds) */
    struct {
        struct nb_port *port;
        int what;
    } pollmap[3 * NET_SWITCH_MAX_PORTS + 1];
    unsigned pollmap_n, poll_first;
};

uint64_t nb_now_ns(void);

/* --test-crash-at P:N (tests only): end the process the Nth time kill point P is reached. */
extern unsigned nb_test_crash_point;
extern uint64_t nb_test_crash_after;

int netback_init(struct netback *nb, uint64_t uplink_kib);
void netback_fini(struct netback *nb);
/* The uplink: a tap fd (opened non-blocking, IFF_TAP | IFF_NO_PI). */
int netback_set_uplink(struct netback *nb, int tap_fd);

/* Adds a port (cfg->id 0: a new id is given) and starts connecting to its socket. */
int netback_port_add(struct netback *nb, struct port_config *cfg);
int netback_port_del(struct netback *nb, const char *name);
struct nb_port *netback_port_find(struct netback *nb, const char *name);
/* Applies QoS words to a port live. */
int netback_port_qos(struct netback *nb, const char *name, char **words, int n);

/* Appends the pollfds the backend wants watched to fds (room for `max`); returns the count. */
unsigned netback_poll_fds(struct netback *nb, struct pollfd *fds, unsigned max);
/* Handles the revents of the fds netback_poll_fds gave (in the same order). */
void netback_handle(struct netback *nb, const struct pollfd *fds, unsigned n);
/* Moves frames: every port's TX queue, the uplink. Returns frames moved (0: idle), and sets
 * *next_ns to when it wants to run again at the latest (QoS, reconnects, holds). */
unsigned netback_pump(struct netback *nb, uint64_t *next_ns);

/* Puts the engine into the datapath (it then belongs to nb; netback_fini destroys it) and binds
 * every port. rules_path may be NULL. */
int netback_audit_attach(struct netback *nb, struct audit *engine, const char *rules_path);
/* Reloads the rules file (control request audit-rules); on error the old rules stay. */
int netback_audit_reload(struct netback *nb);
/* Ends every flow and writes the log's pending block (control request audit-flush). */
int netback_audit_flush(struct netback *nb);
/* Ends every flow, seals and closes the log (SIGTERM; also done by netback_fini). */
void netback_audit_detach(struct netback *nb);

/* `ports` and `stats` replies (one line each, or several lines for ports): into f. */
void netback_write_ports(struct netback *nb, FILE *f);
void netback_write_stats(struct netback *nb, FILE *f);

#endif
