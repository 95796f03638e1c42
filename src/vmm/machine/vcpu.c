/* vCPU threads: one per virtual CPU, each looping on KVM_RUN and handing exits to the buses.
 *
 * How an exit flows: the guest touches a port or an unbacked physical address -> KVM stops
 * the vCPU and fills the shared kvm_run page -> this thread decodes it and calls the device
 * through io_bus_access() -> for reads, the device's answer is left in kvm_run and KVM
 * completes the instruction on the next KVM_RUN. Everything KVM handles in the kernel
 * (LAPIC, IOAPIC, PIC, PIT, HLT) never reaches us. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/boot/pvh.h"
#include "vmm/core/thread_kind.h"
#include "vmm/machine/vm.h"

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

int vcpu_create(struct vm *vm, unsigned id)
{
    struct vcpu *v = &vm->vcpus[id];
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
    if (v->fd < 0)
        return err_set(errno, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
    int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz <= 0)
        return err_set(errno, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
    void *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED)
        return err_set(errno, "mapping vCPU %u run area: %s", id, strerror(errno));
    v->run = run;
    v->run_size = (size_t)sz;
    return 0;
}

static void set_lvt(struct kvm_lapic_state *s, int reg, uint32_t mode)
{
    uint32_t v;
    memcpy(&v, &s->regs[reg], 4);
    v = (v & ~0x700U) | (mode << 8);
    memcpy(&s->regs[reg], &v, 4);
}

/* The 32-bit protected-mode state PVH promises at entry (docs/machine.md). */
static int setup_pvh_entry(struct vcpu *v)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return err_set(errno, "KVM_GET_SREGS: %s", strerror(errno));
    struct kvm_segment code = {.base = 0,
                               .limit = 0xffffffff,
                               .selector = PVH_SEL_CODE,
                               .type = 0xb,
                               .present = 1,
                               .dpl = 0,
                               .db = 1,
                               .s = 1,
                               .l = 0,
                               .g = 1};
    struct kvm_segment data = code;
    data.selector = PVH_SEL_DATA;
    data.type = 0x3;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = (struct kvm_segment){.base = 0, .limit = 0x67, .selector = PVH_SEL_TSS, .type = 0xb, .present = 1};
    sregs.ldt = (struct kvm_segment){.type = 0x2, .present = 1, .unusable = 1};
    sregs.gdt.base = PVH_GDT_ADDR;
    sregs.gdt.limit = 5 * 8 - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = 0x11; /* PE | ET */
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return err_set(errno, "KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs regs = {.rflags = 0x2, .rip = v->vm->entry, .rbx = PVH_START_INFO_ADDR};
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return err_set(errno, "KVM_SET_REGS: %s", strerror(errno));
    return 0;
}

int vcpu_configure(struct vcpu *v)
{
    struct vm *vm = v->vm;
    struct cpuid_table *cpuid = &vm->cpuid;
    struct kvm_lapic_state lapic;
    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};

    cpuid_set_apic_id(cpuid, v->id);
    if (ioctl(v->fd, KVM_SET_CPUID2, &cpuid->hdr) < 0)
        return err_set(errno, "KVM_SET_CPUID2 (vCPU %u): %s", v->id, strerror(errno));
    /* As on a PC: LINT0 takes the 8259's ExtINT, LINT1 is NMI. */
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
        return err_set(errno, "KVM_GET_LAPIC: %s", strerror(errno));
    set_lvt(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
    set_lvt(&lapic, APIC_LVT1, APIC_MODE_NMI);
    if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
        return err_set(errno, "KVM_SET_LAPIC: %s", strerror(errno));
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return err_set(errno, "KVM_SET_FPU: %s", strerror(errno));
    /* Application processors stay in KVM's wait-for-SIPI state, as on real hardware. */
    return v->id == 0 ? setup_pvh_entry(v) : 0;
}

static void handle_pio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    /* rep ins/outs hand us `count` items back to back. */
    for (uint32_t i = 0; i < run->io.count; i++) {
        io_bus_access(&v->vm->pio, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, data, run->io.size);
        data += run->io.size;
    }
}

