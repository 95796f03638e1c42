/* --disk's value: name=N,socket=PATH,file=NAME[,readonly][,serial=S][,queues=Q]. Every
 * word is checked: a name of [a-z0-9_-] (1-31), a socket path that fits sun_path, a file name
 * relative to --image-dir (openat2 enforces the rest), a serial of printable ASCII without
 * commas (at most 20 bytes), 1..BLK_MAX_QUEUES queues. The QoS words (reservation=,
 * weight=, group=, sponsor=, libvirt's <iotune> names such as total_iops_sec_max=) are
 * blk_qos.h's, checked as a set once the spec is read. */
#ifndef XENO_BLK_DISK_SPEC_H
#define XENO_BLK_DISK_SPEC_H

#include "blk/blkback.h"

/* 0 and *out, or -EINVAL with a message naming the word. */
int blk_disk_spec_parse(const char *text, struct blk_disk_config *out);

#endif
