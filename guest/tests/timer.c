/*
 * timer: the LAPIC timer in periodic mode at 100 Hz. Ticks are counted over about half a
 * second measured with the TSC; PASS when the rate is within 20% of 100 Hz. With our
 * monitor both frequencies come from CPUID 0x40000010, so this checks the two clocks the
 * hypervisor provides (and the interrupt path) against each other.
 */
#include "runtime.h"

const char test_title[] = "timer: LAPIC periodic timer against the TSC";

#define HZ          100
#define INTERVAL_US 500000

void test_main(void)
{
    uint64_t t0, t1, n0, n1, us, rate_milli_hz, expected;

    irq_init();
    if (!timer_init()) {
        test_skip("no clock source: neither CPUID 0x40000010 nor a PIT");
        return;
    }
    printf("timer: TSC %lu kHz, LAPIC timer %lu kHz (%s)\n", tsc_khz(), lapic_timer_khz(),
           timer_source());
    timer_start_periodic(HZ);

    /* Start measuring on a tick edge, so the count is not off by a partial period. */
    n0 = timer_ticks();
    while (timer_ticks() == n0)
        __asm__ volatile("hlt");
    n0 = timer_ticks();
    t0 = rdtsc();
    do {
        __asm__ volatile("hlt"); /* interrupts are on; every tick wakes us */
        t1 = rdtsc();
    } while (tsc_to_us(t1 - t0) < INTERVAL_US);
    n1 = timer_ticks();
    lapic_timer_stop();

    us = tsc_to_us(t1 - t0);
    expected = (uint64_t)HZ * us / 1000000;
    rate_milli_hz = (n1 - n0) * 1000000000ULL / us;
    printf("timer: %lu ticks in %lu us = %lu.%03lu Hz (programmed %u Hz)\n", n1 - n0, us,
           rate_milli_hz / 1000, rate_milli_hz % 1000, HZ);

    if ((n1 - n0) * 10 < expected * 8 || (n1 - n0) * 10 > expected * 12)
        test_fail("%lu ticks, expected %lu +- 20%%", n1 - n0, expected);
    else
        test_pass();
}
