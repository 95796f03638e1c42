/*
 * acpi: reads the monitor's ACPI tables (runtime/acpi.c) and checks them against the
 * machine contract (docs/machine.md): RSDP from the start info, XSDT, FADT (hardware-
 * reduced, sleep control/status registers), MADT (one enabled local APIC per vCPU with
 * APIC IDs 0..N-1, the IOAPIC), DSDT (\_S5_, and the virtio-mmio devices: window i at
 * 0xd0000000 + i * 4 KiB, GSI 16 + i, each with the virtio magic in its first register).
 * Every table must checksum. PASS when all of that holds; it then powers off through the
 * FADT's sleep control register, as the runtime always does.
 *
 * The integration test (tests/integration/acpi.sh) boots it with 1, 2 and 4 vCPUs and
 * compares the device lines with what `xeno-vmm --dump-acpi` reports.
 */
#include "runtime.h"

const char test_title[] = "acpi: the monitor's ACPI tables";

#define VIRTIO_WINDOWS 0xd0000000UL
#define VIRTIO_STRIDE 0x1000UL
#define VIRTIO_MAGIC 0x74726976 /* "virt" */
#define MAX_PROBE 8

static const char *ok(bool good)
{
    return good ? "checksum OK" : "BAD checksum";
}

static bool table(const char *what, const struct acpi_table_ref *t)
{
    if (!t->addr) {
        test_fail("no %s", what);
        return false;
    }
    printf("acpi: %s at %#lx, %u bytes, revision %u, %s\n", what, t->addr, t->length, t->revision, ok(t->checksum_ok));
    if (!t->checksum_ok)
        test_fail("%s checksum", what);
    return t->checksum_ok;
}

static const char *space(uint8_t s)
{
    return s == 1 ? "I/O" : s == 0 ? "memory" : "?";
}

/* The vCPU count CPUID gives (machine.md), to hold the MADT against. */
static unsigned cpuid_vcpus(void)
{
    uint32_t max, a, b, c, d;

    cpuid(0, &max, &b, &c, &d);
    if (max >= 0xb) {
        cpuid_count(0xb, 1, &a, &b, &c, &d);
        if (b & 0xffff)
            return b & 0xffff;
    }
    return 1;
}

static void check_madt(const struct acpi_info *a)
{
    unsigned n = cpuid_vcpus();
    uint64_t seen = 0;

    printf("acpi: MADT: %u enabled local APICs at %#x (IDs", a->lapics, a->lapic_addr);
    for (unsigned i = 0; i < a->lapics && i < ARRAY_SIZE(a->lapic_ids); i++) {
        printf(" %u", a->lapic_ids[i]);
        if (a->lapic_ids[i] < 64)
            seen |= 1ULL << a->lapic_ids[i];
    }
    printf("), %u IOAPIC at %#x\n", a->ioapics, a->ioapic_addr);
    printf("acpi: %u LAPICs, %u vCPUs\n", a->lapics, n);
    if (a->lapics != n)
        test_fail("the MADT has %u enabled local APICs, CPUID says %u vCPUs", a->lapics, n);
    else if (n <= 64 && seen != (n == 64 ? ~0ULL : (1ULL << n) - 1))
        test_fail("local APIC IDs are not 0..%u", n - 1);
    if (a->lapic_addr != LAPIC_BASE)
        test_fail("local APIC address %#x", a->lapic_addr);
    if (a->ioapics != 1 || a->ioapic_addr != IOAPIC_BASE)
        test_fail("%u IOAPICs, the first at %#x", a->ioapics, a->ioapic_addr);
    if (smp_cpu_count() != a->lapics)
        test_fail("smp_cpu_count() is %u, not the MADT's %u", smp_cpu_count(), a->lapics);
}

