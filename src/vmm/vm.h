/* One domain's virtual machine: the KVM VM, its RAM, its devices and its vCPU threads.
 *
 * Lifetime: vm_create() (KVM, RAM, devices, vCPUs) -> vm_load_pvh() -> vm_start() (threads)
 * -> the embedding program waits on vm->stop_efd -> vm_join() -> vm_destroy(). A reboot with
 * restart is a destroy and a fresh create: nothing of the old machine leaks into the new. */
#ifndef XENO_VMM_VM_H
#define XENO_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/acpi_pm.h"
#include "vmm/cpuid.h"
#include "vmm/guest_mem.h"
#include "vmm/i8042.h"
#include "vmm/io_bus.h"
#include "vmm/outcome.h"
#include "vmm/uart.h"

#define VM_MAX_VCPUS 32
#define VM_MIN_MEMORY (4ULL << 20)

struct vm;

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    int thread_started;
};

struct vm {
    int kvm_fd, vm_fd;
    struct guest_mem mem;
    struct io_bus pio, mmio;
    struct uart com1;
    struct i8042 i8042;
    struct acpi_pm pm;
    unsigned nvcpus;
    struct vcpu vcpus[VM_MAX_VCPUS];
    struct cpuid_table cpuid;
    uint32_t tsc_khz;
    uint32_t entry; /* where vCPU 0 starts (PVH entry) */

    int console_out_fd; /* where COM1 output goes */
    int rx_space_efd;   /* eventfd: COM1's receive FIFO has room for more host input */

    pthread_mutex_t stop_lock;
    enum vm_outcome outcome; /* VM_RUNNING until the first stop request */
    char reason[4096]; /* crash reports carry a register dump */
    int stop_efd; /* eventfd: readable once outcome is set */
};

struct vm_config {
    uint64_t mem_size;
    unsigned nvcpus;
    int console_out_fd;
};

int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Loads a PVH kernel (and initrd) into RAM and points vCPU 0 at it. Bad images: -ENOEXEC etc. */
int vm_load_pvh(struct vm *vm, const uint8_t *kernel, size_t kernel_len, const char *kernel_name,
                const char *cmdline, const uint8_t *initrd, size_t initrd_len);
int vm_start(struct vm *vm);
/* Records the outcome (first caller wins) and makes every vCPU leave KVM_RUN. Thread-safe. */
void vm_request_stop(struct vm *vm, enum vm_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Waits for all vCPU threads; call after stop_efd fired (or after vm_request_stop). */
void vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm, unsigned id);
int vcpu_configure(struct vcpu *v);
void *vcpu_thread(void *vcpu);
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Formats the vCPU's registers (and the bytes at RIP) for a crash report. */
void vcpu_dump(struct vcpu *v, char *buf, size_t size);

#endif
