/* PVH loader and boot info (src/vmm/boot/pvh.c).
 *
 * The kernel image is the least trusted input the monitor takes: any file a user names. Every
 * test builds its image in memory (ELF header, program headers, a PT_NOTE holding the Xen
 * PHYS32_ENTRY note, segment bytes), corrupts one thing, and checks that the loader says what
 * is wrong, names the file, and has not written a byte of guest RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/core/guest_mem.h"
#include "vmm/boot/pvh.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define RAM_SIZE (8 * MiB)
#define KNAME "test-kernel.elf"

/* ---- guest RAM --------------------------------------------------------------------------- */

struct ram {
    struct guest_mem mem;
    uint8_t *buf;
    uint64_t size;
};

/* Anonymous MAP_NORESERVE memory: a 3.5 GiB "domain" costs only the pages a test touches. */
static void ram_map(struct ram *r, uint64_t size)
{
    r->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(r->buf != MAP_FAILED);
    r->size = size;
    guest_mem_init_buffer(&r->mem, r->buf, size);
}

static void ram_unmap(struct ram *r)
{
    munmap(r->buf, r->size);
}

static int ram_setup(void **state)
{
    struct ram *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    ram_map(r, RAM_SIZE);
    *state = r;
    return 0;
}

static int ram_teardown(void **state)
{
    struct ram *r = *state;
    ram_unmap(r);
    free(r);
    return 0;
}