static void check_devices(void)
{
    struct acpi_mmio_dev devs[ACPI_MAX_MMIO_DEVS];
    int n = acpi_virtio_mmio_devices(devs, ACPI_MAX_MMIO_DEVS);
    unsigned probed = 0;

    /* The windows that answer with the magic value, in order; the first empty one (all
     * ones) ends the list. */
    while (probed < MAX_PROBE && mmio_read32(VIRTIO_WINDOWS + probed * VIRTIO_STRIDE) == VIRTIO_MAGIC)
        probed++;
    printf("acpi: %d virtio-mmio devices in the DSDT, %u windows answer\n", n, probed);
    if (n < 0) {
        test_fail("no DSDT to list devices");
        return;
    }
    for (int i = 0; i < n; i++) {
        const struct acpi_mmio_dev *d = &devs[i];
        uint64_t want = VIRTIO_WINDOWS + (uint64_t)i * VIRTIO_STRIDE;

        printf("acpi: device %s base=%#lx size=%#x gsi=%u uid=%u\n", d->name, d->base, d->size, d->gsi, d->uid);
        if (d->base != want || d->size != VIRTIO_STRIDE || d->gsi != virtio_mmio_window_gsi((unsigned)i) ||
            d->uid != (unsigned)i)
            test_fail("device %d: expected base %#lx, size %#lx, gsi %u, uid %d", i, want, VIRTIO_STRIDE,
                      virtio_mmio_window_gsi((unsigned)i), i);
    }
    if ((unsigned)n != probed)
        test_fail("the DSDT lists %d devices, %u windows hold one", n, probed);
}

void test_main(void)
{
    const struct acpi_info *a = acpi_get_info();

    if (!a->found) {
        test_fail("no RSDP (start info rsdp_paddr %#lx)", boot_info.rsdp_paddr);
        return;
    }
    printf("acpi: RSDP at %#lx (%s), revision %u, OEM \"%s\", checksums OK\n", a->rsdp_addr,
           a->rsdp_from_start_info ? "hvm_start_info.rsdp_paddr" : "found by scanning", a->rsdp_revision, a->oem_id);
    if (!a->rsdp_from_start_info)
        test_fail("hvm_start_info.rsdp_paddr (%#lx) does not point at the RSDP", boot_info.rsdp_paddr);
    if (a->rsdp_revision < 2)
        test_fail("RSDP revision %u: no XSDT", a->rsdp_revision);

    if (!table("XSDT", &a->xsdt))
        return;
    if (table("FADT", &a->fadt)) {
        printf("acpi: FADT: %s, sleep control %s %#lx, sleep status %s %#lx",
               a->hw_reduced ? "hardware-reduced" : "full", space(a->sleep_control.space), a->sleep_control.addr,
               space(a->sleep_status.space), a->sleep_status.addr);
        if (a->reset_reg.addr)
            printf(", reset %s %#lx value %#x", space(a->reset_reg.space), a->reset_reg.addr, a->reset_value);
        printf("\n");
        if (!a->hw_reduced)
            test_fail("FADT without HW_REDUCED_ACPI");
        if (a->sleep_control.space != 1 || a->sleep_control.addr != 0x600 || a->sleep_status.space != 1 ||
            a->sleep_status.addr != 0x601)
            test_fail("sleep registers are not ports 0x600/0x601");
    }
    if (table("MADT", &a->madt))
        check_madt(a);
    if (table("DSDT", &a->dsdt)) {
        if (a->dsdt_walked)
            printf("acpi: DSDT: decoded to the end\n");
        else
            test_fail("DSDT walk stopped: %s", a->dsdt_stop ? a->dsdt_stop : "?");
        if (a->s5_found)
            printf("acpi: DSDT: \\_S5_ SLP_TYP %u\n", a->s5_slp_typ);
        if (!a->s5_found || a->s5_slp_typ != 5)
            test_fail("no \\_S5_ package with SLP_TYP 5");
        check_devices();
    }
    test_pass();
    printf("acpi: powering off through the FADT sleep control register\n");
}
