/* The guest runtime's ACPI reader (guest/runtime/acpi.c), compiled for the host and run
 * over the monitor's own tables (src/vmm/boot/acpi.c's acpi_build), then over damaged copies:
 * every byte changed (with the table's checksum fixed up, so that the damage reaches the
 * parsers behind the checksum), lengths cut and stretched, random AML. The reader must
 * never read outside the tables' memory (ASan watches: "physical memory" is a heap block
 * exactly as large as the tables) and must still answer.
 *
 * The guest file comes in whole: its statics (the parse state) are reset between runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Not <stdlib.h>: the guest's string.h (pulled in by runtime.h) declares its own strtoul. */
void *malloc(size_t size);
void free(void *p);

/* Guest-physical [mem_base, mem_base + mem_size) is the heap block `mem`. */
static uint8_t *mem;
static uint64_t mem_base, mem_size;
#define ACPI_PHYS(pa) ((const uint8_t *)(mem + ((pa)-mem_base)))
#define ACPI_CPU_INDEX() 0u

#include "../../guest/runtime/acpi.c"

/* What the guest runtime would provide. */
struct boot_info boot_info;

uint64_t paging_mapped_top(void)
{
    return 1ULL << 32;
}

/* link: vmm/boot */
/* The host builder's interface (src/vmm/boot/acpi.h and machine/vm.h, which cannot be included next to
 * the guest's runtime.h: both declare uart_init, power_request_init, ...). Restated here;
 * test_acpi_tables.c checks the layout of the real struct mmio_dev_desc. */
struct mmio_dev_desc {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
    const char *name;
};
struct acpi_layout {
    size_t offset[5], length[5];
    size_t used;
};
enum { T_RSDP, T_XSDT, T_FADT, T_MADT, T_DSDT };
int acpi_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned nvcpus, const struct mmio_dev_desc *devs,
               unsigned ndevs, struct acpi_layout *layout);

#define BASE 0xe0000ULL
#define AREA 0x10000

static struct acpi_layout lay;
static uint8_t pristine[AREA];

/* Builds the tables and makes them the guest's memory: a block of exactly lay.used bytes
 * at BASE, which is also the one entry of the memory map. */
static void setup(unsigned nvcpus, unsigned ndevs)
{
    static struct mmio_dev_desc devs[256];
    for (unsigned i = 0; i < ndevs; i++)
        devs[i] = (struct mmio_dev_desc){0xd0000000ULL + i * 0x1000ULL, 0x1000, 16 + i, "virtio-test"};
    assert_int_equal(acpi_build(pristine, AREA, BASE, nvcpus, devs, ndevs, &lay), 0);
    free(mem);
    mem = malloc(lay.used);
    assert_non_null(mem);
    memcpy(mem, pristine, lay.used);
    mem_base = BASE;
    mem_size = lay.used;
    memset(&boot_info, 0, sizeof(boot_info));
    boot_info.rsdp_paddr = BASE;
    boot_info.nr_memmap = 1;
    boot_info.memmap[0] = (struct memmap_entry){BASE, lay.used, 2, 0};
}

static int teardown(void **state)
{
    (void)state;
    free(mem);
    mem = NULL;
    return 0;
}

static const struct acpi_info *reparse(void)
{
    memset(&info, 0, sizeof(info));
    parse_state = 0;
    parser_cpu = ~0u;
    return acpi_get_info();
}

static void fix_checksum(size_t table_off)
{
    uint32_t len = rd32(mem + table_off + 4);
    if (table_off + 10 > mem_size)
        return;
    if (len > mem_size - table_off)
        len = (uint32_t)(mem_size - table_off);
    mem[table_off + 9] = 0;
    mem[table_off + 9] = (uint8_t)-sum8(mem + table_off, len);
}

/* ---- the monitor's tables as they are ------------------------------------------------------ */

