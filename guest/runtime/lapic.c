/*
 * Local APIC in xAPIC mode (MMIO at 0xfee00000, identity-mapped uncached by entry.S).
 */
#include "runtime.h"

#define REG_ID       0x020
#define REG_EOI      0x0b0
#define REG_SVR      0x0f0
#define REG_ICR_LO   0x300
#define REG_ICR_HI   0x310
#define REG_LVT_TMR  0x320
#define REG_LVT_LINT0 0x350
#define REG_LVT_LINT1 0x360
#define REG_TMR_INIT 0x380
#define REG_TMR_CUR  0x390
#define REG_TMR_DIV  0x3e0

#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_PENDING  (1u << 12)

#define TIMER_DIVIDER 16
#define TIMER_DIV_16  0x3

static uint32_t rd(unsigned reg) { return mmio_read32(LAPIC_BASE + reg); }
static void wr(unsigned reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }

void lapic_init(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);

    /* Globally enabled (bit 11), xAPIC (x2APIC bit 10 clear), at the standard address. */
    if (!(base & (1u << 11)) || (base & ~0xfffUL) != LAPIC_BASE)
        wrmsr(MSR_APIC_BASE, LAPIC_BASE | (base & 0x100) | (1u << 11));
    /* LINT0 may be wired to the 8259 as ExtINT on the BSP; we use the IOAPIC only. */
    wr(REG_LVT_LINT0, LVT_MASKED);
    wr(REG_SVR, 0x100 | VEC_SPURIOUS); /* software enable */
}

unsigned lapic_id(void)
{
    return rd(REG_ID) >> 24;
}

void lapic_eoi(void)
{
    wr(REG_EOI, 0);
}

void lapic_send_ipi(unsigned apic_id, uint32_t icr_lo)
{
    wr(REG_ICR_HI, apic_id << 24);
    wr(REG_ICR_LO, icr_lo); /* writing the low half sends it */
    for (unsigned i = 0; i < 100000 && (rd(REG_ICR_LO) & ICR_PENDING); i++)
        pause();
}

void lapic_timer_periodic(unsigned hz, unsigned vector)
{
    uint64_t count = lapic_timer_khz() * 1000 / TIMER_DIVIDER / hz;

    wr(REG_TMR_DIV, TIMER_DIV_16);
    wr(REG_LVT_TMR, LVT_PERIODIC | vector);
    wr(REG_TMR_INIT, (uint32_t)MIN(count, 0xffffffffULL));
}

void lapic_timer_stop(void)
{
    wr(REG_LVT_TMR, LVT_MASKED);
    wr(REG_TMR_INIT, 0);
}

void lapic_timer_oneshot_raw(uint32_t count)
{
    wr(REG_TMR_DIV, TIMER_DIV_16);
    wr(REG_LVT_TMR, LVT_MASKED | VEC_LAPIC_TIMER); /* counts down but never interrupts */
    wr(REG_TMR_INIT, count);
}

uint32_t lapic_timer_current(void)
{
    return rd(REG_TMR_CUR);
}