/* Whether [0, size) of a small RAM is still all zero: what "left untouched" means. */
static int ram_all_zero(const struct ram *r)
{
    const uint64_t *p = (const uint64_t *)r->buf;
    for (uint64_t i = 0; i < r->size / 8; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ---- ELF image builder ------------------------------------------------------------------- */

#define IMG_MAX (64 * 1024)
#define MAX_SEGS 4

/* A program header in width-independent form, for reading and patching either class. */
struct ph {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

struct seg {
    uint64_t paddr, filesz, memsz;
};

struct spec {
    int is64;
    uint16_t machine;
    unsigned nsegs;
    struct seg segs[MAX_SEGS];
    int note;           /* emit the PT_NOTE at all */
    int xen_note;       /* put the Xen PHYS32_ENTRY note in it (after a GNU build-id note) */
    uint32_t note_type; /* 18 unless a test says otherwise */
    uint32_t descsz;    /* 4 or 8 normally */
    uint64_t entry;
};

struct img {
    uint8_t *buf;
    size_t len;
    int is64;
    uint64_t phoff;
    unsigned phnum;  /* phdr 0 is the PT_NOTE (if any), then one per segment */
    size_t note_off; /* where the Xen note header starts in the file */
    size_t seg_off[MAX_SEGS];
};

/* Segment i's file bytes: a pattern that differs per segment and per byte. */
static uint8_t seg_byte(unsigned seg, uint64_t i)
{
    return (uint8_t)(0x11 * (seg + 1) + i * 7 + 1);
}

static struct spec default_spec(int is64)
{
    struct spec s = {0};
    s.is64 = is64;
    s.machine = is64 ? EM_X86_64 : EM_386;
    s.nsegs = 2;
    s.segs[0] = (struct seg){0x100000, 0x1000, 0x3000}; /* text + bss */
    s.segs[1] = (struct seg){0x200000, 0x800, 0x800};
    s.note = 1;
    s.xen_note = 1;
    s.note_type = XEN_ELFNOTE_PHYS32_ENTRY;
    s.descsz = 4;
    s.entry = 0x100040;
    return s;
}

static void put_bytes(struct img *im, size_t *off, const void *p, size_t n)
{
    assert_true(*off + n <= IMG_MAX);
    memcpy(im->buf + *off, p, n);
    *off += n;
}

static void put_u32(struct img *im, size_t *off, uint32_t v)
{
    put_bytes(im, off, &v, 4);
}

static void align4(size_t *off)
{
    *off = (*off + 3) & ~(size_t)3;
}

static void ph_write(struct img *im, unsigned i, const struct ph *p)
{
    uint8_t *dst = im->buf + im->phoff;
    if (im->is64) {
        Elf64_Phdr h = {.p_type = p->type,
                        .p_offset = p->offset,
                        .p_vaddr = p->paddr | 0xffffffff80000000ULL,
                        .p_paddr = p->paddr,
                        .p_filesz = p->filesz,
                        .p_memsz = p->memsz,
                        .p_align = 4};
        memcpy(dst + i * sizeof(h), &h, sizeof(h));
    } else {
        Elf32_Phdr h = {.p_type = p->type,
                        .p_offset = (uint32_t)p->offset,
                        .p_vaddr = (uint32_t)p->paddr,
                        .p_paddr = (uint32_t)p->paddr,
                        .p_filesz = (uint32_t)p->filesz,
                        .p_memsz = (uint32_t)p->memsz,
                        .p_align = 4};
        memcpy(dst + i * sizeof(h), &h, sizeof(h));
    }
}

static struct ph ph_read(const struct img *im, unsigned i)
{
    const uint8_t *src = im->buf + im->phoff;
    if (im->is64) {
        Elf64_Phdr h;
        memcpy(&h, src + i * sizeof(h), sizeof(h));
        return (struct ph){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
    }
    Elf32_Phdr h;
    memcpy(&h, src + i * sizeof(h), sizeof(h));
    return (struct ph){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
}

/* Index of the program header for segment `seg` (after the PT_NOTE, when there is one). */
static unsigned seg_ph(const struct img *im, const struct spec *s, unsigned seg)
{
    (void)im;
    return (s->note ? 1 : 0) + seg;
}

/* Assembles Ehdr + Phdrs + notes + segment bytes into im->buf (malloc'd, IMG_MAX bytes). */
static void build(struct img *im, const struct spec *s)
{
    memset(im, 0, sizeof(*im));
    im->buf = calloc(1, IMG_MAX);
    assert_non_null(im->buf);
    im->is64 = s->is64;
    size_t ehsize = s->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t phentsize = s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    im->phoff = ehsize;
    im->phnum = (s->note ? 1 : 0) + s->nsegs;
    size_t off = ehsize + im->phnum * phentsize;

    /* Notes: a GNU build-id first, so the loader has to walk past a note that is not Xen's. */
    size_t note_start = off;
    if (s->note) {
        static const uint8_t build_id[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
        put_u32(im, &off, 4);
        put_u32(im, &off, sizeof(build_id));
        put_u32(im, &off, NT_GNU_BUILD_ID);
        put_bytes(im, &off, "GNU", 4);
        put_bytes(im, &off, build_id, sizeof(build_id));
        if (s->xen_note) {
            im->note_off = off;
            put_u32(im, &off, 4);
            put_u32(im, &off, s->descsz);
            put_u32(im, &off, s->note_type);
            put_bytes(im, &off, "Xen", 4);
            uint8_t desc[8] = {0};
            memcpy(desc, &s->entry, 8); /* little-endian: the low bytes first */
            put_bytes(im, &off, desc, s->descsz <= 8 ? s->descsz : 8);
            align4(&off);
        }
    }
    size_t note_len = off - note_start;

    for (unsigned i = 0; i < s->nsegs; i++) {
        off = (off + 15) & ~(size_t)15;
        im->seg_off[i] = off;
        assert_true(off + s->segs[i].filesz <= IMG_MAX);
        for (uint64_t j = 0; j < s->segs[i].filesz; j++)
            im->buf[off + j] = seg_byte(i, j);
        off += s->segs[i].filesz;
    }
    im->len = off;

    if (s->is64) {
        Elf64_Ehdr eh = {0};
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = s->machine;
        eh.e_version = EV_CURRENT;
        eh.e_entry = 0xffffffff81000000ULL; /* the 64-bit entry a PVH loader must ignore */
        eh.e_phoff = im->phoff;
        eh.e_ehsize = sizeof(eh);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = (uint16_t)im->phnum;
        memcpy(im->buf, &eh, sizeof(eh));
    } else {
        Elf32_Ehdr eh = {0};
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS32;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = s->machine;
        eh.e_version = EV_CURRENT;
        eh.e_entry = 0xc1000000;
        eh.e_phoff = (uint32_t)im->phoff;
        eh.e_ehsize = sizeof(eh);
        eh.e_phentsize = sizeof(Elf32_Phdr);
        eh.e_phnum = (uint16_t)im->phnum;
        memcpy(im->buf, &eh, sizeof(eh));
    }

    unsigned i = 0;
    if (s->note)
        ph_write(im, i++, &(struct ph){PT_NOTE, note_start, 0, note_len, note_len});
    for (unsigned j = 0; j < s->nsegs; j++)
        ph_write(im, i++, &(struct ph){PT_LOAD, im->seg_off[j], s->segs[j].paddr, s->segs[j].filesz, s->segs[j].memsz});
}

static void img_free(struct img *im)
{
    free(im->buf);
    im->buf = NULL;
}

/* ELF header fields live at the same offsets in both classes up to e_version; past that
 * they differ, so these patch by class. */
static void set_e_machine(struct img *im, uint16_t m)
{
    memcpy(im->buf + offsetof(Elf64_Ehdr, e_machine), &m, 2);
}

static void set_e_phoff(struct img *im, uint64_t v)
{
    if (im->is64) {
        memcpy(im->buf + offsetof(Elf64_Ehdr, e_phoff), &v, 8);
    } else {
        uint32_t v32 = (uint32_t)v;
        memcpy(im->buf + offsetof(Elf32_Ehdr, e_phoff), &v32, 4);
    }
}

static void set_e_phnum(struct img *im, uint16_t v)
{
    memcpy(im->buf + (im->is64 ? offsetof(Elf64_Ehdr, e_phnum) : offsetof(Elf32_Ehdr, e_phnum)), &v, 2);
}

static void set_e_phentsize(struct img *im, uint16_t v)
{
    memcpy(im->buf + (im->is64 ? offsetof(Elf64_Ehdr, e_phentsize) : offsetof(Elf32_Ehdr, e_phentsize)), &v, 2);
}

/* ---- helpers for outcomes ---------------------------------------------------------------- */

static void assert_msg_has(const char *needle)
{
    const char *msg = err_msg();
    if (!strstr(msg, needle))
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, needle);
}

/* The image must be refused with -ENOEXEC, a message naming the file and `what`, and no write
 * to guest RAM (all of it still zero). */
static void expect_reject(struct ram *r, const struct img *im, size_t len, const char *what)
{
    struct pvh_kernel k = {.entry = 0xdead, .load_start = 0xdead, .load_end = 0xdead};
    int rc = pvh_load_kernel(&r->mem, im->buf, len, KNAME, &k);
    assert_int_equal(rc, -ENOEXEC);
    assert_msg_has(KNAME);
    if (what)
        assert_msg_has(what);
    assert_true(ram_all_zero(r));
    /* The result is only filled in on success. */
    assert_int_equal(k.entry, 0xdead);
}

static void expect_reject_spec(struct ram *r, const struct spec *s, const char *what)
{
    struct img im;
    build(&im, s);
    expect_reject(r, &im, im.len, what);
    img_free(&im);
}

/* ---- pvh_load_kernel: images that load ----------------------------------------------------- */

static void check_loaded(struct ram *r, const struct spec *s)
{
    for (unsigned i = 0; i < s->nsegs; i++) {
        const uint8_t *g = r->buf + s->segs[i].paddr;
        for (uint64_t j = 0; j < s->segs[i].filesz; j++)
            if (g[j] != seg_byte(i, j))
                fail_msg("segment %u byte %llu: 0x%02x, expected 0x%02x", i, (unsigned long long)j, g[j],
                         seg_byte(i, j));
        for (uint64_t j = s->segs[i].filesz; j < s->segs[i].memsz; j++)
            if (g[j] != 0)
                fail_msg("segment %u bss byte %llu is 0x%02x, not zeroed", i, (unsigned long long)j, g[j]);
    }
}

static void load_elf64_copies_segments_and_zeroes_bss(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    /* Dirty the bss and the bytes around every segment: bss must be zeroed, nothing else touched. */
    memset(r->buf + 0xff000, 0xcc, 0x105000);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.entry, 0x100040);
    assert_int_equal(k.load_start, 0x100000);
    assert_int_equal(k.load_end, 0x200800);
    check_loaded(r, &s);
    assert_int_equal(r->buf[0xfffff], 0xcc);
    assert_int_equal(r->buf[0x103000], 0xcc); /* one past segment 0's memsz */
    assert_int_equal(r->buf[0x1fffff], 0xcc);
    assert_int_equal(r->buf[0x200800], 0xcc);
    img_free(&im);
}

static void load_elf32(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(0);
    struct img im;
    build(&im, &s);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.entry, 0x100040);
    assert_int_equal(k.load_start, 0x100000);
    assert_int_equal(k.load_end, 0x200800);
    check_loaded(r, &s);
    img_free(&im);
}

/* Some 32-bit PVH kernels are ELF32 files tagged x86-64 (Linux's own build has been). */
static void load_elf32_tagged_x86_64(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(0);
    s.machine = EM_X86_64;
    struct img im;
    build(&im, &s);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    check_loaded(r, &s);
    img_free(&im);
}

static void load_note_with_8_byte_desc(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.descsz = 8;
    s.entry = 0x200010;
    struct img im;
    build(&im, &s);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.entry, 0x200010);
    img_free(&im);
}

/* A segment that is all bss (filesz 0), and one that ends exactly at the end of RAM. */
static void load_bss_only_segment_and_segment_at_end_of_ram(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.segs[1] = (struct seg){RAM_SIZE - 0x2000, 0, 0x2000};
    struct img im;
    build(&im, &s);
    memset(r->buf + RAM_SIZE - 0x2000, 0xcc, 0x2000);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.load_end, RAM_SIZE);
    check_loaded(r, &s);
    img_free(&im);
}

/* Program headers that are neither PT_LOAD nor PT_NOTE carry nothing to load, whatever their
 * fields say; an empty PT_LOAD (memsz 0) has no address worth checking. */
static void load_ignores_other_and_empty_segments(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.nsegs = 3;
    s.segs[2] = (struct seg){0, 0, 0};
    struct img im;
    build(&im, &s);
    ph_write(&im, seg_ph(&im, &s, 2), &(struct ph){PT_LOAD, im.len, 0xfee00000, 0, 0});
    ph_write(&im, seg_ph(&im, &s, 1), &(struct ph){PT_GNU_STACK, UINT64_MAX - 4, UINT64_MAX, UINT64_MAX, UINT64_MAX});
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.load_start, 0x100000);
    assert_int_equal(k.load_end, 0x103000);
    img_free(&im);
}

