/* One domain's virtual machine: the KVM VM, its RAM, its devices and its vCPU threads.
 *
 * Lifetime: vm_create() (KVM, RAM, devices, vCPUs) -> vm_load_pvh() -> vm_start() (threads)
 * -> the embedding program waits on vm->stop_efd -> vm_join() -> vm_destroy(). A reboot with
 * restart is a destroy and a fresh create: nothing of the old machine leaks into the new.
 *
 * Pausing: vm_pause() kicks every vCPU out of KVM_RUN and returns once each one is parked
 * on a condition variable (or has ended); vm_unpause() lets them run again. A stop request
 * wakes parked vCPUs so that they end. */
#ifndef XENO_VMM_MACHINE_VM_H
#define XENO_VMM_MACHINE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "vmm/core/activity.h"
#include "lib/cpumask.h"
#include "vmm/dev/acpi_pm.h"
#include "vmm/core/cpuid.h"
#include "vmm/core/device.h"
#include "vmm/core/guest_mem.h"
#include "vmm/dev/i8042.h"
#include "vmm/core/io_bus.h"
#include "vmm/core/layout.h"
#include "vmm/core/outcome.h"
#include "vmm/dev/power_request.h"
#include "vmm/dev/uart.h"
#include "vmm/virtio/virtio_mmio.h"

#define VM_MAX_VCPUS 32
/* Disks: what --disk and the domain XML allow (VIRTIO_BLK_MAX_DISKS); the machine has
 * virtio-mmio windows for that many beside the fixed devices and an interface. */
#define VM_MAX_DISKS 8
#define VM_MIN_MEMORY (4ULL << 20)

struct vm;

/* Where COM1's transmitted bytes go; called on a vCPU thread with the UART's lock held. It
 * must not block for long: it is the guest's console and the vCPU waits for it. */
typedef void (*console_out_fn)(void *opaque, uint8_t byte);
/* The same for a run of bytes (virtio-console output), on the virtio thread. Optional:
 * without it each byte goes through console_out_fn. */
typedef void (*console_write_fn)(void *opaque, const uint8_t *buf, size_t len);

struct virtio_console;
struct virtio_balloon;
struct virtio_net;
struct virtio_net_config_host;
struct virtio_blk;
struct virtio_blk_config_host;

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    int thread_started;
    /* Under vm->lock: the thread's CPU clock, and its final CPU time once it has ended (a
     * clock of a thread that is gone cannot be read). */
    clockid_t cpu_clock;
    int clock_valid, exited, parked;
    uint64_t cpu_final_ns;
    /* Exits handled, written by the thread alone (read with relaxed atomics). */
    uint64_t exits_io, exits_mmio, exits_other;
    /* Under vm->lock: the thread's kernel id (0 before it starts and once it ended), for the
     * CPU scheduler (vcpu_sched.c); throttled: kept out of KVM_RUN until the next period. */
    pid_t tid;
    int throttled;
};

struct vm {
    int kvm_fd, vm_fd;
    struct guest_mem mem;
    struct io_bus pio, mmio;
    struct uart com1;
    struct i8042 i8042;
    struct acpi_pm pm;
    struct power_request power_req;
    unsigned nvcpus;
    struct vcpu vcpus[VM_MAX_VCPUS];
    struct cpuid_table cpuid;
    /* The machine contract as this VM's table sets it (policy, less what KVM lacks and what
     * the operator turned off), and what the start-up probe saw a guest get: they differ on a
     * host whose KVM overlays its own bits (docs/machine.md, "CPUID"). Set by vm_create. */
    struct cpu_features cpu_intended, cpu_seen;
    /* What the domain may rely on, volatile bits aside: what its guest saw at boot, carried
     * through snapshots and migrations (vm_cpu_adopt); what they record. */
    struct cpu_features cpu_domain;
    uint64_t cpu_probe_us;
    uint32_t tsc_khz;
    uint32_t entry; /* where vCPU 0 starts (PVH entry) */

    console_out_fn console_out;     /* where COM1 output goes */
    console_write_fn console_write; /* and virtio-console output */
    void *console_opaque;
    /* Every device whose state a snapshot or migration carries (core/device.h). */
    struct dev_list devices;
    struct virtio_host virtio; /* the virtio-mmio devices (windows in virtio.descs) and their thread */
    /* The devices the host talks to after creation (console input, memory targets, the
     * backend's socket); the others are reached only through the buses and the list. */
    struct virtio_console *vcon;           /* virtio-mmio device 0 */
    struct virtio_balloon *vballoon;       /* virtio-mmio device 2 (device 1 is virtio-rng) */
    struct virtio_net *vnet;               /* virtio-mmio device 3 with --net, else NULL */
    struct virtio_blk *vblk[VM_MAX_DISKS]; /* the next virtio-mmio devices, one per --disk */
    unsigned nvblk;
    int rx_space_efd; /* eventfd: COM1's receive FIFO has room for more host input */

