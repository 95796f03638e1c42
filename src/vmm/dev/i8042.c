#include "vmm/dev/i8042.h"

#include <string.h>

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_SELF_TEST 0xaa
#define CMD_RESET 0xfe

void i8042_init(struct i8042 *k, power_event_fn power, void *opaque)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->ctr = 0x30; /* both ports disabled, no interrupts: nothing is plugged in */
    k->power = power;
    k->opaque = opaque;
}

void i8042_destroy(struct i8042 *k)
{
    pthread_mutex_destroy(&k->lock);
}

static void output(struct i8042 *k, uint8_t v)
{
    k->out = v;
    k->out_full = 1;
}

void i8042_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct i8042 *k = opaque;
    int reset = 0;
    /* Only the low byte of a wider access lands on the register, as on the ISA bus. */
    if (!is_write)
        memset(data, 0xff, size);
    if (offset != 0 && offset != 4)
        return;
    pthread_mutex_lock(&k->lock);
    if (offset == 4 && !is_write) {
        data[0] = (uint8_t)(STATUS_SYS | (k->out_full ? STATUS_OBF : 0));
    } else if (offset == 0 && !is_write) {
        data[0] = k->out;
        k->out_full = 0;
    } else if (offset == 4) {
        k->pending = 0;
        switch (data[0]) {
        case CMD_READ_CTR: output(k, k->ctr); break;
        case CMD_WRITE_CTR: k->pending = CMD_WRITE_CTR; break;
        case CMD_SELF_TEST: output(k, 0x55); break;
        case CMD_RESET: reset = 1; break;
        default: break;
        }
    } else if (k->pending == CMD_WRITE_CTR) {
        k->ctr = data[0];
        k->pending = 0;
    }
    pthread_mutex_unlock(&k->lock);
    if (reset)
        k->power(k->opaque, VM_REBOOT, "guest reset the machine through the i8042 controller");
}

/* ---- state (core/device.h) ---------------------------------------------------------- */

static int i8042_state_save(void *dev, void *buf)
{
    struct i8042 *k = dev;
    struct i8042_state *s = buf;
    pthread_mutex_lock(&k->lock);
    s->ctr = k->ctr, s->out = k->out, s->pending = k->pending, s->out_full = k->out_full;
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static int i8042_state_restore(void *dev, const void *buf, enum dev_state_source src)
{
    (void)src;
    struct i8042 *k = dev;
    const struct i8042_state *s = buf;
    pthread_mutex_lock(&k->lock);
    k->ctr = s->ctr, k->out = s->out, k->pending = s->pending, k->out_full = s->out_full != 0;
    pthread_mutex_unlock(&k->lock);
    return 0;
}

const struct dev_state_ops i8042_state_ops = {
    .section = SNAP_SEC_I8042,
    .size = sizeof(struct i8042_state),
    .save = i8042_state_save,
    .restore = i8042_state_restore,
};