/* Kernels may carry several PT_NOTE segments; the Xen note need not be in the first. */
static void load_finds_note_in_second_pt_note(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    struct ph n = ph_read(&im, 0);
    n.filesz = im.note_off - n.offset; /* the first keeps only the GNU note */
    ph_write(&im, 0, &n);
    /* Segment 1's header becomes the second PT_NOTE, holding the Xen note. */
    ph_write(&im, 2, &(struct ph){PT_NOTE, im.note_off, 0, 20, 20});
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.entry, 0x100040);
    assert_int_equal(k.load_end, 0x103000);
    img_free(&im);
}

/* ---- pvh_load_kernel: malformed files ---------------------------------------------------- */

static void reject_not_elf(void **state)
{
    struct ram *r = *state;
    struct img im = {.buf = calloc(1, IMG_MAX)};
    static const char pe[] = "MZ\x90\0this is a PE file, not ELF";
    memcpy(im.buf, pe, sizeof(pe));
    expect_reject(r, &im, 64, "not an ELF");
    expect_reject(r, &im, 0, "not an ELF");
    /* The magic alone, shorter than e_ident. */
    memcpy(im.buf, ELFMAG, SELFMAG);
    expect_reject(r, &im, SELFMAG, "not an ELF");
    img_free(&im);
}

static void reject_truncated_header(void **state)
{
    struct ram *r = *state;
    for (int is64 = 0; is64 <= 1; is64++) {
        struct spec s = default_spec(is64);
        struct img im;
        build(&im, &s);
        size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
        expect_reject(r, &im, ehsize - 1, "truncated");
        expect_reject(r, &im, EI_NIDENT, "truncated");
        img_free(&im);
    }
}

static void reject_big_endian(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    im.buf[EI_DATA] = ELFDATA2MSB;
    expect_reject(r, &im, im.len, "little-endian");
    img_free(&im);
}

static void reject_wrong_machine(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    set_e_machine(&im, EM_AARCH64);
    expect_reject(r, &im, im.len, "machine");
    set_e_machine(&im, EM_386); /* a 64-bit file must be x86-64 */
    expect_reject(r, &im, im.len, "machine");
    img_free(&im);

    s = default_spec(0);
    build(&im, &s);
    set_e_machine(&im, EM_ARM);
    expect_reject(r, &im, im.len, "machine");
    img_free(&im);
}

static void reject_wrong_class(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    im.buf[EI_CLASS] = ELFCLASSNONE;
    expect_reject(r, &im, im.len, "class");
    im.buf[EI_CLASS] = 3;
    expect_reject(r, &im, im.len, "class");
    im.buf[EI_CLASS] = 0xff;
    expect_reject(r, &im, im.len, "class");
    /* A 64-bit file labelled 32-bit: the program header size no longer matches. */
    im.buf[EI_CLASS] = ELFCLASS32;
    expect_reject(r, &im, im.len, NULL);
    img_free(&im);
}

