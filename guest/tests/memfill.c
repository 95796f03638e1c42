/*
 * memfill: fills a share of its RAM with a non-zero pattern, then idles, for the snapshot
 * benchmark (bench/snapshot) and the lazy-restore tests (tests/integration/snapshot.sh).
 *
 * Command line: "fill=PCT" (default 10) is the share of RAM taken from the page pool and
 * written: eight words spread over each page (one per 512 bytes), so every filled page is
 * non-zero and is saved whole, while the guest spends few (slow, emulated) instructions per
 * page. It prints
 *     memfill: filled N pages (M MiB) in T ms
 * and then idles in hlt. With "verify" on the command line it instead checks every filled
 * word again, pass after pass, without pause (a guest that touches all its memory at once
 * after a restore), printing "memfill: pass P ok" every pass and failing on a mismatch.
 * Console: "verify" checks once now and prints the result; "quit" checks, prints PASS and
 * powers off.
 */
#include "runtime.h"

const char test_title[] = "memfill: fill a share of RAM with a pattern, then idle (or verify it)";

#define WORDS_PER_PAGE 8
#define MAX_RUNS 256

static struct {
    uint64_t pfn, n;
} runs[MAX_RUNS];
static unsigned nruns;
static uint64_t filled;

static uint64_t pattern(uint64_t pfn, unsigned k)
{
    uint64_t x = pfn * WORDS_PER_PAGE + k + 0x9e3779b97f4a7c15ULL;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return x | 1; /* never zero */
}

/* Whether the command line has the word `w` (alone or as "w=..."); *val: what follows '='. */
static bool arg(const char *cmdline, const char *w, const char **val)
{
    size_t n = strlen(w);
    for (const char *s = cmdline; *s; s++)
        if ((s == cmdline || s[-1] == ' ') && !strncmp(s, w, n) && (s[n] == 0 || s[n] == ' ' || s[n] == '=')) {
            if (val)
                *val = s[n] == '=' ? s + n + 1 : "";
            return true;
        }
    return false;
}

static uint64_t arg_pct(const char *cmdline)
{
    const char *v;
    if (!arg(cmdline, "fill", &v))
        return 10;
    unsigned long pct = strtoul(v, NULL, 10);
    return pct >= 1 && pct <= 90 ? pct : 10;
}

static void fill(uint64_t pages)
{
    while (pages && nruns < MAX_RUNS) {
        uint64_t pfn, n = page_pool_take(pages, &pfn);
        if (!n)
            break;
        for (uint64_t i = 0; i < n; i++) {
            volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)((pfn + i) * PAGE_SIZE);
            for (unsigned k = 0; k < WORDS_PER_PAGE; k++)
                w[k * (512 / 8)] = pattern(pfn + i, k);
        }
        runs[nruns].pfn = pfn;
        runs[nruns++].n = n;
        filled += n;
        pages -= n;
    }
}

/* The first mismatching page, or 0 when all are intact. From the highest page down (the
 * pool gave the runs top first): the opposite of a lazy restore's background fill, so a
 * check right after a restore meets pages the fill has not reached. */
static uint64_t check(void)
{
    for (unsigned r = 0; r < nruns; r++)
        for (uint64_t pfn = runs[r].pfn + runs[r].n; pfn-- > runs[r].pfn;) {
            volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)(pfn * PAGE_SIZE);
            for (unsigned k = 0; k < WORDS_PER_PAGE; k++)
                if (w[k * (512 / 8)] != pattern(pfn, k))
                    return pfn;
        }
    return 0;
}

static bool verify_now(const char *when)
{
    uint64_t bad = check();
    if (bad) {
        printf("memfill: mismatch in page 0x%lx (%s)\n", (unsigned long)bad, when);
        test_fail("pattern mismatch");
        return false;
    }
    return true;
}

void test_main(void)
{
    char line[64];
    unsigned len = 0;
    const char *cmdline = boot_info.cmdline ? boot_info.cmdline : "";
    bool verify = arg(cmdline, "verify", NULL);

    irq_init();
    console_input_init();
    page_pool_init();
    uint64_t want = pvh_ram_bytes() / PAGE_SIZE * arg_pct(cmdline) / 100, t0 = rdtsc();
    fill(MIN(want, page_pool_free()));
    printf("memfill: filled %lu pages (%lu MiB) in %lu ms\n", (unsigned long)filled,
           (unsigned long)(filled * PAGE_SIZE >> 20), (unsigned long)(tsc_to_us(rdtsc() - t0) / 1000));
    for (uint64_t pass = 1;; pass++) {
        if (verify) {
            if (!verify_now("continuous check"))
                return;
            printf("memfill: pass %lu ok\n", (unsigned long)pass);
        }
        int c;
        while ((c = console_trygetc()) >= 0) {
            if (c != '\r' && c != '\n') {
                if (len < sizeof(line) - 1)
                    line[len++] = (char)c;
                continue;
            }
            line[len] = 0;
            len = 0;
            if (!strcmp(line, "verify") && verify_now("on request"))
                printf("memfill: verified %lu pages\n", (unsigned long)filled);
            if (!strcmp(line, "quit")) {
                if (verify_now("at quit"))
                    test_pass();
                return;
            }
        }
        if (!verify)
            sti_hlt();
    }
}
