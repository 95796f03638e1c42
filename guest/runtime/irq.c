/*
 * External interrupts: a table of handlers by vector, filled by drivers, and the one-time
 * switch from "no interrupts" to "local APIC + IOAPIC, interrupts on" (with the host's
 * power requests routed to their handler in power.c).
 */
#include "runtime.h"

static irq_handler_t handlers[256];

void irq_register(unsigned vector, irq_handler_t handler)
{
    handlers[vector] = handler;
    idt_set_vector(vector);
}

static void spurious(struct cpu_regs *regs)
{
    (void)regs; /* the LAPIC's spurious vector: nothing to do, and no EOI is owed */
}

void irq_dispatch(struct cpu_regs *regs)
{
    unsigned vector = regs->vector;

    if (!handlers[vector]) {
        printf("Unexpected interrupt vector %u at rip=%#lx (cpu %u)\n", vector, regs->rip,
               this_cpu()->index);
        test_fail("unexpected interrupt vector %u", vector);
        test_finish();
    }
    handlers[vector](regs);
    if (vector != VEC_SPURIOUS)
        lapic_eoi();
}

void irq_init(void)
{
    pic_disable();
    irq_register(VEC_SPURIOUS, spurious);
    lapic_init();
    power_request_init();
    sti();
}
