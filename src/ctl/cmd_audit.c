/* `xenctl audit verify FILE [--key FILE]` and `xenctl audit query FILE --sponsor S ...`: they
 * read a flow log (docs/flowlog-format.md) directly, with no daemon, so a log copied off a
 * host can be checked and searched anywhere. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/flowlog.h"
#include "ctl/audit_view.h"
#include "ctl/commands.h"
#include "lib/err.h"
#include "lib/log.h"

int ctl_audit_parse_time(const char *text, uint64_t *ns)
{
    char *end;
    struct tm tm = {0};
    uint64_t secs = 0, frac = 0, scale = 1000000000;
    bool epoch = text[0] >= '0' && text[0] <= '9' && !strchr(text, '-');
    if (epoch) {
        /* Integer and fraction apart: a double would lose nanoseconds. */
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || v > 100000000000ull)
            return err_set(EINVAL, "time '%s': expected seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ", text);
        secs = v;
    } else {
        end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
            return err_set(EINVAL, "time '%s': expected seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ", text);
    }
    if (*end == '.') {
        end++;
        int digits = 0;
        while (*end >= '0' && *end <= '9') {
            if (digits++ < 9) {
                scale /= 10;
                frac += (uint64_t)(*end - '0') * scale;
            }
            end++;
        }
        if (!digits)
            return err_set(EINVAL, "time '%s': digits expected after '.'", text);
    }
    if (epoch) {
        if (*end)
            return err_set(EINVAL, "time '%s': expected seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ", text);
        *ns = secs * 1000000000ull + frac;
        return 0;
    }
    if (strcmp(end, "Z") != 0 && strcmp(end, "") != 0)
        return err_set(EINVAL, "time '%s': only UTC ('Z') is accepted, found '%s'", text, end);
    time_t t = timegm(&tm);
    if (t < 0)
        return err_set(EINVAL, "time '%s': before 1970", text);
    *ns = (uint64_t)t * 1000000000ull + frac;
    return 0;
}

int ctl_audit_parse_addr(const char *text, uint8_t *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *family = 6;
        return 0;
    }
    return err_set(EINVAL, "address '%s': expected an IPv4 or IPv6 address", text);
}

static const char *proto_name(uint8_t p, char *buf, size_t size)
{
    switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmp6";
    default: snprintf(buf, size, "proto%u", p); return buf;
    }
}

static const char *end_name(uint8_t r)
{
    static const char *const names[] = {"idle", "tcp-end", "active", "evicted", "shutdown"};
    return r < FLOW_END__COUNT ? names[r] : "?";
}

static void fmt_flags(uint8_t f, char *buf)
{
    static const char letters[] = "FSRPAU";
    int n = 0;
    for (int i = 0; i < 6; i++)
        if (f & (1 << i))
            buf[n++] = letters[i];
    if (!n)
        buf[n++] = '-';
    buf[n] = 0;
}

static void fmt_time(uint64_t ns, char *buf, size_t size)
{
    time_t s = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03uZ", (unsigned)(ns / 1000000 % 1000));
}

