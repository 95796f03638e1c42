/*
 * counter: a long-running guest for suspend and resume (docs/snapshot-format.md). It keeps
 * rewriting a memory region spread over several pages while keeping a running checksum of
 * it, counts LAPIC timer ticks (100 Hz), verifies the region against the checksum on every
 * tick (a mismatch prints FAIL and ends the test) and prints
 *     counter: ticks=N sum=0xS writes=W
 * about every 100 ms. The console line "quit" prints PASS and powers off. A snapshot taken
 * and resumed anywhere in between must leave the ticks increasing from where they were and
 * the checksum matching.
 */
#include "runtime.h"

const char test_title[] = "counter: rewrite memory under a checksum and count ticks; \"quit\" to finish";

#define HZ 100
#define PAGES 8
#define STRIDE 64 /* words: one word in every 512 bytes, 8 per page */
#define WORDS (PAGES * 4096 / 8 / STRIDE)

static uint64_t region[PAGES * 4096 / 8] __attribute__((aligned(4096)));

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint64_t region_sum(void)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < WORDS; i++)
        s += region[i * STRIDE];
    return s;
}

void test_main(void)
{
    char line[64];
    size_t len = 0;
    uint64_t sum = 0, writes = 0, last_tick, last_print = 0;

    irq_init();
    console_input_init();
    if (!timer_init()) {
        test_skip("no clock source");
        return;
    }
    timer_start_periodic(HZ);
    printf("counter: %u words over %u pages, %u Hz\n", WORDS, PAGES, HZ);
    last_tick = timer_ticks();
    for (;;) {
        uint64_t t = timer_ticks();
        if (t != last_tick) {
            last_tick = t;
            /* Verify, then rewrite a few words, keeping the checksum up to date. */
            uint64_t s = region_sum();
            if (s != sum) {
                printf("counter: checksum mismatch at tick %lu: memory 0x%lx, expected 0x%lx\n", t, s, sum);
                test_fail("checksum mismatch");
                return;
            }
            for (unsigned k = 0; k < 4; k++) {
                unsigned i = (unsigned)(writes % WORDS) * STRIDE;
                uint64_t v = mix(writes * 2654435761u + t);
                sum = sum - region[i] + v;
                region[i] = v;
                writes++;
            }
            if (t - last_print >= HZ / 10) {
                last_print = t;
                printf("counter: ticks=%lu sum=0x%lx writes=%lu\n", t, sum, writes);
            }
        }
        int c;
        while ((c = console_trygetc()) >= 0) {
            if (c == '\r' || c == '\n') {
                line[len] = 0;
                if (!strcmp(line, "quit")) {
                    printf("counter: quit at ticks=%lu writes=%lu\n", timer_ticks(), writes);
                    if (region_sum() != sum)
                        test_fail("checksum mismatch at quit");
                    else
                        test_pass();
                    return;
                }
                len = 0;
            } else if (len < sizeof(line) - 1) {
                line[len++] = (char)c;
            }
        }
        __asm__ volatile("hlt");
    }
}
