/* Domain XML parser (domain_xml_parse.h): <devices> and its <interface>s (MAC, source,
 * <bandwidth>); its <disk>s are domain_xml_disk.c's. */
#include "lib/domain_xml_parse.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <libxml/tree.h>

#include "lib/err.h"
#include "lib/mac_addr.h"
#include "lib/parse.h"

/* ---- <interface> ---- */

/* A rate or size attribute of <inbound>/<outbound>: a whole number of kilobytes(/s), 1 to
 * DOMAIN_NET_RATE_MAX_KB, times `unit` bytes. Absent: *out stays 0. */
static int bandwidth_number(const struct xml_ctx *x, xmlNode *n, const char *name, uint64_t unit, uint64_t *out)
{
    int r = 0;
    uint64_t v;
    char *s = dxml_attr(x, n, name, &r);
    if (!s)
        return r;
    if (parse_u64_range(s, 1, DOMAIN_NET_RATE_MAX_KB, &v) < 0)
        r = fail(x, n, EINVAL, "%s '%s' is not a whole number from 1 to %llu (%s)", name, Q(s), DOMAIN_NET_RATE_MAX_KB,
                 unit == 1024 ? "kilobytes, 1024 bytes each" : "kilobytes per second, 1000 bytes each");
    else
        *out = v * unit;
    xmlFree(s);
    return r;
}

/* <inbound>/<outbound average="KB/s" peak="KB/s" burst="KB" floor="KB/s" xeno:weight="N"/>
 * (libvirt's units: tc's kbps and kb). */
static int parse_bandwidth_dir(const struct xml_ctx *x, xmlNode *n, struct domain_bandwidth *b)
{
    static const char *const names[] = {"average", "peak", "burst", "floor", NULL};
    xmlNode *none;
    int r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *const *p = names;
        if (!a->ns)
            while (*p && strcmp(*p, (const char *)a->name) != 0)
                p++;
        bool weight = dxml_in_xeno_ns(a->ns) && strcmp((const char *)a->name, "weight") == 0;
        if (!weight && (a->ns || !*p))
            return fail(x, n, EINVAL,
                        "unknown attribute '%s'; <%s> takes average, peak, burst, floor and xeno:weight" SEE_DOCS,
                        dxml_label(a->ns ? a->ns->prefix : NULL, a->name, (char[80]){0}, 80), ELEM(n));
        if (weight) {
            xmlChar *s = xmlGetNsProp(n, a->name, (const xmlChar *)XENO_NS);
            uint64_t v;
            if (!s)
                return dxml_out_of_memory(x);
            if (parse_u64_range((const char *)s, 1, DOMAIN_NET_WEIGHT_MAX, &v) < 0)
                r = fail(x, n, EINVAL, "xeno:weight '%s' is not a whole number from 1 to %d", Q(s),
                         DOMAIN_NET_WEIGHT_MAX);
            else
                b->weight = (uint32_t)v;
            xmlFree(s);
            if (r < 0)
                return r;
        }
    }
    if ((r = bandwidth_number(x, n, "average", 1000, &b->average)) < 0 ||
        (r = bandwidth_number(x, n, "peak", 1000, &b->peak)) < 0 ||
        (r = bandwidth_number(x, n, "burst", 1024, &b->burst)) < 0 ||
        (r = bandwidth_number(x, n, "floor", 1000, &b->floor)) < 0)
        return r;
    if (!b->average && (b->peak || b->burst))
        return fail(x, n, EINVAL, "peak and burst shape an average: give average too");
    if (!b->average && !b->floor && !b->weight)
        return fail(x, n, EINVAL, "needs average (kilobytes/s), floor or xeno:weight, e.g. average=\"1000\"");
    if (b->peak && b->peak < b->average)
        return fail(x, n, EINVAL, "peak %llu kilobytes/s is below average %llu; peak is the higher rate",
                    (unsigned long long)(b->peak / 1000), (unsigned long long)(b->average / 1000));
    if (b->floor && b->average && b->floor > b->average)
        return fail(x, n, EINVAL, "floor %llu kilobytes/s is above average %llu; a guarantee cannot exceed the limit",
                    (unsigned long long)(b->floor / 1000), (unsigned long long)(b->average / 1000));
    b->given = 1;
    return 0;
}