static void fmt_endpoint(const struct flowlog_entry *e, int remote, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    const uint8_t *addr = remote ? e->rec.key.remote : e->rec.key.local;
    inet_ntop(e->rec.key.family == 6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
    bool icmp = e->rec.key.proto == 1 || e->rec.key.proto == 58;
    bool ports = e->rec.key.proto == 6 || e->rec.key.proto == 17;
    if (ports)
        snprintf(buf, size, e->rec.key.family == 6 ? "[%s]:%u" : "%s:%u", a,
                 remote ? e->rec.key.rport : e->rec.key.lport);
    else if (icmp && remote)
        snprintf(buf, size, "%s (type %u code %u)", a, e->rec.key.rport >> 8, e->rec.key.rport & 0xff);
    else
        snprintf(buf, size, "%s", a);
}

void ctl_audit_format_flow(const struct flowlog_entry *e, char *buf, size_t size)
{
    char start[40], src[80], dst[80], pb[16], f0[8], f1[8];
    const struct flow_record *r = &e->rec;
    fmt_time(r->start_ns, start, sizeof(start));
    /* Source is the side that opened the flow. */
    fmt_endpoint(e, r->dir == 1, src, sizeof(src));
    fmt_endpoint(e, r->dir == 0, dst, sizeof(dst));
    fmt_flags(r->tcp_flags[0], f0);
    fmt_flags(r->tcp_flags[1], f1);
    snprintf(buf, size,
             "%s %.3fs %s %s -> %s %s pkts %" PRIu64 "/%" PRIu64 " bytes %" PRIu64 "/%" PRIu64
             "%s%s%s%s domain=%s sponsor=%s port=%u end=%s%s%s",
             start, (double)(r->end_ns - r->start_ns) / 1e9, proto_name(r->key.proto, pb, sizeof(pb)), src, dst,
             r->dir == 0 ? "out" : "in", r->packets[0], r->packets[1], r->bytes[0], r->bytes[1],
             r->key.proto == 6 ? " flags " : "", r->key.proto == 6 ? f0 : "", r->key.proto == 6 ? "/" : "",
             r->key.proto == 6 ? f1 : "", e->domain, e->sponsor, r->key.port, end_name(r->end_reason),
             (r->flags & FLOW_F_DROPPED) ? " dropped" : "", (r->flags & FLOW_F_THROTTLED) ? " throttled" : "");
}

json_t *ctl_audit_flow_json(const struct flowlog_entry *e)
{
    const struct flow_record *r = &e->rec;
    char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], pb[16], f0[8], f1[8];
    int af = r->key.family == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, r->key.local, la, sizeof(la));
    inet_ntop(af, r->key.remote, ra, sizeof(ra));
    fmt_flags(r->tcp_flags[0], f0);
    fmt_flags(r->tcp_flags[1], f1);
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:s, s:s, "
                     "s:s, s:b, s:b, s:i}",
                     "domain", e->domain, "sponsor", e->sponsor, "start_ms", (json_int_t)(r->start_ns / 1000000),
                     "end_ms", (json_int_t)(r->end_ns / 1000000), "direction", r->dir == 0 ? "out" : "in", "protocol",
                     proto_name(r->key.proto, pb, sizeof(pb)), "local", la, "local_port", r->key.lport, "remote", ra,
                     "remote_port", r->key.rport, "end", end_name(r->end_reason), "packets_out",
                     (json_int_t)r->packets[0], "packets_in", (json_int_t)r->packets[1], "bytes_out",
                     (json_int_t)r->bytes[0], "bytes_in", (json_int_t)r->bytes[1], "tcp_flags_out", f0, "tcp_flags_in",
                     f1, "ipv", r->key.family == 6 ? "6" : "4", "dropped", (r->flags & FLOW_F_DROPPED) != 0,
                     "throttled", (r->flags & FLOW_F_THROTTLED) != 0, "port", r->key.port);
}

static int verify(const struct ctl *c, const struct ctl_args *a, const char *file)
{
    const char *key_path = ctl_args_get(a, "key");
    uint8_t key[FLOWLOG_KEY_MAX];
    size_t key_len = 0;
    if (key_path && flowlog_key_load(key_path, key, &key_len) < 0)
        return ctl_usage_error("%s", err_msg());
    struct flowlog_verify_report rep;
    int rc = flowlog_verify(file, key_path ? key : NULL, key_len, &rep);
    memset(key, 0, sizeof(key));
    if (rc < 0) {
        log_error("%s", err_msg());
        return CTL_EXIT_FAILED;
    }
    if (c->json) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "file", file, "blocks",
                              (json_int_t)rep.blocks, "flows", (json_int_t)rep.records, "bytes", (json_int_t)rep.bytes,
                              "sealed", (json_int_t)rep.sealed, "seals_checked", (json_int_t)rep.seals_checked,
                              "unsealed_tail", (json_int_t)rep.unsealed_tail, "ok", 1);
        ctl_print_json(j);
        json_decref(j);
        return CTL_EXIT_OK;
    }
    printf("ok: %s: %" PRIu64 " blocks, %" PRIu64 " flows, %" PRIu64 " bytes (%.1f bytes per flow); hash chain whole\n",
           file, rep.blocks, rep.records, rep.bytes, rep.records ? (double)rep.bytes / (double)rep.records : 0.0);
    if (key_path)
        printf("seals: %" PRIu64 " checked with the key", rep.seals_checked);
    else
        printf("seals: %" PRIu64 " present, not checked (no --key)", rep.sealed);
    if (rep.blocks == 0)
        printf("; the log holds no blocks yet\n");
    else if (rep.unsealed_tail)
        printf("; the last %" PRIu64 " blocks are not sealed yet (hash chain only)\n", rep.unsealed_tail);
    else
        printf("; every block up to the last is covered by a seal\n");
    return CTL_EXIT_OK;
}

