/* Domain XML parser (domain_xml_parse.h): the messages every error carries (file, line,
 * element) and the walk over elements and attributes that refuses what it does not know. */
#include "lib/domain_xml_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "lib/err.h"

/* ---- messages ---- */

/* User text in a message: at most 80 bytes (not cutting a UTF-8 sequence), control
 * characters shown as '?', so a message stays one readable line whatever the document holds. */
const char *dxml_quote(const char *s, char *buf, size_t size)
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

/* "xeno:sponsor" for a prefixed element, "memory" otherwise. */
const char *dxml_label(const xmlChar *prefix, const xmlChar *name, char *buf, size_t size)
{
    if (prefix)
        snprintf(buf, size, "%s:%s", (const char *)prefix, (const char *)name);
    else
        snprintf(buf, size, "%s", (const char *)name);
    return buf;
}

/* "SOURCE:LINE: <element>: what" with the line given. */
int __attribute__((format(printf, 5, 6)))
dxml_fail_at(const struct xml_ctx *x, long line, const xmlNode *n, int errnum, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int r = err_set(errnum, "%s:%ld: <%s>: %s", x->source, line, ELEM(n), what);
    if (errnum != ENOMEM)
        dxml_record(x, 0, line, ELEM(n), err_msg());
    return r;
}

void dxml_record(const struct xml_ctx *x, int warning, long line, const char *element, const char *text)
{
    struct domain_xml_report *rep = x->rep;
    if (!rep)
        return;
    if (warning)
        rep->warnings++;
    else
        rep->errors++;
    if (rep->count >= DOMAIN_XML_PROBLEMS_MAX) {
        rep->dropped++;
        return;
    }
    if (rep->count % 16 == 0) {
        struct domain_xml_problem *more = realloc(rep->items, (rep->count + 16) * sizeof(*more));
        if (!more) {
            rep->dropped++;
            return;
        }
        rep->items = more;
    }
    struct domain_xml_problem *p = &rep->items[rep->count++];
    memset(p, 0, sizeof(*p));
    p->warning = warning;
    p->line = line;
    snprintf(p->element, sizeof(p->element), "%s", element ? element : "");
    snprintf(p->text, sizeof(p->text), "%s", text);
}

void __attribute__((format(printf, 4, 5)))
dxml_warn_at(const struct xml_ctx *x, long line, const char *element, const char *fmt, ...)
{
    char what[700], text[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    int n = snprintf(text, sizeof(text), "%s:%ld: <%s>: ignored: %s", x->source, line, element, what);
    (void)n; /* cut at the report's line length, as any message */
    dxml_record(x, 1, line, element, text);
}
/* The same at the element's own line. */

int dxml_out_of_memory(const struct xml_ctx *x)
{
    return err_set(ENOMEM, "%s: out of memory", x->source);
}

/* "64 MiB", "4100 KiB", "4097 bytes": the largest binary unit that divides exactly. */
const char *dxml_size_text(uint64_t bytes, char *buf, size_t size)
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

/* ---- the tree ---- */

static bool is_blank(const xmlChar *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int dxml_unknown_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n)
{
    if (n->ns)
        return fail(x, n, EINVAL,
                    "unknown element in <%s>: only <metadata> takes elements of other namespaces" SEE_DOCS,
                    ELEM(parent));
    /* Past the problems that are listed (a hostile document may hold 100000 unknown
     * elements), no message is kept: skip looking up the name (and a suggestion, which
     * costs an edit distance to every known name). */
    if (x->rep && x->rep->count >= DOMAIN_XML_PROBLEMS_MAX)
        return fail(x, n, EINVAL, "unknown element in <%s>", ELEM(parent));
    /* A name of libvirt's schema is right, only not here or not ours: say so rather than
     * "unknown", which would send the reader looking for a typo. */
    if (dxml_libvirt_element((const char *)n->name))
        return fail(x, n, ENOTSUP, "not supported in <%s>; XenoServer takes a subset of libvirt's domain XML" SEE_DOCS,
                    ELEM(parent));
    const char *near = dxml_suggest((const char *)n->name);
    if (near)
        return fail(x, n, EINVAL, "unknown element in <%s>; did you mean <%s>?" SEE_DOCS, ELEM(parent), near);
    return fail(x, n, EINVAL, "unknown element in <%s>" SEE_DOCS, ELEM(parent));
}

/* A child of `parent` that is not an element: comments and processing instructions are
 * skipped, whitespace between elements too; text is an error. */
int dxml_not_element(const struct xml_ctx *x, const xmlNode *parent, const xmlNode *n)
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
            return dxml_fail_at(x, line, parent, EINVAL, "unexpected text '%s'; only elements belong here" SEE_DOCS,
                                Q(first));
        }
    default:
        /* Entity references cannot get this far (no DOCTYPE, so no entities to refer to). */
        return fail(x, parent, EINVAL, "unexpected XML content (node type %d)", (int)n->type);
    }
}

/* Walks the children of `parent`: each element must be one of `names` (no namespace) and
 * appear at most once; found[i] is the element named names[i], or NULL. */