static int parse_bandwidth(const struct xml_ctx *x, xmlNode *n, struct domain_interface *net)
{
    static const char *const names[] = {"inbound", "outbound"};
    xmlNode *el[2];
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, names, 2, el);
    if (r == 0 && !el[0] && !el[1])
        r = fail(x, n, EINVAL, "empty; give <inbound> and/or <outbound>, e.g. <outbound average=\"1000\"/>");
    if (r == 0 && el[0])
        r = parse_bandwidth_dir(x, el[0], &net->inbound);
    if (r == 0 && el[1])
        r = parse_bandwidth_dir(x, el[1], &net->outbound);
    return r;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        unsigned n = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3)
            n = n * 10 + (unsigned)(*s++ - '0'), digits++;
        if (!digits || n > 255 || *s != (part < 3 ? '.' : '\0'))
            return -1;
        s++;
        v = v << 8 | n;
    }
    *out = v;
    return 0;
}

/* <source type="unix" path="..." mode="server"/>: libvirt's vhost-user socket. Optional
 * here (xenod puts it in the run directory); when given, the monitor is the server. */
static int parse_iface_source(const struct xml_ctx *x, xmlNode *n, struct domain_interface *net)
{
    static const char *const attrs[] = {"type", "path", "mode", NULL};
    xmlNode *none;
    char *type = NULL, *path = NULL, *mode = NULL;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r == 0)
        type = dxml_attr(x, n, "type", &r);
    if (r == 0)
        path = dxml_attr(x, n, "path", &r);
    if (r == 0)
        mode = dxml_attr(x, n, "mode", &r);
    if (r < 0)
        ;
    else if (type && strcmp(type, "unix") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; vhost-user runs over type=\"unix\"", Q(type));
    else if (mode && strcmp(mode, "server") != 0)
        r = fail(x, n, ENOTSUP,
                 "mode '%s' is not supported; the monitor listens and the backend connects (mode=\"server\")", Q(mode));
    else if (path && (path[0] != '/' || strlen(path) > DOMAIN_NET_SOCKET_MAX))
        r = fail(x, n, EINVAL, "path '%s' must be an absolute unix socket path of at most %d bytes", Q_PATH(path),
                 DOMAIN_NET_SOCKET_MAX);
    else if (path)
        strcpy(net->socket, path);
    xmlFree(type);
    xmlFree(path);
    xmlFree(mode);
    return r;
}

/* <interface type="vhostuser">: <mac address>, optional <source>, <model type="virtio"/>,
 * <bandwidth>, and our <xeno:ip address>. */
static int parse_interface(const struct xml_ctx *x, xmlNode *n, struct domain_interface *net)
{
    static const char *const attrs[] = {"type", NULL};
    enum { MAC, SOURCE, MODEL, BANDWIDTH, IP, N };
    static const char *const names[N] = {"mac", "source", "model", "bandwidth", "xeno:ip"};
    xmlNode *el[N] = {NULL};
    char *s;
    int r = dxml_check_attrs(x, n, attrs);
    s = r < 0 ? NULL : dxml_attr(x, n, "type", &r);
    if (r == 0 && !s)
        r = fail(x, n, EINVAL, "missing type; write type=\"vhostuser\"");
    else if (r == 0 && strcmp(s, "vhostuser") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; write type=\"vhostuser\" (xeno-netback serves the device)",
                 Q(s));
    xmlFree(s);
    if (r < 0)
        return r;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) {
            if ((r = dxml_not_element(x, n, c)) < 0)
                return r;
            continue;
        }
        size_t i = N;
        if (!c->ns) {
            for (i = 0; i < IP && strcmp((const char *)c->name, names[i]) != 0; i++)
                ;
            if (i == IP)
                i = N;
        } else if (dxml_in_xeno_ns(c->ns) && strcmp((const char *)c->name, "ip") == 0) {
            i = IP;
        }
        if (i == N) {
            if (dxml_in_xeno_ns(c->ns))
                return fail(x, c, EINVAL, "unknown element in <interface>; the " XENO_NS " namespace has <ip> here");
            if (c->ns)
                return fail(x, c, EINVAL, "unknown element in <interface>" SEE_DOCS);
            return dxml_unknown_element(x, n, c);
        }
        if (el[i])
            return fail(x, c, EINVAL, "duplicate element in <interface> (the first is on line %ld); keep one",
                        xmlGetLineNo(el[i]));
        el[i] = c;
    }
    if (!el[MAC]) {
        /* As libvirt: one is generated, and kept in the stored definition. */
        if ((r = domain_mac_generate(net->mac)) < 0)
            return fail(x, n, -r, "cannot generate a MAC address: %s; give one in <mac address=...>", strerror(-r));
        net->mac_generated = 1;
    } else if ((r = dxml_single_attr(x, el[MAC], "address", "address=\"52:54:00:12:34:56\"", &s)) < 0) {
        return r;
    } else {
        if (mac_addr_parse(s, net->mac) < 0)
            r = fail(x, el[MAC], EINVAL, "%s", err_msg());
        xmlFree(s);
    }
    if (r < 0)
        return r;
    if (el[SOURCE] && (r = parse_iface_source(x, el[SOURCE], net)) < 0)
        return r;
    if (el[MODEL]) {
        if ((r = dxml_single_attr(x, el[MODEL], "type", "type=\"virtio\"", &s)) < 0)
            return r;
        if (strcmp(s, "virtio") != 0)
            r = fail(x, el[MODEL], ENOTSUP, "type '%s' is not supported; the device is virtio-net (type=\"virtio\")",
                     Q(s));
        xmlFree(s);
        if (r < 0)
            return r;
    }
    if (el[IP]) {
        if ((r = dxml_single_attr(x, el[IP], "address", "address=\"10.0.0.2\"", &s)) < 0)
            return r;
        if (parse_ipv4(s, &net->ipv4) < 0)
            r = fail(x, el[IP], EINVAL, "address '%s' is not an IPv4 address like 10.0.0.2", Q(s));
        else if (net->ipv4 == 0 || net->ipv4 >> 28 >= 14 || net->ipv4 >> 24 == 127)
            r = fail(x, el[IP], EINVAL,
                     "address %s cannot be a domain's own (unspecified, loopback, multicast or reserved)", Q(s));
        net->has_ipv4 = r == 0;
        xmlFree(s);
        if (r < 0)
            return r;
    }
    if (el[BANDWIDTH] && (r = parse_bandwidth(x, el[BANDWIDTH], net)) < 0)
        return r;
    net->present = 1;
    return 0;
}

