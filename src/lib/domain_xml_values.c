/* Domain XML parser (domain_xml_parse.h): the values of <domain>'s own elements: names,
 * lifecycle actions, sizes, <vcpu>, <cputune>, <uuid>, <os> and the console elements. */
#include "lib/domain_xml_parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "lib/parse.h"

/* ---- values ---- */

const char *dxml_name_problem(const char *name)
{
    size_t len = strlen(name), digits = strspn(name, "0123456789");
    if (len == 0)
        return "is empty";
    if (len > DOMAIN_NAME_MAX)
        return "is longer than 63 characters";
    if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != len)
        return "may hold only letters, digits, '_', '.' and '-'";
    if (digits == len)
        return "is all digits, which would read as a domain ID; add a letter";
    /* A leading '-' reads as an option to xenctl; a leading '.' allows "." and "..", which
     * are not names anyone could mean and are trouble wherever a name becomes a path. */
    if (name[0] == '.' || name[0] == '-')
        return "must not start with '.' or '-'";
    return NULL;
}

int domain_name_valid(const char *name)
{
    return name && !dxml_name_problem(name);
}

const char *lifecycle_action_name(enum lifecycle_action a)
{
    switch (a) {
    case ACTION_DESTROY: return "destroy";
    case ACTION_RESTART: return "restart";
    case ACTION_PRESERVE: return "preserve";
    }
    return "?";
}

int lifecycle_action_parse(const char *s, enum lifecycle_action *out)
{
    static const enum lifecycle_action all[] = {ACTION_DESTROY, ACTION_RESTART, ACTION_PRESERVE};
    for (size_t i = 0; s && i < 3; i++)
        if (strcmp(s, lifecycle_action_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -EINVAL;
}

int dxml_parse_action(const struct xml_ctx *x, xmlNode *n, enum lifecycle_action *out)
{
    char *text;
    int r = dxml_value_of(x, n, "destroy", &text);
    if (r < 0)
        return r;
    if (lifecycle_action_parse(text, out) < 0) {
        if (strcmp(text, "rename-restart") == 0 || strcmp(text, "coredump-destroy") == 0 ||
            strcmp(text, "coredump-restart") == 0)
            r = fail(x, n, ENOTSUP, "'%s' is not supported; " ACTIONS, text);
        else
            r = fail(x, n, EINVAL, "unknown action '%s'; " ACTIONS, Q(text));
    }
    free(text);
    return r;
}

/* libvirt's unit names (virScaleInteger), case-insensitive: "b", "byte", "bytes"; a letter
 * k, m, g or t alone or followed by "iB" is a power of 1024, followed by "B" a power of
 * 1000 (so "KB" is 1000 bytes, "k" and "KiB" 1024). */
static int unit_scale(const char *unit, uint64_t *scale)
{
    static const char letters[] = "kmgt";
    if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "byte") == 0 || strcasecmp(unit, "bytes") == 0) {
        *scale = 1;
        return 0;
    }
    const char *p = unit[0] ? strchr(letters, tolower((unsigned char)unit[0])) : NULL;
    uint64_t base;
    if (!p)
        return -EINVAL;
    if (unit[1] == '\0' || strcasecmp(unit + 1, "iB") == 0)
        base = 1024;
    else if (strcasecmp(unit + 1, "B") == 0)
        base = 1000;
    else
        return -EINVAL;
    *scale = base;
    for (long i = 0; i < p - letters; i++)
        *scale *= base;
    return 0;
}

/* A size in libvirt's units: the guest's memory (DOMAIN_MEMORY_MIN to DOMAIN_MEMORY_MAX),
 * or a memory limit (up to DOMAIN_MEMTUNE_MAX). */
