/*
 * Frequencies of the two clocks the kernels use: the TSC (for measuring time) and the
 * LAPIC timer (for periodic interrupts). The hypervisor-published CPUID leaf 0x40000010
 * is preferred (our monitor offers it; it is exact and free); otherwise both clocks are
 * measured against the PIT, which costs a few tens of milliseconds once. Only kernels
 * that need time call timer_init, so minimal kernels boot without that delay.
 */
#include "runtime.h"

#define CALIBRATE_MS 25

static uint64_t tsc_freq_khz, lapic_freq_khz;
static const char *source = "none";

static volatile uint64_t ticks;
static unsigned periodic_hz, tickless_hz;
static uint64_t tickless_start_tsc;

bool timer_init(void)
{
    uint32_t a, b, c, d;
    uint64_t tsc, lapic;

    if (tsc_freq_khz)
        return true;

    cpuid(1, &a, &b, &c, &d);
    if (c & (1u << 31)) { /* hypervisor present: its leaves start at 0x40000000 */
        cpuid(0x40000000, &a, &b, &c, &d);
        if (a >= 0x40000010) {
            cpuid(0x40000010, &a, &b, &c, &d);
            if (a && b) {
                tsc_freq_khz = a;
                lapic_freq_khz = b;
                source = "cpuid 0x40000010";
                return true;
            }
        }
    }

    /* The 8259 must be masked before the PIT's OUT can raise IRQ 0 on it, and the LAPIC
     * enabled for its timer to count. */
    pic_disable();
    lapic_init();
    if (!pit_measure(CALIBRATE_MS, &tsc, &lapic))
        return false;
    tsc_freq_khz = tsc / CALIBRATE_MS;
    /* The LAPIC count ran with divider 16: scale back to the input clock. */
    lapic_freq_khz = lapic * 16 / CALIBRATE_MS;
    source = "PIT calibration";
    return tsc_freq_khz && lapic_freq_khz;
}

uint64_t tsc_khz(void) { return tsc_freq_khz; }
uint64_t lapic_timer_khz(void) { return lapic_freq_khz; }
const char *timer_source(void) { return source; }

/* Before (or without) calibration, assume a 3 GHz TSC: delays then last at least as long
 * as asked on any real machine, and timeouts still expire. */
static uint64_t effective_khz(void)
{
    return tsc_freq_khz ? tsc_freq_khz : 3000000;
}

uint64_t tsc_to_us(uint64_t cycles)
{
    return cycles * 1000 / effective_khz();
}

void udelay(uint64_t us)
{
    uint64_t start = rdtsc(), wait = us * effective_khz() / 1000;

    while (rdtsc() - start < wait)
        pause();
}

static void timer_tick(struct cpu_regs *regs)
{
    (void)regs;
    ticks++;
}

void timer_start_periodic(unsigned hz)
{
    periodic_hz = hz;
    irq_register(VEC_LAPIC_TIMER, timer_tick);
    lapic_timer_periodic(hz, VEC_LAPIC_TIMER);
}

/* No interrupt at all: ticks are read off the TSC when asked, so a kernel that waits in hlt
 * for its console stays halted (its monitor sleeps) instead of waking hz times a second. */
void timer_start_tickless(unsigned hz)
{
    tickless_hz = hz;
    tickless_start_tsc = rdtsc();
}

uint64_t timer_ticks(void)
{
    if (tickless_hz && !periodic_hz && tsc_freq_khz)
        return (rdtsc() - tickless_start_tsc) * tickless_hz / (tsc_freq_khz * 1000);
    return ticks;
}

unsigned timer_hz(void) { return periodic_hz ? periodic_hz : tickless_hz; }
bool timer_is_tickless(void) { return tickless_hz && !periodic_hz; }
