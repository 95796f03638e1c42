/* ACPI tables: see acpi.h for what and where. Section numbers are those of ACPI 6.3.
 *
 * Everything is written byte by byte in little-endian order (no packed structs), and every
 * table is checksummed last, once its length is known. The DSDT's AML comes from a tiny
 * writer below that knows the handful of opcodes we need; its output for one device is
 *
 *   Scope (\_SB) {
 *       Device (VR00) {
 *           Name (_HID, "LNRO0005")
 *           Name (_UID, 0)
 *           Name (_CRS, ResourceTemplate () {
 *               Memory32Fixed (ReadWrite, 0xd0000000, 0x1000)
 *               Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 16 }
 *           })
 *       }
 *   }
 *
 * which is what Linux's virtio-mmio driver matches (drivers/virtio/virtio_mmio.c: "LNRO0005").
 */
#include "vmm/boot/acpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/dev/acpi_pm.h"
#include "vmm/dev/i8042.h"

/* ---- bytes -------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte that makes p[0..n) sum to 0 mod 256 (when it is stored in a byte counted as 0). */
static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

/* ---- the AML writer ------------------------------------------------------------------------
 * Appends to a fixed buffer; running out of room sets `overflow` (checked once at the end)
 * instead of failing every call. Packages (Scope, Device, Buffer, Package) are opened with
 * aml_pkg_begin and closed with aml_pkg_end, which inserts the PkgLength in front of the
 * contents once their size is known. */

/* Opcodes (20.3). */
enum {
    AML_ZERO_OP = 0x00,
    AML_ONE_OP = 0x01,
    AML_NAME_OP = 0x08,
    AML_BYTE_PREFIX = 0x0a,
    AML_WORD_PREFIX = 0x0b,
    AML_DWORD_PREFIX = 0x0c,
    AML_STRING_PREFIX = 0x0d,
    AML_QWORD_PREFIX = 0x0e,
    AML_SCOPE_OP = 0x10,
    AML_BUFFER_OP = 0x11,
    AML_PACKAGE_OP = 0x12,
    AML_EXT_OP_PREFIX = 0x5b,
    AML_ROOT_CHAR = 0x5c,     /* '\' */
    AML_EXT_DEVICE_OP = 0x82, /* after AML_EXT_OP_PREFIX */
};

#define AML_MAX_DEPTH 8

struct aml {
    uint8_t *buf;
    size_t cap, len;
    int overflow;
    size_t open[AML_MAX_DEPTH]; /* where each open package's contents start */
    unsigned depth;
};

static void aml_byte(struct aml *a, uint8_t b)
{
    if (a->len < a->cap)
        a->buf[a->len++] = b;
    else
        a->overflow = 1;
}

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aml_byte(a, ((const uint8_t *)p)[i]);
}

size_t aml_pkglength(uint8_t out[4], size_t content_len)
{
    /* PkgLength (20.2.4) counts its own bytes. One byte holds up to 63: bits 7-6 are 0 (no
     * bytes follow) and bits 5-0 the length. Longer: bits 7-6 of the lead byte say how many
     * bytes follow (1-3), its bits 3-0 are the length's low nibble (bits 5-4 must be 0), and
     * each following byte holds the next 8 bits. So 2 bytes hold up to 2^12 - 1, 3 bytes
     * 2^20 - 1, 4 bytes 2^28 - 1. */
    if (content_len >= (1u << 28))
        return 0;
    if (content_len + 1 <= 0x3f) {
        out[0] = (uint8_t)(content_len + 1);
        return 1;
    }
    for (size_t n = 2; n <= 4; n++) {
        size_t total = content_len + n;
        if (total < ((size_t)1 << (4 + 8 * (n - 1)))) {
            out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
            for (size_t i = 1; i < n; i++)
                out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
            return n;
        }
    }
    return 0;
}

