/* xeno-netback's state directory (--state-dir DIR), everything it keeps on disk:
 *   control.sock  the control socket (control.c)
 *   pid           "PID\n", written atomically once the backend serves
 *   ports         one port per line (port_config.h words, with id), rewritten atomically
 *                 (ports.tmp, fsync, rename) on every change and read at start: a backend
 *                 killed with -9 and started again knows every port by itself
 *   stats         the live counters page (struct nb_stats_page below), with a heartbeat
 *                 that moves at least every 100 ms while the loop turns (a watchdog's input)
 * All access goes through the directory fd opened at start (the sandbox allows no other
 * path). */
#ifndef XENO_NET_STATE_DIR_H
#define XENO_NET_STATE_DIR_H

#include <stdint.h>

#include "net/switch.h"

struct netback;

#define NB_STATS_MAGIC 0x5342454eu /* "NEBS" little-endian */
#define NB_STATS_VERSION 1
#define NB_STATS_MAX_PORTS 256

struct nb_stats_port {
    char name[32];
    char domain[64]; /* port-add's domain= and sponsor=: who the traffic is billed to */
    char sponsor[64];
    uint64_t id;
    uint32_t connected;
    uint32_t pad;
    uint64_t connects;
    /* [enum net_dir]: FROM_PORT = what the domain sent, TO_PORT = what it received */
    uint64_t packets[2];
    uint64_t bytes[2];
    uint64_t drops[2][NET_DROP__COUNT]; /* by enum net_drop_reason */
    uint64_t ring_errors;
    uint64_t recovered_resent, recovered_skipped, recovery_timeouts;
};

/* Sequence lock as in src/lib/stats_page.h: seq odd while the backend writes. */
struct nb_stats_page {
    uint32_t magic;
    uint32_t version;
    volatile uint32_t seq;
    uint32_t pid;
    uint64_t started_ns; /* CLOCK_REALTIME */
    uint64_t updated_ns; /* CLOCK_REALTIME of the last update */
    uint64_t heartbeat;  /* +1 per update */
    uint32_t nports;
    uint32_t pad;
    uint64_t uplink_tx_frames, uplink_rx_frames, uplink_errors;
    struct nb_stats_port ports[NB_STATS_MAX_PORTS];
};

/* Opens (creating 0700) DIR; returns its fd or -errno with a message. */
int state_dir_open(const char *path);
/* Loads `ports` into nb (a missing file is no ports). Lines that fail are logged and skipped. */
int state_dir_load_ports(int dirfd, struct netback *nb);
/* Rewrites `ports` atomically. */
int state_dir_save_ports(int dirfd, struct netback *nb);
int state_dir_write_pid(int dirfd);
/* Creates and maps `stats`. */
int state_dir_map_stats(int dirfd, struct nb_stats_page **out);
void state_dir_update_stats(struct nb_stats_page *page, struct netback *nb);

#endif
