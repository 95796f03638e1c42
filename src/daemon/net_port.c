#include "daemon/net_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
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

/* The backend's words are blank-separated: a label with a blank or '=' in it is written
 * with '_' there (it names; it is not parsed back into the XML). */
static void label(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (src[i] == ' ' || src[i] == '\t' || src[i] == '=' || (unsigned char)src[i] < 0x20) ? '_' : src[i];
    dst[i] = 0;
}

int net_port_qos_words(const struct domain_bandwidth *in, const struct domain_bandwidth *out, char *buf, size_t size)
{
    const struct {
        const char *k;
        uint64_t v;
    } kv[] = {
        {"in-average", kib(in->average)},
        {"in-peak", kib(in->peak)},
        {"in-burst", kib(in->burst)},
        {"out-average", kib(out->average)},
        {"out-peak", kib(out->peak)},
        {"out-burst", kib(out->burst)},
        /* The backend guarantees a floor and shares by weight on the uplink, where a domain's
         * outbound traffic contends (docs/network.md): those come from <outbound>. */
        {"floor", kib(out->floor ? out->floor : in->floor)},
        {"weight", out->weight ? out->weight : in->weight},
    };
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (!kv[i].v)
            continue;
        int w = snprintf(buf + n, size - n, "%s%s=%" PRIu64, n ? " " : "", kv[i].k, kv[i].v);
        if (w < 0 || (size_t)w >= size - n)
            return err_set(ENOSPC, "QoS words longer than %zu bytes", size);
        n += (size_t)w;
    }
    return 0;
}

int net_port_add_line(const struct domain_config *c, const char *socket, char *buf, size_t size)
{
    char name[NET_PORT_NAME_SIZE], dom[64], sponsor[64], ip[INET_ADDRSTRLEN] = "", qos[512];
    const uint8_t *m = c->net.mac;
    net_port_name(c, name);
    label(dom, sizeof(dom), c->name);
    label(sponsor, sizeof(sponsor), c->sponsor[0] ? c->sponsor : "-");
    if (c->net.has_ipv4) {
        struct in_addr a = {htonl(c->net.ipv4)};
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
    }
    int r = word_check("socket path", socket, "=");
    if (r < 0)
        return err_wrap(-r, "domain '%s'", c->name);
    if ((r = net_port_qos_words(&c->net.inbound, &c->net.outbound, qos, sizeof(qos))) < 0)
        return r;
    int n = snprintf(buf, size, "port-add %s socket=%s mac=%02x:%02x:%02x:%02x:%02x:%02x%s%s domain=%s sponsor=%s%s%s",
                     name, socket, m[0], m[1], m[2], m[3], m[4], m[5], ip[0] ? " ip=" : "", ip, dom, sponsor,
                     qos[0] ? " " : "", qos);
    if (n < 0 || (size_t)n >= size)
        return err_set(ENOSPC, "domain '%s': its port-add line is longer than %zu bytes", c->name, size);
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
