/* The backend's state directory (blk_state.h). */
#include "blk/blk_state.h"

#include "blk/image.h"
#include "lib/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(BB_STATS_LAT_BUCKETS == BLK_LAT_BUCKETS && BB_STATS_LAT_BASE_NS == BLK_LAT_BASE_NS,
               "the page's histogram is the backend's");
_Static_assert(BB_STATS_MAX_DISKS >= BLK_MAX_DISKS, "every disk has a place on the page");

int blk_state_open(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "state directory %s: %s", path, strerror(errno));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "state directory %s: %s", path, strerror(errno));
    return fd;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int blk_state_map_stats(int dirfd, struct bb_stats_page **out)
{
    size_t len = (sizeof(struct bb_stats_page) + 4095) & ~(size_t)4095;
    int fd = openat(dirfd, "stats", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "stats: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || ftruncate(fd, (off_t)len) < 0) {
        int e = errno ? errno : EINVAL;
        close(fd);
        return err_set(e, "stats: not a regular file, or ftruncate: %s", strerror(e));
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return err_set(errno, "stats: mmap: %s", strerror(errno));
    struct bb_stats_page *pg = p;
    pg->seq = 0;
    memset((char *)pg + sizeof(uint32_t) * 3, 0, sizeof(*pg) - sizeof(uint32_t) * 3);
    pg->pid = (uint32_t)getpid();
    pg->started_ns = realtime_ns();
    __atomic_store_n(&pg->version, BB_STATS_VERSION, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->magic, BB_STATS_MAGIC, __ATOMIC_RELEASE);
    *out = pg;
    return 0;
}

static void fill_disk(struct bb_stats_disk *o, const struct blkback *bb, const struct blk_disk *d)
{
    const struct blk_stats *s = &d->st;
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%s", d->cfg.name);
    snprintf(o->group, sizeof(o->group), "%s", d->cfg.qos.group);
    snprintf(o->sponsor, sizeof(o->sponsor), "%s", d->cfg.qos.sponsor);
    o->connected = d->sock >= 0;
    o->connects = d->connects;
    o->reads = s->reads, o->writes = s->writes, o->flushes = s->flushes;
    o->discards = s->discards, o->write_zeroes = s->write_zeroes, o->get_ids = s->get_ids;
    o->bytes_read = s->bytes_read, o->bytes_written = s->bytes_written;
    o->ioerr = s->ioerr, o->unsupp = s->unsupp, o->bad_chains = s->bad_chains;
    for (unsigned q = 0; q < d->cfg.queues; q++)
        o->ring_errors += d->dev.vq[q].errors;
    o->direct_fallbacks = s->direct_fallbacks;
    struct blk_iosched_stats is;
    if (blk_iosched_queue_stats(bb->sched, d->sched_q, blk_now_ns(), &is) == 0) {
        o->dispatched = is.dispatched, o->by_reservation = is.by_reservation;
        o->cost_units = is.cost_units, o->throttled_ns = is.throttled_ns;
    }
    o->reservation = d->cfg.qos.reservation;
    o->weight = d->cfg.qos.weight ? d->cfg.qos.weight : BLK_IOSCHED_WEIGHT_DEFAULT;
    memcpy(o->latency, s->latency, sizeof(o->latency));
    /* What the disk occupies on the host (metering, docs/metering.md): the file its writes go
     * to, once a second (fstat is in the sandbox's base allow-list). */
    o->size_bytes = d->img.size;
    o->added_ns = d->added_ns;
    int fd = d->img.ovl ? image_file_fd(d->img.ovl) : d->img.fd;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        o->allocated_bytes = (uint64_t)st.st_blocks * 512u;
}

void blk_state_update_stats(struct bb_stats_page *pg, const struct blkback *bb)
{
    uint32_t s = __atomic_load_n(&pg->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    unsigned n = 0;
    for (unsigned i = 0; i < bb->ndisks && n < BB_STATS_MAX_DISKS; i++)
        fill_disk(&pg->disks[n++], bb, bb->disk[i]);
    pg->ndisks = n;
    pg->device_depth = bb->device_depth;
    pg->capacity_units = bb->cap.units_per_sec;
    pg->heartbeat++;
    pg->updated_ns = realtime_ns();
    __atomic_store_n(&pg->seq, s + 2, __ATOMIC_RELEASE);
}
