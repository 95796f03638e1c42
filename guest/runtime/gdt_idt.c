/*
 * GDT and IDT. The GDT is a constant table the 32-bit entry code loads directly (entry.S
 * reads gdt_ptr), so it needs no setup. The IDT starts with the 32 exception vectors; the
 * other 224 entries stay not-present until a driver claims a vector (irq_register), which
 * keeps the boot path short: an unexpected vector then shows up as #NP naming it.
 */
#include <stdint.h>

#include "layout.h"
#include "runtime.h"

/*
 * Access byte 0x9b/0x93 = present, ring 0, code exec/read or data read/write, with the
 * accessed bit preset so the CPU never writes to this read-only table.
 */
const uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
    [0] = 0,
    [SEL_CODE64 / 8] = 0x00af9b000000ffffULL, /* L=1: 64-bit code */
    [SEL_DATA / 8] = 0x00cf93000000ffffULL,   /* flat 4 GiB data */
    [SEL_CODE32 / 8] = 0x00cf9b000000ffffULL, /* flat 32-bit code, for the AP trampoline */
};

/* Read by `lgdt` in 32-bit mode (6 bytes) and 64-bit mode (10 bytes): the base fits both. */
const struct {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed)) gdt_ptr = {sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt};

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

static const struct {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed)) idt_ptr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};

extern const char isr_stubs[]; /* isr.S: one 16-byte stub per vector */

void idt_set_vector(unsigned vector)
{
    uint64_t addr = (uint64_t)(uintptr_t)(isr_stubs + 16 * vector);

    idt[vector] = (struct idt_gate){
        .offset_lo = addr & 0xffff,
        .selector = SEL_CODE64,
        .ist = 0,
        .type_attr = 0x8e, /* present, ring 0, 64-bit interrupt gate: IF cleared on entry */
        .offset_mid = (addr >> 16) & 0xffff,
        .offset_hi = addr >> 32,
    };
}

void idt_init(void)
{
    for (unsigned v = 0; v < 32; v++)
        idt_set_vector(v);
    idt_load();
}

/* Every CPU loads the same IDT; APs call this from ap_start(). */
void idt_load(void)
{
    __asm__ volatile("lidt %0" : : "m"(idt_ptr));
}
