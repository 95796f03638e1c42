#include "vmm/state/dirty_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/virtio/virtio_blk.h"
#include "vmm/virtio/virtio_net.h"

/* A vhost-user device's writes during the rounds: in its backend's dirty log (1), or, where
 * the backend cannot keep one, not made at all: its rings are held for the whole move (0;
 * said once, here). -errno with err_msg() when even the hold failed (it may be writing). */
static int watch(struct vhost_front *f)
{
    if (vhost_front_log_start(f) == 0)
        return 1;
    log_warn("%s; its rings stay held for the migration", err_msg());
    int r = vhost_front_hold(f);
    return r < 0 ? r : 0;
}

int dirty_log_start(struct dirty_log *dl, struct vm *vm)
{
    memset(dl, 0, sizeof(*dl));
    dl->vm = vm;
    dl->npages = vm->mem.size / 4096;
    dl->words = (dl->npages + 63) / 64;
    dl->bits = calloc(dl->words, 8);
    dl->kvm = calloc(dl->words + 1, 8);
    dl->mon = calloc(dl->words, 8);
    if (!dl->bits || !dl->kvm || !dl->mon) {
        dirty_log_stop(dl);
        return err_set(ENOMEM, "dirty log for %llu pages: out of memory", (unsigned long long)dl->npages);
    }
    __atomic_store_n(&vm->mem.dirty, dl->mon, __ATOMIC_RELEASE);
    int r = vm_set_dirty_logging(vm, 1);
    if (r < 0) {
        vm_set_dirty_logging(vm, 0);
        dirty_log_stop(dl);
        return r;
    }
    dl->on = 1;
    if (vm->vnet) {
        if ((r = watch(&vm->vnet->front)) < 0) {
            dirty_log_stop(dl);
            return r;
        }
        dl->net_log = r == 1;
    }
    for (unsigned i = 0; i < vm->nvblk; i++) {
        if ((r = watch(&vm->vblk[i]->front)) < 0) {
            dirty_log_stop(dl);
            return r;
        }
        dl->disk_log |= (unsigned)(r == 1) << i;
    }
    return 0;
}

int dirty_log_collect(struct dirty_log *dl, uint64_t *count)
{
    struct vm *vm = dl->vm;
    uint64_t n = 0;
    memset(dl->bits, 0, dl->words * 8);
    for (unsigned s = 0; s < vm->mem.nranges; s++) {
        const struct guest_range *g = &vm->mem.ranges[s];
        uint64_t first = g->offset / 4096, pages = g->size / 4096;
        memset(dl->kvm, 0, (pages + 63) / 64 * 8);
        struct kvm_dirty_log log = {.slot = s, .dirty_bitmap = dl->kvm};
        if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
            return err_set(errno, "KVM_GET_DIRTY_LOG (slot %u): %s", s, strerror(errno));
        for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
            uint64_t v = dl->kvm[w];
            while (v) {
                uint64_t p = first + w * 64 + (uint64_t)__builtin_ctzll(v);
                v &= v - 1;
                if (p < dl->npages)
                    dl->bits[p / 64] |= 1ULL << (p % 64);
            }
        }
    }
    if (dl->net_log)
        vhost_front_log_take(&vm->vnet->front, dl->bits, dl->npages);
    for (unsigned i = 0; i < vm->nvblk; i++)
        if (dl->disk_log >> i & 1)
            vhost_front_log_take(&vm->vblk[i]->front, dl->bits, dl->npages);
    for (uint64_t w = 0; w < dl->words; w++) {
        dl->bits[w] |= __atomic_exchange_n(&dl->mon[w], 0, __ATOMIC_ACQ_REL);
        n += (uint64_t)__builtin_popcountll(dl->bits[w]);
    }
    *count = n;
    return 0;
}

void dirty_log_stop(struct dirty_log *dl)
{
    if (dl->net_log)
        vhost_front_log_stop(&dl->vm->vnet->front);
    dl->net_log = 0;
    for (unsigned i = 0; dl->vm && i < dl->vm->nvblk; i++)
        if (dl->disk_log >> i & 1)
            vhost_front_log_stop(&dl->vm->vblk[i]->front);
    dl->disk_log = 0;
    if (dl->on)
        vm_set_dirty_logging(dl->vm, 0);
    if (dl->vm && dl->mon) {
        __atomic_store_n(&dl->vm->mem.dirty, NULL, __ATOMIC_RELEASE);
        /* Devices mark pages under their lock (virtqueues are only touched so): taking
         * each lock once waits out a mark that still holds the old pointer. */
        for (unsigned i = 0; i < dl->vm->virtio.ndevs; i++) {
            virtio_dev_lock(dl->vm->virtio.devs[i]);
            virtio_dev_unlock(dl->vm->virtio.devs[i]);
        }
    }
    free(dl->bits);
    free(dl->kvm);
    free(dl->mon);
    dl->bits = dl->kvm = dl->mon = NULL;
    dl->on = 0;
}
