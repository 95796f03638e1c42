#include "vmm/state/disk_hold.h"

#include <errno.h>

#include "lib/err.h"
#include "vmm/virtio/virtio_blk.h"

int vm_disks_recordable(struct vm *vm)
{
    struct virtio_blk *const *disk = vm->vblk;
    unsigned n = vm->nvblk;
    for (unsigned i = 0; i < n; i++)
        if (!disk[i]->image || !disk[i]->image_dir)
            return err_set(EOPNOTSUPP,
                           "disk %u: --disk has no image=NAME,image-dir=DIR: the image's identity cannot be recorded, "
                           "so its restore could not refuse a changed image (docs/snapshot-format.md, \"Disks\")",
                           i);
    return 0;
}

int vm_disks_hold(struct vm *vm)
{
    struct virtio_blk *const *disk = vm->vblk;
    unsigned n = vm->nvblk;
    int first = 0;
    for (unsigned i = 0; i < n; i++) {
        int r = virtio_blk_hold(disk[i]);
        if (r < 0 && !first)
            first = r;
    }
    return first;
}

void vm_disks_release(struct vm *vm)
{
    struct virtio_blk *const *disk = vm->vblk;
    unsigned n = vm->nvblk;
    for (unsigned i = 0; i < n; i++)
        virtio_blk_release(disk[i]);
}
