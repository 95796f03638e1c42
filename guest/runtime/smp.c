/*
 * Per-CPU data and application-processor bring-up.
 *
 * APs are started one at a time with the INIT-SIPI-SIPI sequence of the Intel SDM
 * (8.4.4.1). Each starts in real mode in the trampoline copied to 0x8000 (trampoline.S),
 * climbs to long mode in entry.S and lands in ap_start() on the stack the BSP published in
 * ap_boot_rsp. Starting one at a time lets a single pair of variables hand over the stack
 * and index, at the price of serialising bring-up (a few microseconds per AP on KVM).
 */
#include "runtime.h"

#define ICR_INIT   0x00004500 /* INIT, level assert */
#define ICR_SIPI   0x00004600 /* start-up; low byte = vector (start page number) */
#define SIPI_VECTOR (TRAMPOLINE_BASE >> 12)

#define AP_ACK_TIMEOUT_US 1000000

static struct percpu percpus[MAX_CPUS];
static uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));

/* The hand-over to the AP being started. entry.S loads ap_boot_rsp. */
uint64_t ap_boot_rsp;
static volatile unsigned ap_boot_index;
static volatile unsigned ap_boot_ack;
static void (*volatile ap_fn)(unsigned);
static volatile unsigned aps_done;

extern const char trampoline_start[], trampoline_end[];

void percpu_init(unsigned index)
{
    struct percpu *p = &percpus[index];
    uint32_t a, b, c, d;

    cpuid(1, &a, &b, &c, &d);
    p->self = p;
    p->index = index;
    p->apic_id = b >> 24; /* initial APIC ID */
    wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)p);
}

unsigned smp_cpu_count(void)
{
    uint32_t max, a, b, c, d;
    unsigned madt = acpi_lapic_count();

    if (madt) /* the MADT's enabled local APICs, when there is one */
        return madt;
    cpuid(0, &max, &b, &c, &d);
    if (max >= 0xb) {
        /* Subleaf 1 is the core level: EBX[15:0] counts the logical processors in the
         * package, which for a VM is all its vCPUs. */
        cpuid_count(0xb, 1, &a, &b, &c, &d);
        if (b & 0xffff)
            return b & 0xffff;
    }
    cpuid(1, &a, &b, &c, &d);
    if ((d & (1u << 28)) && ((b >> 16) & 0xff)) /* HTT: EBX[23:16] = logical processors */
        return (b >> 16) & 0xff;
    return 1;
}

void ap_start(void); /* called from entry.S */

void ap_start(void)
{
    unsigned index = ap_boot_index;

    percpu_init(index);
    idt_load();
    /* From here on the BSP may reuse the hand-over variables for the next AP. */
    __atomic_store_n(&ap_boot_ack, index, __ATOMIC_RELEASE);
    ap_fn(index);
    __atomic_fetch_add(&aps_done, 1, __ATOMIC_SEQ_CST);
    /* Return to entry.S, which halts with interrupts off. */
}

static bool wait_ack(unsigned index, uint64_t us)
{
    uint64_t start = rdtsc();

    while (__atomic_load_n(&ap_boot_ack, __ATOMIC_ACQUIRE) != index) {
        if (tsc_to_us(rdtsc() - start) >= us)
            return false;
        pause();
    }
    return true;
}

unsigned smp_start_aps(void (*fn)(unsigned index))
{
    unsigned n = smp_cpu_count(), self = lapic_id(), index = 1;

    if (!timer_init())
        printf("smp: no clock to time the start-up protocol\n");
    if (n > MAX_CPUS) {
        printf("smp: %u vCPUs, starting only the first %u\n", n, MAX_CPUS);
        n = MAX_CPUS;
    }
    memcpy((void *)TRAMPOLINE_BASE, trampoline_start, trampoline_end - trampoline_start);
    ap_fn = fn;

    /* machine.md: vCPU i has APIC ID i, so the APs are every ID in 0..n-1 but ours. */
    for (unsigned apic = 0; apic < n && index < n; apic++) {
        if (apic == self)
            continue;
        ap_boot_rsp = (uint64_t)(uintptr_t)&ap_stacks[index][AP_STACK_SIZE];
        ap_boot_index = index;
        __atomic_store_n(&ap_boot_ack, 0, __ATOMIC_RELEASE);

        lapic_send_ipi(apic, ICR_INIT);
        udelay(10000);
        lapic_send_ipi(apic, ICR_SIPI | SIPI_VECTOR);
        /* The second SIPI is for CPUs that missed the first; one already running ignores
         * it. */
        if (!wait_ack(index, 200)) {
            lapic_send_ipi(apic, ICR_SIPI | SIPI_VECTOR);
            if (!wait_ack(index, AP_ACK_TIMEOUT_US)) {
                printf("smp: the vCPU with APIC ID %u did not start\n", apic);
                /* It might still wake later on this stack: start no more APs. */
                break;
            }
        }
        index++;
    }
    return index - 1;
}

unsigned smp_aps_done(void)
{
    return __atomic_load_n(&aps_done, __ATOMIC_ACQUIRE);
}