static void handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);
    io_bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data, len);
}

static const char *exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "unknown";
    case KVM_EXIT_EXCEPTION: return "exception";
    case KVM_EXIT_HYPERCALL: return "hypercall";
    case KVM_EXIT_DEBUG: return "debug";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "irq window open";
    case KVM_EXIT_FAIL_ENTRY: return "VM entry failed";
    case KVM_EXIT_SET_TPR: return "set TPR";
    case KVM_EXIT_TPR_ACCESS: return "TPR access";
    case KVM_EXIT_NMI: return "NMI";
    default: return "?";
    }
}

static void crash(struct vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void crash(struct vcpu *v, const char *fmt, ...)
{
    char why[256], dump[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    vcpu_dump(v, dump, sizeof(dump));
    vm_request_stop(v->vm, VM_CRASH, "vCPU %u: %s\n%s", v->id, why, dump);
}

/* The first instruction byte at the failure: KVM's copy when it gives one, else read through
 * the guest's page tables. Returns -1 when neither is available. */
static int failed_insn_byte(struct vcpu *v, const struct kvm_regs *r)
{
    struct kvm_run *run = v->run;
    struct kvm_sregs s;
    if ((run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
        run->emulation_failure.insn_size > 0)
        return run->emulation_failure.insn_bytes[0];
    if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
        return -1;
    struct kvm_translation t = {.linear_address = s.cs.base + r->rip};
    if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
        return -1;
    const uint8_t *code = guest_mem_ptr(&v->vm->mem, t.physical_address, 1);
    return code ? *code : -1;
}

/* This host's KVM cannot deliver int3 (0xcc) itself: it hands the instruction to its
 * emulator, which fails (docs/machine.md, "Instructions to avoid"). What the CPU would do is
 * exact and cheap: #BP is a trap, so RIP moves past the one-byte instruction and vector 3 is
 * delivered through the guest's IDT, with no error code. A guest whose IDT cannot take it
 * then double- or triple-faults as on hardware. Returns 1 when injected, 0 when the failure
 * is not an int3 (the caller reports the crash). */
static int inject_breakpoint(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct kvm_regs r;
    struct kvm_vcpu_events ev;
    if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
        failed_insn_byte(v, &r) != 0xcc || ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return 0;
    if (ev.exception.injected || ev.exception.pending)
        return 0; /* already delivering something: not a plain int3 */
    r.rip++;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
        return 0;
    memset(&ev.exception, 0, sizeof(ev.exception));
    ev.exception.injected = 1;
    ev.exception.nr = 3;
    ev.flags = 0; /* change nothing but the exception */
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        r.rip--;
        ioctl(v->fd, KVM_SET_REGS, &r);
        return 0;
    }
    return 1;
}

/* Returns 1 to keep running, 0 when the vCPU must stop. */
static int handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    activity_note(&v->vm->activity);
    if (run->exit_reason != KVM_EXIT_IO && run->exit_reason != KVM_EXIT_MMIO)
        __atomic_store_n(&v->exits_other, v->exits_other + 1, __ATOMIC_RELAXED);
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        __atomic_store_n(&v->exits_io, v->exits_io + 1, __ATOMIC_RELAXED);
        handle_pio(v);
        return 1;
    case KVM_EXIT_MMIO:
        __atomic_store_n(&v->exits_mmio, v->exits_mmio + 1, __ATOMIC_RELAXED);
        handle_mmio(v);
        return 1;
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT: /* the in-kernel LAPIC normally takes HLT; if not, just re-enter */ return 1;
    case KVM_EXIT_SHUTDOWN: crash(v, "triple fault (the guest took an exception while unable to handle one)"); return 0;
    case KVM_EXIT_INTERNAL_ERROR: {
        if (inject_breakpoint(v))
            return 1;
        char data[256] = "";
        size_t n = 0;
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
            (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
            unsigned len = run->emulation_failure.insn_size;
            n += (size_t)snprintf(data, sizeof(data), "; instruction bytes:");
            for (unsigned i = 0; i < len && i < sizeof(run->emulation_failure.insn_bytes); i++)
                n += (size_t)snprintf(data + n, sizeof(data) - n, " %02x", run->emulation_failure.insn_bytes[i]);
        } else {
            for (uint32_t i = 0; i < run->internal.ndata && i < 16 && n < sizeof(data) - 24; i++)
                n += (size_t)snprintf(data + n, sizeof(data) - n, "%s 0x%llx",
                                      i ? "" : "; data:", (unsigned long long)run->internal.data[i]);
        }
        crash(v, "KVM internal error, suberror %u%s%s", run->internal.suberror,
              run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)" : "", data);
        return 0;
    }
    case KVM_EXIT_FAIL_ENTRY:
        crash(v, "VM entry failed, hardware reason 0x%llx",
              (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return 0;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            vm_request_stop(v->vm, VM_POWEROFF, "guest powered off (system event)");
            return 0;
        case KVM_SYSTEM_EVENT_RESET:
            vm_request_stop(v->vm, VM_REBOOT, "guest reset the machine (system event)");
            return 0;
        default: crash(v, "guest reported system event %u (crash)", run->system_event.type); return 0;
        }
    default: crash(v, "unhandled exit reason %u (%s)", run->exit_reason, exit_name(run->exit_reason)); return 0;
    }
}

static uint64_t own_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *vcpu_thread(void *opaque)
{
    struct vcpu *v = opaque;
    struct vm *vm = v->vm;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->id); /* for ps, top and bench/sched */
    thread_kind_enter(THREAD_VCPU, name);

    pthread_mutex_lock(&vm->lock);
    v->clock_valid = pthread_getcpuclockid(pthread_self(), &v->cpu_clock) == 0;
    v->tid = gettid();
    pthread_mutex_unlock(&vm->lock);

    while (!vcpu_wait_runnable(v)) {
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vm_request_stop(vm, VM_HOST_ERROR, "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
            break;
        }
        if (!handle_exit(v))
            break;
    }

    /* Last words: the CPU time this thread used, while its clock can still be read. */
    pthread_mutex_lock(&vm->lock);
    v->cpu_final_ns = own_cpu_ns();
    v->exited = 1;
    vm->nexited++;
    pthread_cond_broadcast(&vm->parked_cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->run)
        return;
    /* immediate_exit covers the window between the stop check and KVM_RUN; the signal
     * covers a vCPU already inside the guest. */
    v->run->immediate_exit = 1;
    if (v->thread_started)
        pthread_kill(v->thread, SIGUSR1);
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

static size_t dump_seg(char *buf, size_t size, const char *name, const struct kvm_segment *s)
{
    return (size_t)snprintf(buf, size, "%-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n", name,
                            s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl, s->present, s->l,
                            s->db);
}

void vcpu_dump(struct vcpu *v, char *buf, size_t size)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    size_t n = 0;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        snprintf(buf, size, "(registers unavailable: %s)", strerror(errno));
        return;
    }
#define P(...) n += (size_t)snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__)
    P("rip=%016llx rsp=%016llx rflags=%016llx\n", r.rip, r.rsp, r.rflags);
    P("rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
    P("rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n", r.rsi, r.rdi, r.rbp, r.r8);
    P("r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n", r.r9, r.r10, r.r11, r.r12);
    P("r13=%016llx r14=%016llx r15=%016llx\n", r.r13, r.r14, r.r15);
    P("cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
    if (n < size)
        n += dump_seg(buf + n, size - n, "cs", &s.cs);
    if (n < size)
        n += dump_seg(buf + n, size - n, "ss", &s.ss);
    P("gdt=%016llx/%x idt=%016llx/%x", (unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base,
      s.idt.limit);
    /* The instruction bytes at RIP, through the guest's own page tables. */
    struct kvm_translation t = {.linear_address = s.cs.base + r.rip};
    if (ioctl(v->fd, KVM_TRANSLATE, &t) == 0 && t.valid) {
        const uint8_t *code = guest_mem_ptr(&v->vm->mem, t.physical_address, 16);
        if (code) {
            P("\ncode at rip:");
            for (int i = 0; i < 16; i++)
                P(" %02x", code[i]);
        }
    }
#undef P
}