static void reads_everything(void **state)
{
    (void)state;
    struct acpi_mmio_dev devs[ACPI_MAX_MMIO_DEVS];
    setup(4, 3);
    const struct acpi_info *a = reparse();
    assert_true(a->found);
    assert_true(a->rsdp_from_start_info);
    assert_int_equal(a->rsdp_addr, BASE);
    assert_int_equal(a->rsdp_revision, 2);
    assert_string_equal(a->oem_id, "XENO  ");
    assert_true(a->xsdt.checksum_ok && a->fadt.checksum_ok && a->madt.checksum_ok && a->dsdt.checksum_ok);
    assert_int_equal(a->xsdt.addr, BASE + lay.offset[T_XSDT]);
    assert_int_equal(a->fadt.addr, BASE + lay.offset[T_FADT]);
    assert_int_equal(a->madt.addr, BASE + lay.offset[T_MADT]);
    assert_int_equal(a->dsdt.addr, BASE + lay.offset[T_DSDT]);
    assert_true(a->hw_reduced);
    assert_int_equal(a->sleep_control.space, 1);
    assert_int_equal(a->sleep_control.addr, 0x600);
    assert_int_equal(a->sleep_status.addr, 0x601);
    assert_int_equal(a->reset_reg.addr, 0x64);
    assert_int_equal(a->reset_value, 0xfe);
    assert_int_equal(a->lapics, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(a->lapic_ids[i], i);
    assert_int_equal(a->lapic_addr, 0xfee00000);
    assert_int_equal(a->ioapics, 1);
    assert_int_equal(a->ioapic_addr, 0xfec00000);
    assert_true(a->dsdt_walked);
    assert_null(a->dsdt_stop);
    assert_true(a->s5_found);
    assert_int_equal(a->s5_slp_typ, 5);
    assert_int_equal(acpi_lapic_count(), 4);

    assert_int_equal(acpi_virtio_mmio_devices(devs, ACPI_MAX_MMIO_DEVS), 3);
    for (unsigned i = 0; i < 3; i++) {
        char name[5] = {'V', 'R', '0', (char)('0' + i), 0};
        assert_int_equal(devs[i].base, 0xd0000000ULL + i * 0x1000);
        assert_int_equal(devs[i].size, 0x1000);
        assert_int_equal(devs[i].gsi, 16 + i);
        assert_int_equal(devs[i].uid, i);
        assert_string_equal(devs[i].name, name);
    }
    /* max caps the copy. */
    assert_int_equal(acpi_virtio_mmio_devices(devs, 2), 2);
    assert_int_equal(acpi_virtio_mmio_devices(devs, 0), 0);
}

static void device_counts(void **state)
{
    (void)state;
    static const unsigned counts[] = {0, 1, 8, 16, 17, 256};
    struct acpi_mmio_dev devs[ACPI_MAX_MMIO_DEVS];
    for (unsigned k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        unsigned n = counts[k], kept = n < ACPI_MAX_MMIO_DEVS ? n : ACPI_MAX_MMIO_DEVS;
        setup(1, n);
        const struct acpi_info *a = reparse();
        assert_true(a->dsdt_walked);
        assert_int_equal(a->nr_mmio_devs, n); /* all are counted, the first 16 kept */
        assert_int_equal(acpi_virtio_mmio_devices(devs, ACPI_MAX_MMIO_DEVS), kept);
        for (unsigned i = 0; i < kept; i++)
            assert_int_equal(devs[i].gsi, 16 + i);
    }
}

static void scan_without_start_info(void **state)
{
    (void)state;
    setup(2, 1);
    /* The scan covers 0xe0000-0xfffff: give it all of that (the tables at its start). */
    uint8_t *big = malloc(0x20000);
    assert_non_null(big);
    memset(big, 0, 0x20000);
    memcpy(big, mem, lay.used);
    free(mem);
    mem = big;
    mem_size = 0x20000;
    boot_info.memmap[0].size = 0x20000;
    boot_info.rsdp_paddr = 0;
    const struct acpi_info *a = reparse();
    assert_true(a->found);
    assert_false(a->rsdp_from_start_info);
    assert_int_equal(a->rsdp_addr, BASE);
    assert_int_equal(a->lapics, 2);
    /* A start info pointing at garbage: the scan still finds it. */
    boot_info.rsdp_paddr = BASE + 0x100;
    a = reparse();
    assert_true(a->found);
    assert_false(a->rsdp_from_start_info);
    /* A damaged RSDP is passed over: the scan goes on to a good copy further up. */
    memcpy(mem + 0x800, mem, 36);
    mem[8] ^= 1;
    a = reparse();
    assert_true(a->found);
    assert_int_equal(a->rsdp_addr, BASE + 0x800);
    assert_int_equal(a->lapics, 2);
}

static void no_tables(void **state)
{
    (void)state;
    struct acpi_mmio_dev devs[4];
    setup(1, 1);
    memset(mem, 0, mem_size);
    boot_info.rsdp_paddr = 0;
    const struct acpi_info *a = reparse();
    assert_false(a->found);
    assert_int_equal(acpi_lapic_count(), 0);
    assert_int_equal(acpi_virtio_mmio_devices(devs, 4), -1);
    assert_false(acpi_power_off()); /* nothing to write to: the caller falls back */
    /* No memory map at all (start info version 0): the scan then trusts the identity map,
     * so give it the whole BIOS area (empty); the start info points outside the map. */
    free(mem);
    mem = malloc(0x20000);
    assert_non_null(mem);
    memset(mem, 0, 0x20000);
    mem_size = 0x20000;
    boot_info.nr_memmap = 0;
    boot_info.rsdp_paddr = 1ULL << 40;
    a = reparse();
    assert_false(a->found);
}

/* ---- damaged tables ------------------------------------------------------------------------- */

/* The table containing offset o, so its checksum can be fixed after damaging o. */
static size_t table_of(size_t o)
{
    for (int t = T_XSDT; t <= T_DSDT; t++)
        if (o >= lay.offset[t] && o < lay.offset[t] + lay.length[t])
            return lay.offset[t];
    return (size_t)-1;
}

static void fix_rsdp(void)
{
    mem[8] = 0;
    mem[8] = (uint8_t)-sum8(mem, 20);
    mem[32] = 0;
    mem[32] = (uint8_t)-sum8(mem, 36);
}

static void every_byte(void **state)
{
    (void)state;
    static const int deltas[] = {1, -1, 0x80, 0x3f, 0x40};
    struct acpi_mmio_dev devs[ACPI_MAX_MMIO_DEVS];
    setup(2, 3);
    for (size_t o = 0; o < lay.used; o++) {
        for (unsigned k = 0; k < sizeof(deltas) / sizeof(deltas[0]) + 2; k++) {
            memcpy(mem, pristine, lay.used);
            if (k < sizeof(deltas) / sizeof(deltas[0]))
                mem[o] = (uint8_t)(mem[o] + deltas[k]);
            else
                mem[o] = k == sizeof(deltas) / sizeof(deltas[0]) ? 0x00 : 0xff;
            size_t t = table_of(o);
            if (t != (size_t)-1 && (o < t + 9 || o > t + 9))
                fix_checksum(t);
            else if (o < 36 && o != 8 && o != 32)
                fix_rsdp();
            const struct acpi_info *a = reparse();
            int n = acpi_virtio_mmio_devices(devs, ACPI_MAX_MMIO_DEVS);
            assert_true(n >= -1 && n <= ACPI_MAX_MMIO_DEVS);
            assert_true(a->lapics <= 64);
        }
    }
}

static void lengths(void **state)
{
    (void)state;
    setup(2, 8);
    /* Every table length from 0 to past the end of memory, checksum fixed each time. */
    for (int t = T_XSDT; t <= T_DSDT; t++) {
        size_t off = lay.offset[t];
        for (uint32_t len = 0; len < lay.length[t] + 80; len++) {
            memcpy(mem, pristine, lay.used);
            mem[off + 4] = (uint8_t)len;
            mem[off + 5] = (uint8_t)(len >> 8);
            fix_checksum(off);
            const struct acpi_info *a = reparse();
            if (t == T_DSDT && len >= 36 && len < lay.length[t] && a->dsdt.checksum_ok)
                assert_true(a->nr_mmio_devs < 8); /* a cut DSDT loses devices, never invents them */
        }
        for (uint32_t len = 0xfffff000u; len != 0; len += 0x100) {
            memcpy(mem, pristine, lay.used);
            mem[off + 4] = (uint8_t)len;
            mem[off + 5] = (uint8_t)(len >> 8);
            mem[off + 6] = (uint8_t)(len >> 16);
            mem[off + 7] = (uint8_t)(len >> 24);
            reparse();
        }
    }
}

static uint32_t rng = 12345;
static uint8_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return (uint8_t)(rng >> 16);
}

