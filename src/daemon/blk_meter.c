/* Reading xeno-blkback's stats page (blk_meter.h). */
#include "daemon/blk_meter.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header a refresh reads first: magic .. updated_ns. */
struct page_head {
    uint32_t magic, version, seq, pid;
    uint64_t started_ns, updated_ns;
};
_Static_assert(offsetof(struct bb_stats_page, seq) == offsetof(struct page_head, seq) &&
                   offsetof(struct bb_stats_page, updated_ns) == offsetof(struct page_head, updated_ns),
               "the head is the page's first fields");

int blk_meter_disk_name(char out[BLK_METER_NAME_MAX], const char *tag, const char *target)
{
    int len = snprintf(out, BLK_METER_NAME_MAX, "%s-%s", tag, target);
    return len > 0 && len < BLK_METER_NAME_MAX ? 0 : -ENAMETOOLONG;
}

void blk_meter_init(struct blk_meter *m, const char *path)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->path, sizeof(m->path), "%s", path);
    m->fd = -1;
}

static void drop(struct blk_meter *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    m->valid = 0;
}

void blk_meter_fini(struct blk_meter *m)
{
    drop(m);
}

void blk_meter_sanitize(struct bb_stats_page *pg)
{
    if (pg->ndisks > BB_STATS_MAX_DISKS)
        pg->ndisks = BB_STATS_MAX_DISKS;
    for (unsigned i = 0; i < BB_STATS_MAX_DISKS; i++) {
        struct bb_stats_disk *d = &pg->disks[i];
        d->name[sizeof(d->name) - 1] = 0;
        d->group[sizeof(d->group) - 1] = 0;
        d->sponsor[sizeof(d->sponsor) - 1] = 0;
    }
}

/* The page's file, opened read-only (never through a link); reopened when the backend
 * replaced it (the old file has no name left). */
static int open_page(struct blk_meter *m)
{
    struct stat st;
    if (m->fd >= 0 && (fstat(m->fd, &st) < 0 || st.st_nlink == 0))
        drop(m);
    if (m->fd >= 0)
        return 0;
    m->fd = open(m->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (m->fd < 0)
        return -errno;
    if (fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        drop(m);
        return -EINVAL;
    }
    m->valid = 0;
    return 0;
}

int blk_meter_refresh(struct blk_meter *m)
{
    int r = open_page(m);
    if (r < 0)
        return r;
    struct page_head h;
    if (pread(m->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        drop(m);
        return -EINVAL;
    }
    if (m->valid && !(h.seq & 1) && h.seq == m->seq && h.started_ns == m->started_ns && h.updated_ns == m->updated_ns)
        return 0; /* nothing moved: the copy holds */
    r = bb_stats_read_fd(m->fd, &m->page);
    m->copies++;
    if (r < 0) {
        m->valid = 0;
        return r;
    }
    blk_meter_sanitize(&m->page);
    m->seq = m->page.seq;
    m->started_ns = m->page.started_ns;
    m->updated_ns = m->page.updated_ns;
    m->valid = 1;
    return 1;
}

const struct bb_stats_disk *blk_meter_find(const struct blk_meter *m, const char *name)
{
    if (!m->valid)
        return NULL;
    for (unsigned i = 0; i < m->page.ndisks; i++)
        if (strcmp(m->page.disks[i].name, name) == 0)
            return &m->page.disks[i];
    return NULL;
}

uint64_t blk_meter_ops(const struct bb_stats_disk *d)
{
    return d->reads + d->writes + d->flushes + d->discards + d->write_zeroes;
}

void blk_meter_reading(const struct bb_stats_disk *d, uint64_t time_ns, struct meter_reading *out)
{
    memset(out, 0, sizeof(*out));
    out->instance = d->added_ns;
    out->start_ns = d->added_ns;
    out->time_ns = time_ns;
    out->counter[0] = blk_meter_ops(d);
    out->counter[1] = d->bytes_read + d->bytes_written;
    out->gauge[0] = d->size_bytes;
    out->gauge[1] = d->reservation;
}

uint64_t blk_meter_latency_ns(const uint64_t latency[BB_STATS_LAT_BUCKETS], unsigned permille)
{
    unsigned __int128 total = 0;
    for (unsigned i = 0; i < BB_STATS_LAT_BUCKETS; i++)
        total += latency[i];
    if (!total)
        return 0;
    /* The rank of the request at that fraction (1-based, rounded up). */
    unsigned __int128 rank = (total * permille + 999) / 1000, seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < BB_STATS_LAT_BUCKETS; i++) {
        seen += latency[i];
        if (seen >= rank)
            return i + 1 < BB_STATS_LAT_BUCKETS ? BB_STATS_LAT_BASE_NS << i : UINT64_MAX;
    }
    return UINT64_MAX;
}
