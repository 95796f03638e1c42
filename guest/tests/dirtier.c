/*
 * dirtier: a guest for live migration (docs/migration.md). It keeps rewriting a working
 * set of pages and checks, before each rewrite, that every page still holds what it wrote
 * there on the previous pass: a page a migration lost or sent stale shows up as a
 * mismatch. Command line (all optional):
 *     ws=PAGES    the working set, in 4 KiB pages from 16 MiB up (default 256)
 *     pace=TICKS  timer ticks (100 Hz) to wait between passes; 0: back to back (default 0)
 *     cold=PAGES  pages after the working set written once at the start and checked at
 *                 the end: memory the guest touched but does not keep dirtying (default 0)
 *     secs=S      how long to run (default 20), then the final check and the result
 * Prints "dirtier: pass=N ticks=T pages=W" about twice a second; PASS at the end if no
 * page ever mismatched, FAIL at the first mismatch.
 */
#include "runtime.h"

const char test_title[] = "dirtier: rewrite a working set and verify it across a live migration";

#define HZ 100
#define WS_BASE 0x1000000UL /* 16 MiB: above the kernel and the boot information */
#define LAST_WORD (PAGE_SIZE / 8 - 1)

static uint64_t pattern(uint64_t pass, uint64_t page)
{
    if (pass == 0)
        return 0; /* RAM the guest never wrote is zero */
    uint64_t x = pass * 0x9e3779b97f4a7c15ULL ^ (page + 1) * 0xc2b2ae3d27d4eb4fULL;
    x ^= x >> 31;
    return x | 1;
}

static uint64_t arg(const char *name, uint64_t def)
{
    const char *s = boot_info.cmdline;
    size_t n = strlen(name);
    for (; *s; s++) {
        if ((s == boot_info.cmdline || s[-1] == ' ') && !strncmp(s, name, n) && s[n] == '=')
            return strtoul(s + n + 1, NULL, 10);
    }
    return def;
}

void test_main(void)
{
    uint64_t ws = arg("ws", 256), pace = arg("pace", 0), secs = arg("secs", 20), cold = arg("cold", 0);
    uint64_t top = pvh_ram_top() < 0xC0000000UL ? pvh_ram_top() : 0xC0000000UL;
    if ((uintptr_t)_kernel_end > WS_BASE) {
        test_fail("the kernel reaches past %#lx", WS_BASE);
        return;
    }
    if (ws == 0 || ws + cold > (top - WS_BASE) / PAGE_SIZE) {
        test_fail("%lu + %lu pages do not fit between 16 MiB and the end of low RAM (%#lx)", ws, cold, top);
        return;
    }
    for (unsigned i = 0; i < boot_info.nr_boot_ranges; i++) {
        if (boot_info.boot_ranges[i].end > WS_BASE &&
            boot_info.boot_ranges[i].start < WS_BASE + (ws + cold) * PAGE_SIZE) {
            test_fail("boot information at %#lx overlaps the working set", boot_info.boot_ranges[i].start);
            return;
        }
    }
    irq_init();
    if (!timer_init()) {
        test_skip("no clock source");
        return;
    }
    timer_start_periodic(HZ);
    volatile uint64_t *cold_base = (volatile uint64_t *)(WS_BASE + ws * PAGE_SIZE);
    for (uint64_t p = 0; p < cold; p++)
        cold_base[p * (PAGE_SIZE / 8)] = cold_base[p * (PAGE_SIZE / 8) + LAST_WORD] = pattern(~0ULL, p);
    printf("dirtier: %lu pages from %#lx (and %lu cold), pace %lu ticks, %lu s\n", ws, WS_BASE, cold, pace, secs);
    uint64_t pass = 0, start = timer_ticks(), last_print = start, next = start;
    for (;;) {
        uint64_t now = timer_ticks();
        if (now - start >= secs * HZ)
            break;
        if (pace && now < next) {
            __asm__ volatile("hlt");
            continue;
        }
        next = now + pace;
        pass++;
        for (uint64_t p = 0; p < ws; p++) {
            volatile uint64_t *w = (volatile uint64_t *)(WS_BASE + p * PAGE_SIZE);
            uint64_t want = pattern(pass - 1, p);
            if (w[0] != want || w[LAST_WORD] != want) {
                printf("dirtier: mismatch in page %lu (%#lx) on pass %lu: %#lx/%#lx, expected %#lx\n", p,
                       WS_BASE + p * PAGE_SIZE, pass, w[0], w[LAST_WORD], want);
                test_fail("working set mismatch");
                return;
            }
            w[0] = w[LAST_WORD] = pattern(pass, p);
        }
        if (now - last_print >= HZ / 2) {
            last_print = now;
            printf("dirtier: pass=%lu ticks=%lu pages=%lu\n", pass, now - start, ws);
        }
    }
    for (uint64_t p = 0; p < ws; p++) {
        volatile uint64_t *w = (volatile uint64_t *)(WS_BASE + p * PAGE_SIZE);
        if (w[0] != pattern(pass, p) || w[LAST_WORD] != pattern(pass, p)) {
            printf("dirtier: mismatch in page %lu at the end (pass %lu)\n", p, pass);
            test_fail("working set mismatch at the end");
            return;
        }
    }
    for (uint64_t p = 0; p < cold; p++) {
        uint64_t want = pattern(~0ULL, p);
        if (cold_base[p * (PAGE_SIZE / 8)] != want || cold_base[p * (PAGE_SIZE / 8) + LAST_WORD] != want) {
            printf("dirtier: mismatch in cold page %lu at the end\n", p);
            test_fail("cold memory mismatch at the end");
            return;
        }
    }
    printf("dirtier: done: %lu passes over %lu pages, all verified (and %lu cold pages)\n", pass, ws, cold);
    test_pass();
}
