#include "fleet/fleet_model.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define FLEET_DEFINITION_MAX (512u * 1024) /* a domain's XML */

int fleet_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > FLEET_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '-' && name[i] != '_')
            return 0;
    return 1;
}

int fleet_url_valid(const char *url)
{
    size_t n = strlen(url);
    int https = strncmp(url, "https://", 8) == 0 && n > 8, unix_socket = strncmp(url, "unix:/", 6) == 0;
    if (n > FLEET_URL_MAX || (!https && !unix_socket))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (url[i] <= ' ' || url[i] > '~')
            return 0;
    return 1;
}

int fleet_migrate_addr_valid(const char *addr)
{
    size_t n = strlen(addr);
    const char *colon = strrchr(addr, ':');
    if (n == 0)
        return 1;
    if (n > FLEET_NAME_MAX || !colon || colon == addr || !colon[1])
        return 0;
    for (size_t i = 0; i < n; i++)
        if (addr[i] <= ' ' || addr[i] > '~' || addr[i] == '/')
            return 0;
    for (const char *p = colon + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static int uuid_valid(const char *u)
{
    if (strlen(u) != FLEET_UUID_LEN)
        return 0;
    for (int i = 0; i < FLEET_UUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
            return 0;
    }
    return 1;
}

uint64_t fleet_host_used_ppm(const struct fleet_host *h)
{
    return h->held_ppm > h->claimed_ppm ? h->held_ppm : h->claimed_ppm;
}

void fleet_host_key(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, FLEET_HOSTS "%s", name);
}

void fleet_domain_key(const char *uuid, char *buf, size_t size)
{
    snprintf(buf, size, FLEET_DOMAINS "%s", uuid);
}

void fleet_sponsor_prefix(const char *sponsor, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, FLEET_SPONSORS);
    /* Hex: a sponsor is any printable text, '/' included. */
    for (const unsigned char *p = (const unsigned char *)sponsor; *p && n + 3 < size; p++)
        n += (size_t)snprintf(buf + n, size - n, "%02x", *p);
    if (n + 1 < size)
        buf[n++] = '/', buf[n] = 0;
}

void fleet_sponsor_key(const char *sponsor, const char *host, const char *uuid, char *buf, size_t size)
{
    fleet_sponsor_prefix(sponsor, buf, size);
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s/%s", host, uuid);
}

char *fleet_host_format(const struct fleet_host *h)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:i}", "name", h->name, "advertise",
                          h->advertise, "version", h->version, "migrate", h->migrate, "state",
                          h->state == FLEET_DRAINING ? "draining" : "active", "cpus", (int)h->cpus, "headroom_ppm",
                          (json_int_t)h->headroom_ppm, "mem_mib", (json_int_t)h->mem_mib, "held_ppm",
                          (json_int_t)h->held_ppm, "claimed_ppm", (json_int_t)h->claimed_ppm, "claimed_mib",
                          (json_int_t)h->claimed_mib, "claimed_domains", (int)h->claimed_domains);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

