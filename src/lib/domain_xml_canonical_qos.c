/* A disk QoS changed after define (`xenctl disk-qos`, domain_disk.qos_changed) written back
 * into the domain's XML by domain_xml_canonical(): the disk's <iotune> and <xeno:iotune>,
 * and the domain's <blkiotune><weight>, replaced by what the configuration holds now. A disk
 * whose QoS did not change keeps its document's spelling. */
#include <errno.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "lib/domain_config.h"
#include "lib/domain_xml_parse.h" /* XENO_NS, dxml_in_xeno_ns */

/* The element children of parent named name (in no namespace, or in ours when xeno), removed. */
static void remove_children(xmlNode *parent, const char *name, bool xeno)
{
    for (xmlNode *n = parent->children, *next; n; n = next) {
        next = n->next;
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0 ||
            (xeno ? !dxml_in_xeno_ns(n->ns) : n->ns != NULL))
            continue;
        if (next && next->type == XML_TEXT_NODE && xmlIsBlankNode(next)) { /* its line too */
            xmlNode *ws = next;
            next = next->next;
            xmlUnlinkNode(ws);
            xmlFreeNode(ws);
        }
        xmlUnlinkNode(n);
        xmlFreeNode(n);
    }
}

static int write_disk(xmlNode *disk, const struct domain_disk *d)
{
    char num[32];
    remove_children(disk, "iotune", false);
    remove_children(disk, "iotune", true);
    xmlNode *io = NULL;
    for (int k = 0; k < IOTUNE_KEYS; k++) {
        if (!d->iotune[k])
            continue;
        if (!io && !(io = xmlNewChild(disk, NULL, (const xmlChar *)"iotune", NULL)))
            return -ENOMEM;
        snprintf(num, sizeof(num), "%llu", (unsigned long long)d->iotune[k]);
        if (!xmlNewChild(io, NULL, (const xmlChar *)domain_iotune_names[k], (const xmlChar *)num))
            return -ENOMEM;
    }
    if (d->group[0] && (io || (io = xmlNewChild(disk, NULL, (const xmlChar *)"iotune", NULL))) &&
        !xmlNewTextChild(io, NULL, (const xmlChar *)"group_name", (const xmlChar *)d->group))
        return -ENOMEM;
    if (d->reservation) {
        xmlNode *x = xmlNewChild(disk, NULL, (const xmlChar *)"iotune", NULL);
        xmlNs *ns = x ? xmlNewNs(x, (const xmlChar *)XENO_NS, (const xmlChar *)"xeno") : NULL;
        snprintf(num, sizeof(num), "%llu", (unsigned long long)d->reservation);
        if (!ns)
            return -ENOMEM;
        xmlSetNs(x, ns);
        if (!xmlNewProp(x, (const xmlChar *)"reservation", (const xmlChar *)num))
            return -ENOMEM;
    }
    return 0;
}

int dxml_canonical_disk_qos(xmlNode *root, xmlNode *dev, const struct domain_config *cfg)
{
    unsigned i = 0;
    bool weight = false;
    for (xmlNode *n = dev ? dev->children : NULL; n && i < cfg->ndisks; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || n->ns || strcmp((const char *)n->name, "disk") != 0)
            continue;
        if (cfg->disks[i].qos_changed) {
            int r = write_disk(n, &cfg->disks[i]);
            if (r < 0)
                return r;
            weight = true;
        }
        i++;
    }
    if (!weight)
        return 0;
    char num[16];
    remove_children(root, "blkiotune", false);
    snprintf(num, sizeof(num), "%u", cfg->blkio_weight);
    xmlNode *b = cfg->blkio_weight ? xmlNewChild(root, NULL, (const xmlChar *)"blkiotune", NULL) : NULL;
    if (cfg->blkio_weight && (!b || !xmlNewChild(b, NULL, (const xmlChar *)"weight", (const xmlChar *)num)))
        return -ENOMEM;
    return 0;
}
