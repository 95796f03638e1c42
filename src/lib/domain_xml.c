/* Domain XML (docs/domain-xml.md): a strict subset of libvirt's, read with libxml2.
 *
 * Strict on purpose: a misspelt element that is silently ignored is a domain that boots with
 * defaults its author never asked for. So everything not understood is an error naming the
 * file, the line and the element. <metadata> is the one exception: libvirt gives it to
 * applications, so elements in foreign namespaces there are skipped.
 *
 * The XML may come from any API client, so the parser gets no network (XML_PARSE_NONET), no
 * entity substitution (no XML_PARSE_NOENT), no DTD loading, and a DOCTYPE stops it the moment
 * it is seen, before a single entity declaration is read: domain XML never has one, and that
 * closes external entities (XXE) and entity-expansion bombs alike. */
#include "lib/domain_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h> /* xmlCreateMemoryParserCtxt */
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "lib/err.h"
#include "lib/mac_addr.h"
#include "lib/parse.h"

#define XENO_NS "urn:xenoserver:domain:1"
#define SEE_DOCS " (see docs/domain-xml.md)"
#define ACTIONS "use destroy, restart or preserve"

/* libxml2 2.12 made the structured error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

struct xml_ctx {
    char source[516]; /* names the document in messages (control characters shown as '?') */
    char *base_dir;   /* absolute; NULL: relative paths are refused */
    /* The first error libxml2 reported, through the structured handler. */
    bool syntax_error;
    long syntax_line;
    char syntax_msg[256];
    long doctype_line; /* line of a <!DOCTYPE>, 0 if none */
};

/* ---- messages ---- */

/* User text in a message: at most 80 bytes (not cutting a UTF-8 sequence), control
 * characters shown as '?', so a message stays one readable line whatever the document holds. */
static const char *quote(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s), max = size - 4;
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    strcpy(buf + n, cut ? "..." : "");
    return buf;
}
#define Q(s) quote((const char *)(s), (char[84]){0}, 84)
#define Q_PATH(s) quote((s), (char[404]){0}, 404) /* paths: more is worth showing */

/* "xeno:sponsor" for a prefixed element, "memory" otherwise. */
static const char *label(const xmlChar *prefix, const xmlChar *name, char *buf, size_t size)
{
    if (prefix)
        snprintf(buf, size, "%s:%s", (const char *)prefix, (const char *)name);
    else
        snprintf(buf, size, "%s", (const char *)name);
    return buf;
}
#define ELEM(n) label((n)->ns ? (n)->ns->prefix : NULL, (n)->name, (char[80]){0}, 80)

/* "SOURCE:LINE: <element>: what" with the line given. */
static int __attribute__((format(printf, 5, 6)))
fail_at(const struct xml_ctx *x, long line, const xmlNode *n, int errnum, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return err_set(errnum, "%s:%ld: <%s>: %s", x->source, line, ELEM(n), what);
}
/* The same at the element's own line. */
#define fail(x, n, errnum, ...) fail_at((x), xmlGetLineNo(n), (n), (errnum), __VA_ARGS__)

static int out_of_memory(const struct xml_ctx *x)
{
    return err_set(ENOMEM, "%s: out of memory", x->source);
}

/* "64 MiB", "4100 KiB", "4097 bytes": the largest binary unit that divides exactly. */
static const char *size_text(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    while (u < 4 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, size, "%llu %s", (unsigned long long)bytes, units[u]);
    return buf;
}
#define SIZE(b) size_text((b), (char[32]){0}, 32)

/* ---- the tree ---- */

static bool is_blank(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/* Libvirt elements a reader may expect to work: saying "not supported yet" tells them the
 * name is right and the feature is missing, rather than that they misspelt it. */
static bool libvirt_known(const xmlChar *name)
{
    static const char *const names[] = {
        "title",     "description", "maxMemory",      "memtune", "memoryBacking", "cputune",  "blkiotune",
        "numatune",  "iothreads",   "resource",       "sysinfo", "features",      "cpu",      "clock",
        "pm",        "seclabel",    "on_lockfailure", "loader",  "nvram",         "boot",     "bootmenu",
        "smbios",    "bios",        "init",           "initarg", "dtb",           "emulator", "disk",
        "interface", "memballoon",  "controller",     "channel", "graphics",      "video",    "input",
        "rng",       "watchdog",    "filesystem",     "hostdev", "sound",         "tpm",      "parallel",
        "redirdev",  "smartcard",   "panic",          "shmem",   "vsock",
        /* in <cputune> */
        "vcpupin", "emulatorpin", "iothreadpin", "vcpusched", "iothreadsched", "emulatorsched", "cachetune",
        "memorytune", "global_period", "global_quota", "emulator_period", "emulator_quota", "iothread_period",
        "iothread_quota",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp((const char *)name, names[i]) == 0)
            return true;
    return false;
}

static int unknown_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n)
{
    if (!n->ns && libvirt_known(n->name))
        return fail(x, n, EINVAL,
                    "not supported in <%s> yet; XenoServer takes a subset of libvirt's domain XML" SEE_DOCS,
                    ELEM(parent));
    return fail(x, n, EINVAL, "unknown element in <%s>" SEE_DOCS, ELEM(parent));
}

