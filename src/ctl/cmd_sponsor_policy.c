/* `xenctl sponsor-policy SPONSOR [--max-reservation PCT] [--max-limit PCT] [--no-sched]
 * [--save|--no-save] [--disk-total-iops-sec N] [--disk-total-bytes-sec N]`: show or change what the operator allows a
 * sponsor (GET/PUT /v1/sponsors/{sponsor}/policy, docs/api.md "Scoping"). A change reads the policy first and keeps
 * what is not given (the API replaces it whole). */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/table.h"
#include "ctl/url.h"
#include "lib/err.h"
#include "lib/domain_disk.h"
#include "lib/parse.h"
#include "lib/sched_params.h"

static int opt_pct(const struct ctl_args *a, const char *name, json_t *sched)
{
    const char *text = ctl_args_get(a, name);
    uint64_t ppm;
    char key[40];
    if (!text)
        return CTL_EXIT_OK;
    if (parse_percent_ppm(text, (uint64_t)SCHED_MAX_VCPUS * SCHED_PPM, &ppm) < 0)
        return ctl_usage_error("--%s: %s", name, err_msg());
    snprintf(key, sizeof(key), "%s_percent", strcmp(name, "max-limit") == 0 ? "max_limit" : "max_reservation");
    json_object_set_new(sched, key, json_real((double)ppm / 10000.0));
    return CTL_EXIT_OK;
}

/* --disk-total-iops-sec / --disk-total-bytes-sec into disk's total_iops_sec / total_bytes_sec. */
static int opt_disk(const struct ctl_args *a, const char *name, json_t *disk)
{
    const char *text = ctl_args_get(a, name);
    uint64_t v;
    if (!text)
        return CTL_EXIT_OK;
    if (parse_u64_range(text, 0, DOMAIN_DISK_SPONSOR_RATE_MAX, &v) < 0)
        return ctl_usage_error("--%s: '%s' is not a whole number from 0 (no limit) to %llu", name, text,
                               (unsigned long long)DOMAIN_DISK_SPONSOR_RATE_MAX);
    json_object_set_new(disk, strstr(name, "iops") ? "total_iops_sec" : "total_bytes_sec", json_integer((json_int_t)v));
    return CTL_EXIT_OK;
}

static void print_policy(const json_t *p)
{
    const json_t *s = json_object_get(p, "sched");
    char *sp = ctl_sanitize(json_string_value(json_object_get(p, "sponsor")));
    printf("Sponsor:  %s\n", sp ? sp : "");
    if (json_is_object(s)) {
        double lim = json_number_value(json_object_get(s, "max_limit_percent"));
        printf("Sched:    reservations up to %g%% in all, ",
               json_number_value(json_object_get(s, "max_reservation_percent")));
        if (lim > 0)
            printf("each limit at most %g%%\n", lim);
        else
            printf("any limit\n");
    } else {
        printf("Sched:    not allowed\n");
    }
    printf("Save:     %s\n", json_is_true(json_object_get(p, "save")) ? "allowed (by name)" : "not allowed");
    const json_t *d = json_object_get(p, "disk");
    json_int_t iops = json_integer_value(json_object_get(d, "total_iops_sec"));
    json_int_t bytes = json_integer_value(json_object_get(d, "total_bytes_sec"));
    if (iops || bytes)
        printf("Disk:     all its disks together at most %s%lld IOPS%s%s%lld bytes/s\n", iops ? "" : "(any) ",
               (long long)iops, iops && bytes ? ", " : "; ", bytes ? "" : "(any) ", (long long)bytes);
    else
        printf("Disk:     no limit\n");
    free(sp);
}

int ctl_cmd_sponsor_policy(const struct ctl *c, const struct ctl_args *a)
{
    char sp[400], path[512];
    json_t *doc = NULL;
    if (ctl_url_escape(a->pos[0], sp, sizeof(sp)) < 0)
        return ctl_usage_error("sponsor-policy: %s", err_msg());
    snprintf(path, sizeof(path), "/v1/sponsors/%s/policy", sp);
    int change = ctl_args_get(a, "max-reservation") || ctl_args_get(a, "max-limit") || ctl_args_get(a, "no-sched") ||
                 ctl_args_get(a, "save") || ctl_args_get(a, "no-save") || ctl_args_get(a, "disk-total-iops-sec") ||
                 ctl_args_get(a, "disk-total-bytes-sec");
    if (ctl_args_get(a, "save") && ctl_args_get(a, "no-save"))
        return ctl_usage_error("sponsor-policy: --save or --no-save, not both");
    if (ctl_args_get(a, "no-sched") && (ctl_args_get(a, "max-reservation") || ctl_args_get(a, "max-limit")))
        return ctl_usage_error("sponsor-policy: --no-sched takes no --max-reservation or --max-limit");
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &doc, NULL);
    if (rc != CTL_EXIT_OK && !change)
        return rc;
    if (change) {
        /* What is not given stays (none yet: no sched, no save). */
        json_t *old = json_object_get(doc, "sched");
        int had_sched = json_is_object(old);
        json_t *sched = had_sched ? json_deep_copy(old) : json_object();
        int save = json_is_true(json_object_get(doc, "save"));
        json_t *old_disk = json_object_get(doc, "disk");
        json_t *disk = json_is_object(old_disk) ? json_deep_copy(old_disk) : json_object();
        json_decref(doc);
        doc = NULL;
        if ((rc = opt_pct(a, "max-reservation", sched)) != CTL_EXIT_OK ||
            (rc = opt_pct(a, "max-limit", sched)) != CTL_EXIT_OK ||
            (rc = opt_disk(a, "disk-total-iops-sec", disk)) != CTL_EXIT_OK ||
            (rc = opt_disk(a, "disk-total-bytes-sec", disk)) != CTL_EXIT_OK) {
            json_decref(sched);
            json_decref(disk);
            return rc;
        }
        if (ctl_args_get(a, "no-sched") || (!had_sched && !json_object_size(sched))) {
            json_decref(sched);
            sched = json_null();
        }
        save = ctl_args_get(a, "save") ? 1 : ctl_args_get(a, "no-save") ? 0 : save;
        json_t *body = json_pack("{s:o, s:b, s:o}", "sched", sched, "save", save, "disk", disk);
        rc = body ? ctl_call(c, "PUT", path, body, CTL_REQUEST_TIMEOUT_S, &doc, NULL) : CTL_EXIT_FAILED;
        json_decref(body);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    if (c->json)
        ctl_print_json(doc);
    else
        print_policy(doc);
    json_decref(doc);
    return CTL_EXIT_OK;
}
