/*
 * emulerr: provokes a KVM emulation error. A memory access to an address with no memory
 * behind it (here 0xd0000000, in the MMIO hole) exits to KVM, which must decode and
 * emulate the instruction to forward the access to the monitor. KVM's x86 emulator has no
 * entry for popcnt (F3 0F B8), so it gives up with KVM_EXIT_INTERNAL_ERROR /
 * KVM_INTERNAL_ERROR_EMULATION. The monitor must report a crash. Verified under QEMU
 * microvm + KVM ("KVM internal error. Suberror: 1 ... emulation failure"); crc32 and the
 * VEX-encoded andn fail the same way, while lzcnt/tzcnt are (mis)emulated as bsr/bsf.
 */
#include "runtime.h"

const char test_title[] = "emulerr: popcnt on MMIO, the monitor must report an emulation error";

#define MMIO_HOLE_ADDR 0xd0000000UL

void test_main(void)
{
    uint64_t v;
    uint32_t a, b, c, d;

    cpuid(1, &a, &b, &c, &d);
    if (!(c & (1u << 23))) {
        test_skip("no popcnt in CPUID; it would raise #UD, not an emulation error");
        return;
    }
    __asm__ volatile("popcnt (%1), %0" : "=r"(v) : "r"(MMIO_HOLE_ADDR) : "memory");
    /* Not reached under KVM. */
    test_fail("popcnt on MMIO was emulated (result %#lx)", v);
}
