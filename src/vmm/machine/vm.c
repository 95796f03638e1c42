#include "vmm/machine/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/thread_stack.h"
#include "vmm/boot/acpi.h"
#include "vmm/boot/pvh.h"
#include "vmm/machine/cpuid_probe.h"
#include "vmm/virtio/virtio_balloon.h"
#include "vmm/virtio/virtio_console.h"
#include "vmm/virtio/virtio_blk.h"
#include "vmm/virtio/virtio_net.h"
#include "vmm/virtio/virtio_rng.h"

/* Addresses KVM needs for its own use on Intel hosts (real-mode TSS, identity page table);
 * placed just below the BIOS area at the top of the 4 GiB hole, where nothing else lives. */
#define KVM_TSS_ADDR 0xfffbd000
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000

static void com1_tx(void *opaque, uint8_t byte)
{
    struct vm *vm = opaque;
    if (vm->console_out)
        vm->console_out(vm->console_opaque, byte);
}

static void com1_set_irq(void *opaque, int level)
{
    struct vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = UART_COM1_IRQ, .level = (uint32_t)level};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        log_warn("COM1 interrupt line: %s", strerror(errno));
}

static void com1_rx_space(void *opaque)
{
    struct vm *vm = opaque;
    uint64_t one = 1;
    if (write(vm->rx_space_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("console wakeup: %s", strerror(errno));
}

/* virtio-console output: the same destination as COM1's, a run of bytes at a time. */
static void vcon_write(void *opaque, const uint8_t *buf, size_t len)
{
    struct vm *vm = opaque;
    if (vm->console_write)
        vm->console_write(vm->console_opaque, buf, len);
    else if (vm->console_out)
        for (size_t i = 0; i < len; i++)
            vm->console_out(vm->console_opaque, buf[i]);
}

static const struct uart_ops com1_ops = {com1_tx, com1_set_irq, com1_rx_space};

static void power_event(void *opaque, enum vm_outcome outcome, const char *why)
{
    vm_request_stop(opaque, outcome, "%s", why);
}

/* An edge on ISA IRQ 9 (the SCI): the guest programs its IOAPIC pin edge-triggered. */
static void power_request_irq(void *opaque)
{
    struct vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = POWER_REQUEST_IRQ, .level = 1};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        log_warn("power request interrupt: %s", strerror(errno));
    irq.level = 0;
    ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static int kvm_open(struct vm *vm)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return err_set(errno, "/dev/kvm: %s (is KVM enabled, and may this user use it?)", strerror(errno));
    int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return err_set(ENOTSUP, "/dev/kvm speaks API version %d, we need %d", version, KVM_API_VERSION);
    static const struct {
        int cap;
        const char *name;
    } needed[] = {{KVM_CAP_IRQCHIP, "in-kernel irqchip"},
                  {KVM_CAP_USER_MEMORY, "user memory"},
                  {KVM_CAP_EXT_CPUID, "CPUID2"},
                  {KVM_CAP_PIT2, "in-kernel PIT"},
                  {KVM_CAP_IMMEDIATE_EXIT, "immediate exit"},
                  {KVM_CAP_GET_TSC_KHZ, "TSC frequency"}};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0)
            return err_set(ENOTSUP, "this KVM lacks %s (capability %d)", needed[i].name, needed[i].cap);
    return 0;
}

