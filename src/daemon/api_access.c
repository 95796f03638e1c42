#include "daemon/api_access.h"
#include "daemon/fd_budget.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/domain_config.h"
#include "lib/err.h"

/* save, restore and sched are not here: a sponsor may, within the policy the operator set
 * (sponsor_policy.h, checked by their handlers). */
static const struct {
    const char *method, *pattern;
} operator_only[] = {
    {"PUT", "/v1/sponsors/{sponsor}/policy"},
    {"POST", "/v1/domains/{ref}/migrate"}, /* another host */
    {"POST", "/v1/domains/{ref}/net-qos"}, /* the host's uplink */
    {"GET", "/v1/log"},                    /* the whole host's log */
    {"GET", "/v1/host"},
    {"GET", "/v1/host/bill"}, /* every sponsor's charges */
    {"GET", "/metrics"},      /* every sponsor's domains, names and figures */
    {"GET", "/v1/tokens"},
    {"POST", "/v1/tokens"},
    {"DELETE", "/v1/tokens/{id}"},
    {"POST", "/v1/prices"},        /* the host's price list */
    {"POST", "/v1/fleet/domains"}, /* forwarded to a host with the operator's --fleet-token */
};

int access_operator_only(const char *method, const char *pattern)
{
    for (size_t i = 0; i < sizeof(operator_only) / sizeof(operator_only[0]); i++)
        if (strcmp(operator_only[i].method, method) == 0 && strcmp(operator_only[i].pattern, pattern) == 0)
            return 1;
    return 0;
}

int access_sees(const struct principal *p, const char *sponsor)
{
    return p->is_operator || (sponsor && p->sponsor[0] && strcmp(sponsor, p->sponsor) == 0);
}

json_t *access_filter_events(json_t *events, json_t *domains, const struct principal *p)
{
    json_t *ev = json_object_get(events, "events"), *ds = json_object_get(domains, "domains");
    if (p->is_operator || !json_is_array(ev))
        return events;
    for (size_t i = json_array_size(ev); i-- > 0;) {
        const char *uuid = json_string_value(json_object_get(json_array_get(ev, i), "uuid"));
        int seen = 0;
        for (size_t j = 0; uuid && j < json_array_size(ds) && !seen; j++) {
            json_t *d = json_array_get(ds, j);
            seen = access_sees(p, json_string_value(json_object_get(d, "sponsor"))) &&
                   strcasecmp(uuid, json_string_value(json_object_get(d, "uuid")) ?: "") == 0;
        }
        if (!seen)
            json_array_remove(ev, i);
    }
    return events;
}

/* Is `path` (absolute, resolved) inside dir (resolved)? */
static int inside(const char *dir, const char *path)
{
    char rd[PATH_MAX], rp[PATH_MAX];
    if (!realpath(dir, rd) || !realpath(path, rp))
        return 0;
    size_t n = strlen(rd);
    return strncmp(rd, rp, n) == 0 && (rp[n] == '/' || (n == 1 && rd[0] == '/'));
}

int access_check_define(const struct principal *p, const char *image_dir, const char *xml, size_t len, const char *path)
{
    if (p->is_operator)
        return 0;
    if (!image_dir)
        return err_set(EACCES, "this xenod has no --image-dir: sponsors cannot define domains (ask the operator)");
    if (path)
        return err_set(EACCES, "\"path\" (a file on the host) is for the operator; send the XML only");
    struct domain_config cfg;
    if (domain_xml_parse(xml, len, "<api>", NULL, &cfg) < 0)
        return 0; /* the define reports every problem of the document */
    int r = 0;
    if (strcmp(cfg.sponsor, p->sponsor) != 0)
        r = err_set(EACCES, "<metadata><xeno:sponsor> must be your sponsor name '%s' (it is '%s')", p->sponsor,
                    cfg.sponsor);
    else if (!inside(image_dir, cfg.kernel) || (cfg.initrd && !inside(image_dir, cfg.initrd)))
        r = err_set(EACCES, "kernel and initrd must be files in the operator's image directory %s", image_dir);
    else if (cfg.net.present && cfg.net.socket[0])
        r = err_set(EACCES, "an interface's <source path=...> (a host socket) is for the operator");
    domain_config_free(&cfg);
    return r;
}

int access_read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(errno, "%s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return err_set(buf ? EFBIG : ENOMEM, "%s: unreadable or over 1 MiB", path);
    }
    buf[n] = 0;
    *out = buf;
    return 0;
}

unsigned access_tcp_connection_limit(void)
{
    struct rlimit rl;
    rlim_t fds = fd_budget_connections(getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024);
    /* Half of what the domains leave at most (fd_budget.h): the rest is the unix socket's. */
    rlim_t cap = fds / 2 > 4096 ? 4096 : fds / 2;
    return cap < 16 ? 16 : (unsigned)cap;
}
