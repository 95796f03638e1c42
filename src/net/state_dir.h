/* xeno-netback's state directory (--state-dir DIR), everything it keeps on disk:
 *   control.sock  the control socket (control.c)
 *   pid           "PID\n", written atomically once the backend serves
 *   ports         one port per line (port_config.h words, with id), rewritten atomically
 *                 (ports.tmp, fsync, rename) on every change and read at start: a backend
 *                 killed with -9 and started again knows every port by itself
 *   stats         the live counters page (struct nb_stats_page, proto/netback_stats.h), written when
 *                 counters may have changed (at most every 100 ms) and when asked by SIGUSR2; its
 *                 heartbeat moves with each write (xenod's watchdog asks: main.c)
 * All access goes through the directory fd opened at start (the sandbox allows no other
 * path). */
#ifndef XENO_NET_STATE_DIR_H
#define XENO_NET_STATE_DIR_H

#include <stdint.h>

#include "net/switch.h"
#include "proto/netback_stats.h" /* struct nb_stats_page */

struct netback;

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
