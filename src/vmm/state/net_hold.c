#include "vmm/state/net_hold.h"

#include "vmm/virtio/virtio_net.h"

int vm_net_hold(struct vm *vm)
{
    return vm->vnet ? vhost_front_hold(&vm->vnet->front) : 0;
}

void vm_net_release(struct vm *vm)
{
    if (vm->vnet)
        vhost_front_release(&vm->vnet->front);
}
