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
#include "lib/err.h"

static xmlNode *child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !n->ns && strcmp((const char *)n->name, name) == 0)
            return n;
    return NULL;
}

/* Sets <name>text</name> under parent: replaces the first such element's content, or adds
 * one (after `after` if given, so <uuid> lands next to <name> where people look for it). */
static int set_text(xmlNode *parent, const char *name, const char *text, xmlNode *after)
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
    if ((after ? xmlAddNextSibling(after, n) : xmlAddChild(parent, n)) == NULL) {
        xmlFreeNode(n);
        return -ENOMEM;
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
    xmlChar *buf = NULL;
    int n = 0;
    if (r == 0) {
        xmlDocDumpMemory(doc, &buf, &n);
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
