/* xenctl disk-qos: a disk's QoS, changed live (docs/blkback.md, docs/api.md), modelled on
 * `virsh blkdeviotune`: the options are its <iotune> names with dashes (--total-iops-sec N,
 * --read-bytes-sec-max N, ...), plus --weight (<blkiotune>) and --reservation (units/s). The
 * values given replace the disk's (0: none), the others stay; with none it prints them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/url.h"
#include "lib/domain_disk.h"
#include "lib/parse.h"

/* The option for a JSON key: "total_iops_sec" -> "total-iops-sec". */
static void option_name(const char *key, char *out, size_t size)
{
    snprintf(out, size, "%s", key);
    for (char *p = out; *p; p++)
        if (*p == '_')
            *p = '-';
}

static void print_qos(const json_t *q)
{
    const char *k;
    json_t *v;
    printf("%-30s %s\n", "disk:", json_string_value(json_object_get(q, "target")));
    json_object_foreach((json_t *)json_object_get(q, "iotune"), k, v)
    {
        char opt[48];
        option_name(k, opt, sizeof(opt));
        char label[52];
        snprintf(label, sizeof(label), "%s:", opt);
        printf("%-30s %lld\n", label, (long long)json_integer_value(v));
    }
    json_t *w = json_object_get(q, "weight");
    if (json_is_integer(w))
        printf("%-30s %lld\n", "weight:", (long long)json_integer_value(w));
    else
        printf("%-30s %s\n", "weight:", "(default)");
    printf("%-30s %lld\n", "reservation:", (long long)json_integer_value(json_object_get(q, "reservation")));
}

int ctl_cmd_disk_qos(const struct ctl *c, const struct ctl_args *a)
{
    json_t *body = json_object();
    int rc = CTL_EXIT_OK;
    for (int i = 0; i <= IOTUNE_KEYS + 1 && rc == CTL_EXIT_OK; i++) {
        const char *key = i < IOTUNE_KEYS ? domain_iotune_names[i] : i == IOTUNE_KEYS ? "weight" : "reservation";
        char opt[48];
        uint64_t v;
        option_name(key, opt, sizeof(opt));
        const char *text = ctl_args_get(a, opt);
        if (!text)
            continue;
        if (parse_u64_range(text, 0, DOMAIN_DISK_IOTUNE_VALUE_MAX, &v) < 0)
            rc = ctl_usage_error("--%s %s: a whole number (0: none)", opt, text);
        else
            json_object_set_new(body, key, json_integer((json_int_t)v));
    }
    char path[1200], target[64];
    json_t *answer = NULL;
    if (rc == CTL_EXIT_OK && ctl_url_escape(a->pos[1], target, sizeof(target)) < 0)
        rc = ctl_usage_error("disk '%s': too long", a->pos[1]);
    if (rc == CTL_EXIT_OK) {
        char action[96];
        snprintf(action, sizeof(action), "disks/%s/qos", target);
        rc = ctl_domain_path(a->pos[0], action, path, sizeof(path));
    }
    if (rc == CTL_EXIT_OK)
        rc = ctl_call(c, "PUT", path, body, CTL_REQUEST_TIMEOUT_S, &answer, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(answer);
    else
        print_qos(answer);
    json_decref(answer);
    return CTL_EXIT_OK;
}
