/*
 * Real-mode start of an application processor. smp.c copies these bytes to
 * TRAMPOLINE_BASE (0x8000) and sends SIPI vector 0x08, so an AP starts here with
 * CS = 0x0800, IP = 0, in 16-bit real mode. All it must do is leave real mode: it loads
 * the kernel GDT (whose address fits the 32-bit base of lgdtl) and far-jumps with a 32-bit
 * offset straight into the kernel's 32-bit code (entry.S: ap_entry32), which does the rest.
 *
 * The bytes live in .rodata: they are only ever executed from their copy.
 */
#include "layout.h"

    .section .rodata.trampoline, "a"
    .code16
    .global trampoline_start, trampoline_end
trampoline_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    lgdtl   tr_gdtr - trampoline_start  /* DS-relative: DS base = copy's base */
    mov     %cr0, %eax
    or      $1, %eax                    /* PE */
    mov     %eax, %cr0
    ljmpl   $SEL_CODE32, $ap_entry32_flat

    .p2align 3
tr_gdtr:
    .word   GDT_ENTRIES * 8 - 1
    .long   gdt
trampoline_end:

    /* ap_entry32 loads the data segments itself once in long mode, but it runs 32-bit code
     * before that (rdmsr/wrmsr, lgdt through DS) so DS must be flat first. */
    .section .text.entry, "ax"
    .code32
ap_entry32_flat:
    mov     $SEL_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    jmp     ap_entry32
