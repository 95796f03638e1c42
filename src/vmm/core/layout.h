/* The guest-physical layout of the machine (docs/machine.md) that several folders share: the
 * virtio-mmio windows and their interrupt pins (virtio/ places devices there, boot/ lists them
 * in the ACPI DSDT) and where the ACPI tables live. */
#ifndef XENO_VMM_CORE_LAYOUT_H
#define XENO_VMM_CORE_LAYOUT_H

#include <stdint.h>

/* virtio-mmio devices: one 4 KiB window each from VIRTIO_MMIO_BASE, one IOAPIC pin each
 * (virtio_mmio_gsi: edge, active high), in the order registered. The ACPI DSDT lists exactly
 * these, so guests find them the way stock kernels do. */
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_STRIDE 0x1000ULL
#define VIRTIO_GSI_BASE 16
/* The fixed three, an interface and eight disks. */
#define VM_MAX_MMIO_DEVS 12

/* Window i's pin. The first eight take pins 16..23, which no ISA device uses. KVM's IOAPIC
 * has no more (24 pins), so windows 8..11, which only a domain with more than four disks
 * beside an interface (five without) has, take ISA pins that no device of this machine
 * uses (COM1 is 4, the i8042 1 and 12, the SCI and power request 9, the PIT 0): 5, 6, 7 and
 * 10. Edge, active high is also the ISA default, so they need no interrupt source override. */
static inline uint32_t virtio_mmio_gsi(unsigned index)
{
    static const uint8_t isa_pins[] = {5, 6, 7, 10};
    return index < 8 ? VIRTIO_GSI_BASE + index : isa_pins[(index - 8) % sizeof(isa_pins)];
}
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
