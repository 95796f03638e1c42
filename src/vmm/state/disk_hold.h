/* A domain's disks held still for a save or a migration (docs/migration.md, "Disks"): every
 * virtio-blk request queue is taken back from its backend, which completes, publishes and
 * flushes what it took (virtio_blk_hold), and is given back by vm_disks_release.
 *
 * Why a migration holds them for its whole pre-copy: the backend writes guest memory (read
 * data, used rings) through its own mapping, which KVM's dirty log does not see, so pages it
 * wrote during the rounds would reach the destination stale. Held, it writes nothing; the
 * guest's disk requests wait in the ring (the driver sees a slow disk) and are served by the
 * destination's backend after GO, or by this one again if the migration fails.
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
