#include "ctl/verb_routes.h"

#include <errno.h>

#define LOCAL(verb, sub, why)                                                                                          \
    {                                                                                                                  \
        verb, sub, NULL, why                                                                                           \
    }

/* What each command's code requests (cmd_*.c): GET of the domain first where it reads the
 * domain before acting (console attach, migrate's progress) is listed too. */
const struct ctl_verb_route ctl_verb_routes[] = {
    {"create", NULL, "POST", "/v1/domains"},
    {"define", NULL, "POST", "/v1/domains"},
    {"start", NULL, "POST", "/v1/domains/{ref}/start"},
    {"undefine", NULL, "DELETE", "/v1/domains/{ref}"},
    {"list", NULL, "GET", "/v1/domains"},
    {"info", NULL, "GET", "/v1/domains/{ref}"},
    {"host", NULL, "GET", "/v1/host"},
    {"dumpxml", NULL, "GET", "/v1/domains/{ref}/xml"},
    {"edit", NULL, "GET", "/v1/domains/{ref}/xml"},
    {"edit", NULL, "PUT", "/v1/domains/{ref}/xml"},
    {"pause", NULL, "POST", "/v1/domains/{ref}/pause"},
    {"unpause", NULL, "POST", "/v1/domains/{ref}/unpause"},
    {"shutdown", NULL, "POST", "/v1/domains/{ref}/shutdown"},
    {"reboot", NULL, "POST", "/v1/domains/{ref}/reboot"},
    {"reset", NULL, "POST", "/v1/domains/{ref}/reset"},
    {"mem-set", NULL, "POST", "/v1/domains/{ref}/memory"},
    {"sched", NULL, "GET", "/v1/domains"}, /* without REF: every domain's settings */
    {"sched", NULL, "GET", "/v1/domains/{ref}/sched"},
    {"sched", NULL, "POST", "/v1/domains/{ref}/sched"},
    {"top", NULL, "GET", "/v1/domains"},
    {"top", NULL, "GET", "/v1/prices"}, /* the cost column */
    {"save", NULL, "POST", "/v1/domains/{ref}/save"},
    {"restore", NULL, "POST", "/v1/restore"},
    {"migrate", NULL, "POST", "/v1/domains/{ref}/migrate"},
    {"drain", NULL, "POST", "/v1/domains/{ref}/migrate"}, /* on the drained host, for each of its domains */
    {"migrate", NULL, "GET", "/v1/domains/{ref}"},        /* progress while it runs */
    {"net-qos", NULL, "POST", "/v1/domains/{ref}/net-qos"},
    {"disk-qos", NULL, "PUT", "/v1/domains/{ref}/disks/{target}/qos"},
    {"destroy", NULL, "POST", "/v1/domains/{ref}/destroy"},
    {"console", NULL, "GET", "/v1/domains/{ref}"},         /* attach: the domain's console socket */
    {"console", NULL, "GET", "/v1/domains/{ref}/console"}, /* --dump */
    {"events", NULL, "GET", "/v1/events"},                 /* --follow: the same route, follow=1 */
    {"dmesg", NULL, "GET", "/v1/log"},
    LOCAL("audit", "verify", "reads a flow log file on this host (docs/flowlog-format.md); no daemon"),
    LOCAL("audit", "query", "reads a flow log file on this host (docs/flowlog-format.md); no daemon"),
    {"token", "create", "POST", "/v1/tokens"},
    {"token", "list", "GET", "/v1/tokens"},
    {"token", "revoke", "DELETE", "/v1/tokens/{id}"},
    {"bill", NULL, "GET", "/v1/sponsors/{sponsor}/bill"},
    {"bill", NULL, "GET", "/v1/sponsors/{sponsor}/bill/explain"}, /* --explain LINE */
    {"bill", NULL, "GET", "/v1/host/bill"},                       /* --host */
    {"sponsor-policy", NULL, "GET", "/v1/sponsors/{sponsor}/policy"},
    {"sponsor-policy", NULL, "PUT", "/v1/sponsors/{sponsor}/policy"},
    LOCAL("disk", "create", "makes an image in the image directory of this host (docs/blkback.md); no daemon"),
    LOCAL("disk", "info", "reads an image in the image directory of this host; no daemon"),
    LOCAL("disk", "commit", "merges an overlay into its base on this host; no daemon"),
    LOCAL("disk", "convert", "imports a qcow2 file with qemu-img on this host; no daemon"),
    LOCAL("help", NULL, "prints xenctl's own help text"),
    LOCAL("hosts", NULL, "reads the fleet's host records in etcd (--fleet; docs/fleet.md); no xenod"),
    {NULL, NULL, NULL, NULL},
};

int ctl_verb_routes_print(FILE *f)
{
    for (const struct ctl_verb_route *r = ctl_verb_routes; r->verb; r++) {
        fprintf(f, "%s%s%s\t", r->verb, r->sub ? " " : "", r->sub ? r->sub : "");
        if (r->method)
            fprintf(f, "%s %s\n", r->method, r->pattern);
        else
            fprintf(f, "local\t%s\n", r->pattern);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
