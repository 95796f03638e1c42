/* Domain XML parser (domain_xml_parse.h): <devices><disk> and <blkiotune> (docs/domain-xml.md,
 * "Disks"). A disk is a file in the operator's image directory that xeno-blkback serves over
 * vhost-user; everything here comes from a sponsor, so every value is bounded and checked
 * before it can reach the backend's command line or control socket. */
#include "lib/domain_xml_parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "lib/err.h"
#include "lib/image_name.h"
#include "lib/parse.h"

/* The overlay format's names end so (src/blk/image.c takes the format from the name). */
#define OVERLAY_SUFFIX ".ovl"

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* <driver queues='N'>: libvirt's number of request queues, 1..DOMAIN_DISK_QUEUES_MAX. */
static int parse_queues(const struct xml_ctx *x, xmlNode *n, const char *text, struct domain_disk *d)
{
    uint64_t q;
    if (parse_u64_range(text, 1, DOMAIN_DISK_QUEUES_MAX, &q) < 0)
        return fail(x, n, EINVAL, "queues '%s': 1 to %d request queues (what xeno-blkback serves)", Q(text),
                    DOMAIN_DISK_QUEUES_MAX);
    d->queues = (unsigned)q;
    return 0;
}

/* <driver name='qemu' type='raw|xeno-overlay' queues='N'/>: libvirt's driver is QEMU's; ours
 * takes the same element. The format must match the name, which is where the backend takes
 * it from. */
static int parse_driver(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d, int *given)
{
    static const char *const attrs[] = {"name", "type", "queues", NULL};
    xmlNode *none;
    char *name = NULL, *type = NULL, *queues = NULL;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r == 0)
        name = dxml_attr(x, n, "name", &r);
    if (r == 0)
        type = dxml_attr(x, n, "type", &r);
    if (r == 0)
        queues = dxml_attr(x, n, "queues", &r);
    if (r == 0 && queues)
        r = parse_queues(x, n, queues, d);
    if (r < 0)
        ;
    else if (name && strcmp(name, "qemu") != 0)
        r = fail(x, n, ENOTSUP, "name '%s' is not supported; write name=\"qemu\" (xeno-blkback serves the disk)",
                 Q(name));
    else if (type && strcmp(type, "qcow2") == 0)
        r = fail(x, n, ENOTSUP,
                 "type 'qcow2' is not served; convert it with `xenctl disk convert SRC.qcow2 NAME` and write "
                 "type=\"raw\" (or make a copy-on-write overlay: type=\"xeno-overlay\")");
    else if (type && strcmp(type, "raw") == 0)
        d->format = DISK_FORMAT_RAW, *given = 1;
    else if (type && strcmp(type, "xeno-overlay") == 0)
        d->format = DISK_FORMAT_OVERLAY, *given = 1;
    else if (type)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; write type=\"raw\" or type=\"xeno-overlay\"", Q(type));
    xmlFree(name);
    xmlFree(type);
    xmlFree(queues);
    return r;
}

/* <source file='NAME'/>: relative to the image directory, or an absolute path that
 * domain_disks_resolve() finds inside it (the parser does not know the directory). */
static int parse_source(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    static const char *const attrs[] = {"file", NULL};
    xmlNode *none;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    char *file = r < 0 ? NULL : dxml_attr(x, n, "file", &r);
    if (r < 0)
        ;
    else if (!file)
        r = fail(x, n, EINVAL, "missing file; write file=\"NAME\" (an image in the host's image directory)");
    else if (strlen(file) > DOMAIN_DISK_FILE_MAX)
        r = fail(x, n, ENAMETOOLONG, "file '%s' is longer than %d bytes", Q_PATH(file), DOMAIN_DISK_FILE_MAX);
    else if (file[0] != '/' && image_name_check(file) < 0)
        r = fail(x, n, EINVAL, "%s", err_msg());
    else if (strpbrk(file, ", "))
        r = fail(x, n, EINVAL,
                 "file '%s' holds a comma or a space; rename the image (xeno-blkback's disk spec is comma-separated, "
                 "its control lines space-separated)",
                 Q_PATH(file));
    else
        strcpy(d->file, file);
    d->source_line = xmlGetLineNo(n);
    xmlFree(file);
    return r;
}

