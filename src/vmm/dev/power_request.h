/* The power request register (docs/machine.md): how the host asks the guest to power off
 * or reboot gracefully. The monitor sets a pending request and pulses ISA IRQ 9 (the PC's
 * ACPI SCI line); the guest reads port 0x602 to learn the request, which clears it. Reads
 * return 0 when nothing is pending; a newer request replaces one not yet read; writes are
 * ignored. Like the UART the model is pure: the interrupt line is a callback. */
#ifndef XENO_VMM_DEV_POWER_REQUEST_H
#define XENO_VMM_DEV_POWER_REQUEST_H

#include <pthread.h>
#include <stdint.h>

#include "vmm/core/device.h"

#define POWER_REQUEST_PORT 0x602
#define POWER_REQUEST_IRQ 9

enum power_request_code {
    POWER_REQUEST_NONE = 0,
    POWER_REQUEST_OFF = 1,
    POWER_REQUEST_REBOOT = 2,
};

struct power_request {
    pthread_mutex_t lock;
    uint8_t pending;
    void (*pulse_irq)(void *opaque); /* raise and lower the line: one edge */
    void *opaque;
};

void power_request_init(struct power_request *p, void (*pulse_irq)(void *opaque), void *opaque);
void power_request_destroy(struct power_request *p);
/* Host side: posts a request (POWER_REQUEST_OFF or _REBOOT) and interrupts the guest. */
void power_request_post(struct power_request *p, enum power_request_code code);
/* The register (an io_handler_fn): one byte at offset 0. */
void power_request_io(void *p, uint64_t offset, int is_write, uint8_t *data, unsigned size);

/* The pending request in snapshots and migration (section "power-request"): a request made
 * before a save is still delivered after the resume. Layout fixed by the format. */
struct power_request_state {
    uint8_t pending, pad[7];
};
extern const struct dev_state_ops power_request_state_ops;

#endif
