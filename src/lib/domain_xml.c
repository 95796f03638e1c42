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
#include "lib/domain_xml_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h> /* xmlCreateMemoryParserCtxt */
#include <libxml/tree.h>

#include "lib/err.h"
#include "lib/parse.h"

static int parse_memory_policy(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    static const char *const attrs[] = {"enforcement", NULL};
    xmlNode *none;
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    char *s = dxml_attr(x, n, "enforcement", &r);
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
    int r = dxml_check_attrs(x, n, attrs);
    if (r == 0)
        r = dxml_collect_children(x, n, NULL, 0, &none);
    if (r < 0)
        return r;
    char *s = dxml_attr(x, n, "reservation", &r);
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
    int r = dxml_check_attrs(x, md, dxml_no_attrs);
    if (r < 0)
        return r;
    for (xmlNode *n = md->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            r = dxml_not_element(x, md, n);
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
    r = dxml_value_of(x, sponsor, "<xeno:sponsor>acme</xeno:sponsor>", &s);
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

/* <title> (one line: libvirt refuses a newline in it too) and <description> (free text, its
 * newlines and tabs kept): shown by xenctl info and in the API's domain view, nothing else.
 * The white space around the text is trimmed; other control characters are refused. */
static int parse_note(const struct xml_ctx *x, xmlNode *n, int multiline, char **out)
{
    if (!multiline)
        return dxml_leaf_text(x, n, out);
    int r = dxml_check_attrs(x, n, dxml_no_attrs);
    for (const xmlNode *k = n->children; r == 0 && k; k = k->next)
        if (k->type == XML_ELEMENT_NODE)
            r = dxml_unknown_element(x, n, k);
    if (r < 0)
        return r;
    xmlChar *content = xmlNodeGetContent(n);
    const char *s = content ? (const char *)content : "";
    size_t len = strlen(s);
    while (len && strchr(" \t\r\n", *s))
        s++, len--;
    while (len && strchr(" \t\r\n", s[len - 1]))
        len--;
    *out = strndup(s, len);
    char *check = strndup(s, len);
    xmlFree(content);
    if (!*out || !check) {
        free(check);
        return dxml_out_of_memory(x);
    }
    for (char *p = check; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    r = dxml_check_text(x, n, "text", check);
    free(check);
    if (r < 0) {
        free(*out);
        *out = NULL;
    }
    return r;
}

/* <domain>: each part is parsed even after another was refused, so one try reports them all
 * (x->rep); the first refusal is returned. */
static int parse_domain(const struct xml_ctx *x, xmlNode *root, struct domain_config *c)
{
    enum {
        NAME,
        UUID,
        MEMORY,
        CURMEM,
        VCPU,
        OS,
        POWEROFF,
        REBOOT,
        CRASH,
        DEVICES,
        METADATA,
        CPUTUNE,
        TITLE,
        DESCR,
        MEMTUNE,
        BLKIOTUNE,
        N
    };
    static const char *const names[N] = {
        "name",     "uuid",    "memory",   "currentMemory", "vcpu",  "os",          "on_poweroff", "on_reboot",
        "on_crash", "devices", "metadata", "cputune",       "title", "description", "memtune",     "blkiotune"};
    static const char *const attrs[] = {"type", NULL};
    xmlNode *el[N];
    char *s;
    int r, first = 0;

    if (strcmp((const char *)root->name, "domain") != 0)
        return fail(x, root, EINVAL, "the root element must be <domain>" SEE_DOCS);
    if (root->ns)
        return fail(x, root, EINVAL, "in namespace '%s'; domain XML has none (as libvirt's): remove the xmlns",
                    Q(root->ns->href));
    DXML_KEEP(first, dxml_apply_policy(x, root));
    r = dxml_check_attrs(x, root, attrs);
    s = r < 0 ? NULL : dxml_attr(x, root, "type", &r);
    if (s && strcmp(s, "kvm") != 0)
        r = fail(x, root, ENOTSUP, "type '%s' is not supported; write type=\"kvm\" or leave it out", Q(s));
    xmlFree(s);
    DXML_KEEP(first, r);
    DXML_KEEP(first, dxml_collect_children(x, root, names, N, el));

    if (!el[NAME]) {
        DXML_KEEP(first, fail(x, root, EINVAL, "missing <name>; every domain needs one, e.g. <name>demo</name>"));
    } else if ((r = dxml_value_of(x, el[NAME], "<name>demo</name>", &s)) < 0) {
        DXML_KEEP(first, r);
    } else {
        const char *problem = dxml_name_problem(s);
        if (problem)
            DXML_KEEP(first, fail(x, el[NAME], EINVAL, "'%s' is not a valid domain name: it %s", Q(s), problem));
        else
            strcpy(c->name, s);
        free(s);
    }

    if (el[TITLE])
        DXML_KEEP(first, parse_note(x, el[TITLE], 0, &c->title));
    if (el[DESCR])
        DXML_KEEP(first, parse_note(x, el[DESCR], 1, &c->description));
    DXML_KEEP(first, el[UUID] ? dxml_parse_uuid(x, el[UUID], c->uuid) : dxml_generate_uuid(x, root, c->uuid));

    if (!el[MEMORY])
        DXML_KEEP(first, fail(x, root, EINVAL,
                              "missing <memory>; give the domain's RAM, e.g. <memory unit=\"MiB\">64</memory>"));
    else
        DXML_KEEP(first, r = dxml_parse_memory(x, el[MEMORY], &c->memory_bytes));
    c->current_memory_bytes = c->memory_bytes;
    if (el[CURMEM] && (r = dxml_parse_memory(x, el[CURMEM], &c->current_memory_bytes)) < 0)
        DXML_KEEP(first, r);
    else if (el[CURMEM] && c->memory_bytes && c->current_memory_bytes > c->memory_bytes)
        DXML_KEEP(first, fail(x, el[CURMEM], ERANGE, "%s is more than <memory> (%s); it can be at most that",
                              SIZE(c->current_memory_bytes), SIZE(c->memory_bytes)));

    if (el[MEMTUNE] && c->memory_bytes)
        DXML_KEEP(first, dxml_parse_memtune(x, el[MEMTUNE], c));

    c->vcpus = 1;
    if (el[VCPU])
        DXML_KEEP(first, dxml_parse_vcpu(x, el[VCPU], c));
    c->sched = sched_params_default();
    if (el[CPUTUNE])
        DXML_KEEP(first, dxml_parse_cputune(x, el[CPUTUNE], c));

    c->on_poweroff = ACTION_DESTROY;
    c->on_reboot = ACTION_RESTART;
    c->on_crash = ACTION_DESTROY;
    c->memory_enforcement = MEMORY_ENFORCE_REPORT;
    if (el[POWEROFF])
        DXML_KEEP(first, dxml_parse_action(x, el[POWEROFF], &c->on_poweroff));
    if (el[REBOOT])
        DXML_KEEP(first, dxml_parse_action(x, el[REBOOT], &c->on_reboot));
    if (el[CRASH])
        DXML_KEEP(first, dxml_parse_action(x, el[CRASH], &c->on_crash));

    if (el[DEVICES])
        DXML_KEEP(first, dxml_parse_devices(x, el[DEVICES], c));
    if (el[BLKIOTUNE])
        DXML_KEEP(first, dxml_parse_blkiotune(x, el[BLKIOTUNE], c));
    if (el[METADATA])
        DXML_KEEP(first, parse_metadata(x, el[METADATA], c));

    if (!el[OS])
        DXML_KEEP(first,
                  fail(x, root, EINVAL, "missing <os> with a <kernel>; e.g. <os><kernel>/boot/vmlinuz</kernel></os>"));
    else
        DXML_KEEP(first, dxml_parse_os(x, el[OS], c));
    return first;
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
    if (e->message && strstr(e->message, "Excessive depth")) {
        /* libxml2's own advice (XML_PARSE_HUGE) is for programmers, and the limit stays. */
        snprintf(x->syntax_msg, sizeof(x->syntax_msg),
                 "elements nested too deep (more than 256 levels); a domain XML needs a handful");
        return;
    }
    dxml_quote(e->message ? e->message : "unknown error", x->syntax_msg, sizeof(x->syntax_msg));
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

/* The line of byte `off`. */
static long line_of(const char *xml, size_t off)
{
    long line = 1;
    for (size_t i = 0; i < off; i++)
        line += xml[i] == '\n';
    return line;
}

/* The length of the valid UTF-8 sequence at s (of at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Bytes libxml2 would read differently from what they are, caught before it reads them:
 * a NUL (domain XML is text; UTF-16 is not taken), and a declared single-byte encoding
 * (ISO-8859-1, windows-1252, ...) over bytes that are UTF-8, which would decode to mojibake
 * ("cafÃ©") without a word. Bytes that are not UTF-8 under such a declaration are decoded
 * as declared (libxml2), correctly. */
static int check_bytes(const struct xml_ctx *x, const char *xml, size_t len)
{
    const char *nul = memchr(xml, '\0', len);
    if (nul)
        return err_set(EINVAL,
                       "%s:%ld: NUL byte at offset %zu: domain XML is text and may hold none (UTF-16 is not "
                       "accepted: save the file as UTF-8)",
                       x->source, line_of(xml, (size_t)(nul - xml)), (size_t)(nul - xml));
    size_t head = len < 256 ? len : 256, enc_len = 0;
    const char *decl = xml;
    if (len >= 3 && memcmp(xml, "\xef\xbb\xbf", 3) == 0)
        decl += 3;
    if ((size_t)(decl - xml) + 5 > head || memcmp(decl, "<?xml", 5) != 0)
        return 0;
    const char *end = memmem(decl, head - (size_t)(decl - xml), "?>", 2);
    const char *enc = end ? memmem(decl, (size_t)(end - decl), "encoding", 8) : NULL;
    if (!enc)
        return 0;
    enc += 8;
    while (enc < end && (*enc == ' ' || *enc == '=' || *enc == '\t' || *enc == '\r' || *enc == '\n'))
        enc++;
    if (enc >= end || (*enc != '"' && *enc != '\''))
        return 0;
    char quote = *enc++, name[40];
    while (enc + enc_len < end && enc[enc_len] != quote && enc_len < sizeof(name) - 1)
        enc_len++;
    snprintf(name, sizeof(name), "%.*s", (int)enc_len, enc);
    static const char *const unicode[] = {"utf-8",  "utf8",     "us-ascii",        "ascii",
                                          "utf-16", "utf-16le", "utf-16be",        "ucs-2",
                                          "ucs-4",  "utf-32",   "iso-10646-ucs-2", "iso-10646-ucs-4"};
    for (size_t i = 0; i < sizeof(unicode) / sizeof(unicode[0]); i++)
        if (strcasecmp(name, unicode[i]) == 0)
            return 0;
    /* A single-byte (or legacy) encoding: are the bytes UTF-8 with something beyond ASCII? */
    size_t first_multi = len;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq((const unsigned char *)xml + i, len - i);
        if (n == 0)
            return 0; /* not UTF-8: the declared encoding may well be right */
        if (n > 1 && first_multi == len)
            first_multi = i;
        i += n;
    }
    if (first_multi == len)
        return 0; /* ASCII reads the same either way */
    return err_set(EILSEQ,
                   "%s:%ld: XML declaration says encoding '%s', but the bytes are UTF-8 (the first non-ASCII "
                   "character at offset %zu would be read as two or more others); write encoding=\"UTF-8\" or "
                   "convert the file to %s",
                   x->source, line_of(xml, first_multi), Q(name), first_multi, Q(name));
}

/* Every problem of a document is looked for, so the work grows with its elements: a bound
 * on them keeps a hostile megabyte of them from costing more than it takes to read it. */
#define DOMAIN_XML_ELEMENTS_MAX 10000

/* Elements in the tree, counting stops past the bound. Iterative: depth is libxml2's 256. */
static int count_elements(const xmlNode *root)
{
    int count = 0;
    const xmlNode *n = root;
    while (n && count <= DOMAIN_XML_ELEMENTS_MAX) {
        if (n->type == XML_ELEMENT_NODE)
            count++;
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && n != root && !n->next)
            n = n->parent;
        n = n && n != root ? n->next : NULL;
    }
    return count;
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
        return err_set(EFBIG, "%s: %zu bytes is more than a domain XML may have (%d bytes, 1 MiB)", x->source, len,
                       DOMAIN_XML_MAX);
    int r = check_bytes(x, xml, len);
    if (r < 0)
        return r;
    pthread_once(&once, xml_init);
    /* Our own context rather than xmlReadMemory: the error handler and the DOCTYPE stop are
     * per context, so parses on other threads (and their errors) stay apart. */
    xmlParserCtxt *ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt)
        return dxml_out_of_memory(x);
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES);
    ctxt->_private = x;
    ctxt->sax->serror = on_xml_error;
    ctxt->sax->internalSubset = on_doctype;
    xmlParseDocument(ctxt);
    xmlDoc *doc = ctxt->myDoc;
    bool well_formed = ctxt->wellFormed;
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);

    if (x->doctype_line)
        r = err_set(EINVAL,
                    "%s:%ld: <!DOCTYPE>: document type declarations are not accepted (domain XML has none, and "
                    "its entities could read files); remove it",
                    x->source, x->doctype_line);
    else if (x->syntax_error)
        r = err_set(EINVAL, "%s:%ld: XML syntax error: %s", x->source, x->syntax_line, x->syntax_msg);
    else if (!well_formed || !doc || !xmlDocGetRootElement(doc))
        r = err_set(EINVAL, "%s:1: XML syntax error: not a well-formed document", x->source);
    else if ((r = count_elements(xmlDocGetRootElement(doc))) > DOMAIN_XML_ELEMENTS_MAX)
        r = err_set(E2BIG, "%s: %d elements is more than a domain XML may have (%d; one has a few hundred at most)",
                    x->source, r, DOMAIN_XML_ELEMENTS_MAX);
    else
        r = 0;
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
        return dxml_out_of_memory(x);
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
            return dxml_out_of_memory(x);
        dir = abs;
    }
    x->base_dir = dir;
    return 0;
}