int dxml_parse_devices(const struct xml_ctx *x, xmlNode *devices, struct domain_config *c)
{
    static const char *const names[] = {"console", "serial", "interface"};
    xmlNode *el[3] = {NULL, NULL, NULL}, *disks[DOMAIN_DISKS_MAX];
    unsigned ndisks = 0;
    int r = dxml_check_attrs(x, devices, dxml_no_attrs);
    if (r == 0) {
        /* A second <interface> is a duplicate to collect_children; say why there is one. */
        xmlNode *first = NULL;
        for (xmlNode *n = devices->children; n; n = n->next)
            if (n->type == XML_ELEMENT_NODE && !n->ns && strcmp((const char *)n->name, "interface") == 0) {
                if (first)
                    return fail(x, n, ENOTSUP, "a second interface (the first is on line %ld); a domain has one",
                                xmlGetLineNo(first));
                first = n;
            }
        /* <disk>s repeat: taken out of the tree (freed below) before the others are collected. */
        for (xmlNode *n = devices->children, *next; r == 0 && n; n = next) {
            next = n->next;
            if (n->type != XML_ELEMENT_NODE || n->ns || strcmp((const char *)n->name, "disk") != 0)
                continue;
            if (ndisks == DOMAIN_DISKS_MAX)
                r = fail(x, n, ENOTSUP, "a disk more than %d (the first is on line %ld); a domain has at most %d",
                         DOMAIN_DISKS_MAX, xmlGetLineNo(disks[0]), DOMAIN_DISKS_MAX);
            else
                xmlUnlinkNode(disks[ndisks++] = n);
        }
        if (r == 0)
            r = dxml_collect_children(x, devices, names, 3, el);
    }
    /* Each device is parsed even when another was refused: every problem at once. */
    int first = 0;
    DXML_KEEP(first, r);
    if (el[0])
        DXML_KEEP(first, dxml_parse_console(x, el[0], "serial"));
    if (el[1])
        DXML_KEEP(first, dxml_parse_console(x, el[1], "isa-serial"));
    if (el[2])
        DXML_KEEP(first, parse_interface(x, el[2], &c->net));
    r = ndisks ? dxml_parse_disks(x, disks, ndisks, c) : 0;
    for (unsigned i = 0; i < ndisks; i++)
        xmlFreeNode(disks[i]);
    DXML_KEEP(first, r);
    return first;
}

/* <xeno:memory enforcement="pause|destroy|report"/>: what the monitor does when the guest
 * misses a memory target's deadline. An empty element: the attribute is the whole point. */
