/*
 * Constants shared by the assembly and C halves of the runtime. Only plain #defines here:
 * the .S files include this too.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Our GDT (runtime/gdt_idt.c). 0x18 exists only so the SMP trampoline can leave real mode. */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define GDT_ENTRIES 4

/* docs/machine.md keeps 0x8000-0x9ffff free for the guest; the AP trampoline runs there. */
#define TRAMPOLINE_BASE 0x8000

#define MAX_CPUS       64
#define BSP_STACK_SIZE 16384
#define AP_STACK_SIZE  8192

/* Interrupt vectors. Exceptions own 0-31; ISA IRQ n arrives through the IOAPIC at 0x20+n. */
#define VEC_ISA_BASE    0x20
#define VEC_UART        (VEC_ISA_BASE + 4)
#define VEC_POWER_REQ   (VEC_ISA_BASE + 9) /* the power request register's IRQ (the SCI line) */
#define VEC_LAPIC_TIMER 0x40
#define VEC_PIC_BASE    0x70 /* the masked 8259 is parked here, away from everything else */
#define VEC_SPURIOUS    0xff

/* The boot-time identity map (entry.S) covers the first 4 GiB with 2 MiB pages. */
#define BOOT_MAP_BYTES 0x100000000UL

#endif
