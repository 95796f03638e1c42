/* The self-contained copy of a domain's XML that travels with the domain (inside a snapshot,
 * docs/snapshot-format.md, and to another host): the document as it was defined, with the
 * identity and file paths xenod resolved written into it, so that whoever reads it later
 * needs neither the original file's directory nor xenod's database.
 *
 * Only a document domain_xml_parse() accepted comes here, so it is well formed and has no
 * DOCTYPE; it is still parsed without network access or entity substitution. */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "lib/domain_config.h"
#include "lib/domain_xml_parse.h" /* dxml_canonical_disk_qos */
#include "lib/err.h"

static xmlNode *child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !n->ns && strcmp((const char *)n->name, name) == 0)
            return n;
    return NULL;
}

/* Puts a new element n under parent, after `after` (or last), on a line of its own
 * indented like its siblings (two spaces a level), so a dump reads like what people write. */
static int place(xmlNode *parent, xmlNode *after, xmlNode *n)
{
    int depth = 0;
    for (xmlNode *p = parent; p && p->type == XML_ELEMENT_NODE; p = p->parent)
        depth++;
    char indent[2 + 2 * 16] = "\n";
    for (int i = 0; i < depth && i < 16; i++)
        strcat(indent, "  ");
    xmlNode *ws = xmlNewText((const xmlChar *)indent);
    if (!ws)
        return -ENOMEM;
    xmlNode *at = after;
    if (!at) {
        /* Last: before the text that closes the parent's line, if any. */
        at = parent->last;
        if (at && at->type == XML_TEXT_NODE && xmlIsBlankNode(at))
            at = at->prev;
    }
    if ((at ? xmlAddNextSibling(at, ws) : xmlAddChild(parent, ws)) == NULL) {
        xmlFreeNode(ws);
        return -ENOMEM;
    }
    if (xmlAddNextSibling(ws, n) == NULL)
        return -ENOMEM;
    if (!at && !parent->children->next->next) /* a parent that was empty: close its line too */
        xmlAddNextSibling(n, xmlNewText((const xmlChar *)"\n"));
    return 0;
}

/* Sets <name>text</name> under parent: replaces the first such element's content, or adds
 * one (after `after` if given, so <uuid> lands next to <name> where people look for it).
 * `attr`/`value`: an attribute the new element gets (NULL: none). */
static int set_text_attr(xmlNode *parent, const char *name, const char *text, xmlNode *after, const char *attr,
                         const char *value)
{
    xmlNode *n = child(parent, name);
    if (n) {
        xmlNodeSetContent(n, NULL);
        xmlNodeAddContent(n, (const xmlChar *)text);
        return 0;
    }
    n = xmlNewNode(NULL, (const xmlChar *)name);
    if (!n)
        return -ENOMEM;
    xmlNodeAddContent(n, (const xmlChar *)text);
    if (attr && !xmlNewProp(n, (const xmlChar *)attr, (const xmlChar *)value)) {
        xmlFreeNode(n);
        return -ENOMEM;
    }
    if (place(parent, after, n) < 0) {
        xmlFreeNode(n);
        return -ENOMEM;
    }
    return 0;
}

static int set_text(xmlNode *parent, const char *name, const char *text, xmlNode *after)
{
    return set_text_attr(parent, name, text, after, NULL, NULL);
}

/* Writes what the parser filled in by default and the document left out: the current
 * memory, the vCPU count and the lifecycle actions (the UUID is written above). A document
 * that has them keeps its own spelling (units, white space): it parses the same. */
