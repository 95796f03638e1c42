/* virtio-mmio transport (virtio 1.x, section 4.2; register layout version 2, modern only)
 * and the per-VM service thread that runs the devices' queues.
 *
 * Each device gets the next 4 KiB window from VIRTIO_MMIO_BASE and IOAPIC pin
 * virtio_mmio_gsi(index) (core/layout.h: 16 + index for the first eight; edge, active high),
 * in the order devices are added; the window
 * is recorded in virtio_host.descs[] so the ACPI DSDT lists it (docs/machine.md). Fixed order:
 * virtio-console (0), virtio-rng (1), virtio-balloon (2).
 *
 * How a queue notification flows:
 *   guest writes QueueNotify (offset 0x50) with the queue index
 *   -> KVM matches the write against the ioeventfd registered for (address, index) and
 *      signals that eventfd in the kernel, without leaving the guest to userspace
 *   -> the VM's virtio thread (poll over every queue's ioeventfd) wakes, takes the device's
 *      lock and calls ops->queue_notify(dev, vq)
 *   -> the device pops chains (virtq_pop: validated iovecs into guest RAM), does its work,
 *      pushes used elements (virtq_push) and calls virtio_notify()
 *   -> virtio_notify() honours the driver's suppression (VIRTQ_AVAIL_F_NO_INTERRUPT or the
 *      event index), sets InterruptStatus bit 0 and writes the device's irqfd: KVM raises an
 *      edge on the GSI.
 * A QueueNotify write that matches no ioeventfd (a value that is not a queue index, or no
 * ioeventfd support) reaches the MMIO handler on the vCPU thread; a valid index is then
 * serviced right there, under the same lock.
 *
 * Why a device thread and not the vCPU threads or the monitor's main loop: the vCPU that
 * notifies goes straight back to the guest (the work overlaps with guest execution, and a
 * vCPU never blocks on getrandom or a console); the main loop stays free for the control
 * channel and console clients whatever a guest does with its queues, and the VM owns its
 * devices completely (vm_create .. vm_destroy, restarts included) in both the standalone
 * and the --run-dir monitor. One thread serves all devices of a VM: the work per request
 * is small, and devices need no locking against each other.
 *
 * Locking: every device has one mutex. Register accesses (vCPU threads), queue
 * notifications (the virtio thread) and host-side calls into a device (main loop: console
 * input, balloon target) all run under it. Device callbacks are called with it held; the
 * helpers below marked "lock held" must be called with it held: inside a callback that
 * is automatic, from elsewhere bracket them with virtio_dev_lock()/virtio_dev_unlock().
 * Callbacks must not block for long (they hold up the vCPUs touching the device).
 *
 * Writing a device (see virtio_rng.c for the smallest complete one):
 *   1. Fill a struct virtio_dev_info: name, device id, device feature bits (the transport
 *      adds VIRTIO_F_VERSION_1, VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX), number of
 *      queues, QueueNumMax, config space size, ops, opaque.
 *   2. Call virtio_mmio_add(&vm->virtio, &info) from setup_devices (vm.c) in the fixed
 *      order; keep the struct virtio_dev * it returns. Its transport state is saved and
 *      restored with the rest (core/device.h); state the device keeps beyond its config
 *      space and queues goes through ops->state_save/state_load.
 *   3. ops->queue_notify: loop { r = virtq_pop(vq, &elem); if (r <= 0) break; ...;
 *      virtq_push(vq, &elem, bytes_written); } then virtio_notify(dev, vq). A -1 from
 *      virtq_pop means the queue is broken and the device already marked: just return.
 *      struct virtq_elem is large (8 KiB): keep one in the device state, not on the stack.
 *   4. ops->config_read/config_write: byte offset within the config space (already
 *      bounds-checked against config_size), 1/2/4 bytes little-endian. Reads of a
 *      config space with no config_read callback return zeros.
 *   5. ops->reset: forget everything the driver set up (queues are reset by the transport).
 *   6. A request the device cannot accept (bad header, wrong sizes): virtio_dev_fail(dev,
 *      vq, "what") -- the device goes to NEEDS_RESET like for a ring violation.
 *   7. Host-side events (a new balloon target): lock, change the config, call
 *      virtio_config_changed(dev), unlock.
 *   8. Free the device's own state in ops->destroy: vm_destroy() stops the virtio thread,
 *      resets every device (ops->reset) and then calls ops->destroy.
 *   Keep a pointer in struct vm (vm->vcon, vm->vballoon, ...) only if host code calls it.
 *
 * The virtio thread keeps serving queues while the vCPUs are paused (only the guest's
 * own notifications, already made, and host kicks can reach it then).
 *
 * Unit tests without KVM (tests/unit/test_virtio_mmio.c): RAM from guest_mem_init_buffer(),
 * an io_bus and virtio_host_init(h, -1, &mem, &bus, NULL); create the devices
 * as vm.c does and drive them with io_bus_access(&vm.mmio, ...). With no ioeventfds a
 * QueueNotify write is serviced inline, interrupts are counted on virtio_dev_irq_fd(), and
 * virtio_host_destroy() frees everything. */
