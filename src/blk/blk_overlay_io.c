/* An overlay's requests (*.ovl, docs/overlay-format.md) in xeno-blkback's request path: data
 * on io_uring where the table does not change, synchronously through the image layer where it
 * does.
 *
 * Why the split: a read or a write into clusters that already have their data slot is plain
 * I/O at offsets the table gives (image_map_read / image_map_write), and the table cannot
 * change under it as long as nothing that changes the table runs while it is in flight. So
 * those go to the ring, one READV/WRITEV per extent. Everything that changes the table or
 * depends on all earlier writes — a write that allocates (copy-on-write of the rest of the
 * cluster, then the entry), flush (data fdatasync, table blocks, fdatasync), discard and
 * write-zeroes (an entry to ZERO, a slot freed and reused after the next flush) — is a
 * barrier: it waits until the disk has no extent on the ring (d->ovl_ring is 0), then runs
 * synchronously (image.h), and nothing behind it in the dispatch FIFO goes before it. Hence:
 *   - a slot freed by discard is never written by a ring write still in flight (the discard
 *     waited for it), so after the flush that lets the slot be reused no late write lands in
 *     another cluster's data;
 *   - the crash-consistency order of overlay.h is unchanged: a new cluster's data is written
 *     and its entry set in memory by ovl_pwrite before any ring I/O can see the entry, and the
 *     entries reach the file only in ovl_flush after an fdatasync of the data; ring writes
 *     change data in slots that are already referenced, which is what a disk with a volatile
 *     cache does (a crash before the flush shows old or new sectors, never another cluster's).
 * The ring's pieces use the overlay's and the base's O_DIRECT descriptors (raw_file.c opens
 * them beside the image layer's buffered ones) where buffer, length and offset are aligned, as
 * for raw images: buffered writes on io_uring go through its worker threads on ext4 and cost
 * more than the synchronous pwrite they replace (bench/README.md, "overlays"). O_DIRECT and
 * the image layer's buffered I/O on one file stay coherent (a direct write invalidates the
 * cached pages, a direct read writes dirty ones back first), and fdatasync covers both.
 * Not on the ring (yet): the copy-on-write itself and the flush (three linked operations
 * would do it); a request in more than BLK_OVL_MAX_EXTENTS extents.
 *
 * Threads: the backend's one thread, as all of blk_queue.c. */
#include "blk/blkback.h"

#include "blk/image.h"
#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The request done synchronously through the image layer (the barrier path). A status. */
static uint8_t overlay_sync(struct image *img, const struct blk_req *r)
{
    int rc = 0;
    uint64_t off = r->offset;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        for (unsigned i = 0; i < r->ndata && rc == 0; i++) {
            rc = r->type == VIRTIO_BLK_T_IN ? image_pread(img, r->data[i].iov_base, r->data[i].iov_len, off)
                                            : image_pwrite(img, r->data[i].iov_base, r->data[i].iov_len, off);
            off += r->data[i].iov_len;
        }
        break;
    case VIRTIO_BLK_T_FLUSH: rc = image_flush(img); break;
    default:
        for (unsigned i = 0; i < r->nranges && rc == 0; i++) {
            uint64_t o = r->ranges[i].sector * VIRTIO_BLK_SECTOR;
            uint64_t n = (uint64_t)r->ranges[i].num_sectors * VIRTIO_BLK_SECTOR;
            rc = r->type == VIRTIO_BLK_T_DISCARD ? image_discard(img, o, n) : image_write_zeroes(img, o, n);
        }
    }
    return rc < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* One piece of a request: `len` bytes of guest buffer at `buf`, at `ext`. */
struct piece {
    uint8_t *buf;
    struct image_extent ext;
};

/* The request cut into extents, each inside one data segment and one cluster. False when it
 * cannot go on the ring: a write into a cluster without its data slot, too many extents. */
static bool plan(struct image *img, const struct blk_req *r, struct piece *p, unsigned *n, unsigned *ring)
{
    bool read = r->type == VIRTIO_BLK_T_IN;
    uint64_t off = r->offset;
    *n = *ring = 0;
    for (unsigned i = 0; i < r->ndata; i++) {
        uint8_t *buf = r->data[i].iov_base;
        uint64_t left = r->data[i].iov_len;
        while (left) {
            if (*n == BLK_OVL_MAX_EXTENTS)
                return false;
            struct piece *pc = &p[(*n)++];
            pc->buf = buf;
            if (read)
                image_map_read(img, off, left, &pc->ext);
            else if (!image_map_write(img, off, left, &pc->ext))
                return false;
            if (pc->ext.fd >= 0)
                ++*ring;
            buf += pc->ext.len, off += pc->ext.len, left -= pc->ext.len;
        }
    }
    return true;
}

static unsigned ops_free(const struct blkback *bb, unsigned want)
{
    unsigned k = 0;
    for (const struct blk_ovl_op *o = bb->ovl_free; o && k < want; o = o->next_free)
        k++;
    return k;
}

/* The O_DIRECT twin of the image layer's descriptor fd for an aligned piece, else -1. */
static int direct_fd(const struct blk_image *img, const struct piece *p)
{
    if ((uintptr_t)p->buf % BLK_DIRECT_ALIGN || p->ext.len % BLK_DIRECT_ALIGN || p->ext.off % BLK_DIRECT_ALIGN)
        return -1;
    return p->ext.fd == img->ovl_fd ? img->ovl_direct_fd : p->ext.fd == img->base_fd ? img->base_direct_fd : -1;
}