static int fill_defaults(xmlNode *root, const struct domain_config *cfg)
{
    char num[32];
    int r = 0;
    snprintf(num, sizeof(num), "%llu", (unsigned long long)(cfg->current_memory_bytes >> 10));
    if (!child(root, "currentMemory"))
        r = set_text_attr(root, "currentMemory", num, child(root, "memory"), "unit", "KiB");
    snprintf(num, sizeof(num), "%u", cfg->vcpus);
    if (r == 0 && !child(root, "vcpu"))
        r = set_text_attr(root, "vcpu", num, child(root, "currentMemory"), "placement", "static");
    const struct {
        const char *name;
        enum lifecycle_action a;
    } actions[] = {{"on_poweroff", cfg->on_poweroff}, {"on_reboot", cfg->on_reboot}, {"on_crash", cfg->on_crash}};
    xmlNode *after = child(root, "os"); /* in libvirt's order: after <os>, one after the other */
    for (size_t i = 0; r == 0 && i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (!child(root, actions[i].name))
            r = set_text(root, actions[i].name, lifecycle_action_name(actions[i].a), after);
        if (child(root, actions[i].name))
            after = child(root, actions[i].name);
    }
    return r;
}

/* Each <disk>'s <source file> as xenod resolved it (relative to its image directory), in
 * document order as the parser numbered them. */
static int set_disk_files(xmlNode *dev, const struct domain_config *cfg)
{
    unsigned i = 0;
    for (xmlNode *n = dev->children; n && i < cfg->ndisks; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || n->ns || strcmp((const char *)n->name, "disk") != 0)
            continue;
        xmlNode *src = child(n, "source");
        if (src && !xmlSetProp(src, (const xmlChar *)"file", (const xmlChar *)cfg->disks[i].file))
            return -ENOMEM;
        i++;
    }
    return 0;
}

int domain_xml_canonical(const char *xml, size_t len, const struct domain_config *cfg, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > DOMAIN_XML_MAX)
        return err_set(E2BIG, "domain '%s': XML of %zu bytes is over %d", cfg->name, len, DOMAIN_XML_MAX);
    xmlDoc *doc =
        xmlReadMemory(xml, (int)len, "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || strcmp((const char *)root->name, "domain") != 0) {
        xmlFreeDoc(doc);
        return err_set(EINVAL, "domain '%s': its stored XML no longer parses", cfg->name);
    }
    xmlNode *os = child(root, "os");
    int r = set_text(root, "name", cfg->name, NULL);
    if (r == 0)
        r = set_text(root, "uuid", cfg->uuid, child(root, "name"));
    if (r == 0 && os)
        r = set_text(os, "kernel", cfg->kernel, NULL);
    if (r == 0 && os && cfg->initrd)
        r = set_text(os, "initrd", cfg->initrd, child(os, "kernel"));
    if (r == 0)
        r = fill_defaults(root, cfg);
    xmlNode *dev = child(root, "devices"), *iface = dev ? child(dev, "interface") : NULL;
    if (r == 0 && iface && cfg->net.present && !child(iface, "mac")) {
        /* The generated MAC (libvirt writes it the same way): a redefine keeps it. */
        char mac[18];
        const uint8_t *m = cfg->net.mac;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        xmlNode *n = xmlNewNode(NULL, (const xmlChar *)"mac");
        if (!n || !xmlNewProp(n, (const xmlChar *)"address", (const xmlChar *)mac) ||
            (iface->children ? !xmlAddPrevSibling(iface->children, n) : !xmlAddChild(iface, n))) {
            xmlFreeNode(n);
            r = -ENOMEM;
        }
    }
    if (r == 0 && dev)
        r = set_disk_files(dev, cfg);
    if (r == 0)
        r = dxml_canonical_disk_qos(root, dev, cfg);
    xmlChar *buf = NULL;
    int n = 0;
    if (r == 0) {
        /* Always UTF-8 (the declaration says so): a document that came in ISO-8859-1 is
         * stored as text, and the API and the snapshot carry UTF-8. */
        xmlDocDumpMemoryEnc(doc, &buf, &n, "UTF-8");
        if (!buf)
            r = -ENOMEM;
    }
    xmlFreeDoc(doc);
    if (r < 0)
        return err_set(-r, "domain '%s': cannot rewrite its XML: %s", cfg->name, strerror(-r));
    *out = strdup((const char *)buf);
    xmlFree(buf);
    if (!*out)
        return err_set(ENOMEM, "out of memory");
    *out_len = (size_t)n;
    return 0;
}
