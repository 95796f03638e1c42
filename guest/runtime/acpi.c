/*
 * Reading the ACPI tables (ACPI 6.3; section numbers below are its). The monitor writes
 * them (src/vmm/boot/acpi.c), but to a guest they are just bytes in memory: every pointer is
 * checked against the memory map before it is followed, every table's checksum and length
 * before it is read, and every field read stays inside its table.
 *
 * The DSDT is not interpreted. walk() understands the few AML terms our monitor writes
 * (Name with a constant, Scope, Device) and steps over the packages that carry their own
 * length (Method, If, Field, ...), which covers stock tables that describe virtio-mmio
 * devices the same way (QEMU microvm); it stops at anything else and says where.
 *
 * Built into the kernels, and into a host unit test (tests/unit/test_acpi_guest.c) that
 * runs it over the monitor's tables and corrupted copies of them: ACPI_PHYS and
 * ACPI_CPU_INDEX let that test say where "physical memory" is.
 */
#include "../include/runtime.h"

#ifndef ACPI_PHYS
#define ACPI_PHYS(pa) ((const uint8_t *)(uintptr_t)(pa))
#endif
#ifndef ACPI_CPU_INDEX
#define ACPI_CPU_INDEX() (this_cpu()->index)
#endif

#define SDT_HEADER_LEN  36
#define TABLE_MAX_LEN   (1u << 20) /* a bound for a table's claimed length */
#define RSDP_V1_LEN     20
#define RSDP_V2_LEN     36
#define SCAN_START      0xe0000UL
#define SCAN_END        0x100000UL
#define SLP_EN          (1u << 5)
#define SLP_TYP_S5      5
#define FADT_HW_REDUCED (1u << 20)
#define AML_MAX_DEPTH   16

static struct acpi_info info;
static volatile uint32_t parse_state; /* 0 not yet, 1 parsing, 2 done */
static volatile unsigned parser_cpu = ~0u; /* set before parse() runs */

/* ---- bytes ---------------------------------------------------------------------------- */

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

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* [pa, pa + len) as a pointer, when all of it lies in one range of the memory map (any
 * type: the tables live in reserved memory) and below what is identity-mapped; else NULL.
 * Without a memory map (start info version 0) the mapping alone decides. */
static const uint8_t *phys(uint64_t pa, uint64_t len)
{
    uint64_t top = paging_mapped_top();

    if (pa == 0 || len == 0 || pa >= top || len > top - pa)
        return NULL;
    if (boot_info.nr_memmap == 0)
        return ACPI_PHYS(pa);
    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (pa >= e->addr && pa - e->addr < e->size && len <= e->size - (pa - e->addr))
            return ACPI_PHYS(pa);
    }
    return NULL;
}

/* ---- RSDP, XSDT, the tables ------------------------------------------------------------ */

/* An RSDP (5.2.5.3) at pa: signature, the ACPI 1.0 checksum over 20 bytes and, from
 * revision 2, the length and the checksum over all of it. */
static bool rsdp_ok(uint64_t pa)
{
    const uint8_t *p = phys(pa, RSDP_V1_LEN);

    if (!p || memcmp(p, "RSD PTR ", 8) != 0 || sum8(p, RSDP_V1_LEN) != 0)
        return false;
    if (p[15] < 2)
        return true;
    p = phys(pa, RSDP_V2_LEN);
    if (!p)
        return false;
    uint32_t len = rd32(p + 20);
    if (len < RSDP_V2_LEN || len > 4096 || !(p = phys(pa, len)))
        return false;
    return sum8(p, len) == 0;
}

/* The legacy search (5.2.5.1): 16-byte boundaries of the BIOS area. */
static uint64_t rsdp_scan(void)
{
    for (uint64_t pa = SCAN_START; pa < SCAN_END; pa += 16) {
        const uint8_t *p = phys(pa, 8);

        if (p && rd64(p) == 0x2052545020445352ULL /* "RSD PTR " */ && rsdp_ok(pa))
            return pa;
    }
    return 0;
}

