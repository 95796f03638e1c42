#include "net/port_config.h"

#include <string.h>

#include "proto/netback_ctl.h"

/* The line itself is defined once, in src/proto/netback_ctl.c, which xenod writes with: here
 * only the conversion to the backend's own structures. */
_Static_assert(PORT_NAME_MAX == NB_PORT_NAME_MAX && PORT_SOCKET_MAX == NB_PORT_SOCKET_MAX &&
                   PORT_TEXT_MAX == NB_PORT_TEXT_MAX,
               "port_config and the port line have one set of sizes");
_Static_assert(NET_QOS_WEIGHT_MAX == NB_QOS_WEIGHT_MAX && NET_QOS_MAX_RATE_KIB == NB_QOS_MAX_RATE_KIB &&
                   NET_QOS_MAX_BURST_KIB == NB_QOS_MAX_BURST_KIB,
               "the port line's QoS limits are the QoS engine's");

int port_words(char *line, char **words, int max)
{
    return nb_line_words(line, words, max);
}

static void qos_from_line(struct net_qos_port_config *c, const struct nb_port_qos *q)
{
    c->inbound.average_kib = q->in_average;
    c->inbound.peak_kib = q->in_peak;
    c->inbound.burst_kib = q->in_burst;
    c->outbound.average_kib = q->out_average;
    c->outbound.peak_kib = q->out_peak;
    c->outbound.burst_kib = q->out_burst;
    c->floor_kib = q->floor;
    c->weight = q->weight;
}

static void qos_to_line(struct nb_port_qos *q, const struct net_qos_port_config *c)
{
    *q = (struct nb_port_qos){.in_average = c->inbound.average_kib,
                              .in_peak = c->inbound.peak_kib,
                              .in_burst = c->inbound.burst_kib,
                              .out_average = c->outbound.average_kib,
                              .out_peak = c->outbound.peak_kib,
                              .out_burst = c->outbound.burst_kib,
                              .floor = c->floor_kib,
                              .weight = c->weight};
}

int port_config_parse_qos(struct port_config *pc, char **words, int n)
{
    struct nb_port_qos q;
    qos_to_line(&q, &pc->qos);
    int rc = nb_port_parse_qos(&q, words, n);
    if (rc == 0)
        qos_from_line(&pc->qos, &q);
    return rc;
}

int port_config_parse(struct port_config *pc, char **words, int n)
{
    struct nb_port p;
    memset(pc, 0, sizeof(*pc));
    int rc = nb_port_parse(&p, words, n);
    if (rc < 0)
        return rc;
    pc->id = p.id;
    memcpy(pc->name, p.name, sizeof(pc->name));
    memcpy(pc->socket, p.socket, sizeof(pc->socket));
    memcpy(pc->mac, p.mac, sizeof(pc->mac));
    pc->has_ipv4 = p.has_ipv4;
    pc->ipv4 = p.ipv4;
    memcpy(pc->domain, p.domain, sizeof(pc->domain));
    memcpy(pc->sponsor, p.sponsor, sizeof(pc->sponsor));
    qos_from_line(&pc->qos, &p.qos);
    return 0;
}

int port_config_format(const struct port_config *pc, char *buf, size_t len)
{
    struct nb_port p = {.id = pc->id, .has_ipv4 = pc->has_ipv4, .ipv4 = pc->ipv4};
    memcpy(p.name, pc->name, sizeof(p.name));
    memcpy(p.socket, pc->socket, sizeof(p.socket));
    memcpy(p.mac, pc->mac, sizeof(p.mac));
    memcpy(p.domain, pc->domain, sizeof(p.domain));
    memcpy(p.sponsor, pc->sponsor, sizeof(p.sponsor));
    qos_to_line(&p.qos, &pc->qos);
    return nb_port_format(&p, buf, len);
}