static void reject_bad_phentsize_and_no_phdrs(void **state)
{
    struct ram *r = *state;
    for (int is64 = 0; is64 <= 1; is64++) {
        struct spec s = default_spec(is64);
        struct img im;
        build(&im, &s);
        set_e_phentsize(&im, is64 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr));
        expect_reject(r, &im, im.len, "program header size");
        set_e_phentsize(&im, 0);
        expect_reject(r, &im, im.len, "program header size");
        img_free(&im);

        build(&im, &s);
        set_e_phnum(&im, 0);
        expect_reject(r, &im, im.len, "no program headers");
        img_free(&im);
    }
}

static void reject_phdrs_outside_file(void **state)
{
    struct ram *r = *state;
    for (int is64 = 0; is64 <= 1; is64++) {
        struct spec s = default_spec(is64);
        struct img im;
        build(&im, &s);
        set_e_phoff(&im, im.len);
        expect_reject(r, &im, im.len, "program headers lie outside");
        set_e_phoff(&im, im.len - 10);
        expect_reject(r, &im, im.len, "program headers lie outside");
        set_e_phoff(&im, is64 ? UINT64_MAX : UINT32_MAX);
        expect_reject(r, &im, im.len, "program headers lie outside");
        /* Offsets chosen so that phoff + phnum * phentsize wraps to something small. */
        set_e_phoff(&im, is64 ? UINT64_MAX - 8 : UINT32_MAX - 8);
        set_e_phnum(&im, 1);
        expect_reject(r, &im, im.len, "program headers lie outside");
        img_free(&im);

        /* Header table in place, but more entries than the file holds. */
        build(&im, &s);
        set_e_phnum(&im, 0xffff);
        expect_reject(r, &im, im.len, "program headers lie outside");
        /* The table itself cut off by the end of the file. */
        set_e_phnum(&im, (uint16_t)im.phnum);
        size_t phentsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
        expect_reject(r, &im, im.phoff + im.phnum * phentsize - 1, "program headers lie outside");
        img_free(&im);
    }
}

static void reject_segment_data_outside_file(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    unsigned i = seg_ph(&im, &s, 1);
    struct ph good = ph_read(&im, i), p = good;

    p.offset = im.len - p.filesz + 1; /* one byte past the end */
    ph_write(&im, i, &p);
    expect_reject(r, &im, im.len, "segment 2");
    assert_msg_has("outside the file");

    p.offset = im.len + 1;
    p.filesz = 0;
    ph_write(&im, i, &p);
    expect_reject(r, &im, im.len, "outside the file");

    /* offset + filesz wraps around to a small number. */
    p = good;
    p.offset = UINT64_MAX - 0xf;
    p.filesz = 0x20;
    p.memsz = 0x20;
    ph_write(&im, i, &p);
    expect_reject(r, &im, im.len, "outside the file");

    p = good;
    p.filesz = UINT64_MAX;
    p.memsz = UINT64_MAX;
    ph_write(&im, i, &p);
    expect_reject(r, &im, im.len, "outside the file");

    /* The file ends before the segment's bytes do (truncated download). */
    ph_write(&im, i, &good);
    expect_reject(r, &im, im.len - 1, "outside the file");

    /* The note segment is held to the same rule. */
    ph_write(&im, i, &good);
    struct ph n = ph_read(&im, 0);
    n.offset = UINT64_MAX - 2;
    ph_write(&im, 0, &n);
    expect_reject(r, &im, im.len, "segment 0");
    img_free(&im);
}

static void reject_filesz_above_memsz(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.segs[1].memsz = s.segs[1].filesz - 1;
    expect_reject_spec(r, &s, "segment 2 file size exceeds");
    s = default_spec(0);
    s.segs[0] = (struct seg){0x100000, 0x1000, 0x10};
    s.entry = 0x100008;
    expect_reject_spec(r, &s, "segment 1 file size exceeds");
}

static void reject_segment_below_1mib(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.segs[1] = (struct seg){0x6000, 0x800, 0x800}; /* over the start info */
    expect_reject_spec(r, &s, "segment 2");
    assert_msg_has("1 MiB");

    /* Starts in the legacy BIOS area and runs over 1 MiB. */
    s.segs[1] = (struct seg){0xff000, 0x800, 0x2000};
    expect_reject_spec(r, &s, "1 MiB");

    s.segs[1] = (struct seg){0, 0x800, 0x800};
    expect_reject_spec(r, &s, "1 MiB");
}

static void reject_segment_past_end_of_ram(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.segs[1] = (struct seg){RAM_SIZE - 0x400, 0x800, 0x800};
    expect_reject_spec(r, &s, "segment 2");
    assert_msg_has("outside guest RAM");

    /* Small in the file, huge in memory: the bss alone runs off the end. */
    s.segs[1] = (struct seg){0x200000, 0x800, RAM_SIZE};
    expect_reject_spec(r, &s, "outside guest RAM");
    s.segs[1] = (struct seg){0x200000, 0x800, UINT64_MAX};
    expect_reject_spec(r, &s, "outside guest RAM");

    /* paddr + memsz wraps past 2^64. */
    s.segs[1] = (struct seg){UINT64_MAX - 0x3ff, 0x800, 0x800};
    expect_reject_spec(r, &s, "outside guest RAM");

    s.segs[1] = (struct seg){RAM_SIZE, 0x800, 0x800};
    expect_reject_spec(r, &s, "outside guest RAM");
}

/* ---- pvh_load_kernel: the PVH note ------------------------------------------------------- */