static int size_element(const struct xml_ctx *x, xmlNode *n, int is_limit, uint64_t *out)
{
    const uint64_t max = is_limit ? DOMAIN_MEMTUNE_MAX : DOMAIN_MEMORY_MAX;
    const char *most = is_limit ? "the largest limit is" : "the most a domain may have is";
    static const char *const attrs[] = {"unit", NULL};
    uint64_t scale = 1024, v;
    char *unit, *text = NULL;
    int r = dxml_check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    unit = dxml_attr(x, n, "unit", &r);
    if (r < 0)
        return r;
    if (unit && unit_scale(unit, &scale) < 0)
        r = fail(x, n, EINVAL,
                 "unknown unit '%s'; use b, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)",
                 Q(unit));
    xmlFree(unit);
    if (r == 0)
        r = dxml_leaf_text(x, n, &text);
    if (r < 0)
        return r;
    if (!*text)
        r = fail(x, n, EINVAL, "empty; give a size, e.g. <%s unit=\"MiB\">64</%s>", n->name, n->name);
    else if ((r = parse_u64_range(text, 0, UINT64_MAX, &v)) == -EINVAL)
        r = fail(x, n, EINVAL, "'%s' is not a whole number; the unit goes in the unit attribute, e.g. unit=\"MiB\"",
                 Q(text));
    else if (r < 0 || (v != 0 && scale > UINT64_MAX / v))
        r = fail(x, n, ERANGE, "'%s' is too large; %s %s", Q(text), most, SIZE(max));
    else if ((v *= scale) % 4096 != 0)
        r = fail(x, n, EINVAL, "%s is not a multiple of 4 KiB (the page size)", SIZE(v));
    else if (!is_limit && v < DOMAIN_MEMORY_MIN)
        r = fail(x, n, ERANGE, "%s is too small; a domain needs at least %s", SIZE(v), SIZE(DOMAIN_MEMORY_MIN));
    else if (v > max)
        r = fail(x, n, ERANGE, "%s is too large; %s %s", SIZE(v), most, SIZE(max));
    else
        *out = v;
    free(text);
    return r;
}

int dxml_parse_memory(const struct xml_ctx *x, xmlNode *n, uint64_t *out)
{
    return size_element(x, n, 0, out);
}

int dxml_parse_limit(const struct xml_ctx *x, xmlNode *n, uint64_t *out)
{
    return size_element(x, n, 1, out);
}

/* A cpuset attribute (libvirt's syntax, lib/cpumask.h) into *m; the line into *line. */
static int cpuset_attr(const struct xml_ctx *x, xmlNode *n, const char *value, struct cpumask *m, long *line)
{
    char why[300];
    if (cpumask_parse(value, m, why, sizeof(why)) < 0)
        return fail(x, n, EINVAL, "cpuset %s", why);
    *line = xmlGetLineNo(n);
    return 0;
}

int dxml_parse_vcpu(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    /* libvirt writes placement="static" on every <vcpu> it saves; "auto" asks numad, which
     * XenoServer does not have: both mean "the CPUs of cpuset, or any". */
    static const char *const attrs[] = {"placement", "cpuset", NULL};
    char *placement, *cpuset = NULL, *text = NULL;
    uint64_t v;
    int r = dxml_check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    placement = dxml_attr(x, n, "placement", &r);
    if (placement && strcmp(placement, "static") != 0 && strcmp(placement, "auto") != 0)
        r = fail(x, n, EINVAL, "placement '%s' is unknown; use static or leave it out", Q(placement));
    xmlFree(placement);
    if (r == 0)
        cpuset = dxml_attr(x, n, "cpuset", &r);
    if (r == 0 && cpuset && (r = cpuset_attr(x, n, cpuset, &c->affinity.cpuset, &c->affinity.cpuset_line)) == 0)
        c->affinity.has_cpuset = 1;
    xmlFree(cpuset);
    if (r == 0)
        r = dxml_leaf_text(x, n, &text);
    if (r < 0)
        return r;
    r = parse_u64_range(text, 1, DOMAIN_VCPUS_MAX, &v);
    if (r == -ERANGE)
        r = fail(x, n, ERANGE, "%s is out of range; give a count from 1 to %d", Q(text), DOMAIN_VCPUS_MAX);
    else if (r < 0)
        r = fail(x, n, EINVAL, "'%s' is not a number; give a count from 1 to %d", Q(text), DOMAIN_VCPUS_MAX);
    else
        c->vcpus = (unsigned)v;
    free(text);
    return r;
}

