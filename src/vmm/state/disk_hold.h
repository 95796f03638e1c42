/* A domain's disks held still (docs/migration.md, "Disks"): every virtio-blk request queue
 * is taken back from its backend, which completes, publishes and flushes what it took
 * (virtio_blk_hold), and is given back by vm_disks_release.
 *
 * Held for a save, for the final stop of a live migration (after the vCPUs pause, before the
 * last look at the dirty log: the image is flushed before the state records its identity),
 * and for a whole migration only when a disk's backend cannot keep the vhost-user dirty log
 * (state/dirty_log.c). During the pre-copy rounds the disks are otherwise served
 * as usual: xeno-blkback marks every guest page it writes (read data, status bytes, used
 * rings), which KVM's dirty log cannot see, and each round resends them.
 *
 * Threads: any but a vhost-user front end's; a hold blocks for at most the front end's
 * reply deadline per disk. */
#ifndef XENO_VMM_STATE_DISK_HOLD_H
#define XENO_VMM_STATE_DISK_HOLD_H

#include "vmm/machine/vm.h"

/* 0 when every disk can be recorded (its --disk names its image), else -EOPNOTSUPP with
 * err_msg(): a save or a migration is refused before it starts. */
int vm_disks_recordable(struct vm *vm);
/* 0, or the first -errno with err_msg() (every disk is held all the same). */
int vm_disks_hold(struct vm *vm);
void vm_disks_release(struct vm *vm);

#endif