int dxml_collect_children(const struct xml_ctx *x, const xmlNode *parent, const char *const *names, size_t count,
                          xmlNode **found)
{
    int first = 0;
    for (size_t i = 0; i < count; i++)
        found[i] = NULL;
    /* Goes on past a refusal: every stray element is reported, and found[] holds the good
     * ones for a caller that goes on too. */
    for (xmlNode *n = parent->children; n; n = n->next) {
        if (first && x->rep && x->rep->count >= DOMAIN_XML_PROBLEMS_MAX)
            return first; /* refused, and nothing more would be listed */
        if (n->type != XML_ELEMENT_NODE) {
            DXML_KEEP(first, dxml_not_element(x, parent, n));
            continue;
        }
        size_t i = count;
        if (!n->ns)
            for (i = 0; i < count && strcmp((const char *)n->name, names[i]) != 0; i++)
                ;
        if (i == count)
            DXML_KEEP(first, dxml_unknown_element(x, parent, n));
        else if (found[i])
            DXML_KEEP(first, fail(x, n, EINVAL, "duplicate element in <%s> (the first is on line %ld); keep one",
                                  ELEM(parent), xmlGetLineNo(found[i])));
        else
            found[i] = n;
    }
    return first;
}

/* Every attribute of `n` must be in the NULL-terminated `allowed` (none has a namespace). */
int dxml_check_attrs(const struct xml_ctx *x, const xmlNode *n, const char *const *allowed)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *const *p = allowed;
        if (!a->ns)
            while (*p && strcmp(*p, (const char *)a->name) != 0)
                p++;
        if (a->ns || !*p)
            return fail(x, n, EINVAL, "unknown attribute '%s'" SEE_DOCS,
                        dxml_label(a->ns ? a->ns->prefix : NULL, a->name, (char[80]){0}, 80));
    }
    return 0;
}
const char *const dxml_no_attrs[] = {NULL};

/* The first control character (below 0x20, or 0x7f) in s, or NULL. XML lets a document
 * carry tab, newline and carriage return as character references (&#10;) even inside an
 * attribute, and 0x7f as is: none of them belongs in a value the domain keeps, and every
 * value may end up in a line protocol (the backend's port-add, the monitor's control
 * requests, the event log), where a newline is a second request. */
static const char *control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return s;
    return NULL;
}

int dxml_check_text(const struct xml_ctx *x, const xmlNode *n, const char *what, const char *value)
{
    const char *c = control_char(value);
    if (!c)
        return 0;
    return fail(x, n, EINVAL, "%s: control character (0x%02x) at byte %zu of '%s'; values may not hold any", what,
                (unsigned)(unsigned char)*c, (size_t)(c - value), Q(value));
}

/* An attribute's value (xmlFree it), or NULL when absent. *r gets -ENOMEM if it could not
 * be copied, -EINVAL (and no value) if it holds a control character. */
char *dxml_attr(const struct xml_ctx *x, xmlNode *n, const char *name, int *r)
{
    if (!xmlHasProp(n, (const xmlChar *)name))
        return NULL;
    char *v = (char *)xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v) {
        *r = dxml_out_of_memory(x);
        return NULL;
    }
    char what[96];
    snprintf(what, sizeof(what), "attribute %s", name);
    int e = dxml_check_text(x, n, what, v);
    if (e < 0) {
        xmlFree(v);
        *r = e;
        return NULL;
    }
    return v;
}

/* The text of an element that may hold only text (comments aside), without the white space
 * around it (so a value may sit on its own line). *out is malloc'd. */
int dxml_leaf_text(const struct xml_ctx *x, xmlNode *n, char **out)
{
    *out = NULL;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return dxml_unknown_element(x, n, c);
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE && c->type != XML_COMMENT_NODE &&
            c->type != XML_PI_NODE)
            return dxml_not_element(x, n, c);
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
    if (!*out)
        return dxml_out_of_memory(x);
    /* The white space around the value is trimmed; inside it, a tab or newline is refused
     * like any control character. */
    int r = dxml_check_text(x, n, "text", *out);
    if (r < 0) {
        free(*out);
        *out = NULL;
    }
    return r;
}

/* leaf_text for an element that takes no attributes and must not be empty. */
int dxml_value_of(const struct xml_ctx *x, xmlNode *n, const char *example, char **out)
{
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    if (r == 0)
        r = dxml_leaf_text(x, n, out);
    if (r == 0 && **out == '\0') {
        free(*out);
        *out = NULL;
        r = fail(x, n, EINVAL, "empty; give a value, e.g. %s", example);
    }
    return r;
}

/* A namespaced element or attribute in ours? */
bool dxml_in_xeno_ns(const xmlNs *ns)
{
    return ns && ns->href && strcmp((const char *)ns->href, XENO_NS) == 0;
}

/* An empty element with exactly one required attribute; its value in *out (xmlFree it). */
int dxml_single_attr(const struct xml_ctx *x, xmlNode *n, const char *name, const char *example, char **out)
{
    const char *const attrs[] = {name, NULL};
    xmlNode *none;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    *out = r < 0 ? NULL : dxml_attr(x, n, name, &r);
    if (r == 0 && !*out)
        r = fail(x, n, EINVAL, "missing %s; write e.g. %s", name, example);
    return r;
}
