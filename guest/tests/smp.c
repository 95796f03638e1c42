/*
 * smp: starts every AP with INIT-SIPI-SIPI; each one reports in with its APIC ID.
 * PASS when all N vCPUs (N from CPUID) have reported within the timeout, each with a
 * different APIC ID (machine.md: vCPU i has APIC ID i, so the IDs are 0..N-1).
 */
#include "runtime.h"

const char test_title[] = "smp: bring up every vCPU";

#define TIMEOUT_US 5000000

static volatile unsigned arrived;
static volatile uint64_t apic_ids; /* bit i: a vCPU with APIC ID i reported in */

static void report_in(unsigned index)
{
    unsigned id = lapic_id();

    printf("cpu %u: APIC ID %u online%s\n", index, id, index ? "" : " (BSP)");
    if (id < 64)
        __atomic_fetch_or(&apic_ids, 1ULL << id, __ATOMIC_SEQ_CST);
}

static void ap_main(unsigned index)
{
    report_in(index);
    __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
}

void test_main(void)
{
    unsigned n = smp_cpu_count(), started;
    uint64_t t0;

    printf("smp: %u vCPUs reported by the firmware (ACPI MADT, else CPUID)\n", n);
    if (n > MAX_CPUS) {
        test_skip("%u vCPUs, the runtime supports %u", n, MAX_CPUS);
        return;
    }
    lapic_init();
    report_in(0);

    t0 = rdtsc();
    started = smp_start_aps(ap_main);
    while (arrived < n - 1 && tsc_to_us(rdtsc() - t0) < TIMEOUT_US)
        pause();

    if (arrived != n - 1) {
        test_fail("%u of %u APs started, %u reported in", started, n - 1, arrived);
    } else if (apic_ids != (n == 64 ? ~0ULL : (1ULL << n) - 1)) {
        test_fail("APIC IDs seen %#lx, expected 0..%u", apic_ids, n - 1);
    } else {
        printf("smp: all %u vCPUs reported in (%lu us)\n", n, tsc_to_us(rdtsc() - t0));
        test_pass();
    }
}
