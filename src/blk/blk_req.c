#include "blk/blk_req.h"

#include "lib/err.h"

#include <errno.h>
#include <string.h>

/* The part [off, off+len) of iovecs src[0..n) as iovecs in out (at most max); the count, or
 * -1 if it needs more than max. */
static int iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *out, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (off >= src[i].iov_len) {
            off -= src[i].iov_len;
            continue;
        }
        size_t take = src[i].iov_len - off;
        if (take > len)
            take = len;
        if (k == max)
            return -1;
        out[k++] = (struct iovec){.iov_base = (uint8_t *)src[i].iov_base + off, .iov_len = take};
        len -= take;
        off = 0;
    }
    return (int)k;
}

/* The last writable byte of the chain (the status), or NULL if it has none. */
static uint8_t *status_byte(const struct vring_chain *c)
{
    for (unsigned i = c->nwr; i-- > 0;)
        if (c->wr[i].iov_len)
            return (uint8_t *)c->wr[i].iov_base + c->wr[i].iov_len - 1;
    return NULL;
}

/* Whether [sector, sector + n) lies on the disk (no overflow). */
static bool in_range(const struct blk_disk_info *disk, uint64_t sector, uint64_t n)
{
    return sector <= disk->sectors && n <= disk->sectors - sector;
}

static bool negotiated(const struct blk_disk_info *disk, unsigned bit)
{
    return (disk->features >> bit) & 1;
}

static int parse_rw(const struct vring_chain *c, const struct blk_disk_info *disk, uint64_t sector, struct blk_req *r)
{
    bool in = r->type == VIRTIO_BLK_T_IN;
    size_t len = in ? c->wr_len - 1 : c->rd_len - sizeof(struct virtio_blk_req_hdr);
    if (!in && disk->readonly)
        return VIRTIO_BLK_S_IOERR;
    if (len % VIRTIO_BLK_SECTOR || len > BLK_MAX_REQ_BYTES || !in_range(disk, sector, len / VIRTIO_BLK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    int n = in ? iov_slice(c->wr, c->nwr, 0, len, r->data, BLK_SEG_MAX)
               : iov_slice(c->rd, c->nrd, sizeof(struct virtio_blk_req_hdr), len, r->data, BLK_SEG_MAX);
    if (n < 0)
        return VIRTIO_BLK_S_IOERR;
    r->ndata = (unsigned)n;
    r->len = len;
    r->offset = sector * VIRTIO_BLK_SECTOR;
    if (in)
        r->used_len = (uint32_t)len + 1;
    return VIRTIO_BLK_S_OK;
}

static int parse_ranges(const struct vring_chain *c, const struct blk_disk_info *disk, struct blk_req *r)
{
    bool discard = r->type == VIRTIO_BLK_T_DISCARD;
    if (!negotiated(disk, discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
        return VIRTIO_BLK_S_UNSUPP;
    if (disk->readonly)
        return VIRTIO_BLK_S_IOERR;
    size_t len = c->rd_len - sizeof(struct virtio_blk_req_hdr);
    size_t one = sizeof(struct virtio_blk_discard_wz);
    if (len == 0 || len % one || len / one > BLK_MAX_RANGES)
        return VIRTIO_BLK_S_IOERR;
    r->nranges = (unsigned)(len / one);
    /* One copy out of guest memory; every check below is on the copy. */
    vring_chain_read(c, sizeof(struct virtio_blk_req_hdr), r->ranges, len);
    for (unsigned i = 0; i < r->nranges; i++) {
        const struct virtio_blk_discard_wz *w = &r->ranges[i];
        uint32_t allowed = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_UNMAP;
        if (w->flags & ~allowed)
            return VIRTIO_BLK_S_UNSUPP;
        if (w->num_sectors == 0 || w->num_sectors > BLK_MAX_RANGE_SECTORS || !in_range(disk, w->sector, w->num_sectors))
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

int blk_req_parse(const struct vring_chain *c, const struct blk_disk_info *disk, struct blk_req *r)
{
    r->ndata = r->nranges = 0;
    r->len = 0;
    r->offset = 0;
    r->used_len = 1;
    r->status = status_byte(c);
    if (!r->status)
        return err_set(EPROTO, "a request without a writable status byte");
    struct virtio_blk_req_hdr h;
    if (c->rd_len < sizeof(h)) {
        r->type = UINT32_MAX;
        return VIRTIO_BLK_S_IOERR;
    }
    vring_chain_read(c, 0, &h, sizeof(h));
    r->type = h.type;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: return parse_rw(c, disk, h.sector, r);
    case VIRTIO_BLK_T_FLUSH: return negotiated(disk, VIRTIO_BLK_F_FLUSH) ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_UNSUPP;
    case VIRTIO_BLK_T_GET_ID: {
        size_t len = c->wr_len - 1;
        if (len > VIRTIO_BLK_ID_BYTES)
            len = VIRTIO_BLK_ID_BYTES;
        int n = iov_slice(c->wr, c->nwr, 0, len, r->data, BLK_SEG_MAX);
        if (n < 0)
            return VIRTIO_BLK_S_IOERR;
        r->ndata = (unsigned)n;
        r->len = len;
        r->used_len = (uint32_t)len + 1;
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: return parse_ranges(c, disk, r);
    default: return VIRTIO_BLK_S_UNSUPP;
    }
}

void blk_req_fill_id(const struct blk_req *r, const struct blk_disk_info *disk)
{
    char id[VIRTIO_BLK_ID_BYTES] = {0};
    memcpy(id, disk->serial, strnlen(disk->serial, sizeof(id)));
    size_t off = 0;
    for (unsigned i = 0; i < r->ndata; i++) {
        memcpy(r->data[i].iov_base, id + off, r->data[i].iov_len);
        off += r->data[i].iov_len;
    }
}
