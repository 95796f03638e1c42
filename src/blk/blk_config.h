/* A disk's virtio config space, served to front ends that ask the backend for it (GET_CONFIG:
 * QEMU's vhost-user-blk and other stock front ends; our monitor serves the same bytes itself). */
#ifndef XENO_BLK_BLK_CONFIG_H
#define XENO_BLK_BLK_CONFIG_H

#include <stdint.h>

#include "proto/virtio_blk.h"
#include "vhost/vu_dev.h"

#define BLK_CONFIG_SIZE ((unsigned)sizeof(struct virtio_blk_config))

/* The vu_dev_class hook for a disk's device (dev is a struct blk_disk's): writes
 * BLK_CONFIG_SIZE bytes into buf. */
void blk_config_get(struct vu_dev *dev, uint8_t *buf);

#endif