/* A system description table at pa (5.2.6): returns it when its header fits, its length is
 * sane and mapped; ref records where, how long and whether the checksum holds. */
static const uint8_t *table_map(uint64_t pa, struct acpi_table_ref *ref)
{
    const uint8_t *p = phys(pa, SDT_HEADER_LEN);

    if (!p)
        return NULL;
    uint32_t len = rd32(p + 4);
    if (len < SDT_HEADER_LEN || len > TABLE_MAX_LEN || !(p = phys(pa, len)))
        return NULL;
    ref->addr = pa;
    ref->length = len;
    ref->revision = p[8];
    ref->checksum_ok = sum8(p, len) == 0;
    return p;
}

static struct acpi_reg gas(const uint8_t *p)
{
    /* Generic Address Structure (5.2.3.2): space, bit width, bit offset, access size,
     * address. Only whole byte registers (offset 0) are of use for the sleep registers. */
    struct acpi_reg r = {p[0], p[1], rd64(p + 4)};

    if (p[2] != 0 || (r.space != 0 && r.space != 1))
        r.addr = 0;
    return r;
}

static void parse_fadt(const uint8_t *t, uint32_t len)
{
    uint64_t dsdt = 0;

    /* Each field only if the table is long enough to hold it: older revisions are shorter. */
    if (len >= 44)
        dsdt = rd32(t + 40);
    if (len >= 116)
        info.hw_reduced = (rd32(t + 112) & FADT_HW_REDUCED) != 0;
    if (len >= 129 && (rd32(t + 112) & (1u << 10))) { /* RESET_REG_SUP */
        info.reset_reg = gas(t + 116);
        info.reset_value = t[128];
    }
    if (len >= 148 && rd64(t + 140))
        dsdt = rd64(t + 140); /* X_DSDT wins when set */
    if (len >= 268) {
        info.sleep_control = gas(t + 244);
        info.sleep_status = gas(t + 256);
    }
    if (dsdt) {
        const uint8_t *d = table_map(dsdt, &info.dsdt);

        if (d && memcmp(d, "DSDT", 4) != 0)
            info.dsdt = (struct acpi_table_ref){0};
    }
}

static void parse_madt(const uint8_t *t, uint32_t len)
{
    if (len < 44)
        return;
    info.lapic_addr = rd32(t + 36);
    /* Interrupt controller structures (5.2.12): type, length, body; a length under 2 or
     * past the table's end ends the list. */
    for (uint32_t o = 44; o + 2 <= len;) {
        uint8_t type = t[o], elen = t[o + 1];
        uint32_t flags = 0, apic_id = 0;
        bool lapic = false;

        if (elen < 2 || elen > len - o)
            break;
        if (type == 0 && elen >= 8) { /* Processor Local APIC */
            apic_id = t[o + 3];
            flags = rd32(t + o + 4);
            lapic = true;
        } else if (type == 9 && elen >= 16) { /* Processor Local x2APIC */
            apic_id = rd32(t + o + 4);
            flags = rd32(t + o + 8);
            lapic = true;
        } else if (type == 1 && elen >= 12) { /* I/O APIC */
            if (info.ioapics++ == 0)
                info.ioapic_addr = rd32(t + o + 4);
        }
        if (lapic && (flags & 1)) { /* enabled */
            if (info.lapics < ARRAY_SIZE(info.lapic_ids))
                info.lapic_ids[info.lapics] = (uint8_t)apic_id;
            info.lapics++;
        }
        o += elen;
    }
}

/* ---- the DSDT's AML --------------------------------------------------------------------- */

/* A bounded reader: p moves towards end, never past it. */
struct cursor {
    const uint8_t *p, *end;
};

/* What a Name () held, as far as we care. */
struct value {
    enum { V_NONE, V_INT, V_STRING, V_BUFFER, V_PACKAGE } kind;
    uint64_t num;
    const uint8_t *data; /* string (NUL-terminated inside the table), buffer or package body */
    size_t len;
};

/* The device being walked. */
struct device {
    char name[5];
    bool virtio_hid, has_uid, has_mem, has_irq;
    uint32_t uid, size, gsi;
    uint64_t base;
};