static void reject_without_pvh_note(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.note = 0;
    expect_reject_spec(r, &s, "PVH");

    /* A PT_NOTE with only the GNU build-id. */
    s = default_spec(1);
    s.xen_note = 0;
    expect_reject_spec(r, &s, "PVH");

    /* A Xen note of another type (18 is PHYS32_ENTRY; 1 is XEN_ELFNOTE_ENTRY, the PV entry). */
    s = default_spec(1);
    s.note_type = 1;
    expect_reject_spec(r, &s, "PVH");

    /* The right type with the wrong owner. */
    s = default_spec(1);
    struct img im;
    build(&im, &s);
    memcpy(im.buf + im.note_off + 12, "XEN", 4);
    expect_reject(r, &im, im.len, "PVH");
    img_free(&im);

    /* Same note in ELF32. */
    s = default_spec(0);
    s.xen_note = 0;
    expect_reject_spec(r, &s, "PVH");
}

static void reject_note_running_past_segment(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    static const uint32_t bad[][2] = {
        {0x100, 4},      /* namesz past the segment */
        {4, 0x100},      /* descsz past the segment */
        {0xffffffff, 4}, /* rounding namesz up must not wrap */
        {4, 0xffffffff}, /* nor descsz */
        {0xfffffffd, 0xfffffffd},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t save[2];
        memcpy(save, im.buf + im.note_off, 8);
        memcpy(im.buf + im.note_off, &bad[i][0], 4);
        memcpy(im.buf + im.note_off + 4, &bad[i][1], 4);
        expect_reject(r, &im, im.len, "note runs past");
        memcpy(im.buf + im.note_off, save, 8);
    }
    /* The first (GNU) note lies about its size. */
    size_t gnu = im.note_off - 12 - 4 - 20;
    uint32_t big = 0x1000;
    memcpy(im.buf + gnu + 4, &big, 4);
    expect_reject(r, &im, im.len, "note runs past");
    img_free(&im);

    /* The PT_NOTE's filesz cuts the Xen note's desc in half. */
    build(&im, &s);
    struct ph n = ph_read(&im, 0);
    n.filesz -= 2;
    ph_write(&im, 0, &n);
    expect_reject(r, &im, im.len, "note runs past");
    img_free(&im);
}

static void reject_note_with_3_byte_desc(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.descsz = 3;
    expect_reject_spec(r, &s, "3-byte");
    s.descsz = 0;
    expect_reject_spec(r, &s, "0-byte");
    s.descsz = 16;
    s.entry = 0x100040;
    struct img im;
    build(&im, &s); /* builder writes 8 bytes of desc; stretch the note segment to the claimed 16 */
    struct ph n = ph_read(&im, 0);
    n.filesz += 8;
    ph_write(&im, 0, &n);
    expect_reject(r, &im, im.len, "16-byte");
    img_free(&im);
}

static void reject_8_byte_entry_above_4gib(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.descsz = 8;
    s.entry = 0x100000040ULL; /* truncated to 32 bits it would be a valid 0x40 */
    expect_reject_spec(r, &s, "above 4 GiB");
    s.entry = UINT64_MAX;
    expect_reject_spec(r, &s, "above 4 GiB");
}

static void reject_entry_outside_image(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.entry = 0;
    expect_reject_spec(r, &s, "is not in any segment's code");
    s.entry = 0xfffff; /* one below the first segment */
    expect_reject_spec(r, &s, "is not in any segment's code");
    s.entry = 0x200800; /* one past the last byte */
    expect_reject_spec(r, &s, "is not in any segment's code");
    s.entry = 0xfee00000;
    expect_reject_spec(r, &s, "is not in any segment's code");
    s = default_spec(0);
    s.entry = 0x200800;
    expect_reject_spec(r, &s, "is not in any segment's code");
    /* Inside the image but not in file-backed bytes: in bss, or in the gap between segments. */
    s = default_spec(1);
    s.entry = 0x101000;
    expect_reject_spec(r, &s, "is not in any segment's code");
    s.entry = 0x180000;
    expect_reject_spec(r, &s, "is not in any segment's code");
}

static void reject_no_loadable_segments(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.nsegs = 0;
    expect_reject_spec(r, &s, "no loadable segments");
}

/* Validation is complete before the first copy: a good segment followed by a bad one must not
 * have been written when the bad one is found. */
static void rejected_image_leaves_ram_untouched(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    s.nsegs = 3;
    s.segs[2] = (struct seg){RAM_SIZE - 0x100, 0x200, 0x200};
    expect_reject_spec(r, &s, "segment 3");

    /* Bad entry only shows up after the loop over segments. */
    s = default_spec(1);
    s.entry = 0x300000;
    expect_reject_spec(r, &s, "is not in any segment's code");

    /* Bad note after good segments. */
    s = default_spec(1);
    struct img im;
    build(&im, &s);
    struct ph n = ph_read(&im, 0), l = ph_read(&im, 2);
    ph_write(&im, 0, &l);
    ph_write(&im, 2, &n); /* now: LOAD, LOAD, NOTE */
    uint32_t big = 0x1000;
    memcpy(im.buf + im.note_off + 4, &big, 4);
    expect_reject(r, &im, im.len, "note runs past");
    img_free(&im);
}

/* Only ranges of RAM below the MMIO hole hold kernels (docs/machine.md, "Boot: PVH"). Needs a
 * domain with more than 3 GiB so that the hole and the RAM above 4 GiB exist. */