static void random_aml(void **state)
{
    (void)state;
    /* Biased towards the opcodes the reader knows, so the walk goes deep. */
    static const uint8_t ops[] = {0x08, 0x10, 0x11, 0x12, 0x14, 0x5b, 0x82, 0x0a, 0x0d, 0x00, 0x5c, 0x2e,
                                  0x2f, '_',  'A',  '0',  0x40, 0x80, 0xc0, 0xff, 0x86, 0x89, 0x79};
    setup(1, 8);
    size_t dsdt = lay.offset[T_DSDT], body = lay.length[T_DSDT] - 36;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(mem, pristine, lay.used);
        /* Rewrite a random stretch of the AML. */
        size_t from = rnd() % body, n = 1 + rnd() % 24;
        for (size_t i = from; i < body && i < from + n; i++)
            mem[dsdt + 36 + i] = (rnd() & 1) ? ops[rnd() % sizeof(ops)] : rnd();
        fix_checksum(dsdt);
        const struct acpi_info *a = reparse();
        assert_true(a->dsdt.checksum_ok);
        assert_true(a->dsdt_walked || a->dsdt_stop != NULL);
    }
}

/* Replaces the DSDT's AML with `aml` (the DSDT is the last table: memory ends with it). */
static const struct acpi_info *with_aml(const uint8_t *aml, size_t n)
{
    size_t dsdt = lay.offset[T_DSDT];
    free(mem);
    mem = malloc(dsdt + 36 + n);
    assert_non_null(mem);
    memcpy(mem, pristine, dsdt + 36);
    memcpy(mem + dsdt + 36, aml, n);
    mem_size = dsdt + 36 + n;
    boot_info.memmap[0].size = mem_size;
    uint32_t len = (uint32_t)(36 + n);
    memcpy(mem + dsdt + 4, &len, 4);
    fix_checksum(dsdt);
    return reparse();
}

