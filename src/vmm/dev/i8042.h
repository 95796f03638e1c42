/* Just enough of the PS/2 controller for the way PCs and Linux reset: command 0xfe on port
 * 0x64 pulses the CPU reset line. No keyboard or mouse is attached; the controller answers
 * its configuration byte so that a probing guest concludes that and moves on. */
#ifndef XENO_VMM_DEV_I8042_H
#define XENO_VMM_DEV_I8042_H

#include <pthread.h>
#include <stdint.h>

#include "vmm/core/device.h"
#include "vmm/core/outcome.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042 {
    pthread_mutex_t lock;
    uint8_t ctr; /* controller configuration byte */
    uint8_t out; /* output buffer */
    int out_full;
    uint8_t pending; /* command waiting for its data byte, or 0 */
    power_event_fn power;
    void *opaque;
};

void i8042_init(struct i8042 *k, power_event_fn power, void *opaque);
void i8042_destroy(struct i8042 *k);
/* io_handler_fn for port 0x60 (offset 0) to 0x64 (offset 4). */
void i8042_io(void *k, uint64_t offset, int is_write, uint8_t *data, unsigned size);

/* The controller's state in snapshots and migration (section "i8042"). Layout fixed by the
 * format. */
struct i8042_state {
    uint8_t ctr, out, pending, pad;
    int32_t out_full;
};
extern const struct dev_state_ops i8042_state_ops;

#endif