static const char *aml_stop; /* why the walk ended early; NULL while all is well */

static bool aml_fail(const char *why)
{
    if (!aml_stop)
        aml_stop = why;
    return false;
}

/* PkgLength (20.2.4): it counts its own bytes. On success c->p is past it and *pkg_end is
 * where the package ends, which must be inside the enclosing one. */
static bool pkg_length(struct cursor *c, const uint8_t **pkg_end)
{
    const uint8_t *start = c->p;
    size_t avail = (size_t)(c->end - c->p);

    if (avail < 1)
        return aml_fail("truncated PkgLength");
    unsigned lead = start[0], extra = lead >> 6;
    uint32_t len;

    if (extra == 0) {
        len = lead & 0x3f;
    } else {
        if (lead & 0x30)
            return aml_fail("PkgLength with reserved bits set");
        if (avail < 1 + extra)
            return aml_fail("truncated PkgLength");
        len = lead & 0x0f;
        for (unsigned i = 0; i < extra; i++)
            len |= (uint32_t)start[1 + i] << (4 + 8 * i);
    }
    if (len < 1 + extra || len > avail)
        return aml_fail("PkgLength outside its scope");
    *pkg_end = start + len;
    c->p = start + 1 + extra;
    return true;
}

/* NameString (20.2.2): optional root or parent prefixes, then a NameSeg, a dual or multi
 * name, or the null name. seg gets the last segment ("" for the null name). */
static bool name_string(struct cursor *c, char seg[5])
{
    unsigned count = 1;

    while (c->p < c->end && (*c->p == '\\' || *c->p == '^'))
        c->p++;
    if (c->p >= c->end)
        return aml_fail("truncated name");
    if (*c->p == 0x00) { /* NullName */
        c->p++;
        seg[0] = '\0';
        return true;
    }
    if (*c->p == 0x2e) { /* DualNamePrefix */
        count = 2;
        c->p++;
    } else if (*c->p == 0x2f) { /* MultiNamePrefix SegCount */
        if (c->end - c->p < 2)
            return aml_fail("truncated name");
        count = c->p[1];
        c->p += 2;
    }
    if (count == 0 || (size_t)(c->end - c->p) < 4 * (size_t)count)
        return aml_fail("truncated name");
    for (unsigned i = 0; i < 4 * count; i++) {
        uint8_t ch = c->p[i];

        if (!((ch >= 'A' && ch <= 'Z') || ch == '_' || (ch >= '0' && ch <= '9' && i % 4 != 0)))
            return aml_fail("bad character in a name");
    }
    memcpy(seg, c->p + 4 * (count - 1), 4);
    seg[4] = '\0';
    c->p += 4 * count;
    return true;
}