static void reject_segment_in_mmio_hole(void **state)
{
    (void)state;
    struct ram big;
    ram_map(&big, 3 * GiB + 512 * MiB);
    struct spec s = default_spec(1);
    struct pvh_kernel k;

    s.segs[1] = (struct seg){GUEST_MMIO_HOLE_START - 0x400, 0x800, 0x800}; /* straddles 3 GiB */
    struct img im;
    build(&im, &s);
    assert_int_equal(pvh_load_kernel(&big.mem, im.buf, im.len, KNAME, &k), -ENOEXEC);
    assert_msg_has("segment 2");
    assert_msg_has("outside guest RAM");
    img_free(&im);

    s.segs[1] = (struct seg){0xfee00000, 0x800, 0x800}; /* on the LAPIC */
    build(&im, &s);
    assert_int_equal(pvh_load_kernel(&big.mem, im.buf, im.len, KNAME, &k), -ENOEXEC);
    assert_msg_has("outside guest RAM");
    img_free(&im);

    s.segs[1] = (struct seg){GUEST_HIGH_RAM_START - 0x400, 0x800, 0x800}; /* straddles 4 GiB */
    build(&im, &s);
    assert_int_equal(pvh_load_kernel(&big.mem, im.buf, im.len, KNAME, &k), -ENOEXEC);
    img_free(&im);

    /* Just below the hole is fine. */
    s.segs[1] = (struct seg){GUEST_MMIO_HOLE_START - 0x800, 0x800, 0x800};
    build(&im, &s);
    assert_int_equal(pvh_load_kernel(&big.mem, im.buf, im.len, KNAME, &k), 0);
    assert_int_equal(k.load_end, GUEST_MMIO_HOLE_START);
    assert_int_equal(big.buf[GUEST_MMIO_HOLE_START - 0x800], seg_byte(1, 0));
    img_free(&im);
    ram_unmap(&big);
}

/* docs/machine.md: "Segments must lie inside RAM below the MMIO hole". RAM above 4 GiB is RAM,
 * but a kernel placed there is outside what the contract offers (and would push load_end past
 * every initrd position). */
static void reject_segment_above_mmio_hole(void **state)
{
    (void)state;
    struct ram big;
    ram_map(&big, 3 * GiB + 512 * MiB);
    struct spec s = default_spec(1);
    s.segs[1] = (struct seg){GUEST_HIGH_RAM_START, 0x800, 0x800};
    struct img im;
    build(&im, &s);
    struct pvh_kernel k;
    int rc = pvh_load_kernel(&big.mem, im.buf, im.len, KNAME, &k);
    /* Whatever the verdict, look at what it wrote before failing, then clean up. */
    uint8_t first = big.buf[GUEST_MMIO_HOLE_START];
    img_free(&im);
    ram_unmap(&big);
    assert_int_equal(rc, -ENOEXEC);
    assert_int_equal(first, 0);
}

/* The image is a byte buffer: nothing in the API promises it is aligned for Elf64_Ehdr (an
 * image inside a larger file or archive is not). Run in a child so that a sanitizer abort is
 * reported as this test failing instead of ending the program. */
static void load_unaligned_image(void **state)
{
    (void)state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    uint8_t *shifted = malloc(im.len + 1);
    assert_non_null(shifted);
    memcpy(shifted + 1, im.buf, im.len);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ram r;
        ram_map(&r, RAM_SIZE);
        struct pvh_kernel k;
        int rc = pvh_load_kernel(&r.mem, shifted + 1, im.len, KNAME, &k);
        _exit(rc == 0 && k.entry == 0x100040 ? 0 : 10);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(shifted);
    img_free(&im);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("loading an image at an odd address failed (child status 0x%x; see sanitizer report above)", status);
}

/* ---- pvh_write_boot_info ----------------------------------------------------------------- */

static const struct pvh_kernel kernel_1m = {.entry = 0x100040, .load_start = 0x100000, .load_end = 0x200800};

static struct hvm_start_info read_start_info(const struct ram *r)
{
    struct hvm_start_info si;
    memcpy(&si, r->buf + PVH_START_INFO_ADDR, sizeof(si));
    return si;
}

static struct hvm_memmap_table_entry read_map(const struct ram *r, unsigned i)
{
    struct hvm_memmap_table_entry e;
    memcpy(&e, r->buf + PVH_MEMMAP_ADDR + i * sizeof(e), sizeof(e));
    return e;
}

static void check_map_entry(const struct ram *r, unsigned i, uint64_t addr, uint64_t size, uint32_t type)
{
    struct hvm_memmap_table_entry e = read_map(r, i);
    if (e.addr != addr || e.size != size || e.type != type)
        fail_msg("memmap[%u] = {0x%llx, 0x%llx, %u}, expected {0x%llx, 0x%llx, %u}", i, (unsigned long long)e.addr,
                 (unsigned long long)e.size, e.type, (unsigned long long)addr, (unsigned long long)size, type);
}

static void boot_info_start_info_and_memmap_64m(void **state)
{
    (void)state;
    struct ram r;
    ram_map(&r, 64 * MiB);
    assert_int_equal(pvh_write_boot_info(&r.mem, &kernel_1m, "console=ttyS0 quiet", NULL, 0, 0xe0000), 0);
    struct hvm_start_info si = read_start_info(&r);
    assert_int_equal(si.magic, 0x336ec578);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.flags, 0);
    assert_int_equal(si.nr_modules, 0);
    assert_int_equal(si.cmdline_paddr, 0x7000);
    assert_int_equal(si.memmap_paddr, 0x6100);
    assert_int_equal(si.rsdp_paddr, 0xe0000);
    assert_int_equal(si.memmap_entries, 3);
    check_map_entry(&r, 0, 0, 0x9fc00, E820_RAM);
    check_map_entry(&r, 1, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
    check_map_entry(&r, 2, 0x100000, 64 * MiB - 0x100000, E820_RAM);
    assert_string_equal((const char *)r.buf + 0x7000, "console=ttyS0 quiet");
    /* The map is exactly as long as it says: nothing written after the last entry. */
    struct hvm_memmap_table_entry after = read_map(&r, 3), zero = {0};
    assert_memory_equal(&after, &zero, sizeof(zero));
    /* Every boot-info address is inside RAM the map reports as RAM (the first entry). */
    assert_true(PVH_CMDLINE_ADDR + PVH_CMDLINE_MAX + 1 <= 0x9fc00);
    ram_unmap(&r);
}

