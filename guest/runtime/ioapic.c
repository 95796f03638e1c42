/*
 * IOAPIC at 0xfec00000: an index register (IOREGSEL) and a data window (IOWIN).
 */
#include "runtime.h"

#define IOREGSEL 0x00
#define IOWIN    0x10
#define REDTBL(pin) (0x10 + 2 * (pin))

static void ioapic_write(unsigned reg, uint32_t v)
{
    mmio_write32(IOAPIC_BASE + IOREGSEL, reg);
    mmio_write32(IOAPIC_BASE + IOWIN, v);
}

void ioapic_route_isa(unsigned irq, unsigned vector, unsigned apic_id)
{
    /* Destination first, then the low half, which unmasks: the entry is never live with
     * a stale destination. Low half: fixed delivery, physical destination, active high,
     * edge triggered (ISA semantics), not masked. */
    ioapic_write(REDTBL(irq) + 1, apic_id << 24);
    ioapic_write(REDTBL(irq), vector);
}
