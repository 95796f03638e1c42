#include "vmm/dev/power_request.h"

#include <string.h>

void power_request_init(struct power_request *p, void (*pulse_irq)(void *opaque), void *opaque)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->pulse_irq = pulse_irq;
    p->opaque = opaque;
}

void power_request_destroy(struct power_request *p)
{
    pthread_mutex_destroy(&p->lock);
}

void power_request_post(struct power_request *p, enum power_request_code code)
{
    pthread_mutex_lock(&p->lock);
    p->pending = (uint8_t)code;
    pthread_mutex_unlock(&p->lock);
    /* After the store: a guest woken by the edge must find the request. */
    p->pulse_irq(p->opaque);
}

void power_request_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct power_request *p = opaque;
    if (is_write)
        return;
    memset(data, 0xff, size); /* bytes past the one-byte register read as an empty bus does */
    if (offset != 0)
        return;
    pthread_mutex_lock(&p->lock);
    data[0] = p->pending;
    p->pending = POWER_REQUEST_NONE;
    pthread_mutex_unlock(&p->lock);
}

/* ---- state (core/device.h) ---------------------------------------------------------- */

static int power_request_state_save(void *dev, void *buf)
{
    struct power_request *p = dev;
    struct power_request_state *s = buf;
    pthread_mutex_lock(&p->lock);
    s->pending = p->pending;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static int power_request_state_restore(void *dev, const void *buf, enum dev_state_source src)
{
    (void)src;
    struct power_request *p = dev;
    const struct power_request_state *s = buf;
    pthread_mutex_lock(&p->lock);
    p->pending = s->pending;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

const struct dev_state_ops power_request_state_ops = {
    .section = SNAP_SEC_POWER_REQ,
    .size = sizeof(struct power_request_state),
    .save = power_request_state_save,
    .restore = power_request_state_restore,
};
