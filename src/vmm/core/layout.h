/* The guest-physical layout of the machine (docs/machine.md) that several folders share: the
 * virtio-mmio windows and their interrupt pins (virtio/ places devices there, boot/ lists them
 * in the ACPI DSDT) and where the ACPI tables live. */
#ifndef XENO_VMM_CORE_LAYOUT_H
#define XENO_VMM_CORE_LAYOUT_H

#include <stdint.h>

/* virtio-mmio devices: one 4 KiB window each from VIRTIO_MMIO_BASE, one IOAPIC pin each from
 * VIRTIO_GSI_BASE (edge, active high), in the order registered. The ACPI DSDT lists exactly
 * these, so guests find them the way stock kernels do. */
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_STRIDE 0x1000ULL
#define VIRTIO_GSI_BASE 16
#define VM_MAX_MMIO_DEVS 8
/* ACPI tables live in the reserved legacy BIOS area (0x9fc00-0xfffff), RSDP first. */
#define ACPI_TABLES_BASE 0xe0000ULL
#define ACPI_TABLES_SIZE 0x10000ULL

/* One MMIO device window as the ACPI tables describe it. */
struct mmio_dev_desc {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
    const char *name; /* "virtio-console", ... for logs and the DSDT comment */
};

#endif
