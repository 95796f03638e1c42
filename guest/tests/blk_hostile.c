/*
 * blk_hostile: what a hostile guest may send to its disk's backend. Sectors past the end,
 * a request over the backend's 4 MiB, a length that is not whole sectors, an unknown type,
 * a chain with no status byte, and (on a read-only disk) writes, discards and write-zeroes:
 * each must get an error status (or an empty used entry), never stop the device. Last, a
 * descriptor outside guest memory: the backend stops serving that ring (no completion),
 * and after a device reset the disk works again. The host's test checks that the backend
 * is still running.
 */
#include "blk.h"

const char test_title[] = "blk_hostile: malformed and forbidden requests get errors, the backend survives";

#define HUGE_SEG (128u * 1024u)
static uint8_t seg[HUGE_SEG] __attribute__((aligned(4096)));
static uint8_t buf[4096] __attribute__((aligned(4096)));

static bool expect(const char *what, int got, int want)
{
    printf("blk_hostile: %s: status %d\n", what, got);
    if (got != want) {
        test_fail("%s: status %d, expected %d", what, got, want);
        return false;
    }
    return true;
}

static bool huge_request(void)
{
    static struct vblk_hdr hdr = {.type = VBLK_T_IN};
    static volatile uint8_t status;
    struct virtq_buf b[42];
    b[0] = (struct virtq_buf){&hdr, sizeof(hdr)};
    for (unsigned i = 1; i <= 40; i++)
        b[i] = (struct virtq_buf){seg, HUGE_SEG}; /* 5 MiB, the same buffer 40 times */
    status = 0xff;
    b[41] = (struct virtq_buf){(void *)&status, 1};
    uint32_t used;
    if (vblk_post(b, 1, 41, &used) < 0)
        return expect("5 MiB read", -1, VBLK_S_IOERR);
    return expect("5 MiB read", status, VBLK_S_IOERR);
}

static bool no_status(void)
{
    static struct vblk_hdr hdr = {.type = VBLK_T_IN};
    struct virtq_buf b[1] = {{&hdr, sizeof(hdr)}};
    uint32_t used = 99;
    if (vblk_post(b, 1, 0, &used) < 0) {
        test_fail("a chain without a status byte was never given back");
        return false;
    }
    printf("blk_hostile: chain without a status byte: given back, %u bytes used\n", used);
    if (used != 0) {
        test_fail("a chain without a status byte: %u bytes used", used);
        return false;
    }
    return true;
}

static bool read_only_checks(void)
{
    static struct {
        uint64_t sector;
        uint32_t num, flags;
    } range = {0, 1, 0};
    return expect("write to a read-only disk", vblk_request(VBLK_T_OUT, 0, buf, 512), VBLK_S_IOERR) &&
           expect("discard on a read-only disk", vblk_request(VBLK_T_DISCARD, 0, &range, 16), VBLK_S_UNSUPP) &&
           expect("write-zeroes on a read-only disk", vblk_request(VBLK_T_WRITE_ZEROES, 0, &range, 16),
                  VBLK_S_UNSUPP);
}

/* A descriptor outside guest memory: the ring stops (no completion within a second); a
 * device reset and a new driver setup bring the disk back. */
static bool bad_descriptor(void)
{
    static struct vblk_hdr hdr = {.type = VBLK_T_IN};
    static volatile uint8_t status;
    struct virtq_buf b[3] = {{&hdr, sizeof(hdr)}, {(void *)0x7ff000000000ull, 512}, {(void *)&status, 1}};
    struct virtqueue *vq = vblk_queue();
    if (virtq_add(vq, b, 1, 2) < 0) {
        test_fail("could not post");
        return false;
    }
    virtq_kick(vq);
    uint32_t used;
    int got = virtq_wait_used(vq, &used, 1000000);
    printf("blk_hostile: descriptor outside guest memory: %s\n",
           got < 0 ? "no completion (the ring stopped)" : "completed");
    if (!vblk_init(false)) {
        test_fail("the device did not come back after a reset");
        return false;
    }
    return expect("read after the reset", vblk_request(VBLK_T_IN, 0, buf, 512), VBLK_S_OK);
}

void test_main(void)
{
    if (!vblk_test_start(false))
        return;
    uint64_t n = vblk_sectors();
    printf("blk_hostile: %lu sectors%s\n", (unsigned long)n, vblk_readonly() ? ", read-only" : "");
    if (!expect("read at the last sector", vblk_request(VBLK_T_IN, n - 1, buf, 512), VBLK_S_OK) ||
        !expect("read past the end", vblk_request(VBLK_T_IN, n, buf, 512), VBLK_S_IOERR) ||
        !expect("read across the end", vblk_request(VBLK_T_IN, n - 1, buf, 1024), VBLK_S_IOERR) ||
        !expect("sector number overflowing", vblk_request(VBLK_T_IN, ~0ull - 1, buf, 1024), VBLK_S_IOERR) ||
        !expect("300-byte read", vblk_request(VBLK_T_IN, 0, buf, 300), VBLK_S_IOERR) ||
        !expect("unknown type 77", vblk_request(77, 0, buf, 512), VBLK_S_UNSUPP) || !huge_request() ||
        !no_status())
        return;
    if (vblk_readonly() && !read_only_checks())
        return;
    if (!bad_descriptor())
        return;
    test_pass();
}