#ifndef XENO_VMM_VIRTIO_VIRTIO_MMIO_H
#define XENO_VMM_VIRTIO_VIRTIO_MMIO_H

#include "vmm/core/activity.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/core/device.h"
#include "vmm/core/guest_mem.h"
#include "vmm/core/io_bus.h"
#include "vmm/core/layout.h"
#include "vmm/virtio/virtqueue.h"

/* Device ids (virtio 1.x, section 5). */
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_MMIO_VENDOR 0x4f4e4558 /* "XENO" */

/* Register offsets (section 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION_REG 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

/* Status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* InterruptStatus bits. */
#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

#define VIRTIO_MAX_QUEUES 8
#define VIRTIO_MAX_DEVS VM_MAX_MMIO_DEVS

struct virtio_dev;

struct virtio_dev_ops {
    /* All optional; all called with the device's lock held. */
    void (*config_read)(struct virtio_dev *d, uint32_t offset, uint8_t *data, unsigned size);
    void (*config_write)(struct virtio_dev *d, uint32_t offset, const uint8_t *data, unsigned size);
    /* The driver notified queue vq (or the device kicked itself, virtio_dev_kick). Only
     * called while the device is DRIVER_OK, not broken, and vq is ready. */
    void (*queue_notify)(struct virtio_dev *d, struct virtq *vq);
    /* The driver wrote status 0 (and at vm_destroy): forget the driver's setup. */
    void (*reset)(struct virtio_dev *d);
    /* The driver set DRIVER_OK. */
    void (*driver_ok)(struct virtio_dev *d);
    /* The VM is being destroyed: free the device's own state (no lock held). */
    void (*destroy)(struct virtio_dev *d);
    /* The device's own state in snapshots and migration, beyond the transport's: the two
     * words of struct virtio_dev_state that the format has for it. state_save (lock held)
     * fills them; state_load (lock held) loads them before the transport's registers are,
     * state_loaded (no lock held) acts on them once the device runs again. */
    void (*state_save)(struct virtio_dev *d, uint32_t words[2]);
    void (*state_load)(struct virtio_dev *d, const uint32_t words[2], enum dev_state_source src);
    void (*state_loaded)(struct virtio_dev *d, const uint32_t words[2], enum dev_state_source src);
};

struct virtio_dev_info {
    const char *name;     /* "virtio-console": logs, descs[] */
    uint32_t device_id;   /* VIRTIO_ID_* */
    uint64_t features;    /* device-specific bits (0..23); transport bits are added */
    unsigned nqueues;     /* 1..VIRTIO_MAX_QUEUES */
    uint16_t queue_max;   /* QueueNumMax, a power of two <= VIRTQ_MAX_SIZE */
    uint32_t config_size; /* bytes of config space at 0x100 (<= 0xf00) */
    const struct virtio_dev_ops *ops;
    void *opaque; /* the device's state: virtio_dev_opaque() */
    /* The queues are run by another process (vhost-user, virtio_net.c): it is handed the
     * ioeventfds as kick fds and the irqfd as call fd, so the virtio thread must not read
     * them, and InterruptStatus always reads USED because that process raises interrupts
     * without reaching this register (a driver then finds nothing new, at worst). */
    bool external_queues;
};

struct virtio_dev {
    struct virtio_dev_info info;
    struct virtio_host *host;
    unsigned index; /* window / GSI index */
    uint64_t base;  /* guest-physical window */
    uint32_t gsi;
    const struct guest_mem *mem;
    pthread_mutex_t lock;

    /* Register state (under lock). */
    uint32_t status, isr, config_gen;
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
    uint64_t driver_features; /* as written */
    uint64_t features;        /* negotiated (valid once FEATURES_OK) */
    struct virtio_queue_regs {
        uint16_t num;
        uint32_t ready;
        uint64_t desc, driver, device;
    } qregs[VIRTIO_MAX_QUEUES];
    struct virtq vq[VIRTIO_MAX_QUEUES];
    bool broken; /* NEEDS_RESET set */

    int irq_fd; /* irqfd on gsi (an eventfd; -1 none) */
    int irq_registered;
    int notify_fd[VIRTIO_MAX_QUEUES]; /* ioeventfds on QueueNotify, datamatch = queue */
    int notify_registered[VIRTIO_MAX_QUEUES];

    /* Counters (under lock; read with relaxed atomics). */
    uint64_t errors, notifies, interrupts;
};

/* All virtio devices of one VM and their service thread (embedded in struct vm). What it
 * needs of the VM is handed over at init: the KVM VM (irqfd, ioeventfd, IRQ lines; -1 in unit
 * tests), guest RAM, the MMIO bus its windows go on and the device list their state joins. */