/* A child of `parent` that is not an element: comments and processing instructions are
 * skipped, whitespace between elements too; text is an error. */
static int not_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n)
{
    switch (n->type) {
    case XML_COMMENT_NODE:
    case XML_PI_NODE: return 0;
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        if (is_blank(n->content))
            return 0;
        {
            /* The text trimmed of its leading white space, and the line where that begins
             * (libxml2 gives a text node the line where the text ends). */
            const char *t = (const char *)n->content;
            long line = xmlGetLineNo(n);
            while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
                t++;
            size_t len = strcspn(t, "\r\n");
            for (const char *p = t; *p; p++)
                if (*p == '\n')
                    line--;
            if (line < 1 || line > xmlGetLineNo(n))
                line = xmlGetLineNo(parent);
            char first[81]; /* its first line is enough to find it */
            snprintf(first, sizeof(first), "%.*s", (int)(len < 80 ? len : 80), t);
            return fail_at(x, line, parent, EINVAL, "unexpected text '%s'; only elements belong here" SEE_DOCS,
                           Q(first));
        }
    default:
        /* Entity references cannot get this far (no DOCTYPE, so no entities to refer to). */
        return fail(x, parent, EINVAL, "unexpected XML content (node type %d)", (int)n->type);
    }
}

/* Walks the children of `parent`: each element must be one of `names` (no namespace) and
 * appear at most once; found[i] is the element named names[i], or NULL. */
static int collect_children(const struct xml_ctx *x, const xmlNode *parent, const char *const *names, size_t count,
                            xmlNode **found)
{
    for (size_t i = 0; i < count; i++)
        found[i] = NULL;
    for (xmlNode *n = parent->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            int r = not_element(x, parent, n);
            if (r < 0)
                return r;
            continue;
        }
        size_t i = count;
        if (!n->ns)
            for (i = 0; i < count && strcmp((const char *)n->name, names[i]) != 0; i++)
                ;
        if (i == count)
            return unknown_element(x, parent, n);
        if (found[i])
            return fail(x, n, EINVAL, "duplicate element in <%s> (the first is on line %ld); keep one", ELEM(parent),
                        xmlGetLineNo(found[i]));
        found[i] = n;
    }
    return 0;
}

/* Every attribute of `n` must be in the NULL-terminated `allowed` (none has a namespace). */
static int check_attrs(const struct xml_ctx *x, const xmlNode *n, const char *const *allowed)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *const *p = allowed;
        if (!a->ns)
            while (*p && strcmp(*p, (const char *)a->name) != 0)
                p++;
        if (a->ns || !*p)
            return fail(x, n, EINVAL, "unknown attribute '%s'" SEE_DOCS,
                        label(a->ns ? a->ns->prefix : NULL, a->name, (char[80]){0}, 80));
    }
    return 0;
}
static const char *const no_attrs[] = {NULL};

/* An attribute's value (xmlFree it), or NULL when absent. *r gets -ENOMEM if it could not
 * be copied. */
static char *attr(const struct xml_ctx *x, xmlNode *n, const char *name, int *r)
{
    if (!xmlHasProp(n, (const xmlChar *)name))
        return NULL;
    char *v = (char *)xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        *r = out_of_memory(x);
    return v;
}

/* The text of an element that may hold only text (comments aside), without the white space
 * around it (so a value may sit on its own line). *out is malloc'd. */
static int leaf_text(const struct xml_ctx *x, xmlNode *n, char **out)
{
    *out = NULL;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return unknown_element(x, n, c);
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE && c->type != XML_COMMENT_NODE &&
            c->type != XML_PI_NODE)
            return not_element(x, n, c);
    }
    xmlChar *content = xmlNodeGetContent(n);
    const char *s = content ? (const char *)content : "";
    size_t len = strlen(s);
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    *out = strndup(s, len);
    xmlFree(content);
    return *out ? 0 : out_of_memory(x);
}

/* leaf_text for an element that takes no attributes and must not be empty. */
static int value_of(const struct xml_ctx *x, xmlNode *n, const char *example, char **out)
{
    int r = check_attrs(x, n, no_attrs);
    if (r == 0)
        r = leaf_text(x, n, out);
    if (r == 0 && **out == '\0') {
        free(*out);
        *out = NULL;
        r = fail(x, n, EINVAL, "empty; give a value, e.g. %s", example);
    }
    return r;
}

/* ---- values ---- */

static const char *name_problem(const char *name)
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
    return name && !name_problem(name);
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

