/*
 * balloon_ignore: a guest that uses most of its RAM and never gives any back. Its balloon
 * driver starts (statistics too) but ignores the target: the host's memory-target
 * enforcement must catch it (tests/integration/balloon.sh). It prints
 * "balloon_ignore: ready" once its memory is in use, one line per target it ignores, and
 * ends with PASS on the console command `quit`; a power-off request is obeyed.
 */
#include "runtime.h"

const char test_title[] = "balloon_ignore: keeps its memory whatever the target";

void test_main(void)
{
    char line[64];
    unsigned len = 0, ignored = 0;

    irq_init();
    console_input_init();
    page_pool_init();

    /* Use 3/4 of RAM: take the pages and write a word in each, and keep them. */
    uint64_t want = pvh_ram_bytes() / PAGE_SIZE * 3 / 4, used = 0;
    while (used < want) {
        uint64_t pfn, k = page_pool_take(want - used, &pfn);
        if (!k)
            break;
        volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(pfn * PAGE_SIZE);
        for (uint64_t i = 0; i < k; i++, p += PAGE_SIZE / 8)
            *p = pfn + i;
        used += k;
    }
    if (!vballoon_init(1ULL << VIRTIO_BALLOON_F_STATS_VQ, true)) {
        test_fail("no usable virtio-balloon device");
        return;
    }
    struct virtio_device *d = vballoon_device();
    printf("balloon_ignore: using %lu MiB of %lu MiB; ready\n", (unsigned long)(used * PAGE_SIZE >> 20),
           (unsigned long)(pvh_ram_bytes() >> 20));

    for (;;) {
        if (vballoon_poll()) {
            ignored++;
            printf("balloon_ignore: target %u pages: ignored\n", vballoon_target());
        }
        int c;
        while ((c = console_trygetc()) >= 0) {
            if (c == '\r' || c == '\n') {
                line[len] = '\0';
                len = 0;
                if (!strcmp(line, "quit")) {
                    printf("balloon_ignore: ignored %u targets\n", ignored);
                    test_pass();
                    return;
                }
            } else if (len + 1 < sizeof(line)) {
                line[len++] = (char)c;
            }
        }
        cli();
        if (!d->isr_seen && !console_input_ready())
            sti_hlt();
        else
            sti();
    }
}
