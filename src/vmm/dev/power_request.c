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