static int parse_action(const struct xml_ctx *x, xmlNode *n, enum lifecycle_action *out)
{
    char *text;
    int r = value_of(x, n, "destroy", &text);
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

/* <memory> and <currentMemory>: a whole number in the unit attribute's unit (KiB when
 * absent, as in libvirt), a multiple of 4 KiB, DOMAIN_MEMORY_MIN to DOMAIN_MEMORY_MAX. */
static int parse_memory(const struct xml_ctx *x, xmlNode *n, uint64_t *out)
{
    static const char *const attrs[] = {"unit", NULL};
    uint64_t scale = 1024, v;
    char *unit, *text = NULL;
    int r = check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    unit = attr(x, n, "unit", &r);
    if (r < 0)
        return r;
    if (unit && unit_scale(unit, &scale) < 0)
        r = fail(x, n, EINVAL,
                 "unknown unit '%s'; use b, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)",
                 Q(unit));
    xmlFree(unit);
    if (r == 0)
        r = leaf_text(x, n, &text);
    if (r < 0)
        return r;
    if (!*text)
        r = fail(x, n, EINVAL, "empty; give a size, e.g. <%s unit=\"MiB\">64</%s>", n->name, n->name);
    else if ((r = parse_u64_range(text, 0, UINT64_MAX, &v)) == -EINVAL)
        r = fail(x, n, EINVAL, "'%s' is not a whole number; the unit goes in the unit attribute, e.g. unit=\"MiB\"",
                 Q(text));
    else if (r < 0 || (v != 0 && scale > UINT64_MAX / v))
        r = fail(x, n, ERANGE, "'%s' is too large; the most a domain may have is %s", Q(text), SIZE(DOMAIN_MEMORY_MAX));
    else if ((v *= scale) % 4096 != 0)
        r = fail(x, n, EINVAL, "%s is not a multiple of 4 KiB (the page size)", SIZE(v));
    else if (v < DOMAIN_MEMORY_MIN)
        r = fail(x, n, ERANGE, "%s is too small; a domain needs at least %s", SIZE(v), SIZE(DOMAIN_MEMORY_MIN));
    else if (v > DOMAIN_MEMORY_MAX)
        r = fail(x, n, ERANGE, "%s is too large; the most a domain may have is %s", SIZE(v), SIZE(DOMAIN_MEMORY_MAX));
    else
        *out = v;
    free(text);
    return r;
}

static int parse_vcpu(const struct xml_ctx *x, xmlNode *n, unsigned *out)
{
    /* libvirt writes placement="static" on every <vcpu> it saves; without cpusets or numad
     * there is nothing to place, so both of its values mean "let the host schedule". */
    static const char *const attrs[] = {"placement", NULL};
    char *placement, *text = NULL;
    uint64_t v;
    int r = check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    placement = attr(x, n, "placement", &r);
    if (placement && strcmp(placement, "static") != 0 && strcmp(placement, "auto") != 0)
        r = fail(x, n, EINVAL, "placement '%s' is unknown; use static or leave it out", Q(placement));
    xmlFree(placement);
    if (r == 0)
        r = leaf_text(x, n, &text);
    if (r < 0)
        return r;
    r = parse_u64_range(text, 1, DOMAIN_VCPUS_MAX, &v);
    if (r == -ERANGE)
        r = fail(x, n, ERANGE, "%s is out of range; give a count from 1 to %d", Q(text), DOMAIN_VCPUS_MAX);
    else if (r < 0)
        r = fail(x, n, EINVAL, "'%s' is not a number; give a count from 1 to %d", Q(text), DOMAIN_VCPUS_MAX);
    else
        *out = (unsigned)v;
    free(text);
    return r;
}

/* A whole number element of <cputune> (no attributes) in [min, max]; negative values are
 * allowed only when allow_negative (then *neg is set). */
static int cputune_number(const struct xml_ctx *x, xmlNode *n, const char *example, uint64_t min, uint64_t max,
                          int allow_negative, int *neg, uint64_t *out)
{
    char *text;
    int r = value_of(x, n, example, &text);
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
static int parse_cputune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    enum { SHARES, PERIOD, QUOTA, N };
    static const char *const names[N] = {"shares", "period", "quota"};
    xmlNode *el[N];
    uint64_t v = 0;
    int neg = 0;
    int r = check_attrs(x, n, no_attrs);
    if (r == 0)
        r = collect_children(x, n, names, N, el);
    if (r == 0 && el[SHARES] &&
        (r = cputune_number(x, el[SHARES], "<shares>1024</shares>", SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX, 0, NULL,
                            &v)) == 0)
        c->sched.weight = (uint32_t)v;
    if (r == 0 && el[PERIOD] &&
        (r = cputune_number(x, el[PERIOD], "<period>10000</period>", SCHED_PERIOD_MIN_US, SCHED_PERIOD_MAX_US, 0,
                            NULL, &v)) == 0)
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
static int parse_uuid(const struct xml_ctx *x, xmlNode *n, char *out)
{
    char *text;
    int r = value_of(x, n, "<uuid>4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a34</uuid>", &text);
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

static int generate_uuid(const struct xml_ctx *x, const xmlNode *root, char *out)
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
    int r = value_of(x, n, example, &text);
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
        r = out_of_memory(x);
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

static int parse_os(const struct xml_ctx *x, xmlNode *os, struct domain_config *c)
{
    enum { TYPE, KERNEL, INITRD, CMDLINE, N };
    static const char *const names[N] = {"type", "kernel", "initrd", "cmdline"};
    static const char *const type_attrs[] = {"arch", NULL};
    xmlNode *el[N];
    char *s;
    int r = check_attrs(x, os, no_attrs);
    if (r == 0)
        r = collect_children(x, os, names, N, el);
    if (r < 0)
        return r;
    if (el[TYPE]) {
        r = check_attrs(x, el[TYPE], type_attrs);
        s = r < 0 ? NULL : attr(x, el[TYPE], "arch", &r);
        if (s && strcmp(s, "x86_64") != 0)
            r = fail(x, el[TYPE], EINVAL, "arch '%s' is not supported; use x86_64 or leave it out", Q(s));
        xmlFree(s);
        if (r == 0)
            r = leaf_text(x, el[TYPE], &s);
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
        r = check_attrs(x, el[CMDLINE], no_attrs);
        if (r == 0)
            r = leaf_text(x, el[CMDLINE], &s);
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
    /* The files last: a typo elsewhere is reported even where the kernel is not built yet. */
    if (!el[KERNEL])
        return fail(x, os, EINVAL,
                    "missing <kernel>; give the path of the kernel ELF file, e.g. <kernel>/boot/vmlinuz</kernel>");
    r = parse_file_path(x, el[KERNEL], "<kernel>/boot/vmlinuz</kernel>", &c->kernel);
    if (r == 0 && el[INITRD])
        r = parse_file_path(x, el[INITRD], "<initrd>/boot/initrd.img</initrd>", &c->initrd);
    return r;
}

/* <console type="pty"> and <serial type="pty">, each with an optional
 * <target type="..." port="0"/>: both name the one COM1 console every domain has. */
static int parse_console(const struct xml_ctx *x, xmlNode *n, const char *target_type)
{
    static const char *const attrs[] = {"type", NULL};
    static const char *const target_attrs[] = {"type", "port", NULL};
    static const char *const names[] = {"target"};
    xmlNode *target, *none;
    char *s;
    int r = check_attrs(x, n, attrs);
    if (r < 0)
        return r;
    s = attr(x, n, "type", &r);
    if (r < 0)
        return r;
    if (!s)
        r = fail(x, n, EINVAL, "missing type; write type=\"pty\"");
    else if (strcmp(s, "pty") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; use type=\"pty\" (xenctl console attaches to it)", Q(s));
    xmlFree(s);
    if (r == 0)
        r = collect_children(x, n, names, 1, &target);
    if (r < 0 || !target)
        return r;
    r = check_attrs(x, target, target_attrs);
    if (r == 0)
        r = collect_children(x, target, NULL, 0, &none);
    s = r < 0 ? NULL : attr(x, target, "type", &r);
    if (s && strcmp(s, target_type) != 0)
        r = fail(x, target, ENOTSUP, "type '%s' is not supported; use type=\"%s\" or leave it out", Q(s), target_type);
    xmlFree(s);
    s = r < 0 ? NULL : attr(x, target, "port", &r);
    if (s && strcmp(s, "0") != 0)
        r = fail(x, target, ENOTSUP, "port '%s': a domain has one serial port, port 0", Q(s));
    xmlFree(s);
    return r;
}

/* ---- <interface> ---- */

/* A namespaced element or attribute in ours? */
static bool in_xeno_ns(const xmlNs *ns)
{
    return ns && ns->href && strcmp((const char *)ns->href, XENO_NS) == 0;
}

/* A rate or size attribute of <inbound>/<outbound>: a whole number of kilobytes(/s), 1 to
 * DOMAIN_NET_RATE_MAX_KB, times `unit` bytes. Absent: *out stays 0. */
static int bandwidth_number(const struct xml_ctx *x, xmlNode *n, const char *name, uint64_t unit, uint64_t *out)
{
    int r = 0;
    uint64_t v;
    char *s = attr(x, n, name, &r);
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
    int r = collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *const *p = names;
        if (!a->ns)
            while (*p && strcmp(*p, (const char *)a->name) != 0)
                p++;
        bool weight = in_xeno_ns(a->ns) && strcmp((const char *)a->name, "weight") == 0;
        if (!weight && (a->ns || !*p))
            return fail(x, n, EINVAL,
                        "unknown attribute '%s'; <%s> takes average, peak, burst, floor and xeno:weight" SEE_DOCS,
                        label(a->ns ? a->ns->prefix : NULL, a->name, (char[80]){0}, 80), ELEM(n));
        if (weight) {
            xmlChar *s = xmlGetNsProp(n, a->name, (const xmlChar *)XENO_NS);
            uint64_t v;
            if (!s)
                return out_of_memory(x);
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
    int r = check_attrs(x, n, no_attrs);
    if (r == 0)
        r = collect_children(x, n, names, 2, el);
    if (r == 0 && !el[0] && !el[1])
        r = fail(x, n, EINVAL, "empty; give <inbound> and/or <outbound>, e.g. <outbound average=\"1000\"/>");
    if (r == 0 && el[0])
        r = parse_bandwidth_dir(x, el[0], &net->inbound);
    if (r == 0 && el[1])
        r = parse_bandwidth_dir(x, el[1], &net->outbound);
    return r;
}

/* An empty element with exactly one required attribute; its value in *out (xmlFree it). */
static int single_attr(const struct xml_ctx *x, xmlNode *n, const char *name, const char *example, char **out)
{
    const char *const attrs[] = {name, NULL};
    xmlNode *none;
    int r = check_attrs(x, n, attrs);
    if (r == 0)
        r = collect_children(x, n, NULL, 0, &none);
    *out = r < 0 ? NULL : attr(x, n, name, &r);
    if (r == 0 && !*out)
        r = fail(x, n, EINVAL, "missing %s; write e.g. %s", name, example);
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
    int r = check_attrs(x, n, attrs);
    if (r == 0)
        r = collect_children(x, n, NULL, 0, &none);
    if (r == 0)
        type = attr(x, n, "type", &r);
    if (r == 0)
        path = attr(x, n, "path", &r);
    if (r == 0)
        mode = attr(x, n, "mode", &r);
    if (r < 0)
        ;
    else if (type && strcmp(type, "unix") != 0)
        r = fail(x, n, ENOTSUP, "type '%s' is not supported; vhost-user runs over type=\"unix\"", Q(type));
    else if (mode && strcmp(mode, "server") != 0)
        r = fail(x, n, ENOTSUP,
                 "mode '%s' is not supported; the monitor listens and the backend connects (mode=\"server\")",
                 Q(mode));
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
    int r = check_attrs(x, n, attrs);
    s = r < 0 ? NULL : attr(x, n, "type", &r);
    if (r == 0 && !s)
        r = fail(x, n, EINVAL, "missing type; write type=\"vhostuser\"");
    else if (r == 0 && strcmp(s, "vhostuser") != 0)
        r = fail(x, n, ENOTSUP,
                 "type '%s' is not supported; write type=\"vhostuser\" (xeno-netback serves the device)", Q(s));
    xmlFree(s);
    if (r < 0)
        return r;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) {
            if ((r = not_element(x, n, c)) < 0)
                return r;
            continue;
        }
        size_t i = N;
        if (!c->ns) {
            for (i = 0; i < IP && strcmp((const char *)c->name, names[i]) != 0; i++)
                ;
            if (i == IP)
                i = N;
        } else if (in_xeno_ns(c->ns) && strcmp((const char *)c->name, "ip") == 0) {
            i = IP;
        }
        if (i == N) {
            if (in_xeno_ns(c->ns))
                return fail(x, c, EINVAL, "unknown element in <interface>; the " XENO_NS " namespace has <ip> here");
            if (c->ns)
                return fail(x, c, EINVAL, "unknown element in <interface>" SEE_DOCS);
            return unknown_element(x, n, c);
        }
        if (el[i])
            return fail(x, c, EINVAL, "duplicate element in <interface> (the first is on line %ld); keep one",
                        xmlGetLineNo(el[i]));
        el[i] = c;
    }
    if (!el[MAC])
        return fail(x, n, EINVAL, "missing <mac>; every interface needs one, e.g. <mac address=\"52:54:00:12:34:56\"/>");
    if ((r = single_attr(x, el[MAC], "address", "address=\"52:54:00:12:34:56\"", &s)) < 0)
        return r;
    if (mac_addr_parse(s, net->mac) < 0)
        r = fail(x, el[MAC], EINVAL, "%s", err_msg());
    xmlFree(s);
    if (r < 0)
        return r;
    if (el[SOURCE] && (r = parse_iface_source(x, el[SOURCE], net)) < 0)
        return r;
    if (el[MODEL]) {
        if ((r = single_attr(x, el[MODEL], "type", "type=\"virtio\"", &s)) < 0)
            return r;
        if (strcmp(s, "virtio") != 0)
            r = fail(x, el[MODEL], ENOTSUP, "type '%s' is not supported; the device is virtio-net (type=\"virtio\")",
                     Q(s));
        xmlFree(s);
        if (r < 0)
            return r;
    }
    if (el[IP]) {
        if ((r = single_attr(x, el[IP], "address", "address=\"10.0.0.2\"", &s)) < 0)
            return r;
        if (parse_ipv4(s, &net->ipv4) < 0)
            r = fail(x, el[IP], EINVAL, "address '%s' is not an IPv4 address like 10.0.0.2", Q(s));
        else if (net->ipv4 == 0 || net->ipv4 >> 28 >= 14 || net->ipv4 >> 24 == 127)
            r = fail(x, el[IP], EINVAL, "address %s cannot be a domain's own (unspecified, loopback, multicast or reserved)",
                     Q(s));
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

static int parse_devices(const struct xml_ctx *x, xmlNode *devices, struct domain_config *c)
{
    static const char *const names[] = {"console", "serial", "interface"};
    xmlNode *el[3];
    int r = check_attrs(x, devices, no_attrs);
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
        r = collect_children(x, devices, names, 3, el);
    }
    if (r == 0 && el[0])
        r = parse_console(x, el[0], "serial");
    if (r == 0 && el[1])
        r = parse_console(x, el[1], "isa-serial");
    if (r == 0 && el[2])
        r = parse_interface(x, el[2], &c->net);
    return r;
}

/* <xeno:memory enforcement="pause|destroy|report"/>: what the monitor does when the guest
 * misses a memory target's deadline. An empty element: the attribute is the whole point. */
static int parse_memory_policy(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    static const char *const attrs[] = {"enforcement", NULL};
    xmlNode *none;
    int r = check_attrs(x, n, attrs);
    if (r == 0)
        r = collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    char *s = attr(x, n, "enforcement", &r);
    if (r < 0)
        return r;
    if (!s)
        return fail(x, n, EINVAL, "missing enforcement; write enforcement=\"pause\", \"destroy\" or \"report\"");
    if (memory_enforcement_parse(s, &c->memory_enforcement) < 0)
        r = fail(x, n, EINVAL, "enforcement '%s' is unknown; use pause, destroy or report", Q(s));
    xmlFree(s);
    return r;
}

/* <xeno:cpu reservation="30%"/>: the CPU guaranteed to the domain in every period, all its
 * vCPUs together, in percent of one CPU (docs/scheduling.md). Needs c->vcpus. */
static int parse_cpu_policy(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    static const char *const attrs[] = {"reservation", NULL};
    xmlNode *none;
    uint64_t v;
    int r = check_attrs(x, n, attrs);
    if (r == 0)
        r = collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    char *s = attr(x, n, "reservation", &r);
    if (r < 0)
        return r;
    if (!s)
        return fail(x, n, EINVAL, "missing reservation; write e.g. reservation=\"30%%\" (of one CPU)");
    if ((r = parse_percent_ppm(s, (uint64_t)c->vcpus * SCHED_PPM, &v)) == -ERANGE)
        r = fail(x, n, ERANGE, "reservation %s is more than %u vCPU%s can use (%s)", Q(s), c->vcpus,
                 c->vcpus == 1 ? "" : "s", SCHED_PCT((uint64_t)c->vcpus * SCHED_PPM));
    else if (r < 0)
        r = fail(x, n, EINVAL, "reservation '%s' is not a percentage; write e.g. reservation=\"30%%\"", Q(s));
    else
        c->sched.reservation_ppm = (uint32_t)v;
    xmlFree(s);
    return r;
}

/* <metadata>: libvirt leaves it to applications, each in its own namespace. Ours holds the
 * sponsor, the memory policy and the CPU reservation; other namespaces are skipped,
 * unqualified elements are a mistake (most likely a forgotten xeno: prefix). */
static int parse_metadata(const struct xml_ctx *x, xmlNode *md, struct domain_config *c)
{
    xmlNode *sponsor = NULL, *memory = NULL, *cpu = NULL;
    int r = check_attrs(x, md, no_attrs);
    if (r < 0)
        return r;
    for (xmlNode *n = md->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            r = not_element(x, md, n);
            if (r < 0)
                return r;
        } else if (!n->ns) {
            return fail(x, n, EINVAL,
                        "elements in <metadata> need a namespace; for the sponsor write <xeno:sponsor> with "
                        "xmlns:xeno=\"" XENO_NS "\"" SEE_DOCS);
        } else if (n->ns->href && strcmp((const char *)n->ns->href, XENO_NS) == 0) {
            xmlNode **slot = strcmp((const char *)n->name, "sponsor") == 0  ? &sponsor
                             : strcmp((const char *)n->name, "memory") == 0 ? &memory
                             : strcmp((const char *)n->name, "cpu") == 0    ? &cpu
                                                                             : NULL;
            if (!slot)
                return fail(x, n, EINVAL,
                            "unknown element in <metadata>; the " XENO_NS
                            " namespace has <sponsor>, <memory> and <cpu>");
            if (*slot)
                return fail(x, n, EINVAL, "duplicate element in <metadata> (the first is on line %ld); keep one",
                            xmlGetLineNo(*slot));
            *slot = n;
        }
    }
    if (memory && (r = parse_memory_policy(x, memory, c)) < 0)
        return r;
    if (cpu && (r = parse_cpu_policy(x, cpu, c)) < 0)
        return r;
    /* Reservation against the <cputune> limit: reported at the reservation. */
    char why[300];
    if (cpu && sched_params_check(&c->sched, c->vcpus, why, sizeof(why)) < 0)
        return fail(x, cpu, EINVAL, "%s", why);
    if (!sponsor)
        return 0;
    char *s;
    r = value_of(x, sponsor, "<xeno:sponsor>acme</xeno:sponsor>", &s);
    if (r < 0)
        return r;
    size_t len = strlen(s);
    if (len > DOMAIN_SPONSOR_MAX)
        r = fail(x, sponsor, EINVAL, "%zu bytes is too long; a sponsor has at most %d", len, DOMAIN_SPONSOR_MAX);
    for (size_t i = 0; r == 0 && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        /* C0, DEL, and C1 (U+0080-U+009F, 0xc2 0x80-0x9f in UTF-8): the sponsor is shown in
         * listings and logs, where these would break lines or move the cursor. */
        if (ch < 0x20 || ch == 0x7f ||
            (ch == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f))
            r = fail(x, sponsor, EINVAL, "'%s' holds a control character (tab, newline, ...); write it on one line",
                     Q(s));
    }
    if (r == 0)
        memcpy(c->sponsor, s, len + 1);
    free(s);
    return r;
}

static int parse_domain(const struct xml_ctx *x, xmlNode *root, struct domain_config *c)
{
    enum { NAME, UUID, MEMORY, CURMEM, VCPU, OS, POWEROFF, REBOOT, CRASH, DEVICES, METADATA, CPUTUNE, N };
    static const char *const names[N] = {"name",        "uuid",      "memory",   "currentMemory", "vcpu",
                                         "os",          "on_poweroff", "on_reboot", "on_crash",   "devices",
                                         "metadata",    "cputune"};
    static const char *const attrs[] = {"type", NULL};
    xmlNode *el[N];
    char *s;
    int r;

    if (strcmp((const char *)root->name, "domain") != 0)
        return fail(x, root, EINVAL, "the root element must be <domain>" SEE_DOCS);
    if (root->ns)
        return fail(x, root, EINVAL, "in namespace '%s'; domain XML has none (as libvirt's): remove the xmlns",
                    Q(root->ns->href));
    r = check_attrs(x, root, attrs);
    s = r < 0 ? NULL : attr(x, root, "type", &r);
    if (s && strcmp(s, "kvm") != 0)
        r = fail(x, root, ENOTSUP, "type '%s' is not supported; write type=\"kvm\" or leave it out", Q(s));
    xmlFree(s);
    if (r == 0)
        r = collect_children(x, root, names, N, el);
    if (r < 0)
        return r;

    if (!el[NAME])
        return fail(x, root, EINVAL, "missing <name>; every domain needs one, e.g. <name>demo</name>");
    r = value_of(x, el[NAME], "<name>demo</name>", &s);
    if (r < 0)
        return r;
    const char *problem = name_problem(s);
    if (problem)
        r = fail(x, el[NAME], EINVAL, "'%s' is not a valid domain name: it %s", Q(s), problem);
    else
        strcpy(c->name, s);
    free(s);
    if (r < 0)
        return r;

    r = el[UUID] ? parse_uuid(x, el[UUID], c->uuid) : generate_uuid(x, root, c->uuid);
    if (r < 0)
        return r;

    if (!el[MEMORY])
        return fail(x, root, EINVAL, "missing <memory>; give the domain's RAM, e.g. <memory unit=\"MiB\">64</memory>");
    r = parse_memory(x, el[MEMORY], &c->memory_bytes);
    if (r < 0)
        return r;
    c->current_memory_bytes = c->memory_bytes;
    if (el[CURMEM]) {
        r = parse_memory(x, el[CURMEM], &c->current_memory_bytes);
        if (r < 0)
            return r;
        if (c->current_memory_bytes > c->memory_bytes)
            return fail(x, el[CURMEM], ERANGE, "%s is more than <memory> (%s); it can be at most that",
                        SIZE(c->current_memory_bytes), SIZE(c->memory_bytes));
    }

    c->vcpus = 1;
    if (el[VCPU] && (r = parse_vcpu(x, el[VCPU], &c->vcpus)) < 0)
        return r;
    c->sched = sched_params_default();
    if (el[CPUTUNE] && (r = parse_cputune(x, el[CPUTUNE], c)) < 0)
        return r;

    c->on_poweroff = ACTION_DESTROY;
    c->on_reboot = ACTION_RESTART;
    c->on_crash = ACTION_DESTROY;
    c->memory_enforcement = MEMORY_ENFORCE_REPORT;
    if (el[POWEROFF] && (r = parse_action(x, el[POWEROFF], &c->on_poweroff)) < 0)
        return r;
    if (el[REBOOT] && (r = parse_action(x, el[REBOOT], &c->on_reboot)) < 0)
        return r;
    if (el[CRASH] && (r = parse_action(x, el[CRASH], &c->on_crash)) < 0)
        return r;

    if (el[DEVICES] && (r = parse_devices(x, el[DEVICES], c)) < 0)
        return r;
    if (el[METADATA] && (r = parse_metadata(x, el[METADATA], c)) < 0)
        return r;

    if (!el[OS])
        return fail(x, root, EINVAL, "missing <os> with a <kernel>; e.g. <os><kernel>/boot/vmlinuz</kernel></os>");
    return parse_os(x, el[OS], c);
}

/* ---- the document ---- */

static void on_xml_error(void *data, xml_error_arg e)
{
    xmlParserCtxt *ctxt = data;
    struct xml_ctx *x = ctxt->_private;
    if (x->syntax_error || e->level < XML_ERR_ERROR)
        return; /* the first error says most; warnings do not stop a document */
    x->syntax_error = true;
    x->syntax_line = e->line;
    quote(e->message ? e->message : "unknown error", x->syntax_msg, sizeof(x->syntax_msg));
    /* libxml2's messages end in a newline (shown as '?' by quote) and maybe spaces. */
    size_t len = strlen(x->syntax_msg);
    while (len > 0 && (x->syntax_msg[len - 1] == '?' || x->syntax_msg[len - 1] == ' '))
        x->syntax_msg[--len] = '\0';
}

/* SAX internalSubset: called at <!DOCTYPE name ...>, before an internal subset (where
 * entities are declared) is read. Stopping here means no entity is ever declared. */
static void on_doctype(void *data, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    (void)name, (void)external_id, (void)system_id;
    xmlParserCtxt *ctxt = data;
    struct xml_ctx *x = ctxt->_private;
    x->doctype_line = ctxt->input ? ctxt->input->line : 1;
    xmlStopParser(ctxt);
}

static void xml_init(void)
{
    xmlInitParser();
}

static int read_document(struct xml_ctx *x, const char *xml, size_t len, xmlDoc **out)
{
    /* libxml2 before 2.11 must not be initialised by two threads at once, and xenod may
     * parse on several. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    *out = NULL;
    if (len == 0)
        return err_set(EINVAL, "%s:1: XML syntax error: the document is empty", x->source);
    if (len > DOMAIN_XML_MAX)
        return err_set(EFBIG, "%s: %zu bytes is more than a domain XML may have (%d)", x->source, len, DOMAIN_XML_MAX);
    pthread_once(&once, xml_init);
    /* Our own context rather than xmlReadMemory: the error handler and the DOCTYPE stop are
     * per context, so parses on other threads (and their errors) stay apart. */
    xmlParserCtxt *ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt)
        return out_of_memory(x);
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES);
    ctxt->_private = x;
    ctxt->sax->serror = on_xml_error;
    ctxt->sax->internalSubset = on_doctype;
    xmlParseDocument(ctxt);
    xmlDoc *doc = ctxt->myDoc;
    bool well_formed = ctxt->wellFormed;
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);

    int r = 0;
    if (x->doctype_line)
        r = err_set(EINVAL,
                    "%s:%ld: <!DOCTYPE>: document type declarations are not accepted (domain XML has none, and "
                    "its entities could read files); remove it",
                    x->source, x->doctype_line);
    else if (x->syntax_error)
        r = err_set(EINVAL, "%s:%ld: XML syntax error: %s", x->source, x->syntax_line, x->syntax_msg);
    else if (!well_formed || !doc || !xmlDocGetRootElement(doc))
        r = err_set(EINVAL, "%s:1: XML syntax error: not a well-formed document", x->source);
    if (r < 0) {
        xmlFreeDoc(doc);
        return r;
    }
    *out = doc;
    return 0;
}

