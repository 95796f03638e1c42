/* Private to the domain XML parser (src/lib/domain_xml*.c): the parse context, message
 * helpers and the element parsers one file of the parser calls in another. Nothing outside
 * src/lib/domain_xml*.c includes it; the public interface is lib/domain_config.h.
 *
 * Files: domain_xml.c (the document, <domain>, <metadata> and policies), domain_xml_tree.c
 * (messages, walking elements and attributes), domain_xml_values.c (names, sizes, <vcpu>,
 * <cputune>, <uuid>, <os>, consoles), domain_xml_devices.c (<devices>, <interface>),
 * domain_xml_disk.c (<disk>, <blkiotune>), domain_xml_memtune.c (<memtune>). */
#ifndef XENO_LIB_DOMAIN_XML_PARSE_H
#define XENO_LIB_DOMAIN_XML_PARSE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "lib/domain_config.h"

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
    /* Every refusal and warning of the document (dxml_fail_at and dxml_warn_at add to it):
     * the parser goes on after a refusal, to report all of them at once. */
    struct domain_xml_report *rep;
};

/* Keeps the first error of several steps, returning at once on ENOMEM (nothing more can be
 * said then): `first` is the int that collects them. */
#define DXML_KEEP(first, expr)                                                                                         \
    do {                                                                                                               \
        int r_keep_ = (expr);                                                                                          \
        if (r_keep_ == -ENOMEM)                                                                                        \
            return r_keep_;                                                                                            \
        if (r_keep_ < 0 && (first) == 0)                                                                               \
            (first) = r_keep_;                                                                                         \
    } while (0)

/* Adds a problem to x->rep (text is the whole line). */
void dxml_record(const struct xml_ctx *x, int warning, long line, const char *element, const char *text);

/* "SOURCE:LINE: <element>: ignored: what": an element or attribute accepted and ignored. */
void dxml_warn_at(const struct xml_ctx *x, long line, const char *element, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The policy for libvirt's domain schema (src/lib/domain_xml_policy.c, the table in
 * docs/domain-xml.md): walks the document before it is parsed, warns about and removes what
 * is accepted but ignored, refuses (and removes) what is not supported, and leaves what
 * XenoServer honours to the parser. Returns the first refusal (all are in x->rep). */
int dxml_apply_policy(const struct xml_ctx *x, xmlNode *root);

/* Whether `name` is an element of libvirt's domain schema (any place). */
bool dxml_libvirt_element(const char *name);

/* The known element name nearest to `name` (edit distance), or NULL when none is close. */
const char *dxml_suggest(const char *name);

#define Q(s) dxml_quote((const char *)(s), (char[84]){0}, 84)
#define Q_PATH(s) dxml_quote((s), (char[404]){0}, 404) /* paths: more is worth showing */
#define ELEM(n) dxml_label((n)->ns ? (n)->ns->prefix : NULL, (n)->name, (char[80]){0}, 80)
#define SIZE(b) dxml_size_text((b), (char[32]){0}, 32)

/* User text in a message: at most 80 bytes (not cutting a UTF-8 sequence), control
 * characters shown as '?', so a message stays one readable line whatever the document holds. */
const char *dxml_quote(const char *s, char *buf, size_t size);

/* "xeno:sponsor" for a prefixed element, "memory" otherwise. */
const char *dxml_label(const xmlChar *prefix, const xmlChar *name, char *buf, size_t size);

/* "SOURCE:LINE: <element>: what" with the line given. */
int dxml_fail_at(const struct xml_ctx *x, long line, const xmlNode *n, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same at the element's own line. */
#define fail(x, n, errnum, ...) dxml_fail_at((x), xmlGetLineNo(n), (n), (errnum), __VA_ARGS__)

/* "SOURCE: out of memory". */
int dxml_out_of_memory(const struct xml_ctx *x);

/* "64 MiB", "4100 KiB", "4097 bytes": the largest binary unit that divides exactly. */
const char *dxml_size_text(uint64_t bytes, char *buf, size_t size);

/* An element `parent` does not take: libvirt's own elements are named as unsupported. */
int dxml_unknown_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n);

/* A child of `parent` that is not an element: comments and processing instructions are
 * skipped, whitespace between elements too; text is an error. */
int dxml_not_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n);

/* Walks the children of `parent`: each element must be one of `names` (no namespace) and
 * appear at most once; found[i] is the element named names[i], or NULL. */
int dxml_collect_children(const struct xml_ctx *x, const xmlNode *parent, const char *const *names, size_t count,
                          xmlNode **found);

/* Every attribute of `n` must be in the NULL-terminated `allowed` (none has a namespace). */
int dxml_check_attrs(const struct xml_ctx *x, const xmlNode *n, const char *const *allowed);

/* For dxml_check_attrs(): no attribute allowed. */
extern const char *const dxml_no_attrs[];

