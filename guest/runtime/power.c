/*
 * Leaving the machine. Our monitor implements the ACPI hardware-reduced sleep control
 * register at port 0x600 (machine.md); QEMU microvm has none there, so we fall back to
 * QEMU's isa-debug-exit device at port 0xf4, and finally stop the CPU for good.
 *
 * The host asks us to leave through the power request register at port 0x602: it raises
 * ISA IRQ 9, and reading the register tells (and clears) the request.
 */
#include "runtime.h"

#define SLEEP_CONTROL 0x600
#define SLP_EN        (1u << 5)
#define SLP_TYP_S5    5
#define QEMU_DEBUG_EXIT 0xf4
#define I8042_CMD     0x64
#define I8042_RESET   0xfe
#define POWER_REQUEST_PORT 0x602
#define POWER_REQUEST_IRQ  9

noreturn void power_off(void)
{
    cli();
    /* The FADT's sleep control register; where there is none, our monitor's port. */
    acpi_power_off();
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

static power_request_hook_t power_hook;

void power_request_set_hook(power_request_hook_t hook)
{
    power_hook = hook;
}

static void power_request_take(uint8_t req)
{
    /* 0: nothing pending; 0xff: no such register (QEMU). */
    if (req != POWER_REQUEST_OFF && req != POWER_REQUEST_REBOOT)
        return;
    if (power_hook && !power_hook((enum power_request)req))
        return;
    if (req == POWER_REQUEST_OFF) {
        printf("Power-off requested by the host: powering off.\n");
        power_off();
    }
    printf("Reboot requested by the host: rebooting.\n");
    reboot();
}

static void power_request_irq(struct cpu_regs *regs)
{
    (void)regs;
    power_request_take(inb(POWER_REQUEST_PORT));
}

void power_request_init(void)
{
    irq_register(VEC_POWER_REQ, power_request_irq);
    ioapic_route_isa(POWER_REQUEST_IRQ, VEC_POWER_REQ, lapic_id());
    /* A request posted earlier raised its edge while the pin was masked: look once. */
    uint64_t flags = irq_save();
    power_request_take(inb(POWER_REQUEST_PORT));
    irq_restore(flags);
}
