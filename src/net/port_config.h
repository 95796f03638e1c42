/* One port's configuration, as the backend keeps it. Its line (what `port-add` on the
 * control socket takes and what the ports file keeps, one line per port) is defined once in
 * src/proto/netback_ctl.h, which xenod writes with; these functions convert between the two.
 */
#ifndef XENO_NET_PORT_CONFIG_H
#define XENO_NET_PORT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/qos.h"

#define PORT_NAME_MAX 32
#define PORT_SOCKET_MAX 108 /* sun_path */
#define PORT_TEXT_MAX 64

struct port_config {
    uint64_t id; /* 0: not given */
    char name[PORT_NAME_MAX];
    char socket[PORT_SOCKET_MAX];
    uint8_t mac[6];
    bool has_ipv4;
    uint32_t ipv4; /* host order */
    char domain[PORT_TEXT_MAX];
    char sponsor[PORT_TEXT_MAX];
    struct net_qos_port_config qos;
};

/* nb_line_words(): splits line into space-separated words in place (at most max); the
 * count, or -E2BIG, or -EINVAL for a line holding a control character. */
int port_words(char *line, char **words, int max);

/* Parses words[0] (the name) and the KEY=VALUE words after it. socket and mac are required.
 * 0, or -EINVAL with a message naming the word. */
int port_config_parse(struct port_config *pc, char **words, int n);
/* Applies QoS words (the qos keys only) on top of pc->qos: for `port-qos NAME KEY=VALUE...`. */
int port_config_parse_qos(struct port_config *pc, char **words, int n);
/* The words of pc (the line port_config_parse reads back; id when non-zero): the length,
 * or -EINVAL for a value the parser would refuse, or -ENOSPC. */
int port_config_format(const struct port_config *pc, char *buf, size_t len);

#endif
