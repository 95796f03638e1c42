/*
 * The legacy 8259 pair. machine.md routes every ISA IRQ to both the PIC and the IOAPIC,
 * so the PIC must be silenced or each IRQ would arrive twice. We also reprogram its vector
 * base (ICW2) away from the exception vectors, so even a spurious IRQ 7/15 that slipped out
 * could never look like an exception.
 */
#include "runtime.h"

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1

void pic_disable(void)
{
    outb(PIC1_CMD, 0x11);  /* ICW1: init, ICW4 follows */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, VEC_PIC_BASE);     /* ICW2: vector base */
    outb(PIC2_DATA, VEC_PIC_BASE + 8);
    outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ 2 */
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xff); /* OCW1: mask everything */
    outb(PIC2_DATA, 0xff);
}
