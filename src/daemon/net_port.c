#include "daemon/net_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "proto/netback_ctl.h"
#include "proto/netback_stats.h"

void net_port_name(const struct domain_config *c, char out[NET_PORT_NAME_SIZE])
{
    /* Names are unique on a host, so the name is the port's while it fits; a long one is
     * replaced by its UUID's leading hex digits (still unique, still the same domain). */
    if (strlen(c->name) < NET_PORT_NAME_SIZE) {
        snprintf(out, NET_PORT_NAME_SIZE, "%s", c->name);
        return;
    }
    size_t n = 0;
    out[n++] = 'u';
    for (const char *p = c->uuid; *p && n < NET_PORT_NAME_SIZE - 1; p++)
        if (*p != '-')
            out[n++] = *p;
    out[n] = 0;
}

int net_port_socket(const struct domain_config *c, const char *run_dir, char *out, size_t size)
{
    /* xenod chooses the path, in the run directory it made for the domain (0700, locked by
     * the monitor): an XML path elsewhere would let whoever defines a domain have the
     * monitor, as root, create a socket anywhere, or take the place of someone else's (the
     * API socket of xenod itself). The XML may still name the path xenod chooses (a
     * libvirt-style round trip keeps it). */
    int n = snprintf(out, size, "%s/net0.sock", run_dir);
    if (n < 0 || (size_t)n >= size)
        return err_set(ENAMETOOLONG, "domain '%s': %s/net0.sock is too long a path", c->name, run_dir);
    if (c->net.socket[0] && strcmp(c->net.socket, out) != 0)
        return err_set(EPERM,
                       "domain '%s': <interface><source path='%s'> is not allowed: xenod puts the vhost-user "
                       "socket in the domain's own run directory (%s); remove the path attribute (or write that path)",
                       c->name, c->net.socket, out);
    return 0;
}

/* A value written into one of the backend's words or the monitor's --net items: no control
 * character (a newline would end the request and start another), no blank (it would split
 * the word) and none of the separators given. */
static int word_check(const char *what, const char *v, const char *separators)
{
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ' ' || strchr(separators, *p))
            return err_set(EINVAL,
                           "%s: byte 0x%02x at %zu cannot go into a request (no blanks, control characters or '%s')",
                           what, (unsigned)(unsigned char)*p, (size_t)(p - v), separators);
    return 0;
}

int request_line_check(const char *line)
{
    for (const char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return err_set(EINVAL, "request refused: control character (0x%02x) at byte %zu",
                           (unsigned)(unsigned char)*p, (size_t)(p - line));
    return 0;
}

/* bytes/s (or bytes) to the backend's KiB, to the nearest; a non-zero value never becomes 0
 * (that would mean "no limit"). */
static uint64_t kib(uint64_t bytes)
{
    uint64_t k = (bytes + 512) / 1024;
    return bytes && !k ? 1 : k;
}

static void qos_line(struct nb_port_qos *q, const struct domain_bandwidth *in, const struct domain_bandwidth *out)
{
    /* The backend guarantees a floor and shares by weight on the uplink, where a domain's
     * outbound traffic contends (docs/network.md): those come from <outbound>. */
    *q = (struct nb_port_qos){.in_average = kib(in->average),
                              .in_peak = kib(in->peak),
                              .in_burst = kib(in->burst),
                              .out_average = kib(out->average),
                              .out_peak = kib(out->peak),
                              .out_burst = kib(out->burst),
                              .floor = kib(out->floor ? out->floor : in->floor),
                              .weight = out->weight ? out->weight : in->weight};
}

int net_port_qos_words(const struct domain_bandwidth *in, const struct domain_bandwidth *out, char *buf, size_t size)
{
    struct nb_port_qos q;
    qos_line(&q, in, out);
    int r = nb_port_qos_format(&q, buf, size);
    return r < 0 ? r : 0;
}

int net_port_add_line(const struct domain_config *c, const char *socket, char *buf, size_t size)
{
    /* The line is the backend's own definition (src/proto/netback_ctl.c): a value it would
     * refuse (a socket path with a blank or '=', a rate beyond its range) is refused here,
     * before anything is sent. */
    struct nb_port p = {.has_ipv4 = c->net.has_ipv4, .ipv4 = c->net.ipv4};
    net_port_name(c, p.name);
    memcpy(p.mac, c->net.mac, sizeof(p.mac));
    nb_label(p.domain, sizeof(p.domain), c->name);
    nb_label(p.sponsor, sizeof(p.sponsor), c->sponsor);
    qos_line(&p.qos, &c->net.inbound, &c->net.outbound);
    int r = word_check("socket path", socket, "=");
    if (r < 0)
        return err_wrap(-r, "domain '%s'", c->name);
    if (strlen(socket) >= sizeof(p.socket))
        return err_set(ENAMETOOLONG, "domain '%s': interface socket path %s is too long", c->name, socket);
    snprintf(p.socket, sizeof(p.socket), "%s", socket);
    int n = snprintf(buf, size, "port-add ");
    if (n < 0 || (size_t)n >= size || (r = nb_port_format(&p, buf + n, size - (size_t)n)) < 0)
        return r == -ENOSPC || r == 0
                   ? err_set(ENOSPC, "domain '%s': its port-add line is longer than %zu bytes", c->name, size)
                   : err_wrap(-r, "domain '%s'", c->name);
    return 0;
}

int net_port_monitor_arg(const struct domain_config *c, const char *socket, char *buf, size_t size)
{
    const uint8_t *m = c->net.mac;
    int r = word_check("socket path", socket, ",");
    if (r < 0)
        return err_wrap(-r, "domain '%s'", c->name);
    int n =
        snprintf(buf, size, "socket=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x", socket, m[0], m[1], m[2], m[3], m[4], m[5]);
    if (n < 0 || (size_t)n >= size)
        return err_set(ENAMETOOLONG, "domain '%s': interface socket path %s is too long", c->name, socket);
    return 0;
}
