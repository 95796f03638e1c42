/* ACPI hardware-reduced sleep control and status registers (ACPI 6, 4.8.3.7): how a guest
 * powers off. Writing SLP_EN with SLP_TYP 5 (S5, soft off) ends the domain with "poweroff".
 * The FADT's sleep control and status registers point guests here (acpi.c). */
#ifndef XENO_VMM_DEV_ACPI_PM_H
#define XENO_VMM_DEV_ACPI_PM_H

#include <stdint.h>

#include "vmm/core/outcome.h"

#define ACPI_PM_PORT 0x600 /* +0 sleep control, +1 sleep status */
#define ACPI_SLP_TYP_S5 5

struct acpi_pm {
    power_event_fn power;
    void *opaque;
};

void acpi_pm_init(struct acpi_pm *pm, power_event_fn power, void *opaque);
void acpi_pm_io(void *pm, uint64_t offset, int is_write, uint8_t *data, unsigned size);

#endif
