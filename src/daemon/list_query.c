#include "daemon/list_query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/parse.h"

const char *const list_field_names[] = {"name",
                                        "uuid",
                                        "id",
                                        "sponsor",
                                        "title",
                                        "description",
                                        "state",
                                        "persistent",
                                        "memory_bytes",
                                        "current_memory_bytes",
                                        "vcpus",
                                        "cpu_time_s",
                                        "pid",
                                        "started_at",
                                        "console_socket",
                                        "kernel",
                                        "initrd",
                                        "cmdline",
                                        "on_poweroff",
                                        "on_reboot",
                                        "on_crash",
                                        "boots",
                                        "memory_enforcement",
                                        "usage",
                                        "sched",
                                        "memtune",
                                        "migration",
                                        "net"};
const unsigned list_field_count = sizeof(list_field_names) / sizeof(list_field_names[0]);

static const char *const states[] = {"running", "blocked", "paused", "shutdown", "crashed"};

static const char *const params[] = {"sponsor", "state", "fields", "limit", "after"};

int list_query_known_param(const char *name)
{
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
        if (strcmp(name, params[i]) == 0)
            return 1;
    return 0;
}

/* Printable ASCII without the separators of our own formats: what a name or sponsor may
 * hold is checked by the XML parser; here only that the text is safe to quote back. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static int parse_fields(const char *text, uint64_t *out)
{
    *out = 0;
    if (!*text)
        return err_set(EINVAL, "query parameter fields: empty (name members, comma-separated, e.g. fields=name,state)");
    for (const char *p = text;;) {
        size_t n = strcspn(p, ",");
        unsigned i = 0;
        while (i < list_field_count && !(strlen(list_field_names[i]) == n && strncmp(p, list_field_names[i], n) == 0))
            i++;
        if (i == list_field_count) {
            if (n > 40 || !printable(p))
                return err_set(EINVAL,
                               "query parameter fields: an unknown member (see docs/api.md, \"Domain object\")");
            return err_set(EINVAL, "query parameter fields: unknown member '%.*s' (see docs/api.md, \"Domain object\")",
                           (int)n, p);
        }
        *out |= 1ULL << i;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

int list_query_parse(const char *sponsor, const char *state, const char *fields, const char *limit, const char *after,
                     struct list_query *q)
{
    memset(q, 0, sizeof(*q));
    if (sponsor) {
        if (strlen(sponsor) > DOMAIN_SPONSOR_MAX || !printable(sponsor))
            return err_set(EINVAL, "query parameter sponsor: at most %d printable characters", DOMAIN_SPONSOR_MAX);
        snprintf(q->sponsor, sizeof(q->sponsor), "%s", sponsor);
        q->have_sponsor = 1;
    }
    if (state) {
        size_t i = 0;
        while (i < sizeof(states) / sizeof(states[0]) && strcmp(state, states[i]) != 0)
            i++;
        if (i == sizeof(states) / sizeof(states[0]))
            return err_set(EINVAL,
                           "query parameter state: %s%s%s is not a state (running, blocked, paused, shutdown, crashed)",
                           printable(state) && strlen(state) < 32 ? "'" : "",
                           printable(state) && strlen(state) < 32 ? state : "the value",
                           printable(state) && strlen(state) < 32 ? "'" : "");
        snprintf(q->state, sizeof(q->state), "%s", states[i]);
    }
    if (fields && parse_fields(fields, &q->fields) < 0)
        return -EINVAL;
    if (limit) {
        uint64_t v;
        if (parse_u64_range(limit, 1, LIST_LIMIT_MAX, &v) < 0)
            return err_set(EINVAL, "query parameter limit: a number from 1 to %d", LIST_LIMIT_MAX);
        q->limit = (unsigned)v;
        q->paged = 1;
    }
    if (after) {
        if (!*after || strlen(after) > DOMAIN_NAME_MAX || !printable(after))
            return err_set(EINVAL, "query parameter after: a domain name (the \"next\" of the previous page)");
        snprintf(q->after, sizeof(q->after), "%s", after);
        q->paged = 1;
    }
    return 0;
}

int list_query_matches(const struct list_query *q, const char *sponsor, const char *state)
{
    if (q->have_sponsor && strcmp(q->sponsor, sponsor ? sponsor : "") != 0)
        return 0;
    return !q->state[0] || strcmp(q->state, state) == 0;
}

int list_query_selects(const struct list_query *q, const char *name)
{
    if (!q->fields)
        return 1;
    for (unsigned i = 0; i < list_field_count; i++)
        if (strcmp(name, list_field_names[i]) == 0)
            return (q->fields >> i) & 1;
    return 0;
}
