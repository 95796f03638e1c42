#include "blk/iosched_limit.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "lib/err.h"

/* Dimension d of struct blk_limits: IOPS 0..2, bytes 3..5; total, read, write in each. */
static const char *const dim_name[BLK_LIMIT_DIMS] = {"total_iops_sec",  "read_iops_sec",  "write_iops_sec",
                                                     "total_bytes_sec", "read_bytes_sec", "write_bytes_sec"};
/* The dimensions a read (total and read) or a write (total and write) is charged to, avg and peak. */
static const uint32_t dir_mask[2] = {0x1Bu | 0x1Bu << 8, 0x2Du | 0x2Du << 8};

static const size_t dim_offset[BLK_LIMIT_DIMS] = {
    offsetof(struct blk_iotune, total_iops), offsetof(struct blk_iotune, read_iops),
    offsetof(struct blk_iotune, write_iops), offsetof(struct blk_iotune, total_bytes),
    offsetof(struct blk_iotune, read_bytes), offsetof(struct blk_iotune, write_bytes)};

static const struct blk_rate *rate_of(const struct blk_iotune *t, int d)
{
    return (const struct blk_rate *)((const char *)t + dim_offset[d]);
}

int blk_iotune_check(const struct blk_iotune *t, const char *what)
{
    for (int d = 0; d < BLK_LIMIT_DIMS; d++) {
        const struct blk_rate *r = rate_of(t, d);
        if (r->avg > BLK_LIMIT_MAX_RATE || r->max > BLK_LIMIT_MAX_RATE)
            return err_set(EINVAL, "%s: %s above %llu", what, dim_name[d], (unsigned long long)BLK_LIMIT_MAX_RATE);
        if (r->avg == 0 && (r->max || r->max_length_s))
            return err_set(EINVAL, "%s: %s_max needs %s", what, dim_name[d], dim_name[d]);
        if (r->max && r->max < r->avg)
            return err_set(EINVAL, "%s: %s_max %llu is below %s %llu", what, dim_name[d], (unsigned long long)r->max,
                           dim_name[d], (unsigned long long)r->avg);
        if (r->max_length_s && !r->max)
            return err_set(EINVAL, "%s: %s_max_length needs %s_max", what, dim_name[d], dim_name[d]);
        if (r->max_length_s > BLK_LIMIT_MAX_LENGTH_S)
            return err_set(EINVAL, "%s: %s_max_length %u s is above %u s", what, dim_name[d], r->max_length_s,
                           BLK_LIMIT_MAX_LENGTH_S);
    }
    for (int d = 0; d < BLK_LIMIT_DIMS; d += 3)
        if (rate_of(t, d)->avg && (rate_of(t, d + 1)->avg || rate_of(t, d + 2)->avg))
            return err_set(EINVAL, "%s: %s cannot be combined with %s or %s (as in libvirt)", what, dim_name[d],
                           dim_name[d + 1], dim_name[d + 2]);
    if (t->size_iops > BLK_IO_MAX_BYTES)
        return err_set(EINVAL, "%s: size_iops_sec %llu is above %u bytes", what, (unsigned long long)t->size_iops,
                       BLK_IO_MAX_BYTES);
    return 0;
}

/* A bucket's rate changes from old to new: its debt (tat - now) is kept as an amount, so a
 * tighter rate takes longer to pay it and a looser one less, and it is never more than the
 * new tolerance allows on top of one BLK_IO_MAX_BYTES request. */
static void bucket_set(struct blk_bucket *b, uint64_t rate, uint64_t tolerance_ns, uint64_t now)
{
    if (rate == 0) {
        memset(b, 0, sizeof(*b));
        return;
    }
    if (b->rate && b->tat > now) {
        double debt_ns = (double)(b->tat - now) * (double)b->rate / (double)rate;
        double most = (double)tolerance_ns + (double)BLK_IO_MAX_BYTES * 1e9 / (double)rate;
        b->tat = now + (uint64_t)(debt_ns < most ? debt_ns : most);
    } else if (!b->rate) {
        b->tat = 0; /* a new limit starts with its whole burst */
    }
    b->rate = rate;
    b->tolerance_ns = tolerance_ns;
    b->ns_mul = ((1000000000ull << 32) + rate - 1) / rate; /* rate >= 1: 1e9 x 2^32 < 2^64 */
}

