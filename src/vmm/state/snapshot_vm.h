/* Saving a paused VM to a snapshot file and restoring one into a fresh VM
 * (docs/snapshot-format.md). The format itself is snapshot.h. */
#ifndef XENO_VMM_STATE_SNAPSHOT_VM_H
#define XENO_VMM_STATE_SNAPSHOT_VM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/snapshot.h"
#include "vmm/machine/vm.h"

#define SNAP_MAX_MSRS 256
/* A save right after a lazy restore waits at most this long for the fill to end. */
#define SNAP_POPULATE_WAIT_MS 120000

/* One vCPU section. */
struct snap_vcpu {
    uint32_t id;
    uint32_t nmsrs;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp_state;
    uint32_t pad;
    struct kvm_msr_entry msrs[SNAP_MAX_MSRS];
};

struct snap_irqchip {
    struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
};

/* What a save writes besides the VM: the domain's own state. */
struct snap_domain_state {
    const struct snap_config *cfg;
    const void *domain_xml; /* NULL: no domain-xml section */
    size_t domain_xml_len;
    const struct snap_mem_target *mem_target; /* NULL: no target in force */
    const struct snap_cpu_features *cpu;      /* what the guest saw (vm_cpu_visible); NULL: no section */
};

/* The state sections (the machine's vcpu, irqchip, pit and clock, then one per device of
 * the device list, core/device.h) are what both a snapshot file and a live migration's last
 * message carry (docs/migration.md): written and applied here, once, for both. */

/* Where vm_snapshot_write_state puts each section: a snapshot file's writer, or a
 * migration's buffer. 0, or a negative errno with err_set(). */
typedef int (*snap_put_fn)(void *opaque, uint32_t type, const void *data, size_t len);
/* Puts every state section of the paused VM, in this order: one vcpu section per vCPU,
 * irqchip, pit, clock, then each device's (vm->devices, in list order). 0, or a negative
 * errno with err_set(). */
int vm_snapshot_write_state(struct vm *vm, snap_put_fn put, void *opaque);

/* Where a set of state sections comes from (enum dev_state_source): a snapshot file (a bad
 * one returns -EINVAL, messages start "snapshot: "), or a migration's peer (-EPROTO,
 * "migration state: "). */
/* The exact payload size of a state section of this type in this VM (the machine's or one of
 * its devices'); 0 if it is not a state section here. */
size_t vm_state_section_size(const struct vm *vm, uint32_t type);
/* Checks the state sections among sec[0..n) (sections of other types are skipped: the
 * caller checks those), then loads them into vm (created like the saved one, vCPUs parked).
 * Checked whole before anything is loaded: every state section of exactly its size, one
 * vcpu section per vCPU with ids in order and at most SNAP_MAX_MSRS MSRs, one virtio section
 * exactly one irqchip, pit and clock section, and what dev_list_check asks of the devices'
 * sections; irqchip ids are forced to 0, 1, 2 and the devices bound their own indexes. 0, or a
 * negative errno with err_set() naming the section and its offset. */
int vm_snapshot_apply_state(struct vm *vm, const struct snap_section *sec, unsigned n, enum dev_state_source src);

/* Saves the paused VM to path (through path.tmp, fsync, rename). *bytes, *pages: the
 * file's size and the RAM pages written. 0, or -1 with err_msg(). */
int vm_snapshot_save(struct vm *vm, const struct snap_domain_state *ds, const char *path, uint64_t *bytes,
                     uint64_t *pages);
/* Reads and validates a snapshot (snap_file_load, then what this monitor needs: the exact
 * size of every KVM state section, vCPU count, RAM layout). 0, or -1 with err_msg() naming
 * the section and offset. */
int snap_file_open(struct snap_file *f, const char *path, unsigned parse_flags);
/* Loads RAM, devices and vCPUs into vm: created from f->cfg, started paused, no kernel.
 * lazy: RAM is filled while the guest runs (mem_populate.h; f must have been opened with
 * SNAP_PARSE_NO_RUN_CRC or not, either works; falls back to copying when this host has no
 * usable userfaultfd); else copied (and CRC-checked) before this returns. */
int vm_snapshot_restore(struct vm *vm, const struct snap_file *f, int lazy);
/* Takes on the CPU features the file says its guest saw (vm_cpu_adopt), before anything is
 * loaded or runs: a guest relying on a feature this host does not give would fail later in
 * ways nobody could trace back to the restore. A file without the record (older) is taken
 * with a warning. 0, or a negative errno with err_set() naming the missing features. */
int vm_snapshot_adopt_cpu(struct vm *vm, const struct snap_file *f);

#endif