struct virtio_host {
    int vm_fd;
    const struct guest_mem *mem;
    struct io_bus *mmio;
    struct dev_list *devices;
    /* The windows in use, in order: what the ACPI DSDT lists. */
    unsigned ndescs;
    struct mmio_dev_desc descs[VM_MAX_MMIO_DEVS];
    unsigned ndevs;
    struct virtio_dev *devs[VIRTIO_MAX_DEVS];
    int wake_fd;               /* eventfd: stop, or look at kicks */
    struct activity *activity; /* noted on each kick (core/activity.h); NULL: none */
    pthread_t thread;
    int thread_started;
    int stopping;
    uint64_t errors; /* devices marked broken, all time (atomic) */
};

/* A device's transport state for snapshots (docs/snapshot-format.md). last_avail is saved
 * minus the buffers the device held (popped, not yet used), so that after a restore it takes
 * them again; devices use buffers in the order they popped them. */
struct virtio_dev_snap {
    uint32_t status, isr, config_gen, broken;
    uint32_t dev_features_sel, drv_features_sel, queue_sel, pad;
    uint64_t driver_features, features;
    struct {
        uint16_t num, last_avail, used_idx, signalled_used;
        uint32_t ready, signalled_valid;
        uint64_t desc, driver, device;
    } q[VIRTIO_MAX_QUEUES];
};
/* Takes the device's lock. Restore: into a freshly created device, after guest RAM is
 * loaded; queues marked ready are set up again (-1 with err_msg() if the rings do not fit). */
void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_snap *s);
int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_snap *s);

/* A virtio device's section ("virtio", one per device in window order; layout fixed by the
 * format): the transport's registers and the device's own two words. Every device added with
 * virtio_mmio_add joins the host's device list with these operations. */
struct virtio_dev_state {
    uint32_t index, device_id;
    struct virtio_dev_snap t;
    uint32_t dev_words[2]; /* the device's state_save (virtio-balloon: target, actual) */
};
extern const struct dev_state_ops virtio_dev_state_ops;

/* vm.c's part. virtio_host_init before adding devices (it cannot fail); start once the
 * vCPUs may run; destroy stops the thread, resets and frees every device. devices may be
 * NULL (unit tests that save nothing). */
void virtio_host_init(struct virtio_host *h, int vm_fd, const struct guest_mem *mem, struct io_bus *mmio,
                      struct dev_list *devices);
int virtio_host_start(struct virtio_host *h);
void virtio_host_destroy(struct virtio_host *h);
/* Devices marked NEEDS_RESET since the VM was created (for the stats page). Any thread. */
uint64_t virtio_host_errors(const struct virtio_host *h);

/* Adds a device at the next window: registers it on the MMIO bus, records it in descs[],
 * sets up its irqfd and ioeventfds, adds its state to the device list. NULL with err_msg()
 * on failure. Before the vCPUs start only. */
struct virtio_dev *virtio_mmio_add(struct virtio_host *h, const struct virtio_dev_info *info);

/* The same without KVM (unit tests): a device over `mem` at `base`, raising interrupts by
 * writing its irq eventfd (virtio_dev_irq_fd) and servicing QueueNotify inline. */
struct virtio_dev *virtio_dev_new(const struct guest_mem *mem, uint64_t base, uint32_t gsi,
                                  const struct virtio_dev_info *info);
void virtio_dev_free(struct virtio_dev *d);
/* The register window (an io_handler_fn; offset within the 4 KiB window). */
void virtio_mmio_io(void *dev, uint64_t offset, int is_write, uint8_t *data, unsigned size);

/* --- For devices --- */
static inline void *virtio_dev_opaque(struct virtio_dev *d)
{
    return d->info.opaque;
}
static inline const struct guest_mem *virtio_dev_mem(struct virtio_dev *d)
{
    return d->mem;
}
static inline struct virtq *virtio_dev_queue(struct virtio_dev *d, unsigned q)
{
    return &d->vq[q];
}
static inline int virtio_dev_irq_fd(struct virtio_dev *d)
{
    return d->irq_fd;
}
void virtio_dev_lock(struct virtio_dev *d);
void virtio_dev_unlock(struct virtio_dev *d);
/* Lock held. DRIVER_OK set and not broken: the driver is running the device. */
bool virtio_dev_running(const struct virtio_dev *d);
/* Lock held. Whether a feature bit (number) was negotiated. */
bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit);
/* Lock held. Used-buffer interrupt for vq if the driver wants one now. */
void virtio_notify(struct virtio_dev *d, struct virtq *vq);
/* Lock held. The config space changed: ConfigGeneration++, InterruptStatus bit 1, edge. */
void virtio_config_changed(struct virtio_dev *d);
/* Lock held. Marks the device broken: Status |= NEEDS_RESET, config-change interrupt, a
 * log line "virtio-NAME: queue Q: MSG" (vq may be NULL), the error counters. Only the
 * first failure until reset is reported; the device ignores its queues until reset. */
void virtio_dev_fail(struct virtio_dev *d, struct virtq *vq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Any thread, lock NOT held: asks the virtio thread to call queue_notify(q) as if the
 * driver had notified (e.g. host input arrived for the console's receive queue). */
void virtio_dev_kick(struct virtio_dev *d, unsigned q);

#endif