/* <target dev='vdX' bus='virtio'/>: the guest sees virtio-blk; dev names the disk. */
static int parse_target(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    static const char *const attrs[] = {"dev", "bus", NULL};
    xmlNode *none;
    char *dev = NULL, *bus = NULL;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r == 0)
        dev = dxml_attr(x, n, "dev", &r);
    if (r == 0)
        bus = dxml_attr(x, n, "bus", &r);
    if (r < 0)
        ;
    else if (bus && strcmp(bus, "virtio") != 0)
        r = fail(x, n, ENOTSUP, "bus '%s' is not supported; disks are virtio-blk (bus=\"virtio\")", Q(bus));
    else if (!dev)
        r = fail(x, n, EINVAL, "missing dev; write e.g. dev=\"vda\"");
    else if (strlen(dev) != 3 || dev[0] != 'v' || dev[1] != 'd' || dev[2] < 'a' || dev[2] > 'z')
        r = fail(x, n, EINVAL, "dev '%s' is not a virtio disk name; write vda, vdb, ... vdz", Q(dev));
    else
        strcpy(d->target, dev);
    xmlFree(dev);
    xmlFree(bus);
    return r;
}

/* <serial>: what the guest reads with GET_ID; printable ASCII, no space and no comma (it
 * travels in xeno-blkback's comma-separated spec, on its space-separated control lines). */
static int parse_serial(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    char *s;
    int r = dxml_value_of(x, n, "<serial>WD-1234</serial>", &s);
    if (r < 0)
        return r;
    size_t len = strlen(s);
    if (len > DOMAIN_DISK_SERIAL_MAX)
        r = fail(x, n, EINVAL, "'%s' is %zu bytes; a virtio-blk serial has at most %d", Q(s), len,
                 DOMAIN_DISK_SERIAL_MAX);
    for (size_t i = 0; r == 0 && i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e || s[i] == ',')
            r = fail(x, n, EINVAL, "'%s': printable ASCII without spaces or commas only (byte %zu)", Q(s), i);
    if (r == 0)
        memcpy(d->serial, s, len + 1);
    free(s);
    return r;
}

/* The rules libvirt applies between <iotune> values: total_X excludes read_X and write_X (the
 * same for _max), a burst needs its average and is at least it, a length needs its burst. */
static int check_iotune(const struct xml_ctx *x, xmlNode *n, const uint64_t *v)
{
    char msg[256];
    if (domain_iotune_check(v) == 0)
        return 0;
    snprintf(msg, sizeof(msg), "%s", err_msg());
    return fail(x, n, EINVAL, "%s", msg);
}

static int parse_iotune(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    const char *names[IOTUNE_KEYS + 1];
    xmlNode *el[IOTUNE_KEYS + 1];
    memcpy(names, domain_iotune_names, sizeof(domain_iotune_names));
    names[IOTUNE_KEYS] = "group_name";
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, names, IOTUNE_KEYS + 1, el);
    for (int i = 0; r == 0 && i < IOTUNE_KEYS; i++) {
        char *s;
        if (!el[i])
            continue;
        if ((r = dxml_value_of(x, el[i], "<total_iops_sec>1000</total_iops_sec>", &s)) < 0)
            break;
        bool length = i >= IOTUNE_TOTAL_BYTES_MAX_LENGTH;
        uint64_t max = length ? 86400 : DOMAIN_DISK_IOTUNE_VALUE_MAX;
        if (parse_u64_range(s, 0, max, &d->iotune[i]) < 0)
            r = fail(x, el[i], EINVAL, "'%s' is not a whole number from 0 to %llu (%s)", Q(s), (unsigned long long)max,
                     length                  ? "seconds"
                     : i == IOTUNE_SIZE_IOPS ? "bytes"
                                             : "per second; 0: no limit");
        free(s);
    }
    if (r == 0 && el[IOTUNE_KEYS]) {
        char *s;
        if ((r = dxml_value_of(x, el[IOTUNE_KEYS], "<group_name>web</group_name>", &s)) < 0)
            return r;
        size_t len = strlen(s), ok = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
        if (len > DOMAIN_DISK_GROUP_MAX || ok != len)
            r = fail(x, el[IOTUNE_KEYS], EINVAL, "'%s' is not a group name: 1 to %d of A-Z a-z 0-9 _ -", Q(s),
                     DOMAIN_DISK_GROUP_MAX);
        else
            memcpy(d->group, s, len + 1);
        free(s);
    }
    if (r == 0)
        r = check_iotune(x, n, d->iotune);
    return r;
}

