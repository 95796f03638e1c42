/* xenctl net-qos: a domain's network QoS, changed live (docs/network.md, docs/api.md). The
 * values are libvirt's <bandwidth> units, as `virsh domiftune` takes them: average, peak and
 * floor in kilobytes/s, burst in kibibytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/commands.h"
#include "lib/log.h"
#include "lib/parse.h"

/* "AVERAGE[,PEAK[,BURST[,FLOOR]]]" into {"average", "peak", "burst"[, "floor"]}. */
static int bandwidth_arg(const char *opt, const char *text, int max_fields, json_t **out)
{
    static const char *const keys[] = {"average", "peak", "burst", "floor"};
    char buf[256];
    *out = NULL;
    if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
        return ctl_usage_error("--%s %s: too long", opt, text);
    json_t *o = json_object();
    int i = 0;
    for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save), i++) {
        uint64_t v;
        if (i >= max_fields || parse_u64_range(f, 0, 4294967295ULL, &v) < 0) {
            json_decref(o);
            return ctl_usage_error("--%s %s: give AVERAGE[,PEAK[,BURST%s]] as whole numbers (kilobytes/s; burst "
                                   "in KiB)",
                                   opt, text, max_fields > 3 ? "[,FLOOR]" : "");
        }
        json_object_set_new(o, keys[i], json_integer((json_int_t)v));
    }
    *out = o;
    return CTL_EXIT_OK;
}

int ctl_cmd_net_qos(const struct ctl *c, const struct ctl_args *a)
{
    const char *in = ctl_args_get(a, "inbound"), *out = ctl_args_get(a, "outbound"), *w = ctl_args_get(a, "weight");
    json_t *body = json_object(), *v;
    int rc = CTL_EXIT_OK;
    if (in && (rc = bandwidth_arg("inbound", in, 3, &v)) == CTL_EXIT_OK)
        json_object_set_new(body, "inbound", v);
    if (rc == CTL_EXIT_OK && out && (rc = bandwidth_arg("outbound", out, 4, &v)) == CTL_EXIT_OK)
        json_object_set_new(body, "outbound", v);
    if (rc == CTL_EXIT_OK && w) {
        uint64_t n;
        if (parse_u64_range(w, 1, 1000, &n) < 0)
            rc = ctl_usage_error("--weight %s: a whole number from 1 to 1000", w);
        else
            json_object_set_new(body, "weight", json_integer((json_int_t)n));
    }
    char path[1200];
    json_t *dom = NULL;
    if (rc == CTL_EXIT_OK)
        rc = ctl_domain_path(a->pos[0], "net-qos", path, sizeof(path));
    if (rc == CTL_EXIT_OK)
        rc = ctl_call(c, "POST", path, body, CTL_REQUEST_TIMEOUT_S, &dom, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(dom);
    else
        printf("Domain %s: network QoS set\n", a->pos[0]);
    json_decref(dom);
    return CTL_EXIT_OK;
}
