/*
 * spin: burns CPU on every vCPU until the host powers it off (xenctl shutdown, or a
 * destroy). vCPU 0 prints a heartbeat line about once a second of TSC time with the loops
 * every vCPU made in that second, so the share of a CPU the guest gets can be read off its
 * console as well as measured on the host (bench/sched, tests/integration/sched.sh). It
 * never prints a result line by itself: a power-off request ends it.
 */
#include "runtime.h"

const char test_title[] = "spin: burns CPU on every vCPU until powered off";

static volatile uint64_t loops[MAX_CPUS];

static void burn(unsigned index)
{
    for (;;)
        loops[index]++;
}

void test_main(void)
{
    uint64_t last[MAX_CPUS] = {0}, t0, beat = 0;
    unsigned n = smp_cpu_count();
    bool clock;

    irq_init(); /* the host's power-off request (IRQ 9) ends us */
    clock = timer_init();
    if (n > MAX_CPUS)
        n = MAX_CPUS;
    if (n > 1 && clock)
        n = 1 + smp_start_aps(burn);
    else
        n = 1;
    printf("spin: burning %u vCPU%s until powered off\n", n, n == 1 ? "" : "s");
    t0 = rdtsc();
    for (;;) {
        loops[0]++;
        if (loops[0] % 4096)
            continue;
        /* Without a clock, a heartbeat every 2^20 loops instead of every second. */
        if (clock ? tsc_to_us(rdtsc() - t0) < 1000000 : loops[0] % (1u << 20))
            continue;
        t0 = rdtsc();
        beat++;
        printf("spin: heartbeat %lu:", beat);
        for (unsigned i = 0; i < n; i++) {
            uint64_t now = loops[i];
            printf(" vcpu%u=%lu", i, now - last[i]);
            last[i] = now;
        }
        printf("\n");
    }
}
