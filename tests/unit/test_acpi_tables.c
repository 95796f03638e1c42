/* ACPI table builder (src/vmm/boot/acpi.c): checksums, lengths and cross-pointers of every
 * table, the FADT and MADT fields the machine contract names, the DSDT's AML byte for byte
 * for 0 and 1 devices and structurally for 8 and 256, the AML PkgLength encoding at every
 * boundary, and the refusals (no vCPU, too many devices, a buffer too small).
 * tests/integration/acpi.sh runs `iasl -d` over the same tables; tests/unit/test_acpi_guest.c
 * runs the guest's reader over them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/boot/acpi.h"
#include "vmm/dev/acpi_pm.h"
#include "vmm/machine/vm.h" /* VM_MAX_VCPUS */

#define BASE ACPI_TABLES_BASE
#define SIZE ACPI_TABLES_SIZE

static uint8_t buf[SIZE];

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* Device i's pin: the transport's for the windows a machine has, made up beyond them. */
static uint32_t gsi_of(unsigned i)
{
    return i < VM_MAX_MMIO_DEVS ? virtio_mmio_gsi(i) : VIRTIO_GSI_BASE + i;
}

/* n devices as the virtio transport registers them (docs/machine.md). */
static void devices(struct mmio_dev_desc *d, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        d[i] = (struct mmio_dev_desc){VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_STRIDE, VIRTIO_MMIO_STRIDE, gsi_of(i),
                                      "virtio-test"};
}

static void build(unsigned nvcpus, unsigned ndevs, struct acpi_layout *lay)
{
    static struct mmio_dev_desc devs[256];
    devices(devs, ndevs);
    memset(buf, 0xa5, sizeof(buf));
    int r = acpi_build(buf, sizeof(buf), BASE, nvcpus, devs, ndevs, lay);
    if (r != 0)
        fail_msg("acpi_build: %s", err_msg());
}

/* Header, length and checksum of the table `t` (not the RSDP). */
static const uint8_t *table(const struct acpi_layout *lay, enum acpi_table t, const char *sig, uint8_t rev)
{
    const uint8_t *p = buf + lay->offset[t];
    assert_memory_equal(p, sig, 4);
    assert_int_equal(rd32(p + 4), lay->length[t]);
    assert_int_equal(p[8], rev);
    assert_int_equal(sum(p, lay->length[t]), 0);
    assert_memory_equal(p + 10, "XENO  ", 6);
    assert_memory_equal(p + 16, "XENOSRV ", 8);
    assert_true(lay->offset[t] % 8 == 0);
    assert_true(lay->offset[t] + lay->length[t] <= lay->used);
    return p;
}

/* ---- PkgLength ------------------------------------------------------------------------------ */

/* Decodes an encoded PkgLength: its value, and how many bytes it took. */
static uint32_t pkg_decode(const uint8_t *p, size_t *n)
{
    unsigned extra = p[0] >> 6;
    if (extra == 0) {
        *n = 1;
        return p[0] & 0x3f;
    }
    assert_int_equal(p[0] & 0x30, 0); /* reserved bits of a multi-byte lead */
    uint32_t v = p[0] & 0x0f;
    for (unsigned i = 0; i < extra; i++)
        v |= (uint32_t)p[1 + i] << (4 + 8 * i);
    *n = 1 + extra;
    return v;
}

