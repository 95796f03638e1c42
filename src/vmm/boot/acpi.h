/* ACPI tables (ACPI 6.3) for the machine of docs/machine.md: RSDP, XSDT, FADT (hardware-
 * reduced), MADT, DSDT. They describe what the monitor built and nothing a guest could
 * change: the vCPU count and the virtio-mmio devices. The DSDT's AML is written by the small
 * AML writer in acpi.c (no ASL compiler at build time); `iasl -d` decodes it
 * (tests/integration/acpi.sh).
 *
 * Layout in guest RAM (the reserved legacy BIOS area, ACPI_TABLES_BASE in core/layout.h): the RSDP
 * first (16-byte aligned, where a legacy scan of 0xe0000-0xfffff finds it), then each table
 * 64-byte aligned in the order XSDT, FADT, MADT, DSDT. */
#ifndef XENO_VMM_BOOT_ACPI_H
#define XENO_VMM_BOOT_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/core/guest_mem.h"
#include "vmm/core/layout.h" /* struct mmio_dev_desc, ACPI_TABLES_BASE */

#define ACPI_OEM_ID "XENO  "         /* 6 bytes */
#define ACPI_OEM_TABLE_ID "XENOSRV " /* 8 bytes */
#define ACPI_CREATOR_ID "XENO"
#define ACPI_HYPERVISOR_ID "XenoSrv" /* FADT hypervisor vendor identity (8 bytes, NUL-padded) */
#define ACPI_VIRTIO_MMIO_HID "LNRO0005"

#define ACPI_LAPIC_ADDR 0xfee00000u
#define ACPI_IOAPIC_ADDR 0xfec00000u
#define ACPI_IOAPIC_ID 0
#define ACPI_SCI_IRQ 9 /* the power request line (power_request.h); ISA, edge, active high */

/* Where each table went: offsets into the buffer handed to acpi_build (gpa = base + offset). */
enum acpi_table { ACPI_RSDP, ACPI_XSDT, ACPI_FADT, ACPI_MADT, ACPI_DSDT, ACPI_NTABLES };

struct acpi_layout {
    size_t offset[ACPI_NTABLES];
    size_t length[ACPI_NTABLES];
    size_t used; /* bytes of the buffer in use */
};

/* "rsdp", "xsdt", "facp", "apic", "dsdt": the names acpidump/acpixtract give the files. */
const char *acpi_table_file_name(enum acpi_table t);

/* Builds every table into buf[0..size), which the guest will see at guest-physical `gpa`
 * (all pointers between tables are gpa-based). 0, or -ENOSPC/-EINVAL with a message. */
int acpi_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned nvcpus, const struct mmio_dev_desc *devs,
               unsigned ndevs, struct acpi_layout *layout);

/* Builds the tables into guest RAM at ACPI_TABLES_BASE; *rsdp_paddr is for
 * hvm_start_info.rsdp_paddr. */
int acpi_write_tables(const struct guest_mem *mem, unsigned nvcpus, const struct mmio_dev_desc *devs, unsigned ndevs,
                      uint64_t *rsdp_paddr);

/* Builds the tables and writes each into DIR/NAME.dat (acpi_table_file_name), for `iasl -d`.
 * DIR must exist. */
int acpi_dump(const char *dir, unsigned nvcpus, const struct mmio_dev_desc *devs, unsigned ndevs);

/* ---- the AML writer (exposed for the unit tests) ---------------------------------------- */

/* Encodes the PkgLength of a package whose contents (after the PkgLength) are
 * `content_len` bytes: the encoded value counts its own bytes too (ACPI 6.3, 20.2.4).
 * Writes 1-4 bytes to out and returns how many, or 0 if the package is too large (the
 * largest encodable PkgLength is 2^28 - 1). */
size_t aml_pkglength(uint8_t out[4], size_t content_len);

#endif