/* By line, keeping the order found on a line (an insertion sort: stable, and there are at
 * most DOMAIN_XML_PROBLEMS_MAX). */
static void sort_problems(struct domain_xml_report *rep)
{
    for (size_t i = 1; i < rep->count; i++) {
        struct domain_xml_problem p = rep->items[i];
        size_t j = i;
        for (; j > 0 && rep->items[j - 1].line > p.line; j--)
            rep->items[j] = rep->items[j - 1];
        rep->items[j] = p;
    }
}

void domain_xml_report_free(struct domain_xml_report *rep)
{
    free(rep->items);
    memset(rep, 0, sizeof(*rep));
}

int domain_xml_parse(const char *xml, size_t len, const char *source, const char *base_dir, struct domain_config *out)
{
    struct domain_xml_report rep = {0};
    int r = domain_xml_parse_report(xml, len, source, base_dir, out, &rep);
    domain_xml_report_free(&rep);
    return r;
}

int domain_xml_parse_report(const char *xml, size_t len, const char *source, const char *base_dir,
                            struct domain_config *out, struct domain_xml_report *rep)
{
    static struct xml_ctx zero;
    struct xml_ctx x = zero;
    x.rep = rep;
    struct domain_config c = {0};
    xmlDoc *doc = NULL;

    memset(out, 0, sizeof(*out));
    /* The source is whatever an API client sent: keep messages one line whatever it holds. */
    dxml_quote(source && source[0] ? source : "<api>", x.source, sizeof(x.source));
    int r = set_base_dir(&x, source, base_dir);
    if (r == 0)
        r = read_document(&x, xml, len, &doc);
    if (r == 0)
        r = parse_domain(&x, xmlDocGetRootElement(doc), &c);
    xmlFreeDoc(doc);
    free(x.base_dir);
    if (r < 0 && rep->errors == 0) { /* a refusal of the whole document (syntax, size, bytes): its line */
        long line = 0;
        const char *msg = err_msg();
        size_t n = strlen(x.source);
        if (strncmp(msg, x.source, n) == 0 && msg[n] == ':')
            line = strtol(msg + n + 1, NULL, 10);
        dxml_record(&x, 0, line, "", msg);
    }
    sort_problems(rep);
    if (r < 0) {
        domain_config_free(&c);
        size_t more = rep->errors + rep->warnings - 1;
        const char *first = "";
        for (size_t i = 0; i < rep->count && !*first; i++)
            if (!rep->items[i].warning)
                first = rep->items[i].text;
        if (r != -ENOMEM && *first && more)
            err_set(-r, "%s (and %zu more problem%s)", first, more, more == 1 ? "" : "s");
        else if (r != -ENOMEM && *first)
            err_set(-r, "%s", first);
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
    free(c->title);
    free(c->description);
    c->kernel = c->initrd = c->cmdline = c->title = c->description = NULL;
}
