/* PVH boot: the Xen-defined direct boot ABI that Linux (vmlinux), FreeBSD, unikernels and our
 * test kernels share. The kernel is an ELF file whose XEN_ELFNOTE_PHYS32_ENTRY note gives a
 * 32-bit protected-mode entry point; the monitor loads the PT_LOAD segments at their physical
 * addresses and hands the kernel a struct hvm_start_info (memory map, command line, modules).
 * The layout the guest sees is documented in docs/machine.md. */
#ifndef XENO_VMM_BOOT_PVH_H
#define XENO_VMM_BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/core/guest_mem.h"

/* Fixed boot-info addresses (docs/machine.md). */
#define PVH_GDT_ADDR 0x5000
#define PVH_START_INFO_ADDR 0x6000
#define PVH_MEMMAP_ADDR 0x6100
#define PVH_MEMMAP_MAX 32
#define PVH_MODLIST_ADDR 0x6500
#define PVH_CMDLINE_ADDR 0x7000
#define PVH_CMDLINE_MAX 4095
#define PVH_KERNEL_MIN_ADDR 0x100000

/* Boot GDT selectors the vCPU's segment registers are loaded from. */
#define PVH_SEL_CODE 0x10
#define PVH_SEL_DATA 0x18
#define PVH_SEL_TSS 0x20

#define HVM_START_MAGIC 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

enum { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3 };

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

struct pvh_kernel {
    uint32_t entry;      /* PHYS32_ENTRY */
    uint64_t load_start; /* lowest loaded guest-physical byte */
    uint64_t load_end;   /* one past the highest */
};

/* Validates `image` (an ELF file called `name` in messages) and copies its segments into RAM.
 * Nothing is trusted: header fields, program headers, notes and addresses are all checked. */
int pvh_load_kernel(const struct guest_mem *mem, const uint8_t *image, size_t len, const char *name,
                    struct pvh_kernel *out);

/* Writes the boot GDT, start info, memory map, command line and (optional) initrd module.
 * The initrd goes page-aligned at the top of low RAM and must not overlap the kernel. */
int pvh_write_boot_info(const struct guest_mem *mem, const struct pvh_kernel *kernel, const char *cmdline,
                        const uint8_t *initrd, size_t initrd_len, uint64_t rsdp_paddr);

#endif
