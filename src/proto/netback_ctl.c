#include "proto/netback_ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/eth.h"
#include "lib/mac_addr.h"
#include "lib/parse.h"

int nb_line_words(char *line, char **words, int max)
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

/* A TEXT value (name, socket, domain, sponsor): 1..size-1 bytes, none of them a blank, '=',
 * a control character or 0x7f and above. The one rule both ends apply. */
static int text_check(const char *key, const char *v, size_t size)
{
    size_t l = strlen(v);
    if (l == 0 || l >= size)
        return err_set(EINVAL, "%s='%s': 1 to %zu characters", key, v, size - 1);
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)v[i] <= ' ' || v[i] == '=' || (unsigned char)v[i] >= 0x7f)
            return err_set(EINVAL, "%s='%s': no blanks, '=' or control characters (byte 0x%02x at %zu)", key, v,
                           (unsigned)(unsigned char)v[i], i);
    return 0;
}

static int copy_text(char *dst, size_t size, const char *key, const char *v)
{
    int rc = text_check(key, v, size);
    if (rc == 0)
        memcpy(dst, v, strlen(v) + 1);
    return rc;
}

static int socket_check(const char *v)
{
    if (v[0] != '/')
        return err_set(EINVAL, "socket=%s: an absolute path", v);
    return text_check("socket", v, NB_PORT_SOCKET_MAX);
}

/* The QoS keys, their slots and limits: the one table parse and format share. */
struct qos_key {
    const char *key;
    size_t off; /* of a uint64_t in struct nb_port_qos; weight is apart */
    uint64_t max;
};
static const struct qos_key QOS_KEYS[] = {
    {"in-average", offsetof(struct nb_port_qos, in_average), NB_QOS_MAX_RATE_KIB},
    {"in-peak", offsetof(struct nb_port_qos, in_peak), NB_QOS_MAX_RATE_KIB},
    {"in-burst", offsetof(struct nb_port_qos, in_burst), NB_QOS_MAX_BURST_KIB},
    {"out-average", offsetof(struct nb_port_qos, out_average), NB_QOS_MAX_RATE_KIB},
    {"out-peak", offsetof(struct nb_port_qos, out_peak), NB_QOS_MAX_RATE_KIB},
    {"out-burst", offsetof(struct nb_port_qos, out_burst), NB_QOS_MAX_BURST_KIB},
    {"floor", offsetof(struct nb_port_qos, floor), NB_QOS_MAX_RATE_KIB}, /* last: formatted after weight */
};

static uint64_t *qos_slot(struct nb_port_qos *q, size_t i)
{
    return (uint64_t *)((char *)q + QOS_KEYS[i].off);
}