#define AML(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})
#define HID 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00
#define CRS_HDR 0x08, '_', 'C', 'R', 'S'
/* _CRS: Memory32Fixed (RW, 0xd0000000, 0x1000), Interrupt (...) {16}, end tag */
#define CRS                                                                                                            \
    CRS_HDR, 0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00, 0x89,     \
        0x06, 0x00, 0x03, 0x01, 0x10, 0x00, 0x00, 0x00, 0x79, 0x00

static void crafted_aml(void **state)
{
    (void)state;
    const struct acpi_info *a;
    setup(1, 0);

    /* A well-formed device, then the same with its pieces cut off at the end of memory. */
    a = with_aml(AML(0x5b, 0x82, 0x34, 'V', 'R', '0', '0', HID, CRS));
    assert_true(a->dsdt_walked);
    assert_int_equal(a->nr_mmio_devs, 1);
    assert_int_equal(a->mmio_devs[0].gsi, 16);
    assert_int_equal(a->mmio_devs[0].uid, 0); /* no _UID: the index */
    /* Memory32Fixed claiming 9 bytes with 3 left, last in memory. */
    a = with_aml(AML(0x5b, 0x82, 0x23, 'V', 'R', '0', '0', HID, CRS_HDR, 0x11, 0x09, 0x0a, 0x06, 0x86, 0x09, 0x00, 0x01,
                     0x00, 0x00));
    assert_true(a->dsdt_walked);
    assert_int_equal(a->nr_mmio_devs, 0);
    /* An Extended Interrupt claiming 5 interrupts in 6 bytes; a large item cut in its header. */
    a = with_aml(AML(0x5b, 0x82, 0x26, 'V', 'R', '0', '0', HID, CRS_HDR, 0x11, 0x0c, 0x0a, 0x09, 0x89, 0x06, 0x00, 0x03,
                     0x05, 0x10, 0x00, 0x00, 0x00));
    assert_int_equal(a->nr_mmio_devs, 0);
    a = with_aml(AML(CRS_HDR, 0x11, 0x05, 0x0a, 0x02, 0x86, 0x09));
    assert_true(a->dsdt_walked);
    /* A BufferSize larger than the bytes there (legal: the rest is zeros). */
    a = with_aml(AML(CRS_HDR, 0x11, 0x04, 0x0c, 0xff, 0xff, 0xff, 0xff));
    assert_false(a->dsdt_walked); /* the size's 4 bytes run out of the package */
    /* Names: a MultiNamePrefix claiming 255 segments, a name cut short, a bad character. */
    a = with_aml(AML(0x08, 0x2f, 0xff, 'A', 'B', 'C', 'D'));
    assert_false(a->dsdt_walked);
    assert_string_equal(a->dsdt_stop, "truncated name");
    a = with_aml(AML(0x08, '_', 'S', '5'));
    assert_false(a->dsdt_walked);
    a = with_aml(AML(0x08, 'a', 'b', 'c', 'd', 0x00));
    assert_string_equal(a->dsdt_stop, "bad character in a name");
    /* A string without its NUL at the end of memory; integers cut short. */
    a = with_aml(AML(0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O'));
    assert_string_equal(a->dsdt_stop, "unterminated string");
    a = with_aml(AML(0x08, '_', 'U', 'I', 'D', 0x0e, 1, 2, 3));
    assert_string_equal(a->dsdt_stop, "truncated integer");
    /* PkgLength: reserved bits, cut short, pointing past its scope. */
    a = with_aml(AML(0x10, 0x70, 0x00, '_', 'S', 'B', '_'));
    assert_string_equal(a->dsdt_stop, "PkgLength with reserved bits set");
    a = with_aml(AML(0x10, 0xc1));
    assert_string_equal(a->dsdt_stop, "truncated PkgLength");
    a = with_aml(AML(0x10, 0x3f, '_', 'S', 'B', '_'));
    assert_string_equal(a->dsdt_stop, "PkgLength outside its scope");
    a = with_aml(AML(0x5b));
    assert_string_equal(a->dsdt_stop, "truncated extended opcode");
    /* Scopes nested deeper than the reader goes. */
    {
        uint8_t deep[20 * 6];
        for (int i = 0; i < 20; i++) {
            uint8_t *p = deep + 6 * i;
            p[0] = 0x10;
            p[1] = (uint8_t)(sizeof(deep) - 6 * i - 1); /* one-byte PkgLength: < 64 needed */
            memcpy(p + 2, "_SB_", 4);
        }
        /* Keep every PkgLength in one byte: only the innermost 10 levels fit 63 bytes. */
        a = with_aml(deep + 60, sizeof(deep) - 60);
        assert_true(a->dsdt_walked); /* 10 levels: fine */
    }
    {
        uint8_t deep[20 * 7];
        for (int i = 0; i < 20; i++) {
            uint8_t *p = deep + 7 * i;
            uint32_t v = (uint32_t)(sizeof(deep) - 7 * i - 1); /* PkgLength counts itself */
            p[0] = 0x10;
            p[1] = (uint8_t)(0x40 | (v & 0xf));
            p[2] = (uint8_t)(v >> 4);
            memcpy(p + 3, "_SB_", 4);
        }
        a = with_aml(deep, sizeof(deep));
        assert_string_equal(a->dsdt_stop, "scopes nested too deep");
    }
    /* What a stock DSDT adds around the devices: a Method and an If skipped whole, a device
     * inside another device, _UID as a word, a device without an interrupt (not listed), a
     * _HID that is an EISA ID (not listed). */
    a = with_aml(AML(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f, /* Method (_STA) { Return (0x0f) } */
                     0xa0, 0x03, 0x01, 0xa3,                                 /* If (One) { Noop } */
                     0x5b, 0x82, 0x44, 0x04, 'P', 'C', 'I', '0',             /* Device (PCI0) { */
                     0x5b, 0x82, 0x3c, 'V', 'R', '0', '7', HID,              /*   Device (VR07) { */
                     0x08, '_', 'U', 'I', 'D', 0x0b, 0x34, 0x12, CRS,        /*     _UID 0x1234 } } */
                     0x5b, 0x82, 0x1b, 'V', 'R', '0', '8', HID,              /* Device (VR08): no _CRS */
                     0x08, '_', 'S', 'T', 'R', 0x0a, 0x01,                   /*   Name (_STR, 1) */
                     0x5b, 0x82, 0x21, 'V', 'R', '0', '9',                   /* Device (VR09): EISA _HID */
                     0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01, CRS_HDR, 0x11, 0x0c, 0x0a, 0x09, 0x89,
                     0x06, 0x00, 0x03, 0x01, 0x11, 0x00, 0x00, 0x00));
    assert_null(a->dsdt_stop);
    assert_true(a->dsdt_walked);
    assert_int_equal(a->nr_mmio_devs, 1);
    assert_string_equal(a->mmio_devs[0].name, "VR07");
    assert_int_equal(a->mmio_devs[0].uid, 0x1234);
    /* An opcode the reader cannot step over ends the walk, keeping what came before. */
    a = with_aml(AML(0x5b, 0x82, 0x34, 'V', 'R', '0', '0', HID, CRS, 0x5b, 0x80, 'R', 'E', 'G', '0'));
    assert_false(a->dsdt_walked);
    assert_string_equal(a->dsdt_stop, "an extended opcode this reader does not know");
    assert_int_equal(a->nr_mmio_devs, 1);
    /* _S5_ variants: a one-element package, SLP_TYP out of range, not a package. */
    a = with_aml(AML(0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x07));
    assert_true(a->s5_found);
    assert_int_equal(a->s5_slp_typ, 7);
    a = with_aml(AML(0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x09));
    assert_false(a->s5_found);
    assert_true(a->dsdt_walked);
    a = with_aml(AML(0x08, '_', 'S', '5', '_', 0x0a, 0x05));
    assert_false(a->s5_found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_everything), cmocka_unit_test(device_counts), cmocka_unit_test(scan_without_start_info),
        cmocka_unit_test(no_tables),        cmocka_unit_test(every_byte),    cmocka_unit_test(lengths),
        cmocka_unit_test(random_aml),       cmocka_unit_test(crafted_aml),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