static void pkglength_boundaries(void **state)
{
    (void)state;
    /* content bytes -> expected encoded length (value = content + own bytes) */
    static const struct {
        size_t content, bytes;
    } cases[] = {
        {0, 1},
        {1, 1},
        {62, 1}, /* 63: the largest one-byte value */
        {63, 2}, /* 64 would fit one byte's 6 bits no more: 63 + 2 = 65 */
        {64, 2},
        {4092, 2},
        {4093, 2}, /* 4095: the largest two-byte value */
        {4094, 3}, /* 4096 does not fit 12 bits: 4094 + 3 = 4097 */
        {4095, 3},
        {4096, 3},
        {(1u << 20) - 4, 3}, /* 2^20 - 1 */
        {(1u << 20) - 3, 4},
        {(1u << 28) - 5, 4}, /* 2^28 - 1: the largest */
    };
    uint8_t enc[4];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = aml_pkglength(enc, cases[i].content), dn;
        if (n != cases[i].bytes)
            fail_msg("content %zu: %zu bytes, expected %zu", cases[i].content, n, cases[i].bytes);
        assert_int_equal(pkg_decode(enc, &dn), cases[i].content + n);
        assert_int_equal(dn, n);
    }
    /* The exact bytes at the edges. */
    assert_int_equal(aml_pkglength(enc, 62), 1);
    assert_int_equal(enc[0], 0x3f);
    assert_int_equal(aml_pkglength(enc, 63), 2);
    assert_int_equal(enc[0], 0x41); /* 65 = 0x041: one more byte, low nibble 1 */
    assert_int_equal(enc[1], 0x04);
    assert_int_equal(aml_pkglength(enc, 4093), 2);
    assert_int_equal(enc[0], 0x4f); /* 4095 = 0xfff */
    assert_int_equal(enc[1], 0xff);
    assert_int_equal(aml_pkglength(enc, 4094), 3);
    assert_int_equal(enc[0], 0x81); /* 4097 = 0x1001 */
    assert_int_equal(enc[1], 0x00);
    assert_int_equal(enc[2], 0x01);
    /* Too large for any encoding. */
    assert_int_equal(aml_pkglength(enc, (1u << 28) - 4), 0);
    assert_int_equal(aml_pkglength(enc, SIZE_MAX), 0);
}

/* ---- tables ------------------------------------------------------------------------------- */

static void rsdp_and_xsdt(void **state)
{
    (void)state;
    struct acpi_layout lay;
    build(1, 0, &lay);
    const uint8_t *r = buf + lay.offset[ACPI_RSDP];
    assert_int_equal(lay.offset[ACPI_RSDP], 0); /* RSDP first, at ACPI_TABLES_BASE */
    assert_int_equal(lay.length[ACPI_RSDP], 36);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(sum(r, 36), 0);
    assert_memory_equal(r + 9, "XENO  ", 6);
    assert_int_equal(r[15], 2);
    assert_int_equal(rd32(r + 16), 0); /* no RSDT */
    assert_int_equal(rd32(r + 20), 36);
    assert_int_equal(rd64(r + 24), BASE + lay.offset[ACPI_XSDT]);

    const uint8_t *x = table(&lay, ACPI_XSDT, "XSDT", 1);
    assert_int_equal(lay.length[ACPI_XSDT], 36 + 16);
    assert_int_equal(rd64(x + 36), BASE + lay.offset[ACPI_FADT]);
    assert_int_equal(rd64(x + 44), BASE + lay.offset[ACPI_MADT]);
    /* Tables do not overlap, and the gaps between them are zeros. */
    for (size_t i = 0; i < lay.used; i++) {
        int inside = 0;
        for (int t = 0; t < ACPI_NTABLES; t++)
            inside += i >= lay.offset[t] && i < lay.offset[t] + lay.length[t];
        assert_true(inside <= 1);
        if (!inside)
            assert_int_equal(buf[i], 0);
    }
}