    uint32_t vcpu_pin_given; /* vm_config's: set at create, read by vm_start */
    const struct cpumask *vcpu_pin;
    pthread_mutex_t lock;       /* outcome, pause state, the vCPUs' clock fields */
    pthread_cond_t resume_cond; /* parked vCPUs wait here for unpause or stop */
    pthread_cond_t parked_cond; /* vm_pause waits here for the vCPUs to park */
    int paused;
    unsigned nparked, nexited;
    enum vm_outcome outcome;  /* VM_RUNNING until the first stop request */
    char reason[4096];        /* crash reports carry a register dump */
    int stop_efd;             /* eventfd: readable once outcome is set */
    struct activity activity; /* exits and kicks while the main loop sleeps (core/activity.h) */
};

struct vm_config {
    uint64_t mem_size;
    unsigned nvcpus;
    console_out_fn console_out;
    console_write_fn console_write; /* optional */
    void *console_opaque;
    int start_paused;                         /* vCPU threads park before their first KVM_RUN */
    const struct virtio_net_config_host *net; /* a virtio-net device over vhost-user, or NULL */
    const struct virtio_blk_config_host *blk; /* nblk virtio-blk devices over vhost-user, in order */
    unsigned nblk;                            /* 0..VM_MAX_DISKS */
    const struct cpu_features *cpu_off;       /* features taken out of the policy, or NULL */
    const char *cache_dir; /* --cache-dir: the CPUID probe's result cached there (cpuid_probe.h), or NULL */
    int cache_fill;        /* --fill-cache: probe and write the result there */
    /* Host CPU affinity: vCPU i's thread is created on vcpu_pin[i]'s CPUs when bit i of
     * vcpu_pin_given is set (else it inherits the creating thread's). vcpu_pin outlives the VM. */
    uint32_t vcpu_pin_given;
    const struct cpumask *vcpu_pin;
};

int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Bits the guest sees beyond vm->cpu_intended (*extra) and bits of it the guest lacks
 * (*missing), volatile bits left out; returns the number of both. */
/* Takes on a domain that saw the features `want` where it ran before (a snapshot's or a
 * migration's record; `unknown`: set bits in registers this monitor does not know), or refuses
 * it when this VM's guest would not see them all: 0 (vm->cpu_domain = want), or -EOPNOTSUPP
 * with err_set() naming the missing features. */
int vm_cpu_adopt(struct vm *vm, const struct cpu_features *want, unsigned unknown);
unsigned vm_cpu_deviation(const struct vm *vm, struct cpu_features *extra, struct cpu_features *missing);
/* Loads a PVH kernel (and initrd) into RAM and points vCPU 0 at it. Bad images: -ENOEXEC etc. */
int vm_load_pvh(struct vm *vm, const uint8_t *kernel, size_t kernel_len, const char *kernel_name, const char *cmdline,
                const uint8_t *initrd, size_t initrd_len);
int vm_start(struct vm *vm);
/* Records the outcome (first caller wins) and makes every vCPU leave KVM_RUN. Thread-safe. */
void vm_request_stop(struct vm *vm, enum vm_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Waits for all vCPU threads; call after stop_efd fired (or after vm_request_stop). */
void vm_join(struct vm *vm);
/* Stops every vCPU outside KVM_RUN; returns once all are parked (or have ended). Main thread. */
void vm_pause(struct vm *vm);
void vm_unpause(struct vm *vm);
/* CPU time vCPU `i`'s thread has used (0 before it starts). Any thread. */
uint64_t vm_vcpu_cpu_ns(struct vm *vm, unsigned i);
/* vCPU `i`'s thread id (0 before it starts and after it ended). Any thread. */
pid_t vm_vcpu_tid(struct vm *vm, unsigned i);
/* Throttling (the CPU scheduler's limit): on, vCPU `i` leaves KVM_RUN and waits, parked as
 * when paused, until it is called again with on = 0. Any thread. */
void vm_vcpu_throttle(struct vm *vm, unsigned i, int on);
/* Host console input: to virtio-console while its driver listens, else to COM1
 * (docs/machine.md). Returns the bytes taken; the rest waits for rx_space_efd. */
size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len);
/* Devices marked NEEDS_RESET in this VM (virtio). Any thread. */
uint64_t vm_virtio_errors(const struct vm *vm);
/* KVM dirty-page logging on every RAM slot (memory slot i is RAM range i), for live
 * migration (dirty_log.h). Any thread. */
int vm_set_dirty_logging(struct vm *vm, int on);
/* Asks the guest to power off or reboot (the power request register). */
void vm_power_request(struct vm *vm, enum power_request_code code);
void vm_destroy(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm, unsigned id);
int vcpu_configure(struct vcpu *v);
void *vcpu_thread(void *vcpu);
void vcpu_kick(struct vcpu *v);
/* The vCPU loop's gate: parks while the VM is paused; returns 1 once the VM is stopping. */
int vcpu_wait_runnable(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Formats the vCPU's registers (and the bytes at RIP) for a crash report. */
void vcpu_dump(struct vcpu *v, char *buf, size_t size);

#endif
