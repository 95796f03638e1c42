/*
 * The identity map. entry.S maps 0-4 GiB at link time, which covers the kernel, low RAM
 * and the MMIO hole. RAM above 4 GiB (domains larger than 3 GiB) is added here from the
 * memory map, with 2 MiB pages in page directories taken from a static pool: one page per
 * GiB, up to 64 GiB of address space in all.
 */
#include "runtime.h"

#define GIB        (1ULL << 30)
#define MAX_MAP    (64 * GIB)
#define POOL_PAGES (MAX_MAP / GIB - BOOT_MAP_BYTES / GIB)

#define PTE_P  0x001ULL
#define PTE_RW 0x002ULL
#define PTE_PS 0x080ULL

extern uint64_t pdpt[512]; /* entry.S */

static uint64_t pd_pool[POOL_PAGES][512] __attribute__((aligned(4096), section(".bss.pagetables")));
static uint64_t mapped_top = BOOT_MAP_BYTES;

void paging_init(void)
{
    uint64_t top = pvh_ram_top();

    if (top <= mapped_top)
        return;
    if (top > MAX_MAP) {
        printf("paging: RAM reaches %lu MiB; only the first %llu GiB is mapped\n", top >> 20,
               MAX_MAP / GIB);
        top = MAX_MAP;
    }
    for (uint64_t gib = mapped_top / GIB; gib * GIB < top; gib++) {
        uint64_t *pd = pd_pool[gib - BOOT_MAP_BYTES / GIB];

        for (unsigned i = 0; i < 512; i++)
            pd[i] = (gib * GIB + ((uint64_t)i << 21)) | PTE_P | PTE_RW | PTE_PS;
        pdpt[gib] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_RW;
        mapped_top = (gib + 1) * GIB;
    }
    write_cr3(read_cr3()); /* flush any cached not-present paging-structure entries */
}

uint64_t paging_mapped_top(void)
{
    return mapped_top;
}
