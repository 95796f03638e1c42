/*
 * blk_flush: a write acknowledged after a flush is on the host's disk. Writes 64 KiB at
 * sector 100 (the same pattern as blk_rw's, so the host checks it the same way), flushes,
 * says "blk_flush: flushed" and waits to be killed: the host's test then kills the backend
 * and the monitor with SIGKILL and reads the image file.
 */
#include "blk.h"

const char test_title[] = "blk_flush: a flushed write survives kill -9 of the backend and the monitor";

#define FIRST 100u
#define NSEC 128u

static uint8_t wbuf[NSEC * VBLK_SECTOR] __attribute__((aligned(4096)));

void test_main(void)
{
    if (!vblk_test_start(true))
        return;
    for (unsigned s = 0; s < NSEC; s++)
        for (unsigned i = 0; i < VBLK_SECTOR; i++)
            wbuf[s * VBLK_SECTOR + i] = (uint8_t)((FIRST + s) * 131u + i * 7u + (i >> 8) + 0x5a);
    int st = vblk_request(VBLK_T_OUT, FIRST, wbuf, sizeof(wbuf));
    if (st != VBLK_S_OK) {
        test_fail("write: status %d", st);
        return;
    }
    st = vblk_request(VBLK_T_FLUSH, 0, NULL, 0);
    if (st != VBLK_S_OK) {
        test_fail("flush: status %d", st);
        return;
    }
    printf("blk_flush: flushed\n");
    for (;;)
        sti_hlt(); /* until the host kills the monitor */
}