/* <vcpupin vcpu='N' cpuset='LIST'/> (one per vCPU, for one that exists) and
 * <emulatorpin cpuset='LIST'/>. Needs c->vcpus. */
static int parse_pin(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    static const char *const pin_attrs[] = {"vcpu", "cpuset", NULL};
    static const char *const emu_attrs[] = {"cpuset", NULL};
    struct domain_affinity *a = &c->affinity;
    int emulator = strcmp((const char *)n->name, "emulatorpin") == 0;
    char *vcpu = NULL, *cpuset = NULL;
    uint64_t i = 0;
    int r = dxml_check_attrs(x, n, emulator ? emu_attrs : pin_attrs);
    if (r == 0 && n->children)
        r = fail(x, n, EINVAL, "takes no content; e.g. <%s cpuset='0-1'/>", ELEM(n));
    if (r == 0 && !emulator && !(vcpu = dxml_attr(x, n, "vcpu", &r)) && r == 0)
        r = fail(x, n, EINVAL, "missing vcpu='N', the vCPU to pin; e.g. <vcpupin vcpu='0' cpuset='1'/>");
    if (r == 0 && vcpu && parse_u64_range(vcpu, 0, DOMAIN_VCPUS_MAX - 1, &i) < 0)
        r = fail(x, n, EINVAL, "vcpu '%s' is not a vCPU number", Q(vcpu));
    if (r == 0 && vcpu && i >= c->vcpus)
        r = fail(x, n, EINVAL, "vCPU %llu does not exist: the domain has %u (0 to %u)", (unsigned long long)i, c->vcpus,
                 c->vcpus - 1);
    if (r == 0 && vcpu && (a->vcpupin_given >> i) & 1)
        r = fail(x, n, EINVAL, "vCPU %llu is pinned already (line %ld); keep one", (unsigned long long)i,
                 a->vcpupin_line[i]);
    if (r == 0 && emulator && a->has_emulatorpin)
        r = fail(x, n, EINVAL, "duplicate element (the first is on line %ld); keep one", a->emulatorpin_line);
    if (r == 0 && !(cpuset = dxml_attr(x, n, "cpuset", &r)) && r == 0)
        r = fail(x, n, EINVAL, "missing cpuset='LIST', the host CPUs it may run on; e.g. cpuset='0-1'");
    if (r == 0 && emulator && (r = cpuset_attr(x, n, cpuset, &a->emulatorpin, &a->emulatorpin_line)) == 0)
        a->has_emulatorpin = 1;
    else if (r == 0 && !emulator && (r = cpuset_attr(x, n, cpuset, &a->vcpupin[i], &a->vcpupin_line[i])) == 0)
        a->vcpupin_given |= 1u << i;
    xmlFree(vcpu);
    xmlFree(cpuset);
    return r;
}

/* A whole number element of <cputune> (no attributes) in [min, max]; negative values are
 * allowed only when allow_negative (then *neg is set). */
static int cputune_number(const struct xml_ctx *x, xmlNode *n, const char *example, uint64_t min, uint64_t max,
                          int allow_negative, int *neg, uint64_t *out)
{
    char *text;
    int r = dxml_value_of(x, n, example, &text);
    if (r < 0)
        return r;
    const char *digits = text;
    if (allow_negative && text[0] == '-') {
        *neg = 1;
        digits++;
    }
    r = parse_u64_range(digits, min, max, out);
    if (r == -ERANGE && !(neg && *neg))
        r = fail(x, n, ERANGE, "%s is out of range; give %llu to %llu", Q(text), (unsigned long long)min,
                 (unsigned long long)max);
    else if (r < 0 && !(neg && *neg && r == -ERANGE))
        r = fail(x, n, EINVAL, "'%s' is not a whole number, e.g. %s", Q(text), example);
    else
        r = 0;
    free(text);
    return r;
}

