/* Saving a paused VM to a snapshot file and restoring one into a fresh VM
 * (docs/snapshot-format.md). The format itself is snapshot.h. */
#ifndef XENO_VMM_SNAPSHOT_VM_H
#define XENO_VMM_SNAPSHOT_VM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/snapshot.h"
#include "vmm/vm.h"

#define SNAP_MAX_MSRS 256
#define SNAP_KERNEL_MAX 1024
#define SNAP_CMDLINE_MAX 4096

/* The config section: what the domain was started with. */
struct snap_config {
    uint64_t mem_size;
    uint32_t nvcpus;
    uint32_t on_poweroff, on_reboot, on_crash;
    uint32_t memory_enforcement;
    uint32_t reserved[2];
    char kernel[SNAP_KERNEL_MAX];
    char cmdline[SNAP_CMDLINE_MAX];
};

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

struct snap_uart {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, pad;
    uint8_t rx[UART_FIFO_SIZE];
    uint32_t rx_head, rx_count;
    int32_t thre_pending, rx_open, irq_level;
    uint32_t pad2;
};

struct snap_i8042 {
    uint8_t ctr, out, pending, pad;
    int32_t out_full;
};

struct snap_power_req {
    uint8_t pending, pad[7];
};

/* One virtio section per device, in window order. */
struct snap_virtio {
    uint32_t index, device_id;
    struct virtio_dev_snap t;
    uint32_t balloon_num_pages, balloon_actual; /* virtio-balloon only */
};

/* An opened, fully validated snapshot file. */
struct snap_file {
    const uint8_t *data;
    size_t len;
    struct snap_image img;
    struct snap_config cfg;
};

/* Saves the paused VM to path (through path.tmp, fsync, rename). *bytes, *pages: the
 * file's size and the RAM pages written. 0, or -1 with err_msg(). */
int vm_snapshot_save(struct vm *vm, const struct snap_config *cfg, const char *path, uint64_t *bytes,
                     uint64_t *pages);
/* Maps and validates a snapshot (everything: format, CRCs, CPU vendor, section sizes,
 * vCPU count, RAM layout). 0, or -1 with err_msg() naming the section and offset. */
int snap_file_open(struct snap_file *f, const char *path);
void snap_file_close(struct snap_file *f);
/* Loads RAM, devices and vCPUs into vm: created from f->cfg, started paused, no kernel. */
int vm_snapshot_restore(struct vm *vm, const struct snap_file *f);

#endif
