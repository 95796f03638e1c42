#include "blk/iosched_admit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blk/iosched.h"
#include "lib/err.h"
#include "lib/parse.h"

int blk_capacity_derive(uint64_t iops, uint64_t bytes_per_sec, uint32_t headroom_ppm, struct blk_capacity *out)
{
    if (!iops || iops > BLK_CAPACITY_MAX || !bytes_per_sec || bytes_per_sec > BLK_CAPACITY_MAX)
        return err_set(EINVAL, "disk capacity: iops %llu and bytes_per_sec %llu must be within 1..%llu",
                       (unsigned long long)iops, (unsigned long long)bytes_per_sec,
                       (unsigned long long)BLK_CAPACITY_MAX);
    if (headroom_ppm > BLK_HEADROOM_MAX_PPM)
        return err_set(EINVAL, "disk capacity: headroom %u ppm is above %u", headroom_ppm, BLK_HEADROOM_MAX_PPM);
    /* t(S) = a + b S through the two measurements */
    double s1 = BLK_CALIBRATE_SMALL_BYTES, s2 = BLK_CALIBRATE_LARGE_BYTES;
    double t1 = 1.0 / (double)iops, t2 = s2 / (double)bytes_per_sec;
    double b = (t2 - t1) / (s2 - s1), a = t1 - b * s1;
    double ref = b <= 0 ? BLK_IOSCHED_REF_BYTES_MAX : a <= 0 ? BLK_IOSCHED_REF_BYTES_MIN : a / b;
    if (ref < BLK_IOSCHED_REF_BYTES_MIN)
        ref = BLK_IOSCHED_REF_BYTES_MIN;
    if (ref > BLK_IOSCHED_REF_BYTES_MAX)
        ref = BLK_IOSCHED_REF_BYTES_MAX;
    memset(out, 0, sizeof(*out));
    out->iops = iops;
    out->bytes_per_sec = bytes_per_sec;
    out->headroom_ppm = headroom_ppm;
    out->ref_bytes = (uint32_t)ref;
    /* the small requests the device was measured with, in units */
    out->units_per_sec = iops + iops * BLK_CALIBRATE_SMALL_BYTES / out->ref_bytes;
    return 0;
}

uint64_t blk_capacity_reservable(const struct blk_capacity *c)
{
    uint32_t head = c->headroom_ppm < 1000000u ? c->headroom_ppm : 1000000u;
    return c->units_per_sec / 1000000u * (1000000u - head) + c->units_per_sec % 1000000u * (1000000u - head) / 1000000u;
}

int blk_capacity_format(const struct blk_capacity *c, char *buf, size_t size)
{
    int n = snprintf(buf, size, "iops=%llu bytes_per_sec=%llu headroom_ppm=%u\n", (unsigned long long)c->iops,
                     (unsigned long long)c->bytes_per_sec, c->headroom_ppm);
    if (n < 0 || (size_t)n >= size)
        return err_set(ENOSPC, "disk capacity: record longer than %zu bytes", size);
    return n;
}

int blk_capacity_parse(const char *line, struct blk_capacity *out)
{
    static const char *const key[3] = {"iops", "bytes_per_sec", "headroom_ppm"};
    static const uint64_t most[3] = {BLK_CAPACITY_MAX, BLK_CAPACITY_MAX, BLK_HEADROOM_MAX_PPM};
    uint64_t val[3];
    bool seen[3] = {false, false, false};
    size_t len = strnlen(line, BLK_CAPACITY_LINE_MAX + 1);
    if (len > BLK_CAPACITY_LINE_MAX)
        return err_set(EINVAL, "disk capacity: record longer than %d bytes", BLK_CAPACITY_LINE_MAX);
    char copy[BLK_CAPACITY_LINE_MAX + 1];
    memcpy(copy, line, len + 1);
    if (len && copy[len - 1] == '\n')
        copy[--len] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        int k = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < 3; i++)
                if (!strcmp(tok, key[i]))
                    k = i;
        }
        if (k < 0)
            return err_set(EINVAL, "disk capacity: unknown field in the record (want iops=, bytes_per_sec=, "
                                   "headroom_ppm=)");
        if (seen[k])
            return err_set(EINVAL, "disk capacity: %s given twice", key[k]);
        int e = parse_u64_range(eq + 1, 0, most[k], &val[k]);
        if (e)
            return err_wrap(EINVAL, "disk capacity: %s", key[k]);
        seen[k] = true;
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return err_set(EINVAL, "disk capacity: %s missing from the record", key[i]);
    return blk_capacity_derive(val[0], val[1], (uint32_t)val[2], out);
}

