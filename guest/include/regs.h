/*
 * The register frame that runtime/isr.S builds on the stack for every exception and
 * interrupt. The field order mirrors the push order in isr.S (last pushed first); a handler
 * may change any field (e.g. rip) and the stub restores it on iretq.
 */
#ifndef GUEST_REGS_H
#define GUEST_REGS_H

#include <stdint.h>

struct cpu_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    /* Pushed by the CPU. */
    uint64_t rip, cs, rflags, rsp, ss;
};

#endif