static int setup_kvm_vm(struct vm *vm)
{
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return err_set(errno, "KVM_CREATE_VM: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
        return err_set(errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        return err_set(errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
    /* Guest memory before the irqchip: KVM waits for an SRCU grace period when it swaps the
     * memslots, and right after KVM_CREATE_IRQCHIP (its routing table, its devices on the
     * I/O bus) that wait was 4-7 ms of every start on this host, against 0.1-0.2 ms with the
     * slots first (measured with KVM_CREATE_VM, the irqchip, the PIT and one 32 MiB slot in
     * both orders; bench/README.md, "No waits in a create"). The order is otherwise free: KVM needs
     * neither before the other. */
    for (unsigned i = 0; i < vm->mem.nranges; i++) {
        const struct guest_range *g = &vm->mem.ranges[i];
        struct kvm_userspace_memory_region region = {.slot = i,
                                                     .guest_phys_addr = g->gpa,
                                                     .memory_size = g->size,
                                                     .userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + g->offset)};
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return err_set(errno, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", i, strerror(errno));
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return err_set(errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return err_set(errno, "KVM_CREATE_PIT2: %s", strerror(errno));
    return 0;
}

int vm_set_dirty_logging(struct vm *vm, int on)
{
    /* Changing a slot's flags keeps its memory; KVM write-protects (on) or stops
     * tracking (off) while the vCPUs run. */
    for (unsigned i = 0; i < vm->mem.nranges; i++) {
        const struct guest_range *g = &vm->mem.ranges[i];
        struct kvm_userspace_memory_region region = {.slot = i,
                                                     .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
                                                     .guest_phys_addr = g->gpa,
                                                     .memory_size = g->size,
                                                     .userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + g->offset)};
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return err_set(errno, "%s dirty logging on slot %u: %s", on ? "enabling" : "disabling", i, strerror(errno));
    }
    return 0;
}

static int setup_devices(struct vm *vm, const struct vm_config *cfg)
{
    int r;
    vm->virtio.vm_fd = vm->vm_fd; /* initialised before the KVM VM existed (vm_create) */
    uart_init(&vm->com1, &com1_ops, vm);
    i8042_init(&vm->i8042, power_event, vm);
    acpi_pm_init(&vm->pm, power_event, vm);
    power_request_init(&vm->power_req, power_request_irq, vm);
    if ((r = io_bus_register(&vm->pio, UART_COM1_BASE, 8, uart_io, &vm->com1, "COM1")) < 0 ||
        (r = io_bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, &vm->i8042, "i8042")) < 0 ||
        (r = io_bus_register(&vm->pio, ACPI_PM_PORT, 2, acpi_pm_io, &vm->pm, "ACPI sleep registers")) < 0 ||
        (r = io_bus_register(&vm->pio, POWER_REQUEST_PORT, 1, power_request_io, &vm->power_req,
                             "power request register")) < 0)
        return r;
    /* The devices whose state snapshots and migration carry (core/device.h), in the order
     * their sections are written; each virtio device joins when it is added. */
    if ((r = dev_list_add(&vm->devices, "com1", &uart_state_ops, &vm->com1)) < 0 ||
        (r = dev_list_add(&vm->devices, "i8042", &i8042_state_ops, &vm->i8042)) < 0 ||
        (r = dev_list_add(&vm->devices, "power-request", &power_request_state_ops, &vm->power_req)) < 0)
        return r;
    /* virtio-mmio devices, in the fixed order of docs/machine.md: console, rng, balloon. */
    if (!(vm->vcon = virtio_console_create(&vm->virtio, vcon_write, com1_rx_space, vm)) ||
        !virtio_rng_create(&vm->virtio) || !(vm->vballoon = virtio_balloon_create(&vm->virtio)))
        return -1;
    /* Then the optional ones: a guest finds the fixed three at the same windows either way. */
    if (cfg->net && !(vm->vnet = virtio_net_create(&vm->virtio, cfg->net)))
        return -1;
    if (cfg->nblk > VM_MAX_DISKS)
        return err_set(EINVAL, "%u disks: a domain has at most %d", cfg->nblk, VM_MAX_DISKS);
    for (unsigned i = 0; i < cfg->nblk; i++, vm->nvblk++)
        if (!(vm->vblk[i] = virtio_blk_create(&vm->virtio, &cfg->blk[i])))
            return -1;
    return 0;
}

size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len)
{
    if (vm->vcon && virtio_console_listening(vm->vcon))
        return virtio_console_receive(vm->vcon, buf, len);
    return uart_receive(&vm->com1, buf, len);
}

uint64_t vm_virtio_errors(const struct vm *vm)
{
    return virtio_host_errors(&vm->virtio);
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
    int r;
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->stop_efd = vm->rx_space_efd = -1;
    vm->activity = (struct activity){.watch = 0, .efd = -1};
    vm->mem.fd = -1;
    vm->nvcpus = cfg->nvcpus;
    vm->vcpu_pin_given = cfg->vcpu_pin ? cfg->vcpu_pin_given : 0;
    vm->vcpu_pin = cfg->vcpu_pin;
    vm->console_out = cfg->console_out;
    vm->console_write = cfg->console_write;
    vm->console_opaque = cfg->console_opaque;
    vm->paused = cfg->start_paused;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->resume_cond, NULL);
    pthread_cond_init(&vm->parked_cond, NULL);
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        vm->vcpus[i].fd = -1;
    /* First, so that vm_destroy() after any failure below finds it in order; the KVM VM's
     * descriptor is handed over once it exists (setup_devices). */
    virtio_host_init(&vm->virtio, -1, &vm->mem, &vm->mmio, &vm->devices);

    if (cfg->nvcpus < 1 || cfg->nvcpus > VM_MAX_VCPUS)
        return err_set(EINVAL, "%u vCPUs requested; 1 to %d are supported", cfg->nvcpus, VM_MAX_VCPUS);
    vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->rx_space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->activity.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->virtio.activity = &vm->activity;
    if (vm->stop_efd < 0 || vm->rx_space_efd < 0 || vm->activity.efd < 0)
        return err_set(errno, "eventfd: %s", strerror(errno));
    if ((r = kvm_open(vm)) < 0)
        return r;
    int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus > 0 && cfg->nvcpus > (unsigned)max_vcpus)
        return err_set(EINVAL, "%u vCPUs requested; this KVM allows %d", cfg->nvcpus, max_vcpus);
    if ((r = guest_mem_create(&vm->mem, cfg->mem_size)) < 0)
        return r;
    if ((r = setup_kvm_vm(vm)) < 0 || (r = setup_devices(vm, cfg)) < 0)
        return r;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if ((r = vcpu_create(vm, i)) < 0)
            return r;
    /* CPUID carries the TSC rate, which KVM tells per vCPU: ask vCPU 0, then configure all. */
    int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    if (khz <= 0)
        return err_set(errno ? errno : EINVAL, "KVM_GET_TSC_KHZ: %s", strerror(errno));
    vm->tsc_khz = (uint32_t)khz;
    if ((r = cpuid_build(vm->kvm_fd, vm->nvcpus, vm->tsc_khz, &vm->cpuid)) < 0)
        return r;
    if (cfg->cpu_off)
        cpuid_narrow(&vm->cpuid, cfg->cpu_off);
    cpuid_features(&vm->cpuid, &vm->cpu_intended);
    if ((r = cpuid_probe_cached(vm->kvm_fd, &vm->cpuid, &vm->cpu_seen, &vm->cpu_probe_us, cfg->cache_dir,
                                cfg->cache_fill)) < 0)
        return r;
    struct cpu_features extra, missing, vol;
    cpuf_volatile(&vol);
    for (unsigned w = 0; w < CPUF_WORDS; w++)
        vm->cpu_domain.w[w] = vm->cpu_seen.w[w] & ~vol.w[w];
    if (!cfg->cache_fill && vm_cpu_deviation(vm, &extra, &missing)) { /* a fill: xenod says it once */
        char e[1024], m[1024];
        cpuf_format(&extra, e, sizeof(e));
        cpuf_format(&missing, m, sizeof(m));
        log_warn("this host's KVM does not honour the CPUID policy: the guest sees extra [%s], lacks [%s] "
                 "(docs/machine.md, \"CPUID\")",
                 e, m);
    }
    return 0;
}

