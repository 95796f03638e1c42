/*
 * PVH entry. The monitor (or QEMU) finds pvh_entry through the XEN_ELFNOTE_PHYS32_ENTRY
 * note below and starts vCPU 0 there in 32-bit protected mode, paging off, with %ebx
 * pointing at struct hvm_start_info. We switch to long mode using page tables that are
 * built at link time (so booting costs no loop over page-table entries), load our own
 * GDT and call runtime_start() in C.
 *
 * Application processors arrive at ap_entry32 from the real-mode trampoline
 * (trampoline.S) and share the same long-mode switch.
 */
#include "layout.h"

#define MSR_EFER_NUM 0xc0000080

/* ELF note: namesz, descsz, type, name, desc. Type 18 = XEN_ELFNOTE_PHYS32_ENTRY. */
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .p2align 2
    .long pvh_entry

/*
 * Switch from flat 32-bit protected mode to 64-bit mode and jump to \target.
 * Clobbers %eax, %ecx, %edx.
 */
.macro ENTER_LONG_MODE target
    mov     $pml4, %eax
    mov     %eax, %cr3
    mov     %cr4, %eax
    or      $0x20, %eax                 /* PAE: required for long mode */
    mov     %eax, %cr4
    mov     $MSR_EFER_NUM, %ecx
    rdmsr
    or      $0x100, %eax                /* EFER.LME */
    wrmsr
    mov     %cr0, %eax
    or      $0x80010001, %eax           /* PG | WP | PE */
    mov     %eax, %cr0
    lgdt    gdt_ptr                     /* a 32-bit lgdt reads limit + 32-bit base */
    ljmp    $SEL_CODE64, $\target
.endm


    .section .text.entry, "ax"
    .code32
    .global pvh_entry
pvh_entry:
    cld
    mov     %ebx, %esi                  /* hvm_start_info survives in %esi */
    ENTER_LONG_MODE bsp_long

    .global ap_entry32
ap_entry32:
    /* From trampoline.S: flat segments from our own GDT, no stack yet. */
    cld
    ENTER_LONG_MODE ap_long

    .code64
bsp_long:
    mov     $SEL_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs
    lea     bsp_stack_top(%rip), %rsp
    xor     %ebp, %ebp
    mov     %esi, %edi                  /* zero-extends: start_info is a 32-bit address */
    call    runtime_start
    jmp     halt_forever

ap_long:
    mov     $SEL_DATA, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs
    /* The BSP published this AP's stack before sending the SIPI (smp.c). */
    mov     ap_boot_rsp(%rip), %rsp
    xor     %ebp, %ebp
    call    ap_start
    /* fall through */

    .global halt_forever
halt_forever:
    cli
1:  hlt
    jmp     1b

/*
 * Identity map built by the assembler: PML4[0] -> PDPT, PDPT[0..3] -> four page
 * directories of 2 MiB pages covering 0-4 GiB. The last GiB holds the MMIO hole (IOAPIC,
 * LAPIC), so it is mapped uncached (PCD|PWT). paging.c adds RAM above 4 GiB at runtime.
 */
#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS  0x080

    .section .data.pagetables, "aw"
    .p2align 12
    .global pml4, pdpt
pml4:
    .quad   pdpt + (PTE_P | PTE_RW)
    .fill   511, 8, 0
pdpt:
    .quad   boot_pd + 0x0000 + (PTE_P | PTE_RW)
    .quad   boot_pd + 0x1000 + (PTE_P | PTE_RW)
    .quad   boot_pd + 0x2000 + (PTE_P | PTE_RW)
    .quad   boot_pd + 0x3000 + (PTE_P | PTE_RW)
    .fill   508, 8, 0
boot_pd:
    .set    .Lpa, 0
    .rept   1536                        /* 0 - 3 GiB: RAM, write-back */
    .quad   .Lpa + (PTE_P | PTE_RW | PTE_PS)
    .set    .Lpa, .Lpa + 0x200000
    .endr
    .rept   512                         /* 3 - 4 GiB: MMIO hole, uncached */
    .quad   .Lpa + (PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT)
    .set    .Lpa, .Lpa + 0x200000
    .endr

    .section .bss.stack, "aw", @nobits
    .p2align 4
bsp_stack:
    .skip   BSP_STACK_SIZE
bsp_stack_top:
