/* xenctl migrate: moves a running domain to another host's xenod (docs/migration.md), with
 * its progress on stderr while the request runs. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/commands.h"
#include "lib/parse.h"

#define MIGRATE_TIMEOUT_S (31 * 60)
#define DEFAULT_MIGRATE_PORT "7430"

struct migrate_call {
    const struct ctl *c;
    char path[1200];
    json_t *body, *dom;
    int rc;
    volatile int done;
};

static void *post(void *opaque)
{
    struct migrate_call *m = opaque;
    m->rc = ctl_call(m->c, "POST", m->path, m->body, MIGRATE_TIMEOUT_S, &m->dom, NULL);
    __atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int ctl_cmd_migrate(const struct ctl *c, const struct ctl_args *a)
{
    const char *bw = ctl_args_get(a, "bandwidth"), *dt = ctl_args_get(a, "max-downtime");
    char host[300];
    uint64_t v;
    struct migrate_call m = {.c = c};
    /* HOST:PORT, [V6]:PORT, or HOST alone (the default port). */
    const char *dest = a->pos[1];
    const char *colon = strrchr(dest, ':');
    int has_port = colon && (dest[0] != '[' || colon > strchr(dest, ']'));
    if (snprintf(host, sizeof(host), "%s%s%s", dest, has_port ? "" : ":", has_port ? "" : DEFAULT_MIGRATE_PORT) >=
        (int)sizeof(host))
        return ctl_usage_error("HOST %s: too long", dest);
    m.body = json_pack("{s:s, s:b}", "host", host, "live", ctl_args_get(a, "live") != NULL);
    if (bw) {
        if (parse_u64_range(bw, 1, 1000000, &v) < 0) {
            json_decref(m.body);
            return ctl_usage_error("--bandwidth %s: MB/s, a whole number from 1 to 1000000", bw);
        }
        json_object_set_new(m.body, "bandwidth_mbps", json_integer((json_int_t)v));
    }
    if (dt) {
        if (parse_duration_ms(dt, 600000, &v) < 0 || v < 1) {
            json_decref(m.body);
            return ctl_usage_error("--max-downtime %s: a time from 1ms to 10min (e.g. 50ms; a bare number is ms)", dt);
        }
        json_object_set_new(m.body, "max_downtime_ms", json_integer((json_int_t)v));
    }
    int rc = ctl_domain_path(a->pos[0], "migrate", m.path, sizeof(m.path));
    char info[1200];
    if (rc == CTL_EXIT_OK)
        rc = ctl_domain_path(a->pos[0], NULL, info, sizeof(info));
    if (rc != CTL_EXIT_OK) {
        json_decref(m.body);
        return rc;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, post, &m) != 0) {
        json_decref(m.body);
        fprintf(stderr, "xenctl: error: cannot start the request thread\n");
        return CTL_EXIT_FAILED;
    }
    /* Progress: the domain's `migration.progress` as xenod sees its monitor report it. */
    char last[512] = "";
    while (!__atomic_load_n(&m.done, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
        json_t *dom = NULL;
        struct ctl quiet = *c;
        if (ctl_call(&quiet, "GET", info, NULL, 5, &dom, NULL) == CTL_EXIT_OK) {
            const char *p = json_string_value(json_object_get(json_object_get(dom, "migration"), "progress"));
            if (p && strcmp(p, last) != 0) {
                snprintf(last, sizeof(last), "%s", p);
                fprintf(stderr, "migrate: %s\n", p);
            }
        }
        json_decref(dom);
    }
    pthread_join(t, NULL);
    json_decref(m.body);
    if (m.rc != CTL_EXIT_OK)
        return m.rc;
    if (c->json) {
        ctl_print_json(m.dom);
    } else {
        const char *res = json_string_value(json_object_get(m.dom, "migration_result"));
        printf("Domain %s migrated to %s%s%s\n", a->pos[0], host, res ? ": " : "", res ? res : "");
    }
    json_decref(m.dom);
    return CTL_EXIT_OK;
}
