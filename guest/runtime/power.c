/*
 * Leaving the machine. Our monitor implements the ACPI hardware-reduced sleep control
 * register at port 0x600 (machine.md); QEMU microvm has none there, so we fall back to
 * QEMU's isa-debug-exit device at port 0xf4, and finally stop the CPU for good.
 */
#include "runtime.h"

#define SLEEP_CONTROL 0x600
#define SLP_EN        (1u << 5)
#define SLP_TYP_S5    5
#define QEMU_DEBUG_EXIT 0xf4
#define I8042_CMD     0x64
#define I8042_RESET   0xfe

noreturn void power_off(void)
{
    cli();
    outb(SLEEP_CONTROL, SLP_EN | (SLP_TYP_S5 << 2));
    /* QEMU exits with status (value << 1) | 1. */
    outb(QEMU_DEBUG_EXIT, 0);
    halt_forever();
}

noreturn void reboot(void)
{
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) no_idt = {0, 0};

    cli();
    outb(I8042_CMD, I8042_RESET);
    /* No keyboard controller took it: a triple fault resets any PC (and is how Linux
     * falls back too). With an empty IDT, ud2's #UD cannot be delivered, nor can the #GP
     * and #DF that follow. (Not int3: see tests/triplefault.c.) */
    __asm__ volatile("lidt %0; ud2" : : "m"(no_idt));
    halt_forever();
}
