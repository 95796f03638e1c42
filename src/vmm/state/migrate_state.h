/* The device and vCPU state a live migration carries in its last message: the same
 * sections, with the same payload structs and section header, as a snapshot file's state
 * part (docs/snapshot-format.md: vcpu, irqchip, pit, clock, uart, i8042, power-request,
 * virtio), laid one after the other in a buffer instead of a file. What goes in them and
 * how they go back is snapshot_vm.c's (vm_snapshot_write_state, vm_snapshot_apply_state);
 * this file adds the buffer and its framing. */
#ifndef XENO_VMM_STATE_MIGRATE_STATE_H
#define XENO_VMM_STATE_MIGRATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/machine/vm.h"

/* The paused VM's state as sections in a malloc'd buffer. 0, or a negative errno with
 * err_set(). */
int mig_state_encode(struct vm *vm, uint8_t **buf, size_t *len);
/* Checks every section of buf (from the peer: untrusted; framing, CRCs, only state
 * sections, then vm_snapshot_apply_state's checks: exact sizes, one vcpu section per vCPU
 * in order, one virtio section per device with matching ids), then loads it into vm
 * (created like the source's, vCPUs parked). Nothing is loaded unless all of it checks.
 * 0, or a negative errno (-EPROTO for a bad message) with err_set() naming the section. */
int mig_state_apply(struct vm *vm, const uint8_t *buf, size_t len);

#endif