struct query_out {
    const struct ctl *c;
    json_t *arr;
};

static int print_flow(void *opaque, const struct flowlog_entry *e)
{
    struct query_out *q = opaque;
    if (q->arr) {
        json_array_append_new(q->arr, ctl_audit_flow_json(e));
        return 0;
    }
    char line[512];
    ctl_audit_format_flow(e, line, sizeof(line));
    puts(line);
    return 0;
}

static int query(const struct ctl *c, const struct ctl_args *a, const char *file)
{
    struct flowlog_query q = {0};
    q.sponsor = ctl_args_get(a, "sponsor");
    q.domain = ctl_args_get(a, "domain");
    const char *since = ctl_args_get(a, "since"), *until = ctl_args_get(a, "until"), *dst = ctl_args_get(a, "dst");
    if (!q.sponsor && !q.domain)
        return ctl_usage_error("audit query needs --sponsor S or --domain D");
    if (!since)
        return ctl_usage_error("audit query needs --since TIME (seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ)");
    if (ctl_audit_parse_time(since, &q.since_ns) < 0 || (until && ctl_audit_parse_time(until, &q.until_ns) < 0))
        return ctl_usage_error("%s", err_msg());
    if (dst) {
        if (ctl_audit_parse_addr(dst, &q.dst_family, q.dst) < 0)
            return ctl_usage_error("%s", err_msg());
        q.has_dst = true;
    }
    if (q.until_ns && q.until_ns < q.since_ns)
        return ctl_usage_error("--until is before --since");
    struct query_out out = {c, c->json ? json_array() : NULL};
    struct flowlog_query_stats st;
    int rc = flowlog_query_run(file, &q, print_flow, &out, &st);
    if (out.arr) {
        ctl_print_json(out.arr);
        json_decref(out.arr);
    }
    if (rc < 0) {
        log_error("%s (the %" PRIu64 " flows above come from the blocks before it)", err_msg(), st.matched);
        return CTL_EXIT_FAILED;
    }
    fprintf(stderr,
            "%" PRIu64 " flows; %" PRIu64 " of %" PRIu64 " blocks decompressed (the index ruled out the rest)\n",
            st.matched, st.blocks_decoded, st.blocks);
    return CTL_EXIT_OK;
}

int ctl_cmd_audit(const struct ctl *c, const struct ctl_args *a)
{
    const char *sub = a->pos[0], *file = a->pos[1];
    if (strcmp(sub, "verify") == 0) {
        if (ctl_args_get(a, "sponsor") || ctl_args_get(a, "domain") || ctl_args_get(a, "since") ||
            ctl_args_get(a, "until") || ctl_args_get(a, "dst"))
            return ctl_usage_error("audit verify takes only --key");
        return verify(c, a, file);
    }
    if (strcmp(sub, "query") == 0) {
        if (ctl_args_get(a, "key"))
            return ctl_usage_error("audit query does not take --key (use audit verify)");
        return query(c, a, file);
    }
    return ctl_usage_error("audit: unknown action '%s' (verify or query)", sub);
}
