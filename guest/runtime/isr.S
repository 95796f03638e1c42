/*
 * Interrupt and exception entry stubs. Each stub makes the stack look the same (error code,
 * vector, then all general registers: struct cpu_regs in regs.h) and calls
 * trap_dispatch(struct cpu_regs *) in exceptions.c. Whatever the handler leaves in the frame
 * is restored, which is how an expectation hook resumes at a different rip.
 *
 * Stack alignment: the CPU aligns %rsp to 16 before pushing its 5-word frame in 64-bit
 * mode; 2 more words (error code, vector) and 15 registers bring it back to a multiple of
 * 16 at the call, as the SysV ABI requires.
 */

/* Vectors for which the CPU pushes an error code itself. */
#define HAS_ERRCODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .section .text.isr, "ax"
    .code64

trap_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    cld
    mov     %rsp, %rdi
    call    trap_dispatch
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp                   /* vector, error code */
    iretq

/* One 16-byte-aligned stub per vector, so stub address = isr_stubs + 16 * vector. A stub
 * is at most 12 bytes (push imm8, push imm32, jmp rel32). */
    .p2align 4
    .global isr_stubs
isr_stubs:
    .set    .Lvec, 0
    .rept   256
    .p2align 4
    .if     !HAS_ERRCODE(.Lvec)
    pushq   $0
    .endif
    pushq   $.Lvec
    jmp     trap_common
    .set    .Lvec, .Lvec + 1
    .endr
    .p2align 4
    .global isr_stubs_end
isr_stubs_end:                          /* link.ld checks that the stubs kept to 16 bytes */