/* <cputune>: libvirt's <shares> (the weight), <period> and <quota> (microseconds of CPU per
 * period for each vCPU; 0 or negative: no limit). XenoServer pools the quota: the domain's
 * vCPUs together may use vcpus x quota per period (docs/domain-xml.md). Needs c->vcpus. */
int dxml_parse_cputune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    enum { SHARES, PERIOD, QUOTA, N };
    static const char *const names[N] = {"shares", "period", "quota"};
    xmlNode *el[N];
    uint64_t v = 0;
    int neg = 0, first = 0;
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    /* The pins repeat; each is parsed and taken out, the rest appear at most once. */
    for (xmlNode *p = n->children, *next; r == 0 && p; p = next) {
        next = p->next;
        if (p->type == XML_ELEMENT_NODE && !p->ns &&
            (strcmp((const char *)p->name, "vcpupin") == 0 || strcmp((const char *)p->name, "emulatorpin") == 0)) {
            DXML_KEEP(first, parse_pin(x, p, c));
            xmlUnlinkNode(p);
            xmlFreeNode(p);
        }
    }
    if (r == 0)
        r = dxml_collect_children(x, n, names, N, el);
    if (r == 0)
        r = first;
    if (r == 0 && el[SHARES] &&
        (r = cputune_number(x, el[SHARES], "<shares>1024</shares>", SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX, 0, NULL, &v)) ==
            0)
        c->sched.weight = (uint32_t)v;
    if (r == 0 && el[PERIOD] &&
        (r = cputune_number(x, el[PERIOD], "<period>10000</period>", SCHED_PERIOD_MIN_US, SCHED_PERIOD_MAX_US, 0, NULL,
                            &v)) == 0)
        c->sched.period_us = (uint32_t)v;
    if (r < 0 || !el[QUOTA])
        return r;
    r = cputune_number(x, el[QUOTA], "<quota>2000</quota>", 0, 17592186044415ULL, 1, &neg, &v);
    if (r < 0 || neg || v == 0)
        return r; /* libvirt: 0 or negative is no limit */
    if (!el[PERIOD])
        return fail(x, el[QUOTA], EINVAL,
                    "give <period> with <quota>: libvirt's default period is 100000 us and XenoServer's 10000 us, "
                    "so a quota alone would not mean what it says; e.g. <period>10000</period><quota>2000</quota>");
    if (v < 1000)
        return fail(x, el[QUOTA], ERANGE, "%llu us is too small; give at least 1000 (or -1 for no limit)",
                    (unsigned long long)v);
    if (v > c->sched.period_us)
        return fail(x, el[QUOTA], ERANGE,
                    "%llu us is more than the period (%u us): a vCPU runs on one CPU at most, so the quota can be "
                    "at most the period (or -1 for no limit)",
                    (unsigned long long)v, c->sched.period_us);
    c->sched.limit_ppm = (uint32_t)(v * SCHED_PPM / c->sched.period_us * c->vcpus);
    if (c->sched.limit_ppm < SCHED_SHARE_MIN_PPM)
        return fail(x, el[QUOTA], ERANGE, "%llu us of %u us is less than 1%% of a CPU, too little to enforce",
                    (unsigned long long)v, c->sched.period_us);
    return 0;
}

/* Canonical 8-4-4-4-12 hex digits, stored lowercase. */
int dxml_parse_uuid(const struct xml_ctx *x, xmlNode *n, char *out)
{
    char *text;
    int r = dxml_value_of(x, n, "<uuid>4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a34</uuid>", &text);
    if (r < 0)
        return r;
    bool ok = strlen(text) == DOMAIN_UUID_LEN, zero = true;
    for (int i = 0; ok && i < DOMAIN_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ok = text[i] == '-';
        else
            ok = isxdigit((unsigned char)text[i]);
        if (ok && text[i] != '-' && text[i] != '0')
            zero = false;
    }
    if (!ok)
        r = fail(x, n, EINVAL,
                 "'%s' is not a UUID; write 32 hex digits as 8-4-4-4-12, or leave <uuid> out to have one generated",
                 Q(text));
    else if (zero)
        r = fail(x, n, EINVAL, "the nil UUID identifies nothing; leave <uuid> out to have one generated");
    else
        for (int i = 0; i <= DOMAIN_UUID_LEN; i++)
            out[i] = (char)tolower((unsigned char)text[i]);
    free(text);
    return r;
}

