#include "blk/overlay.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

#define ENTRIES_PER_BLOCK 512u /* table entries per 4 KiB block written at flush */

struct ovl {
    int fd, base_fd;
    bool ro;
    struct ovl_header h;
    uint64_t cluster;
    uint64_t *table;     /* h.entries entries, host order; the file's copy lags until flush */
    uint8_t *dirty;      /* one bit per table block changed since the last flush */
    uint64_t *slot_used; /* one bit per data slot: referenced, or freed but not yet flushed */
    uint64_t *freed;     /* slots freed since the last flush (at most OVL_SPARE_SLOTS) */
    unsigned nfreed;
    uint64_t slot_hint; /* where the search for a free slot starts */
    uint8_t *scratch;   /* one cluster, for copy-on-write of a partial cluster */
    char name[IMAGE_NAME_MAX + 1];
};

static bool bit_get(const uint64_t *map, uint64_t i)
{
    return map[i / 64] >> (i % 64) & 1;
}
static void bit_set(uint64_t *map, uint64_t i)
{
    map[i / 64] |= 1ull << (i % 64);
}
static void bit_clear(uint64_t *map, uint64_t i)
{
    map[i / 64] &= ~(1ull << (i % 64));
}

/* pread of exactly len bytes; what lies past the end of the file reads as zeros (a data slot
 * whose write was lost in a crash, a base shorter than the overlay). */
static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

static int load_table(struct ovl *o)
{
    struct stat st;
    if (fstat(o->fd, &st) < 0)
        return err_set(errno, "overlay '%s': %s", o->name, strerror(errno));
    /* The table's size comes from the header: allocate only what the file really holds. */
    if ((uint64_t)st.st_size < OVL_HEADER_SIZE + o->h.entries * 8)
        return err_set(EINVAL, "overlay '%s': truncated table (%llu clusters need %llu bytes, file has %lld)", o->name,
                       (unsigned long long)o->h.entries, (unsigned long long)(OVL_HEADER_SIZE + o->h.entries * 8),
                       (long long)st.st_size);
    o->table = malloc(o->h.entries * 8);
    o->dirty = calloc((o->h.entries / ENTRIES_PER_BLOCK + 8) / 8, 1);
    o->slot_used = calloc(o->h.max_slots / 64 + 1, 8);
    o->freed = calloc(OVL_SPARE_SLOTS, 8);
    o->scratch = malloc(o->cluster);
    if (!o->table || !o->dirty || !o->slot_used || !o->freed || !o->scratch)
        return err_set(ENOMEM, "overlay '%s': out of memory for its table", o->name);
    int rc = read_full(o->fd, o->table, o->h.entries * 8, OVL_HEADER_SIZE);
    if (rc < 0)
        return err_set(-rc, "overlay '%s': reading its table: %s", o->name, strerror(-rc));
    for (uint64_t i = 0; i < o->h.entries; i++) {
        uint64_t e = le64toh(o->table[i]);
        o->table[i] = e;
        if (e == OVL_ENTRY_UNALLOCATED || e == OVL_ENTRY_ZERO)
            continue;
        if (!ovl_entry_valid(&o->h, e))
            return err_set(EINVAL, "overlay '%s': cluster %llu points at %llu, outside its data slots", o->name,
                           (unsigned long long)i, (unsigned long long)e);
        uint64_t slot = (e - o->h.data_offset) >> o->h.cluster_bits;
        if (bit_get(o->slot_used, slot))
            return err_set(EINVAL, "overlay '%s': cluster %llu shares its data slot with another", o->name,
                           (unsigned long long)i);
        bit_set(o->slot_used, slot);
    }
    return 0;
}

int ovl_open(int fd, int base_fd, bool ro, const char *name, struct ovl **out)
{
    struct ovl *o = calloc(1, sizeof(*o));
    if (!o) {
        close(fd);
        if (base_fd >= 0)
            close(base_fd);
        return err_set(ENOMEM, "overlay '%s': out of memory", name);
    }
    o->fd = fd, o->base_fd = base_fd, o->ro = ro;
    snprintf(o->name, sizeof(o->name), "%s", name);
    uint8_t hdr[OVL_HEADER_SIZE];
    int rc = read_full(fd, hdr, sizeof(hdr), 0);
    if (rc < 0)
        rc = err_set(-rc, "overlay '%s': reading its header: %s", name, strerror(-rc));
    else if ((rc = ovl_header_decode(hdr, &o->h)) < 0)
        rc = err_wrap(-rc, "image '%s'", name);
    if (rc == 0) {
        o->cluster = 1ull << o->h.cluster_bits;
        rc = load_table(o);
    }
    if (rc < 0) {
        o->ro = true; /* nothing to flush */
        ovl_close(o);
        return rc;
    }
    *out = o;
    return 0;
}

int ovl_fd(const struct ovl *o)
{
    return o->fd;
}

const struct ovl_header *ovl_header(const struct ovl *o)
{
    return &o->h;
}

