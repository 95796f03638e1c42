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

static int parse_domain(const struct xml_ctx *x, xmlNode *root, struct domain_config *c)
{
    enum { NAME, UUID, MEMORY, CURMEM, VCPU, OS, POWEROFF, REBOOT, CRASH, DEVICES, METADATA, CPUTUNE, N };
    static const char *const names[N] = {"name",     "uuid",    "memory",      "currentMemory",
                                         "vcpu",     "os",      "on_poweroff", "on_reboot",
                                         "on_crash", "devices", "metadata",    "cputune"};
    static const char *const attrs[] = {"type", NULL};
    xmlNode *el[N];
    char *s;
    int r;

    if (strcmp((const char *)root->name, "domain") != 0)
        return fail(x, root, EINVAL, "the root element must be <domain>" SEE_DOCS);
    if (root->ns)
        return fail(x, root, EINVAL, "in namespace '%s'; domain XML has none (as libvirt's): remove the xmlns",
                    Q(root->ns->href));
    r = dxml_check_attrs(x, root, attrs);
    s = r < 0 ? NULL : dxml_attr(x, root, "type", &r);
    if (s && strcmp(s, "kvm") != 0)
        r = fail(x, root, ENOTSUP, "type '%s' is not supported; write type=\"kvm\" or leave it out", Q(s));
    xmlFree(s);
    if (r == 0)
        r = dxml_collect_children(x, root, names, N, el);
    if (r < 0)
        return r;

    if (!el[NAME])
        return fail(x, root, EINVAL, "missing <name>; every domain needs one, e.g. <name>demo</name>");
    r = dxml_value_of(x, el[NAME], "<name>demo</name>", &s);
    if (r < 0)
        return r;
    const char *problem = dxml_name_problem(s);
    if (problem)
        r = fail(x, el[NAME], EINVAL, "'%s' is not a valid domain name: it %s", Q(s), problem);
    else
        strcpy(c->name, s);
    free(s);
    if (r < 0)
        return r;

    r = el[UUID] ? dxml_parse_uuid(x, el[UUID], c->uuid) : dxml_generate_uuid(x, root, c->uuid);
    if (r < 0)
        return r;

    if (!el[MEMORY])
        return fail(x, root, EINVAL, "missing <memory>; give the domain's RAM, e.g. <memory unit=\"MiB\">64</memory>");
    r = dxml_parse_memory(x, el[MEMORY], &c->memory_bytes);
    if (r < 0)
        return r;
    c->current_memory_bytes = c->memory_bytes;
    if (el[CURMEM]) {
        r = dxml_parse_memory(x, el[CURMEM], &c->current_memory_bytes);
        if (r < 0)
            return r;
        if (c->current_memory_bytes > c->memory_bytes)
            return fail(x, el[CURMEM], ERANGE, "%s is more than <memory> (%s); it can be at most that",
                        SIZE(c->current_memory_bytes), SIZE(c->memory_bytes));
    }

    c->vcpus = 1;
    if (el[VCPU] && (r = dxml_parse_vcpu(x, el[VCPU], &c->vcpus)) < 0)
        return r;
    c->sched = sched_params_default();
    if (el[CPUTUNE] && (r = dxml_parse_cputune(x, el[CPUTUNE], c)) < 0)
        return r;

    c->on_poweroff = ACTION_DESTROY;
    c->on_reboot = ACTION_RESTART;
    c->on_crash = ACTION_DESTROY;
    c->memory_enforcement = MEMORY_ENFORCE_REPORT;
    if (el[POWEROFF] && (r = dxml_parse_action(x, el[POWEROFF], &c->on_poweroff)) < 0)
        return r;
    if (el[REBOOT] && (r = dxml_parse_action(x, el[REBOOT], &c->on_reboot)) < 0)
        return r;
    if (el[CRASH] && (r = dxml_parse_action(x, el[CRASH], &c->on_crash)) < 0)
        return r;

    if (el[DEVICES] && (r = dxml_parse_devices(x, el[DEVICES], c)) < 0)
        return r;
    if (el[METADATA] && (r = parse_metadata(x, el[METADATA], c)) < 0)
        return r;

    if (!el[OS])
        return fail(x, root, EINVAL, "missing <os> with a <kernel>; e.g. <os><kernel>/boot/vmlinuz</kernel></os>");
    return dxml_parse_os(x, el[OS], c);
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

int domain_xml_parse(const char *xml, size_t len, const char *source, const char *base_dir, struct domain_config *out)
{
    static struct xml_ctx zero;
    struct xml_ctx x = zero;
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
