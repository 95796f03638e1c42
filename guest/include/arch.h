/*
 * Thin wrappers around the x86 instructions the runtime needs. Everything is
 * static inline so that a kernel pays only for what it uses.
 */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#define PAGE_SIZE 4096UL

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)addr = v;
}

static inline void cpuid_count(uint32_t leaf, uint32_t subleaf, uint32_t *a, uint32_t *b,
                               uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(subleaf));
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    cpuid_count(leaf, 0, a, b, c, d);
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    /* lfence keeps the read from drifting above earlier loads (AMD and Intel both honour it). */
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

static inline void write_cr3(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* sti's one-instruction interrupt shadow covers the hlt: no wakeup can slip in between. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

static inline uint64_t save_flags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; pop %0" : "=r"(f) : : "memory");
    return f;
}

static inline uint64_t irq_save(void)
{
    uint64_t f = save_flags();
    cli();
    return f;
}

static inline void irq_restore(uint64_t flags)
{
    if (flags & (1UL << 9))
        sti();
}

static inline bool irqs_enabled(void) { return save_flags() & (1UL << 9); }

static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

#define MSR_EFER      0xc0000080
#define MSR_GS_BASE   0xc0000101
#define MSR_APIC_BASE 0x1b

#endif
