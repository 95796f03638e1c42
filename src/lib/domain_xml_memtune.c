/* Domain XML parser (domain_xml_parse.h): <memtune>, the limits xenod puts on the memory
 * cgroup each monitor runs in (docs/domain-xml.md, "Memory limits"). Which cgroup version
 * and files hold them is the host's business (src/daemon/memory_cgroup.c); here only what
 * the document says, and whether the limits leave the guest its memory. */
#include "lib/domain_xml_parse.h"

#include <string.h>

int dxml_parse_memtune(const struct xml_ctx *x, xmlNode *n, struct domain_config *c)
{
    enum { HARD, SOFT, SWAP, N };
    static const char *const names[N] = {"hard_limit", "soft_limit", "swap_hard_limit"};
    xmlNode *el[N];
    struct domain_memtune *m = &c->memtune;
    int first = 0;
    DXML_KEEP(first, dxml_check_attrs(x, n, dxml_no_attrs));
    DXML_KEEP(first, dxml_collect_children(x, n, names, N, el));
    if (first < 0)
        return first;
    m->line = xmlGetLineNo(n);
    if (el[HARD])
        DXML_KEEP(first, dxml_parse_limit(x, el[HARD], &m->hard_limit));
    if (el[SOFT])
        DXML_KEEP(first, dxml_parse_limit(x, el[SOFT], &m->soft_limit));
    if (el[SWAP]) {
        m->swap_line = xmlGetLineNo(el[SWAP]);
        DXML_KEEP(first, dxml_parse_limit(x, el[SWAP], &m->swap_hard_limit));
    }
    if (first < 0)
        return first;
    /* The guest's RAM is the monitor's memory: a hard limit below it plus the monitor's own
     * would have the kernel kill the domain for using what it was given. */
    uint64_t needs = c->memory_bytes + DOMAIN_MEMTUNE_OVERHEAD;
    if (el[HARD] && m->hard_limit < needs)
        DXML_KEEP(first, fail(x, el[HARD], ERANGE,
                              "%s is less than the domain needs: its <memory> (%s) and %s for the monitor itself; "
                              "give at least %s",
                              SIZE(m->hard_limit), SIZE(c->memory_bytes), SIZE(DOMAIN_MEMTUNE_OVERHEAD), SIZE(needs)));
    if (el[SWAP] && m->swap_hard_limit < (m->hard_limit ? m->hard_limit : needs))
        DXML_KEEP(first, fail(x, el[SWAP], ERANGE,
                              "%s is less than %s: it limits memory and swap together, so it is at least the "
                              "hard limit",
                              SIZE(m->swap_hard_limit),
                              m->hard_limit ? "<hard_limit>" : "the domain's <memory> and the monitor's overhead"));
    if (el[SOFT] && m->hard_limit && m->soft_limit > m->hard_limit)
        DXML_KEEP(first, fail(x, el[SOFT], ERANGE, "%s is more than <hard_limit> (%s); a soft limit is below it",
                              SIZE(m->soft_limit), SIZE(m->hard_limit)));
    if (first < 0)
        memset(m, 0, sizeof(*m));
    return first;
}
