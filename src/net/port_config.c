#include "net/port_config.h"

#include "lib/err.h"
#include "lib/mac_addr.h"
#include "lib/parse.h"
#include "lib/eth.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int port_words(char *line, char **words, int max)
{
    /* One request per line, words split by spaces only, and no escapes: a value can hold
     * neither a space nor a control character. A tab, a carriage return or a newline inside
     * the line is refused, not taken as a separator, so that text a writer failed to check
     * (a socket path with a newline in it) fails here instead of becoming a second request
     * or another word. The one newline allowed ends the line (fgets leaves it in place). */
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n')
        line[--len] = 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            return err_set(EINVAL, "control character (0x%02x) at byte %zu; the line is refused whole",
                           (unsigned)(unsigned char)line[i], i);
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (n == max)
            return err_set(E2BIG, "more than %d words", max);
        words[n++] = w;
    }
    return n;
}

static int copy_text(char *dst, size_t size, const char *key, const char *v)
{
    size_t l = strlen(v);
    if (l == 0 || l >= size)
        return err_set(EINVAL, "%s='%s': 1 to %zu characters", key, v, size - 1);
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)v[i] <= ' ' || v[i] == '=' || (unsigned char)v[i] >= 0x7f)
            return err_set(EINVAL, "%s='%s': no blanks, '=' or control characters", key, v);
    memcpy(dst, v, l + 1);
    return 0;
}

static int qos_word(struct port_config *pc, const char *key, const char *v, bool *known)
{
    uint64_t *slot = NULL;
    uint64_t max = NET_QOS_MAX_RATE_KIB;
    *known = true;
    if (!strcmp(key, "in-average"))
        slot = &pc->qos.inbound.average_kib;
    else if (!strcmp(key, "in-peak"))
        slot = &pc->qos.inbound.peak_kib;
    else if (!strcmp(key, "in-burst"))
        slot = &pc->qos.inbound.burst_kib, max = NET_QOS_MAX_BURST_KIB;
    else if (!strcmp(key, "out-average"))
        slot = &pc->qos.outbound.average_kib;
    else if (!strcmp(key, "out-peak"))
        slot = &pc->qos.outbound.peak_kib;
    else if (!strcmp(key, "out-burst"))
        slot = &pc->qos.outbound.burst_kib, max = NET_QOS_MAX_BURST_KIB;
    else if (!strcmp(key, "floor"))
        slot = &pc->qos.floor_kib;
    else if (!strcmp(key, "weight")) {
        uint64_t w;
        int rc = parse_u64_range(v, 1, NET_QOS_WEIGHT_MAX, &w);
        if (rc < 0)
            return err_wrap(EINVAL, "weight=%s", v);
        pc->qos.weight = (uint32_t)w;
        return 0;
    } else {
        *known = false;
        return 0;
    }
    int rc = parse_u64_range(v, 0, max, slot);
    if (rc < 0)
        return err_wrap(EINVAL, "%s=%s", key, v);
    return 0;
}

static int split(char *w, char **key, char **val)
{
    char *eq = strchr(w, '=');
    if (!eq || eq == w)
        return err_set(EINVAL, "'%s' is not KEY=VALUE", w);
    *eq = 0;
    *key = w;
    *val = eq + 1;
    return 0;
}

int port_config_parse_qos(struct port_config *pc, char **words, int n)
{
    for (int i = 0; i < n; i++) {
        char *k = NULL, *v = NULL;
        bool known = false;
        int rc = split(words[i], &k, &v);
        if (rc == 0)
            rc = qos_word(pc, k, v, &known);
        if (rc < 0)
            return rc;
        if (!known)
            return err_set(EINVAL, "unknown QoS setting '%s' (in-/out-average, -peak, -burst, weight, floor)", k);
    }
    return 0;
}

int port_config_parse(struct port_config *pc, char **words, int n)
{
    memset(pc, 0, sizeof(*pc));
    if (n < 1)
        return err_set(EINVAL, "a port needs a NAME");
    int rc = copy_text(pc->name, sizeof(pc->name), "name", words[0]);
    if (rc < 0)
        return rc;
    bool have_socket = false, have_mac = false;
    for (int i = 1; i < n; i++) {
        char *k = NULL, *v = NULL;
        bool known = false;
        if ((rc = split(words[i], &k, &v)) < 0)
            return rc;
        if (!strcmp(k, "socket")) {
            if (v[0] != '/')
                return err_set(EINVAL, "socket=%s: an absolute path", v);
            rc = copy_text(pc->socket, sizeof(pc->socket), k, v);
            have_socket = true;
        } else if (!strcmp(k, "mac")) {
            rc = mac_addr_parse(v, pc->mac);
            have_mac = true;
        } else if (!strcmp(k, "ip")) {
            rc = net_ipv4_parse(v, &pc->ipv4);
            pc->has_ipv4 = true;
        } else if (!strcmp(k, "domain")) {
            rc = copy_text(pc->domain, sizeof(pc->domain), k, v);
        } else if (!strcmp(k, "sponsor")) {
            rc = copy_text(pc->sponsor, sizeof(pc->sponsor), k, v);
        } else if (!strcmp(k, "id")) {
            rc = parse_u64_range(v, 1, UINT64_MAX - 1, &pc->id);
            if (rc < 0)
                rc = err_wrap(EINVAL, "id=%s", v);
        } else {
            rc = qos_word(pc, k, v, &known);
            if (rc == 0 && !known)
                rc = err_set(EINVAL, "unknown port setting '%s'", k);
        }
        if (rc < 0)
            return rc;
    }
    if (!have_socket || !have_mac)
        return err_set(EINVAL, "port %s: socket=PATH and mac=MAC are required", pc->name);
    return 0;
}

int port_config_format(const struct port_config *pc, char *buf, size_t len)
{
    char mac[MAC_ADDR_TEXT];
    mac_addr_format(pc->mac, mac);
    int n = snprintf(buf, len, "%s id=%" PRIu64 " socket=%s mac=%s", pc->name, pc->id, pc->socket, mac);
    if (pc->has_ipv4)
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " ip=%u.%u.%u.%u", pc->ipv4 >> 24, (pc->ipv4 >> 16) & 255,
                      (pc->ipv4 >> 8) & 255, pc->ipv4 & 255);
    if (pc->domain[0])
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " domain=%s", pc->domain);
    if (pc->sponsor[0])
        n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " sponsor=%s", pc->sponsor);
    const struct net_qos_port_config *q = &pc->qos;
    const struct {
        const char *k;
        uint64_t v;
    } kv[] = {
        {"in-average", q->inbound.average_kib},
        {"in-peak", q->inbound.peak_kib},
        {"in-burst", q->inbound.burst_kib},
        {"out-average", q->outbound.average_kib},
        {"out-peak", q->outbound.peak_kib},
        {"out-burst", q->outbound.burst_kib},
        {"weight", q->weight},
        {"floor", q->floor_kib},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (kv[i].v)
            n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " %s=%" PRIu64, kv[i].k, kv[i].v);
    if ((size_t)n >= len)
        return err_set(ENOSPC, "port %s: its line is longer than %zu", pc->name, len);
    return n;
}