void ovl_map_read(const struct ovl *o, uint64_t off, uint64_t len, struct image_extent *ext)
{
    uint64_t idx = off >> o->h.cluster_bits, in = off & (o->cluster - 1);
    uint64_t n = o->cluster - in < len ? o->cluster - in : len;
    uint64_t e = o->table[idx];
    ext->len = n;
    if (e == OVL_ENTRY_ZERO) {
        ext->fd = -1, ext->off = 0;
    } else if (e != OVL_ENTRY_UNALLOCATED) {
        ext->fd = o->fd, ext->off = e + in;
    } else if (o->base_fd >= 0 && off < o->h.base_size) {
        ext->fd = o->base_fd, ext->off = off;
        if (n > o->h.base_size - off)
            ext->len = o->h.base_size - off; /* the rest of the cluster reads as zeros */
    } else {
        ext->fd = -1, ext->off = 0;
    }
}

bool ovl_map_write(const struct ovl *o, uint64_t off, uint64_t len, struct image_extent *ext)
{
    uint64_t in = off & (o->cluster - 1), e = o->table[off >> o->h.cluster_bits];
    if (o->ro || e == OVL_ENTRY_UNALLOCATED || e == OVL_ENTRY_ZERO)
        return false;
    ext->fd = o->fd, ext->off = e + in;
    ext->len = o->cluster - in < len ? o->cluster - in : len;
    return true;
}

void ovl_files(const struct ovl *o, int *fd, int *base_fd)
{
    *fd = o->fd, *base_fd = o->base_fd;
}

static int check_range(const struct ovl *o, uint64_t off, uint64_t len)
{
    if (off > o->h.virtual_size || len > o->h.virtual_size - off)
        return err_set(EINVAL, "overlay '%s': %llu bytes at %llu past its size %llu", o->name, (unsigned long long)len,
                       (unsigned long long)off, (unsigned long long)o->h.virtual_size);
    return 0;
}

int ovl_pread(struct ovl *o, void *buf, size_t len, uint64_t off)
{
    int rc = check_range(o, off, len);
    uint8_t *p = buf;
    while (rc == 0 && len) {
        struct image_extent ext;
        ovl_map_read(o, off, len, &ext);
        if (ext.fd < 0)
            memset(p, 0, ext.len);
        else
            rc = read_full(ext.fd, p, ext.len, ext.off);
        p += ext.len, off += ext.len, len -= ext.len;
    }
    return rc;
}

static void set_entry(struct ovl *o, uint64_t idx, uint64_t e)
{
    o->table[idx] = e;
    o->dirty[idx / ENTRIES_PER_BLOCK / 8] |= (uint8_t)(1u << (idx / ENTRIES_PER_BLOCK % 8));
}

/* A free data slot's file offset. There always is one: at most h.entries slots are
 * referenced and at most OVL_SPARE_SLOTS freed ones wait for a flush. */
static uint64_t alloc_slot(struct ovl *o)
{
    uint64_t s = o->slot_hint, tried = 0;
    while (bit_get(o->slot_used, s)) {
        if (++tried == o->h.max_slots)
            return 0; /* cannot happen while the invariant above holds; never loop on it */
        s = s + 1 == o->h.max_slots ? 0 : s + 1;
    }
    bit_set(o->slot_used, s);
    o->slot_hint = s + 1 == o->h.max_slots ? 0 : s + 1;
    return o->h.data_offset + (s << o->h.cluster_bits);
}

/* Writes n bytes at `in` of cluster idx, which has no data slot yet: the rest of the
 * cluster comes from what it reads as now (base or zeros), data first, entry after. */
static int write_new_cluster(struct ovl *o, uint64_t idx, uint64_t in, const uint8_t *src, uint64_t n)
{
    const uint8_t *data = src;
    if (n != o->cluster) {
        uint64_t start = idx << o->h.cluster_bits, whole = o->cluster;
        if (whole > o->h.virtual_size - start)
            whole = o->h.virtual_size - start;
        memset(o->scratch, 0, o->cluster);
        int rc = ovl_pread(o, o->scratch, whole, start);
        if (rc < 0)
            return rc;
        memcpy(o->scratch + in, src, n);
        data = o->scratch;
    }
    uint64_t slot = alloc_slot(o);
    if (!slot)
        return err_set(ENOSPC, "overlay '%s': no free data slot", o->name);
    int rc = write_full(o->fd, data, o->cluster, slot);
    if (rc < 0) {
        bit_clear(o->slot_used, (slot - o->h.data_offset) >> o->h.cluster_bits);
        return err_set(-rc, "overlay '%s': writing a cluster: %s", o->name, strerror(-rc));
    }
    set_entry(o, idx, slot);
    return 0;
}