/* <xeno:iotune reservation="N"/>: the disk's reservation in the scheduler's cost units per
 * second (docs/blkback.md, "The cost model"); admission decides at start. */
static int parse_reservation(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    char *s;
    int r = dxml_single_attr(x, n, "reservation", "reservation=\"2000\"", &s);
    if (r < 0)
        return r;
    if (parse_u64_range(s, 1, DOMAIN_DISK_RESERVATION_MAX, &d->reservation) < 0)
        r = fail(x, n, EINVAL, "reservation '%s' is not a whole number from 1 to %llu (cost units per second)", Q(s),
                 DOMAIN_DISK_RESERVATION_MAX);
    xmlFree(s);
    return r;
}

enum { DRIVER, SOURCE, TARGET, READONLY, SERIAL, IOTUNE, XENO_IOTUNE, N_DISK };

/* The children of <disk>, each at most once; xeno:iotune is ours, the rest libvirt's. */
static int collect_disk(const struct xml_ctx *x, xmlNode *n, xmlNode **el)
{
    static const char *const names[N_DISK] = {"driver", "source", "target", "readonly", "serial", "iotune", NULL};
    for (xmlNode *c = n->children; c; c = c->next) {
        int r;
        if (c->type != XML_ELEMENT_NODE) {
            if ((r = dxml_not_element(x, n, c)) < 0)
                return r;
            continue;
        }
        size_t i = N_DISK;
        if (!c->ns) {
            for (i = 0; i < XENO_IOTUNE && strcmp((const char *)c->name, names[i]) != 0; i++)
                ;
            if (i == XENO_IOTUNE)
                i = N_DISK;
        } else if (dxml_in_xeno_ns(c->ns) && strcmp((const char *)c->name, "iotune") == 0) {
            i = XENO_IOTUNE;
        }
        if (i == N_DISK) {
            if (dxml_in_xeno_ns(c->ns))
                return fail(x, c, EINVAL, "unknown element in <disk>; the " XENO_NS " namespace has <iotune> here");
            if (c->ns)
                return fail(x, c, EINVAL, "unknown element in <disk>" SEE_DOCS);
            return dxml_unknown_element(x, n, c);
        }
        if (el[i])
            return fail(x, c, EINVAL, "duplicate element in <disk> (the first is on line %ld); keep one",
                        xmlGetLineNo(el[i]));
        el[i] = c;
    }
    return 0;
}

