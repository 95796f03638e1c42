/*
 * balloon_obey: a guest that uses most of its RAM, then follows the host's balloon target
 * down and up, for the memory-target tests (tests/integration/balloon.sh).
 *
 * It writes one word in each page of 3/4 of its RAM (so the host really allocates it),
 * returns those pages to its pool as free-but-dirty memory, starts the balloon (statistics
 * and free page reporting) and prints "balloon_obey: ready". Then, whenever the host
 * changes the target (a configuration interrupt), it inflates (giving the host the dirty
 * pages at the top of its pool) or deflates (and uses the pages it gets back, writing each
 * one, as a guest that was short of memory would). Console commands:
 *   grow    take the whole balloon back on its own and use the pages, ignoring the target
 *           from then on (a guest that deflates under "memory pressure": the host must
 *           notice the regrowth and enforce)
 *   obey    follow the target again
 *   report  free page reporting: hand every free run of 2 MiB or more to the host
 *   quit    PASS (if the device never failed) and power off
 * A power-off request from the host is obeyed (the runtime's handler).
 */
#include "runtime.h"

const char test_title[] = "balloon_obey: follows the balloon target";

#define REPORT_MIN_PAGES 512 /* 2 MiB */

static uint64_t touched, changes;
static bool ignoring;

/* Writes a word in each page: the host must allocate it. A few instructions per page. */
static void touch_run(uint64_t pfn, uint64_t n, void *ctx)
{
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(pfn * PAGE_SIZE);
    (void)ctx;
    for (uint64_t i = 0; i < n; i++, p += PAGE_SIZE / 8)
        *p = pfn + i;
    touched += n;
}

/* Uses `pages` pages of the pool (from its top) and gives them back, dirty. */
static void touch_pool(uint64_t pages)
{
    struct {
        uint64_t pfn, n;
    } runs[64];
    unsigned nr = 0;
    while (pages && nr < ARRAY_SIZE(runs)) {
        uint64_t pfn, k = page_pool_take(pages, &pfn);
        if (!k)
            break;
        touch_run(pfn, k, NULL);
        runs[nr].pfn = pfn;
        runs[nr++].n = k;
        pages -= k;
    }
    while (nr--)
        page_pool_give(runs[nr].pfn, runs[nr].n);
}

static uint64_t ms_since(uint64_t t0)
{
    return tsc_to_us(rdtsc() - t0) / 1000;
}

static void follow(void)
{
    uint64_t t0 = rdtsc();
    uint32_t target = vballoon_target();
    int64_t moved = vballoon_follow(touch_run, NULL);
    vballoon_set_stat(VIRTIO_BALLOON_S_MINFLT, touched);
    changes++;
    printf("balloon_obey: target %u pages: %s %lu pages in %lu ms; balloon %lu pages, %lu MiB free\n", target,
           moved >= 0 ? "inflated" : "deflated (and used)", (unsigned long)(moved >= 0 ? moved : -moved),
           (unsigned long)ms_since(t0), (unsigned long)vballoon_pages(),
           (unsigned long)(page_pool_free() * PAGE_SIZE >> 20));
}

static bool command(const char *cmd)
{
    if (!strcmp(cmd, "grow")) {
        uint64_t t0 = rdtsc(), n = vballoon_deflate(vballoon_pages(), touch_run, NULL);
        ignoring = true;
        printf("balloon_obey: grew: took back %lu pages and used them in %lu ms; ignoring the target now\n",
               (unsigned long)n, (unsigned long)ms_since(t0));
    } else if (!strcmp(cmd, "obey")) {
        ignoring = false;
        printf("balloon_obey: obeying the target again\n");
        follow();
    } else if (!strcmp(cmd, "report")) {
        uint64_t t0 = rdtsc(), n = vballoon_report_free(REPORT_MIN_PAGES);
        printf("balloon_obey: reported %lu free pages (%lu MiB) in %lu ms\n", (unsigned long)n,
               (unsigned long)(n * PAGE_SIZE >> 20), (unsigned long)ms_since(t0));
    } else if (!strcmp(cmd, "quit")) {
        return false;
    } else if (cmd[0]) {
        printf("balloon_obey: unknown command '%s' (grow, obey, report, quit)\n", cmd);
    }
    return true;
}

void test_main(void)
{
    char line[64];
    unsigned len = 0;

    irq_init();
    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    timer_start_periodic(100); /* bounds each hlt while waiting for the device */
    console_input_init();
    page_pool_init();

    uint64_t want = pvh_ram_bytes() / PAGE_SIZE * 3 / 4, t0 = rdtsc();
    touch_pool(MIN(want, page_pool_free()));
    printf("balloon_obey: %lu MiB of RAM, %lu MiB in the pool; touched %lu MiB in %lu ms\n",
           (unsigned long)(pvh_ram_bytes() >> 20), (unsigned long)(page_pool_total() * PAGE_SIZE >> 20),
           (unsigned long)(touched * PAGE_SIZE >> 20), (unsigned long)ms_since(t0));

    if (!vballoon_init((1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING), true)) {
        test_fail("no usable virtio-balloon device");
        return;
    }
    struct virtio_device *d = vballoon_device();
    printf("balloon_obey: balloon at %#lx, pin %u, features %#lx; ready\n", (unsigned long)d->base, d->gsi,
           (unsigned long)d->features);
    follow();

    for (;;) {
        if (vballoon_poll() && !ignoring)
            follow();
        if (!vballoon_ok()) {
            test_fail("the balloon device failed (status %#x)", virtio_status(d));
            return;
        }
        int c;
        while ((c = console_trygetc()) >= 0) {
            if (c == '\r' || c == '\n') {
                line[len] = '\0';
                len = 0;
                if (!command(line)) {
                    printf("balloon_obey: followed %lu targets; balloon %lu pages\n", (unsigned long)changes,
                           (unsigned long)vballoon_pages());
                    test_pass();
                    return;
                }
            } else if (len + 1 < sizeof(line)) {
                line[len++] = (char)c;
            }
        }
        cli();
        if (!d->isr_seen && !console_input_ready())
            sti_hlt(); /* the device, the console or the periodic tick wakes us */
        else
            sti();
    }
}