static void aml_pkg_begin(struct aml *a)
{
    if (a->depth == AML_MAX_DEPTH) {
        a->overflow = 1;
        return;
    }
    a->open[a->depth++] = a->len;
}

static void aml_pkg_end(struct aml *a)
{
    uint8_t enc[4];
    if (a->depth == 0 || a->overflow) {
        a->overflow = 1;
        return;
    }
    size_t start = a->open[--a->depth];
    size_t content = a->len - start;
    size_t n = aml_pkglength(enc, content);
    if (n == 0 || a->cap - a->len < n) {
        a->overflow = 1;
        return;
    }
    memmove(a->buf + start + n, a->buf + start, content);
    memcpy(a->buf + start, enc, n);
    a->len += n;
}

/* A NameString of one NameSeg, optionally rooted: "_HID", "VR00", "\_SB_" (20.2.2). Each
 * segment is exactly 4 characters, [A-Z_] then [A-Z0-9_]; callers pass only literals and
 * names they made, so a bad one is a bug: it poisons the table rather than going out. */
static void aml_name(struct aml *a, const char *name)
{
    if (name[0] == '\\') {
        aml_byte(a, AML_ROOT_CHAR);
        name++;
    }
    if (strlen(name) != 4) {
        a->overflow = 1;
        return;
    }
    for (int i = 0; i < 4; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
            a->overflow = 1;
    }
    aml_bytes(a, name, 4);
}

/* The shortest encoding of an integer constant (20.2.3): ZeroOp, OneOp or a prefixed
 * 1/2/4/8-byte value. */
static void aml_integer(struct aml *a, uint64_t v)
{
    uint8_t b[8];
    put64(b, v);
    if (v == 0) {
        aml_byte(a, AML_ZERO_OP);
    } else if (v == 1) {
        aml_byte(a, AML_ONE_OP);
    } else if (v <= 0xff) {
        aml_byte(a, AML_BYTE_PREFIX);
        aml_bytes(a, b, 1);
    } else if (v <= 0xffff) {
        aml_byte(a, AML_WORD_PREFIX);
        aml_bytes(a, b, 2);
    } else if (v <= 0xffffffffu) {
        aml_byte(a, AML_DWORD_PREFIX);
        aml_bytes(a, b, 4);
    } else {
        aml_byte(a, AML_QWORD_PREFIX);
        aml_bytes(a, b, 8);
    }
}