/* The disk's own IOPS limit in units per second for the smallest requests (each costs at
 * least one unit): 0 when unlimited. */
static uint64_t iops_ceiling(const struct blk_iotune *l)
{
    if (!l)
        return 0;
    if (l->total_iops.avg)
        return l->total_iops.avg;
    if (l->read_iops.avg && l->write_iops.avg)
        return l->read_iops.avg + l->write_iops.avg;
    return 0; /* one direction limited, the other not: reads or writes alone can hold it */
}

int blk_admit(const struct blk_capacity *c, uint64_t held, const char *holders, const char *name, uint64_t want,
              const struct blk_iotune *limits, char *why, size_t size)
{
    if (want == 0)
        return 0;
    if (!c || !c->units_per_sec) {
        snprintf(why, size,
                 "disk %s asks for a reservation of %llu units/s, but this host's disk capacity was never measured; "
                 "run xeno-blkback --calibrate",
                 name, (unsigned long long)want);
        return -EINVAL;
    }
    uint64_t cap = blk_capacity_reservable(c), ceiling = iops_ceiling(limits);
    uint64_t free_units = held < cap ? cap - held : 0;
    char host[200];
    snprintf(host, sizeof(host),
             "%llu units/s (%llu measured, less %u.%u%% headroom; a %u-byte request costs 1 + %u / %u units)",
             (unsigned long long)cap, (unsigned long long)c->units_per_sec, c->headroom_ppm / 10000,
             c->headroom_ppm / 1000 % 10, BLK_CALIBRATE_SMALL_BYTES, BLK_CALIBRATE_SMALL_BYTES, c->ref_bytes);
    if (ceiling && want > ceiling) {
        snprintf(why, size,
                 "disk %s asks for a reservation of %llu units/s, above its own IOPS limit of %llu: small requests "
                 "could never get it; give at most %llu or raise the limit",
                 name, (unsigned long long)want, (unsigned long long)ceiling, (unsigned long long)ceiling);
        return -EINVAL;
    }
    if (want > cap) {
        snprintf(why, size, "disk %s asks for a reservation of %llu units/s, but this host can reserve at most %s",
                 name, (unsigned long long)want, host);
        return -EINVAL;
    }
    if (want > free_units) {
        snprintf(why, size,
                 "disk %s asks for a reservation of %llu units/s, but only %llu of this host's %s are free: disks "
                 "hold %llu (%s); give %s at most %llu, or stop a disk that holds a reservation",
                 name, (unsigned long long)want, (unsigned long long)free_units, host, (unsigned long long)held,
                 holders && *holders ? holders : "-", name, (unsigned long long)free_units);
        return -ENOSPC;
    }
    return 0;
}

int blk_admit_in_group(const char *group, const struct blk_iotune *group_limits, uint64_t held, const char *holders,
                       const char *name, uint64_t want, char *why, size_t size)
{
    uint64_t ceiling = iops_ceiling(group_limits);
    if (want == 0 || ceiling == 0)
        return 0;
    uint64_t free_units = held < ceiling ? ceiling - held : 0;
    if (want > free_units) {
        snprintf(why, size,
                 "disk %s asks for a reservation of %llu units/s, but its group %s is limited to %llu IOPS and its "
                 "other disks reserve %llu (%s): small requests could never get it; give %s at most %llu or raise "
                 "the group's limit",
                 name, (unsigned long long)want, group, (unsigned long long)ceiling, (unsigned long long)held,
                 holders && *holders ? holders : "-", name, (unsigned long long)free_units);
        return -ENOSPC;
    }
    return 0;
}
