#include "vmm/dev/acpi_pm.h"

#include <string.h>

#define SLP_EN 0x20
#define SLP_TYP(v) (((v) >> 2) & 7)

void acpi_pm_init(struct acpi_pm *pm, power_event_fn power, void *opaque)
{
    pm->power = power;
    pm->opaque = opaque;
}

void acpi_pm_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    if (!is_write) {
        memset(data, 0, size); /* no wake events pending */
        return;
    }
    /* Other sleep states (S1-S4) are not offered; writes asking for them are ignored. */
    if (offset == 0 && (data[0] & SLP_EN) && SLP_TYP(data[0]) == ACPI_SLP_TYP_S5)
        pm->power(pm->opaque, VM_POWEROFF, "guest powered off (ACPI S5)");
}
