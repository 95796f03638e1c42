#include "vmm/boot/pvh.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "lib/err.h"

/* A program header in the width-independent form the loader works on. */
struct phdr {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

struct elf_view {
    const uint8_t *img;
    size_t len;
    const char *name;
    int is64;
    uint64_t phoff;
    unsigned phnum, phentsize;
};

static int elf_open(struct elf_view *ev, const uint8_t *img, size_t len, const char *name)
{
    ev->img = img;
    ev->len = len;
    ev->name = name;
    if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
        return err_set(ENOEXEC, "kernel '%s': not an ELF file", name);
    if (img[EI_DATA] != ELFDATA2LSB)
        return err_set(ENOEXEC, "kernel '%s': not a little-endian ELF file", name);
    /* Headers are copied out: the image need not be aligned for Elf64_Ehdr. */
    if (img[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            return err_set(ENOEXEC, "kernel '%s': ELF header truncated", name);
        memcpy(&eh, img, sizeof(eh));
        if (eh.e_machine != EM_X86_64)
            return err_set(ENOEXEC, "kernel '%s': ELF machine %u is not x86-64", name, eh.e_machine);
        ev->is64 = 1;
        ev->phoff = eh.e_phoff;
        ev->phnum = eh.e_phnum;
        ev->phentsize = eh.e_phentsize;
        if (ev->phentsize != sizeof(Elf64_Phdr))
            return err_set(ENOEXEC, "kernel '%s': program header size %u, expected %zu", name, ev->phentsize,
                           sizeof(Elf64_Phdr));
    } else if (img[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (len < sizeof(eh))
            return err_set(ENOEXEC, "kernel '%s': ELF header truncated", name);
        memcpy(&eh, img, sizeof(eh));
        if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
            return err_set(ENOEXEC, "kernel '%s': ELF machine %u is not x86", name, eh.e_machine);
        ev->is64 = 0;
        ev->phoff = eh.e_phoff;
        ev->phnum = eh.e_phnum;
        ev->phentsize = eh.e_phentsize;
        if (ev->phentsize != sizeof(Elf32_Phdr))
            return err_set(ENOEXEC, "kernel '%s': program header size %u, expected %zu", name, ev->phentsize,
                           sizeof(Elf32_Phdr));
    } else {
        return err_set(ENOEXEC, "kernel '%s': unknown ELF class %u", name, img[EI_CLASS]);
    }
    if (ev->phnum == 0)
        return err_set(ENOEXEC, "kernel '%s': no program headers", name);
    if (ev->phoff > len || (uint64_t)ev->phnum * ev->phentsize > len - ev->phoff)
        return err_set(ENOEXEC, "kernel '%s': program headers lie outside the file", name);
    return 0;
}

static void elf_phdr(const struct elf_view *ev, unsigned i, struct phdr *ph)
{
    const uint8_t *p = ev->img + ev->phoff + (uint64_t)i * ev->phentsize;
    if (ev->is64) {
        Elf64_Phdr h;
        memcpy(&h, p, sizeof(h));
        *ph = (struct phdr){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
    } else {
        Elf32_Phdr h;
        memcpy(&h, p, sizeof(h));
        *ph = (struct phdr){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
    }
}

/* Walks the notes of one PT_NOTE segment looking for Xen's PHYS32_ENTRY. Returns 1 if found. */
static int find_pvh_note(const struct elf_view *ev, const struct phdr *ph, uint32_t *entry, int *err)
{
    const uint8_t *p = ev->img + ph->offset;
    uint64_t left = ph->filesz;
    *err = 0;
    while (left >= 12) {
        uint32_t namesz, descsz, type;
        memcpy(&namesz, p, 4);
        memcpy(&descsz, p + 4, 4);
        memcpy(&type, p + 8, 4);
        uint64_t name_al = ((uint64_t)namesz + 3) & ~3ULL, desc_al = ((uint64_t)descsz + 3) & ~3ULL;
        if (name_al > left - 12 || desc_al > left - 12 - name_al) {
            *err = err_set(ENOEXEC, "kernel '%s': ELF note runs past the end of its segment", ev->name);
            return 0;
        }
        const uint8_t *name = p + 12, *desc = p + 12 + name_al;
        if (namesz == 4 && memcmp(name, "Xen", 4) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY) {
            uint64_t v;
            if (descsz == 4) {
                uint32_t v32;
                memcpy(&v32, desc, 4);
                v = v32;
            } else if (descsz == 8) {
                memcpy(&v, desc, 8);
            } else {
                *err = err_set(ENOEXEC, "kernel '%s': PVH entry note has %u-byte value", ev->name, descsz);
                return 0;
            }
            if (v > UINT32_MAX) {
                *err =
                    err_set(ENOEXEC, "kernel '%s': PVH entry 0x%llx is above 4 GiB", ev->name, (unsigned long long)v);
                return 0;
            }
            *entry = (uint32_t)v;
            return 1;
        }
        p += 12 + name_al + desc_al;
        left -= 12 + name_al + desc_al;
    }
    return 0;
}

int pvh_load_kernel(const struct guest_mem *mem, const uint8_t *image, size_t len, const char *name,
                    struct pvh_kernel *out)
{
    struct elf_view ev;
    struct phdr ph;
    int r = elf_open(&ev, image, len, name);
    if (r < 0)
        return r;

    /* First pass: validate everything, so a bad file leaves guest RAM untouched. */
    int have_entry = 0, have_load = 0, entry_in_segment = 0;
    uint32_t entry = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < ev.phnum; i++) {
        elf_phdr(&ev, i, &ph);
        if (ph.type != PT_LOAD && ph.type != PT_NOTE)
            continue;
        if (ph.offset > len || ph.filesz > len - ph.offset)
            return err_set(ENOEXEC, "kernel '%s': segment %u (offset 0x%llx, %llu bytes) lies outside the file", name,
                           i, (unsigned long long)ph.offset, (unsigned long long)ph.filesz);
        if (ph.type == PT_NOTE) {
            if (!have_entry) {
                have_entry = find_pvh_note(&ev, &ph, &entry, &r);
                if (r < 0)
                    return r;
            }
            continue;
        }
        if (ph.memsz == 0)
            continue;
        if (ph.filesz > ph.memsz)
            return err_set(ENOEXEC, "kernel '%s': segment %u file size exceeds its memory size", name, i);
        if (ph.paddr < PVH_KERNEL_MIN_ADDR)
            return err_set(ENOEXEC, "kernel '%s': segment %u at 0x%llx overlaps the boot area below 1 MiB", name, i,
                           (unsigned long long)ph.paddr);
        /* Below the MMIO hole: the entry runs with 32-bit addresses and paging off. */
        if (!guest_mem_ptr(mem, ph.paddr, ph.memsz) || ph.paddr + ph.memsz > guest_mem_low_end(mem))
            return err_set(ENOEXEC,
                           "kernel '%s': segment %u (0x%llx-0x%llx) lies outside guest RAM (%llu MiB); "
                           "give the domain more memory",
                           name, i, (unsigned long long)ph.paddr, (unsigned long long)(ph.paddr + ph.memsz),
                           (unsigned long long)(mem->size >> 20));
        have_load = 1;
        if (ph.paddr < lo)
            lo = ph.paddr;
        if (ph.paddr + ph.memsz > hi)
            hi = ph.paddr + ph.memsz;
    }
    if (!have_entry)
        return err_set(ENOEXEC,
                       "kernel '%s': no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY note); "
                       "build it with PVH support",
                       name);
    if (!have_load)
        return err_set(ENOEXEC, "kernel '%s': no loadable segments", name);
    for (unsigned i = 0; i < ev.phnum; i++) {
        elf_phdr(&ev, i, &ph);
        if (ph.type == PT_LOAD && entry >= ph.paddr && entry - ph.paddr < ph.filesz)
            entry_in_segment = 1;
    }
    if (!entry_in_segment)
        return err_set(ENOEXEC, "kernel '%s': PVH entry 0x%x is not in any segment's code (image 0x%llx-0x%llx)", name,
                       entry, (unsigned long long)lo, (unsigned long long)hi);

    for (unsigned i = 0; i < ev.phnum; i++) {
        elf_phdr(&ev, i, &ph);
        if (ph.type != PT_LOAD || ph.memsz == 0)
            continue;
        uint8_t *dst = guest_mem_ptr(mem, ph.paddr, ph.memsz);
        memcpy(dst, image + ph.offset, ph.filesz);
        memset(dst + ph.filesz, 0, ph.memsz - ph.filesz);
    }
    out->entry = entry;
    out->load_start = lo;
    out->load_end = hi;
    return 0;
}

static unsigned build_memmap(const struct guest_mem *mem, struct hvm_memmap_table_entry *map)
{
    unsigned n = 0;
    uint64_t low = guest_mem_low_end(mem);
    map[n++] = (struct hvm_memmap_table_entry){0, 0x9fc00, E820_RAM, 0};
    map[n++] = (struct hvm_memmap_table_entry){0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED, 0};
    if (low > 0x100000)
        map[n++] = (struct hvm_memmap_table_entry){0x100000, low - 0x100000, E820_RAM, 0};
    for (unsigned i = 1; i < mem->nranges; i++)
        map[n++] = (struct hvm_memmap_table_entry){mem->ranges[i].gpa, mem->ranges[i].size, E820_RAM, 0};
    return n;
}

int pvh_write_boot_info(const struct guest_mem *mem, const struct pvh_kernel *kernel, const char *cmdline,
                        const uint8_t *initrd, size_t initrd_len, uint64_t rsdp_paddr)
{
    /* Flat 32-bit code and data, and a TSS descriptor: what the entry state's hidden segment
     * parts describe, so a guest that reloads a selector before its own GDT gets the same. */
    static const uint64_t gdt[] = {0, 0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL, 0x00008b0000000067ULL};
    struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
    struct hvm_modlist_entry mod = {0};
    struct hvm_start_info si = {0};
    int r;

    size_t cmdlen = cmdline ? strlen(cmdline) : 0;
    if (cmdlen > PVH_CMDLINE_MAX)
        return err_set(E2BIG, "kernel command line is %zu bytes; at most %d fit", cmdlen, PVH_CMDLINE_MAX);

    si.magic = HVM_START_MAGIC;
    si.version = 1;
    si.cmdline_paddr = PVH_CMDLINE_ADDR;
    si.rsdp_paddr = rsdp_paddr;
    si.memmap_paddr = PVH_MEMMAP_ADDR;
    si.memmap_entries = build_memmap(mem, map);

    if (initrd) {
        uint64_t low = guest_mem_low_end(mem);
        uint64_t size_al = ((uint64_t)initrd_len + 4095) & ~4095ULL;
        if (initrd_len > low || size_al > low || ((low - size_al) & ~4095ULL) < kernel->load_end)
            return err_set(ENOMEM,
                           "initrd of %zu bytes does not fit in RAM above the kernel (which ends at 0x%llx); "
                           "give the domain more memory",
                           initrd_len, (unsigned long long)kernel->load_end);
        mod.paddr = (low - size_al) & ~4095ULL;
        mod.size = initrd_len;
        if ((r = guest_mem_write(mem, mod.paddr, initrd, initrd_len)) < 0)
            return r;
        si.nr_modules = 1;
        si.modlist_paddr = PVH_MODLIST_ADDR;
    }

    if ((r = guest_mem_write(mem, PVH_GDT_ADDR, gdt, sizeof(gdt))) < 0 ||
        (r = guest_mem_write(mem, PVH_START_INFO_ADDR, &si, sizeof(si))) < 0 ||
        (r = guest_mem_write(mem, PVH_MEMMAP_ADDR, map, si.memmap_entries * sizeof(map[0]))) < 0 ||
        (r = guest_mem_write(mem, PVH_MODLIST_ADDR, &mod, sizeof(mod))) < 0 ||
        (r = guest_mem_write(mem, PVH_CMDLINE_ADDR, cmdline ? cmdline : "", cmdlen + 1)) < 0)
        return r;
    return 0;
}