/* An integer constant (20.2.3): Zero, One, Ones or a prefixed 1/2/4/8-byte value. */
static bool integer(struct cursor *c, uint64_t *v)
{
    static const uint8_t widths[] = {[0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8};

    if (c->p >= c->end)
        return aml_fail("truncated integer");
    uint8_t op = *c->p++;

    if (op == 0x00 || op == 0x01) {
        *v = op;
        return true;
    }
    if (op == 0xff) {
        *v = ~0ULL;
        return true;
    }
    if (op >= ARRAY_SIZE(widths) || widths[op] == 0)
        return aml_fail("not an integer constant");
    unsigned w = widths[op];

    if ((size_t)(c->end - c->p) < w)
        return aml_fail("truncated integer");
    *v = 0;
    for (unsigned i = 0; i < w; i++)
        *v |= (uint64_t)c->p[i] << (8 * i);
    c->p += w;
    return true;
}

/* The DataRefObject after a Name (): integer, string, buffer or package. */
static bool data_object(struct cursor *c, struct value *v)
{
    const uint8_t *pkg_end;

    *v = (struct value){V_NONE, 0, NULL, 0};
    if (c->p >= c->end)
        return aml_fail("truncated data object");
    switch (*c->p) {
    case 0x0d: { /* StringPrefix AsciiCharList NullChar */
        const uint8_t *s = ++c->p;

        while (c->p < c->end && *c->p)
            c->p++;
        if (c->p >= c->end)
            return aml_fail("unterminated string");
        *v = (struct value){V_STRING, 0, s, (size_t)(c->p - s)};
        c->p++;
        return true;
    }
    case 0x11: { /* BufferOp PkgLength BufferSize ByteList */
        uint64_t size;

        c->p++;
        if (!pkg_length(c, &pkg_end))
            return false;
        struct cursor in = {c->p, pkg_end};

        if (!integer(&in, &size))
            return false;
        /* The byte list may be shorter than BufferSize (the rest is zeros); never longer. */
        size_t have = (size_t)(pkg_end - in.p);
        *v = (struct value){V_BUFFER, size, in.p, have < size ? have : (size_t)size};
        c->p = pkg_end;
        return true;
    }
    case 0x12: /* PackageOp PkgLength NumElements PackageElementList */
    case 0x13: /* VarPackageOp */
        c->p++;
        if (!pkg_length(c, &pkg_end))
            return false;
        *v = (struct value){V_PACKAGE, 0, c->p, (size_t)(pkg_end - c->p)};
        c->p = pkg_end;
        return true;
    default:
        if (!integer(c, &v->num))
            return false;
        v->kind = V_INT;
        return true;
    }
}

/* _CRS: a resource template (6.4), a buffer of descriptors up to the end tag. */
static void resources(struct device *d, const uint8_t *p, size_t len)
{
    size_t o = 0;

    while (o < len) {
        uint8_t tag = p[o];
        size_t hdr, body;

        if (tag & 0x80) { /* large item: tag, 16-bit length */
            if (len - o < 3)
                return;
            hdr = 3;
            body = rd16(p + o + 1);
        } else { /* small item: the length is in the tag */
            hdr = 1;
            body = tag & 7;
            if (((tag >> 3) & 0xf) == 0xf) /* end tag */
                return;
        }
        if (body > len - o - hdr)
            return;
        const uint8_t *b = p + o + hdr;

        if (tag == 0x86 && body >= 9 && !d->has_mem) { /* Memory32Fixed: info, base, length */
            d->base = rd32(b + 1);
            d->size = rd32(b + 5);
            d->has_mem = true;
        } else if (tag == 0x89 && body >= 6 && !d->has_irq) { /* Extended Interrupt */
            /* flags, count, then count 32-bit interrupts; the first is the device's. */
            if (b[1] >= 1 && body >= 2 + 4 * (size_t)b[1]) {
                d->gsi = rd32(b + 2);
                d->has_irq = true;
            }
        }
        o += hdr + body;
    }
}

static void name_in_device(struct device *d, const char *seg, const struct value *v)
{
    /* _HID may also be an integer (a compressed EISA ID), but LNRO0005 cannot be one. */
    if (strcmp(seg, "_HID") == 0) {
        d->virtio_hid = v->kind == V_STRING && v->len == 8 && memcmp(v->data, ACPI_VIRTIO_MMIO_HID, 8) == 0;
    } else if (strcmp(seg, "_UID") == 0 && v->kind == V_INT) {
        d->uid = (uint32_t)v->num;
        d->has_uid = true;
    } else if (strcmp(seg, "_CRS") == 0 && v->kind == V_BUFFER) {
        resources(d, v->data, v->len);
    }
}

static void name_at_top(const char *seg, const struct value *v)
{
    /* Name (_S5, Package () { SLP_TYPa, SLP_TYPb, ... }) (7.4.2) */
    if (strcmp(seg, "_S5_") == 0 && v->kind == V_PACKAGE && v->len >= 2) {
        struct cursor c = {v->data + 1, v->data + v->len}; /* past NumElements */
        uint64_t typ;

        if (v->data[0] >= 1 && integer(&c, &typ) && typ <= 7) {
            info.s5_found = true;
            info.s5_slp_typ = (uint8_t)typ;
        }
        aml_stop = NULL; /* a strange _S5_ is no reason to stop walking (nothing failed before) */
    }
}

static void device_done(const struct device *d)
{
    if (!d->virtio_hid || !d->has_mem || !d->has_irq)
        return;
    if (info.nr_mmio_devs < ACPI_MAX_MMIO_DEVS) {
        struct acpi_mmio_dev *m = &info.mmio_devs[info.nr_mmio_devs];

        m->base = d->base;
        m->size = d->size;
        m->gsi = d->gsi;
        m->uid = d->has_uid ? d->uid : info.nr_mmio_devs;
        memcpy(m->name, d->name, sizeof(m->name));
    }
    info.nr_mmio_devs++;
}

/* A TermList (20.2.5) between c->p and c->end; dev is the Device it belongs to, if any. */
static bool walk(struct cursor *c, struct device *dev, unsigned depth)
{
    const uint8_t *pkg_end;
    char seg[5];
    struct value v;

    if (depth > AML_MAX_DEPTH)
        return aml_fail("scopes nested too deep");
    while (c->p < c->end) {
        uint8_t op = *c->p++;

        switch (op) {
        case 0x08: /* NameOp NameString DataRefObject */
            if (!name_string(c, seg) || !data_object(c, &v))
                return false;
            if (dev)
                name_in_device(dev, seg, &v);
            else
                name_at_top(seg, &v);
            break;
        case 0x10: { /* ScopeOp PkgLength NameString TermList */
            if (!pkg_length(c, &pkg_end))
                return false;
            struct cursor in = {c->p, pkg_end};

            if (!name_string(&in, seg) || !walk(&in, dev, depth + 1))
                return false;
            c->p = pkg_end;
            break;
        }
        case 0x14: /* MethodOp, and the other terms that carry a PkgLength right after */
        case 0x11: /* their opcode: skipped whole. Buffer, Package, VarPackage, If, Else, */
        case 0x12: /* While. */
        case 0x13:
        case 0xa0:
        case 0xa1:
        case 0xa2:
            if (!pkg_length(c, &pkg_end))
                return false;
            c->p = pkg_end;
            break;
        case 0x5b: { /* ExtOpPrefix */
            if (c->p >= c->end)
                return aml_fail("truncated extended opcode");
            uint8_t ext = *c->p++;

            if (ext == 0x82) { /* DeviceOp PkgLength NameString TermList */
                struct device d = {0};

                if (!pkg_length(c, &pkg_end))
                    return false;
                struct cursor in = {c->p, pkg_end};

                if (!name_string(&in, d.name) || !walk(&in, &d, depth + 1))
                    return false;
                device_done(&d);
                c->p = pkg_end;
            } else if (ext == 0x81 || (ext >= 0x83 && ext <= 0x87)) {
                /* Field, Processor, PowerResource, ThermalZone, IndexField, BankField */
                if (!pkg_length(c, &pkg_end))
                    return false;
                c->p = pkg_end;
            } else {
                return aml_fail("an extended opcode this reader does not know");
            }
            break;
        }
        default:
            return aml_fail("an opcode this reader does not know");
        }
    }
    return true;
}

static void parse_dsdt(const uint8_t *t, uint32_t len)
{
    struct cursor c = {t + SDT_HEADER_LEN, t + len};

    aml_stop = NULL;
    info.dsdt_walked = walk(&c, NULL, 0);
    info.dsdt_stop = info.dsdt_walked ? NULL : aml_stop;
}

/* ---- putting it together ----------------------------------------------------------------- */

static void parse(void)
{
    struct acpi_table_ref ref;
    const uint8_t *r, *root;
    uint64_t pa = boot_info.rsdp_paddr;
    unsigned entry_size = 8;

    if (pa && rsdp_ok(pa)) {
        info.rsdp_from_start_info = true;
    } else {
        pa = rsdp_scan();
        if (!pa)
            return;
    }
    r = phys(pa, RSDP_V1_LEN);
    info.found = true;
    info.rsdp_addr = pa;
    info.rsdp_revision = r[15];
    memcpy(info.oem_id, r + 9, 6);
    info.oem_id[6] = '\0';

    /* The XSDT from revision 2 on, when it is there; else the RSDT and 32-bit entries. */
    uint64_t root_pa = 0;

    if (r[15] >= 2 && (r = phys(pa, RSDP_V2_LEN)) != NULL)
        root_pa = rd64(r + 24);
    if (!root_pa) {
        r = phys(pa, RSDP_V1_LEN);
        root_pa = rd32(r + 16);
        entry_size = 4;
    }
    root = table_map(root_pa, &info.xsdt);
    if (root && memcmp(root, entry_size == 8 ? "XSDT" : "RSDT", 4) != 0) {
        info.xsdt = (struct acpi_table_ref){0};
        return;
    }
    if (!root || !info.xsdt.checksum_ok)
        return;

    for (uint32_t o = SDT_HEADER_LEN; o + entry_size <= info.xsdt.length; o += entry_size) {
        uint64_t tpa = entry_size == 8 ? rd64(root + o) : rd32(root + o);
        const uint8_t *t = table_map(tpa, &ref);

        if (!t)
            continue;
        if (memcmp(t, "FACP", 4) == 0 && !info.fadt.addr) {
            info.fadt = ref;
            if (ref.checksum_ok)
                parse_fadt(t, ref.length);
        } else if (memcmp(t, "APIC", 4) == 0 && !info.madt.addr) {
            info.madt = ref;
            if (ref.checksum_ok)
                parse_madt(t, ref.length);
        }
    }
    if (info.dsdt.addr && info.dsdt.checksum_ok)
        parse_dsdt(phys(info.dsdt.addr, info.dsdt.length), info.dsdt.length);
}

/* Parsed once, by the first CPU to ask. Another CPU asking meanwhile waits; the parsing
 * CPU itself asking again (a fault inside the parser, then power_off) gets nothing rather
 * than a deadlock. */
const struct acpi_info *acpi_get_info(void)
{
    static const struct acpi_info none;
    uint32_t expected = 0;

    if (__atomic_load_n(&parse_state, __ATOMIC_ACQUIRE) == 2)
        return &info;
    if (__atomic_compare_exchange_n(&parse_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        parser_cpu = ACPI_CPU_INDEX();
        parse();
        __atomic_store_n(&parse_state, 2, __ATOMIC_RELEASE);
        return &info;
    }
    if (parser_cpu == ACPI_CPU_INDEX())
        return &none;
    while (__atomic_load_n(&parse_state, __ATOMIC_ACQUIRE) != 2)
        pause();
    return &info;
}

int acpi_virtio_mmio_devices(struct acpi_mmio_dev *out, int max)
{
    const struct acpi_info *a = acpi_get_info();
    int n = 0;

    if (!a->dsdt.addr || !a->dsdt.checksum_ok)
        return -1;
    for (unsigned i = 0; i < a->nr_mmio_devs && i < ACPI_MAX_MMIO_DEVS && n < max; i++)
        out[n++] = a->mmio_devs[i];
    return n;
}

unsigned acpi_lapic_count(void)
{
    return acpi_get_info()->lapics;
}

bool acpi_power_off(void)
{
    const struct acpi_info *a = acpi_get_info();
    const struct acpi_reg *r = &a->sleep_control;
    uint8_t v = (uint8_t)(SLP_EN | ((a->s5_found ? a->s5_slp_typ : SLP_TYP_S5) << 2));

    if (!a->fadt.checksum_ok || !r->addr || r->bit_width < 8)
        return false;
    if (r->space == 1 && r->addr <= 0xffff) {
        outb((uint16_t)r->addr, v);
        return true;
    }
    /* A memory-mapped register (QEMU microvm's GED) must be outside RAM: a table must not
     * make us scribble on memory. */
    if (r->space != 0 || r->addr >= paging_mapped_top())
        return false;
    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (e->type == E820_RAM && r->addr >= e->addr && r->addr - e->addr < e->size)
            return false;
    }
    *(volatile uint8_t *)(uintptr_t)r->addr = v;
    return true;
}