static int random_bytes(uint8_t *buf, size_t len)
{
    if (getrandom(buf, len, 0) == (ssize_t)len)
        return 0;
    /* getrandom is missing on old kernels (and some sandboxes refuse it). */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = read(fd, buf, len);
    int e = errno;
    close(fd);
    return got == (ssize_t)len ? 0 : got < 0 ? -e : -EIO;
}

int domain_mac_generate(uint8_t mac[6])
{
    mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;
    return random_bytes(mac + 3, 3);
}

/* A random (version 4, RFC 4122 variant) UUID. */
int domain_uuid_generate(char out[DOMAIN_UUID_LEN + 1])
{
    uint8_t b[16];
    int r = random_bytes(b, sizeof(b));
    if (r < 0)
        return r;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 (random) */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, DOMAIN_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

int dxml_generate_uuid(const struct xml_ctx *x, const xmlNode *root, char *out)
{
    int r = domain_uuid_generate(out);
    return r < 0 ? fail(x, root, -r, "cannot generate a UUID: %s; give one in <uuid>", strerror(-r)) : 0;
}

/* <kernel> and <initrd>: a regular file, now. Relative paths resolve against the base
 * directory. The file's own name is kept as written (a link like vmlinuz -> vmlinuz-6.1 is
 * followed again at each boot), its directory is made canonical (examples/../build/guest
 * reads as /.../build/guest). */
static int parse_file_path(const struct xml_ctx *x, xmlNode *n, const char *example, char **out)
{
    char *text, *path = NULL, *dir = NULL;
    struct stat st;
    int r = dxml_value_of(x, n, example, &text);
    if (r < 0)
        return r;
    if (text[0] == '/')
        path = strdup(text);
    else if (!x->base_dir)
        r = fail(
            x, n, EINVAL,
            "'%s' is a relative path, but the XML (%s) is not a file it could be relative to; give an absolute path",
            Q(text), x->source);
    else if (asprintf(&path, "%s/%s", x->base_dir, text) < 0)
        path = NULL;
    if (r == 0 && !path)
        r = dxml_out_of_memory(x);
    else if (r == 0 && strlen(path) >= PATH_MAX)
        r = fail(x, n, ENAMETOOLONG, "the path is longer than %d bytes", PATH_MAX - 1);
    else if (r == 0 && stat(path, &st) < 0) {
        int e = errno;
        if (text[0] == '/')
            r = fail(x, n, e, "'%s': %s", Q_PATH(path), strerror(e));
        else
            r = fail(x, n, e, "'%s' (%s): %s", Q(text), Q_PATH(path), strerror(e));
    } else if (r == 0 && !S_ISREG(st.st_mode))
        r = fail(x, n, EINVAL, "'%s' is not a regular file", Q(text));
    free(text);
    if (r < 0) {
        free(path);
        return r;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    dir = realpath(slash == path ? "/" : path, NULL);
    *slash = '/';
    if (dir) {
        char *canon;
        if (asprintf(&canon, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, slash + 1) >= 0) {
            free(path);
            path = canon;
        }
        free(dir);
    }
    *out = path;
    return 0;
}

/* <os><type> and <os><cmdline>. */
static int parse_os_values(const struct xml_ctx *x, xmlNode *type, xmlNode *cmdline, struct domain_config *c)
{
    static const char *const type_attrs[] = {"arch", NULL};
    xmlNode *el[] = {type, cmdline};
    enum { TYPE, CMDLINE };
    char *s;
    int r;
    if (el[TYPE]) {
        r = dxml_check_attrs(x, el[TYPE], type_attrs);
        s = r < 0 ? NULL : dxml_attr(x, el[TYPE], "arch", &r);
        if (s && strcmp(s, "x86_64") != 0)
            r = fail(x, el[TYPE], EINVAL, "arch '%s' is not supported; use x86_64 or leave it out", Q(s));
        xmlFree(s);
        if (r == 0)
            r = dxml_leaf_text(x, el[TYPE], &s);
        if (r < 0)
            return r;
        if (strcmp(s, "hvm") != 0)
            r = fail(
                x, el[TYPE], EINVAL,
                "'%s' is not supported; XenoServer boots PVH kernels as hvm: write <type>hvm</type> or leave it out",
                Q(s));
        free(s);
        if (r < 0)
            return r;
    }
    if (el[CMDLINE]) {
        r = dxml_check_attrs(x, el[CMDLINE], dxml_no_attrs);
        if (r == 0)
            r = dxml_leaf_text(x, el[CMDLINE], &s);
        if (r < 0)
            return r;
        if (strlen(s) > DOMAIN_CMDLINE_MAX) {
            r = fail(x, el[CMDLINE], E2BIG, "%zu bytes is too long; a kernel command line holds at most %d", strlen(s),
                     DOMAIN_CMDLINE_MAX);
            free(s);
            return r;
        }
        if (*s)
            c->cmdline = s;
        else
            free(s); /* <cmdline/> is no command line */
    }
    return 0;
}

int dxml_parse_os(const struct xml_ctx *x, xmlNode *os, struct domain_config *c)
{
    enum { TYPE, KERNEL, INITRD, CMDLINE, N };
    static const char *const names[N] = {"type", "kernel", "initrd", "cmdline"};
    xmlNode *el[N];
    int first = 0, r;
    DXML_KEEP(first, dxml_check_attrs(x, os, dxml_no_attrs));
    DXML_KEEP(first, dxml_collect_children(x, os, names, N, el));
    DXML_KEEP(first, parse_os_values(x, el[TYPE], el[CMDLINE], c));
    /* The files last: a typo elsewhere is reported even where the kernel is not built yet. */
    if (!el[KERNEL])
        return first
                   ? first
                   : fail(
                         x, os, EINVAL,
                         "missing <kernel>; give the path of the kernel ELF file, e.g. <kernel>/boot/vmlinuz</kernel>");
    r = parse_file_path(x, el[KERNEL], "<kernel>/boot/vmlinuz</kernel>", &c->kernel);
    if (r == 0 && el[INITRD])
        r = parse_file_path(x, el[INITRD], "<initrd>/boot/initrd.img</initrd>", &c->initrd);
    return first ? first : r;
}

/* <console type="pty"> and <serial type="pty">, each with an optional
 * <target type="..." port="0"/>: both name the one COM1 console every domain has. */
int dxml_parse_console(const struct xml_ctx *x, xmlNode *n, const char *target_type)
{
    static const char *const attrs[] = {"type", NULL};
    static const char *const target_attrs[] = {"type", "port", NULL};
    static const char *const names[] = {"target"};
    xmlNode *target, *none;
    char *s;
    int r = dxml_check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    s = dxml_attr(x, n, "type", &r);
    if (r < 0)
        return r;
    if (!s)
        r = fail(x, n, EINVAL, "missing type; write type=\"pty\"");
    else if (strcmp(s, "pty") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; use type=\"pty\" (xenctl console attaches to it)", Q(s));
    xmlFree(s);
    if (r == 0)
        r = dxml_collect_children(x, n, names, 1, &target);
    if (r < 0 || !target)
        return r;
    r = dxml_check_attrs(x, target, target_attrs);
    if (r == 0)
        r = dxml_collect_children(x, target, NULL, 0, &none);
    s = r < 0 ? NULL : dxml_attr(x, target, "type", &r);
    if (s && strcmp(s, target_type) != 0)
        r = fail(x, target, ENOTSUP, "type '%s' is not supported; use type=\"%s\" or leave it out", Q(s), target_type);
    xmlFree(s);
    s = r < 0 ? NULL : dxml_attr(x, target, "port", &r);
    if (s && strcmp(s, "0") != 0)
        r = fail(x, target, ENOTSUP, "port '%s': a domain has one serial port, port 0", Q(s));
    xmlFree(s);
    return r;
}