int vm_cpu_adopt(struct vm *vm, const struct cpu_features *want, unsigned unknown)
{
    struct cpu_features missing;
    char names[1024];
    if (unknown)
        return err_set(EOPNOTSUPP,
                       "the domain saw %u CPU feature bits in registers this monitor does not know (a newer "
                       "source?): it cannot promise them",
                       unknown);
    if (!cpuf_missing(want, &vm->cpu_seen, &missing)) {
        vm->cpu_domain = *want;
        return 0;
    }
    cpuf_format(&missing, names, sizeof(names));
    return err_set(EOPNOTSUPP,
                   "the domain saw CPU features this host does not give its guests: %s (docs/machine.md, \"CPUID\")",
                   names);
}

unsigned vm_cpu_deviation(const struct vm *vm, struct cpu_features *extra, struct cpu_features *missing)
{
    return cpuf_missing(&vm->cpu_seen, &vm->cpu_intended, extra) +
           cpuf_missing(&vm->cpu_intended, &vm->cpu_seen, missing);
}

int vm_load_pvh(struct vm *vm, const uint8_t *kernel, size_t kernel_len, const char *kernel_name, const char *cmdline,
                const uint8_t *initrd, size_t initrd_len)
{
    struct pvh_kernel k;
    int r = pvh_load_kernel(&vm->mem, kernel, kernel_len, kernel_name, &k);
    if (r < 0)
        return r;
    /* The ACPI tables describe the vCPUs and the devices registered by vm_create. */
    uint64_t rsdp;
    if ((r = acpi_write_tables(&vm->mem, vm->nvcpus, vm->virtio.descs, vm->virtio.ndescs, &rsdp)) < 0 ||
        (r = pvh_write_boot_info(&vm->mem, &k, cmdline, initrd, initrd_len, rsdp)) < 0)
        return r;
    vm->entry = k.entry;
    return 0;
}

