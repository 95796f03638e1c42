/*
 * struct hvm_start_info (Xen's PVH boot ABI, public/arch-x86/hvm/start_info.h). The
 * monitor leaves it, the memory map, the module list and the command line in low RAM
 * (machine.md gives the addresses); we copy everything we need into boot_info right away
 * so tests are free to overwrite that memory.
 */
#include "runtime.h"

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    /* version >= 1 */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct boot_info boot_info;
static char cmdline[4096];

static void note_range(uint64_t start, uint64_t len)
{
    if (len && boot_info.nr_boot_ranges < ARRAY_SIZE(boot_info.boot_ranges))
        boot_info.boot_ranges[boot_info.nr_boot_ranges++] = (struct phys_range){start, start + len};
}

void pvh_init(uint64_t start_info_paddr)
{
    const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_paddr;

    boot_info.cmdline = "";
    if (!si || si->magic != HVM_START_MAGIC) {
        test_fail("pvh: no hvm_start_info at %#lx (magic %#x, want %#x)", start_info_paddr,
                  si ? si->magic : 0, HVM_START_MAGIC);
        test_finish();
    }
    boot_info.valid = true;
    note_range(start_info_paddr, sizeof(*si));
    boot_info.version = si->version;
    boot_info.rsdp_paddr = si->rsdp_paddr;

    if (si->cmdline_paddr) {
        const char *s = (const char *)(uintptr_t)si->cmdline_paddr;
        size_t n = 0;

        while (n + 1 < sizeof(cmdline) && s[n])
            n++;
        memcpy(cmdline, s, n);
        note_range(si->cmdline_paddr, n + 1);
        cmdline[n] = '\0';
        boot_info.cmdline = cmdline;
    }

    boot_info.nr_modules = MIN(si->nr_modules, (uint32_t)ARRAY_SIZE(boot_info.modules));
    if (si->modlist_paddr)
        memcpy(boot_info.modules, (const void *)(uintptr_t)si->modlist_paddr,
               boot_info.nr_modules * sizeof(struct pvh_module));
    else
        boot_info.nr_modules = 0;
    note_range(si->modlist_paddr, boot_info.nr_modules * sizeof(struct pvh_module));
    for (unsigned i = 0; i < boot_info.nr_modules; i++) {
        note_range(boot_info.modules[i].paddr, boot_info.modules[i].size);
        if (boot_info.modules[i].cmdline_paddr)
            note_range(boot_info.modules[i].cmdline_paddr,
                       strlen((const char *)(uintptr_t)boot_info.modules[i].cmdline_paddr) + 1);
    }

    /* Version 0 has no memory map; callers see nr_memmap == 0. */
    if (si->version >= 1 && si->memmap_paddr) {
        boot_info.nr_memmap = MIN(si->memmap_entries, (uint32_t)ARRAY_SIZE(boot_info.memmap));
        memcpy(boot_info.memmap, (const void *)(uintptr_t)si->memmap_paddr,
               boot_info.nr_memmap * sizeof(struct memmap_entry));
        note_range(si->memmap_paddr, boot_info.nr_memmap * sizeof(struct memmap_entry));
    }
}

uint64_t pvh_ram_bytes(void)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < boot_info.nr_memmap; i++)
        if (boot_info.memmap[i].type == E820_RAM)
            total += boot_info.memmap[i].size;
    return total;
}

uint64_t pvh_ram_top(void)
{
    uint64_t top = 0;

    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (e->type == E820_RAM && e->addr + e->size > top)
            top = e->addr + e->size;
    }
    return top;
}