static void fadt_fields(void **state)
{
    (void)state;
    struct acpi_layout lay;
    build(2, 3, &lay);
    const uint8_t *f = table(&lay, ACPI_FADT, "FACP", 6);
    assert_int_equal(lay.length[ACPI_FADT], 276);
    assert_int_equal(rd32(f + 36), 0);                             /* no FACS */
    assert_int_equal(rd32(f + 40), BASE + lay.offset[ACPI_DSDT]);  /* DSDT */
    assert_int_equal(rd64(f + 140), BASE + lay.offset[ACPI_DSDT]); /* X_DSDT */
    assert_int_equal(rd16(f + 46), 9);                             /* SCI_INT */
    uint32_t flags = rd32(f + 112);
    assert_true(flags & (1u << 20)); /* HW_REDUCED_ACPI */
    assert_true(flags & (1u << 10)); /* RESET_REG_SUP */
    assert_int_equal(f[131], 3);     /* minor version */
    /* PM1/GPE blocks: none, in both the 32-bit and the X_ fields. */
    for (int o = 48; o < 109; o++)
        assert_int_equal(f[o], 0);
    for (int o = 148; o < 244; o++)
        assert_int_equal(f[o], 0);
    /* Reset register: I/O port 0x64, 8 bits, value 0xfe (the i8042 reset). */
    static const uint8_t reset[12] = {1, 8, 0, 1, 0x64, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(f + 116, reset, 12);
    assert_int_equal(f[128], 0xfe);
    /* Sleep control and status: byte registers at the ACPI PM ports. */
    static const uint8_t ctl[12] = {1, 8, 0, 1, ACPI_PM_PORT & 0xff, ACPI_PM_PORT >> 8, 0, 0, 0, 0, 0, 0};
    static const uint8_t sts[12] = {1, 8, 0, 1, (ACPI_PM_PORT + 1) & 0xff, ACPI_PM_PORT >> 8, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(f + 244, ctl, 12);
    assert_memory_equal(f + 256, sts, 12);
    assert_memory_equal(f + 268, "XenoSrv\0", 8);
}

static void madt_entries(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= VM_MAX_VCPUS; n++) {
        struct acpi_layout lay;
        build(n, 2, &lay);
        const uint8_t *m = table(&lay, ACPI_MADT, "APIC", 5);
        assert_int_equal(rd32(m + 36), 0xfee00000);
        assert_int_equal(rd32(m + 40), 1); /* PCAT_COMPAT */
        unsigned lapics = 0, ioapics = 0, isos = 0;
        for (size_t o = 44; o < lay.length[ACPI_MADT];) {
            uint8_t type = m[o], len = m[o + 1];
            assert_true(len >= 2 && o + len <= lay.length[ACPI_MADT]);
            if (type == 0) {
                assert_int_equal(len, 8);
                assert_int_equal(m[o + 2], lapics); /* processor UID */
                assert_int_equal(m[o + 3], lapics); /* APIC ID = index */
                assert_int_equal(rd32(m + o + 4), 1);
                lapics++;
            } else if (type == 1) {
                assert_int_equal(len, 12);
                assert_int_equal(rd32(m + o + 4), 0xfec00000);
                assert_int_equal(rd32(m + o + 8), 0); /* GSI base */
                ioapics++;
            } else if (type == 2) {
                assert_int_equal(len, 10);
                assert_int_equal(m[o + 2], 0); /* ISA */
                assert_int_equal(m[o + 3], 9); /* IRQ 9 (no IRQ 0 -> 2: KVM routes 0 to pin 0) */
                assert_int_equal(rd32(m + o + 4), 9);
                assert_int_equal(rd16(m + o + 8), 5); /* active high, edge */
                isos++;
            } else {
                fail_msg("unexpected MADT entry type %u", type);
            }
            o += len;
        }
        assert_int_equal(lapics, n);
        assert_int_equal(ioapics, 1);
        assert_int_equal(isos, 1);
    }
}

/* ---- DSDT --------------------------------------------------------------------------------- */

/* Name (_S5, Package (0x02) { 0x05, Zero }) */
static const uint8_t S5[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00};

static void dsdt_no_devices(void **state)
{
    (void)state;
    struct acpi_layout lay;
    build(1, 0, &lay);
    const uint8_t *d = table(&lay, ACPI_DSDT, "DSDT", 2);
    static const uint8_t scope[] = {0x10, 0x06, '\\', '_', 'S', 'B', '_'}; /* Scope (\_SB) {} */
    assert_int_equal(lay.length[ACPI_DSDT], 36 + sizeof(S5) + sizeof(scope));
    assert_memory_equal(d + 36, S5, sizeof(S5));
    assert_memory_equal(d + 36 + sizeof(S5), scope, sizeof(scope));
    assert_int_equal(lay.used, lay.offset[ACPI_DSDT] + lay.length[ACPI_DSDT]);
}

static void dsdt_one_device(void **state)
{
    (void)state;
    struct acpi_layout lay;
    build(1, 1, &lay);
    const uint8_t *d = table(&lay, ACPI_DSDT, "DSDT", 2);
    static const uint8_t scope[] = {
        0x10, 0x43, 0x04, '\\', '_',  'S',  'B',  '_', /* Scope (\_SB), PkgLength 67: two bytes */
        0x5b, 0x82, 0x3a, 'V',  'R',  '0',  '0',       /* Device (VR00), PkgLength 58 */
        0x08, '_',  'H',  'I',  'D',                   /* Name (_HID, "LNRO0005") */
        0x0d, 'L',  'N',  'R',  'O',  '0',  '0',  '0',
        '5',  0x00, 0x08, '_',  'U',  'I',  'D',  0x00, /* Name (_UID, Zero) */
        0x08, '_',  'C',  'R',  'S',                    /* Name (_CRS, Buffer (23) { */
        0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, /*   Memory32Fixed (ReadWrite, */
        0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00, /*     0xd0000000, 0x1000) */
        0x89, 0x06, 0x00, 0x03, 0x01,                   /*   Interrupt (Consumer, Edge, High, Excl) */
        0x10, 0x00, 0x00, 0x00,                         /*     { 16 } */
        0x79, 0x00,                                     /*   end tag */
    };
    assert_int_equal(lay.length[ACPI_DSDT], 36 + sizeof(S5) + sizeof(scope));
    assert_memory_equal(d + 36, S5, sizeof(S5));
    assert_memory_equal(d + 36 + sizeof(S5), scope, sizeof(scope));
}

/* Walks Scope (\_SB) { Device ... } as the builder writes it, checking each device. */
static void check_devices(unsigned ndevs)
{
    struct acpi_layout lay;
    size_t n;
    char name[5];
    build(2, ndevs, &lay);
    const uint8_t *d = table(&lay, ACPI_DSDT, "DSDT", 2);
    const uint8_t *p = d + 36 + sizeof(S5), *end = d + lay.length[ACPI_DSDT];
    assert_memory_equal(d + 36, S5, sizeof(S5));
    assert_int_equal(*p++, 0x10);
    uint32_t scope_len = pkg_decode(p, &n);
    assert_ptr_equal(p + scope_len, end); /* the scope runs to the end of the table */
    p += n;
    assert_memory_equal(p, "\\_SB_", 5);
    p += 5;
    for (unsigned i = 0; i < ndevs; i++) {
        assert_true(end - p > 10);
        assert_int_equal(p[0], 0x5b);
        assert_int_equal(p[1], 0x82);
        p += 2;
        const uint8_t *dev_end = p + pkg_decode(p, &n);
        assert_true(dev_end <= end);
        p += n;
        snprintf(name, sizeof(name), "VR%02X", i);
        assert_memory_equal(p, name, 4);
        p += 4;
        assert_memory_equal(p, "\x08_HID\x0dLNRO0005", 15);
        p += 15;
        assert_memory_equal(p, "\x08_UID", 5);
        p += 5;
        uint64_t uid = *p == 0x00 ? 0 : *p == 0x01 ? 1 : *p == 0x0a ? p[1] : 0xffff;
        if (*p == 0x0b)
            uid = rd16(p + 1);
        assert_int_equal(uid, i);
        p += *p <= 1 ? 1 : *p == 0x0a ? 2 : 3;
        assert_memory_equal(p, "\x08_CRS\x11", 6);
        p += 6;
        const uint8_t *buf_end = p + pkg_decode(p, &n);
        p += n;
        assert_memory_equal(p, "\x0a\x17", 2);
        p += 2;
        assert_int_equal(p[0], 0x86);
        assert_int_equal(rd32(p + 4), VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_STRIDE);
        assert_int_equal(rd32(p + 8), VIRTIO_MMIO_STRIDE);
        assert_int_equal(p[12], 0x89);
        assert_int_equal(rd32(p + 17), gsi_of(i));
        assert_memory_equal(p + 21, "\x79\x00", 2);
        p += 23;
        assert_ptr_equal(p, buf_end);
        assert_ptr_equal(p, dev_end);
    }
    assert_ptr_equal(p, end);
}

static void dsdt_eight_devices(void **state)
{
    (void)state;
    check_devices(8); /* the scope needs a two-byte PkgLength */
}

/* Every window a machine has: the last four on ISA pins 5, 6, 7 and 10. */
static void dsdt_all_windows(void **state)
{
    (void)state;
    check_devices(VM_MAX_MMIO_DEVS);
    assert_int_equal(virtio_mmio_gsi(7), 23);
    assert_int_equal(virtio_mmio_gsi(8), 5);
    assert_int_equal(virtio_mmio_gsi(11), 10);
}

static void dsdt_256_devices(void **state)
{
    (void)state;
    check_devices(256); /* VR00-VRFF: a three-byte PkgLength for the scope */
}

/* ---- refusals and the guest-memory and file paths --------------------------------------- */

static void refusals(void **state)
{
    (void)state;
    struct acpi_layout lay;
    struct mmio_dev_desc devs[257];
    devices(devs, 257);
    assert_int_equal(acpi_build(buf, SIZE, BASE, 0, devs, 0, &lay), -EINVAL);
    assert_int_equal(acpi_build(buf, SIZE, BASE, 256, devs, 0, &lay), -EINVAL);
    assert_int_equal(acpi_build(buf, SIZE, BASE, 1, devs, 257, &lay), -EINVAL);
    assert_int_equal(acpi_build(buf, SIZE, BASE, 1, NULL, 1, &lay), -EINVAL);
    devs[1].base = 0x100000000ULL; /* Memory32Fixed cannot say it */
    assert_int_equal(acpi_build(buf, SIZE, BASE, 1, devs, 2, &lay), -EINVAL);
    assert_non_null(strstr(err_msg(), "device 1"));
    devs[1].base = 0xfffff000;
    devs[1].size = 0x2000; /* wraps past 4 GiB */
    assert_int_equal(acpi_build(buf, SIZE, BASE, 1, devs, 2, &lay), -EINVAL);
    devices(devs, 8);
    /* Too small for the fixed tables, or for the DSDT's AML. */
    assert_int_equal(acpi_build(buf, 256, BASE, 1, devs, 0, &lay), -ENOSPC);
    assert_int_equal(acpi_build(buf, 0x2c0, BASE, 1, devs, 8, &lay), -ENOSPC);
    /* Every size from "only the header fits" to "just fits": no overrun (ASan) and a clean
     * refusal until the last. */
    assert_int_equal(acpi_build(buf, SIZE, BASE, 1, devs, 8, &lay), 0);
    size_t need = lay.used;
    for (size_t s = lay.offset[ACPI_DSDT] + 36; s < need; s++) {
        uint8_t *b = malloc(s);
        assert_non_null(b);
        assert_int_equal(acpi_build(b, s, BASE, 1, devs, 8, &lay), -ENOSPC);
        free(b);
    }
    uint8_t *b = malloc(need);
    assert_int_equal(acpi_build(b, need, BASE, 1, devs, 8, &lay), 0);
    free(b);
}

static void into_guest_memory(void **state)
{
    (void)state;
    static uint8_t ram[2 << 20];
    struct guest_mem mem;
    struct mmio_dev_desc devs[3];
    uint64_t rsdp = 0;
    devices(devs, 3);
    guest_mem_init_buffer(&mem, ram, sizeof(ram));
    assert_int_equal(acpi_write_tables(&mem, 4, devs, 3, &rsdp), 0);
    assert_int_equal(rsdp, 0xe0000);
    assert_memory_equal(ram + 0xe0000, "RSD PTR ", 8);
    /* Guest RAM too small to hold the tables' area: refused, not written out of bounds. */
    guest_mem_init_buffer(&mem, ram, 0xe0000);
    assert_int_equal(acpi_write_tables(&mem, 1, devs, 0, &rsdp), -EFAULT);
}

static void dump_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_acpi.XXXXXX", path[64];
    struct mmio_dev_desc devs[2];
    struct acpi_layout lay;
    struct stat st;
    devices(devs, 2);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(acpi_dump(dir, 2, devs, 2), 0);
    build(2, 2, &lay);
    for (int t = 0; t < ACPI_NTABLES; t++) {
        snprintf(path, sizeof(path), "%s/%s.dat", dir, acpi_table_file_name(t));
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, lay.length[t]);
        unlink(path);
    }
    rmdir(dir);
    assert_true(acpi_dump("/nonexistent/dir", 1, devs, 0) < 0);
    assert_non_null(strstr(err_msg(), "/nonexistent/dir/rsdp.dat"));
}