/* 1 and the value set when key is a QoS key, 0 when it is not, or -EINVAL. */
static int qos_word(struct nb_port_qos *q, const char *key, const char *v)
{
    uint64_t w;
    if (!strcmp(key, "weight")) {
        if (parse_u64_range(v, 1, NB_QOS_WEIGHT_MAX, &w) < 0)
            return err_wrap(EINVAL, "weight=%s", v);
        q->weight = (uint32_t)w;
        return 1;
    }
    for (size_t i = 0; i < sizeof(QOS_KEYS) / sizeof(QOS_KEYS[0]); i++)
        if (!strcmp(key, QOS_KEYS[i].key)) {
            if (parse_u64_range(v, 0, QOS_KEYS[i].max, qos_slot(q, i)) < 0)
                return err_wrap(EINVAL, "%s=%s", key, v);
            return 1;
        }
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

int nb_port_parse_qos(struct nb_port_qos *q, char **words, int n)
{
    for (int i = 0; i < n; i++) {
        char *k = NULL, *v = NULL;
        int rc = split(words[i], &k, &v);
        if (rc == 0 && (rc = qos_word(q, k, v)) == 0)
            rc = err_set(EINVAL, "unknown QoS setting '%s' (in-/out-average, -peak, -burst, weight, floor)", k);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One KEY=VALUE word of a port line into p. */
static int port_word(struct nb_port *p, const char *k, const char *v, bool *have_socket, bool *have_mac)
{
    int rc;
    if (!strcmp(k, "socket")) {
        *have_socket = true;
        return socket_check(v) < 0 ? -EINVAL : copy_text(p->socket, sizeof(p->socket), k, v);
    }
    if (!strcmp(k, "mac")) {
        *have_mac = true;
        return mac_addr_parse(v, p->mac);
    }
    if (!strcmp(k, "ip")) {
        p->has_ipv4 = true;
        return net_ipv4_parse(v, &p->ipv4);
    }
    if (!strcmp(k, "domain"))
        return copy_text(p->domain, sizeof(p->domain), k, v);
    if (!strcmp(k, "sponsor"))
        return copy_text(p->sponsor, sizeof(p->sponsor), k, v);
    if (!strcmp(k, "id")) {
        if (parse_u64_range(v, 1, UINT64_MAX - 1, &p->id) < 0)
            return err_wrap(EINVAL, "id=%s", v);
        return 0;
    }
    if ((rc = qos_word(&p->qos, k, v)) == 0)
        rc = err_set(EINVAL, "unknown port setting '%s'", k);
    return rc < 0 ? rc : 0;
}

int nb_port_parse(struct nb_port *p, char **words, int n)
{
    memset(p, 0, sizeof(*p));
    if (n < 1)
        return err_set(EINVAL, "a port needs a NAME");
    int rc = copy_text(p->name, sizeof(p->name), "name", words[0]);
    if (rc < 0)
        return rc;
    bool have_socket = false, have_mac = false;
    for (int i = 1; i < n; i++) {
        char *k = NULL, *v = NULL;
        if ((rc = split(words[i], &k, &v)) < 0 || (rc = port_word(p, k, v, &have_socket, &have_mac)) < 0)
            return rc;
    }
    if (!have_socket || !have_mac)
        return err_set(EINVAL, "port %s: socket=PATH and mac=MAC are required", p->name);
    return 0;
}

/* Appends to buf at *n (snprintf's way: *n counts what would have been written). */
static void put(char *buf, size_t len, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + (*n < len ? *n : len), *n < len ? len - *n : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        *n += (size_t)w;
}

static int qos_check(const struct nb_port_qos *q)
{
    for (size_t i = 0; i < sizeof(QOS_KEYS) / sizeof(QOS_KEYS[0]); i++) {
        uint64_t v = *qos_slot((struct nb_port_qos *)q, i);
        if (v > QOS_KEYS[i].max)
            return err_set(EINVAL, "%s=%" PRIu64 ": at most %" PRIu64, QOS_KEYS[i].key, v, QOS_KEYS[i].max);
    }
    if (q->weight > NB_QOS_WEIGHT_MAX)
        return err_set(EINVAL, "weight=%u: at most %u", q->weight, NB_QOS_WEIGHT_MAX);
    return 0;
}

static void put_qos(const struct nb_port_qos *q, char *buf, size_t len, size_t *n)
{
    /* In the order the ports file always had: the rates, weight, then floor (the last key). */
    size_t floor_key = sizeof(QOS_KEYS) / sizeof(QOS_KEYS[0]) - 1;
    for (size_t i = 0; i <= floor_key; i++) {
        if (i == floor_key && q->weight)
            put(buf, len, n, "%sweight=%u", *n ? " " : "", q->weight);
        uint64_t v = *qos_slot((struct nb_port_qos *)q, i);
        if (v)
            put(buf, len, n, "%s%s=%" PRIu64, *n ? " " : "", QOS_KEYS[i].key, v);
    }
}

int nb_port_qos_format(const struct nb_port_qos *q, char *buf, size_t len)
{
    size_t n = 0;
    int rc = qos_check(q);
    if (rc < 0)
        return rc;
    if (len)
        buf[0] = 0;
    put_qos(q, buf, len, &n);
    if (n >= len)
        return err_set(ENOSPC, "QoS words longer than %zu bytes", len);
    return (int)n;
}

int nb_port_format(const struct nb_port *p, char *buf, size_t len)
{
    int rc = text_check("name", p->name, sizeof(p->name));
    if (rc == 0)
        rc = socket_check(p->socket);
    if (rc == 0 && p->domain[0])
        rc = text_check("domain", p->domain, sizeof(p->domain));
    if (rc == 0 && p->sponsor[0])
        rc = text_check("sponsor", p->sponsor, sizeof(p->sponsor));
    if (rc == 0 && p->id == UINT64_MAX)
        rc = err_set(EINVAL, "id=%" PRIu64 ": out of range", p->id);
    if (rc == 0)
        rc = qos_check(&p->qos);
    if (rc < 0)
        return rc;
    char mac[MAC_ADDR_TEXT];
    uint8_t back[6];
    size_t n = 0;
    mac_addr_format(p->mac, mac);
    if (mac_addr_parse(mac, back) < 0) /* the reader's own rule: unicast, not all zeros */
        return err_wrap(EINVAL, "port %s", p->name);
    put(buf, len, &n, "%s", p->name);
    if (p->id)
        put(buf, len, &n, " id=%" PRIu64, p->id);
    put(buf, len, &n, " socket=%s mac=%s", p->socket, mac);
    if (p->has_ipv4)
        put(buf, len, &n, " ip=%u.%u.%u.%u", p->ipv4 >> 24, (p->ipv4 >> 16) & 255, (p->ipv4 >> 8) & 255, p->ipv4 & 255);
    if (p->domain[0])
        put(buf, len, &n, " domain=%s", p->domain);
    if (p->sponsor[0])
        put(buf, len, &n, " sponsor=%s", p->sponsor);
    put_qos(&p->qos, buf, len, &n); /* each word after a blank: n is non-zero here */
    if (n >= len)
        return err_set(ENOSPC, "port %s: its line is longer than %zu bytes", p->name, len);
    return (int)n;
}

void nb_label(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (!size)
        return;
    for (; src[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c <= ' ' || c == '=' || c >= 0x7f ? '_' : (char)c;
    }
    dst[i] = 0;
    if (!i && size > 1)
        snprintf(dst, size, "-");
}
