/*
 * triplefault: loads an empty IDT (limit 0) and raises an exception. It cannot be
 * delivered (its vector is beyond the IDT limit), so it becomes #GP, then #DF, then a
 * triple fault, which shuts the vCPU down (KVM_EXIT_SHUTDOWN). The monitor must report a
 * crash; this kernel prints nothing after its title.
 *
 * The exception is ud2's #UD rather than int3's #BP: KVM delivers a fault through its own
 * exception-injection path, but an INT instruction that KVM has to emulate (as it does
 * when the CPU cannot run the guest natively, e.g. in nested or fully emulated setups)
 * ends in a KVM *emulation error* instead, because KVM's emulator does not implement
 * protected-mode software interrupts. ud2 triple-faults everywhere.
 */
#include "runtime.h"

const char test_title[] = "triplefault: empty IDT + ud2, the monitor must report a crash";

void test_main(void)
{
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty_idt = {0, 0};

    __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
    /* Not reached. If it is, say so loudly. */
    test_fail("still running after a triple fault");
}
