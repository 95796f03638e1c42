#include "vmm/core/cpuid.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/err.h"

#define BIT(n) (1U << (n))

/* Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, SSE4.1, SSE4.2, x2APIC, MOVBE, POPCNT, TSC-deadline,
 * AES-NI, RDRAND. Hidden on purpose: CX16 (13), XSAVE/OSXSAVE/AVX/F16C/FMA (26-29, 12),
 * MONITOR (3), VMX (5), PDCM (15), PCID (17, needs INVPCID state in snapshots). */
static const uint32_t leaf1_ecx =
    BIT(0) | BIT(1) | BIT(9) | BIT(19) | BIT(20) | BIT(21) | BIT(22) | BIT(23) | BIT(24) | BIT(25) | BIT(30);
/* Leaf 1 EDX: the classic baseline (FPU..CLFLUSH: bits 0-19 less reserved bit 10 and PSN, 18),
 * MMX, FXSR, SSE, SSE2. */
static const uint32_t leaf1_edx = 0x000fffff & ~BIT(10) & ~BIT(18);
static const uint32_t leaf1_edx_more = BIT(23) | BIT(24) | BIT(25) | BIT(26);
/* Leaf 7.0 EBX: FSGSBASE, BMI1, SMEP, BMI2, ERMS, RDSEED, ADX, SMAP, CLFLUSHOPT, CLWB, SHA.
 * No AVX2/AVX-512 (XSAVE), no RTM/HLE, no MPX, no INVPCID (we hide PCID). */
static const uint32_t leaf7_ebx =
    BIT(0) | BIT(3) | BIT(7) | BIT(8) | BIT(9) | BIT(18) | BIT(19) | BIT(20) | BIT(23) | BIT(24) | BIT(29);
/* Leaf 7.0 ECX: UMIP, RDPID. (PKU needs XSAVE for PKRU.) */
static const uint32_t leaf7_ecx = BIT(2) | BIT(22);
/* Leaf 7.0 EDX: FSRM, MD_CLEAR, IBRS/IBPB, STIBP, SSBD. Not ARCH_CAPABILITIES (29): its MSR
 * differs between hosts and breaks migration. */
static const uint32_t leaf7_edx = BIT(4) | BIT(10) | BIT(26) | BIT(27) | BIT(31);
/* 0x80000001 ECX: LAHF/SAHF, ABM/LZCNT, SSE4A, misaligned SSE, PREFETCHW. */
static const uint32_t ext1_ecx = BIT(0) | BIT(5) | BIT(6) | BIT(7) | BIT(8);
/* 0x80000001 EDX: SYSCALL, NX, MMXEXT, FFXSR, 1 GiB pages, RDTSCP, long mode, plus the
 * baseline bits AMD mirrors from leaf 1. */
static const uint32_t ext1_edx = BIT(11) | BIT(20) | BIT(22) | BIT(25) | BIT(26) | BIT(27) | BIT(29);

struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        struct kvm_cpuid_entry2 *e = &t->entries[i];
        if (e->function == function && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

static void remove_function(struct cpuid_table *t, uint32_t function)
{
    unsigned j = 0;
    for (unsigned i = 0; i < t->hdr.nent; i++)
        if (t->entries[i].function != function)
            t->entries[j++] = t->entries[i];
    t->hdr.nent = j;
}

static int add_entry(struct cpuid_table *t, uint32_t function, uint32_t index, uint32_t flags, uint32_t eax,
                     uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    if (t->hdr.nent == CPUID_MAX_ENTRIES)
        return err_set(ENOSPC, "CPUID table full");
    t->entries[t->hdr.nent++] = (struct kvm_cpuid_entry2){
        .function = function, .index = index, .flags = flags, .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx};
    return 0;
}

static unsigned order_of(unsigned n)
{
    unsigned s = 0;
    while ((1U << s) < n)
        s++;
    return s;
}

int cpuid_filter(struct cpuid_table *t, unsigned nvcpus, uint32_t tsc_khz)
{
    struct kvm_cpuid_entry2 *e;
    unsigned shift = order_of(nvcpus);
    int r;

    /* Leaves we do not offer at all: cache/topology (resynthesised below), XSAVE state,
     * performance monitoring, SGX, processor trace, AMD extended topology and SEV. */
    static const uint32_t drop[] = {0x4, 0xa, 0xb, 0xd, 0x12, 0x14, 0x1f, 0x8000001d, 0x8000001e, 0x8000001f};
    for (unsigned i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        remove_function(t, drop[i]);

    if ((e = cpuid_find(t, 0, 0)) && e->eax < 0xb)
        e->eax = 0xb;
    if ((e = cpuid_find(t, 1, 0))) {
        e->ecx = (e->ecx & leaf1_ecx) | BIT(31); /* hypervisor present */
        e->edx &= leaf1_edx | leaf1_edx_more;
        e->ebx = (e->ebx & 0xffff) | (nvcpus << 16); /* APIC ID patched per vCPU */
        if (nvcpus > 1)
            e->edx |= BIT(28); /* HTT: EBX[23:16] is meaningful */
        else
            e->edx &= ~BIT(28);
    }
    if ((e = cpuid_find(t, 6, 0)))
        e->ecx &= ~BIT(0); /* no APERF/MPERF: host counters, not migratable */
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        e = &t->entries[i];
        if (e->function == 7 && e->index == 0) {
            e->ebx &= leaf7_ebx;
            e->ecx &= leaf7_ecx;
            e->edx &= leaf7_edx;
        } else if (e->function == 7) {
            e->eax = e->ebx = e->ecx = e->edx = 0;
        }
    }
    if ((e = cpuid_find(t, 7, 0)))
        e->eax = 0; /* no subleaf 1 features */
    if ((e = cpuid_find(t, 0x80000001, 0))) {
        e->ecx &= ext1_ecx;
        e->edx &= ext1_edx | (leaf1_edx & 0x0183f3ff);
    }
    if ((e = cpuid_find(t, 0x80000008, 0)))
        e->ecx = (shift << 12) | (nvcpus - 1); /* AMD: cores per package */

    /* Topology: one thread per core, nvcpus cores in one package. */
    if ((r = add_entry(t, 0xb, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, 0, 1, 0x100, 0)) < 0 ||
        (r = add_entry(t, 0xb, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, shift, nvcpus, 0x201, 0)) < 0 ||
        (r = add_entry(t, 0xb, 2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, 0, 0, 2, 0)) < 0)
        return r;

    /* Hypervisor leaves: KVM's signature (so stock Linux uses kvmclock and PV features) and
     * the timing leaf, so guests need not calibrate TSC or LAPIC timer against the PIT. */
    remove_function(t, CPUID_HV_TIMING_LEAF);
    if ((e = cpuid_find(t, 0x40000000, 0)))
        e->eax = CPUID_HV_TIMING_LEAF;
    else if ((r = add_entry(t, 0x40000000, 0, 0, CPUID_HV_TIMING_LEAF, 0x4b4d564b, 0x564b4d56, 0x4d)) < 0)
        return r;
    return add_entry(t, CPUID_HV_TIMING_LEAF, 0, 0, tsc_khz, LAPIC_TIMER_KHZ, 0, 0);
}

int cpuid_build(int kvm_fd, unsigned nvcpus, uint32_t tsc_khz, struct cpuid_table *t)
{
    memset(t, 0, sizeof(*t));
    t->hdr.nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, &t->hdr) < 0)
        return err_set(errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    /* Leave room for the entries cpuid_filter adds. */
    if (t->hdr.nent > CPUID_MAX_ENTRIES - 8)
        return err_set(ENOSPC, "KVM reports %u CPUID entries; too many", t->hdr.nent);
    return cpuid_filter(t, nvcpus, tsc_khz);
}

void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id)
{
    struct kvm_cpuid_entry2 *e;
    if ((e = cpuid_find(t, 1, 0)))
        e->ebx = (e->ebx & 0x00ffffff) | (apic_id << 24);
    for (unsigned i = 0; i < t->hdr.nent; i++)
        if (t->entries[i].function == 0xb)
            t->entries[i].edx = apic_id;
}