/* The directory relative paths resolve against, absolute: base_dir, else the directory of
 * a source that is a file path; none for "<api>" and the like. */
static int set_base_dir(struct xml_ctx *x, const char *source, const char *base_dir)
{
    char *dir;
    if (base_dir) {
        dir = strdup(base_dir);
    } else if (source && source[0] && source[0] != '<') {
        const char *slash = strrchr(source, '/');
        dir = !slash ? strdup(".") : slash == source ? strdup("/") : strndup(source, (size_t)(slash - source));
    } else {
        return 0;
    }
    if (!dir)
        return out_of_memory(x);
    if (dir[0] != '/') {
        char *cwd = getcwd(NULL, 0), *abs = NULL;
        int e = errno;
        if (!cwd) {
            free(dir);
            return err_set(e, "%s: cannot resolve relative paths: current directory: %s", x->source, strerror(e));
        }
        if (asprintf(&abs, "%s/%s", cwd, dir) < 0)
            abs = NULL;
        free(cwd);
        free(dir);
        if (!abs)
            return out_of_memory(x);
        dir = abs;
    }
    x->base_dir = dir;
    return 0;
}

int domain_xml_parse(const char *xml, size_t len, const char *source, const char *base_dir, struct domain_config *out)
{
    static struct xml_ctx zero;
    struct xml_ctx x = zero;
    struct domain_config c = {0};
    xmlDoc *doc = NULL;

    memset(out, 0, sizeof(*out));
    /* The source is whatever an API client sent: keep messages one line whatever it holds. */
    quote(source && source[0] ? source : "<api>", x.source, sizeof(x.source));
    int r = set_base_dir(&x, source, base_dir);
    if (r == 0)
        r = read_document(&x, xml, len, &doc);
    if (r == 0)
        r = parse_domain(&x, xmlDocGetRootElement(doc), &c);
    xmlFreeDoc(doc);
    free(x.base_dir);
    if (r < 0) {
        domain_config_free(&c);
        return r;
    }
    *out = c;
    return 0;
}