/* tests/unit/test_acpi_guest.c restates struct mmio_dev_desc (the guest runtime's headers
 * cannot sit next to vm.h): if this fails, update it there too. */
static void mmio_dev_desc_layout(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct mmio_dev_desc, base), 0);
    assert_int_equal(offsetof(struct mmio_dev_desc, size), 8);
    assert_int_equal(offsetof(struct mmio_dev_desc, gsi), 12);
    assert_int_equal(offsetof(struct mmio_dev_desc, name), 16);
    assert_int_equal(sizeof(struct mmio_dev_desc), 24);
    assert_int_equal(sizeof(struct acpi_layout), (2 * ACPI_NTABLES + 1) * sizeof(size_t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pkglength_boundaries), cmocka_unit_test(rsdp_and_xsdt),
        cmocka_unit_test(fadt_fields),          cmocka_unit_test(madt_entries),
        cmocka_unit_test(dsdt_no_devices),      cmocka_unit_test(dsdt_one_device),
        cmocka_unit_test(dsdt_eight_devices),   cmocka_unit_test(dsdt_all_windows),
        cmocka_unit_test(dsdt_256_devices),     cmocka_unit_test(refusals),
        cmocka_unit_test(into_guest_memory),    cmocka_unit_test(dump_files),
        cmocka_unit_test(mmio_dev_desc_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