/* StringPrefix, ASCII characters, NUL. */
static void aml_string(struct aml *a, const char *s)
{
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

/* Buffer (size) { bytes }: BufferOp PkgLength BufferSize ByteList (19.6.10). */
static void aml_buffer(struct aml *a, const uint8_t *bytes, size_t n)
{
    aml_byte(a, AML_BUFFER_OP);
    aml_pkg_begin(a);
    aml_integer(a, n);
    aml_bytes(a, bytes, n);
    aml_pkg_end(a);
}

/* ---- resource descriptors (6.4) ------------------------------------------------------------ */

#define RES_MEMORY32_FIXED_LEN 12
#define RES_EXT_IRQ_LEN 9
#define RES_END_TAG_LEN 2

/* Memory32Fixed (6.4.3.4): large item 0x86, 9 bytes follow the 3-byte header: information
 * (bit 0: 1 = read-write), base, length. */
static void res_memory32_fixed(uint8_t *p, uint32_t base, uint32_t len)
{
    p[0] = 0x86;
    put16(p + 1, 9);
    p[3] = 0x01; /* ReadWrite */
    put32(p + 4, base);
    put32(p + 8, len);
}

/* Extended Interrupt (6.4.3.6): large item 0x89, 6 bytes follow for one interrupt and no
 * resource source: flags (bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared,
 * bit 4 wake capable), interrupt count 1, the GSI. */
static void res_ext_irq(uint8_t *p, uint32_t gsi)
{
    p[0] = 0x89;
    put16(p + 1, 6);
    p[3] = 0x01 | 0x02; /* ResourceConsumer, Edge; ActiveHigh, Exclusive, not wake capable */
    p[4] = 1;
    put32(p + 5, gsi);
}

/* End tag (6.4.2.9): small item, type 0xf, length 1; checksum 0 means "treat as valid". */
static void res_end_tag(uint8_t *p)
{
    p[0] = 0x79;
    p[1] = 0;
}

/* ---- the DSDT's AML ------------------------------------------------------------------------- */

static void dsdt_device(struct aml *a, unsigned i, const struct mmio_dev_desc *d)
{
    uint8_t crs[RES_MEMORY32_FIXED_LEN + RES_EXT_IRQ_LEN + RES_END_TAG_LEN];
    char name[8];

    snprintf(name, sizeof(name), "VR%02X", i & 0xff);
    res_memory32_fixed(crs, (uint32_t)d->base, d->size);
    res_ext_irq(crs + RES_MEMORY32_FIXED_LEN, d->gsi);
    res_end_tag(crs + RES_MEMORY32_FIXED_LEN + RES_EXT_IRQ_LEN);

    /* Device (VRnn) { ... }: ExtOpPrefix DeviceOp PkgLength NameString TermList (19.6.31) */
    aml_byte(a, AML_EXT_OP_PREFIX);
    aml_byte(a, AML_EXT_DEVICE_OP);
    aml_pkg_begin(a);
    aml_name(a, name);
    /* Name (_HID, "LNRO0005"): NameOp NameString DataRefObject (19.6.90) */
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_HID");
    aml_string(a, ACPI_VIRTIO_MMIO_HID);
    /* Name (_UID, i): tells devices with the same _HID apart; the index, as registered. */
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_UID");
    aml_integer(a, i);
    /* Name (_CRS, ResourceTemplate () {...}): a ResourceTemplate is a Buffer of descriptors. */
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_CRS");
    aml_buffer(a, crs, sizeof(crs));
    aml_pkg_end(a);
}

static void dsdt_body(struct aml *a, const struct mmio_dev_desc *devs, unsigned ndevs)
{
    /* Name (_S5, Package () { 5, 0 }): the SLP_TYPa and SLP_TYPb values of S5 (7.4.2), which
     * an OS writes into the sleep control register's SLP_TYP field to power off; acpi_pm.c
     * accepts ACPI_SLP_TYP_S5. PackageOp PkgLength NumElements PackageElementList. */
    aml_byte(a, AML_NAME_OP);
    aml_name(a, "_S5_");
    aml_byte(a, AML_PACKAGE_OP);
    aml_pkg_begin(a);
    aml_byte(a, 2); /* NumElements */
    aml_integer(a, ACPI_SLP_TYP_S5);
    aml_integer(a, 0);
    aml_pkg_end(a);

    /* Scope (\_SB) { devices }: ScopeOp PkgLength NameString TermList (19.6.122) */
    aml_byte(a, AML_SCOPE_OP);
    aml_pkg_begin(a);
    aml_name(a, "\\_SB_");
    for (unsigned i = 0; i < ndevs; i++)
        dsdt_device(a, i, &devs[i]);
    aml_pkg_end(a);
}

/* ---- tables ------------------------------------------------------------------------------- */

#define SDT_HEADER_LEN 36
#define RSDP_LEN 36
#define FADT_LEN 276 /* revision 6 */
#define TABLE_ALIGN 64

/* System description table header (5.2.6); the checksum is filled in by sdt_checksum. */
static void sdt_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    t[9] = 0; /* checksum */
    memcpy(t + 10, ACPI_OEM_ID, 6);
    memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
    put32(t + 24, 1); /* OEM revision */
    memcpy(t + 28, ACPI_CREATOR_ID, 4);
    put32(t + 32, 1); /* creator revision */
}

static void sdt_checksum(uint8_t *t, size_t len)
{
    t[9] = 0;
    t[9] = checksum(t, len);
}

