#include "audit/ipfix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"

struct ipfix_exporter {
    int fd;
    uint32_t domain_id;
    uint32_t seq; /* data records sent before the current message */
    uint64_t sent;
    uint8_t msg[IPFIX_MAX_MESSAGE];
    size_t len;       /* bytes in msg */
    size_t set_off;   /* header of the open data set, 0 if none */
    uint16_t set_id;  /* its template */
    uint32_t pending; /* data records in msg */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

struct field {
    uint16_t id, len;
    uint32_t pen;
};

#define VARLEN 0xffff
static const struct field fields_tail[] = {
    {7, 2, 0},
    {11, 2, 0},
    {4, 1, 0},
    {6, 1, 0},
    {1, 8, 0},
    {2, 8, 0},
    {152, 8, 0},
    {153, 8, 0},
    {10, 4, 0},
    {61, 1, 0},
    {IPFIX_IE_DOMAIN, VARLEN, IPFIX_PEN},
    {IPFIX_IE_SPONSOR, VARLEN, IPFIX_PEN},
};
#define NTAIL (sizeof(fields_tail) / sizeof(fields_tail[0]))

static size_t put_template(uint8_t *p, uint16_t id, uint16_t src_ie, uint16_t dst_ie, uint16_t alen)
{
    size_t n = 0;
    put16(p + n, id);
    put16(p + n + 2, (uint16_t)(2 + NTAIL));
    n += 4;
    put16(p + n, src_ie);
    put16(p + n + 2, alen);
    put16(p + n + 4, dst_ie);
    put16(p + n + 6, alen);
    n += 8;
    for (size_t i = 0; i < NTAIL; i++) {
        put16(p + n, (uint16_t)(fields_tail[i].id | (fields_tail[i].pen ? 0x8000 : 0)));
        put16(p + n + 2, fields_tail[i].len);
        n += 4;
        if (fields_tail[i].pen) {
            put32(p + n, fields_tail[i].pen);
            n += 4;
        }
    }
    return n;
}

static void start_message(struct ipfix_exporter *x)
{
    /* Message header (filled at send), then the template set. */
    size_t n = 16;
    size_t set = n;
    n += 4;
    n += put_template(x->msg + n, IPFIX_TEMPLATE_V4, 8, 12, 4);
    n += put_template(x->msg + n, IPFIX_TEMPLATE_V6, 27, 28, 16);
    put16(x->msg + set, 2);
    put16(x->msg + set + 2, (uint16_t)(n - set));
    x->len = n;
    x->set_off = 0;
    x->pending = 0;
}

int ipfix_open(const char *collector, uint32_t observation_domain, struct ipfix_exporter **out)
{
    *out = NULL;
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    char host[64];
    unsigned port;
    const char *colon = strrchr(collector, ':');
    if (!colon || (size_t)(colon - collector) >= sizeof(host) || sscanf(colon + 1, "%u", &port) != 1 || port == 0 ||
        port > 65535)
        return err_set(EINVAL, "IPFIX collector '%s': expected HOST:PORT", collector);
    memcpy(host, collector, (size_t)(colon - collector));
    host[colon - collector] = 0;
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return err_set(EINVAL, "IPFIX collector '%s': bad [IPv6] address", collector);
        host[hl - 1] = 0;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return err_set(EINVAL, "IPFIX collector '%s': bad IPv6 address", collector);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return err_set(EINVAL, "IPFIX collector '%s': bad IPv4 address (numeric only)", collector);
        sl = sizeof(*s4);
    }
    struct ipfix_exporter *x = calloc(1, sizeof(*x));
    if (!x)
        return err_set(ENOMEM, "IPFIX exporter: out of memory");
    x->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (x->fd < 0 || connect(x->fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        if (x->fd >= 0)
            close(x->fd);
        free(x);
        return err_set(e, "IPFIX collector %s: %s", collector, strerror(e));
    }
    x->domain_id = observation_domain;
    start_message(x);
    *out = x;
    return 0;
}

static void close_set(struct ipfix_exporter *x)
{
    if (x->set_off) {
        /* Padding is optional (RFC 7011 3.3.1); none is used. */
        put16(x->msg + x->set_off + 2, (uint16_t)(x->len - x->set_off));
        x->set_off = 0;
    }
}

int ipfix_flush(struct ipfix_exporter *x, uint64_t now_ns)
{
    if (x->pending == 0)
        return 0;
    close_set(x);
    put16(x->msg, 10);
    put16(x->msg + 2, (uint16_t)x->len);
    put32(x->msg + 4, (uint32_t)(now_ns / 1000000000ull));
    put32(x->msg + 8, x->seq);
    put32(x->msg + 12, x->domain_id);
    ssize_t w = send(x->fd, x->msg, x->len, 0);
    uint32_t n = x->pending;
    x->seq += n;
    start_message(x);
    /* A collector that is down (ECONNREFUSED) or a full socket buffer loses this message;
     * the flow log keeps the records, so it is reported and export goes on. */
    if (w < 0)
        return err_set(errno, "IPFIX: sending %u records: %s", n, strerror(errno));
    x->sent += n;
    return 0;
}

static size_t put_string(uint8_t *p, const char *s)
{
    size_t l = strlen(s);
    if (l > 255)
        l = 255;
    size_t n = 0;
    if (l < 255)
        p[n++] = (uint8_t)l;
    else {
        p[n++] = 255;
        put16(p + n, (uint16_t)l);
        n += 2;
    }
    memcpy(p + n, s, l);
    return n + l;
}

static int add_one(struct ipfix_exporter *x, const struct flow_record *r, int d, const char *domain,
                   const char *sponsor, uint64_t now_ns)
{
    bool v6 = r->key.family == 6;
    size_t alen = v6 ? 16 : 4;
    size_t need = 2 * alen + 43 + 3 + strlen(domain) + 3 + strlen(sponsor);
    uint16_t tid = v6 ? IPFIX_TEMPLATE_V6 : IPFIX_TEMPLATE_V4;
    if (x->len + need + 4 > IPFIX_MAX_MESSAGE || (x->set_off && x->set_id != tid)) {
        if (x->len + need + 4 > IPFIX_MAX_MESSAGE) {
            int rc = ipfix_flush(x, now_ns);
            if (rc < 0)
                return rc;
        } else
            close_set(x);
    }
    if (!x->set_off) {
        x->set_off = x->len;
        x->set_id = tid;
        put16(x->msg + x->len, tid);
        x->len += 4;
    }
    uint8_t *p = x->msg + x->len;
    size_t n = 0;
    const uint8_t *src = d == 0 ? r->key.local : r->key.remote, *dst = d == 0 ? r->key.remote : r->key.local;
    uint16_t sport = d == 0 ? r->key.lport : r->key.rport, dport = d == 0 ? r->key.rport : r->key.lport;
    bool icmp = r->key.proto == 1 || r->key.proto == 58;
    if (icmp) {
        /* nfdump reads ICMP type and code from the destination port. */
        sport = 0;
        dport = r->key.rport;
    }
    memcpy(p + n, src, alen);
    n += alen;
    memcpy(p + n, dst, alen);
    n += alen;
    put16(p + n, sport);
    put16(p + n + 2, dport);
    p[n + 4] = r->key.proto;
    p[n + 5] = r->tcp_flags[d];
    n += 6;
    put64(p + n, r->bytes[d]);
    put64(p + n + 8, r->packets[d]);
    put64(p + n + 16, r->start_ns / 1000000);
    put64(p + n + 24, r->end_ns / 1000000);
    put32(p + n + 32, r->key.port);
    p[n + 36] = d == 0 ? 1 : 0;
    n += 37;
    n += put_string(p + n, domain);
    n += put_string(p + n, sponsor);
    x->len += n;
    x->pending++;
    return 0;
}

int ipfix_add(struct ipfix_exporter *x, const struct flow_record *r, const char *domain, const char *sponsor,
              uint64_t now_ns)
{
    for (int d = 0; d < 2; d++) {
        if (r->packets[d] == 0)
            continue;
        int rc = add_one(x, r, d, domain, sponsor, now_ns);
        if (rc < 0)
            return rc;
    }
    return 0;
}

uint64_t ipfix_records_sent(const struct ipfix_exporter *x)
{
    return x->sent;
}

void ipfix_close(struct ipfix_exporter *x)
{
    if (!x)
        return;
    close(x->fd);
    free(x);
}