/* Every string the parser keeps goes through dxml_attr() or dxml_leaf_text(), which refuse
 * a control character (below 0x20, or 0x7f: "SOURCE:LINE: <element>: WHAT: control
 * character ..."); dxml_check_text() is that check for any other value. */
int dxml_check_text(const struct xml_ctx *x, const xmlNode *n, const char *what, const char *value);

/* An attribute's value (xmlFree it), or NULL when absent. *r gets -ENOMEM if it could not
 * be copied, or -EINVAL with the message if it holds a control character. */
char *dxml_attr(const struct xml_ctx *x, xmlNode *n, const char *name, int *r);

/* The text of an element that may hold only text (comments aside), without the white space
 * around it (so a value may sit on its own line). *out is malloc'd. */
int dxml_leaf_text(const struct xml_ctx *x, xmlNode *n, char **out);

/* leaf_text for an element that takes no attributes and must not be empty. */
int dxml_value_of(const struct xml_ctx *x, xmlNode *n, const char *example, char **out);

/* An empty element with exactly one required attribute; its value in *out (xmlFree it). */
int dxml_single_attr(const struct xml_ctx *x, xmlNode *n, const char *name, const char *example, char **out);

/* A namespaced element or attribute in ours? */
bool dxml_in_xeno_ns(const xmlNs *ns);

/* Why `name` is not a valid domain name, or NULL if it is. */
const char *dxml_name_problem(const char *name);

/* <on_poweroff>, <on_reboot>, <on_crash>: destroy, restart or preserve. */
int dxml_parse_action(const struct xml_ctx *x, xmlNode *n, enum lifecycle_action *out);

/* <memory> and <currentMemory>: a whole number in the unit attribute's unit (KiB when
 * absent, as in libvirt), a multiple of 4 KiB, DOMAIN_MEMORY_MIN to DOMAIN_MEMORY_MAX. */
int dxml_parse_memory(const struct xml_ctx *x, xmlNode *n, uint64_t *out);
/* A <memtune> limit: the same syntax, 0 to DOMAIN_MEMTUNE_MAX. */
int dxml_parse_limit(const struct xml_ctx *x, xmlNode *n, uint64_t *out);

/* <memtune>: <hard_limit>, <soft_limit>, <swap_hard_limit> into c->memtune (min_guarantee is
 * refused by the policy). A hard limit below <memory> + DOMAIN_MEMTUNE_OVERHEAD, and a swap
 * limit below the hard limit (libvirt's rule), are refused. Needs c->memory_bytes.
 * src/lib/domain_xml_memtune.c */
int dxml_parse_memtune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c);

/* <vcpu>: 1 to DOMAIN_VCPUS_MAX, and its cpuset (c->affinity). */
int dxml_parse_vcpu(const struct xml_ctx *x, xmlNode *n, struct domain_config *c);

/* <cputune>: libvirt's <shares> (the weight), <period> and <quota> (microseconds of CPU per
 * period for each vCPU; 0 or negative: no limit). XenoServer pools the quota: the domain's
 * vCPUs together may use vcpus x quota per period (docs/domain-xml.md); <vcpupin> and
 * <emulatorpin> into c->affinity. Needs c->vcpus. */
int dxml_parse_cputune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c);

/* Canonical 8-4-4-4-12 hex digits, stored lowercase. */
int dxml_parse_uuid(const struct xml_ctx *x, xmlNode *n, char *out);

/* A random UUID for a document without <uuid>. */
int dxml_generate_uuid(const struct xml_ctx *x, const xmlNode *root, char *out);

/* <os>: <type>, <kernel>, <cmdline> and the rest of the boot settings. */
int dxml_parse_os(const struct xml_ctx *x, xmlNode *os, struct domain_config *c);

/* <console type="pty"> and <serial type="pty">, each with an optional
 * <target type="..." port="0"/>: both name the one COM1 console every domain has. */
int dxml_parse_console(const struct xml_ctx *x, xmlNode *n, const char *target_type);

/* <devices>: consoles, <interface>s, <disk>s and the devices libvirt has that are refused by
 * name. */
int dxml_parse_devices(const struct xml_ctx *x, xmlNode *devices, struct domain_config *c);

/* The <disk> elements of <devices> (at most DOMAIN_DISKS_MAX, the caller's check) into
 * c->disks, then the rules across them (one target each, libvirt's group rule).
 * src/lib/domain_xml_disk.c */
int dxml_parse_disks(const struct xml_ctx *x, xmlNode **nodes, unsigned count, struct domain_config *c);

/* The QoS of each disk with qos_changed, and then <blkiotune>, written into the document
 * (dev: its <devices>, may be NULL). 0 or -ENOMEM. src/lib/domain_xml_canonical_qos.c */
int dxml_canonical_disk_qos(xmlNode *root, xmlNode *dev, const struct domain_config *cfg);
/* <blkiotune><weight> into c->blkio_weight. src/lib/domain_xml_disk.c */
int dxml_parse_blkiotune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c);

#endif
