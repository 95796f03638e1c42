/*
 * memory: checks that RAM the memory map reports is really there, distinct and writable,
 * including RAM above 4 GiB. A sample of pages is taken: 256 spread evenly over all RAM
 * pages plus the first and last page of every RAM range. Pages holding the kernel image
 * (code, data, stacks, page tables) or boot information are left out. Every sampled page
 * is filled with a pattern derived from its address, then all are verified (so two
 * addresses backed by the same host page would be caught), then the same with the
 * pattern inverted (so stuck bits show). PASS when every sampled page verifies.
 */
#include "runtime.h"

const char test_title[] = "memory: write and verify pages across all RAM";

#define SPREAD     256
#define MAX_PAGES  (SPREAD + 2 * ARRAY_SIZE(boot_info.memmap))

static uint64_t pages[MAX_PAGES];
static unsigned nr_pages, nr_skipped;

static bool overlaps(uint64_t page, uint64_t start, uint64_t end)
{
    return page < end && start < page + PAGE_SIZE;
}

static bool reserved(uint64_t page)
{
    if (overlaps(page, (uintptr_t)_kernel_start, (uintptr_t)_kernel_end))
        return true;
    for (unsigned i = 0; i < boot_info.nr_boot_ranges; i++)
        if (overlaps(page, boot_info.boot_ranges[i].start, boot_info.boot_ranges[i].end))
            return true;
    return false;
}

/* Whole pages of a RAM entry, clipped to what the identity map covers. */
static bool ram_pages(const struct memmap_entry *e, uint64_t *first, uint64_t *end)
{
    uint64_t lim = paging_mapped_top();

    if (e->type != E820_RAM)
        return false;
    *first = (e->addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    *end = MIN((e->addr + e->size) & ~(PAGE_SIZE - 1), lim);
    return *first < *end;
}

static void add_page(uint64_t page)
{
    for (unsigned i = 0; i < nr_pages; i++)
        if (pages[i] == page)
            return;
    if (reserved(page)) {
        nr_skipped++;
        return;
    }
    if (nr_pages < MAX_PAGES)
        pages[nr_pages++] = page;
}

static uint64_t pattern(uint64_t page)
{
    return (page * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a5a5a5a5a5a5aULL;
}

static void fill(uint64_t page, uint64_t v)
{
    void *p = (void *)(uintptr_t)page;
    uint64_t n = PAGE_SIZE / 8;

    __asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(v) : "memory");
}

static bool verify(uint64_t page, uint64_t v)
{
    const void *p = (const void *)(uintptr_t)page;
    uint64_t n = PAGE_SIZE / 8;
    bool equal;

    /* repe scasq stops at the first qword that differs from v; ZF tells which. */
    __asm__ volatile("repe scasq" : "+D"(p), "+c"(n), "=@ccz"(equal) : "a"(v) : "memory");
    return equal;
}

static unsigned run_pass(uint64_t invert)
{
    unsigned bad = 0;

    for (unsigned i = 0; i < nr_pages; i++)
        fill(pages[i], pattern(pages[i]) ^ invert);
    for (unsigned i = 0; i < nr_pages; i++) {
        if (!verify(pages[i], pattern(pages[i]) ^ invert)) {
            if (bad++ < 8)
                printf("memory: page %#lx does not hold what was written\n", pages[i]);
        }
    }
    return bad;
}

void test_main(void)
{
    uint64_t total = 0, seen = 0, first, end, t0, lowest = ~0ULL, highest = 0;
    unsigned ranges = 0, bad;

    if (!boot_info.nr_memmap) {
        test_skip("no memory map in hvm_start_info (version %u)", boot_info.version);
        return;
    }
    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (e->type == E820_RAM)
            printf("memory: RAM %#012lx-%#012lx (%lu KiB)\n", e->addr, e->addr + e->size - 1,
                   e->size >> 10);
        if (ram_pages(e, &first, &end)) {
            total += (end - first) / PAGE_SIZE;
            ranges++;
        }
    }
    if (pvh_ram_top() > paging_mapped_top())
        printf("memory: RAM above %#lx is not mapped and not tested\n", paging_mapped_top());

    /* Sample k lands on RAM page floor((k + 1/2) * total / SPREAD), counting pages across
     * the ranges in map order. */
    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (!ram_pages(e, &first, &end))
            continue;
        add_page(first);
        add_page(end - PAGE_SIZE);
        for (unsigned k = 0; k < SPREAD; k++) {
            uint64_t g = ((uint64_t)k * 2 + 1) * total / (2 * SPREAD);

            if (g >= seen && g < seen + (end - first) / PAGE_SIZE)
                add_page(first + (g - seen) * PAGE_SIZE);
        }
        seen += (end - first) / PAGE_SIZE;
    }

    for (unsigned i = 0; i < nr_pages; i++) {
        lowest = MIN(lowest, pages[i]);
        highest = MAX(highest, pages[i]);
    }
    t0 = rdtsc();
    bad = run_pass(0) + run_pass(~0ULL);
    printf("memory: %u pages (%u KiB) sampled over %lu MiB of RAM in %u ranges, %u reserved "
           "pages skipped, lowest %#lx, highest %#lx (%lu ms)\n",
           nr_pages, nr_pages * 4, total >> 8, ranges, nr_skipped, lowest, highest,
           tsc_to_us(rdtsc() - t0) / 1000);
    if (bad)
        test_fail("%u of %u pages failed", bad, nr_pages);
    else if (!nr_pages)
        test_fail("no RAM pages to test");
    else
        test_pass();
}