/* Generic Address Structure (5.2.3.2): one byte-wide register in system I/O space. */
static void gas_io8(uint8_t *p, uint16_t port)
{
    p[0] = 1; /* address space: system I/O */
    p[1] = 8; /* register bit width */
    p[2] = 0; /* bit offset */
    p[3] = 1; /* access size: byte */
    put64(p + 4, port);
}

/* FADT flags (5.2.9, table 5-34). */
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot architecture flags (5.2.9.3). */
#define IAPC_8042 (1u << 1) /* the i8042 answers (reset only, no keyboard) */
#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

static void build_fadt(uint8_t *t, uint64_t dsdt_gpa)
{
    sdt_header(t, "FACP", FADT_LEN, 6);
    /* 36 FIRMWARE_CTRL = 0: no FACS, which a hardware-reduced machine need not have. */
    put32(t + 40, (uint32_t)dsdt_gpa); /* DSDT, for OSes that read only the 32-bit field */
    /* 45 preferred PM profile 0 (unspecified). 46 SCI_INT: unused on hardware-reduced
     * machines; named for the record as the PC's SCI line, the power request IRQ. */
    put16(t + 46, ACPI_SCI_IRQ);
    /* 48-108: SMI command, PM1/PM2/PM timer/GPE blocks, C-state latencies, RTC alarms:
     * all 0, as hardware-reduced ACPI requires. */
    put16(t + 109, IAPC_8042 | IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
    put32(t + 112, FADT_HW_REDUCED_ACPI | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
    /* Reset: the i8042's pulse-reset command (0xfe to port 0x64), the same reset as Linux's
     * keyboard-controller fallback. */
    gas_io8(t + 116, I8042_CMD_PORT);
    t[128] = 0xfe; /* RESET_VALUE */
    /* 129 ARM boot flags 0. */
    t[131] = 3; /* FADT minor version: ACPI 6.3 */
    /* 132 X_FIRMWARE_CTRL = 0 (no FACS). */
    put64(t + 140, dsdt_gpa); /* X_DSDT */
    /* 148-243: the X_ PM/GPE blocks, all 0. */
    gas_io8(t + 244, ACPI_PM_PORT);                                  /* SLEEP_CONTROL_REG */
    gas_io8(t + 256, ACPI_PM_PORT + 1);                              /* SLEEP_STATUS_REG */
    memcpy(t + 268, ACPI_HYPERVISOR_ID, strlen(ACPI_HYPERVISOR_ID)); /* hypervisor vendor identity */
    sdt_checksum(t, FADT_LEN);
}

/* MADT entries (5.2.12). */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_PCAT_COMPAT 1u       /* there are 8259s (KVM's): an OS should mask them */
#define MPS_INTI_HIGH_EDGE 0x0005 /* polarity 01 active high, trigger (bits 3-2) 01 edge */

static size_t madt_len(unsigned nvcpus)
{
    return SDT_HEADER_LEN + 8 + 8 * (size_t)nvcpus + 12 + 10;
}

static void build_madt(uint8_t *t, unsigned nvcpus)
{
    size_t len = madt_len(nvcpus), o = SDT_HEADER_LEN + 8;
    sdt_header(t, "APIC", (uint32_t)len, 5);
    put32(t + 36, ACPI_LAPIC_ADDR);
    put32(t + 40, MADT_PCAT_COMPAT);
    /* Processor Local APIC (5.2.12.2): ACPI processor UID and APIC ID both = the vCPU's
     * index (docs/machine.md: CPUID says the same), enabled. */
    for (unsigned i = 0; i < nvcpus; i++, o += 8) {
        t[o] = MADT_LAPIC;
        t[o + 1] = 8;
        t[o + 2] = (uint8_t)i;
        t[o + 3] = (uint8_t)i;
        put32(t + o + 4, 1); /* enabled */
    }
    /* I/O APIC (5.2.12.3): KVM's, 24 pins from GSI 0. */
    t[o] = MADT_IOAPIC;
    t[o + 1] = 12;
    t[o + 2] = ACPI_IOAPIC_ID;
    put32(t + o + 4, ACPI_IOAPIC_ADDR);
    put32(t + o + 8, 0);
    o += 12;
    /* Interrupt source overrides (5.2.12.5). KVM's default routing wires ISA IRQ n to IOAPIC
     * pin n (the PIT stays on pin 0), so the identity needs none, not even the PC's IRQ 0 ->
     * GSI 2, which would be a lie. The one entry gives IRQ 9's polarity and trigger: as the
     * SCI named in the FADT an OS would otherwise make it level, active low, while the power
     * request register pulses edges, active high. */
    t[o] = MADT_ISO;
    t[o + 1] = 10;
    t[o + 2] = 0; /* bus: ISA */
    t[o + 3] = ACPI_SCI_IRQ;
    put32(t + o + 4, ACPI_SCI_IRQ);
    put16(t + o + 8, MPS_INTI_HIGH_EDGE);
    sdt_checksum(t, len);
}

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

const char *acpi_table_file_name(enum acpi_table t)
{
    static const char *const names[ACPI_NTABLES] = {"rsdp", "xsdt", "facp", "apic", "dsdt"};
    return t < ACPI_NTABLES ? names[t] : "?";
}

int acpi_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned nvcpus, const struct mmio_dev_desc *devs,
               unsigned ndevs, struct acpi_layout *lay)
{
    size_t *off = lay->offset, *len = lay->length;

    memset(lay, 0, sizeof(*lay));
    if (nvcpus < 1 || nvcpus > 255)
        return err_set(EINVAL, "ACPI tables: %u vCPUs; the MADT describes 1 to 255", nvcpus);
    if (ndevs > 256 || (ndevs && !devs))
        return err_set(EINVAL, "ACPI tables: %u devices; the DSDT names at most 256 (VR00-VRFF)", ndevs);
    for (unsigned i = 0; i < ndevs; i++)
        if (devs[i].base > UINT32_MAX || devs[i].size == 0 || devs[i].size > UINT32_MAX - devs[i].base)
            return err_set(EINVAL, "ACPI tables: device %u (%s) at 0x%llx, 0x%x bytes, is not below 4 GiB", i,
                           devs[i].name ? devs[i].name : "?", (unsigned long long)devs[i].base, devs[i].size);
    if (gpa > UINT32_MAX || size > UINT32_MAX - gpa)
        return err_set(EINVAL, "ACPI tables: 0x%llx is not below 4 GiB", (unsigned long long)gpa);

    off[ACPI_RSDP] = 0;
    len[ACPI_RSDP] = RSDP_LEN;
    off[ACPI_XSDT] = align_up(RSDP_LEN, TABLE_ALIGN);
    len[ACPI_XSDT] = SDT_HEADER_LEN + 2 * 8; /* FADT, MADT */
    off[ACPI_FADT] = align_up(off[ACPI_XSDT] + len[ACPI_XSDT], TABLE_ALIGN);
    len[ACPI_FADT] = FADT_LEN;
    off[ACPI_MADT] = align_up(off[ACPI_FADT] + len[ACPI_FADT], TABLE_ALIGN);
    len[ACPI_MADT] = madt_len(nvcpus);
    off[ACPI_DSDT] = align_up(off[ACPI_MADT] + len[ACPI_MADT], TABLE_ALIGN);
    if (off[ACPI_DSDT] + SDT_HEADER_LEN > size)
        return err_set(ENOSPC, "ACPI tables: %zu bytes do not hold them", size);
    memset(buf, 0, size);

    /* DSDT: the header, then the AML; length and checksum once the AML is written. */
    uint8_t *dsdt = buf + off[ACPI_DSDT];
    struct aml a = {.buf = dsdt + SDT_HEADER_LEN, .cap = size - off[ACPI_DSDT] - SDT_HEADER_LEN};
    dsdt_body(&a, devs, ndevs);
    if (a.overflow || a.depth)
        return err_set(ENOSPC, "ACPI tables: %zu bytes do not hold the DSDT of %u devices", size, ndevs);
    len[ACPI_DSDT] = SDT_HEADER_LEN + a.len;
    /* Revision 2: integers in this definition block are 64 bits wide. */
    sdt_header(dsdt, "DSDT", (uint32_t)len[ACPI_DSDT], 2);
    sdt_checksum(dsdt, len[ACPI_DSDT]);

    build_fadt(buf + off[ACPI_FADT], gpa + off[ACPI_DSDT]);
    build_madt(buf + off[ACPI_MADT], nvcpus);

    /* XSDT (5.2.8): 64-bit pointers to every table but the DSDT (the FADT has that one). */
    uint8_t *xsdt = buf + off[ACPI_XSDT];
    sdt_header(xsdt, "XSDT", (uint32_t)len[ACPI_XSDT], 1);
    put64(xsdt + 36, gpa + off[ACPI_FADT]);
    put64(xsdt + 44, gpa + off[ACPI_MADT]);
    sdt_checksum(xsdt, len[ACPI_XSDT]);

    /* RSDP (5.2.5.3), revision 2: no RSDT (its address 0), the XSDT's. Two checksums: the
     * first 20 bytes (ACPI 1.0's structure) and all 36. */
    uint8_t *rsdp = buf + off[ACPI_RSDP];
    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, ACPI_OEM_ID, 6);
    rsdp[15] = 2;
    put32(rsdp + 16, 0);
    put32(rsdp + 20, RSDP_LEN);
    put64(rsdp + 24, gpa + off[ACPI_XSDT]);
    rsdp[8] = checksum(rsdp, 20);
    rsdp[32] = checksum(rsdp, RSDP_LEN);

    lay->used = off[ACPI_DSDT] + len[ACPI_DSDT];
    return 0;
}

