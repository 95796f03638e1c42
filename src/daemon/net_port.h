/* What xenod tells about a domain's network interface: to its monitor (`--net`) and to the
 * host's backend (`port-add`, `port-qos`; docs/netback.md), and how it shows the port's
 * counters. Pure string building, no I/O. */
#ifndef XENO_DAEMON_NET_PORT_H
#define XENO_DAEMON_NET_PORT_H

#include <stddef.h>

#include "lib/domain_config.h"
#include "proto/netback_ctl.h"   /* NB_PORT_NAME_MAX */
#include "proto/netback_stats.h" /* struct nb_stats_port */

#define NET_PORT_NAME_SIZE NB_PORT_NAME_MAX /* the backend's port names: at most 31 characters */

/* The backend's name for the domain's port: its name, or 'u' and its UUID's hex digits. */
void net_port_name(const struct domain_config *c, char out[NET_PORT_NAME_SIZE]);
/* The vhost-user socket the monitor listens on: RUN_DIR/net0.sock, always. An XML
 * <source path> that names another path is refused (-EPERM, with a message telling what to
 * write): xenod, not the XML, chooses where the monitor creates a socket. */
int net_port_socket(const struct domain_config *c, const char *run_dir, char *out, size_t size);
/* Every request line xenod writes to the backend or a monitor goes through this: -EINVAL
 * with a message if it holds a control character (below 0x20, or 0x7f). */
int request_line_check(const char *line);
/* "port-add NAME socket=... mac=... [ip=...] domain=... sponsor=... [QoS words]"; a socket
 * path with a blank, '=' or a control character is refused. */
int net_port_add_line(const struct domain_config *c, const char *socket, char *buf, size_t size);
/* The backend's QoS words (KiB/s, KiB) for libvirt-style bandwidth in bytes/s and bytes. */
int net_port_qos_words(const struct domain_bandwidth *in, const struct domain_bandwidth *out, char *buf, size_t size);
/* The monitor's --net value: "socket=PATH,mac=MAC" (a path with a blank, ',' or a control
 * character is refused). */
int net_port_monitor_arg(const struct domain_config *c, const char *socket, char *buf, size_t size);

#endif