/* <disk type='file' device='disk'>: one virtio-blk disk. */
static int parse_disk(const struct xml_ctx *x, xmlNode *n, struct domain_disk *d)
{
    static const char *const attrs[] = {"type", "device", NULL};
    xmlNode *el[N_DISK] = {NULL};
    char *type = NULL, *device = NULL;
    int typed = 0;
    d->line = xmlGetLineNo(n);
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        type = dxml_attr(x, n, "type", &r);
    if (r == 0)
        device = dxml_attr(x, n, "device", &r);
    if (r < 0)
        ;
    else if (!type)
        r = fail(x, n, EINVAL, "missing type; write type=\"file\"");
    else if (strcmp(type, "file") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; disks are image files (type=\"file\")", Q(type));
    else if (device && strcmp(device, "disk") != 0)
        r = fail(x, n, ENOTSUP, "device '%s' is not supported; write device=\"disk\" (a virtio-blk disk)", Q(device));
    xmlFree(type);
    xmlFree(device);
    if (r == 0)
        r = collect_disk(x, n, el);
    if (r < 0)
        return r;
    if (!el[SOURCE])
        return fail(x, n, EINVAL, "missing <source>; write <source file=\"NAME\"/> (an image in the image directory)");
    if (!el[TARGET])
        return fail(x, n, EINVAL, "missing <target>; write <target dev=\"vda\" bus=\"virtio\"/>");
    if ((r = parse_source(x, el[SOURCE], d)) < 0 || (r = parse_target(x, el[TARGET], d)) < 0)
        return r;
    if (el[DRIVER] && (r = parse_driver(x, el[DRIVER], d, &typed)) < 0)
        return r;
    bool ovl = has_suffix(d->file, OVERLAY_SUFFIX);
    if (!typed)
        d->format = ovl ? DISK_FORMAT_OVERLAY : DISK_FORMAT_RAW;
    else if (ovl != (d->format == DISK_FORMAT_OVERLAY))
        return fail(x, el[DRIVER], EINVAL,
                    "type '%s' does not match file '%s': the backend takes the format from the name (an overlay's "
                    "ends in " OVERLAY_SUFFIX ", a raw image's does not)",
                    d->format == DISK_FORMAT_OVERLAY ? "xeno-overlay" : "raw", Q_PATH(d->file));
    if (el[READONLY]) {
        xmlNode *none;
        if ((r = dxml_check_attrs(x, el[READONLY], dxml_no_attrs)) < 0 ||
            (r = dxml_collect_children(x, el[READONLY], NULL, 0, &none)) < 0)
            return r;
        d->readonly = 1;
    }
    if (el[SERIAL] && (r = parse_serial(x, el[SERIAL], d)) < 0)
        return r;
    if (el[IOTUNE] && (r = parse_iotune(x, el[IOTUNE], d)) < 0)
        return r;
    if (el[XENO_IOTUNE] && (r = parse_reservation(x, el[XENO_IOTUNE], d)) < 0)
        return r;
    return 0;
}

/* Across the domain's disks: one target each, and libvirt's group rule (every disk of a group
 * gives the same limits: they are the group's, not the disk's). */
static int check_disks(const struct xml_ctx *x, xmlNode **nodes, const struct domain_config *c)
{
    for (unsigned i = 0; i < c->ndisks; i++)
        for (unsigned j = 0; j < i; j++) {
            const struct domain_disk *a = &c->disks[j], *b = &c->disks[i];
            if (strcmp(a->target, b->target) == 0)
                return fail(x, nodes[i], EINVAL, "target dev '%s' is the disk's on line %ld too; give each its own",
                            b->target, a->line);
            if (a->group[0] && strcmp(a->group, b->group) == 0 && memcmp(a->iotune, b->iotune, sizeof(a->iotune)))
                return fail(x, nodes[i], EINVAL,
                            "<iotune> of group '%s' differs from the disk's on line %ld; a group's disks give the "
                            "same values (libvirt's rule: they are the group's limits)",
                            b->group, a->line);
        }
    for (unsigned i = 0; i < c->ndisks; i++) {
        const struct domain_disk *d = &c->disks[i];
        int any = 0;
        for (int k = 0; k < IOTUNE_KEYS; k++)
            any |= d->iotune[k] != 0;
        if (d->group[0] && !any)
            return fail(x, nodes[i], EINVAL,
                        "<group_name> '%s' without a limit limits nothing; give e.g. "
                        "<total_iops_sec>",
                        d->group);
    }
    return 0;
}

int dxml_parse_disks(const struct xml_ctx *x, xmlNode **nodes, unsigned count, struct domain_config *c)
{
    int first = 0;
    for (unsigned i = 0; i < count && i < DOMAIN_DISKS_MAX; i++) {
        DXML_KEEP(first, parse_disk(x, nodes[i], &c->disks[i]));
        c->ndisks = i + 1;
    }
    if (first == 0)
        DXML_KEEP(first, check_disks(x, nodes, c));
    return first;
}

/* <blkiotune><weight>: every disk's share of the host's spare disk time (libvirt's range). */
int dxml_parse_blkiotune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    static const char *const names[] = {"weight"};
    xmlNode *el[1];
    char *s;
    uint64_t v;
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, names, 1, el);
    if (r < 0)
        return r;
    if (!el[0])
        return fail(x, n, EINVAL, "empty; give <weight>, e.g. <weight>500</weight>");
    if ((r = dxml_value_of(x, el[0], "<weight>500</weight>", &s)) < 0)
        return r;
    if (parse_u64_range(s, DOMAIN_DISK_WEIGHT_MIN, DOMAIN_DISK_WEIGHT_MAX, &v) < 0)
        r = fail(x, el[0], EINVAL, "'%s' is not a whole number from %d to %d (libvirt's range)", Q(s),
                 DOMAIN_DISK_WEIGHT_MIN, DOMAIN_DISK_WEIGHT_MAX);
    else
        c->blkio_weight = (uint32_t)v;
    free(s);
    return r;
}