/* The pieces onto the ring (zeros copied now); there is room for all of them. */
static void submit(struct blkback *bb, struct blk_slot *s, const struct piece *p, unsigned n)
{
    bool read = s->req.type == VIRTIO_BLK_T_IN;
    for (unsigned i = 0; i < n; i++) {
        if (p[i].ext.fd < 0) {
            memset(p[i].buf, 0, p[i].ext.len);
            continue;
        }
        struct blk_ovl_op *op = bb->ovl_free;
        bb->ovl_free = op->next_free;
        *op = (struct blk_ovl_op){.s = s,
                                  .iov = {.iov_base = p[i].buf, .iov_len = p[i].ext.len},
                                  .fd = p[i].ext.fd,
                                  .off = p[i].ext.off,
                                  .read = read};
        int dfd = direct_fd(&s->q->disk->img, &p[i]);
        op->direct = dfd >= 0;
        struct io_uring_sqe *e = io_uring_get_sqe(&bb->ring);
        if (read)
            io_uring_prep_readv(e, op->direct ? dfd : op->fd, &op->iov, 1, op->off);
        else
            io_uring_prep_writev(e, op->direct ? dfd : op->fd, &op->iov, 1, op->off);
        io_uring_sqe_set_data64(e, (uint64_t)(uintptr_t)op | 1);
        s->pending++;
        s->q->disk->ovl_ring++;
        s->q->disk->st.ovl_ring++;
        bb->sq_prepared++;
    }
}

bool blk_ovl_prepare(struct blkback *bb, struct blk_slot *s)
{
    struct blk_disk *d = s->q->disk;
    const struct blk_req *r = &s->req;
    struct piece p[BLK_OVL_MAX_EXTENTS];
    unsigned n = 0, ring = 0;
    bool rw = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;
    if (rw && plan(d->img.ovl, r, p, &n, &ring)) {
        if (io_uring_sq_space_left(&bb->ring) < ring || ops_free(bb, ring) < ring)
            return false;
        s->status = VIRTIO_BLK_S_OK;
        s->pending = 0;
        submit(bb, s, p, n);
        if (s->pending == 0) { /* zeros only */
            blk_sched_done(s);
            blk_slot_done(s, VIRTIO_BLK_S_OK);
        }
        return true;
    }
    if (d->ovl_ring)
        return false; /* a barrier: after what is on the ring */
    d->st.ovl_sync++;
    uint8_t st = overlay_sync(d->img.ovl, r);
    if (st != VIRTIO_BLK_S_OK)
        log_warn("disk %s: request type %u at byte %llu: %s", d->cfg.name, r->type, (unsigned long long)r->offset,
                 err_msg());
    blk_sched_done(s);
    blk_slot_done(s, st);
    return true;
}

/* The rest of a read the ring returned short: what lies past the end of the file reads as
 * zeros (a data slot whose write a crash lost, a base shorter than the overlay), as in
 * overlay.c. The number of bytes now in the buffer, or -errno. */
static int finish_read(const struct blk_ovl_op *op, size_t got)
{
    uint8_t *p = op->iov.iov_base;
    while (got < op->iov.iov_len) {
        ssize_t k = pread(op->fd, p + got, op->iov.iov_len - got, (off_t)(op->off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0) {
            memset(p + got, 0, op->iov.iov_len - got);
            break;
        }
        got += (size_t)k;
    }
    return (int)op->iov.iov_len;
}

/* An O_DIRECT piece the file system refused (EINVAL): redone here on the buffered descriptor,
 * synchronously (rare: the open took O_DIRECT, this request's alignment did not suit it). */
static int redo_buffered(const struct blk_ovl_op *op)
{
    if (op->read)
        return finish_read(op, 0);
    const uint8_t *p = op->iov.iov_base;
    for (size_t done = 0; done < op->iov.iov_len;) {
        ssize_t k = pwrite(op->fd, p + done, op->iov.iov_len - done, (off_t)(op->off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        done += (size_t)k;
    }
    return (int)op->iov.iov_len;
}

void blk_ovl_complete(struct blkback *bb, struct blk_ovl_op *op, int res)
{
    struct blk_slot *s = op->s;
    if (op->direct && res == -EINVAL) {
        s->q->disk->st.direct_fallbacks++;
        res = redo_buffered(op);
    }
    if (op->read && res >= 0 && (size_t)res < op->iov.iov_len)
        res = finish_read(op, (size_t)res);
    if (res < 0 || (size_t)res != op->iov.iov_len) {
        if (s->status == VIRTIO_BLK_S_OK)
            log_warn("disk %s: overlay %s of %zu bytes at file offset %llu: %s", s->q->disk->cfg.name,
                     op->read ? "read" : "write", op->iov.iov_len, (unsigned long long)op->off,
                     res < 0 ? strerror(-res) : "short transfer");
        s->status = VIRTIO_BLK_S_IOERR;
    }
    s->q->disk->ovl_ring--;
    op->next_free = bb->ovl_free;
    bb->ovl_free = op;
    if (--s->pending == 0) {
        blk_sched_done(s);
        blk_slot_done(s, s->status);
    }
}