static void kick_handler(int sig)
{
    (void)sig; /* only here so the signal interrupts KVM_RUN instead of killing us */
}

int vm_start(struct vm *vm)
{
    struct sigaction sa = {.sa_handler = kick_handler};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return err_set(errno, "sigaction: %s", strerror(errno));
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        int r = vcpu_configure(&vm->vcpus[i]);
        if (r < 0)
            return r;
    }
    if (virtio_host_start(&vm->virtio) < 0)
        return -1;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        /* Its CPUs from its first instruction, set by the creator: the thread itself never
         * calls sched_setaffinity (the monitor's sandbox need not allow it). */
        pthread_attr_t attr;
        int e = thread_attr_init_sized(&attr);
        if (e == 0) {
            if ((vm->vcpu_pin_given >> i) & 1) {
                cpu_set_t set;
                CPU_ZERO(&set);
                for (unsigned c = 0; c < CPU_SETSIZE && c < CPUMASK_MAX; c++)
                    if (cpumask_has(&vm->vcpu_pin[i], c))
                        CPU_SET(c, &set);
                e = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
            }
            if (e == 0)
                e = pthread_create(&vm->vcpus[i].thread, &attr, vcpu_thread, &vm->vcpus[i]);
            pthread_attr_destroy(&attr);
        }
        if (e) {
            vm_request_stop(vm, VM_HOST_ERROR, "cannot start vCPU %u thread: %s", i, strerror(e));
            return err_set(e, "creating vCPU %u thread: %s", i, strerror(e));
        }
        vm->vcpus[i].thread_started = 1;
    }
    return 0;
}

void vm_request_stop(struct vm *vm, enum vm_outcome outcome, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->outcome == VM_RUNNING) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
        va_end(ap);
        vm->outcome = outcome;
        uint64_t one = 1;
        if (write(vm->stop_efd, &one, sizeof(one)) < 0)
            log_warn("stop notification: %s", strerror(errno));
        pthread_cond_broadcast(&vm->resume_cond); /* parked vCPUs end too */
    }
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

