/* The QoS words of a disk spec (blk_qos.h). */
#include "blk/blk_qos.h"

#include "blk/iosched.h"
#include "lib/err.h"
#include "lib/parse.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *key;
    size_t off; /* of the struct blk_rate in struct blk_iotune */
} rates[] = {
    {"total_bytes_sec", offsetof(struct blk_iotune, total_bytes)},
    {"read_bytes_sec", offsetof(struct blk_iotune, read_bytes)},
    {"write_bytes_sec", offsetof(struct blk_iotune, write_bytes)},
    {"total_iops_sec", offsetof(struct blk_iotune, total_iops)},
    {"read_iops_sec", offsetof(struct blk_iotune, read_iops)},
    {"write_iops_sec", offsetof(struct blk_iotune, write_iops)},
};

static bool qos_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > BLK_QOS_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

static int number(const char *key, const char *v, uint64_t max, uint64_t *out)
{
    if (parse_u64_range(v, 0, max, out) < 0)
        return err_set(EINVAL, "--disk: %s '%.24s' (a decimal number 0..%llu)", key, v, (unsigned long long)max);
    return 0;
}

/* total_iops_sec[_max[_length]] and the others into t. 1 when key is none of them. */
static int rate_word(struct blk_iotune *t, const char *key, const char *v)
{
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        size_t n = strlen(rates[i].key);
        if (strncmp(key, rates[i].key, n))
            continue;
        struct blk_rate *r = (struct blk_rate *)((char *)t + rates[i].off);
        const char *suffix = key + n;
        uint64_t x;
        if (!*suffix) {
            int e = number(key, v, BLK_LIMIT_MAX_RATE, &x);
            r->avg = x;
            return e;
        }
        if (!strcmp(suffix, "_max")) {
            int e = number(key, v, BLK_LIMIT_MAX_RATE, &x);
            r->max = x;
            return e;
        }
        if (!strcmp(suffix, "_max_length")) {
            int e = number(key, v, BLK_LIMIT_MAX_LENGTH_S, &x);
            r->max_length_s = (uint32_t)x;
            return e;
        }
    }
    return 1;
}

static int name_word(char *dst, const char *key, const char *v)
{
    if (!qos_name_ok(v))
        return err_set(EINVAL, "--disk: %s '%.40s' (1-%d of A-Z a-z 0-9 _ - .)", key, v, BLK_QOS_NAME_MAX);
    snprintf(dst, BLK_QOS_NAME_MAX + 1, "%s", v);
    return 0;
}

int blk_qos_word(struct blk_qos *q, const char *key, const char *v)
{
    uint64_t x;
    int e;
    if (!strcmp(key, "group"))
        return name_word(q->group, key, v);
    if (!strcmp(key, "sponsor"))
        return name_word(q->sponsor, key, v);
    if (!strcmp(key, "weight")) {
        if (parse_u64_range(v, 1, BLK_IOSCHED_WEIGHT_MAX, &x) < 0)
            return err_set(EINVAL, "--disk: weight '%.24s' (1..%u)", v, BLK_IOSCHED_WEIGHT_MAX);
        q->weight = (uint32_t)x;
        return 0;
    }
    if (!strcmp(key, "reservation")) {
        e = number(key, v, BLK_IOSCHED_MAX_RESERVE, &x);
        q->reservation = x;
        return e;
    }
    if (!strcmp(key, "size_iops_sec")) {
        e = number(key, v, BLK_IO_MAX_BYTES, &x);
        q->iotune.size_iops = x;
        return e;
    }
    if (!strcmp(key, "sponsor_total_iops_sec")) {
        e = number(key, v, BLK_LIMIT_MAX_RATE, &x);
        q->sponsor_iotune.total_iops.avg = x;
        return e;
    }
    if (!strcmp(key, "sponsor_total_bytes_sec")) {
        e = number(key, v, BLK_LIMIT_MAX_RATE, &x);
        q->sponsor_iotune.total_bytes.avg = x;
        return e;
    }
    return rate_word(&q->iotune, key, v);
}

int blk_qos_check(const struct blk_qos *q, const char *what)
{
    int e = blk_iotune_check(&q->iotune, what);
    if (e)
        return e;
    char sw[64];
    snprintf(sw, sizeof(sw), "%s: sponsor %s", what, q->sponsor[0] ? q->sponsor : "(none)");
    if ((e = blk_iotune_check(&q->sponsor_iotune, sw)))
        return e;
    struct blk_iotune none = {0};
    if (!q->sponsor[0] && !blk_iotune_equal(&q->sponsor_iotune, &none))
        return err_set(EINVAL, "%s: sponsor_total_*_sec needs sponsor=NAME", what);
    return 0;
}

bool blk_iotune_equal(const struct blk_iotune *a, const struct blk_iotune *b)
{
    const struct blk_rate *ra[] = {&a->total_iops,  &a->read_iops,  &a->write_iops,
                                   &a->total_bytes, &a->read_bytes, &a->write_bytes};
    const struct blk_rate *rb[] = {&b->total_iops,  &b->read_iops,  &b->write_iops,
                                   &b->total_bytes, &b->read_bytes, &b->write_bytes};
    for (int i = 0; i < 6; i++)
        if (ra[i]->avg != rb[i]->avg || ra[i]->max != rb[i]->max || ra[i]->max_length_s != rb[i]->max_length_s)
            return false;
    return a->size_iops == b->size_iops;
}

int blk_qos_format(const struct blk_qos *q, char *buf, size_t size)
{
    size_t len = 0;
    int n = 0;
    buf[0] = 0;
#define WORD(...)                                                                                                      \
    do {                                                                                                               \
        n = snprintf(buf + len, size - len, "%s", len ? " " : "");                                                     \
        if (n >= 0 && (size_t)n < size - len)                                                                          \
            len += (size_t)n, n = snprintf(buf + len, size - len, __VA_ARGS__);                                        \
        if (n < 0 || (size_t)n >= size - len)                                                                          \
            return -ENAMETOOLONG;                                                                                      \
        len += (size_t)n;                                                                                              \
    } while (0)
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        const struct blk_rate *r = (const struct blk_rate *)((const char *)&q->iotune + rates[i].off);
        if (r->avg)
            WORD("%s=%llu", rates[i].key, (unsigned long long)r->avg);
        if (r->max)
            WORD("%s_max=%llu", rates[i].key, (unsigned long long)r->max);
        if (r->max_length_s)
            WORD("%s_max_length=%u", rates[i].key, r->max_length_s);
    }
    if (q->iotune.size_iops)
        WORD("size_iops_sec=%llu", (unsigned long long)q->iotune.size_iops);
    if (q->group[0])
        WORD("group=%s", q->group);
    if (q->sponsor[0])
        WORD("sponsor=%s", q->sponsor);
    if (q->sponsor_iotune.total_iops.avg)
        WORD("sponsor_total_iops_sec=%llu", (unsigned long long)q->sponsor_iotune.total_iops.avg);
    if (q->sponsor_iotune.total_bytes.avg)
        WORD("sponsor_total_bytes_sec=%llu", (unsigned long long)q->sponsor_iotune.total_bytes.avg);
    if (q->weight)
        WORD("weight=%u", q->weight);
    if (q->reservation)
        WORD("reservation=%llu", (unsigned long long)q->reservation);
#undef WORD
    return 0;
}