/* The boot GDT the entry state's selectors come from: flat 4 GiB code at 0x10, data at 0x18. */
static void boot_info_gdt(void **state)
{
    struct ram *r = *state;
    assert_int_equal(pvh_write_boot_info(&r->mem, &kernel_1m, "", NULL, 0, 0), 0);
    uint64_t code, data;
    memcpy(&code, r->buf + PVH_GDT_ADDR + PVH_SEL_CODE, 8);
    memcpy(&data, r->buf + PVH_GDT_ADDR + PVH_SEL_DATA, 8);
    /* limit 0xfffff with G=1 (4 GiB), base 0, present, DPL 0, D/B=1 */
    for (int i = 0; i < 2; i++) {
        uint64_t d = i ? data : code;
        uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
        uint32_t base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
        assert_int_equal(limit, 0xfffff);
        assert_int_equal(base, 0);
        assert_true(d & (1ULL << 47));  /* P */
        assert_true(d & (1ULL << 55));  /* G */
        assert_true(d & (1ULL << 54));  /* D/B */
        assert_true(d & (1ULL << 44));  /* S: code/data */
        assert_false(d & (3ULL << 45)); /* DPL 0 */
    }
    assert_int_equal((code >> 40) & 0xa, 0xa); /* type: execute, readable */
    assert_int_equal((data >> 40) & 0xa, 0x2); /* type: data, writable */
}

static void boot_info_memmap_above_3g(void **state)
{
    (void)state;
    struct ram r;
    ram_map(&r, 3 * GiB + 512 * MiB);
    assert_int_equal(pvh_write_boot_info(&r.mem, &kernel_1m, NULL, NULL, 0, 0), 0);
    struct hvm_start_info si = read_start_info(&r);
    assert_int_equal(si.memmap_entries, 4);
    check_map_entry(&r, 0, 0, 0x9fc00, E820_RAM);
    check_map_entry(&r, 1, 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED);
    check_map_entry(&r, 2, 0x100000, GUEST_MMIO_HOLE_START - 0x100000, E820_RAM);
    check_map_entry(&r, 3, GUEST_HIGH_RAM_START, 512 * MiB, E820_RAM);
    /* NULL command line: an empty string, not garbage. */
    assert_int_equal(r.buf[PVH_CMDLINE_ADDR], 0);
    ram_unmap(&r);

    /* Exactly 3 GiB: no high range, and no empty one either. */
    ram_map(&r, 3 * GiB);
    assert_int_equal(pvh_write_boot_info(&r.mem, &kernel_1m, NULL, NULL, 0, 0), 0);
    si = read_start_info(&r);
    assert_int_equal(si.memmap_entries, 3);
    check_map_entry(&r, 2, 0x100000, GUEST_MMIO_HOLE_START - 0x100000, E820_RAM);
    ram_unmap(&r);
}

static void boot_info_cmdline_limits(void **state)
{
    struct ram *r = *state;
    char *line = malloc(PVH_CMDLINE_MAX + 2);
    assert_non_null(line);
    memset(line, 'a', PVH_CMDLINE_MAX + 1);
    line[0] = 'x';
    line[PVH_CMDLINE_MAX - 1] = 'z';
    line[PVH_CMDLINE_MAX] = '\0'; /* 4095 bytes */
    r->buf[0x8000] = 0x5a;        /* first byte the guest owns */
    assert_int_equal(pvh_write_boot_info(&r->mem, &kernel_1m, line, NULL, 0, 0), 0);
    assert_int_equal(strlen((const char *)r->buf + PVH_CMDLINE_ADDR), 4095);
    assert_memory_equal(r->buf + PVH_CMDLINE_ADDR, line, 4096);
    assert_int_equal(r->buf[0x8000], 0x5a);

    /* 4096 bytes: refused, with nothing written. */
    memset(r->buf, 0, RAM_SIZE);
    line[PVH_CMDLINE_MAX] = 'b';
    line[PVH_CMDLINE_MAX + 1] = '\0';
    assert_int_equal(pvh_write_boot_info(&r->mem, &kernel_1m, line, NULL, 0, 0), -E2BIG);
    assert_msg_has("command line");
    assert_msg_has("4096");
    assert_true(ram_all_zero(r));
    free(line);
}

static void boot_info_initrd(void **state)
{
    (void)state;
    struct ram r;
    ram_map(&r, 64 * MiB);
    size_t len = 5000;
    uint8_t *initrd = malloc(len);
    assert_non_null(initrd);
    for (size_t i = 0; i < len; i++)
        initrd[i] = (uint8_t)(i * 13 + 5);
    r.buf[64 * MiB - 1] = 0x77; /* the page tail after the initrd: not the initrd's business */
    assert_int_equal(pvh_write_boot_info(&r.mem, &kernel_1m, "root=/dev/ram0", initrd, len, 0), 0);

    struct hvm_start_info si = read_start_info(&r);
    assert_int_equal(si.nr_modules, 1);
    assert_int_equal(si.modlist_paddr, PVH_MODLIST_ADDR);
    struct hvm_modlist_entry m;
    memcpy(&m, r.buf + PVH_MODLIST_ADDR, sizeof(m));
    assert_int_equal(m.paddr, 64 * MiB - 8192); /* 5000 bytes round up to two pages */
    assert_int_equal(m.paddr % 4096, 0);
    assert_int_equal(m.size, len);
    assert_int_equal(m.cmdline_paddr, 0);
    assert_memory_equal(r.buf + m.paddr, initrd, len);
    assert_true(m.paddr >= kernel_1m.load_end);
    assert_int_equal(r.buf[64 * MiB - 1], 0x77);
    free(initrd);
    ram_unmap(&r);
}