int acpi_write_tables(const struct guest_mem *mem, unsigned nvcpus, const struct mmio_dev_desc *devs, unsigned ndevs,
                      uint64_t *rsdp_paddr)
{
    struct acpi_layout lay;
    uint8_t *p = guest_mem_ptr(mem, ACPI_TABLES_BASE, ACPI_TABLES_SIZE);
    if (!p)
        return err_set(EFAULT, "ACPI tables: 0x%llx-0x%llx is not guest RAM", (unsigned long long)ACPI_TABLES_BASE,
                       (unsigned long long)(ACPI_TABLES_BASE + ACPI_TABLES_SIZE - 1));
    int r = acpi_build(p, ACPI_TABLES_SIZE, ACPI_TABLES_BASE, nvcpus, devs, ndevs, &lay);
    if (r < 0)
        return r;
    *rsdp_paddr = ACPI_TABLES_BASE + lay.offset[ACPI_RSDP];
    return 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s.dat", dir, name) >= (int)sizeof(path))
        return err_set(ENAMETOOLONG, "%s: path too long", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(errno, "%s: %s", path, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return err_set(e, "%s: %s", path, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) < 0)
        return err_set(errno, "%s: %s", path, strerror(errno));
    return 0;
}

int acpi_dump(const char *dir, unsigned nvcpus, const struct mmio_dev_desc *devs, unsigned ndevs)
{
    struct acpi_layout lay;
    uint8_t *buf = malloc(ACPI_TABLES_SIZE);
    int r;
    if (!buf)
        return err_set(ENOMEM, "ACPI tables: out of memory");
    r = acpi_build(buf, ACPI_TABLES_SIZE, ACPI_TABLES_BASE, nvcpus, devs, ndevs, &lay);
    for (int t = 0; r == 0 && t < ACPI_NTABLES; t++)
        r = write_file(dir, acpi_table_file_name(t), buf + lay.offset[t], lay.length[t]);
    free(buf);
    return r;
}
