/*
 * The single C entry point for exceptions and interrupts (isr.S calls trap_dispatch).
 * Vectors >= 32 go to the handlers in irq.c. An exception is always reported in one line,
 * then handed to the test's expectation hook if there is one; if nobody expected it the
 * test fails on the spot.
 */
#include "runtime.h"

static exception_hook_t hook;

static const char *const names[32] = {
    [0] = "#DE divide error",
    [1] = "#DB debug",
    [2] = "NMI",
    [3] = "#BP breakpoint",
    [4] = "#OF overflow",
    [5] = "#BR bound range",
    [6] = "#UD invalid opcode",
    [7] = "#NM device not available",
    [8] = "#DF double fault",
    [9] = "coprocessor segment overrun",
    [10] = "#TS invalid TSS",
    [11] = "#NP segment not present",
    [12] = "#SS stack fault",
    [13] = "#GP general protection",
    [14] = "#PF page fault",
    [15] = "reserved",
    [16] = "#MF x87 floating point",
    [17] = "#AC alignment check",
    [18] = "#MC machine check",
    [19] = "#XM SIMD floating point",
    [20] = "#VE virtualization",
    [21] = "#CP control protection",
    [28] = "#HV hypervisor injection",
    [29] = "#VC VMM communication",
    [30] = "#SX security",
};

const char *exception_name(unsigned vector)
{
    if (vector < 32 && names[vector])
        return names[vector];
    return vector < 32 ? "reserved" : "interrupt";
}

void exception_set_hook(exception_hook_t h)
{
    hook = h;
}

void irq_dispatch(struct cpu_regs *regs); /* irq.c */

void trap_dispatch(struct cpu_regs *regs)
{
    struct percpu *cpu = this_cpu();
    bool handled;

    if (regs->vector >= 32) {
        irq_dispatch(regs);
        return;
    }

    /* A fault inside this handler (or in the hook) would recurse forever: report it as
     * plainly as possible and stop. */
    if (++cpu->trap_depth > 1) {
        static const char msg[] = "Exception inside the exception handler\nTest result: FAIL\n";

        uart_write(msg, sizeof(msg) - 1);
        power_off();
    }

    printf("Exception #%lu (%s) at rip=%#lx err=%#lx cr2=%#lx (cpu %u)\n", regs->vector,
           exception_name(regs->vector), regs->rip, regs->error_code, read_cr2(), cpu->index);

    handled = hook && hook(regs);
    cpu->trap_depth--;
    if (!handled) {
        test_fail("unexpected exception #%lu", regs->vector);
        test_finish();
    }
}
