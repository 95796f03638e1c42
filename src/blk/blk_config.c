/* A disk's config space (blk_config.h): the builder the monitor uses too, so a guest sees the
 * same disk whichever front end it has. */
#include "blk/blk_config.h"

#include <stddef.h>
#include <string.h>

#include "blk/blkback.h"

void blk_config_get(struct vu_dev *dev, uint8_t *buf)
{
    const struct blk_disk *d = (const struct blk_disk *)((const char *)dev - offsetof(struct blk_disk, dev));
    /* num_queues counts only where MQ is offered (cfg.queues > 1); 1 is true otherwise too. */
    struct virtio_blk_config c = virtio_blk_xeno_config(d->info.sectors, (uint16_t)d->cfg.queues);
    memcpy(buf, &c, sizeof(c));
}
