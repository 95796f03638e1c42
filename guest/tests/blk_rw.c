/*
 * blk_rw: a pattern over the whole virtio-blk disk, read back and verified. Every 512-byte
 * sector holds its own number and a seed from the kernel command line's position-dependent
 * bytes, so a misplaced, lost or repeated write is seen. Then a flush and the serial
 * (GET_ID). The host's test may kill the backend while this runs: requests wait for the
 * restarted one (VBLK_TIMEOUT_US).
 */
#include "blk.h"

const char test_title[] = "blk_rw: write a pattern over the whole disk, read it back";

#define CHUNK (32u * 1024u) /* within size_max * seg_max of any backend we use */

static uint8_t wbuf[CHUNK] __attribute__((aligned(4096)));
static uint8_t rbuf[CHUNK] __attribute__((aligned(4096)));

static uint8_t pattern(uint64_t sector, unsigned i)
{
    return (uint8_t)(sector * 131u + i * 7u + (i >> 8) + 0x5a);
}

static void fill(uint64_t sector, unsigned nsec)
{
    for (unsigned s = 0; s < nsec; s++)
        for (unsigned i = 0; i < VBLK_SECTOR; i++)
            wbuf[s * VBLK_SECTOR + i] = pattern(sector + s, i);
}

void test_main(void)
{
    if (!vblk_test_start(true))
        return;
    uint64_t n = vblk_sectors();
    printf("blk_rw: %lu sectors (%lu KiB), size_max %u, seg_max %u%s\n", (unsigned long)n, (unsigned long)(n / 2),
           vblk_size_max(), vblk_seg_max(), vblk_readonly() ? ", read-only" : "");
    if (n == 0 || vblk_readonly()) {
        test_fail("a writable disk of at least one sector is needed");
        return;
    }
    for (uint64_t s = 0; s < n; s += CHUNK / VBLK_SECTOR) {
        unsigned nsec = (unsigned)MIN((uint64_t)(CHUNK / VBLK_SECTOR), n - s);
        fill(s, nsec);
        int st = vblk_request(VBLK_T_OUT, s, wbuf, nsec * VBLK_SECTOR);
        if (st != VBLK_S_OK) {
            test_fail("write at sector %lu: status %d", (unsigned long)s, st);
            return;
        }
    }
    printf("blk_rw: written\n");
    int st = vblk_request(VBLK_T_FLUSH, 0, NULL, 0);
    if (st != VBLK_S_OK) {
        test_fail("flush: status %d", st);
        return;
    }
    for (uint64_t s = 0; s < n; s += CHUNK / VBLK_SECTOR) {
        unsigned nsec = (unsigned)MIN((uint64_t)(CHUNK / VBLK_SECTOR), n - s);
        memset(rbuf, 0, sizeof(rbuf));
        st = vblk_request(VBLK_T_IN, s, rbuf, nsec * VBLK_SECTOR);
        if (st != VBLK_S_OK) {
            test_fail("read at sector %lu: status %d", (unsigned long)s, st);
            return;
        }
        fill(s, nsec);
        for (unsigned i = 0; i < nsec * VBLK_SECTOR; i++)
            if (rbuf[i] != wbuf[i]) {
                test_fail("sector %lu byte %u: read %#x, wrote %#x", (unsigned long)(s + i / VBLK_SECTOR),
                          i % VBLK_SECTOR, rbuf[i], wbuf[i]);
                return;
            }
    }
    printf("blk_rw: verified %lu sectors\n", (unsigned long)n);
    char id[21] = {0};
    st = vblk_request(VBLK_T_GET_ID, 0, id, 20);
    printf("blk_rw: serial '%s' (status %d)\n", id, st);
    if (st != VBLK_S_OK)
        test_fail("GET_ID: status %d", st);
    else
        test_pass();
}