/* Above 3 GiB the initrd still goes at the top of *low* RAM, under the MMIO hole. */
static void boot_info_initrd_high_ram(void **state)
{
    (void)state;
    struct ram r;
    ram_map(&r, 3 * GiB + 512 * MiB);
    uint8_t initrd[4096];
    memset(initrd, 0xa5, sizeof(initrd));
    assert_int_equal(pvh_write_boot_info(&r.mem, &kernel_1m, "", initrd, sizeof(initrd), 0), 0);
    struct hvm_modlist_entry m;
    memcpy(&m, r.buf + PVH_MODLIST_ADDR, sizeof(m));
    assert_int_equal(m.paddr, GUEST_MMIO_HOLE_START - 4096);
    assert_memory_equal(r.buf + m.paddr, initrd, sizeof(initrd));
    ram_unmap(&r);
}

static void boot_info_initrd_too_large(void **state)
{
    struct ram *r = *state;
    /* Kernel ends at 4 MiB in 8 MiB of RAM: exactly 4 MiB of room. */
    const struct pvh_kernel k = {.entry = 0x100000, .load_start = 0x100000, .load_end = 4 * MiB};
    size_t big = 4 * MiB + 1;
    uint8_t *initrd = calloc(1, 16 * MiB);
    assert_non_null(initrd);
    initrd[0] = 1;

    assert_int_equal(pvh_write_boot_info(&r->mem, &k, "", initrd, big, 0), -ENOMEM);
    assert_msg_has("initrd");
    assert_true(ram_all_zero(r));

    /* Bigger than all of RAM. */
    assert_int_equal(pvh_write_boot_info(&r->mem, &k, "", initrd, 16 * MiB, 0), -ENOMEM);
    assert_true(ram_all_zero(r));

    /* One byte of kernel past 4 MiB: the initrd's page would overlap it. */
    const struct pvh_kernel k2 = {.entry = 0x100000, .load_start = 0x100000, .load_end = 4 * MiB + 1};
    assert_int_equal(pvh_write_boot_info(&r->mem, &k2, "", initrd, 4 * MiB, 0), -ENOMEM);
    assert_true(ram_all_zero(r));

    /* A length so large that rounding it up to a page wraps: refused all the same. */
    assert_true(pvh_write_boot_info(&r->mem, &k, "", initrd, SIZE_MAX - 100, 0) < 0);
    assert_true(ram_all_zero(r));

    /* Exactly the room there is: accepted, and it starts where the kernel ends. */
    assert_int_equal(pvh_write_boot_info(&r->mem, &k, "", initrd, 4 * MiB, 0), 0);
    struct hvm_modlist_entry m;
    memcpy(&m, r->buf + PVH_MODLIST_ADDR, sizeof(m));
    assert_int_equal(m.paddr, 4 * MiB);
    assert_int_equal(r->buf[4 * MiB], 1);
    free(initrd);
}

/* An empty initrd file is still a module (the guest sees what it was given). */
static void boot_info_empty_initrd(void **state)
{
    struct ram *r = *state;
    static const uint8_t nothing[1];
    assert_int_equal(pvh_write_boot_info(&r->mem, &kernel_1m, "", nothing, 0, 0), 0);
    struct hvm_start_info si = read_start_info(r);
    assert_int_equal(si.nr_modules, 1);
    struct hvm_modlist_entry m;
    memcpy(&m, r->buf + PVH_MODLIST_ADDR, sizeof(m));
    assert_int_equal(m.size, 0);
    assert_true(m.paddr <= RAM_SIZE);
}

/* Loading then writing boot info: the pair vm_load_pvh runs. */
static void load_then_boot_info(void **state)
{
    struct ram *r = *state;
    struct spec s = default_spec(1);
    struct img im;
    build(&im, &s);
    struct pvh_kernel k;
    assert_int_equal(pvh_load_kernel(&r->mem, im.buf, im.len, KNAME, &k), 0);
    uint8_t initrd[100];
    memset(initrd, 0x3c, sizeof(initrd));
    assert_int_equal(pvh_write_boot_info(&r->mem, &k, "x", initrd, sizeof(initrd), 0), 0);
    check_loaded(r, &s);
    struct hvm_modlist_entry m;
    memcpy(&m, r->buf + PVH_MODLIST_ADDR, sizeof(m));
    assert_int_equal(m.paddr, RAM_SIZE - 4096);
    img_free(&im);
}

#define T(f) cmocka_unit_test_setup_teardown(f, ram_setup, ram_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(load_elf64_copies_segments_and_zeroes_bss),
        T(load_elf32),
        T(load_elf32_tagged_x86_64),
        T(load_note_with_8_byte_desc),
        T(load_bss_only_segment_and_segment_at_end_of_ram),
        T(load_ignores_other_and_empty_segments),
        T(load_finds_note_in_second_pt_note),
        T(reject_not_elf),
        T(reject_truncated_header),
        T(reject_big_endian),
        T(reject_wrong_machine),
        T(reject_wrong_class),
        T(reject_bad_phentsize_and_no_phdrs),
        T(reject_phdrs_outside_file),
        T(reject_segment_data_outside_file),
        T(reject_filesz_above_memsz),
        T(reject_segment_below_1mib),
        T(reject_segment_past_end_of_ram),
        T(reject_without_pvh_note),
        T(reject_note_running_past_segment),
        T(reject_note_with_3_byte_desc),
        T(reject_8_byte_entry_above_4gib),
        T(reject_entry_outside_image),
        T(reject_no_loadable_segments),
        T(rejected_image_leaves_ram_untouched),
        T(reject_segment_in_mmio_hole),
        T(reject_segment_above_mmio_hole),
        T(load_unaligned_image),
        T(boot_info_start_info_and_memmap_64m),
        T(boot_info_gdt),
        T(boot_info_memmap_above_3g),
        T(boot_info_cmdline_limits),
        T(boot_info_initrd),
        T(boot_info_initrd_high_ram),
        T(boot_info_initrd_too_large),
        T(boot_info_empty_initrd),
        T(load_then_boot_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
