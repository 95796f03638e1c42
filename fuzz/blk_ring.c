/* What a guest puts in a virtio-blk queue, as xeno-blkback (one process serving every
 * domain's disks) reads it: src/vhost/vring.c takes chains from the split ring
 * (vring_pop: descriptors copied once, checked in range, no loop, readable before writable)
 * and src/blk/blk_req.c parses each into a request (blk_req_parse: header, ranges and
 * status copied and checked), then the harness does what the backend's I/O would do with
 * the guest's buffers (reads the data of a write, fills the buffers of a read, writes the
 * id and the status byte) and publishes the used entry (vring_push, vring_notify,
 * vring_kicks_on). Guest memory is the input's bytes in a buffer of exactly GUEST_BYTES, so
 * any access outside it is an ASan error. The first bytes choose the queue size, the
 * negotiated features (event index, flush, discard, write-zeroes), a read-only disk and its
 * size. Oracles: no crash; a request parsed OK has every data buffer, its ranges and its
 * status inside guest memory, at most BLK_MAX_REQ_BYTES of data and sectors within the
 * disk; a broken ring is never popped again. */
#include <errno.h>
#include <stdio.h>

#include "blk/blk_req.h"
#include "fuzz/fuzz.h"
#include "vhost/vring.h"

#define GUEST_BYTES 65536u
#define GPA_BASE 0x100000ull       /* descriptors name guest-physical addresses */
#define UVA_BASE 0x7f0000000000ull /* the rings the front end's virtual ones */
/* Rings first, so that short inputs reach them: for 256 entries the avail ring takes 518
 * bytes, the used ring 2054, the descriptors 4096; buffers from 0x2000 on. */
#define AVAIL_OFF 0x0000u
#define USED_OFF 0x0400u
#define DESC_OFF 0x1000u
#define HEADER 8u

static int inside(const uint8_t *guest, const void *p, size_t len)
{
    const uint8_t *b = p;
    return b >= guest && b <= guest + GUEST_BYTES && len <= (size_t)(guest + GUEST_BYTES - b);
}

static void check(const uint8_t *guest, const struct blk_req *r, const struct blk_disk_info *disk, int st)
{
    if (!inside(guest, r->status, 1)) {
        fprintf(stderr, "status byte outside guest memory\n");
        abort();
    }
    if (st != VIRTIO_BLK_S_OK)
        return;
    size_t total = 0;
    for (unsigned i = 0; i < r->ndata; i++) {
        if (!inside(guest, r->data[i].iov_base, r->data[i].iov_len)) {
            fprintf(stderr, "data buffer %u outside guest memory\n", i);
            abort();
        }
        total += r->data[i].iov_len;
    }
    if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) &&
        (total != r->len || r->len > BLK_MAX_REQ_BYTES || r->offset / 512 > disk->sectors ||
         r->len / 512 > disk->sectors - r->offset / 512)) {
        fprintf(stderr, "request of %zu bytes at %llu accepted on a disk of %llu sectors\n", r->len,
                (unsigned long long)r->offset, (unsigned long long)disk->sectors);
        abort();
    }
    if ((r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) &&
        disk->readonly) {
        fprintf(stderr, "a write of type %u accepted on a read-only disk\n", r->type);
        abort();
    }
    for (unsigned i = 0; i < r->nranges; i++) {
        const struct virtio_blk_discard_wz *w = &r->ranges[i];
        if (w->num_sectors > BLK_MAX_RANGE_SECTORS || w->sector > disk->sectors ||
            w->num_sectors > disk->sectors - w->sector) {
            fprintf(stderr, "range %u past the disk accepted\n", i);
            abort();
        }
    }
}

/* What the I/O does with the guest's buffers. */
static volatile uint8_t written_sum; /* keeps the reads of a write's data */

static void serve(const struct blk_req *r, const struct blk_disk_info *disk)
{
    uint8_t sum = 0;
    for (unsigned i = 0; i < r->ndata; i++) {
        uint8_t *b = r->data[i].iov_base;
        if (r->type == VIRTIO_BLK_T_IN)
            memset(b, 0x5a, r->data[i].iov_len);
        else
            for (size_t k = 0; k < r->data[i].iov_len; k++)
                sum ^= b[k];
    }
    written_sum = sum;
    if (r->type == VIRTIO_BLK_T_GET_ID)
        blk_req_fill_id(r, disk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    uint8_t *guest = calloc(1, GUEST_BYTES);
    if (!guest)
        abort();
    memcpy(guest, data + HEADER, size - HEADER < GUEST_BYTES ? size - HEADER : GUEST_BYTES);

    struct mem_table mt = {.n = 1};
    mt.r[0] = (struct mem_region){.gpa = GPA_BASE, .uva = UVA_BASE, .size = GUEST_BYTES, .host = guest};
    struct vring vr;
    vring_init(&vr);
    vr.num = 1u << (data[0] % 9); /* 1..256: the rings fit their offsets */
    vr.desc_uva = UVA_BASE + DESC_OFF;
    vr.avail_uva = UVA_BASE + AVAIL_OFF;
    vr.used_uva = UVA_BASE + USED_OFF;
    vr.addr_set = true;
    vr.event_idx = data[1] & 1;
    uint16_t base = (uint16_t)(data[2] | data[3] << 8);

    struct blk_disk_info disk = {.readonly = data[1] & 2, .sectors = (uint64_t)data[4] << (data[5] % 40)};
    if (data[1] & 4)
        disk.features |= 1ull << VIRTIO_BLK_F_FLUSH;
    if (data[1] & 8)
        disk.features |= 1ull << VIRTIO_BLK_F_DISCARD;
    if (data[1] & 16)
        disk.features |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    snprintf(disk.serial, sizeof(disk.serial), "fuzz%u", data[6]);

    if (vring_start(&vr, &mt, base, "fuzz") == 0) {
        /* Pop no more than twice the ring: a guest cannot make the backend loop. */
        for (unsigned n = 0; n < 2 * vr.num + 2; n++) {
            struct vring_chain c;
            int rc = vring_pop(&vr, &mt, &c);
            if (rc <= 0) {
                if (rc < 0 && (!vr.broken || vring_pop(&vr, &mt, &c) != 0)) {
                    fprintf(stderr, "a broken ring was popped again\n");
                    abort();
                }
                break;
            }
            struct blk_req r;
            int st = blk_req_parse(&c, &disk, &r);
            if (st < 0) {
                vring_push(&vr, c.head, 0);
                continue;
            }
            check(guest, &r, &disk, st);
            if (st == VIRTIO_BLK_S_OK)
                serve(&r, &disk);
            blk_req_complete(&r, (uint8_t)st);
            vring_push(&vr, c.head, r.used_len);
            if (n % 8 == 7)
                vring_notify(&vr);
        }
        vring_notify(&vr);
        (void)vring_kicks_on(&vr);
        vring_stop(&vr);
    }
    vring_reset(&vr);
    free(guest);
    return 0;
}