int domain_xml_parse_file(const char *path, struct domain_config *out)
{
    struct stat st;
    char *buf = NULL;
    ssize_t got = 0;
    int r = 0;

    memset(out, 0, sizeof(*out));
    const char *name = Q_PATH(path); /* for messages */
    /* O_NONBLOCK: a FIFO given by mistake is refused below rather than waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return err_set(errno, "%s: %s", name, strerror(errno));
    if (fstat(fd, &st) < 0)
        r = err_set(errno, "%s: %s", name, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        r = err_set(EINVAL, "%s: not a regular file", name);
    else if (st.st_size > DOMAIN_XML_MAX)
        r = err_set(EFBIG, "%s: %lld bytes is more than a domain XML may have (%d)", name, (long long)st.st_size,
                    DOMAIN_XML_MAX);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        r = err_set(ENOMEM, "%s: out of memory", name);
    /* One read past the size stat gave, so a file that grew is noticed rather than cut. */
    while (r == 0) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - (size_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = err_set(errno, "%s: %s", name, strerror(errno));
        else if (n == 0)
            break;
        else if ((got += n) > st.st_size)
            r = err_set(EAGAIN, "%s: changed while being read; try again", name);
    }
    close(fd);
    if (r == 0)
        r = domain_xml_parse(buf, (size_t)got, path, NULL, out);
    free(buf);
    return r;
}

void domain_config_free(struct domain_config *c)
{
    free(c->kernel);
    free(c->initrd);
    free(c->cmdline);
    c->kernel = c->initrd = c->cmdline = NULL;
}