int ovl_pwrite(struct ovl *o, const void *buf, size_t len, uint64_t off)
{
    if (o->ro)
        return err_set(EROFS, "overlay '%s' is open read-only", o->name);
    int rc = check_range(o, off, len);
    const uint8_t *p = buf;
    while (rc == 0 && len) {
        uint64_t idx = off >> o->h.cluster_bits, in = off & (o->cluster - 1);
        uint64_t n = o->cluster - in < len ? o->cluster - in : len;
        uint64_t e = o->table[idx];
        if (e != OVL_ENTRY_UNALLOCATED && e != OVL_ENTRY_ZERO) {
            rc = write_full(o->fd, p, n, e + in);
            if (rc < 0)
                rc = err_set(-rc, "overlay '%s': write: %s", o->name, strerror(-rc));
        } else {
            rc = write_new_cluster(o, idx, in, p, n);
        }
        p += n, off += n, len -= n;
    }
    return rc;
}

/* Frees cluster idx's data slot: its blocks are punched now (the entry on disk, until the
 * flush, then reads zeros, which is what was asked), the slot reusable after the flush. */
static int free_cluster(struct ovl *o, uint64_t idx)
{
    uint64_t e = o->table[idx];
    if (e == OVL_ENTRY_UNALLOCATED || e == OVL_ENTRY_ZERO) {
        if (e != OVL_ENTRY_ZERO)
            set_entry(o, idx, OVL_ENTRY_ZERO);
        return 0;
    }
    if (o->nfreed == OVL_SPARE_SLOTS) {
        int rc = ovl_flush(o);
        if (rc < 0)
            return rc;
    }
    set_entry(o, idx, OVL_ENTRY_ZERO);
    o->freed[o->nfreed++] = (e - o->h.data_offset) >> o->h.cluster_bits;
    /* Punching is only space: a file system without it keeps the old bytes unreferenced. */
    (void)fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)e, (off_t)o->cluster);
    return 0;
}

int ovl_zero(struct ovl *o, uint64_t off, uint64_t len)
{
    if (o->ro)
        return err_set(EROFS, "overlay '%s' is open read-only", o->name);
    int rc = check_range(o, off, len);
    while (rc == 0 && len) {
        uint64_t idx = off >> o->h.cluster_bits, in = off & (o->cluster - 1);
        uint64_t n = o->cluster - in < len ? o->cluster - in : len;
        bool whole = n == o->cluster || (in == 0 && off + n == o->h.virtual_size);
        if (whole) {
            rc = free_cluster(o, idx);
        } else {
            struct image_extent ext;
            ovl_map_read(o, off, n, &ext);
            if (ext.fd >= 0 || ext.len < n) { /* not all zeros already */
                static const uint8_t zeros[4096];
                for (uint64_t done = 0; rc == 0 && done < n; done += sizeof(zeros)) {
                    uint64_t k = n - done < sizeof(zeros) ? n - done : sizeof(zeros);
                    rc = ovl_pwrite(o, zeros, k, off + done);
                }
            }
        }
        off += n, len -= n;
    }
    return rc;
}

int ovl_flush(struct ovl *o)
{
    if (o->ro)
        return 0;
    if (fdatasync(o->fd) < 0)
        return err_set(errno, "overlay '%s': fdatasync: %s", o->name, strerror(errno));
    uint64_t blocks = (o->h.entries + ENTRIES_PER_BLOCK - 1) / ENTRIES_PER_BLOCK;
    uint64_t le[ENTRIES_PER_BLOCK];
    bool wrote = false;
    for (uint64_t b = 0; b < blocks; b++) {
        if (!(o->dirty[b / 8] >> (b % 8) & 1))
            continue;
        uint64_t first = b * ENTRIES_PER_BLOCK, n = o->h.entries - first;
        if (n > ENTRIES_PER_BLOCK)
            n = ENTRIES_PER_BLOCK;
        for (uint64_t i = 0; i < n; i++)
            le[i] = htole64(o->table[first + i]);
        int rc = write_full(o->fd, le, n * 8, OVL_HEADER_SIZE + first * 8);
        if (rc < 0)
            return err_set(-rc, "overlay '%s': writing its table: %s", o->name, strerror(-rc));
        o->dirty[b / 8] &= (uint8_t) ~(1u << (b % 8));
        wrote = true;
    }
    if (wrote && fdatasync(o->fd) < 0)
        return err_set(errno, "overlay '%s': fdatasync: %s", o->name, strerror(errno));
    for (unsigned i = 0; i < o->nfreed; i++)
        bit_clear(o->slot_used, o->freed[i]);
    o->nfreed = 0;
    return 0;
}

uint64_t ovl_entry(const struct ovl *o, uint64_t idx)
{
    return o->table[idx];
}

void ovl_counts(const struct ovl *o, uint64_t *allocated, uint64_t *zero)
{
    *allocated = *zero = 0;
    for (uint64_t i = 0; i < o->h.entries; i++) {
        if (o->table[i] == OVL_ENTRY_ZERO)
            ++*zero;
        else if (o->table[i] != OVL_ENTRY_UNALLOCATED)
            ++*allocated;
    }
}

int ovl_close(struct ovl *o)
{
    if (!o)
        return 0;
    int rc = o->table ? ovl_flush(o) : 0;
    close(o->fd);
    if (o->base_fd >= 0)
        close(o->base_fd);
    free(o->table);
    free(o->dirty);
    free(o->slot_used);
    free(o->freed);
    free(o->scratch);
    free(o);
    return rc;
}