int vcpu_wait_runnable(struct vcpu *v)
{
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    /* Throttled (vcpu_sched.c) waits here too, counted as parked so a pause does not wait
     * for the next period. */
    while ((vm->paused || v->throttled) && vm->outcome == VM_RUNNING) {
        if (!v->parked) {
            v->parked = 1;
            vm->nparked++;
            pthread_cond_broadcast(&vm->parked_cond);
        }
        pthread_cond_wait(&vm->resume_cond, &vm->lock);
    }
    if (v->parked) {
        v->parked = 0;
        vm->nparked--;
    }
    int stopping = vm->outcome != VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return stopping;
}

static unsigned threads_started(const struct vm *vm)
{
    unsigned n = 0;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        n += vm->vcpus[i].thread_started != 0;
    return n;
}

void vm_pause(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->paused = 1;
    pthread_mutex_unlock(&vm->lock);
    /* The flag is set before the kick: a vCPU between its check and KVM_RUN returns at once
     * (immediate_exit) and sees it on its next check. */
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    pthread_mutex_lock(&vm->lock);
    while (vm->nparked + vm->nexited < threads_started(vm))
        pthread_cond_wait(&vm->parked_cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
}

void vm_unpause(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->paused = 0;
    pthread_cond_broadcast(&vm->resume_cond);
    pthread_mutex_unlock(&vm->lock);
}

uint64_t vm_vcpu_cpu_ns(struct vm *vm, unsigned i)
{
    struct vcpu *v = &vm->vcpus[i];
    struct timespec ts;
    uint64_t ns = 0;
    /* Under the lock the thread cannot finish ending, so its clock stays valid. */
    pthread_mutex_lock(&vm->lock);
    if (v->exited)
        ns = v->cpu_final_ns;
    else if (v->clock_valid && clock_gettime(v->cpu_clock, &ts) == 0)
        ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    pthread_mutex_unlock(&vm->lock);
    return ns;
}

pid_t vm_vcpu_tid(struct vm *vm, unsigned i)
{
    pthread_mutex_lock(&vm->lock);
    pid_t tid = vm->vcpus[i].exited ? 0 : vm->vcpus[i].tid;
    pthread_mutex_unlock(&vm->lock);
    return tid;
}

void vm_vcpu_throttle(struct vm *vm, unsigned i, int on)
{
    struct vcpu *v = &vm->vcpus[i];
    pthread_mutex_lock(&vm->lock);
    int was = v->throttled;
    v->throttled = on;
    if (was && !on)
        pthread_cond_broadcast(&vm->resume_cond);
    pthread_mutex_unlock(&vm->lock);
    /* The flag is set before the kick, as for a pause. */
    if (on && !was)
        vcpu_kick(v);
}

void vm_power_request(struct vm *vm, enum power_request_code code)
{
    power_request_post(&vm->power_req, code);
}

void vm_join(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = 0;
        }
    }
}

void vm_destroy(struct vm *vm)
{
    /* First: the virtio thread may still use RAM, the VM fd and the eventfds below. */
    virtio_host_destroy(&vm->virtio);
    vm->vcon = NULL;
    vm->vballoon = NULL;
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        vcpu_destroy(&vm->vcpus[i]);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->stop_efd >= 0)
        close(vm->stop_efd);
    if (vm->rx_space_efd >= 0)
        close(vm->rx_space_efd);
    if (vm->activity.efd >= 0)
        close(vm->activity.efd);
    vm->activity.efd = -1;
    guest_mem_destroy(&vm->mem);
    if (vm->com1.ops) {
        uart_destroy(&vm->com1);
        i8042_destroy(&vm->i8042);
        power_request_destroy(&vm->power_req);
    }
    pthread_cond_destroy(&vm->resume_cond);
    pthread_cond_destroy(&vm->parked_cond);
    pthread_mutex_destroy(&vm->lock);
    vm->vm_fd = vm->kvm_fd = vm->stop_efd = vm->rx_space_efd = -1;
}