char *fleet_domain_format(const struct fleet_domain *d)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:I, s:s}", "uuid", d->uuid, "name", d->name, "host", d->host,
                  "sponsor", d->sponsor, "reservation_ppm", (json_int_t)d->reservation_ppm, "vcpus", (int)d->vcpus,
                  "mem_mib", (json_int_t)d->mem_mib, "definition", d->definition ? d->definition : "");
    if (j && d->lost_from[0] && json_object_set_new(j, "lost_from", json_string(d->lost_from)) < 0) {
        json_decref(j);
        return NULL;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* A string field of at most max bytes, printable ASCII (or empty when allow_empty). */
static int text_field(const json_t *o, const char *name, char *out, size_t max, int allow_empty)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (!s || strlen(s) > max || (!allow_empty && !*s))
        return -1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
            return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int u64_field(const json_t *o, const char *name, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int fleet_host_parse(const char *text, size_t len, const char *key, struct fleet_host *out)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    uint64_t cpus = 0, headroom = 0, domains = 0;
    char state[16];
    memset(out, 0, sizeof(*out));
    int bad = !json_is_object(j) || text_field(j, "name", out->name, FLEET_NAME_MAX, 0) ||
              text_field(j, "advertise", out->advertise, FLEET_URL_MAX, 0) ||
              text_field(j, "version", out->version, FLEET_TEXT_MAX, 1) ||
              text_field(j, "state", state, sizeof(state) - 1, 0) || u64_field(j, "cpus", 4096, &cpus) ||
              u64_field(j, "headroom_ppm", 900000, &headroom) || u64_field(j, "mem_mib", 1ull << 40, &out->mem_mib) ||
              u64_field(j, "held_ppm", 1ull << 40, &out->held_ppm) ||
              u64_field(j, "claimed_ppm", 1ull << 40, &out->claimed_ppm) ||
              u64_field(j, "claimed_mib", 1ull << 50, &out->claimed_mib) ||
              u64_field(j, "claimed_domains", 1u << 20, &domains);
    /* "migrate" came with drain: a record without it (an older xenod) has none. */
    if (!bad && json_object_get(j, "migrate") &&
        (text_field(j, "migrate", out->migrate, FLEET_NAME_MAX, 1) || !fleet_migrate_addr_valid(out->migrate)))
        bad = 1;
    json_decref(j);
    char want[FLEET_KEY_MAX];
    if (!bad)
        fleet_host_key(out->name, want, sizeof(want));
    if (bad || !fleet_name_valid(out->name) || !fleet_url_valid(out->advertise) || strcmp(want, key) != 0 ||
        (strcmp(state, "active") != 0 && strcmp(state, "draining") != 0))
        return err_set(EINVAL, "fleet record %.200s: not a valid host record", key);
    out->state = strcmp(state, "draining") == 0 ? FLEET_DRAINING : FLEET_ACTIVE;
    out->cpus = (unsigned)cpus;
    out->headroom_ppm = (uint32_t)headroom;
    out->claimed_domains = (unsigned)domains;
    return 0;
}

int fleet_domain_parse(const char *text, size_t len, const char *key, struct fleet_domain *out)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    uint64_t res = 0, vcpus = 0;
    memset(out, 0, sizeof(*out));
    const char *def = json_string_value(json_object_get(j, "definition"));
    int bad = !json_is_object(j) || text_field(j, "uuid", out->uuid, FLEET_UUID_LEN, 0) ||
              text_field(j, "name", out->name, FLEET_NAME_MAX, 0) ||
              text_field(j, "host", out->host, FLEET_NAME_MAX, 0) ||
              text_field(j, "sponsor", out->sponsor, FLEET_TEXT_MAX, 1) ||
              u64_field(j, "reservation_ppm", 1ull << 32, &res) || u64_field(j, "vcpus", 1024, &vcpus) ||
              u64_field(j, "mem_mib", 1ull << 40, &out->mem_mib) || !def || strlen(def) > FLEET_DEFINITION_MAX;
    if (!bad && json_object_get(j, "lost_from") &&
        (text_field(j, "lost_from", out->lost_from, FLEET_NAME_MAX, 0) || !fleet_name_valid(out->lost_from)))
        bad = 1;
    if (!bad && !(out->definition = strdup(def)))
        bad = 1;
    json_decref(j);
    char want[FLEET_KEY_MAX];
    if (!bad)
        fleet_domain_key(out->uuid, want, sizeof(want));
    if (bad || !uuid_valid(out->uuid) || !fleet_name_valid(out->host) || strcmp(want, key) != 0 || res > UINT32_MAX) {
        fleet_domain_free(out);
        return err_set(EINVAL, "fleet record %.200s: not a valid domain record", key);
    }
    out->reservation_ppm = (uint32_t)res;
    out->vcpus = (unsigned)vcpus;
    return 0;
}

void fleet_domain_free(struct fleet_domain *d)
{
    free(d->definition);
    d->definition = NULL;
}