/* hot[k] stands for bit b of active: k counts the set bits below b. */
static struct blk_bucket *bucket_of_bit(struct blk_limits *l, int bit)
{
    return bit < 8 ? &l->avg[bit] : &l->peak[bit - 8];
}

/* The charged clocks back into the full buckets (before they change). */
static void hot_store(struct blk_limits *l)
{
    uint32_t m = l->active;
    for (int k = 0; m; k++) {
        int bit = __builtin_ctz(m);
        m &= m - 1;
        bucket_of_bit(l, bit)->tat = l->hot[k].tat;
    }
}

/* The set buckets packed into hot[], with the masks a request's direction and kind read. */
static void hot_load(struct blk_limits *l)
{
    uint32_t m = l->active;
    l->dir_k[0] = l->dir_k[1] = l->bytes_k = 0;
    memset(l->hot, 0, sizeof(l->hot));
    for (int k = 0; m; k++) {
        int bit = __builtin_ctz(m);
        m &= m - 1;
        const struct blk_bucket *b = bucket_of_bit(l, bit);
        l->hot[k] = (struct blk_hot_bucket){.tat = b->tat,
                                            .tolerance_ns = b->tolerance_ns,
                                            .ns_mul = b->ns_mul,
                                            .one_ns = (uint64_t)(((unsigned __int128)b->ns_mul + 0xffffffffu) >> 32)};
        for (int dir = 0; dir < 2; dir++)
            if (dir_mask[dir] >> bit & 1)
                l->dir_k[dir] |= (uint16_t)(1u << k);
        if ((bit & 7) >= 3)
            l->bytes_k |= (uint16_t)(1u << k);
    }
}

int blk_limits_set(struct blk_limits *l, const struct blk_iotune *t, uint64_t now_ns, const char *what)
{
    int e = blk_iotune_check(t, what);
    if (e)
        return e;
    hot_store(l);
    l->active = 0;
    for (int d = 0; d < BLK_LIMIT_DIMS; d++) {
        const struct blk_rate *r = rate_of(t, d);
        uint64_t tol = BLK_LIMIT_SLACK_NS;
        if (r->max) {
            uint32_t len = r->max_length_s ? r->max_length_s : 1;
            double burst_ns = (double)r->max * len / (double)r->avg * 1e9;
            tol = burst_ns > (double)(1ull << 62) ? 1ull << 62 : (uint64_t)burst_ns;
        }
        bucket_set(&l->avg[d], r->avg, tol, now_ns);
        bucket_set(&l->peak[d], r->max, BLK_LIMIT_PEAK_SLACK_NS, now_ns);
        l->active |= (r->avg ? 1u << d : 0) | (r->max ? 1u << (8 + d) : 0);
        l->len_s[d] = r->max_length_s;
    }
    l->size_iops = (uint32_t)t->size_iops; /* checked: <= BLK_IO_MAX_BYTES */
    hot_load(l);
    return 0;
}

void blk_limits_get(const struct blk_limits *l, struct blk_iotune *out)
{
    memset(out, 0, sizeof(*out));
    for (int d = 0; d < BLK_LIMIT_DIMS; d++) {
        struct blk_rate *r = (struct blk_rate *)((char *)out + dim_offset[d]);
        r->avg = l->avg[d].rate;
        r->max = l->peak[d].rate;
        r->max_length_s = l->len_s[d];
    }
    out->size_iops = l->size_iops;
}

void blk_limits_charge(struct blk_limits *l, enum blk_io_dir dir, uint32_t bytes, uint64_t now_ns)
{
    (void)blk_limits_charge_ready(l, dir, bytes, now_ns);
}
