#include "blk/overlay_format.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "lib/err.h"

/* Offsets of the fields in the header block, all little-endian (docs/overlay-format.md). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_CLUSTER_BITS = 12,
    OFF_VIRTUAL_SIZE = 16,
    OFF_TABLE_OFFSET = 24,
    OFF_DATA_OFFSET = 32,
    OFF_BASE_SIZE = 40,
    OFF_BASE_INO = 48,
    OFF_BASE_MTIME = 56,
    OFF_BASE_NAME_LEN = 64,
    OFF_BASE_NAME = 66,
    OFF_END = OFF_BASE_NAME + IMAGE_NAME_MAX, /* reserved bytes after it must be zero */
};

static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

int ovl_header_layout(struct ovl_header *h)
{
    if (h->cluster_bits < OVL_CLUSTER_BITS_MIN || h->cluster_bits > OVL_CLUSTER_BITS_MAX)
        return err_set(EINVAL, "overlay: cluster size 2^%u outside 4 KiB..2 MiB", h->cluster_bits);
    if (h->virtual_size == 0 || h->virtual_size % 512 || h->virtual_size > OVL_MAX_VIRTUAL_SIZE)
        return err_set(EINVAL, "overlay: virtual size %llu is not a multiple of 512 in 512..1 TiB",
                       (unsigned long long)h->virtual_size);
    uint64_t cluster = 1ull << h->cluster_bits;
    h->entries = (h->virtual_size + cluster - 1) >> h->cluster_bits;
    if (h->entries > OVL_MAX_ENTRIES)
        return err_set(EINVAL, "overlay: %llu clusters (over %u): use larger clusters", (unsigned long long)h->entries,
                       OVL_MAX_ENTRIES);
    uint64_t table_end = OVL_HEADER_SIZE + h->entries * 8;
    h->data_offset = (table_end + cluster - 1) & ~(cluster - 1);
    h->max_slots = h->entries + OVL_SPARE_SLOTS;
    return 0;
}

void ovl_header_encode(const struct ovl_header *h, uint8_t *buf)
{
    memset(buf, 0, OVL_HEADER_SIZE);
    memcpy(buf + OFF_MAGIC, OVL_MAGIC, 8);
    put32(buf + OFF_VERSION, OVL_VERSION);
    put32(buf + OFF_CLUSTER_BITS, h->cluster_bits);
    put64(buf + OFF_VIRTUAL_SIZE, h->virtual_size);
    put64(buf + OFF_TABLE_OFFSET, OVL_HEADER_SIZE);
    put64(buf + OFF_DATA_OFFSET, h->data_offset);
    put64(buf + OFF_BASE_SIZE, h->base_size);
    put64(buf + OFF_BASE_INO, h->base_ino);
    put64(buf + OFF_BASE_MTIME, h->base_mtime_ns);
    size_t n = strnlen(h->base_name, IMAGE_NAME_MAX);
    buf[OFF_BASE_NAME_LEN] = (uint8_t)(n & 0xff);
    buf[OFF_BASE_NAME_LEN + 1] = (uint8_t)(n >> 8);
    memcpy(buf + OFF_BASE_NAME, h->base_name, n);
}

int ovl_header_decode(const uint8_t *buf, struct ovl_header *h)
{
    memset(h, 0, sizeof(*h));
    if (memcmp(buf + OFF_MAGIC, OVL_MAGIC, 8) != 0)
        return err_set(EINVAL, "overlay: bad magic (not a XenoServer overlay)");
    if (get32(buf + OFF_VERSION) != OVL_VERSION)
        return err_set(EINVAL, "overlay: version %u (this build reads %u)", get32(buf + OFF_VERSION), OVL_VERSION);
    h->cluster_bits = get32(buf + OFF_CLUSTER_BITS);
    h->virtual_size = get64(buf + OFF_VIRTUAL_SIZE);
    int rc = ovl_header_layout(h);
    if (rc < 0)
        return rc;
    if (get64(buf + OFF_TABLE_OFFSET) != OVL_HEADER_SIZE || get64(buf + OFF_DATA_OFFSET) != h->data_offset)
        return err_set(EINVAL, "overlay: table or data offset differs from the layout its size implies");
    size_t n = (size_t)buf[OFF_BASE_NAME_LEN] | (size_t)buf[OFF_BASE_NAME_LEN + 1] << 8;
    if (n > IMAGE_NAME_MAX)
        return err_set(EINVAL, "overlay: base name length %zu over %d", n, IMAGE_NAME_MAX);
    for (size_t i = OFF_BASE_NAME + n; i < OVL_HEADER_SIZE; i++)
        if (buf[i])
            return err_set(EINVAL, "overlay: nonzero reserved byte at %zu", i);
    memcpy(h->base_name, buf + OFF_BASE_NAME, n);
    h->base_name[n] = '\0';
    if (n && image_name_check(h->base_name) < 0)
        return err_wrap(EINVAL, "overlay: base name");
    h->base_size = get64(buf + OFF_BASE_SIZE);
    h->base_ino = get64(buf + OFF_BASE_INO);
    h->base_mtime_ns = get64(buf + OFF_BASE_MTIME);
    if (!n && (h->base_size || h->base_ino || h->base_mtime_ns))
        return err_set(EINVAL, "overlay: base identity without a base name");
    return 0;
}

int ovl_entry_valid(const struct ovl_header *h, uint64_t entry)
{
    uint64_t cluster = 1ull << h->cluster_bits;
    if (entry < h->data_offset || (entry & (cluster - 1)))
        return 0;
    return (entry - h->data_offset) >> h->cluster_bits < h->max_slots;
}
