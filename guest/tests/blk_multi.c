/*
 * blk_multi: every virtio-blk disk over all of its queues at once. Each disk gets a pattern
 * of its own (blk_rw's, shifted by the disk's number, so disk 0's is blk_rw's and a write
 * that lands on the wrong disk is seen), written chunk by chunk with one request in flight
 * on every queue of every disk at the same time, flushed, then read back with each chunk
 * going through a different queue than the one that wrote it, and verified. At least two
 * disks are needed. The host's test may kill the backend while this runs: requests wait for
 * the restarted one (VBLK_TIMEOUT_US).
 */
#include "blk.h"

const char test_title[] = "blk_multi: patterns on every disk over every queue at once";

#define CHUNK (8u * 1024u)
#define CHUNK_SECTORS (CHUNK / VBLK_SECTOR)

static uint8_t buf[VBLK_MAX_DISKS][VBLK_MAX_QUEUES][CHUNK] __attribute__((aligned(4096)));
static uint64_t at[VBLK_MAX_DISKS][VBLK_MAX_QUEUES]; /* the sector each slot's request is at */

static uint8_t pattern(unsigned disk, uint64_t sector, unsigned i)
{
    return (uint8_t)(sector * 131u + i * 7u + (i >> 8) + 0x5a + disk * 0x3bu);
}

static void fill(unsigned disk, uint8_t *p, uint64_t sector, unsigned nsec)
{
    for (unsigned s = 0; s < nsec; s++)
        for (unsigned i = 0; i < VBLK_SECTOR; i++)
            p[s * VBLK_SECTOR + i] = pattern(disk, sector + s, i);
}

static unsigned chunk_sectors(unsigned disk, uint64_t sector)
{
    return (unsigned)MIN((uint64_t)CHUNK_SECTORS, vblk_disk_sectors(disk) - sector);
}

/* Compares what (disk, queue) read at at[disk][queue] with the pattern. */
static bool verify(unsigned disk, unsigned queue)
{
    uint64_t sector = at[disk][queue];
    unsigned nsec = chunk_sectors(disk, sector);
    const uint8_t *p = buf[disk][queue];
    for (unsigned i = 0; i < nsec * VBLK_SECTOR; i++) {
        uint8_t want = pattern(disk, sector + i / VBLK_SECTOR, i % VBLK_SECTOR);
        if (p[i] != want) {
            test_fail("disk %u queue %u: sector %lu byte %u: read %#x, want %#x", disk, queue,
                      (unsigned long)(sector + i / VBLK_SECTOR), i % VBLK_SECTOR, p[i], want);
            return false;
        }
    }
    return true;
}

/* One pass over every disk: chunk c of a disk goes through queue (c + shift) % queues, a
 * round puts one chunk on every queue of every disk, then waits for all of them. */
static bool pass(bool write, unsigned shift)
{
    unsigned ndisks = vblk_disk_count();
    uint64_t next[VBLK_MAX_DISKS] = {0};
    for (bool more = true; more;) {
        more = false;
        bool started[VBLK_MAX_DISKS][VBLK_MAX_QUEUES] = {{false}};
        for (unsigned d = 0; d < ndisks; d++) {
            unsigned nq = vblk_disk_queues(d);
            for (unsigned k = 0; k < nq && next[d] < vblk_disk_sectors(d); k++) {
                uint64_t sector = next[d];
                unsigned q = (unsigned)((sector / CHUNK_SECTORS + shift) % nq), nsec = chunk_sectors(d, sector);
                next[d] += nsec;
                at[d][q] = sector;
                if (write)
                    fill(d, buf[d][q], sector, nsec);
                else
                    memset(buf[d][q], 0, CHUNK);
                if (!vblk_start(d, q, write ? VBLK_T_OUT : VBLK_T_IN, sector, buf[d][q], nsec * VBLK_SECTOR)) {
                    test_fail("disk %u queue %u: cannot post at sector %lu", d, q, (unsigned long)sector);
                    return false;
                }
                started[d][q] = true;
            }
            more |= next[d] < vblk_disk_sectors(d);
        }
        for (unsigned d = 0; d < ndisks; d++)
            for (unsigned q = 0; q < vblk_disk_queues(d); q++) {
                if (!started[d][q])
                    continue;
                int st = vblk_finish(d, q);
                if (st != VBLK_S_OK) {
                    test_fail("disk %u queue %u: %s at sector %lu: status %d", d, q, write ? "write" : "read",
                              (unsigned long)at[d][q], st);
                    return false;
                }
                if (!write && !verify(d, q))
                    return false;
            }
    }
    return true;
}

void test_main(void)
{
    unsigned n = vblk_test_start_all(true);
    if (n == 0)
        return;
    for (unsigned d = 0; d < n; d++)
        printf("blk_multi: disk %u: %lu sectors, %u queue(s)%s\n", d, (unsigned long)vblk_disk_sectors(d),
               vblk_disk_queues(d), vblk_disk_readonly(d) ? ", read-only" : "");
    if (n < 2) {
        test_fail("%u disk(s): at least two are needed", n);
        return;
    }
    for (unsigned d = 0; d < n; d++)
        if (vblk_disk_readonly(d) || vblk_disk_sectors(d) == 0) {
            test_fail("disk %u: a writable disk of at least one sector is needed", d);
            return;
        }
    if (!pass(true, 0))
        return;
    printf("blk_multi: written\n");
    for (unsigned d = 0; d < n; d++) {
        /* On the last queue: every write has completed, so a flush on any queue covers them all. */
        int st = vblk_request_on(d, vblk_disk_queues(d) - 1, VBLK_T_FLUSH, 0, NULL, 0);
        if (st != VBLK_S_OK) {
            test_fail("disk %u: flush: status %d", d, st);
            return;
        }
    }
    if (!pass(false, 1))
        return;
    printf("blk_multi: verified %u disks\n", n);
    test_pass();
}
