/* Which guest pages changed since the last look, for live migration's pre-copy rounds.
 *
 * Three sources, merged into one bitmap of RAM pages (memfd offset / 4096):
 *   - KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES on every RAM slot, read and cleared with
 *     KVM_GET_DIRTY_LOG): every page a vCPU wrote. The bitmap interface, not the dirty
 *     ring: it works on every KVM this monitor runs on and costs one ioctl per slot per
 *     round, which is nothing next to sending the pages (docs/migration.md).
 *   - the monitor's own writes into guest RAM (virtio devices filling buffers and used
 *     rings), which KVM does not see: guest_mem.dirty, set by guest_mem_mark_dirty() from
 *     the virtqueue push path.
 *   - the vhost-user backends' writes (xeno-netback fills receive buffers and used rings,
 *     xeno-blkback writes read data, status bytes and used rings, each through its own
 *     mapping of guest RAM): the vhost-user dirty log each keeps for us
 *     (vhost_front_log_start), so that the network and the disks keep being served during
 *     the rounds. A backend that cannot keep one has its rings held for the whole move
 *     instead (the release is the caller's if the move fails); all are held at the final
 *     stop and for a save (migrate_send.c, disk_hold.h, net_hold.h), and on restore until
 *     RAM is in.
 * Start before the first full copy, so that nothing written during it is missed. */
#ifndef XENO_VMM_STATE_DIRTY_LOG_H
#define XENO_VMM_STATE_DIRTY_LOG_H

#include <stdint.h>

#include "vmm/machine/vm.h"

struct dirty_log {
    struct vm *vm;
    uint64_t npages; /* RAM pages */
    uint64_t words;  /* 64-bit words in each bitmap */
    uint64_t *bits;  /* the last collect's result */
    uint64_t *kvm;   /* scratch for KVM_GET_DIRTY_LOG */
    uint64_t *mon;   /* monitor writes, installed as vm->mem.dirty */
    int on;
    int net_log;       /* the network backend keeps a dirty log for us */
    unsigned disk_log; /* bit i: disk i's backend keeps a dirty log for us */
};

/* Turns logging on. 0, or a negative errno with err_set() (nothing left on). */
int dirty_log_start(struct dirty_log *dl, struct vm *vm);
/* Replaces dl->bits with the pages written since the previous call (or the start) and
 * clears the logs; *count: how many. 0, or a negative errno with err_set(). */
int dirty_log_collect(struct dirty_log *dl, uint64_t *count);
/* Turns logging off and frees the bitmaps (safe on a log never started). */
void dirty_log_stop(struct dirty_log *dl);

static inline int dirty_log_test(const struct dirty_log *dl, uint64_t page)
{
    return (dl->bits[page / 64] >> (page % 64)) & 1;
}

#endif
