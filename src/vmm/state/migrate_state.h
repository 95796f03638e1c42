/* The device and vCPU state a live migration carries in its last message: the same
 * sections, with the same payload structs and section header, as a snapshot file's state
 * part (docs/snapshot-format.md: vcpu, irqchip, pit, clock, then each device's), laid one
 * after the other in a buffer instead of a file. What goes in them and
 * how they go back is snapshot_vm.c's (vm_snapshot_write_state, vm_snapshot_apply_state);
 * this file adds the buffer and its framing. */
#ifndef XENO_VMM_STATE_MIGRATE_STATE_H
#define XENO_VMM_STATE_MIGRATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/snapshot.h"
#include "vmm/machine/vm.h"

/* The framing, on its own (unit tests drive it with a device list and no VM). */
struct mig_state_buf {
    uint8_t *p;
    size_t len, cap;
};
/* Appends one section (a snap_put_fn / dev_put_fn: opaque is a struct mig_state_buf). */
int mig_state_put(void *buf, uint32_t type, const void *data, size_t len);
/* The payload size a section type must have, 0 if the reader takes no such section. */
typedef size_t (*mig_section_size_fn)(const void *ctx, uint32_t type);
#define MIG_STATE_MAX_SECTIONS (VM_MAX_VCPUS + 3 + DEV_LIST_MAX)
/* Splits buf (untrusted) into sections: framing, bounds, CRCs, and each section of a type
 * size_of(ctx, type) knows with exactly that size. sec must hold MIG_STATE_MAX_SECTIONS.
 * 0, or -EPROTO with err_set() naming the section and offset. */
int mig_state_parse(const uint8_t *buf, size_t len, mig_section_size_fn size_of, const void *ctx,
                    struct snap_section *sec, unsigned *n);

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
